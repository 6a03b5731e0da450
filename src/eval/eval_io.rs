//! How the evaluator reaches files and the store: the [`EvalIo`] trait.
//! Every builtin that reads a path (`readFile`, `readDir`, `pathExists`,
//! `readFileType`, `hashFile`, `builtins.path`, `filterSource`), `import`,
//! copying sources into the store and reading `.drv` files go through it.
//! [`StdIo`] is the plain file system; a higher layer (the CLI) implements
//! it over oxnix's store, so that store paths that are not on disk are
//! read from the store, without the evaluator importing the store.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::hash::{Hash, HashAlgo, Hasher};
use crate::store_path::StorePath;

use super::instantiation::Addition;

/// What is at a path, as Nix distinguishes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Regular {
        executable: bool,
    },
    Directory,
    Symlink,
    /// Devices, sockets, pipes.
    Unknown,
}

impl FileKind {
    /// The name `readDir`, `readFileType` and path filters give the kind.
    pub fn type_name(self) -> &'static str {
        match self {
            FileKind::Regular { .. } => "regular",
            FileKind::Directory => "directory",
            FileKind::Symlink => "symlink",
            FileKind::Unknown => "unknown",
        }
    }

    /// The kind of a file system entry.
    pub fn of_metadata(m: &std::fs::Metadata) -> FileKind {
        let t = m.file_type();
        if t.is_file() {
            FileKind::Regular {
                executable: m.permissions().mode() & 0o100 != 0,
            }
        } else if t.is_dir() {
            FileKind::Directory
        } else if t.is_symlink() {
            FileKind::Symlink
        } else {
            FileKind::Unknown
        }
    }
}

/// The file system and store as evaluation sees them. File operations
/// answer `io::Error`s, whose messages C++ Nix's wording wraps ("opening
/// file '…': No such file or directory").
pub trait EvalIo {
    /// The kind of what is at `path`, symlinks not followed.
    fn lstat(&self, path: &Path) -> io::Result<FileKind>;
    /// The kind of what `path` leads to, symlinks followed.
    fn stat(&self, path: &Path) -> io::Result<FileKind>;
    /// A file's contents (symlinks followed).
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// A file's contents as a stream (symlinks followed).
    fn open_file<'a>(&'a self, path: &Path) -> io::Result<Box<dyn Read + 'a>>;
    /// A directory's entries (symlinks followed to it), sorted by name.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<(Vec<u8>, FileKind)>>;
    /// A symlink's target.
    fn read_link(&self, path: &Path) -> io::Result<PathBuf>;
    /// `path` with every symlink resolved.
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf>;
    /// The SHA-256 hash of `path`'s NAR serialisation.
    fn nar_hash(&self, path: &Path) -> io::Result<Hash>;
    /// Whether `path` is a valid store path (the store's answer; on a
    /// plain file system: whether it exists).
    fn is_valid_path(&self, path: &Path) -> Result<bool, String>;
    /// The references of a valid store path, when the store knows them.
    fn references(&self, path: &StorePath) -> Result<Option<BTreeSet<StorePath>>, String>;
    /// Writes what evaluation added into the store (dependencies first).
    fn write_additions(&self, additions: Vec<Addition>) -> Result<(), String>;
    /// Downloads what `request` names (unpacking a tarball when asked)
    /// and adds it to the store at once (C++ Nix's fetchers write even
    /// in read-only mode): its store path and SHA-256 hash (of the file,
    /// or of the unpacked tree's NAR). Without a store: an error.
    fn fetch(&self, request: &FetchRequest) -> Result<(StorePath, Hash), FetchFailure> {
        Err(FetchFailure::Other(format!(
            "not yet supported by oxnix: fetching '{}' without a store",
            request.url
        )))
    }
}

/// Why [`EvalIo::fetch`] failed.
#[derive(Debug, Clone)]
pub enum FetchFailure {
    /// The download itself (C++ Nix's `FileTransferError`: a search path
    /// entry that cannot be downloaded is skipped with a warning).
    Download(String),
    /// Anything else (unpacking, the store).
    Other(String),
}

