//! Rendering a stored tree back into a NAR, streaming blobs through
//! [`NarWriter`]; the output is byte-identical to the NAR that was ingested.
//! Directories are walked with an explicit stack; all directories of the
//! tree are fetched first in one [`DirectoryService::get_recursive`] call
//! (one round trip to a daemon).

use std::collections::HashMap;
use std::io::{self, Write};

use super::StoreError;
use crate::castore::directory::{self, Entry};
use crate::castore::{B3Digest, BlobService, CastoreError, Directory, DirectoryService, Node};
use crate::nar::NarWriter;

/// Writes the NAR of `node` to `out`.
pub fn write_nar<W: Write>(
    blobs: &dyn BlobService,
    directories: &dyn DirectoryService,
    node: &Node,
    out: W,
) -> Result<W, StoreError> {
    let mut dirs: HashMap<B3Digest, Directory> = HashMap::new();
    if let Node::Directory { digest, .. } = node {
        for d in directories.get_recursive(digest)? {
            dirs.insert(directory::digest(&d), d);
        }
    }
    let mut w = NarWriter::new(out).map_err(StoreError::Write)?;
    // Each open directory: its entries and the next one to write.
    let mut stack: Vec<(Vec<Entry>, usize)> = Vec::new();
    write_node(&mut w, blobs, &dirs, node, &mut stack)?;
    while let Some((entries, next)) = stack.last_mut() {
        let Some(entry) = entries.get_mut(*next) else {
            stack.pop();
            w.end_directory().map_err(StoreError::Write)?;
            continue;
        };
        *next += 1;
        let entry = std::mem::replace(
            entry,
            Entry {
                name: Vec::new(),
                node: Node::Symlink { target: Vec::new() },
            },
        );
        w.entry(&entry.name).map_err(StoreError::Write)?;
        write_node(&mut w, blobs, &dirs, &entry.node, &mut stack)?;
    }
    w.finish().map_err(StoreError::Write)
}

fn write_node<W: Write>(
    w: &mut NarWriter<W>,
    blobs: &dyn BlobService,
    directories: &HashMap<B3Digest, Directory>,
    node: &Node,
    stack: &mut Vec<(Vec<Entry>, usize)>,
) -> Result<(), StoreError> {
    match node {
        Node::Symlink { target } => w.symlink(target).map_err(StoreError::Write),
        Node::File {
            digest,
            size,
            executable,
        } => {
            let mut reader = blobs
                .open_read(digest)?
                .ok_or(CastoreError::MissingBlob(*digest))?;
            w.regular(*executable, *size, &mut reader).map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    StoreError::Castore(CastoreError::BlobTooShort {
                        digest: *digest,
                        expected: *size,
                    })
                } else {
                    StoreError::Write(e)
                }
            })
        }
        Node::Directory { digest, .. } => {
            // Each directory is written once per place it appears; a
            // directory appearing twice is looked up again.
            let dir = directories
                .get(digest)
                .ok_or(CastoreError::MissingDirectory(*digest))?;
            w.start_directory().map_err(StoreError::Write)?;
            stack.push((directory::entries(dir), 0));
            Ok(())
        }
    }
}
