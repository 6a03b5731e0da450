//! NARs and the real file system: [`dump_path`] serialises a path as C++
//! Nix's `dumpPath` does, [`restore`] materialises a NAR as a new path.
//! Restoring is all-or-nothing: the tree is built in a hidden temporary
//! directory beside the target and renamed into place only once the whole
//! archive has been read and checked.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::reader::{parse, NarVisitor};
use super::{NarError, NarWriter};
use crate::os_error;

/// Why a path could not be dumped.
#[derive(Debug, Error)]
pub enum DumpError {
    #[error("getting status of '{path}': {}", os_error::message(.source))]
    Stat { path: PathBuf, source: io::Error },
    #[error("opening directory '{path}': {}", os_error::message(.source))]
    ReadDir { path: PathBuf, source: io::Error },
    #[error("opening file '{path}': {}", os_error::message(.source))]
    OpenFile { path: PathBuf, source: io::Error },
    #[error("reading file '{path}': {}", os_error::message(.source))]
    ReadFile { path: PathBuf, source: io::Error },
    #[error("reading symbolic link '{path}': {}", os_error::message(.source))]
    ReadLink { path: PathBuf, source: io::Error },
    #[error("file '{0}' has an unsupported type")]
    UnsupportedType(PathBuf),
    #[error("writing NAR: {}", os_error::message(.0))]
    Write(io::Error),
    #[error("file name collision in between '{}' and '{}'", .0.display(), .1.display())]
    CaseCollision(PathBuf, PathBuf),
}

/// Metadata of the root, checked before anything is written so that a
/// missing path produces no output at all.
pub fn check_dumpable(path: &Path) -> Result<fs::Metadata, DumpError> {
    fs::symlink_metadata(path).map_err(|source| DumpError::Stat {
        path: path.to_owned(),
        source,
    })
}

/// A file being dumped; remembers whether an error came from reading it
/// (rather than from writing the NAR).
struct FileSource {
    file: File,
    failed: bool,
}

impl Read for FileSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf).inspect_err(|_| self.failed = true)
    }
}

struct Frame {
    dir: PathBuf,
    /// (name in the NAR, name on disk), in NAR order.
    names: Vec<(Vec<u8>, Vec<u8>)>,
    next: usize,
}

/// What C++ Nix's `use-case-hack` setting appends to a name that differs
/// from an earlier one of its directory only in case.
pub const CASE_HACK_SUFFIX: &[u8] = b"~nix~case~hack~";

/// Writes the NAR of `path` (not following a symlink at `path` itself) to
/// `out`. Directory depth is handled with an explicit stack.
pub fn dump_path<W: Write>(path: &Path, out: W) -> Result<W, DumpError> {
    dump_path_with(path, out, false)
}

/// [`dump_path`]; with `case_hack` (C++ Nix's `use-case-hack`), names
/// carrying [`CASE_HACK_SUFFIX`] are written without it, and two names
/// that then collide are an error.
pub fn dump_path_with<W: Write>(path: &Path, out: W, case_hack: bool) -> Result<W, DumpError> {
    let mut sink = WriteNar {
        writer: NarWriter::new(out).map_err(DumpError::Write)?,
    };
    walk(path, &mut sink, case_hack)?;
    sink.writer.finish().map_err(DumpError::Write)
}

/// Forwards visitor calls to a [`NarWriter`].
struct WriteNar<W: Write> {
    writer: NarWriter<W>,
}

impl<W: Write> WriteNar<W> {
    fn entry(&mut self, path: &[Vec<u8>]) -> io::Result<()> {
        match path.last() {
            Some(name) => self.writer.entry(name),
            None => Ok(()),
        }
    }
}

impl<W: Write> NarVisitor for WriteNar<W> {
    fn enter_directory(&mut self, path: &[Vec<u8>]) -> io::Result<()> {
        self.entry(path)?;
        self.writer.start_directory()
    }
    fn leave_directory(&mut self, _: &[Vec<u8>]) -> io::Result<()> {
        self.writer.end_directory()
    }
    fn symlink(&mut self, path: &[Vec<u8>], target: &[u8]) -> io::Result<()> {
        self.entry(path)?;
        self.writer.symlink(target)
    }
    fn regular(
        &mut self,
        path: &[Vec<u8>],
        executable: bool,
        size: u64,
        contents: &mut dyn Read,
    ) -> io::Result<()> {
        self.entry(path)?;
        self.writer.regular(executable, size, contents)
    }
}

/// Walks the tree at `path` (not following a symlink at `path` itself) in
/// NAR order, calling `visitor` for every node as [`super::parse`] would for
/// its NAR; a regular file's contents are streamed from the file. Errors of
/// the visitor are [`DumpError::Write`].
pub fn walk_path(path: &Path, visitor: &mut dyn NarVisitor) -> Result<(), DumpError> {
    walk(path, visitor, false)
}

