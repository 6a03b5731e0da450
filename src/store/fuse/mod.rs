//! The store as a read-only FUSE file system (`fuse-backend-rs`): the root
//! lists every valid store path by base name; below, each path's castore
//! tree is shown as it would be restored (directories, files with their
//! executable bit and size, symlinks). Directories are fetched when first
//! looked up and cached (they never change: they are addressed by digest);
//! file contents are streamed from the blob service as they are read, one
//! open reader per open file, so sequential reads cost one blob stream.
//! The first read of a file in a directory has the files after it pushed
//! into the kernel's page cache ([`prefetch`]), so reading a whole tree
//! costs a few round trips per directory instead of one or more per file.
//! Works over any [`Store`], a daemon's included.
//!
//! No damaged contents are ever served: a file's blob is checked whole
//! against its digest and recorded size before its first bytes go to the
//! kernel (by a read or a push into the page cache), and its digest is
//! remembered as checked for the life of the mount; a damaged file's reads
//! fail with EIO (and the mount names the file on stderr).
//!
//! [`Mount::start`] mounts and serves on a few threads;
//! [`Mount::unmount`] (or drop) unmounts and joins them.

mod mountinfo;
mod prefetch;
mod readahead;

use std::collections::{HashMap, HashSet};
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
pub use prefetch::PrefetchStats;
use prefetch::Prefetcher;

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

/// What an inode stands for.
struct InodeRec {
    node: Node,
    /// The directory it was found in, and its place among that
    /// directory's entries (`usize::MAX` below the root, whose listing
    /// changes).
    parent: u64,
    index: usize,
    /// A file: its contents have gone to the kernel (read or pushed).
    /// A directory: its files have been queued for prefetching.
    delivered: AtomicBool,
    /// A file: how far READ requests have got in it.
    read_to: AtomicU64,
    /// A file: how far it has been asked to be pushed ahead of its reader.
    ahead_to: AtomicU64,
}

