//! Directories: validation of a [`Directory`] message (as received from
//! anyone), its canonical encoding and digest, its size (nodes below it), and
//! a typed view of its entries ([`Node`], [`Entry`]) in NAR order.

use prost::Message;
use thiserror::Error;

use super::proto::{self, Directory};
use super::B3Digest;
use crate::nar::is_valid_entry_name;

/// What is wrong with a directory or node message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DirectoryError {
    #[error("invalid entry name {0:?}")]
    InvalidName(bstr::BString),
    #[error("entry {name:?} is not after {previous:?} (each list must be sorted)")]
    Unsorted {
        previous: bstr::BString,
        name: bstr::BString,
    },
    #[error("entry name {0:?} appears twice")]
    Duplicate(bstr::BString),
    #[error("entry {name:?} has a digest of {len} bytes (32 expected)")]
    BadDigest { name: bstr::BString, len: usize },
    #[error("symlink {0:?} has an empty target")]
    EmptyTarget(bstr::BString),
    #[error("symlink {0:?} has a target containing NUL")]
    NulInTarget(bstr::BString),
    #[error("the node message is empty")]
    EmptyNode,
    #[error("the directory's size does not fit in 64 bits")]
    SizeOverflow,
    #[error("directory message does not decode: {0}")]
    Decode(String),
}

/// A validated node without its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Directory {
        digest: B3Digest,
        size: u64,
    },
    File {
        digest: B3Digest,
        size: u64,
        executable: bool,
    },
    Symlink {
        target: Vec<u8>,
    },
}

/// A named node, as a directory holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: Vec<u8>,
    pub node: Node,
}

fn digest_of(name: &[u8], bytes: &[u8]) -> Result<B3Digest, DirectoryError> {
    B3Digest::from_slice(bytes).ok_or_else(|| DirectoryError::BadDigest {
        name: name.into(),
        len: bytes.len(),
    })
}

fn check_target(name: &[u8], target: &[u8]) -> Result<(), DirectoryError> {
    if target.is_empty() {
        return Err(DirectoryError::EmptyTarget(name.into()));
    }
    if target.contains(&0) {
        return Err(DirectoryError::NulInTarget(name.into()));
    }
    Ok(())
}

impl Node {
    /// Validates a node message and returns it with its name. The name is
    /// not checked here: the root of a store path carries the path's base
    /// name, directory entries are checked by [`validate`].
    pub fn from_proto(n: &proto::Node) -> Result<Entry, DirectoryError> {
        let (name, node) = match &n.node {
            None => return Err(DirectoryError::EmptyNode),
            Some(proto::node::Node::Directory(d)) => (
                &d.name,
                Node::Directory {
                    digest: digest_of(&d.name, &d.digest)?,
                    size: d.size,
                },
            ),
            Some(proto::node::Node::File(f)) => (
                &f.name,
                Node::File {
                    digest: digest_of(&f.name, &f.digest)?,
                    size: f.size,
                    executable: f.executable,
                },
            ),
            Some(proto::node::Node::Symlink(s)) => {
                check_target(&s.name, &s.target)?;
                (
                    &s.name,
                    Node::Symlink {
                        target: s.target.clone(),
                    },
                )
            }
        };
        Ok(Entry {
            name: name.clone(),
            node,
        })
    }

    /// The message for this node under `name`.
    pub fn to_proto(&self, name: &[u8]) -> proto::Node {
        let name = name.to_vec();
        let node = match self {
            Node::Directory { digest, size } => {
                proto::node::Node::Directory(proto::DirectoryNode {
                    name,
                    digest: digest.as_bytes().to_vec(),
                    size: *size,
                })
            }
            Node::File {
                digest,
                size,
                executable,
            } => proto::node::Node::File(proto::FileNode {
                name,
                digest: digest.as_bytes().to_vec(),
                size: *size,
                executable: *executable,
            }),
            Node::Symlink { target } => proto::node::Node::Symlink(proto::SymlinkNode {
                name,
                target: target.clone(),
            }),
        };
        proto::Node { node: Some(node) }
    }
}

