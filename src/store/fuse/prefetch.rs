//! Pushing files into the kernel's page cache before they are read.
//!
//! Reading a tree through FUSE costs a round trip per file (the reader
//! sleeps, a serving thread wakes, answers, the reader wakes), and on a
//! small machine that round trip, not the copying, is what makes a mounted
//! tree slow to read. Readers of trees (tar, cp -r, a compiler reading its
//! sources) read the files of a directory one after another, so the first
//! read of a file in a directory queues the files after it, and one thread
//! of ours pushes their contents (in 1 MiB pieces) into the kernel's cache
//! with `FUSE_NOTIFY_STORE`: when the reader gets to them they are already
//! there and no request is sent. A large file is given up once its reader
//! has overtaken the pushes or gone on to another directory. Contents never change, so a pushed page
//! is never stale.
//!
//! A directory listed while files of its parent are being read is taken to
//! be next in a walk of the tree, and is prefetched from its first entry as
//! soon as the kernel has the listing.
//!
//! A file its reader has got to first (a large one, or one the thread had
//! not reached) is pushed just ahead of that reader once a READ of it has
//! been answered, before anything else: the kernel's next requests for it
//! then find the pages cached. The window grows with what has been read,
//! so a reader that stops early costs little.
//!
//! Only files the kernel knows (listed or looked up) can be pushed; each is
//! pushed at most once, and a file a serving thread already answered a
//! read for is left alone. Pushing may wait for the kernel's lock on a page
//! that a pending read holds: it runs on its own thread, never on the
//! serving threads, so that read is always answered.

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::{lock, InodeRec, StoreFs};
use crate::castore::directory::Entry;
use crate::castore::{B3Digest, Node};

/// Files larger than this are pushed only ahead of a reader, not whole.
const MAX_FILE: u64 = 256 << 20;
/// At most this much is pushed for one directory.
const MAX_DIR_BYTES: u64 = 512 << 20;
/// Files are read and pushed in pieces of at most this size.
const CHUNK: u64 = 1 << 20;
/// How far ahead of a reader a file being read is pushed, at least and at
/// most.
const MIN_AHEAD: u64 = 2 << 20;
const MAX_AHEAD: u64 = 16 << 20;
/// Directories being prefetched at most; the oldest is dropped for a new one.
const MAX_DIRS: usize = 1024;
/// `FUSE_NOTIFY_STORE`, the notification that fills the page cache.
const NOTIFY_STORE: i32 = 4;

/// What has been pushed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefetchStats {
    /// Files whose contents were pushed whole.
    pub files: u64,
    /// Bytes pushed (with the pieces of files given up half way).
    pub bytes: u64,
}

/// Where prefetching a directory stands: its next entry and what may still
/// be pushed of it.
struct Cursor {
    dir: u64,
    entries: Arc<Vec<Entry>>,
    next: usize,
    budget: u64,
}

/// A file to push: entry `index` of directory `dir`.
struct Push {
    dir: u64,
    entries: Arc<Vec<Entry>>,
    index: usize,
    digest: B3Digest,
    size: u64,
}

#[derive(Default)]
struct State {
    running: bool,
    /// Directories to prefetch, the one read from last on top: a reader
    /// walking a tree depth first wants the directory it just entered
    /// before the rest of the one it came from.
    stack: Vec<Cursor>,
    /// A file being read with READ requests, to push ahead of its reader
    /// before anything else.
    stream: Option<Stream>,
    /// The thread is pushing a file.
    busy: bool,
}

/// Bytes `from..to` of inode `ino` (a file with blob `digest`), to be
/// pushed just ahead of a reader that is reading it in order.
struct Stream {
    ino: u64,
    rec: Arc<InodeRec>,
    digest: B3Digest,
    from: u64,
    to: u64,
}

/// What the thread does next.
enum Job {
    File(Push),
    Ahead(Stream),
}

/// The prefetching thread's work (nothing until it is started and once it
/// is stopped) and its counters.
#[derive(Default)]
pub(super) struct Prefetcher {
    state: Mutex<State>,
    wake: Condvar,
    files: AtomicU64,
    bytes: AtomicU64,
}

