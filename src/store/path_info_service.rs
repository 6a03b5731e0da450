//! [`PathInfoService`]: the table of valid store paths, with an in-memory
//! backend and a `sled` one (keyed by the store path's 20-byte digest).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use super::{PathInfo, StoreError};
use crate::castore::blob::{read_lock, write_lock};
use crate::store_path::StorePath;

/// Where path infos live.
pub trait PathInfoService: Send + Sync {
    fn get(&self, path: &StorePath) -> Result<Option<PathInfo>, StoreError>;
    /// Registers (or replaces) a path. Its tree must be stored already.
    fn put(&self, info: PathInfo) -> Result<(), StoreError>;
    /// Registers several paths (made durable together where the backend
    /// can: one flush instead of one per path).
    fn put_many(&self, infos: Vec<PathInfo>) -> Result<(), StoreError> {
        for info in infos {
            self.put(info)?;
        }
        Ok(())
    }
    /// Every valid path, ordered by store path.
    fn list(&self) -> Result<Vec<PathInfo>, StoreError>;
    /// Forgets a path; false if it was not there.
    fn delete(&self, path: &StorePath) -> Result<bool, StoreError>;
    /// Forgets several paths (at once where the backend can: one batch,
    /// one flush).
    fn delete_many(&self, paths: &[StorePath]) -> Result<(), StoreError> {
        for p in paths {
            self.delete(p)?;
        }
        Ok(())
    }
}

/// Path infos in memory.
#[derive(Default, Clone)]
pub struct MemoryPathInfoService {
    infos: Arc<RwLock<BTreeMap<StorePath, PathInfo>>>,
}

impl MemoryPathInfoService {
    pub fn new() -> Self {
        Self::default()
    }
}

impl PathInfoService for MemoryPathInfoService {
    fn get(&self, path: &StorePath) -> Result<Option<PathInfo>, StoreError> {
        Ok(read_lock(&self.infos).get(path).cloned())
    }
    fn put(&self, info: PathInfo) -> Result<(), StoreError> {
        write_lock(&self.infos).insert(info.store_path.clone(), info);
        Ok(())
    }
    fn list(&self) -> Result<Vec<PathInfo>, StoreError> {
        Ok(read_lock(&self.infos).values().cloned().collect())
    }
    fn delete(&self, path: &StorePath) -> Result<bool, StoreError> {
        Ok(write_lock(&self.infos).remove(path).is_some())
    }
}

/// Path infos in the `sled` tree `pathinfo`, keyed by the 20 bytes of the
/// store path's hash part, valued by the encoded [`super::proto::PathInfo`].
#[derive(Clone)]
pub struct SledPathInfoService {
    tree: sled::Tree,
}

impl SledPathInfoService {
    pub fn new(db: &sled::Db) -> Result<Self, StoreError> {
        Ok(SledPathInfoService {
            tree: db.open_tree("pathinfo").map_err(StoreError::Database)?,
        })
    }
}

impl PathInfoService for SledPathInfoService {
    fn get(&self, path: &StorePath) -> Result<Option<PathInfo>, StoreError> {
        let Some(bytes) = self.tree.get(path.digest()).map_err(StoreError::Database)? else {
            return Ok(None);
        };
        let info = PathInfo::decode(&bytes).map_err(|e| StoreError::CorruptPathInfo {
            path: path.base_name().to_owned(),
            error: e,
        })?;
        // Same hash part but another name: not this path.
        Ok((info.store_path == *path).then_some(info))
    }

    fn put(&self, info: PathInfo) -> Result<(), StoreError> {
        self.tree
            .insert(info.store_path.digest(), info.encode())
            .map_err(StoreError::Database)?;
        self.tree.flush().map_err(StoreError::Database)?;
        Ok(())
    }

    fn put_many(&self, infos: Vec<PathInfo>) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for info in &infos {
            batch.insert(&info.store_path.digest()[..], info.encode());
        }
        self.tree.apply_batch(batch).map_err(StoreError::Database)?;
        self.tree.flush().map_err(StoreError::Database)?;
        Ok(())
    }

    fn list(&self) -> Result<Vec<PathInfo>, StoreError> {
        let mut v = Vec::new();
        for kv in self.tree.iter() {
            let (_, bytes) = kv.map_err(StoreError::Database)?;
            let info = PathInfo::decode(&bytes).map_err(|e| StoreError::CorruptPathInfo {
                path: String::from("(listing)"),
                error: e,
            })?;
            v.push(info);
        }
        v.sort_by(|a, b| a.store_path.cmp(&b.store_path));
        Ok(v)
    }

    fn delete_many(&self, paths: &[StorePath]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for p in paths {
            // Only the path itself, not another of the same hash part.
            if self.get(p)?.is_some() {
                batch.remove(&p.digest()[..]);
            }
        }
        self.tree.apply_batch(batch).map_err(StoreError::Database)?;
        self.tree.flush().map_err(StoreError::Database)?;
        Ok(())
    }

    fn delete(&self, path: &StorePath) -> Result<bool, StoreError> {
        if self.get(path)?.is_none() {
            return Ok(false);
        }
        self.tree
            .remove(path.digest())
            .map_err(StoreError::Database)?;
        self.tree.flush().map_err(StoreError::Database)?;
        Ok(true)
    }
}