/// Checks one list is sorted with valid names, then checks `f` on each.
fn check_list<T>(
    items: &[T],
    name: impl Fn(&T) -> &[u8],
    mut f: impl FnMut(&T) -> Result<(), DirectoryError>,
) -> Result<(), DirectoryError> {
    let mut previous: Option<&[u8]> = None;
    for item in items {
        let n = name(item);
        if !is_valid_entry_name(n) {
            return Err(DirectoryError::InvalidName(n.into()));
        }
        if let Some(p) = previous {
            if p == n {
                return Err(DirectoryError::Duplicate(n.into()));
            }
            if p > n {
                return Err(DirectoryError::Unsorted {
                    previous: p.into(),
                    name: n.into(),
                });
            }
        }
        previous = Some(n);
        f(item)?;
    }
    Ok(())
}

/// Validates a directory received from anywhere: every list sorted by name,
/// names valid and unique across the three lists, digests 32 bytes,
/// symlink targets non-empty without NUL, and a size that fits in 64 bits.
pub fn validate(dir: &Directory) -> Result<(), DirectoryError> {
    check_list(
        &dir.directories,
        |d| &d.name,
        |d| digest_of(&d.name, &d.digest).map(|_| ()),
    )?;
    check_list(
        &dir.files,
        |f| &f.name,
        |f| digest_of(&f.name, &f.digest).map(|_| ()),
    )?;
    check_list(
        &dir.symlinks,
        |s| &s.name,
        |s| check_target(&s.name, &s.target),
    )?;
    // Names unique across the lists: merge the three sorted name lists.
    let mut names: Vec<&[u8]> = dir
        .directories
        .iter()
        .map(|d| d.name.as_slice())
        .chain(dir.files.iter().map(|f| f.name.as_slice()))
        .chain(dir.symlinks.iter().map(|s| s.name.as_slice()))
        .collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(DirectoryError::Duplicate(w[0].into()));
    }
    size(dir).map(|_| ())
}

/// The number of nodes below `dir` (what a [`proto::DirectoryNode`] pointing
/// at it records as its size): its entries plus the sizes of its
/// subdirectories.
pub fn size(dir: &Directory) -> Result<u64, DirectoryError> {
    let mut n = (dir.directories.len() + dir.files.len() + dir.symlinks.len()) as u64;
    for d in &dir.directories {
        n = n.checked_add(d.size).ok_or(DirectoryError::SizeOverflow)?;
    }
    Ok(n)
}

/// The canonical encoding of a directory.
pub fn encode(dir: &Directory) -> Vec<u8> {
    dir.encode_to_vec()
}

/// The digest of a directory: BLAKE3 of its canonical encoding.
pub fn digest(dir: &Directory) -> B3Digest {
    B3Digest::of(&encode(dir))
}

/// Decodes and validates a directory.
pub fn decode(bytes: &[u8]) -> Result<Directory, DirectoryError> {
    let dir = Directory::decode(bytes).map_err(|e| DirectoryError::Decode(e.to_string()))?;
    validate(&dir)?;
    Ok(dir)
}

/// The entries of a validated directory, sorted by name as in a NAR.
pub fn entries(dir: &Directory) -> Vec<Entry> {
    let mut v: Vec<Entry> =
        Vec::with_capacity(dir.directories.len() + dir.files.len() + dir.symlinks.len());
    for d in &dir.directories {
        if let Some(digest) = B3Digest::from_slice(&d.digest) {
            v.push(Entry {
                name: d.name.clone(),
                node: Node::Directory {
                    digest,
                    size: d.size,
                },
            });
        }
    }
    for f in &dir.files {
        if let Some(digest) = B3Digest::from_slice(&f.digest) {
            v.push(Entry {
                name: f.name.clone(),
                node: Node::File {
                    digest,
                    size: f.size,
                    executable: f.executable,
                },
            });
        }
    }
    for s in &dir.symlinks {
        v.push(Entry {
            name: s.name.clone(),
            node: Node::Symlink {
                target: s.target.clone(),
            },
        });
    }
    v.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    v
}