#[derive(Default)]
struct Inodes {
    /// Inode `i + 2`'s record (the root is 1).
    nodes: Vec<Arc<InodeRec>>,
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
    /// Blobs checked whole against their digests (and sizes).
    verified: Mutex<HashSet<B3Digest>>,
    /// Pushes files into the kernel's cache, once mounted.
    prefetcher: Prefetcher,
    /// READ requests served.
    reads: AtomicU64,
    /// The kernel has asked INIT; the readahead window has been raised.
    inited: AtomicBool,
    readahead_raised: AtomicBool,
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
            verified: Mutex::default(),
            prefetcher: Prefetcher::default(),
            reads: AtomicU64::new(0),
            inited: AtomicBool::new(false),
            readahead_raised: AtomicBool::new(false),
        }
    }

    /// The record of inode `ino` (`None` for the root).
    fn rec(&self, ino: u64) -> io::Result<Option<Arc<InodeRec>>> {
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

    /// The node of inode `ino` (`None` for the root).
    fn node(&self, ino: u64) -> io::Result<Option<Node>> {
        Ok(self.rec(ino)?.map(|r| r.node.clone()))
    }

    /// The inode of `name` in `parent`, allocated on first sight; `index`
    /// is its place in the parent's entries.
    fn inode(&self, parent: u64, index: usize, name: &[u8], node: &Node) -> u64 {
        let key = (parent, name.to_vec());
        if let Some(i) = read_lock(&self.inodes).by_name.get(&key) {
            return *i;
        }
        let mut inodes = write_lock(&self.inodes);
        if let Some(i) = inodes.by_name.get(&key) {
            return *i;
        }
        inodes.nodes.push(Arc::new(InodeRec {
            node: node.clone(),
            parent,
            index,
            delivered: AtomicBool::new(false),
            read_to: AtomicU64::new(0),
            ahead_to: AtomicU64::new(0),
        }));
        let ino = inodes.nodes.len() as u64 + 1;
        inodes.by_name.insert(key, ino);
        ino
    }

    /// Whether the blob `digest` has been checked whole.
    fn is_verified(&self, digest: &B3Digest) -> bool {
        lock(&self.verified).contains(digest)
    }

    /// Checks the blob of file inode `ino` (`digest`, `size` bytes) whole,
    /// once per mount: EIO when it is damaged (or unreadable).
    fn verify_blob(&self, ino: u64, digest: &B3Digest, size: u64) -> io::Result<()> {
        if self.is_verified(digest) {
            return Ok(());
        }
        match crate::castore::check_blob(&*self.store.blobs, digest, Some(size)) {
            Ok(()) => {
                lock(&self.verified).insert(*digest);
                Ok(())
            }
            Err(crate::castore::CastoreError::BlobDamaged { damage, .. }) => {
                let root = self.store.store_dir.as_str().to_owned();
                Err(eio(format!(
                    "the contents of '{root}{}' in oxnix's store are damaged ({damage}); run 'nix-store --verify --check-contents'",
                    self.path_of(ino)
                )))
            }
            Err(e) => Err(eio(e)),
        }
    }

    /// The path of inode `ino` below the mount's root (`/name/…`), for
    /// messages: found by searching the names known, so slow.
    fn path_of(&self, mut ino: u64) -> String {
        let inodes = read_lock(&self.inodes);
        let mut names: Vec<&[u8]> = Vec::new();
        while ino != ROOT {
            let Some(((parent, name), _)) = inodes.by_name.iter().find(|(_, i)| **i == ino) else {
                break;
            };
            names.push(name);
            ino = *parent;
        }
        names
            .iter()
            .rev()
            .map(|n| format!("/{}", String::from_utf8_lossy(n)))
            .collect()
    }

    /// The inode of entry `i` of directory `dir`.
    fn child_inode(&self, dir: u64, i: usize, e: &Entry) -> u64 {
        // The root's listing changes: no place in it is kept.
        let index = if dir == ROOT { usize::MAX } else { i };
        self.inode(dir, index, &e.name, &e.node)
    }

    /// The inode of `name` in `parent` if the kernel has been told of it.
    fn known_inode(&self, parent: u64, name: &[u8]) -> Option<(u64, Arc<InodeRec>)> {
        let inodes = read_lock(&self.inodes);
        let ino = *inodes.by_name.get(&(parent, name.to_vec()))?;
        let rec = inodes.nodes.get(ino.checked_sub(2)? as usize)?.clone();
        Some((ino, rec))
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

    /// Hands the entries of directory `ino` from `offset` on to `add` (with
    /// each one's node and cache time) until it takes no more.
    fn list(
        &self,
        ino: u64,
        offset: u64,
        mut add: impl FnMut(DirEntry, &Node, Duration) -> io::Result<usize>,
    ) -> io::Result<()> {
        let (entries, ttl) = self.dir_entries(ino)?;
        for (i, e) in entries.iter().enumerate().skip(offset as usize) {
            let child = self.child_inode(ino, i, e);
            let dirent = DirEntry {
                ino: child,
                offset: i as u64 + 1,
                type_: dirent_type(&e.node),
                name: &e.name,
            };
            if add(dirent, &e.node, ttl)? == 0 {
                break; // the kernel's buffer is full
            }
        }
        Ok(())
    }

    /// A read from the start of a file has the prefetcher push the files
    /// after it in its directory.
    fn prefetch_siblings(&self, rec: &InodeRec) {
        if rec.index == usize::MAX {
            return;
        }
        let Ok(Some(parent)) = self.rec(rec.parent) else {
            return;
        };
        let Node::Directory { digest, .. } = &parent.node else {
            return;
        };
        let new = !parent.delivered.swap(true, Ordering::Relaxed);
        self.prefetcher
            .prefetch(rec.parent, rec.index + 1, false, || {
                new.then(|| self.entries(digest).ok()).flatten()
            });
    }

    /// After the kernel has been answered a listing of `dir` from entry
    /// `from`: a directory listed in a walk (files of its parent are being
    /// read) is prefetched from there.
    fn listed(&self, dir: u64, from: usize) {
        let Ok(Some(rec)) = self.rec(dir) else {
            return;
        };
        let Node::Directory { digest, .. } = &rec.node else {
            return;
        };
        let walked = rec.delivered.load(Ordering::Relaxed)
            || rec.index != usize::MAX
                && matches!(self.rec(rec.parent), Ok(Some(p)) if p.delivered.load(Ordering::Relaxed));
        if walked {
            rec.delivered.store(true, Ordering::Relaxed);
            self.prefetcher
                .prefetch(dir, from, true, || self.entries(digest).ok());
        }
    }

    /// What a serving thread does once it has answered a request.
    fn answered(&self, mountpoint: &Path) {
        if let Some((dir, from)) = LISTED.take() {
            self.listed(dir, from);
        }
        // Once INIT is answered, before the first read.
        if self.inited.load(Ordering::SeqCst) && !self.readahead_raised.swap(true, Ordering::SeqCst)
        {
            // Not permitted (not root): the kernel's window.
            let _ = readahead::raise(mountpoint);
        }
    }
}

thread_local! {
    /// The listing (directory, first entry) a serving thread is answering.
    static LISTED: std::cell::Cell<Option<(u64, usize)>> = const { std::cell::Cell::new(None) };
    /// Each serving thread's read buffer (reads are up to 1 MiB).
    static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads up to `size` bytes at `offset` of an open blob into `w`, moving
/// its stream there first: a short way forwards by skipping, otherwise by
/// opening it again at `offset` (contents are immutable).
fn read_blob(
    store: &Store,
    b: &mut OpenBlob,
    offset: u64,
    size: usize,
    file_size: u64,
    w: &mut dyn ZeroCopyWriter,
) -> io::Result<usize> {
    /// Gaps up to this are read through rather than reopened (larger
    /// ones too where the store cannot open a blob at an offset).
    const SKIP: u64 = 256 << 10;
    let jump = offset > b.pos + SKIP && store.blobs.seeks();
    if b.reader.is_none() || offset < b.pos || jump {
        let r = store
            .blobs
            .open_read_at(&b.digest, offset)
            .map_err(eio)?
            .ok_or_else(|| eio(format!("blob {} is missing", b.digest)))?;
        b.reader = Some(r);
        b.pos = offset;
    }
    let skip = offset - b.pos;
    let Some(reader) = b.reader.as_mut() else {
        return Err(errno(libc::EIO));
    };
    if skip > 0 {
        let skipped = io::copy(&mut reader.take(skip), &mut io::sink())?;
        b.pos += skipped;
        if skipped < skip {
            return Err(eio(format!("blob {} ended early", b.digest)));
        }
    }
    READ_BUF.with_borrow_mut(|buf| {
        buf.resize(size, 0);
        let mut n = 0;
        while n < size {
            match reader.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(eio(e)),
            }
        }
        b.pos += n as u64;
        // The blob was checked whole; it cannot be shorter than recorded
        // unless it changed since.
        if n < size && offset + (n as u64) < file_size {
            return Err(eio(format!("blob {} ended early", b.digest)));
        }
        w.write_all(&buf[..n])?;
        Ok(n)
    })
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
        self.inited.store(true, Ordering::SeqCst);
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
            let ino = self.inode(ROOT, usize::MAX, name, &info.node);
            return Ok(self.entry(ino, &info.node, ROOT_TTL));
        }
        let (entries, ttl) = self.dir_entries(parent)?;
        let i = entries
            .binary_search_by(|e| e.name.as_slice().cmp(name))
            .map_err(|_| errno(libc::ENOENT))?;
        let ino = self.child_inode(parent, i, &entries[i]);
        Ok(self.entry(ino, &entries[i].node, ttl))
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
        self.reads.fetch_add(1, Ordering::Relaxed);
        let rec = self.rec(ino)?.ok_or_else(|| errno(libc::EISDIR))?;
        let Node::File {
            digest,
            size: file_size,
            ..
        } = rec.node
        else {
            return Err(errno(libc::EISDIR));
        };
        // Nothing of a file goes to the kernel before its blob is checked.
        self.verify_blob(ino, &digest, file_size)?;
        if offset == 0 {
            rec.delivered.store(true, Ordering::Relaxed);
        }
        let by_inode = self.no_open.load(Ordering::Relaxed);
        let blob = if by_inode {
            let mut readers = lock(&self.readers);
            if readers.len() >= MAX_READERS && !readers.contains_key(&ino) {
                // Files left half-read; start them again if read again.
                readers.clear();
            }
            readers
                .entry(ino)
                .or_insert_with(|| {
                    Arc::new(Mutex::new(OpenBlob {
                        digest,
                        reader: None,
                        pos: 0,
                    }))
                })
                .clone()
        } else {
            lock(&self.handles)
                .get(&handle)
                .cloned()
                .ok_or_else(|| errno(libc::EBADF))?
        };
        let n = {
            let mut b = lock(&blob);
            read_blob(&self.store, &mut b, offset, size as usize, file_size, w)?
        };
        let end = offset + n as u64;
        let before = rec.read_to.fetch_max(end, Ordering::Relaxed);
        // A reader going on in order (from the start, from where the last
        // READ ended, or within what was pushed ahead of it) gets the next
        // part pushed; one jumping forwards does not. Only where the store
        // opens a blob at an offset without reading up to it: pushing
        // ahead reopens it where the reader has got.
        let ahead = rec.ahead_to.load(Ordering::Relaxed);
        let in_order = offset == 0 || offset == before || offset <= ahead;
        if n > 0 && in_order && self.store.blobs.seeks() {
            self.prefetcher
                .read_ahead(ino, &rec, &digest, file_size, end);
        }
        if by_inode && (offset + n as u64 >= file_size || n == 0) {
            // Read to its end: close the reader.
            lock(&self.readers).remove(&ino);
        }
        if offset == 0 {
            self.prefetch_siblings(&rec);
        }
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
        self.list(ino, offset, |d, _, _| add_entry(d))
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
        if ino != ROOT && self.prefetcher.running() {
            LISTED.set(Some((ino, offset as usize)));
        }
        self.list(ino, offset, |d, node, ttl| {
            let entry = self.entry(d.ino, node, ttl);
            add_entry(d, entry)
        })
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
    fs: Arc<StoreFs>,
    session: Option<FuseSession>,
    /// Mounted through fusermount3 with auto_unmount.
    auto_unmount: bool,
    /// The serving threads.
    threads: Vec<JoinHandle<()>>,
    prefetch_thread: Option<JoinHandle<()>>,
    ended: Option<std::sync::mpsc::Receiver<()>>,
}

