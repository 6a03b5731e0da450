//! [`PathInfo`]: what makes a castore tree a valid Nix store path (its
//! references, NAR hash and size, deriver, signatures, content address),
//! and its validated conversion from and to the protobuf message.

use std::collections::BTreeSet;

use prost::Message;
use thiserror::Error;

use super::proto;
use crate::castore::{directory::DirectoryError, Node};
use crate::hash::{Hash, HashAlgo};
use crate::store_path::{StorePath, StorePathError};

/// What is wrong with a path info message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathInfoError {
    #[error("path info has no root node")]
    MissingNode,
    #[error("path info has no NAR info")]
    MissingNarInfo,
    #[error("root node: {0}")]
    Node(#[from] DirectoryError),
    #[error("root node name is not a store path: {0}")]
    Name(StorePathError),
    #[error("reference: {0}")]
    Reference(StorePathError),
    #[error("deriver: {0}")]
    Deriver(StorePathError),
    #[error("NAR hash has {0} bytes (32 expected)")]
    NarHash(usize),
    #[error("path info message does not decode: {0}")]
    Decode(String),
}

/// A valid store path and its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathInfo {
    pub store_path: StorePath,
    /// The tree (its name is the store path's base name).
    pub node: Node,
    pub references: BTreeSet<StorePath>,
    pub nar_sha256: [u8; 32],
    pub nar_size: u64,
    pub deriver: Option<StorePath>,
    pub signatures: Vec<String>,
    /// Content address as C++ Nix prints it, e.g. `fixed:r:sha256:<nix32>`.
    pub ca: Option<String>,
    /// Seconds since the epoch.
    pub registration_time: u64,
}

impl PathInfo {
    /// The NAR hash as a [`Hash`].
    pub fn nar_hash(&self) -> Hash {
        // 32 bytes is always a SHA-256 digest.
        Hash::from_digest(HashAlgo::Sha256, &self.nar_sha256)
            .expect("a 32-byte digest is a sha256 hash")
    }

    pub fn to_proto(&self) -> proto::PathInfo {
        proto::PathInfo {
            node: Some(self.node.to_proto(self.store_path.base_name().as_bytes())),
            references: self
                .references
                .iter()
                .map(|r| r.base_name().to_owned())
                .collect(),
            narinfo: Some(proto::NarInfo {
                nar_size: self.nar_size,
                nar_sha256: self.nar_sha256.to_vec(),
                deriver: self
                    .deriver
                    .as_ref()
                    .map(|d| d.base_name().to_owned())
                    .unwrap_or_default(),
                signatures: self.signatures.clone(),
                ca: self.ca.clone().unwrap_or_default(),
                registration_time: self.registration_time,
            }),
        }
    }

    /// Validates a message received from anywhere.
    pub fn from_proto(p: &proto::PathInfo) -> Result<PathInfo, PathInfoError> {
        let entry = Node::from_proto(p.node.as_ref().ok_or(PathInfoError::MissingNode)?)?;
        let name = String::from_utf8_lossy(&entry.name);
        let store_path = StorePath::parse_base_name(&name).map_err(PathInfoError::Name)?;
        let ni = p.narinfo.as_ref().ok_or(PathInfoError::MissingNarInfo)?;
        let references = p
            .references
            .iter()
            .map(|r| StorePath::parse_base_name(r))
            .collect::<Result<_, _>>()
            .map_err(PathInfoError::Reference)?;
        let deriver = if ni.deriver.is_empty() {
            None
        } else {
            Some(StorePath::parse_base_name(&ni.deriver).map_err(PathInfoError::Deriver)?)
        };
        let nar_sha256 = <[u8; 32]>::try_from(ni.nar_sha256.as_slice())
            .map_err(|_| PathInfoError::NarHash(ni.nar_sha256.len()))?;
        Ok(PathInfo {
            store_path,
            node: entry.node,
            references,
            nar_sha256,
            nar_size: ni.nar_size,
            deriver,
            signatures: ni.signatures.clone(),
            ca: (!ni.ca.is_empty()).then(|| ni.ca.clone()),
            registration_time: ni.registration_time,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<PathInfo, PathInfoError> {
        let p = proto::PathInfo::decode(bytes).map_err(|e| PathInfoError::Decode(e.to_string()))?;
        Self::from_proto(&p)
    }
}
