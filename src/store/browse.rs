//! Reading inside stored paths without rendering NARs: a path's root
//! node, a directory's entries, a file's contents. The evaluator's
//! store-backed I/O (in the CLI layer) walks paths with these.

use std::io::Read;

use super::{Store, StoreError};
use crate::castore::directory::{self, Entry};
use crate::castore::{B3Digest, CastoreError, Node};
use crate::store_path::StorePath;

impl Store {
    /// The tree of a valid path, or `None` when the path is not valid.
    pub fn root_node(&self, path: &StorePath) -> Result<Option<Node>, StoreError> {
        Ok(self.path_infos.get(path)?.map(|info| info.node))
    }

    /// The entries of a stored directory, sorted by name.
    pub fn directory_entries(&self, digest: &B3Digest) -> Result<Vec<Entry>, StoreError> {
        let dir = self
            .directories
            .get(digest)?
            .ok_or(CastoreError::MissingDirectory(*digest))?;
        Ok(directory::entries(&dir))
    }

    /// A stream of a stored file's contents, checked as it is read: it
    /// fails rather than end early or hand on damaged bytes (BLAKE3 and
    /// size checked when its end is reached).
    pub fn open_file(
        &self,
        digest: &B3Digest,
        size: u64,
    ) -> Result<Box<dyn Read + Send>, StoreError> {
        let reader = self
            .blobs
            .open_read(digest)?
            .ok_or(CastoreError::MissingBlob(*digest))?;
        Ok(Box::new(crate::castore::VerifiedReader::new(
            reader,
            *digest,
            Some(size),
        )))
    }

    /// A stored file's contents.
    pub fn read_file(&self, digest: &B3Digest, size: u64) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 26));
        self.open_file(digest, size)?
            .read_to_end(&mut out)
            .map_err(|e| {
                StoreError::Castore(CastoreError::io(format!("reading blob {digest}"))(e))
            })?;
        Ok(out)
    }
}
