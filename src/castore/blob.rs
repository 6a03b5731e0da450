//! Blob storage: file contents addressed by their BLAKE3 digest.
//! [`BlobService`] is the interface; [`MemoryBlobService`] keeps blobs in a
//! map, [`FsBlobService`] keeps each blob as a file named by its digest.
//!
//! Why files and not chunks inside sled: a blob is written once, streamed
//! through a temporary file while its digest is computed, and renamed to its
//! digest at the end. The rename makes the blob appear atomically and
//! whole, costs no second copy (chunks in sled would be written under a
//! temporary key and then rewritten under the digest, or buffered), and
//! reading is a plain file read at page-cache speed. sled keeps the small,
//! structured records (directories, path infos), where its transactions
//! and batches help.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::gc::Stored;
use super::{B3Digest, BlobDamage, CastoreError};
use std::time::SystemTime;

/// A blob being written; [`BlobWriter::close`] stores it and returns its
/// digest. Dropping a writer without closing it stores nothing.
pub trait BlobWriter: Write + Send {
    fn close(self: Box<Self>) -> Result<B3Digest, CastoreError>;
}

/// Where blobs live.
pub trait BlobService: Send + Sync {
    /// Whether the blob is stored.
    fn has(&self, digest: &B3Digest) -> Result<bool, CastoreError>;
    /// The blob's size in bytes, or `None` when it is not stored. The
    /// default reads the blob through; services that know it override.
    fn size(&self, digest: &B3Digest) -> Result<Option<u64>, CastoreError> {
        let Some(mut r) = self.open_read(digest)? else {
            return Ok(None);
        };
        io::copy(&mut r, &mut io::sink())
            .map(Some)
            .map_err(CastoreError::io(format!("reading blob {digest}")))
    }
    /// A reader streaming the blob, or `None` when it is not stored. The
    /// stream is not checked: read it through [`open_verified`] (or
    /// [`check_blob`] first).
    fn open_read(&self, digest: &B3Digest) -> Result<Option<Box<dyn Read + Send>>, CastoreError>;
    /// A reader streaming the blob from byte `offset` on (nothing when
    /// `offset` is past its end), or `None` when it is not stored. The
    /// default reads up to `offset` and drops what it read; services that
    /// can seek override it and [`BlobService::seeks`].
    fn open_read_at(
        &self,
        digest: &B3Digest,
        offset: u64,
    ) -> Result<Option<Box<dyn Read + Send>>, CastoreError> {
        let Some(mut r) = self.open_read(digest)? else {
            return Ok(None);
        };
        io::copy(&mut (&mut r).take(offset), &mut io::sink())
            .map_err(CastoreError::io(format!("reading blob {digest}")))?;
        Ok(Some(r))
    }
    /// Whether `open_read_at` starts at the offset without going through
    /// what comes before it (so opening at an offset costs nothing more
    /// than opening at the start).
    fn seeks(&self) -> bool {
        false
    }
    /// Starts writing a new blob.
    fn open_write(&self) -> Result<Box<dyn BlobWriter>, CastoreError>;
    /// Makes every blob closed so far durable (before anything refers to
    /// them). The in-memory service has nothing to do.
    fn sync(&self) -> Result<(), CastoreError> {
        Ok(())
    }
    /// Every stored blob, with its size and last write time (for the
    /// garbage collector; see [`super::gc`]).
    fn list(&self) -> Result<Vec<Stored>, CastoreError>;
    /// Removes a blob; false if it was not stored. Only the garbage
    /// collector calls this, holding [`super::CollectLock::collecting`].
    fn delete(&self, digest: &B3Digest) -> Result<bool, CastoreError>;
}

/// A blob's stream checked as it is read: its bytes are hashed on the way
/// through, and the read that reaches the blob's end (its recorded size,
/// when known, else the end of the stream) fails instead of returning
/// anything when the digest differs, or when the stream ends short of the
/// size. The error is an [`io::ErrorKind::InvalidData`] carrying
/// [`CastoreError::BlobDamaged`] (see [`damage_of`]). Nothing past the
/// recorded size is read. Every consumer of blob contents reads through
/// one of these (or [`check_blob`]): bytes are never passed on as a blob's
/// without being checked by the time its end is reached.
pub struct VerifiedReader<R> {
    inner: R,
    digest: B3Digest,
    size: Option<u64>,
    /// `None`: only the size is checked ([`VerifiedReader::size_only`]).
    hasher: Option<blake3::Hasher>,
    read: u64,
    state: VerifyState,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum VerifyState {
    Reading,
    Verified,
    Damaged(BlobDamage),
}

impl<R: Read> VerifiedReader<R> {
    /// Checks `inner` against `digest`, and against `size` when given.
    pub fn new(inner: R, digest: B3Digest, size: Option<u64>) -> Self {
        VerifiedReader {
            inner,
            digest,
            size,
            hasher: Some(blake3::Hasher::new()),
            read: 0,
            state: VerifyState::Reading,
        }
    }