fn walk(path: &Path, visitor: &mut dyn NarVisitor, case_hack: bool) -> Result<(), DumpError> {
    let meta = check_dumpable(path)?;
    let mut stack: Vec<Frame> = Vec::new();
    let mut components: Vec<Vec<u8>> = Vec::new();
    visit_node(visitor, path, &meta, &components, &mut stack, case_hack)?;
    while let Some(frame) = stack.last_mut() {
        if frame.next == frame.names.len() {
            stack.pop();
            visitor
                .leave_directory(&components)
                .map_err(DumpError::Write)?;
            components.pop();
            continue;
        }
        let (name, disk) = std::mem::take(&mut frame.names[frame.next]);
        frame.next += 1;
        let child = frame.dir.join(OsStr::from_bytes(&disk));
        let meta = check_dumpable(&child)?;
        components.push(name);
        let opened = visit_node(visitor, &child, &meta, &components, &mut stack, case_hack)?;
        if !opened {
            components.pop();
        }
    }
    Ok(())
}

/// Visits one node; returns true when it opened a directory (whose
/// entries are then on `stack`).
fn visit_node(
    visitor: &mut dyn NarVisitor,
    path: &Path,
    meta: &fs::Metadata,
    components: &[Vec<u8>],
    stack: &mut Vec<Frame>,
    case_hack: bool,
) -> Result<bool, DumpError> {
    let ft = meta.file_type();
    if ft.is_file() {
        let read_err = |source| DumpError::ReadFile {
            path: path.to_owned(),
            source,
        };
        let mut file = FileSource {
            file: File::open(path).map_err(|source| DumpError::OpenFile {
                path: path.to_owned(),
                source,
            })?,
            failed: false,
        };
        let executable = meta.mode() & 0o100 != 0;
        let result = visitor.regular(components, executable, meta.len(), &mut file);
        result.map_err(|e| {
            if file.failed || e.kind() == io::ErrorKind::UnexpectedEof {
                read_err(e)
            } else {
                DumpError::Write(e)
            }
        })?;
        Ok(false)
    } else if ft.is_symlink() {
        let target = fs::read_link(path).map_err(|source| DumpError::ReadLink {
            path: path.to_owned(),
            source,
        })?;
        visitor
            .symlink(components, target.as_os_str().as_bytes())
            .map_err(DumpError::Write)?;
        Ok(false)
    } else if ft.is_dir() {
        let read_err = |source| DumpError::ReadDir {
            path: path.to_owned(),
            source,
        };
        let mut names = Vec::new();
        for entry in fs::read_dir(path).map_err(read_err)? {
            let disk = entry.map_err(read_err)?.file_name().as_bytes().to_vec();
            let mut name = disk.clone();
            if case_hack {
                if let Some(at) = name
                    .windows(CASE_HACK_SUFFIX.len())
                    .position(|w| w == CASE_HACK_SUFFIX)
                {
                    name.truncate(at);
                }
            }
            names.push((name, disk));
        }
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0].0 == w[1].0) {
            let shown = |n: &[u8]| path.join(OsStr::from_bytes(n));
            return Err(DumpError::CaseCollision(shown(&w[0].1), shown(&w[1].1)));
        }
        visitor
            .enter_directory(components)
            .map_err(DumpError::Write)?;
        stack.push(Frame {
            dir: path.to_owned(),
            names,
            next: 0,
        });
        Ok(true)
    } else {
        Err(DumpError::UnsupportedType(path.to_owned()))
    }
}

/// Why a NAR could not be restored.
#[derive(Debug, Error)]
pub enum RestoreError {
    #[error("creating '{0}': File exists")]
    Exists(PathBuf),
    #[error("creating a temporary directory beside '{path}': {}", os_error::message(.source))]
    TempDir { path: PathBuf, source: io::Error },
    #[error("{}", nar_message(.0))]
    Nar(#[from] NarError),
    #[error("moving the restored tree to '{path}': {}", os_error::message(.source))]
    Rename { path: PathBuf, source: io::Error },
}

/// C++ Nix's words for an archive that cannot be read: a premature end
/// is plain `unexpected end-of-file`, the rest are `bad archive: …`.
fn nar_message(e: &NarError) -> String {
    match e {
        NarError::Truncated => e.to_string(),
        e => format!("bad archive: {e}"),
    }
}

/// Restores the NAR read from `input` as the new path `target`, which must
/// not exist. Nothing is left at `target` unless the whole archive was valid.
pub fn restore<R: Read>(input: R, target: &Path) -> Result<(), RestoreError> {
    restore_with(input, target, false)
}

/// [`restore`]; with `case_hack` (C++ Nix's `use-case-hack`), a name equal
/// but for case to an earlier one of its directory gets
/// [`CASE_HACK_SUFFIX`] and a number.
pub fn restore_with<R: Read>(input: R, target: &Path, case_hack: bool) -> Result<(), RestoreError> {
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".oxnix-restore-")
        .tempdir_in(parent)
        .map_err(|source| RestoreError::TempDir {
            path: target.to_owned(),
            source,
        })?;
    let root = tmp.path().join("root");
    let mut restorer = Restorer {
        root: root.clone(),
        buffer: Vec::new(),
        case_hack,
        seen: Vec::new(),
        disk: Vec::new(),
    };
    parse(input, &mut restorer)?;
    rename_no_replace(&root, target).map_err(|source| {
        if source.kind() == io::ErrorKind::AlreadyExists {
            RestoreError::Exists(target.to_owned())
        } else {
            RestoreError::Rename {
                path: target.to_owned(),
                source,
            }
        }
    })
    // `tmp` (now empty) is removed when dropped, also on every error path.
}

