//! Reading inside stored paths without rendering NARs: a path's root
//! node, a directory's entries, a file's contents. The evaluator's
//! store-backed I/O (in the CLI layer) walks paths with these.

use std::io::{self, Read};

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

    /// A stream of a stored file's contents, which fails rather than end
    /// early when the blob is shorter than recorded.
    pub fn open_file(
        &self,
        digest: &B3Digest,
        size: u64,
    ) -> Result<Box<dyn Read + Send>, StoreError> {
        let reader = self
            .blobs
            .open_read(digest)?
            .ok_or(CastoreError::MissingBlob(*digest))?;
        Ok(Box::new(Exact {
            inner: reader,
            left: size,
            digest: *digest,
            size,
        }))
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

/// A blob reader that yields exactly the recorded size.
struct Exact {
    inner: Box<dyn Read + Send>,
    left: u64,
    digest: B3Digest,
    size: u64,
}

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::other(
                CastoreError::BlobTooShort {
                    digest: self.digest,
                    expected: self.size,
                }
                .to_string(),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
