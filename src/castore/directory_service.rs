//! Directory storage: [`DirectoryService`] stores validated [`Directory`]
//! messages by digest. A directory is accepted only when every directory it
//! refers to is already stored (or comes earlier in the same closure) with
//! the size it claims, so a stored directory never dangles.
//! [`MemoryDirectoryService`] keeps them in a map,
//! [`SledDirectoryService`] in a `sled` tree (a closure in batches,
//! children first).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use super::blob::{read_lock, write_lock};
use super::directory;
use super::gc::{decode_time, encode_time, Stored};
use super::proto::Directory;
use super::{B3Digest, CastoreError};

/// Where directories live.
pub trait DirectoryService: Send + Sync {
    /// The directory with this digest, if stored.
    fn get(&self, digest: &B3Digest) -> Result<Option<Directory>, CastoreError>;

    /// Whether a directory is stored.
    fn has(&self, digest: &B3Digest) -> Result<bool, CastoreError> {
        Ok(self.get(digest)?.is_some())
    }

    /// Stores `dirs`, children before parents (the root last); returns the
    /// root's digest. Each directory is validated and each subdirectory it
    /// names must be earlier in `dirs` or already stored, with the size its
    /// parent records. Nothing is stored unless all of `dirs` is valid; a
    /// failure while storing may leave some stored, each with its children.
    fn put_closure(&self, dirs: Vec<Directory>) -> Result<B3Digest, CastoreError>;

    /// Stores a closure already checked by [`check_closure`] (or
    /// [`check_closure_sized`]): `checked` is what the check returned for
    /// `dirs` (each directory's digest and canonical encoding, children
    /// first). Not checked again, so a server that checked a closure
    /// against more than this service knows (sizes of directories it
    /// stored in earlier batches) need not fetch anything to store it.
    /// Returns the last directory's digest.
    fn put_checked(
        &self,
        checked: Vec<(B3Digest, Vec<u8>)>,
        dirs: Vec<Directory>,
    ) -> Result<B3Digest, CastoreError> {
        drop(checked);
        self.put_closure(dirs)
    }

    /// Stores one directory whose subdirectories are all stored already.
    fn put(&self, dir: Directory) -> Result<B3Digest, CastoreError> {
        self.put_closure(vec![dir])
    }

    /// The directory `root` and every directory below it, each once: `root`
    /// first, every other after a directory naming it (breadth first).
    /// Empty when `root` is not stored. A remote service answers this in
    /// one round trip.
    fn get_recursive(&self, root: &B3Digest) -> Result<Vec<Directory>, CastoreError> {
        get_recursive_by_one(self, root)
    }

    /// Every stored directory with the time it was last written (for the
    /// garbage collector; see [`super::gc`]); the size is 0.
    fn list(&self) -> Result<Vec<Stored>, CastoreError>;

    /// Removes the directories `digests`, all at once where the backend
    /// can. Only the garbage collector calls this, holding
    /// [`super::CollectLock::collecting`], for a set that no directory
    /// left behind refers to.
    fn delete_many(&self, digests: &[B3Digest]) -> Result<(), CastoreError>;
}

/// [`DirectoryService::get_recursive`] by one [`DirectoryService::get`]
/// per directory.
pub fn get_recursive_by_one<S: DirectoryService + ?Sized>(
    service: &S,
    root: &B3Digest,
) -> Result<Vec<Directory>, CastoreError> {
    let Some(first) = service.get(root)? else {
        return Ok(Vec::new());
    };
    let mut seen = HashSet::from([*root]);
    let mut out = vec![first];
    let mut next = 0;
    while let Some(dir) = out.get(next) {
        next += 1;
        let children: Vec<B3Digest> = dir
            .directories
            .iter()
            .filter_map(|c| B3Digest::from_slice(&c.digest))
            .filter(|d| seen.insert(*d))
            .collect();
        for child in children {
            let d = service
                .get(&child)?
                .ok_or(CastoreError::MissingDirectory(child))?;
            out.push(d);
        }
    }
    Ok(out)
}

/// Validates a closure (children first) against `lookup` for directories
/// stored before; returns each directory's digest and encoding.
pub fn check_closure(
    dirs: &[Directory],
    lookup: &dyn Fn(&B3Digest) -> Result<Option<Directory>, CastoreError>,
) -> Result<Vec<(B3Digest, Vec<u8>)>, CastoreError> {
    check_closure_sized(dirs, &|d| match lookup(d)? {
        Some(dir) => Ok(Some(directory::size(&dir)?)),
        None => Ok(None),
    })
}