    /// Checks only that `inner` has `size` bytes: for a blob whose digest
    /// was checked just before (its bytes come from the page cache that
    /// check filled), so that a large file is not hashed twice.
    pub fn size_only(inner: R, digest: B3Digest, size: u64) -> Self {
        VerifiedReader {
            hasher: None,
            ..Self::new(inner, digest, Some(size))
        }
    }

    fn fail(&mut self, damage: BlobDamage) -> io::Error {
        self.state = VerifyState::Damaged(damage);
        damaged(self.digest, damage)
    }

    /// At the end: whether what was read hashes to the digest.
    fn finish(&mut self) -> io::Result<()> {
        let matches = match &self.hasher {
            Some(h) => B3Digest::from(h.finalize()) == self.digest,
            None => true,
        };
        if matches {
            self.state = VerifyState::Verified;
            Ok(())
        } else {
            Err(self.fail(BlobDamage::Digest))
        }
    }
}

fn damaged(digest: B3Digest, damage: BlobDamage) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        CastoreError::BlobDamaged { digest, damage },
    )
}

impl<R: Read> Read for VerifiedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.state {
            VerifyState::Reading => {}
            VerifyState::Verified => return Ok(0),
            VerifyState::Damaged(d) => return Err(damaged(self.digest, d)),
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let want = match self.size {
            Some(size) => (size - self.read).min(buf.len() as u64) as usize,
            None => buf.len(),
        };
        if want == 0 {
            // An empty blob of recorded size 0.
            self.finish()?;
            return Ok(0);
        }
        let n = loop {
            match self.inner.read(&mut buf[..want]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => break r?,
            }
        };
        if n == 0 {
            if let Some(expected) = self.size {
                return Err(self.fail(BlobDamage::Short {
                    expected,
                    actual: self.read,
                }));
            }
            self.finish()?;
            return Ok(0);
        }
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.read += n as u64;
        if self.size == Some(self.read) {
            // The last bytes are handed on only once the whole is checked.
            self.finish()?;
        }
        Ok(n)
    }
}

/// The blob `digest` (of `size` bytes, when known), checked as it is read
/// ([`VerifiedReader`]); `None` when it is not stored.
pub fn open_verified(
    blobs: &dyn BlobService,
    digest: &B3Digest,
    size: Option<u64>,
) -> Result<Option<VerifiedReader<Box<dyn Read + Send>>>, CastoreError> {
    Ok(blobs
        .open_read(digest)?
        .map(|r| VerifiedReader::new(r, *digest, size)))
}

/// Reads the whole blob `digest` and checks it against its digest (and
/// `size`, when known): [`CastoreError::BlobDamaged`] when it differs or
/// is not stored.
pub fn check_blob(
    blobs: &dyn BlobService,
    digest: &B3Digest,
    size: Option<u64>,
) -> Result<(), CastoreError> {
    let Some(mut r) = open_verified(blobs, digest, size)? else {
        return Err(CastoreError::BlobDamaged {
            digest: *digest,
            damage: BlobDamage::Missing,
        });
    };
    io::copy(&mut r, &mut io::sink()).map_err(|e| read_error(digest, e))?;
    Ok(())
}

/// Reads the whole blob `digest` of `size` bytes into `buf` (replacing
/// what it held), checked: nothing is in `buf` unless all of it is right.
pub fn read_verified(
    blobs: &dyn BlobService,
    digest: &B3Digest,
    size: u64,
    buf: &mut Vec<u8>,
) -> Result<(), CastoreError> {
    buf.clear();
    let Some(mut r) = open_verified(blobs, digest, Some(size))? else {
        return Err(CastoreError::BlobDamaged {
            digest: *digest,
            damage: BlobDamage::Missing,
        });
    };
    if let Ok(n) = usize::try_from(size) {
        buf.reserve(n);
    }
    let result = r.read_to_end(buf);
    if let Err(e) = result {
        buf.clear();
        return Err(read_error(digest, e));
    }
    Ok(())
}

/// The damage a [`VerifiedReader`]'s error reports, if it is one.
pub fn damage_of(e: &io::Error) -> Option<(B3Digest, BlobDamage)> {
    match e.get_ref()?.downcast_ref::<CastoreError>()? {
        CastoreError::BlobDamaged { digest, damage } => Some((*digest, *damage)),
        _ => None,
    }
}

