//! The content-addressed store ("castore"): file contents as blobs addressed
//! by their BLAKE3 digest, directories as canonical protobuf messages
//! addressed by the BLAKE3 digest of their encoding. [`BlobService`] and
//! [`DirectoryService`] are the storage interfaces, each with an in-memory
//! backend and a persistent one (blobs as files, directories in `sled`).
//! Nothing here knows about Nix store paths; that is [`crate::store`].

pub mod access;
pub mod blob;
pub mod digest;
pub mod directory;
pub mod directory_service;
pub mod gc;
pub mod grpc;
pub mod proto;

use std::io;

use thiserror::Error;

pub use blob::{
    check_blob, damage_of, open_verified, read_error, read_verified, BlobService, BlobWriter,
    FsBlobService, MemoryBlobService, VerifiedReader,
};
pub use digest::B3Digest;
pub use directory::{DirectoryError, Entry, Node};
pub use directory_service::{DirectoryService, MemoryDirectoryService, SledDirectoryService};
pub use gc::{CollectLock, Stored};
pub use proto::Directory;

/// Why a castore operation failed.
#[derive(Debug, Error)]
pub enum CastoreError {
    #[error("invalid directory: {0}")]
    InvalidDirectory(#[from] DirectoryError),
    #[error("directory {parent} refers to directory {child}, which is not in the store")]
    MissingChild { parent: B3Digest, child: B3Digest },
    #[error(
        "directory {parent} gives {child} the size {claimed}, but it has {actual} nodes below it"
    )]
    WrongSize {
        parent: B3Digest,
        child: B3Digest,
        claimed: u64,
        actual: u64,
    },
    #[error("stored directory {0} does not decode: {1}")]
    CorruptDirectory(B3Digest, String),
    /// A blob's contents are not what its digest (or the size recorded
    /// with it) says.
    #[error("blob {digest} is damaged ({damage})")]
    BlobDamaged {
        digest: B3Digest,
        damage: BlobDamage,
    },
    #[error("blob {0} is not in the store")]
    MissingBlob(B3Digest),
    #[error("directory {0} is not in the store")]
    MissingDirectory(B3Digest),
    /// What this backend cannot do (yet), e.g. collect garbage through a
    /// daemon.
    #[error("not supported yet: {0}")]
    NotSupported(String),
    #[error("the closure to store is empty")]
    EmptyClosure,
    #[error("database: {0}")]
    Database(#[from] sled::Error),
    #[error("cannot connect to the store daemon at {address}: {message}")]
    Connect { address: String, message: String },
    /// The store daemon answered an error (or the connection broke).
    #[error("store daemon: {0}")]
    Remote(String),
    /// The store daemon answered something malformed.
    #[error("store daemon sent an invalid answer: {0}")]
    BadAnswer(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

/// How a stored blob differs from what refers to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobDamage {
    /// Its contents do not hash to its digest.
    Digest,
    /// It ends after `actual` of the `expected` bytes recorded.
    Short { expected: u64, actual: u64 },
    /// It is not stored at all.
    Missing,
}

impl std::fmt::Display for BlobDamage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobDamage::Digest => write!(f, "BLAKE3 mismatch"),
            BlobDamage::Short { expected, actual } => {
                write!(f, "truncated: {actual} of {expected} bytes")
            }
            BlobDamage::Missing => write!(f, "missing"),
        }
    }
}

impl CastoreError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> CastoreError {
        let context = context.into();
        move |source| CastoreError::Io { context, source }
    }
}