impl Prefetcher {
    pub(super) fn running(&self) -> bool {
        lock(&self.state).running
    }

    /// Prefetches directory `dir` from entry `from` on, before anything
    /// else. A directory already queued moves there: back to `from` when
    /// `rewind` (entries the kernel has just been told of), else only
    /// forwards (entries a reader has passed). A new one is queued when
    /// `entries` gives its entries.
    pub(super) fn prefetch(
        &self,
        dir: u64,
        from: usize,
        rewind: bool,
        entries: impl FnOnce() -> Option<Arc<Vec<Entry>>>,
    ) {
        let mut st = lock(&self.state);
        if !st.running {
            return;
        }
        if let Some(at) = st.stack.iter().rposition(|c| c.dir == dir) {
            let mut c = st.stack.remove(at);
            c.next = if rewind {
                c.next.min(from)
            } else {
                c.next.max(from)
            };
            st.stack.push(c);
        } else {
            let Some(entries) = entries() else { return };
            if from >= entries.len() {
                return;
            }
            if st.stack.len() >= MAX_DIRS {
                st.stack.remove(0);
            }
            st.stack.push(Cursor {
                dir,
                entries,
                next: from,
                budget: MAX_DIR_BYTES,
            });
        }
        drop(st);
        self.wake.notify_one();
    }

    /// A READ of file `ino` has been answered up to `end`: push the next
    /// part of it (twice what has been read, between [`MIN_AHEAD`] and
    /// [`MAX_AHEAD`]) before anything else, so that the reader's next
    /// requests find it cached. Files larger than [`MAX_FILE`] too.
    pub(super) fn read_ahead(
        &self,
        ino: u64,
        rec: &Arc<InodeRec>,
        digest: &B3Digest,
        size: u64,
        end: u64,
    ) {
        if end >= size {
            return;
        }
        let to = size.min(end + (2 * end).clamp(MIN_AHEAD, MAX_AHEAD));
        let mut st = lock(&self.state);
        if !st.running {
            return;
        }
        rec.ahead_to.fetch_max(to, Ordering::Relaxed);
        match &mut st.stream {
            Some(s) if s.ino == ino => {
                s.from = s.from.max(end);
                s.to = s.to.max(to);
            }
            _ => {
                st.stream = Some(Stream {
                    ino,
                    rec: rec.clone(),
                    digest: *digest,
                    from: end,
                    to,
                })
            }
        }
        drop(st);
        self.wake.notify_one();
    }

    /// Whether a directory other than `dir` is now first, or a file being
    /// read is waiting to be pushed.
    fn moved_on(&self, dir: u64) -> bool {
        let st = lock(&self.state);
        st.stream.is_some() || st.stack.last().is_some_and(|c| c.dir != dir)
    }

    /// More of stream `ino` asked for since it was taken: its new end.
    /// `None` when another file's stream is waiting (this one is given up).
    fn extend(&self, ino: u64, to: u64) -> Option<u64> {
        let mut st = lock(&self.state);
        match &st.stream {
            None => Some(to),
            Some(s) if s.ino == ino => {
                let to = to.max(s.to);
                st.stream = None;
                Some(to)
            }
            Some(_) => None,
        }
    }

    /// Whether nothing is waiting to be pushed or being pushed.
    pub(super) fn idle(&self) -> bool {
        let st = lock(&self.state);
        st.stack.is_empty() && st.stream.is_none() && !st.busy
    }

