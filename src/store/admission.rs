//! What the daemon checks before it registers a path info a client sent
//! ([`admit`]), and before it deletes a path ([`check_deletable`]).
//!
//! From every client: signatures bounded in number and size; the whole
//! tree stored, with the root's size what is stored; every reference a
//! valid path (or the path itself). From an untrusted client (as C++
//! Nix's daemon for users not in `trusted-users`): a path already valid
//! is left as it is; the path must be content-addressed (signatures are
//! not checked yet, so they vouch for nothing); its NAR hash and size are
//! recomputed from the stored tree, its content address's hash from its
//! contents, and the store path must be the one the content address, the
//! name and the references give. A trusted client's NAR hash, size and
//! content address are taken as given, as C++ Nix takes them.

use std::collections::BTreeSet;
use std::io::Write;

use thiserror::Error;

use super::{check_tree, render, PathInfo, PathInfoService, StoreError};
use crate::castore::access::Limits;
use crate::castore::{BlobService, CastoreError, DirectoryService, Node};
use crate::hash::{Hash, HashAlgo, HashFormat, Hasher};
use crate::store_path::{IngestionMethod, StoreDir, StorePath};

/// Why a path info is refused, or a path not deleted.
#[derive(Debug, Error)]
pub enum Refusal {
    #[error("path '{path}' carries {count} signatures (at most {max} allowed)")]
    TooManySignatures {
        path: String,
        count: usize,
        max: usize,
    },
    #[error("path '{path}' carries a signature of {len} bytes (at most {max} allowed)")]
    SignatureTooLong {
        path: String,
        len: usize,
        max: usize,
    },
    #[error("path '{path}' carries a malformed signature {signature:?} (expected NAME:BASE64)")]
    BadSignature { path: String, signature: String },
    #[error("the tree of '{0}' is not in the store")]
    MissingTree(String),
    #[error("path '{path}' gives its root the size {claimed}, but the stored one has {actual}")]
    WrongRootSize {
        path: String,
        claimed: u64,
        actual: u64,
    },
    #[error("path '{path}' refers to '{reference}', which is not valid")]
    MissingReference { path: String, reference: String },
    #[error("cannot add path '{0}' because it is not content-addressed: an untrusted client may add only paths the daemon can verify (oxnix does not check signatures yet)")]
    Unverifiable(String),
    #[error("invalid content address '{ca}' of path '{path}'")]
    BadContentAddress { path: String, ca: String },
    #[error("NAR hash mismatch in path '{path}': given {given}, got {actual}")]
    NarHash {
        path: String,
        given: String,
        actual: String,
    },
    #[error("NAR size mismatch in path '{path}': given {given}, got {actual}")]
    NarSize {
        path: String,
        given: u64,
        actual: u64,
    },
    #[error("content address '{ca}' needs a regular file, but path '{path}' is not one")]
    NotAFile { path: String, ca: String },
    #[error(
        "content address mismatch in path '{path}': given '{ca}', its contents hash to {actual}"
    )]
    ContentHash {
        path: String,
        ca: String,
        actual: String,
    },
    #[error("path '{path}' is not the store path of content address '{ca}' with its name and references (that is '{expected}')")]
    WrongPath {
        path: String,
        ca: String,
        expected: String,
    },
    #[error("content address '{ca}' of path '{path}' allows no references")]
    ReferencesNotAllowed { path: String, ca: String },
    #[error("cannot delete path '{path}' since it is still alive: '{by}' refers to it")]
    Referred { path: String, by: String },
    #[error("cannot delete path '{0}' since it is still alive: a garbage collector root keeps it")]
    Rooted(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl Refusal {
    /// The gRPC status answering it.
    pub fn status(self) -> tonic::Status {
        use tonic::Status;
        let m = self.to_string();
        match self {
            Refusal::TooManySignatures { .. } | Refusal::SignatureTooLong { .. } => {
                Status::resource_exhausted(m)
            }
            Refusal::MissingTree(_)
            | Refusal::MissingReference { .. }
            | Refusal::Referred { .. }
            | Refusal::Rooted(_) => Status::failed_precondition(m),
            Refusal::Unverifiable(_) => Status::permission_denied(m),
            Refusal::Store(StoreError::Castore(c)) => crate::castore::grpc::status(c),
            Refusal::Store(_) => Status::internal(m),
            _ => Status::invalid_argument(m),
        }
    }
}

/// What [`admit`] checks against.
pub struct Admission<'a> {
    pub infos: &'a dyn PathInfoService,
    pub blobs: &'a dyn BlobService,
    pub directories: &'a dyn DirectoryService,
    pub store_dir: &'a StoreDir,
    pub limits: &'a Limits,
}

