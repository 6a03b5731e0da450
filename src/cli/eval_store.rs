//! The evaluator's I/O over oxnix's store ([`StoreIo`]): files are read
//! from disk, and a path under the store directory that is not on disk is
//! read from the store (symlinks followed through both), so `import`,
//! `readFile`, `readDir`, `pathExists`, `hashFile` and `builtins.path` see
//! store paths as C++ Nix sees `/nix/store`. The store is opened on first
//! need and the same handle writes what evaluation adds (one process
//! holds a local store's lock once).

use std::cell::OnceCell;
use std::collections::{BTreeSet, VecDeque};
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::castore::Node;
use crate::eval::eval_io::{self, EvalIo, FileKind};
use crate::eval::instantiation::Addition;
use crate::hash::{Hash, HashAlgo, Hasher};
use crate::store::any::{AnyAddress, AnyStore};
use crate::store::StoreAddress;
use crate::store_path::{StoreDir, StorePath};

/// How many symlinks one lookup follows before giving up (as Linux).
const MAX_SYMLINKS: usize = 40;

/// Files on disk, with oxnix's store behind the store directory.
pub struct StoreIo {
    store_dir: StoreDir,
    address: AnyAddress,
    store: OnceCell<AnyStore>,
    /// What the fetchers fetched in this process, by URL, unpacking and
    /// name: fetched once (C++ Nix's fetcher cache answers a repeat).
    fetched: std::cell::RefCell<std::collections::HashMap<FetchKey, (StorePath, Hash)>>,
}

type FetchKey = (String, bool, String);

/// Where a path leads.
enum Located {
    /// A file system path (symlinks resolved as far as the walk went).
    Disk(PathBuf),
    /// The store directory or one of its parents, missing on disk.
    Virtual(PathBuf),
    /// A node inside a path of the store, and the path it is at.
    Store(Node, PathBuf),
}

fn other(e: impl ToString) -> io::Error {
    io::Error::other(e.to_string())
}

// Linux's error numbers, so messages read as the system's.
const ENOENT: i32 = 2;
const ENOTDIR: i32 = 20;
const EISDIR: i32 = 21;
const EINVAL: i32 = 22;
const ELOOP: i32 = 40;