/// How a store is mounted.
#[derive(Debug, Clone, Copy)]
pub struct MountOptions {
    /// Push files into the kernel's cache when their directory is
    /// first read from ([`prefetch`]).
    pub prefetch: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions { prefetch: true }
    }
}

/// What a mount has served so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MountStats {
    /// READ requests answered.
    pub reads: u64,
    /// Files pushed into the kernel's cache before being read.
    pub prefetched: PrefetchStats,
}

/// Serving threads.
const THREADS: usize = 2;

impl Mount {
    /// Mounts `store` read-only on `mountpoint` (an existing directory)
    /// and serves it in the background.
    pub fn start(store: Store, mountpoint: &Path) -> Result<Mount, StoreError> {
        Self::start_with(store, mountpoint, MountOptions::default())
    }

    /// [`Mount::start`] with options.
    pub fn start_with(
        store: Store,
        mountpoint: &Path,
        options: MountOptions,
    ) -> Result<Mount, StoreError> {
        let fail = |e: fuse_backend_rs::transport::Error| {
            StoreError::Mount(format!("'{}': {e}", mountpoint.display()))
        };
        // Through fusermount3's auto_unmount where it can be had, so that a
        // killed mount process leaves no dead mount behind; else mounted
        // directly (as root).
        let session = |auto_unmount| -> Result<(FuseSession, bool), StoreError> {
            let mut s =
                FuseSession::new_with_autounmount(mountpoint, "oxnix", "oxnix", true, auto_unmount)
                    .map_err(fail)?;
            s.set_allow_other(false);
            s.mount().map_err(fail)?;
            Ok((s, auto_unmount))
        };
        let (session, auto_unmount) = session(true).or_else(|_| session(false))?;
        // As the kernel has it in mountinfo.
        let canonical = session.mountpoint().to_owned();
        // Everything that needs the session is made before any thread
        // starts, so that a failure unmounts (dropping the session) before
        // waiting for threads.
        let channels = (0..THREADS)
            .map(|_| session.new_channel())
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        let dev = match options.prefetch {
            true => Some(session.clone_fuse_file().map_err(fail)?),
            false => None,
        };
        let fs = Arc::new(StoreFs::new(store));
        let (tx, rx) = std::sync::mpsc::channel();
        let mut mount = Mount {
            fs: fs.clone(),
            session: Some(session),
            auto_unmount,
            threads: Vec::new(),
            prefetch_thread: None,
            ended: Some(rx),
        };
        let thread_error = |e: io::Error| StoreError::Mount(format!("starting a thread: {e}"));
        if let Some(dev) = dev {
            mount.prefetch_thread = Some(prefetch::start(fs.clone(), dev).map_err(thread_error)?);
        }
        let server = Arc::new(Server::new(fs.clone()));
        for (i, mut ch) in channels.into_iter().enumerate() {
            let server = server.clone();
            let fs = fs.clone();
            let mountpoint = canonical.clone();
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
                        fs.answered(&mountpoint);
                    }
                    let _ = tx.send(());
                })
                .map_err(thread_error)?;
            mount.threads.push(t);
        }
        Ok(mount)
    }

    /// What the mount has served so far.
    pub fn stats(&self) -> MountStats {
        MountStats {
            reads: self.fs.reads.load(Ordering::Relaxed),
            prefetched: self.fs.prefetcher.stats(),
        }
    }

    /// Waits until nothing is queued for prefetching or `timeout` has
    /// passed; whether it is idle.
    pub fn wait_prefetched(&self, timeout: Duration) -> bool {
        let until = std::time::Instant::now() + timeout;
        while !self.fs.prefetcher.idle() {
            if std::time::Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
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
        // The prefetching thread first, while the file system is still
        // served: a push may be waiting for a page that a pending read
        // holds, and only a serving thread's answer frees it.
        self.fs.prefetcher.stop();
        if let Some(t) = self.prefetch_thread.take() {
            let _ = t.join();
        }
        let mut result = Ok(());
        let failed = |e: &dyn std::fmt::Display| Err(StoreError::Mount(format!("unmounting: {e}")));
        if let Some(mut s) = self.session.take() {
            if self.auto_unmount {
                // fusermount3 unmounts once the session is gone and the
                // file system answers no more: end the serving first.
                let mountpoint = s.mountpoint().to_owned();
                let _ = s.wake();
                for t in self.threads.drain(..) {
                    let _ = t.join();
                }
                if let Err(e) = s.umount() {
                    result = failed(&e);
                }
                drop(s);
                if let Err(e) = wait_unmounted(&mountpoint) {
                    result = failed(&e);
                }
            } else {
                if let Err(e) = s.umount() {
                    result = failed(&e);
                }
                let _ = s.wake();
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        result
    }
}

/// Waits until nothing is mounted on `mountpoint` any more; after a second
/// (fusermount3 keeps a mount whose file system still answered when it
/// looked), detaches it itself (directly as root, else through
/// `fusermount3`).
fn wait_unmounted(mountpoint: &Path) -> io::Result<()> {
    for _ in 0..100 {
        if mountinfo::device_of(mountpoint)?.is_none() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(mountpoint.as_os_str().as_bytes())
        .map_err(|_| errno(libc::EINVAL))?;
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        // Unmounted meanwhile.
        Some(libc::EINVAL) | Some(libc::ENOENT) => Ok(()),
        Some(libc::EPERM) => {
            let status = std::process::Command::new("fusermount3")
                .args(["--unmount", "--quiet", "--lazy", "--"])
                .arg(mountpoint)
                .status()?;
            if status.success() {
                Ok(())
            } else {
                Err(io::Error::other(format!("fusermount3 --unmount: {status}")))
            }
        }
        _ => Err(e),
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