impl FetchFailure {
    pub fn message(self) -> String {
        match self {
            FetchFailure::Download(m) | FetchFailure::Other(m) => m,
        }
    }
}

/// Whether `s` is a URL Nix downloads where a path may stand (a search
/// path entry, a file argument): C++ Nix's `isUri`.
pub fn is_uri(s: &str) -> bool {
    [
        "http://", "https://", "file://", "channel:", "git://", "s3://", "ssh://",
    ]
    .iter()
    .any(|p| s.starts_with(p))
}

/// C++ Nix's `resolveUri`: `channel:NAME` is the channel's tarball.
pub fn resolve_uri(url: String) -> String {
    match url.strip_prefix("channel:") {
        Some(name) => format!("https://nixos.org/channels/{name}/nixexprs.tar.xz"),
        None => url,
    }
}

/// What `builtins.fetchurl` or `builtins.fetchTarball` asks [`EvalIo::fetch`]
/// for.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub url: String,
    /// Unpack a tarball and add its one top-level entry (`fetchTarball`),
    /// rather than add the file itself (flat, `fetchurl`).
    pub unpack: bool,
    /// The store path's name.
    pub name: String,
}

impl FetchRequest {
    /// The tarball a URL in place of a path names (a search path entry,
    /// a file argument), unpacked as `source`.
    pub fn source_tarball(url: &str) -> FetchRequest {
        FetchRequest {
            url: resolve_uri(url.to_owned()),
            unpack: true,
            name: "source".into(),
        }
    }
}

/// The plain file system, with no store behind it: store paths are what is
/// on disk, and nothing can be written.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdIo;

impl EvalIo for StdIo {
    fn lstat(&self, path: &Path) -> io::Result<FileKind> {
        Ok(FileKind::of_metadata(&std::fs::symlink_metadata(path)?))
    }

    fn stat(&self, path: &Path) -> io::Result<FileKind> {
        Ok(FileKind::of_metadata(&std::fs::metadata(path)?))
    }

    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn open_file<'a>(&'a self, path: &Path) -> io::Result<Box<dyn Read + 'a>> {
        Ok(Box::new(std::fs::File::open(path)?))
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<(Vec<u8>, FileKind)>> {
        read_dir_on_disk(path)
    }

    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::read_link(path)
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }

    fn nar_hash(&self, path: &Path) -> io::Result<Hash> {
        nar_hash_on_disk(path)
    }

    fn is_valid_path(&self, path: &Path) -> Result<bool, String> {
        Ok(std::fs::symlink_metadata(path).is_ok())
    }

    fn references(&self, _path: &StorePath) -> Result<Option<BTreeSet<StorePath>>, String> {
        Ok(None)
    }

    fn write_additions(&self, additions: Vec<Addition>) -> Result<(), String> {
        if additions.is_empty() {
            return Ok(());
        }
        Err("not supported yet: writing to the store from this evaluator (it has no store)".into())
    }
}

/// A directory's entries on disk, sorted by name (the kind of each entry
/// itself, symlinks not followed).
pub fn read_dir_on_disk(path: &Path) -> io::Result<Vec<(Vec<u8>, FileKind)>> {
    let mut v = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let t = entry.file_type()?;
        let kind = if t.is_file() {
            FileKind::of_metadata(&entry.metadata()?)
        } else if t.is_dir() {
            FileKind::Directory
        } else if t.is_symlink() {
            FileKind::Symlink
        } else {
            FileKind::Unknown
        };
        v.push((entry.file_name().as_bytes().to_vec(), kind));
    }
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

/// The SHA-256 hash of the NAR of a path on disk.
pub fn nar_hash_on_disk(path: &Path) -> io::Result<Hash> {
    let hasher = crate::nar::fs::dump_path(path, Hasher::new(HashAlgo::Sha256))
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok(hasher.finish())
}