/// `rename(2)` that refuses to replace an existing `to`.
pub fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use std::ffi::CString;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
    };
    let (f, t) = (c(from)?, c(to)?);
    // SAFETY: both pointers are valid NUL-terminated strings for the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        // File systems without RENAME_NOREPLACE: check, then rename.
        Some(libc::EINVAL) | Some(libc::ENOSYS) => {
            if fs::symlink_metadata(to).is_ok() {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            fs::rename(from, to)
        }
        _ => Err(err),
    }
}

struct Restorer {
    root: PathBuf,
    /// Reused for every file: large writes instead of `io::copy`'s 8 KiB.
    buffer: Vec<u8>,
    case_hack: bool,
    /// With `case_hack`: per open directory, its names so far (lower
    /// case) and how many collided with each.
    seen: Vec<std::collections::HashMap<Vec<u8>, u32>>,
    /// With `case_hack`: the names on disk of the current path.
    disk: Vec<Vec<u8>>,
}

impl Restorer {
    /// Where the entry `components` goes (each entry is asked for once,
    /// in NAR order).
    fn path(&mut self, components: &[Vec<u8>]) -> PathBuf {
        let mut p = self.root.clone();
        if !self.case_hack {
            for c in components {
                p.push(OsStr::from_bytes(c));
            }
            return p;
        }
        let Some((name, _)) = components.split_last() else {
            return p;
        };
        let depth = components.len();
        self.disk.truncate(depth - 1);
        self.seen.truncate(depth);
        while self.seen.len() < depth {
            self.seen.push(Default::default());
        }
        let names = &mut self.seen[depth - 1];
        let lower = name.to_ascii_lowercase();
        let disk_name = match names.get_mut(&lower) {
            Some(n) => {
                *n += 1;
                let mut d = name.clone();
                d.extend_from_slice(CASE_HACK_SUFFIX);
                d.extend_from_slice(n.to_string().as_bytes());
                d
            }
            None => {
                names.insert(lower, 0);
                name.clone()
            }
        };
        self.disk.push(disk_name);
        for c in &self.disk {
            p.push(OsStr::from_bytes(c));
        }
        p
    }
}

fn with_path(e: io::Error, what: &str, p: &Path) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("{what} '{}': {}", p.display(), os_error::message(&e)),
    )
}

impl NarVisitor for Restorer {
    fn enter_directory(&mut self, path: &[Vec<u8>]) -> io::Result<()> {
        let p = self.path(path);
        fs::DirBuilder::new()
            .mode(0o777)
            .create(&p)
            .map_err(|e| with_path(e, "creating directory", &p))
    }

    fn leave_directory(&mut self, _: &[Vec<u8>]) -> io::Result<()> {
        Ok(())
    }

    fn symlink(&mut self, path: &[Vec<u8>], target: &[u8]) -> io::Result<()> {
        let p = self.path(path);
        std::os::unix::fs::symlink(OsStr::from_bytes(target), &p)
            .map_err(|e| with_path(e, "creating symlink", &p))
    }

    fn regular(
        &mut self,
        path: &[Vec<u8>],
        executable: bool,
        _size: u64,
        contents: &mut dyn Read,
    ) -> io::Result<()> {
        let p = self.path(path);
        // create_new: O_EXCL, so an existing name (or a symlink) is never
        // written through.
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .open(&p)
            .map_err(|e| with_path(e, "creating file", &p))?;
        if self.buffer.is_empty() {
            self.buffer = vec![0; 256 * 1024];
        }
        loop {
            let n = match contents.read(&mut self.buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            f.write_all(&self.buffer[..n])?;
        }
        if executable {
            // As C++ Nix: add the execute bits to whatever the umask left.
            let mode = f.metadata()?.permissions().mode() | 0o111;
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    }
}