/// An error reading blob `digest` as a [`CastoreError`]: the damage found,
/// or the I/O error.
pub fn read_error(digest: &B3Digest, e: io::Error) -> CastoreError {
    match damage_of(&e) {
        Some((digest, damage)) => CastoreError::BlobDamaged { digest, damage },
        None => CastoreError::io(format!("reading blob {digest}"))(e),
    }
}

/// Blobs in memory (tests, `memory://` stores).
#[derive(Default, Clone)]
pub struct MemoryBlobService {
    blobs: Arc<RwLock<HashMap<B3Digest, Arc<Vec<u8>>>>>,
    /// When each blob was last written (for the garbage collector).
    times: Arc<RwLock<HashMap<B3Digest, SystemTime>>>,
}

impl MemoryBlobService {
    pub fn new() -> Self {
        Self::default()
    }
}

/// A poisoned lock only means another thread panicked while holding it; the
/// maps stay consistent (every update is a single insert), so go on.
pub(crate) fn read_lock<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write_lock<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

struct ArcBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl BlobService for MemoryBlobService {
    fn has(&self, digest: &B3Digest) -> Result<bool, CastoreError> {
        Ok(read_lock(&self.blobs).contains_key(digest))
    }

    fn size(&self, digest: &B3Digest) -> Result<Option<u64>, CastoreError> {
        Ok(read_lock(&self.blobs).get(digest).map(|b| b.len() as u64))
    }

    fn open_read(&self, digest: &B3Digest) -> Result<Option<Box<dyn Read + Send>>, CastoreError> {
        Ok(read_lock(&self.blobs)
            .get(digest)
            .map(|b| Box::new(Cursor::new(ArcBytes(b.clone()))) as Box<dyn Read + Send>))
    }

    fn open_read_at(
        &self,
        digest: &B3Digest,
        offset: u64,
    ) -> Result<Option<Box<dyn Read + Send>>, CastoreError> {
        Ok(read_lock(&self.blobs).get(digest).map(|b| {
            let mut c = Cursor::new(ArcBytes(b.clone()));
            c.set_position(offset);
            Box::new(c) as Box<dyn Read + Send>
        }))
    }

    fn seeks(&self) -> bool {
        true
    }

    fn open_write(&self) -> Result<Box<dyn BlobWriter>, CastoreError> {
        Ok(Box::new(MemoryBlobWriter {
            blobs: self.blobs.clone(),
            times: self.times.clone(),
            data: Vec::new(),
        }))
    }

    fn list(&self) -> Result<Vec<Stored>, CastoreError> {
        let times = read_lock(&self.times);
        Ok(read_lock(&self.blobs)
            .iter()
            .map(|(d, b)| Stored {
                digest: *d,
                size: b.len() as u64,
                written: times.get(d).copied().unwrap_or(SystemTime::UNIX_EPOCH),
            })
            .collect())
    }

    fn delete(&self, digest: &B3Digest) -> Result<bool, CastoreError> {
        write_lock(&self.times).remove(digest);
        Ok(write_lock(&self.blobs).remove(digest).is_some())
    }
}

struct MemoryBlobWriter {
    blobs: Arc<RwLock<HashMap<B3Digest, Arc<Vec<u8>>>>>,
    times: Arc<RwLock<HashMap<B3Digest, SystemTime>>>,
    data: Vec<u8>,
}

impl Write for MemoryBlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.data.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl BlobWriter for MemoryBlobWriter {
    fn close(self: Box<Self>) -> Result<B3Digest, CastoreError> {
        let this = *self;
        let digest = B3Digest::of(&this.data);
        // Written now, also when it was stored already (see `super::gc`).
        write_lock(&this.times).insert(digest, SystemTime::now());
        write_lock(&this.blobs)
            .entry(digest)
            .or_insert_with(|| Arc::new(this.data));
        Ok(digest)
    }
}

/// Blobs as files: `<root>/<first two hex digits>/<64 hex digits>`, written
/// through `<root>/tmp/` and renamed into place when complete.
#[derive(Clone)]
pub struct FsBlobService {
    root: PathBuf,
    /// `root` itself, so that a blob is opened by its two-component
    /// relative name instead of walking the whole path each time.
    dir: Arc<File>,
}