/// Builds a directory from entries in any order (sorting each list).
pub fn from_entries(entries: impl IntoIterator<Item = Entry>) -> Directory {
    let mut dir = Directory::default();
    for e in entries {
        match e.node {
            Node::Directory { digest, size } => dir.directories.push(proto::DirectoryNode {
                name: e.name,
                digest: digest.as_bytes().to_vec(),
                size,
            }),
            Node::File {
                digest,
                size,
                executable,
            } => dir.files.push(proto::FileNode {
                name: e.name,
                digest: digest.as_bytes().to_vec(),
                size,
                executable,
            }),
            Node::Symlink { target } => dir.symlinks.push(proto::SymlinkNode {
                name: e.name,
                target,
            }),
        }
    }
    dir.directories.sort_by(|a, b| a.name.cmp(&b.name));
    dir.files.sort_by(|a, b| a.name.cmp(&b.name));
    dir.symlinks.sort_by(|a, b| a.name.cmp(&b.name));
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &[u8]) -> proto::FileNode {
        proto::FileNode {
            name: name.to_vec(),
            digest: vec![1; 32],
            size: 3,
            executable: false,
        }
    }

    #[test]
    fn accepts_a_good_directory_and_counts_nodes() {
        let dir = Directory {
            directories: vec![proto::DirectoryNode {
                name: b"d".to_vec(),
                digest: vec![2; 32],
                size: 5,
            }],
            files: vec![file(b"a"), file(b"b")],
            symlinks: vec![proto::SymlinkNode {
                name: b"c".to_vec(),
                target: b"a".to_vec(),
            }],
        };
        assert_eq!(validate(&dir), Ok(()));
        assert_eq!(size(&dir), Ok(9));
        let names: Vec<_> = entries(&dir).into_iter().map(|e| e.name).collect();
        assert_eq!(
            names,
            [b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]
        );
        assert_eq!(decode(&encode(&dir)), Ok(dir.clone()));
        assert_eq!(digest(&dir), B3Digest::of(&encode(&dir)));
    }

    #[test]
    fn rejects_bad_directories() {
        let bad = |dir: Directory| validate(&dir).unwrap_err();
        for name in [&b""[..], b".", b"..", b"a/b", b"a\0"] {
            assert!(matches!(
                bad(Directory {
                    files: vec![file(name)],
                    ..Default::default()
                }),
                DirectoryError::InvalidName(_)
            ));
        }
        assert!(matches!(
            bad(Directory {
                files: vec![file(b"b"), file(b"a")],
                ..Default::default()
            }),
            DirectoryError::Unsorted { .. }
        ));
        assert!(matches!(
            bad(Directory {
                files: vec![file(b"a"), file(b"a")],
                ..Default::default()
            }),
            DirectoryError::Duplicate(_)
        ));
        assert!(matches!(
            bad(Directory {
                files: vec![file(b"a")],
                symlinks: vec![proto::SymlinkNode {
                    name: b"a".to_vec(),
                    target: b"x".to_vec()
                }],
                ..Default::default()
            }),
            DirectoryError::Duplicate(_)
        ));
        let mut short = file(b"a");
        short.digest.pop();
        assert!(matches!(
            bad(Directory {
                files: vec![short],
                ..Default::default()
            }),
            DirectoryError::BadDigest { len: 31, .. }
        ));
        assert!(matches!(
            bad(Directory {
                symlinks: vec![proto::SymlinkNode {
                    name: b"l".to_vec(),
                    target: vec![]
                }],
                ..Default::default()
            }),
            DirectoryError::EmptyTarget(_)
        ));
        assert!(matches!(
            bad(Directory {
                directories: vec![proto::DirectoryNode {
                    name: b"a".to_vec(),
                    digest: vec![0; 32],
                    size: u64::MAX
                },],
                ..Default::default()
            }),
            DirectoryError::SizeOverflow
        ));
        assert!(decode(b"\xff\xff").is_err());
    }
}
