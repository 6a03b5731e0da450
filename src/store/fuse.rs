//! The store as a read-only FUSE file system (`fuse-backend-rs`): the root
//! lists every valid store path by base name; below, each path's castore
//! tree is shown as it would be restored (directories, files with their
//! executable bit and size, symlinks). Directories are fetched when first
//! looked up and cached (they never change: they are addressed by digest);
//! file contents are streamed from the blob service as they are read, one
//! open reader per open file, so sequential reads cost one blob stream.
//! Works over any [`Store`], a daemon's included.
//!
//! [`Mount::start`] mounts and serves on a few threads;
//! [`Mount::unmount`] (or drop) unmounts and joins them.

use std::collections::HashMap;
use std::ffi::CStr;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use fuse_backend_rs::abi::fuse_abi::{stat64, statvfs64};
use fuse_backend_rs::api::filesystem::{
    Context, DirEntry, Entry as FuseEntry, FileSystem, FsOptions, OpenOptions, ZeroCopyWriter,
};
use fuse_backend_rs::api::server::Server;
use fuse_backend_rs::transport::FuseSession;

use super::{Store, StoreError};
use crate::castore::blob::{read_lock, write_lock};
use crate::castore::directory::{self, Entry};
use crate::castore::{B3Digest, Node};
use crate::store_path::StorePath;

/// The root directory's inode (FUSE's).
const ROOT: u64 = 1;

/// How long the kernel may cache what is below a store path (it never
/// changes) and the root's entries (paths may be added or deleted).
const IMMUTABLE: Duration = Duration::from_secs(3600);
const ROOT_TTL: Duration = Duration::from_secs(1);

/// A file being read: its blob reader and where it stands.
struct OpenBlob {
    digest: B3Digest,
    reader: Option<Box<dyn Read + Send>>,
    pos: u64,
}

#[derive(Default)]
struct Inodes {
    /// Inode `i + 2`'s node (the root is 1).
    nodes: Vec<Node>,
    /// (parent inode, name) -> inode.
    by_name: HashMap<(u64, Vec<u8>), u64>,
}

/// The file system.
pub struct StoreFs {
    store: Store,
    inodes: RwLock<Inodes>,
    dirs: RwLock<HashMap<B3Digest, Arc<Vec<Entry>>>>,
    handles: Mutex<HashMap<u64, Arc<Mutex<OpenBlob>>>>,
    next_handle: AtomicU64,
    /// Whether the kernel opens files without asking us
    /// (`ZERO_MESSAGE_OPEN`): reads then come without a handle, and the
    /// readers are kept per inode instead, at most [`MAX_READERS`], each
    /// dropped once read to its end.
    no_open: AtomicBool,
    readers: Mutex<HashMap<u64, Arc<Mutex<OpenBlob>>>>,
}

/// Blob readers kept for files read without an open handle.
const MAX_READERS: usize = 256;

fn eio(e: impl std::fmt::Display) -> io::Error {
    eprintln!("oxnix store mount: {e}");
    io::Error::from_raw_os_error(libc::EIO)
}