    pub(super) fn stats(&self) -> PrefetchStats {
        PrefetchStats {
            files: self.files.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    /// Stops taking work; the thread ends after the file it is pushing.
    pub(super) fn stop(&self) {
        let mut st = lock(&self.state);
        st.running = false;
        st.stack.clear();
        st.stream = None;
        drop(st);
        self.wake.notify_all();
    }

    /// The next thing to push; `None` once stopped.
    fn next(&self) -> Option<Job> {
        let mut st = lock(&self.state);
        st.busy = false;
        loop {
            if !st.running {
                return None;
            }
            if let Some(s) = st.stream.take() {
                st.busy = true;
                return Some(Job::Ahead(s));
            }
            let Some(c) = st.stack.last_mut() else {
                st = wait(&self.wake, st);
                continue;
            };
            let Some(e) = c.entries.get(c.next) else {
                st.stack.pop();
                continue;
            };
            c.next += 1;
            let Node::File { digest, size, .. } = e.node else {
                continue;
            };
            if size == 0 || size > MAX_FILE {
                continue;
            }
            if size > c.budget {
                st.stack.pop();
                continue;
            }
            c.budget -= size;
            let push = Push {
                dir: c.dir,
                entries: c.entries.clone(),
                index: c.next - 1,
                digest,
                size,
            };
            st.busy = true;
            return Some(Job::File(push));
        }
    }
}

fn wait<'a>(cv: &Condvar, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
    cv.wait(guard).unwrap_or_else(|e| e.into_inner())
}

/// Starts the prefetching thread for `fs`, writing to the FUSE device `dev`.
pub(super) fn start(fs: Arc<StoreFs>, dev: File) -> io::Result<JoinHandle<()>> {
    lock(&fs.prefetcher.state).running = true;
    let on_thread = fs.clone();
    let thread = std::thread::Builder::new()
        .name("oxnix-fuse-prefetch".into())
        .spawn(move || {
            let fs = on_thread;
            let mut buf = Vec::new();
            while let Some(job) = fs.prefetcher.next() {
                let gone = match job {
                    Job::File(push) => push_file(&fs, &dev, &push, &mut buf),
                    Job::Ahead(stream) => push_ahead(&fs, &dev, stream, &mut buf),
                };
                if gone {
                    break;
                }
            }
            fs.prefetcher.stop();
        });
    if thread.is_err() {
        fs.prefetcher.stop();
    }
    thread
}

/// Pushes one file's contents unless the kernel does not know it or has had
/// them already; true when the file system is gone.
fn push_file(fs: &StoreFs, dev: &File, push: &Push, buf: &mut Vec<u8>) -> bool {
    let size = push.size;
    let Some((ino, rec)) = fs.known_inode(push.dir, &push.entries[push.index].name) else {
        return false; // the kernel has not seen it: nothing to fill
    };
    if rec.delivered.swap(true, Ordering::Relaxed) {
        return false;
    }
    // Checked before anything of it goes to the kernel: a small file is
    // read whole and checked, a larger one hashed first.
    let mut whole = Vec::new();
    let mut reader: Box<dyn Read + Send> = if fs.is_verified(&push.digest) || size > CHUNK {
        if fs.verify_blob(ino, &push.digest, size).is_err() {
            rec.delivered.store(false, Ordering::Relaxed);
            return false; // a read will report it
        }
        match fs.store.blobs.open_read(&push.digest) {
            Ok(Some(r)) => r,
            _ => {
                rec.delivered.store(false, Ordering::Relaxed);
                return false; // a read will report it
            }
        }
    } else {
        match crate::castore::read_verified(&*fs.store.blobs, &push.digest, size, &mut whole) {
            Ok(()) => {
                lock(&fs.verified).insert(push.digest);
                Box::new(io::Cursor::new(whole))
            }
            Err(_) => {
                rec.delivered.store(false, Ordering::Relaxed);
                return false; // a read will report it
            }
        }
    };
    // In pieces of at most CHUNK, each pushed as soon as it is read. A
    // reader that has got ahead reads the rest itself, and one that has
    // moved on to another directory is done with this one.
    let mut offset = 0;
    while offset < size {
        if offset > 0
            && (rec.read_to.load(Ordering::Relaxed) > offset || fs.prefetcher.moved_on(push.dir))
        {
            return false;
        }
        let n = (size - offset).min(CHUNK);
        match push_piece(fs, dev, &mut reader, ino, offset, n, buf) {
            Piece::Pushed => offset += n,
            Piece::Failed => {
                rec.delivered.store(false, Ordering::Relaxed);
                return false;
            }
            Piece::Gone => return true,
        }
    }
    fs.prefetcher.files.fetch_add(1, Ordering::Relaxed);
    false
}

/// Pushes `stream.from..stream.to` of a file being read, and on while its
/// reader asks for more; stops where the reader has got ahead, or when
/// another file is being read. True when the file system is gone.
fn push_ahead(fs: &StoreFs, dev: &File, stream: Stream, buf: &mut Vec<u8>) -> bool {
    let Stream {
        ino,
        rec,
        digest,
        mut from,
        mut to,
    } = stream;
    if !fs.is_verified(&digest) {
        return false; // reads check it first
    }
    // The blob, open where the next piece starts.
    let mut reader: Option<(Box<dyn Read + Send>, u64)> = None;
    loop {
        match fs.prefetcher.extend(ino, to) {
            Some(t) => to = t,
            None => return false,
        }
        // Where the reader has got, if it has overtaken the pushes within
        // this window: nothing before it needs pushing. (Reads further on
        // are of another part of the file.)
        let read_to = rec.read_to.load(Ordering::Relaxed);
        if read_to > from && read_to < to {
            from = read_to;
        }
        if from >= to {
            return false;
        }
        let mut r = match reader.take() {
            Some((r, at)) if at == from => r,
            _ => match fs.store.blobs.open_read_at(&digest, from) {
                Ok(Some(r)) => r,
                _ => return false, // a read will report it
            },
        };
        let n = (to - from).min(CHUNK);
        match push_piece(fs, dev, &mut r, ino, from, n, buf) {
            Piece::Pushed => {
                from += n;
                reader = Some((r, from));
            }
            Piece::Failed => return false,
            Piece::Gone => return true,
        }
    }
}

/// How pushing a piece of a file went.
enum Piece {
    Pushed,
    /// The blob could not be read, or the kernel does not know the inode
    /// (yet, or any more): reads will fetch it.
    Failed,
    /// Unmounted, the connection aborted, or prefetching stopped.
    Gone,
}

/// Reads the next `n` bytes of `reader` and pushes them as inode `ino`'s
/// contents at `offset`, counting them.
fn push_piece(
    fs: &StoreFs,
    dev: &File,
    reader: &mut dyn Read,
    ino: u64,
    offset: u64,
    n: u64,
    buf: &mut Vec<u8>,
) -> Piece {
    buf.clear();
    match reader.take(n).read_to_end(buf) {
        Ok(k) if k as u64 == n => {}
        _ => return Piece::Failed,
    }
    match notify_store(dev, ino, offset, buf) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => return Piece::Gone,
        Err(_) => return Piece::Failed,
    }
    fs.prefetcher.bytes.fetch_add(n, Ordering::Relaxed);
    if fs.prefetcher.running() {
        Piece::Pushed
    } else {
        Piece::Gone
    }
}

/// Writes `data` as the contents of inode `ino` into the kernel's cache.
fn notify_store(mut dev: &File, ino: u64, offset: u64, data: &[u8]) -> io::Result<()> {
    const HEADER: usize = 16 + 24;
    let total = HEADER + data.len();
    let len = u32::try_from(total).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    let mut h = [0u8; HEADER];
    // struct fuse_out_header { u32 len; i32 error; u64 unique; }
    h[0..4].copy_from_slice(&len.to_ne_bytes());
    h[4..8].copy_from_slice(&NOTIFY_STORE.to_ne_bytes());
    // struct fuse_notify_store_out { u64 nodeid; u64 offset; u32 size; u32 padding; }
    h[16..24].copy_from_slice(&ino.to_ne_bytes());
    h[24..32].copy_from_slice(&offset.to_ne_bytes());
    h[32..36].copy_from_slice(&(data.len() as u32).to_ne_bytes());
    let n = dev.write_vectored(&[IoSlice::new(&h), IoSlice::new(data)])?;
    if n != total {
        return Err(io::Error::from_raw_os_error(libc::EIO));
    }
    Ok(())
}