impl FsBlobService {
    /// Opens (creating if needed) a blob directory.
    pub fn open(root: &Path) -> Result<Self, CastoreError> {
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp)
            .map_err(CastoreError::io(format!("creating '{}'", tmp.display())))?;
        let dir =
            File::open(root).map_err(CastoreError::io(format!("opening '{}'", root.display())))?;
        Ok(FsBlobService {
            root: root.to_owned(),
            dir: Arc::new(dir),
        })
    }

    /// Opens a blob relative to the root directory's descriptor.
    fn open_file(&self, digest: &B3Digest) -> Result<Option<File>, CastoreError> {
        use std::os::fd::{AsRawFd, FromRawFd};
        let hex = digest.to_hex();
        let rel = std::ffi::CString::new(format!("{}/{hex}", &hex[..2]))
            .map_err(|e| CastoreError::io(format!("naming blob {hex}"))(io::Error::other(e)))?;
        // SAFETY: both the directory descriptor and the name are valid for
        // the duration of the call; a descriptor returned is ours alone.
        let fd = unsafe {
            libc::openat(
                self.dir.as_raw_fd(),
                rel.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::NotFound {
                return Ok(None);
            }
            let p = self.path_of(digest);
            return Err(CastoreError::io(format!("opening '{}'", p.display()))(e));
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        Ok(Some(unsafe { File::from_raw_fd(fd) }))
    }

    fn path_of(&self, digest: &B3Digest) -> PathBuf {
        let hex = digest.to_hex();
        self.root.join(&hex[..2]).join(hex)
    }
}

impl BlobService for FsBlobService {
    fn has(&self, digest: &B3Digest) -> Result<bool, CastoreError> {
        let p = self.path_of(digest);
        match fs::symlink_metadata(&p) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(CastoreError::io(format!("reading '{}'", p.display()))(e)),
        }
    }

    fn size(&self, digest: &B3Digest) -> Result<Option<u64>, CastoreError> {
        let p = self.path_of(digest);
        match fs::symlink_metadata(&p) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CastoreError::io(format!("reading '{}'", p.display()))(e)),
        }
    }

    fn open_read(&self, digest: &B3Digest) -> Result<Option<Box<dyn Read + Send>>, CastoreError> {
        Ok(self
            .open_file(digest)?
            .map(|f| Box::new(f) as Box<dyn Read + Send>))
    }

    fn open_read_at(
        &self,
        digest: &B3Digest,
        offset: u64,
    ) -> Result<Option<Box<dyn Read + Send>>, CastoreError> {
        use std::io::{Seek, SeekFrom};
        let Some(mut f) = self.open_file(digest)? else {
            return Ok(None);
        };
        f.seek(SeekFrom::Start(offset))
            .map_err(CastoreError::io(format!(
                "seeking in '{}'",
                self.path_of(digest).display()
            )))?;
        Ok(Some(Box::new(f)))
    }

    fn seeks(&self) -> bool {
        true
    }

    fn open_write(&self) -> Result<Box<dyn BlobWriter>, CastoreError> {
        let tmp = self.root.join("tmp");
        let file = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&tmp)
            .map_err(CastoreError::io(format!(
                "creating a temporary file in '{}'",
                tmp.display()
            )))?;
        Ok(Box::new(FsBlobWriter {
            service: self.clone(),
            file,
            hasher: blake3::Hasher::new(),
        }))
    }

    fn sync(&self) -> Result<(), CastoreError> {
        sync_filesystem(&self.root)
    }

    fn list(&self) -> Result<Vec<Stored>, CastoreError> {
        let read_dir = |p: &Path| {
            fs::read_dir(p).map_err(CastoreError::io(format!("reading '{}'", p.display())))
        };
        let mut out = Vec::new();
        for shard in read_dir(&self.root)? {
            let shard = shard.map_err(CastoreError::io(format!(
                "reading '{}'",
                self.root.display()
            )))?;
            let name = shard.file_name();
            // Shards are the two-hex-digit directories; `tmp` and anything
            // else is not a blob.
            let is_shard = name.len() == 2
                && name
                    .to_str()
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_hexdigit()));
            if !is_shard {
                continue;
            }
            for e in read_dir(&shard.path())? {
                let e = e.map_err(CastoreError::io(format!(
                    "reading '{}'",
                    shard.path().display()
                )))?;
                let Some(digest) = e.file_name().to_str().and_then(B3Digest::from_hex) else {
                    continue;
                };
                let meta = match e.metadata() {
                    Ok(m) => m,
                    Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                    Err(err) => {
                        return Err(CastoreError::io(format!(
                            "reading '{}'",
                            e.path().display()
                        ))(err))
                    }
                };
                out.push(Stored {
                    digest,
                    size: meta.len(),
                    written: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
        }
        Ok(out)
    }

    fn delete(&self, digest: &B3Digest) -> Result<bool, CastoreError> {
        let p = self.path_of(digest);
        match fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(CastoreError::io(format!("removing '{}'", p.display()))(e)),
        }
    }
}