/// [`check_closure`] with `size_of` giving the size (nodes below) of a
/// directory stored before, `None` when it is not stored.
pub fn check_closure_sized(
    dirs: &[Directory],
    size_of: &dyn Fn(&B3Digest) -> Result<Option<u64>, CastoreError>,
) -> Result<Vec<(B3Digest, Vec<u8>)>, CastoreError> {
    if dirs.is_empty() {
        return Err(CastoreError::EmptyClosure);
    }
    // Digest -> size of the directories of this closure.
    let mut sizes: HashMap<B3Digest, u64> = HashMap::new();
    let mut out = Vec::with_capacity(dirs.len());
    for dir in dirs {
        directory::validate(dir)?;
        let bytes = directory::encode(dir);
        let digest = B3Digest::of(&bytes);
        for child in &dir.directories {
            let child_digest = B3Digest::from_slice(&child.digest).ok_or_else(|| {
                CastoreError::InvalidDirectory(directory::DirectoryError::BadDigest {
                    name: child.name.clone().into(),
                    len: child.digest.len(),
                })
            })?;
            let actual = match sizes.get(&child_digest) {
                Some(s) => *s,
                None => match size_of(&child_digest)? {
                    Some(size) => size,
                    None => {
                        return Err(CastoreError::MissingChild {
                            parent: digest,
                            child: child_digest,
                        })
                    }
                },
            };
            if actual != child.size {
                return Err(CastoreError::WrongSize {
                    parent: digest,
                    child: child_digest,
                    claimed: child.size,
                    actual,
                });
            }
        }
        sizes.insert(digest, directory::size(dir)?);
        out.push((digest, bytes));
    }
    Ok(out)
}

/// Directories in memory.
#[derive(Default, Clone)]
pub struct MemoryDirectoryService {
    /// Each directory with the time it was last written.
    dirs: Arc<RwLock<HashMap<B3Digest, (Directory, SystemTime)>>>,
}

impl MemoryDirectoryService {
    pub fn new() -> Self {
        Self::default()
    }
}

impl DirectoryService for MemoryDirectoryService {
    fn get(&self, digest: &B3Digest) -> Result<Option<Directory>, CastoreError> {
        Ok(read_lock(&self.dirs).get(digest).map(|(d, _)| d.clone()))
    }

    fn put_closure(&self, dirs: Vec<Directory>) -> Result<B3Digest, CastoreError> {
        let checked = check_closure(&dirs, &|d| self.get(d))?;
        let root = checked
            .last()
            .map(|(d, _)| *d)
            .ok_or(CastoreError::EmptyClosure)?;
        self.put_checked(checked, dirs)?;
        Ok(root)
    }

    fn put_checked(
        &self,
        checked: Vec<(B3Digest, Vec<u8>)>,
        dirs: Vec<Directory>,
    ) -> Result<B3Digest, CastoreError> {
        let root = checked
            .last()
            .map(|(d, _)| *d)
            .ok_or(CastoreError::EmptyClosure)?;
        let now = SystemTime::now();
        let mut map = write_lock(&self.dirs);
        for ((digest, _), dir) in checked.into_iter().zip(dirs) {
            // Written now, also when it was stored already (see `super::gc`).
            map.entry(digest).or_insert((dir, now)).1 = now;
        }
        Ok(root)
    }

    fn list(&self) -> Result<Vec<Stored>, CastoreError> {
        Ok(read_lock(&self.dirs)
            .iter()
            .map(|(d, (_, t))| Stored {
                digest: *d,
                size: 0,
                written: *t,
            })
            .collect())
    }

    fn delete_many(&self, digests: &[B3Digest]) -> Result<(), CastoreError> {
        let mut map = write_lock(&self.dirs);
        for d in digests {
            map.remove(d);
        }
        Ok(())
    }
}

/// Directories stored in one sled batch.
const SLED_BATCH: usize = 1024;

/// Directories in a `sled` tree, keyed by digest, valued by canonical
/// encoding; the time each was last written in a second tree (see
/// [`super::gc`]).
#[derive(Clone)]
pub struct SledDirectoryService {
    tree: sled::Tree,
    /// Digest -> nanoseconds since the epoch (big endian). Written before
    /// the directories themselves, so a stored directory always has one
    /// (except in stores made before write times were kept: those count as
    /// written long ago).
    times: sled::Tree,
}