/// A content address as C++ Nix prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentAddress {
    /// `text:sha256:HASH`: a text file (its references may be any paths
    /// but itself).
    Text(Hash),
    /// `fixed:[r:]ALGO:HASH`: flat (a file's bytes) or recursive (the NAR).
    Fixed(IngestionMethod, Hash),
}

impl ContentAddress {
    pub fn parse(s: &str) -> Option<ContentAddress> {
        if let Some(h) = s.strip_prefix("text:") {
            let h = Hash::parse_any(h, None).ok()?;
            return (h.algo() == HashAlgo::Sha256).then_some(ContentAddress::Text(h));
        }
        let rest = s.strip_prefix("fixed:")?;
        let (method, h) = match rest.strip_prefix("r:") {
            Some(h) => (IngestionMethod::Recursive, h),
            None => (IngestionMethod::Flat, rest),
        };
        // A bare digest is not enough: the algorithm must be named.
        if !h.contains(':') {
            return None;
        }
        Some(ContentAddress::Fixed(
            method,
            Hash::parse_any(h, None).ok()?,
        ))
    }
}

/// Checks `info` from a client (`trusted` or not) against the store;
/// `Ok(false)` when it is to be left out (an untrusted client's path
/// that is valid already). An untrusted client's registration time is
/// the daemon's.
pub fn admit(a: &Admission<'_>, info: &mut PathInfo, trusted: bool) -> Result<bool, Refusal> {
    let path = a.store_dir.print(&info.store_path);
    check_signatures(&path, &info.signatures, a.limits)?;
    if !trusted && a.infos.get(&info.store_path)?.is_some() {
        return Ok(false);
    }
    match check_tree(a.blobs, a.directories, &info.node) {
        Ok(()) => {}
        Err(StoreError::Castore(
            CastoreError::MissingBlob(_) | CastoreError::MissingDirectory(_),
        )) => return Err(Refusal::MissingTree(info.store_path.base_name().to_owned())),
        Err(e) => return Err(e.into()),
    }
    check_root_size(a, &path, &info.node)?;
    for r in &info.references {
        if *r != info.store_path && a.infos.get(r)?.is_none() {
            return Err(Refusal::MissingReference {
                path,
                reference: a.store_dir.print(r),
            });
        }
    }
    if trusted {
        return Ok(true);
    }
    let Some(ca_text) = info.ca.clone() else {
        return Err(Refusal::Unverifiable(path));
    };
    let bad_ca = || Refusal::BadContentAddress {
        path: path.clone(),
        ca: ca_text.clone(),
    };
    let ca = ContentAddress::parse(&ca_text).ok_or_else(bad_ca)?;
    // The NAR, hashed from the stored tree (and with the content
    // address's algorithm when it is a recursive one of another).
    let extra = match &ca {
        ContentAddress::Fixed(IngestionMethod::Recursive, h) if h.algo() != HashAlgo::Sha256 => {
            Some(Hasher::new(h.algo()))
        }
        _ => None,
    };
    let hashes = render::hash_nar(
        a.blobs,
        a.directories,
        &info.node,
        NarHashes {
            sha256: Hasher::new(HashAlgo::Sha256),
            extra,
            size: 0,
        },
    )
    .map_err(|e| e.under(&path))?;
    let nar_hash = hashes.sha256.finish();
    if nar_hash.digest() != info.nar_sha256 {
        return Err(Refusal::NarHash {
            path,
            given: info.nar_hash().to_string_with(HashFormat::Nix32),
            actual: nar_hash.to_string_with(HashFormat::Nix32),
        });
    }
    if hashes.size != info.nar_size {
        return Err(Refusal::NarSize {
            path,
            given: info.nar_size,
            actual: hashes.size,
        });
    }
    let (claimed, actual) = match &ca {
        ContentAddress::Fixed(IngestionMethod::Recursive, h) => (
            h,
            match hashes.extra {
                Some(x) => x.finish(),
                None => nar_hash,
            },
        ),
        ContentAddress::Text(h) | ContentAddress::Fixed(IngestionMethod::Flat, h) => {
            let Node::File { digest, size, .. } = &info.node else {
                return Err(Refusal::NotAFile {
                    path,
                    ca: ca_text.clone(),
                });
            };
            let mut r = crate::castore::open_verified(a.blobs, digest, Some(*size))
                .map_err(StoreError::from)?
                .ok_or_else(|| Refusal::MissingTree(info.store_path.base_name().to_owned()))?;
            let actual = Hash::of_reader(h.algo(), &mut r)
                .map_err(|e| StoreError::from(crate::castore::read_error(digest, e)))?;
            (h, actual)
        }
    };
    if *claimed != actual {
        return Err(Refusal::ContentHash {
            path,
            ca: ca_text.clone(),
            actual: actual.to_string_with(HashFormat::Nix32),
        });
    }
    let mut others = info.references.clone();
    let self_ref = others.remove(&info.store_path);
    let name = info.store_path.name().to_owned();
    let expected = match &ca {
        ContentAddress::Text(h) => {
            if self_ref {
                return Err(Refusal::ReferencesNotAllowed {
                    path,
                    ca: ca_text.clone(),
                });
            }
            a.store_dir.text_path_of_hash(&name, h, &others)
        }
        ContentAddress::Fixed(method, h) => {
            let source = *method == IngestionMethod::Recursive && h.algo() == HashAlgo::Sha256;
            if !source && !info.references.is_empty() {
                return Err(Refusal::ReferencesNotAllowed {
                    path,
                    ca: ca_text.clone(),
                });
            }
            a.store_dir
                .fixed_output_path(&name, *method, h, &others, self_ref)
        }
    }
    .map_err(|_| bad_ca())?;
    if expected != info.store_path {
        return Err(Refusal::WrongPath {
            path,
            ca: ca_text,
            expected: a.store_dir.print(&expected),
        });
    }
    info.registration_time = super::now();
    Ok(true)
}