/// Sets the modification time of the blob file `target` to now: a blob
/// written again counts as just written (see `super::gc`).
fn touch(target: &Path) -> Result<(), CastoreError> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(target.as_os_str().as_bytes()).map_err(|e| {
        CastoreError::io(format!("naming '{}'", target.display()))(io::Error::other(e))
    })?;
    // SAFETY: the name is a valid C string for the duration of the call; a
    // null `times` means "now" for both times.
    let r = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), std::ptr::null(), 0) };
    if r != 0 {
        return Err(
            CastoreError::io(format!("touching '{}'", target.display()))(io::Error::last_os_error()),
        );
    }
    Ok(())
}

/// `syncfs(2)` on the file system holding `dir`: one call makes every blob
/// written so far durable, instead of an fsync per file.
fn sync_filesystem(dir: &Path) -> Result<(), CastoreError> {
    let d = File::open(dir).map_err(CastoreError::io(format!("opening '{}'", dir.display())))?;
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is valid for the duration of the call.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        return Err(CastoreError::io(format!("syncing '{}'", dir.display()))(
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

struct FsBlobWriter {
    service: FsBlobService,
    file: tempfile::NamedTempFile,
    hasher: blake3::Hasher,
}

impl Write for FsBlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The file itself: its errors without the temporary's name.
        let n = self.file.as_file_mut().write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl BlobWriter for FsBlobWriter {
    fn close(self: Box<Self>) -> Result<B3Digest, CastoreError> {
        let digest = B3Digest::from(self.hasher.finalize());
        let target = self.service.path_of(&digest);
        if target.exists() {
            // Already stored; the temporary file is removed on drop. It
            // counts as written now, so that a collection running later
            // with a grace period keeps it for the add under way.
            match touch(&target) {
                Ok(()) => return Ok(digest),
                // Removed meanwhile (by a collection): store it again.
                Err(CastoreError::Io { source, .. })
                    if source.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)
                .map_err(CastoreError::io(format!("creating '{}'", parent.display())))?;
        }
        self.file.persist(&target).map_err(|e| {
            CastoreError::io(format!("storing blob '{}'", target.display()))(e.error)
        })?;
        Ok(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &[u8], digest: B3Digest, size: Option<u64>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        // Small reads, so that the last one is the one that fails.
        let mut r = VerifiedReader::new(data, digest, size);
        let mut buf = [0u8; 7];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn verified_reads_pass_intact_blobs_and_fail_damaged_ones() {
        let data = b"the contents of a blob, long enough for a few reads";
        let d = B3Digest::of(data);
        let n = data.len() as u64;
        assert_eq!(read_all(data, d, Some(n)).unwrap(), data);
        assert_eq!(read_all(data, d, None).unwrap(), data);
        assert_eq!(read_all(b"", B3Digest::of(b""), Some(0)).unwrap(), b"");
        let mut flipped = data.to_vec();
        flipped[3] ^= 1;
        for size in [Some(n), None] {
            let e = read_all(&flipped, d, size).unwrap_err();
            assert_eq!(damage_of(&e), Some((d, BlobDamage::Digest)));
        }
        let e = read_all(&data[..10], d, Some(n)).unwrap_err();
        assert_eq!(
            damage_of(&e),
            Some((
                d,
                BlobDamage::Short {
                    expected: n,
                    actual: 10
                }
            ))
        );
        assert_eq!(
            damage_of(&read_all(&data[..10], d, None).unwrap_err()),
            Some((d, BlobDamage::Digest))
        );
        // Trailing bytes past the recorded size are not the blob's.
        let mut longer = data.to_vec();
        longer.push(b'!');
        assert_eq!(read_all(&longer, d, Some(n)).unwrap(), data);
    }

    #[test]
    fn a_damaged_blob_is_never_read_whole() {
        let blobs = MemoryBlobService::new();
        let mut w = blobs.open_write().unwrap();
        w.write_all(b"stored").unwrap();
        let d = w.close().unwrap();
        let mut buf = Vec::new();
        read_verified(&blobs, &d, 6, &mut buf).unwrap();
        assert_eq!(buf, b"stored");
        let e = read_verified(&blobs, &d, 7, &mut buf).unwrap_err();
        assert!(matches!(e, CastoreError::BlobDamaged { .. }), "{e}");
        assert!(buf.is_empty());
        let missing = B3Digest::of(b"nothing");
        assert!(matches!(
            check_blob(&blobs, &missing, None),
            Err(CastoreError::BlobDamaged {
                damage: BlobDamage::Missing,
                ..
            })
        ));
    }
}