fn os(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

fn not_found() -> io::Error {
    os(ENOENT)
}

/// Whether a failed disk operation may have failed because part of the
/// path is in the store only.
fn store_may_help(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

fn kind_of(node: &Node) -> FileKind {
    match node {
        Node::Directory { .. } => FileKind::Directory,
        Node::File { executable, .. } => FileKind::Regular {
            executable: *executable,
        },
        Node::Symlink { .. } => FileKind::Symlink,
    }
}

/// The components of `path` to walk, `.` and empty ones dropped.
fn components(path: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(<[u8]>::to_vec)
}

impl StoreIo {
    pub fn new(store_dir: StoreDir, address: AnyAddress) -> StoreIo {
        StoreIo {
            store_dir,
            address,
            store: OnceCell::new(),
            fetched: Default::default(),
        }
    }

    /// The store's address.
    pub fn address(&self) -> &AnyAddress {
        &self.address
    }

    /// The store, opened (and created) on first use.
    pub fn store(&self) -> Result<&AnyStore, crate::store::StoreError> {
        if let Some(s) = self.store.get() {
            return Ok(s);
        }
        let s = AnyStore::open(&self.address, self.store_dir.clone())?;
        Ok(self.store.get_or_init(|| s))
    }

    /// The store for reading, or `None` when a local store was never
    /// created (it then holds nothing; reading does not create it).
    fn store_for_reading(&self) -> io::Result<Option<&AnyStore>> {
        if self.store.get().is_none() {
            if let AnyAddress::Oxnix(StoreAddress::Sled(dir)) = &self.address {
                if !dir.join("db").exists() {
                    return Ok(None);
                }
            }
        }
        self.store().map(Some).map_err(other)
    }

    /// The tree of store path `path`, if the store has it.
    fn root_node(&self, path: &Path) -> io::Result<Option<Node>> {
        let Some(text) = path.to_str() else {
            return Ok(None);
        };
        let Ok(sp) = self.store_dir.parse_path(text) else {
            return Ok(None);
        };
        match self.store_for_reading()? {
            Some(store) => match store.castore() {
                Some(c) => c.root_node(&sp).map_err(other),
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }

    /// Where a store path of C++ Nix's store is on disk, when that is not
    /// its own name (a chroot store) and it exists there.
    fn real_location(&self, path: &Path) -> io::Result<Option<PathBuf>> {
        let Some(sp) = path
            .to_str()
            .and_then(|t| self.store_dir.parse_path(t).ok())
        else {
            return Ok(None);
        };
        if matches!(self.address, AnyAddress::Oxnix(_)) {
            return Ok(None);
        }
        Ok(self
            .store_for_reading()?
            .and_then(|s| s.on_disk(&sp))
            .filter(|real| real != path && std::fs::symlink_metadata(real).is_ok()))
    }

    /// oxnix's castore store, if that is the store (the only one whose
    /// files are not on disk).
    fn castore(&self) -> io::Result<&crate::store::Store> {
        match self.store_for_reading()? {
            Some(store) => store.castore().ok_or_else(not_found),
            None => Err(not_found()),
        }
    }

    /// The child `name` of a stored directory.
    fn child(&self, dir: &Node, name: &[u8]) -> io::Result<Node> {
        let Node::Directory { digest, .. } = dir else {
            return Err(os(ENOTDIR));
        };
        let store = self.castore()?;
        let entries = store.directory_entries(digest).map_err(other)?;
        entries
            .into_iter()
            .find(|e| e.name == name)
            .map(|e| e.node)
            .ok_or_else(not_found)
    }

    /// Follows `path` through disk and store; the last component's symlink
    /// is followed only with `follow_last`.
    fn locate(&self, path: &Path, follow_last: bool) -> io::Result<Located> {
        let store_dir = Path::new(self.store_dir.as_str());
        let bytes = path.as_os_str().as_bytes();
        // `x/` and `x/.` name a directory (a symlink there is followed).
        let must_be_dir = bytes.ends_with(b"/") || bytes.ends_with(b"/.");
        let follow_last = follow_last || must_be_dir;
        let mut queue: VecDeque<Vec<u8>> = components(path.as_os_str().as_bytes()).collect();
        let mut resolved = PathBuf::from("/");
        // The node at `resolved`, while the walk is inside a store path
        // that is not on disk, with that path's root.
        let mut inside: Option<(Node, PathBuf, Node)> = None;
        let mut hops = 0;
        while let Some(comp) = queue.pop_front() {
            let last = queue.is_empty();
            if comp == b".." {
                if let Some((node, _, _)) = &inside {
                    if !matches!(node, Node::Directory { .. }) {
                        return Err(os(ENOTDIR));
                    }
                }
                resolved.pop();
                if let Some((_, root_path, root)) = inside.take() {
                    if let Ok(rest) = resolved.strip_prefix(&root_path) {
                        let mut node = root.clone();
                        for c in components(rest.as_os_str().as_bytes()) {
                            node = self.child(&node, &c)?;
                        }
                        inside = Some((node, root_path, root));
                    }
                }
                continue;
            }
            let name = OsStr::from_bytes(&comp);
            if let Some((node, _, _)) = &mut inside {
                let child = self.child(node, &comp)?;
                if let Node::Symlink { target } = &child {
                    if !last || follow_last {
                        hops += 1;
                        if hops > MAX_SYMLINKS {
                            return Err(os(ELOOP));
                        }
                        if target.starts_with(b"/") {
                            resolved = PathBuf::from("/");
                            inside = None;
                        }
                        for c in components(target).collect::<Vec<_>>().into_iter().rev() {
                            queue.push_front(c);
                        }
                        continue;
                    }
                }
                *node = child;
                resolved.push(name);
                continue;
            }
            let candidate = resolved.join(name);
            match std::fs::symlink_metadata(&candidate) {
                Ok(m) if m.file_type().is_symlink() && (!last || follow_last) => {
                    hops += 1;
                    if hops > MAX_SYMLINKS {
                        return Err(os(ELOOP));
                    }
                    let target = std::fs::read_link(&candidate)?;
                    let target = target.as_os_str().as_bytes();
                    if target.starts_with(b"/") {
                        resolved = PathBuf::from("/");
                    }
                    for c in components(target).collect::<Vec<_>>().into_iter().rev() {
                        queue.push_front(c);
                    }
                }
                Ok(_) => resolved = candidate,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if resolved == store_dir {
                        match self.root_node(&candidate)? {
                            Some(root) => {
                                inside = Some((root.clone(), candidate.clone(), root));
                                resolved = candidate;
                            }
                            // A chroot store (`local?root=DIR`) has its
                            // files under DIR.
                            None => match self.real_location(&candidate)? {
                                Some(real) => resolved = real,
                                None => return Err(e),
                            },
                        }
                    } else if store_dir.starts_with(&candidate) {
                        // The store directory need not exist on disk.
                        resolved = candidate;
                    } else {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        if must_be_dir {
            if let Some((node, _, _)) = &inside {
                if !matches!(node, Node::Directory { .. }) {
                    return Err(os(ENOTDIR));
                }
            }
        }
        Ok(match inside {
            Some((node, _, _)) => Located::Store(node, resolved),
            None if std::fs::symlink_metadata(&resolved).is_err()
                && store_dir.starts_with(&resolved) =>
            {
                Located::Virtual(resolved)
            }
            None => Located::Disk(resolved),
        })
    }

    /// A stored file's contents as a stream.
    fn open_node(&self, node: &Node) -> io::Result<Box<dyn Read + '_>> {
        match node {
            Node::File { digest, size, .. } => {
                let store = self.castore()?;
                Ok(Box::new(store.open_file(digest, *size).map_err(other)?))
            }
            Node::Directory { .. } => Err(os(EISDIR)),
            Node::Symlink { .. } => Err(not_found()),
        }
    }

    /// Writes what evaluation added (sources, `toFile` texts, `.drv`
    /// files) into the store, dependencies first.
    pub fn write(&self, additions: Vec<Addition>) -> Result<(), crate::store::StoreError> {
        use crate::store::StoreError;
        if additions.is_empty() {
            return Ok(());
        }
        let store = self.store()?;
        // Sources first (they refer to nothing), then every text in one batch.
        let mut texts = Vec::new();
        for a in additions {
            match a {
                Addition::Source { from, path } => {
                    if store.is_valid(&path)? {
                        continue;
                    }
                    let added = if std::fs::symlink_metadata(&from).is_ok() {
                        store.add_path(
                            &from,
                            path.name(),
                            crate::store_path::IngestionMethod::Recursive,
                            HashAlgo::Sha256,
                        )?
                    } else {
                        // A path inside the store only: copied as its NAR.
                        let nar = self.nar_of(&from).map_err(StoreError::Write)?;
                        let hash = Hash::of_bytes(HashAlgo::Sha256, &nar);
                        let ca = format!(
                            "fixed:r:{}",
                            hash.to_string_with(crate::hash::HashFormat::Nix32)
                        );
                        store.add_nar(&path, &nar, &ca)?;
                        path.clone()
                    };
                    if added != path {
                        return Err(StoreError::Write(io::Error::other(format!(
                            "'{}' changed while it was being copied to the store",
                            from.display()
                        ))));
                    }
                }
                Addition::Text {
                    path,
                    contents,
                    references,
                } => texts.push((path, contents, references)),
                Addition::Nar { path, nar, ca } => store.add_nar(&path, &nar, &ca)?,
            }
        }
        store.add_texts(&texts)
    }

    /// The NAR of a path inside the store only.
    fn nar_of(&self, path: &Path) -> io::Result<Vec<u8>> {
        match self.locate(path, false)? {
            Located::Store(node, _) => {
                let store = self.castore()?;
                crate::store::render::write_nar(
                    &*store.blobs,
                    &*store.directories,
                    &node,
                    Vec::new(),
                )
                .map_err(other)
            }
            _ => {
                let w = crate::nar::fs::dump_path(path, Vec::new()).map_err(other)?;
                Ok(w)
            }
        }
    }
}

impl EvalIo for StoreIo {
    fn lstat(&self, path: &Path) -> io::Result<FileKind> {
        match eval_io::StdIo.lstat(path) {
            Err(e) if store_may_help(&e) => match self.locate(path, false)? {
                Located::Store(node, _) => Ok(kind_of(&node)),
                Located::Virtual(_) => Ok(FileKind::Directory),
                Located::Disk(p) => eval_io::StdIo.lstat(&p),
            },
            r => r,
        }
    }

    fn stat(&self, path: &Path) -> io::Result<FileKind> {
        match eval_io::StdIo.stat(path) {
            Err(e) if store_may_help(&e) => match self.locate(path, true)? {
                Located::Store(node, _) => Ok(kind_of(&node)),
                Located::Virtual(_) => Ok(FileKind::Directory),
                Located::Disk(p) => eval_io::StdIo.stat(&p),
            },
            r => r,
        }
    }

    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        match std::fs::read(path) {
            Err(e) if store_may_help(&e) => match self.locate(path, true)? {
                Located::Store(node, _) => {
                    let mut out = Vec::new();
                    self.open_node(&node)?.read_to_end(&mut out)?;
                    Ok(out)
                }
                Located::Virtual(_) => Err(os(EISDIR)),
                Located::Disk(p) => std::fs::read(p),
            },
            r => r,
        }
    }

    fn open_file<'a>(&'a self, path: &Path) -> io::Result<Box<dyn Read + 'a>> {
        match std::fs::File::open(path) {
            Ok(f) => Ok(Box::new(f)),
            Err(e) if store_may_help(&e) => match self.locate(path, true)? {
                Located::Store(node, _) => self.open_node(&node),
                Located::Virtual(_) => Err(os(EISDIR)),
                Located::Disk(p) => Ok(Box::new(std::fs::File::open(p)?)),
            },
            Err(e) => Err(e),
        }
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<(Vec<u8>, FileKind)>> {
        match eval_io::read_dir_on_disk(path) {
            Err(e) if store_may_help(&e) => match self.locate(path, true)? {
                Located::Store(Node::Directory { digest, .. }, _) => {
                    let store = self.castore()?;
                    Ok(store
                        .directory_entries(&digest)
                        .map_err(other)?
                        .into_iter()
                        .map(|e| {
                            let kind = kind_of(&e.node);
                            (e.name, kind)
                        })
                        .collect())
                }
                Located::Store(..) => Err(os(ENOTDIR)),
                Located::Virtual(_) => Ok(Vec::new()),
                Located::Disk(p) => eval_io::read_dir_on_disk(&p),
            },
            r => r,
        }
    }

    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        match std::fs::read_link(path) {
            Err(e) if store_may_help(&e) => match self.locate(path, false)? {
                Located::Store(Node::Symlink { target }, _) => {
                    Ok(PathBuf::from(OsStr::from_bytes(&target)))
                }
                Located::Store(..) | Located::Virtual(_) => Err(os(EINVAL)),
                Located::Disk(p) => std::fs::read_link(p),
            },
            r => r,
        }
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        match std::fs::canonicalize(path) {
            Err(e) if store_may_help(&e) => Ok(match self.locate(path, true)? {
                Located::Disk(p) | Located::Virtual(p) | Located::Store(_, p) => p,
            }),
            r => r,
        }
    }

    fn nar_hash(&self, path: &Path) -> io::Result<Hash> {
        if std::fs::symlink_metadata(path).is_ok() {
            return eval_io::nar_hash_on_disk(path);
        }
        // As C++ Nix's `dumpPath`: a path that is not there fails with
        // the path in the message.
        let status = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!(
                    "getting status of '{}': {}",
                    path.display(),
                    crate::os_error::message(&e)
                ),
            )
        };
        match self.locate(path, false).map_err(status)? {
            Located::Store(node, _) => {
                let store = self.castore()?;
                let h = crate::store::render::write_nar(
                    &*store.blobs,
                    &*store.directories,
                    &node,
                    Hasher::new(HashAlgo::Sha256),
                )
                .map_err(other)?;
                Ok(h.finish())
            }
            Located::Virtual(_) => Err(status(not_found())),
            Located::Disk(p) => eval_io::nar_hash_on_disk(&p),
        }
    }

    fn is_valid_path(&self, path: &Path) -> Result<bool, String> {
        let oxnix = matches!(self.address, AnyAddress::Oxnix(_));
        if oxnix && std::fs::symlink_metadata(path).is_ok() {
            return Ok(true);
        }
        let Some(sp) = path
            .to_str()
            .and_then(|t| self.store_dir.parse_path(t).ok())
        else {
            return Ok(false);
        };
        match self.store_for_reading().map_err(|e| e.to_string())? {
            Some(store) => store.is_valid(&sp).map_err(|e| e.to_string()),
            None => Ok(false),
        }
    }

    fn references(&self, path: &StorePath) -> Result<Option<BTreeSet<StorePath>>, String> {
        let Some(store) = self.store_for_reading().map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        match store.query(path) {
            Ok(info) => Ok(Some(info.references)),
            Err(crate::store::StoreError::NotValid(_)) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn write_additions(&self, additions: Vec<Addition>) -> Result<(), String> {
        self.write(additions).map_err(|e| e.to_string())
    }

    fn fetch(
        &self,
        request: &eval_io::FetchRequest,
    ) -> Result<(StorePath, Hash), eval_io::FetchFailure> {
        let key = (request.url.clone(), request.unpack, request.name.clone());
        if let Some(done) = self.fetched.borrow().get(&key) {
            return Ok(done.clone());
        }
        let done = self.fetch_now(request)?;
        self.fetched.borrow_mut().insert(key, done.clone());
        Ok(done)
    }
}

impl StoreIo {
    /// [`EvalIo::fetch`] without the memo: download, unpack, add.
    fn fetch_now(
        &self,
        request: &eval_io::FetchRequest,
    ) -> Result<(StorePath, Hash), eval_io::FetchFailure> {
        use crate::store_path::IngestionMethod;
        use eval_io::FetchFailure::{Download, Other};
        // Downloaded and unpacked in a directory of its own, gone once the
        // result is in the store.
        let tmp = tempfile::Builder::new()
            .prefix("oxnix-fetch-")
            .tempdir()
            .map_err(|e| Other(format!("creating a temporary directory: {e}")))?;
        let file = tmp.path().join("download");
        crate::fetch::download(&request.url, &file).map_err(|e| match e {
            crate::fetch::FetchError::Download { .. } => Download(e.to_string()),
            e => Other(e.to_string()),
        })?;
        let store = self.store().map_err(|e| Other(e.to_string()))?;
        let failed = |e: crate::store::StoreError| Other(e.to_string());
        if request.unpack {
            let top = crate::fetch::unpack(&request.url, &file, &tmp.path().join("unpacked"))
                .map_err(|e| Other(e.to_string()))?;
            let path = store
                .add_path(
                    &top,
                    &request.name,
                    IngestionMethod::Recursive,
                    HashAlgo::Sha256,
                )
                .map_err(failed)?;
            // The tree's hash is its NAR's, which the store recorded.
            let hash = store.query(&path).map_err(failed)?.nar_hash;
            Ok((path, hash))
        } else {
            let mut f = std::fs::File::open(&file)
                .map_err(|e| Other(format!("opening '{}': {e}", file.display())))?;
            let hash = Hash::of_reader(HashAlgo::Sha256, &mut f)
                .map_err(|e| Other(format!("reading '{}': {e}", file.display())))?;
            let path = store
                .add_path(
                    &file,
                    &request.name,
                    IngestionMethod::Flat,
                    HashAlgo::Sha256,
                )
                .map_err(failed)?;
            Ok((path, hash))
        }
    }
}