fn check_signatures(path: &str, sigs: &[String], limits: &Limits) -> Result<(), Refusal> {
    if sigs.len() > limits.max_signatures {
        return Err(Refusal::TooManySignatures {
            path: path.to_owned(),
            count: sigs.len(),
            max: limits.max_signatures,
        });
    }
    for s in sigs {
        if s.len() > limits.max_signature_len {
            return Err(Refusal::SignatureTooLong {
                path: path.to_owned(),
                len: s.len(),
                max: limits.max_signature_len,
            });
        }
        let well_formed = s.split_once(':').is_some_and(|(name, sig)| {
            !name.is_empty()
                && !sig.is_empty()
                && sig
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        });
        if !well_formed {
            return Err(Refusal::BadSignature {
                path: path.to_owned(),
                signature: s.chars().take(80).collect(),
            });
        }
    }
    Ok(())
}

/// The root's size is the stored one: a file's blob's length, a
/// directory's number of nodes below it.
fn check_root_size(a: &Admission<'_>, path: &str, node: &Node) -> Result<(), Refusal> {
    let (claimed, actual) = match node {
        Node::File { digest, size, .. } => {
            let Some(actual) = a.blobs.size(digest).map_err(StoreError::from)? else {
                return Err(Refusal::MissingTree(path.to_owned()));
            };
            (*size, actual)
        }
        Node::Directory { digest, size } => {
            let Some(dir) = a.directories.get(digest).map_err(StoreError::from)? else {
                return Err(Refusal::MissingTree(path.to_owned()));
            };
            let actual = crate::castore::directory::size(&dir)
                .map_err(|e| StoreError::from(CastoreError::from(e)))?;
            (*size, actual)
        }
        Node::Symlink { .. } => return Ok(()),
    };
    if claimed != actual {
        return Err(Refusal::WrongRootSize {
            path: path.to_owned(),
            claimed,
            actual,
        });
    }
    Ok(())
}

/// A NAR's SHA-256, another hash of it if asked, and its size.
struct NarHashes {
    sha256: Hasher,
    extra: Option<Hasher>,
    size: u64,
}

impl Write for NarHashes {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sha256.update(buf);
        if let Some(x) = &mut self.extra {
            x.update(buf);
        }
        self.size += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether `path` may be deleted: no valid path but itself refers to it,
/// and (with `roots`, the store's garbage collector roots) no root keeps
/// it alive.
pub fn check_deletable(
    infos: &dyn PathInfoService,
    store_dir: &StoreDir,
    path: &StorePath,
    roots: Option<&BTreeSet<StorePath>>,
) -> Result<(), Refusal> {
    let all = infos.list()?;
    if let Some(by) = all
        .iter()
        .find(|i| i.store_path != *path && i.references.contains(path))
    {
        return Err(Refusal::Referred {
            path: store_dir.print(path),
            by: store_dir.print(&by.store_path),
        });
    }
    // A root keeping it alive through other paths would keep one of its
    // referrers alive too, and those are refused above.
    if roots.is_some_and(|r| r.contains(path)) {
        return Err(Refusal::Rooted(store_dir.print(path)));
    }
    Ok(())
}