impl SledDirectoryService {
    /// Uses the trees `directories` and `directory_times` of `db`.
    pub fn new(db: &sled::Db) -> Result<Self, CastoreError> {
        Ok(SledDirectoryService {
            tree: db.open_tree("directories")?,
            times: db.open_tree("directory_times")?,
        })
    }
}

impl DirectoryService for SledDirectoryService {
    fn get(&self, digest: &B3Digest) -> Result<Option<Directory>, CastoreError> {
        let Some(bytes) = self.tree.get(digest.as_bytes())? else {
            return Ok(None);
        };
        // What is stored was validated on the way in; check again anyway, as
        // the database could have been altered, and the digest must match.
        let dir = directory::decode(&bytes)
            .map_err(|e| CastoreError::CorruptDirectory(*digest, e.to_string()))?;
        if B3Digest::of(&bytes) != *digest {
            return Err(CastoreError::CorruptDirectory(
                *digest,
                "contents do not match the digest".into(),
            ));
        }
        Ok(Some(dir))
    }

    fn has(&self, digest: &B3Digest) -> Result<bool, CastoreError> {
        Ok(self.tree.contains_key(digest.as_bytes())?)
    }

    fn put_closure(&self, dirs: Vec<Directory>) -> Result<B3Digest, CastoreError> {
        let checked = check_closure(&dirs, &|d| self.get(d))?;
        drop(dirs);
        self.put_checked(checked, Vec::new())
    }

    fn put_checked(
        &self,
        checked: Vec<(B3Digest, Vec<u8>)>,
        dirs: Vec<Directory>,
    ) -> Result<B3Digest, CastoreError> {
        // Only the encodings are stored.
        drop(dirs);
        let root = checked
            .last()
            .map(|(d, _)| *d)
            .ok_or(CastoreError::EmptyClosure)?;
        // Times first: a time without its directory (a write cut short)
        // is harmless, a directory without a recent time could be
        // collected under an add. Both in batches of SLED_BATCH, children
        // first: sled keeps every node version a batch replaces until the
        // batch ends (several KB per insert), so one batch for a large
        // closure would cost memory in proportion to it. Whatever a
        // failure leaves stored has all its children stored.
        let now = encode_time(SystemTime::now());
        for chunk in checked.chunks(SLED_BATCH) {
            let mut times = sled::Batch::default();
            for (digest, _) in chunk {
                times.insert(digest.as_bytes(), &now);
            }
            self.times.apply_batch(times)?;
        }
        let mut checked = checked.into_iter().peekable();
        while checked.peek().is_some() {
            let mut batch = sled::Batch::default();
            for (digest, bytes) in checked.by_ref().take(SLED_BATCH) {
                batch.insert(digest.as_bytes(), bytes);
            }
            self.tree.apply_batch(batch)?;
        }
        self.tree.flush()?;
        Ok(root)
    }

    fn list(&self) -> Result<Vec<Stored>, CastoreError> {
        let mut out = Vec::new();
        for kv in self.tree.iter() {
            let (k, _) = kv?;
            let Some(digest) = B3Digest::from_slice(&k) else {
                continue;
            };
            let written = match self.times.get(&k)? {
                Some(t) => decode_time(&t),
                None => SystemTime::UNIX_EPOCH,
            };
            out.push(Stored {
                digest,
                size: 0,
                written,
            });
        }
        // Times of directories no longer (or never) stored: a write cut
        // short. Listed as objects of no size, so they are swept too.
        for kv in self.times.iter() {
            let (k, t) = kv?;
            if !self.tree.contains_key(&k)? {
                if let Some(digest) = B3Digest::from_slice(&k) {
                    out.push(Stored {
                        digest,
                        size: 0,
                        written: decode_time(&t),
                    });
                }
            }
        }
        Ok(out)
    }

    fn delete_many(&self, digests: &[B3Digest]) -> Result<(), CastoreError> {
        let mut batch = sled::Batch::default();
        let mut times = sled::Batch::default();
        for d in digests {
            batch.remove(d.as_bytes());
            times.remove(d.as_bytes());
        }
        // Directories first: a time without its directory is harmless.
        self.tree.apply_batch(batch)?;
        self.times.apply_batch(times)?;
        self.tree.flush()?;
        Ok(())
    }
}