fn errno(n: i32) -> io::Error {
    io::Error::from_raw_os_error(n)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl StoreFs {
    pub fn new(store: Store) -> StoreFs {
        StoreFs {
            store,
            inodes: RwLock::default(),
            dirs: RwLock::default(),
            handles: Mutex::default(),
            next_handle: AtomicU64::new(1),
            no_open: AtomicBool::new(false),
            readers: Mutex::default(),
        }
    }

    /// The node of inode `ino` (`None` for the root).
    fn node(&self, ino: u64) -> io::Result<Option<Node>> {
        if ino == ROOT {
            return Ok(None);
        }
        let idx = ino.checked_sub(2).ok_or_else(|| errno(libc::ENOENT))?;
        read_lock(&self.inodes)
            .nodes
            .get(idx as usize)
            .cloned()
            .map(Some)
            .ok_or_else(|| errno(libc::ENOENT))
    }

    /// The inode of `name` in `parent`, allocated on first sight.
    fn inode(&self, parent: u64, name: &[u8], node: &Node) -> u64 {
        let key = (parent, name.to_vec());
        if let Some(i) = read_lock(&self.inodes).by_name.get(&key) {
            return *i;
        }
        let mut inodes = write_lock(&self.inodes);
        if let Some(i) = inodes.by_name.get(&key) {
            return *i;
        }
        inodes.nodes.push(node.clone());
        let ino = inodes.nodes.len() as u64 + 1;
        inodes.by_name.insert(key, ino);
        ino
    }

    /// The entries of a stored directory, cached.
    fn entries(&self, digest: &B3Digest) -> io::Result<Arc<Vec<Entry>>> {
        if let Some(e) = read_lock(&self.dirs).get(digest) {
            return Ok(e.clone());
        }
        let dir = self
            .store
            .directories
            .get(digest)
            .map_err(eio)?
            .ok_or_else(|| eio(format!("directory {digest} is missing")))?;
        let entries = Arc::new(directory::entries(&dir));
        write_lock(&self.dirs).insert(*digest, entries.clone());
        Ok(entries)
    }

    /// The valid paths, by base name (the root's entries).
    fn root_entries(&self) -> io::Result<Vec<Entry>> {
        let infos = self.store.path_infos.list().map_err(eio)?;
        let mut v: Vec<Entry> = infos
            .into_iter()
            .map(|i| Entry {
                name: i.store_path.base_name().as_bytes().to_vec(),
                node: i.node,
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    fn attr(&self, ino: u64, node: Option<&Node>) -> stat64 {
        // SAFETY: stat64 is plain data; all zeroes is a valid value.
        let mut st: stat64 = unsafe { std::mem::zeroed() };
        st.st_ino = ino;
        // SAFETY: getuid/getgid cannot fail.
        st.st_uid = unsafe { libc::getuid() };
        st.st_gid = unsafe { libc::getgid() };
        st.st_blksize = 64 * 1024;
        let (mode, size, nlink) = match node {
            None => (libc::S_IFDIR | 0o555, 0, 2),
            Some(Node::Directory { size, .. }) => (libc::S_IFDIR | 0o555, *size, 2),
            Some(Node::File {
                size, executable, ..
            }) => (
                libc::S_IFREG | if *executable { 0o555 } else { 0o444 },
                *size,
                1,
            ),
            Some(Node::Symlink { target }) => (libc::S_IFLNK | 0o777, target.len() as u64, 1),
        };
        st.st_mode = mode;
        st.st_size = size as i64;
        st.st_blocks = size.div_ceil(512) as i64;
        st.st_nlink = nlink;
        st
    }

    fn entry(&self, ino: u64, node: &Node, ttl: Duration) -> FuseEntry {
        FuseEntry {
            inode: ino,
            generation: 0,
            attr: self.attr(ino, Some(node)),
            attr_flags: 0,
            attr_timeout: ttl,
            entry_timeout: ttl,
        }
    }

    /// The entries of directory inode `ino` and how long they may be cached.
    fn dir_entries(&self, ino: u64) -> io::Result<(Arc<Vec<Entry>>, Duration)> {
        match self.node(ino)? {
            None => Ok((Arc::new(self.root_entries()?), ROOT_TTL)),
            Some(Node::Directory { digest, .. }) => Ok((self.entries(&digest)?, IMMUTABLE)),
            Some(_) => Err(errno(libc::ENOTDIR)),
        }
    }
}

fn dirent_type(node: &Node) -> u32 {
    u32::from(match node {
        Node::Directory { .. } => libc::DT_DIR,
        Node::File { .. } => libc::DT_REG,
        Node::Symlink { .. } => libc::DT_LNK,
    })
}

impl FileSystem for StoreFs {
    type Inode = u64;
    type Handle = u64;

    fn init(&self, capable: FsOptions) -> io::Result<FsOptions> {
        // Every file open and release would be a round trip, and every
        // entry of a listing a lookup: let the kernel skip them.
        let wanted = FsOptions::ASYNC_READ
            | FsOptions::PARALLEL_DIROPS
            | FsOptions::MAX_PAGES
            | FsOptions::DO_READDIRPLUS
            | FsOptions::ZERO_MESSAGE_OPEN;
        let ours = capable & wanted;
        self.no_open.store(
            ours.contains(FsOptions::ZERO_MESSAGE_OPEN),
            Ordering::Relaxed,
        );
        Ok(ours)
    }

    fn lookup(&self, _ctx: &Context, parent: u64, name: &CStr) -> io::Result<FuseEntry> {
        let name = name.to_bytes();
        if parent == ROOT {
            let base = std::str::from_utf8(name).map_err(|_| errno(libc::ENOENT))?;
            let path = StorePath::parse_base_name(base).map_err(|_| errno(libc::ENOENT))?;
            let info = self
                .store
                .path_infos
                .get(&path)
                .map_err(eio)?
                .ok_or_else(|| errno(libc::ENOENT))?;
            let ino = self.inode(ROOT, name, &info.node);
            return Ok(self.entry(ino, &info.node, ROOT_TTL));
        }
        let (entries, ttl) = self.dir_entries(parent)?;
        let i = entries
            .binary_search_by(|e| e.name.as_slice().cmp(name))
            .map_err(|_| errno(libc::ENOENT))?;
        let node = &entries[i].node;
        let ino = self.inode(parent, name, node);
        Ok(self.entry(ino, node, ttl))
    }

    fn getattr(
        &self,
        _ctx: &Context,
        ino: u64,
        _handle: Option<u64>,
    ) -> io::Result<(stat64, Duration)> {
        let node = self.node(ino)?;
        let ttl = if ino == ROOT { ROOT_TTL } else { IMMUTABLE };
        Ok((self.attr(ino, node.as_ref()), ttl))
    }

    fn readlink(&self, _ctx: &Context, ino: u64) -> io::Result<Vec<u8>> {
        match self.node(ino)? {
            Some(Node::Symlink { target }) => Ok(target),
            _ => Err(errno(libc::EINVAL)),
        }
    }

    fn open(
        &self,
        _ctx: &Context,
        ino: u64,
        flags: u32,
        _fuse_flags: u32,
    ) -> io::Result<(Option<u64>, OpenOptions, Option<u32>)> {
        let digest = match self.node(ino)? {
            Some(Node::File { digest, .. }) => digest,
            None | Some(Node::Directory { .. }) => return Err(errno(libc::EISDIR)),
            Some(Node::Symlink { .. }) => return Err(errno(libc::ELOOP)),
        };
        if flags as i32 & libc::O_ACCMODE != libc::O_RDONLY {
            return Err(errno(libc::EROFS));
        }
        if self.no_open.load(Ordering::Relaxed) {
            // The kernel opens files by itself from now on.
            return Err(errno(libc::ENOSYS));
        }
        let h = self.next_handle.fetch_add(1, Ordering::Relaxed);
        lock(&self.handles).insert(
            h,
            Arc::new(Mutex::new(OpenBlob {
                digest,
                reader: None,
                pos: 0,
            })),
        );
        Ok((Some(h), OpenOptions::KEEP_CACHE, None))
    }

    fn read(
        &self,
        _ctx: &Context,
        ino: u64,
        handle: u64,
        w: &mut dyn ZeroCopyWriter,
        size: u32,
        offset: u64,
        _lock_owner: Option<u64>,
        _flags: u32,
    ) -> io::Result<usize> {
        let by_inode = self.no_open.load(Ordering::Relaxed);
        let (blob, file_size) = if by_inode {
            let Some(Node::File { digest, size, .. }) = self.node(ino)? else {
                return Err(errno(libc::EISDIR));
            };
            let mut readers = lock(&self.readers);
            if readers.len() >= MAX_READERS && !readers.contains_key(&ino) {
                // Files left half-read; start them again if read again.
                readers.clear();
            }
            let blob = readers
                .entry(ino)
                .or_insert_with(|| {
                    Arc::new(Mutex::new(OpenBlob {
                        digest,
                        reader: None,
                        pos: 0,
                    }))
                })
                .clone();
            (blob, size)
        } else {
            let blob = lock(&self.handles)
                .get(&handle)
                .cloned()
                .ok_or_else(|| errno(libc::EBADF))?;
            (blob, u64::MAX)
        };
        let mut b = lock(&blob);
        // Not where the stream stands: start again (contents are
        // immutable) and skip forward.
        if b.reader.is_none() || offset < b.pos {
            let r = self
                .store
                .blobs
                .open_read(&b.digest)
                .map_err(eio)?
                .ok_or_else(|| eio(format!("blob {} is missing", b.digest)))?;
            b.reader = Some(r);
            b.pos = 0;
        }
        let skip = offset - b.pos;
        let b = &mut *b;
        let Some(reader) = b.reader.as_mut() else {
            return Err(errno(libc::EIO));
        };
        if skip > 0 {
            let skipped = io::copy(&mut reader.take(skip), &mut io::sink())?;
            b.pos += skipped;
            if skipped < skip {
                return Ok(0);
            }
        }
        let mut buf = vec![0u8; size as usize];
        let mut n = 0;
        while n < buf.len() {
            match reader.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(eio(e)),
            }
        }
        b.pos += n as u64;
        if by_inode && (b.pos >= file_size || n == 0) {
            // Read to its end: close the reader.
            b.reader = None;
            b.pos = 0;
            lock(&self.readers).remove(&ino);
        }
        w.write_all(&buf[..n])?;
        Ok(n)
    }

    fn release(
        &self,
        _ctx: &Context,
        _ino: u64,
        _flags: u32,
        handle: u64,
        _flush: bool,
        _flock_release: bool,
        _lock_owner: Option<u64>,
    ) -> io::Result<()> {
        lock(&self.handles).remove(&handle);
        Ok(())
    }

    fn opendir(
        &self,
        _ctx: &Context,
        ino: u64,
        _flags: u32,
    ) -> io::Result<(Option<u64>, OpenOptions)> {
        match self.node(ino)? {
            None | Some(Node::Directory { .. }) => Ok((None, OpenOptions::empty())),
            Some(_) => Err(errno(libc::ENOTDIR)),
        }
    }

    fn readdir(
        &self,
        _ctx: &Context,
        ino: u64,
        _handle: u64,
        _size: u32,
        offset: u64,
        add_entry: &mut dyn FnMut(DirEntry) -> io::Result<usize>,
    ) -> io::Result<()> {
        let (entries, _) = self.dir_entries(ino)?;
        for (i, e) in entries.iter().enumerate().skip(offset as usize) {
            let child = self.inode(ino, &e.name, &e.node);
            let added = add_entry(DirEntry {
                ino: child,
                offset: i as u64 + 1,
                type_: dirent_type(&e.node),
                name: &e.name,
            })?;
            if added == 0 {
                break; // the kernel's buffer is full
            }
        }
        Ok(())
    }

    fn readdirplus(
        &self,
        _ctx: &Context,
        ino: u64,
        _handle: u64,
        _size: u32,
        offset: u64,
        add_entry: &mut dyn FnMut(DirEntry, FuseEntry) -> io::Result<usize>,
    ) -> io::Result<()> {
        let (entries, ttl) = self.dir_entries(ino)?;
        for (i, e) in entries.iter().enumerate().skip(offset as usize) {
            let child = self.inode(ino, &e.name, &e.node);
            let added = add_entry(
                DirEntry {
                    ino: child,
                    offset: i as u64 + 1,
                    type_: dirent_type(&e.node),
                    name: &e.name,
                },
                self.entry(child, &e.node, ttl),
            )?;
            if added == 0 {
                break; // the kernel's buffer is full
            }
        }
        Ok(())
    }

    fn statfs(&self, _ctx: &Context, _ino: u64) -> io::Result<statvfs64> {
        // SAFETY: statvfs64 is plain data; all zeroes is a valid value.
        let mut st: statvfs64 = unsafe { std::mem::zeroed() };
        st.f_namemax = 255;
        st.f_bsize = 64 * 1024;
        st.f_frsize = 64 * 1024;
        Ok(st)
    }

    fn access(&self, _ctx: &Context, ino: u64, mask: u32) -> io::Result<()> {
        self.node(ino)?;
        if mask as i32 & libc::W_OK != 0 {
            return Err(errno(libc::EROFS));
        }
        Ok(())
    }
}

/// A mounted store.
pub struct Mount {
    session: Option<FuseSession>,
    threads: Vec<JoinHandle<()>>,
    ended: Option<std::sync::mpsc::Receiver<()>>,
}

/// Serving threads.
const THREADS: usize = 2;

impl Mount {
    /// Mounts `store` read-only on `mountpoint` (an existing directory)
    /// and serves it in the background.
    pub fn start(store: Store, mountpoint: &Path) -> Result<Mount, StoreError> {
        let fail = |e: fuse_backend_rs::transport::Error| {
            StoreError::Mount(format!("'{}': {e}", mountpoint.display()))
        };
        let mut session = FuseSession::new(mountpoint, "oxnix", "oxnix", true).map_err(fail)?;
        session.set_allow_other(false);
        session.mount().map_err(fail)?;
        let server = Arc::new(Server::new(StoreFs::new(store)));
        let (tx, rx) = std::sync::mpsc::channel();
        let mut threads = Vec::new();
        for i in 0..THREADS {
            let mut ch = session.new_channel().map_err(fail)?;
            let server = server.clone();
            let tx = tx.clone();
            let t = std::thread::Builder::new()
                .name(format!("oxnix-fuse-{i}"))
                .spawn(move || {
                    while let Ok(Some((r, w))) = ch.get_request() {
                        if let Err(fuse_backend_rs::Error::EncodeMessage(_)) =
                            server.handle_message(r, w.into(), None, None)
                        {
                            break; // the kernel ended the session
                        }
                    }
                    let _ = tx.send(());
                })
                .map_err(|e| StoreError::Mount(format!("starting a thread: {e}")))?;
            threads.push(t);
        }
        Ok(Mount {
            session: Some(session),
            threads,
            ended: Some(rx),
        })
    }

    /// Takes the receiver that gets a message when a serving thread ends
    /// (the file system was unmounted from outside).
    pub fn take_ended(&mut self) -> Option<std::sync::mpsc::Receiver<()>> {
        self.ended.take()
    }

    /// Unmounts and waits for the serving threads.
    pub fn unmount(mut self) -> Result<(), StoreError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), StoreError> {
        let mut result = Ok(());
        if let Some(mut s) = self.session.take() {
            if let Err(e) = s.umount() {
                result = Err(StoreError::Mount(format!("unmounting: {e}")));
            }
            let _ = s.wake();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        result
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
