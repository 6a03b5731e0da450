//! Rendering a stored tree back into a NAR, streaming blobs through
//! [`NarWriter`]; the output is byte-identical to the NAR that was ingested.
//! Directories are walked with an explicit stack; all directories of the
//! tree are fetched first in one [`DirectoryService::get_recursive`] call
//! (one round trip to a daemon).
//!
//! Every blob is checked against its digest and recorded size
//! ([`crate::castore::VerifiedReader`]). [`write_nar`] checks each file
//! before writing any of its bytes: a small one (up to 1 MiB) is read whole
//! and checked, a large one is hashed in a first pass and then streamed
//! (from the page cache the first pass filled; its size is checked again,
//! its digest not, which would double the cost). So damaged
//! contents never reach the output: it stops short, with
//! [`StoreError::Damaged`] naming the file. [`hash_nar`] (for a hasher,
//! whose output nobody sees) checks each blob as it streams, failing at
//! the blob's end.

use std::collections::HashMap;
use std::io::{self, Write};

use super::StoreError;
use crate::castore::directory::{self, Entry};
use crate::castore::{
    self, B3Digest, BlobDamage, BlobService, CastoreError, Directory, DirectoryService, Node,
};
use crate::nar::NarWriter;

/// Files up to this size are read whole into memory and checked before
/// they are written; larger ones are hashed first, then streamed.
const BUFFERED: u64 = 1 << 20;

/// When a blob's contents are checked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Before any of its bytes are written.
    BeforeWriting,
    /// As they stream; the read reaching the end fails when damaged.
    WhileWriting,
}

/// Writes the NAR of `node` to `out`, each file checked before it is
/// written. A damaged file fails with [`StoreError::Damaged`] (its path
/// relative to the tree's root; see [`StoreError::under`]).
pub fn write_nar<W: Write>(
    blobs: &dyn BlobService,
    directories: &dyn DirectoryService,
    node: &Node,
    out: W,
) -> Result<W, StoreError> {
    render(blobs, directories, node, out, Check::BeforeWriting)
}

/// Writes the NAR of `node` into `out` (a hasher) checking blobs as they
/// stream: damage is found as surely as by [`write_nar`], but after part
/// of the file has gone to `out`.
pub fn hash_nar<W: Write>(
    blobs: &dyn BlobService,
    directories: &dyn DirectoryService,
    node: &Node,
    out: W,
) -> Result<W, StoreError> {
    render(blobs, directories, node, out, Check::WhileWriting)
}

/// Each open directory: its entries and the next one to write.
type Stack = Vec<(Vec<Entry>, usize)>;

fn render<W: Write>(
    blobs: &dyn BlobService,
    directories: &dyn DirectoryService,
    node: &Node,
    out: W,
    check: Check,
) -> Result<W, StoreError> {
    let mut dirs: HashMap<B3Digest, Directory> = HashMap::new();
    if let Node::Directory { digest, .. } = node {
        for d in directories.get_recursive(digest)? {
            dirs.insert(directory::digest(&d), d);
        }
    }
    let mut w = NarWriter::new(out).map_err(StoreError::Write)?;
    let mut stack: Stack = Vec::new();
    let mut buf = Vec::new();
    let mut r = Renderer {
        w: &mut w,
        blobs,
        dirs: &dirs,
        check,
        buf: &mut buf,
    };
    r.node(node, &mut stack)?;
    while let Some((entries, next)) = stack.last_mut() {
        let Some(entry) = entries.get_mut(*next) else {
            stack.pop();
            r.w.end_directory().map_err(StoreError::Write)?;
            continue;
        };
        *next += 1;
        // The node is taken; the name stays, for messages.
        let node = std::mem::replace(&mut entry.node, Node::Symlink { target: Vec::new() });
        r.w.entry(&entry.name).map_err(StoreError::Write)?;
        r.node(&node, &mut stack)?;
    }
    w.finish().map_err(StoreError::Write)
}

struct Renderer<'a, W: Write> {
    w: &'a mut NarWriter<W>,
    blobs: &'a dyn BlobService,
    dirs: &'a HashMap<B3Digest, Directory>,
    check: Check,
    /// A small file's contents, checked before they are written.
    buf: &'a mut Vec<u8>,
}

/// The path (from the tree's root, `/`-separated, empty for the root) of
/// the entry being written: the last one taken at each level.
fn current_path(stack: &Stack) -> String {
    let mut p = String::new();
    for (entries, next) in stack {
        if let Some(e) = next.checked_sub(1).and_then(|i| entries.get(i)) {
            p.push('/');
            p.push_str(&String::from_utf8_lossy(&e.name));
        }
    }
    p
}

impl<W: Write> Renderer<'_, W> {
    fn node(&mut self, node: &Node, stack: &mut Stack) -> Result<(), StoreError> {
        match node {
            Node::Symlink { target } => self.w.symlink(target).map_err(StoreError::Write),
            Node::File {
                digest,
                size,
                executable,
            } => self
                .file(digest, *size, *executable)
                .map_err(|e| e.locate(stack)),
            Node::Directory { digest, .. } => {
                // Each directory is written once per place it appears; a
                // directory appearing twice is looked up again.
                let dir = self
                    .dirs
                    .get(digest)
                    .ok_or(CastoreError::MissingDirectory(*digest))?;
                self.w.start_directory().map_err(StoreError::Write)?;
                stack.push((directory::entries(dir), 0));
                Ok(())
            }
        }
    }

    fn file(&mut self, digest: &B3Digest, size: u64, executable: bool) -> Result<(), FileError> {
        if self.check == Check::BeforeWriting && size <= BUFFERED {
            castore::read_verified(self.blobs, digest, size, self.buf)?;
            return self
                .w
                .regular_bytes(executable, self.buf)
                .map_err(FileError::Write);
        }
        let missing = CastoreError::BlobDamaged {
            digest: *digest,
            damage: BlobDamage::Missing,
        };
        let mut reader = if self.check == Check::BeforeWriting {
            // Hashed whole first; then streamed from the page cache that
            // filled, its size checked (hashing it again would double the
            // cost of rendering a large file).
            castore::check_blob(self.blobs, digest, Some(size))?;
            let r = self.blobs.open_read(digest)?.ok_or(missing)?;
            castore::VerifiedReader::size_only(r, *digest, size)
        } else {
            castore::open_verified(self.blobs, digest, Some(size))?.ok_or(missing)?
        };
        // Read and write errors come back together: the reader's are
        // recognised by their damage, or happen while nothing is written.
        self.w
            .regular(executable, size, &mut reader)
            .map_err(|e| match castore::damage_of(&e) {
                Some((digest, damage)) => {
                    FileError::Castore(CastoreError::BlobDamaged { digest, damage })
                }
                None => FileError::Write(e),
            })
    }
}

/// Why writing one file failed.
enum FileError {
    Castore(CastoreError),
    Write(io::Error),
}

impl From<CastoreError> for FileError {
    fn from(e: CastoreError) -> Self {
        FileError::Castore(e)
    }
}

impl FileError {
    /// As a [`StoreError`], damage named by the file's place in the tree.
    fn locate(self, stack: &Stack) -> StoreError {
        match self {
            FileError::Castore(CastoreError::BlobDamaged { damage, .. }) => StoreError::Damaged {
                path: current_path(stack),
                damage,
            },
            FileError::Castore(e) => StoreError::Castore(e),
            FileError::Write(e) => StoreError::Write(e),
        }
    }
}
