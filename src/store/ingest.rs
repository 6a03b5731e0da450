//! Ingestion: turning a file system tree or a NAR stream into castore blobs
//! and directories, while computing the NAR's SHA-256 and size (and, if
//! asked, another content hash) in the same pass. Both sources drive one
//! [`NarVisitor`]: file contents stream through a fixed buffer into the blob
//! writer and the NAR hasher at once, so memory does not grow with file
//! size. Blobs are synced before the directories are stored, and
//! directories (children first) before the caller registers a path info
//! that refers to them. Finished directories are stored in batches of
//! [`DIRECTORY_BATCH`] as they pile up (blobs synced first), so memory does
//! not grow with the number (or nesting depth) of directories; what a
//! failed ingestion stored is unreferenced, never dangling.

use std::io::{self, BufRead, Read, Write};
use std::path::Path;

use super::StoreError;
use crate::castore::directory::{self, Entry};
use crate::castore::{BlobService, BlobWriter, Directory, DirectoryService, Node};
use crate::hash::{Hash, HashAlgo, Hasher};
use crate::nar::{self, NarVisitor, NarWriter};
use crate::store_path::IngestionMethod;

/// Told of ingestion's progress (a progress display); called from the
/// ingesting thread.
pub trait IngestProgress: Send + Sync {
    /// `n` more bytes of file contents were stored.
    fn bytes(&self, n: u64);
    /// One more file, symlink or directory was stored.
    fn entry(&self);
}

/// What ingestion produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    pub node: Node,
    pub nar_hash: Hash,
    pub nar_size: u64,
    /// The content hash asked for with [`ingest_path`]'s `content_hash`.
    pub content_hash: Option<Hash>,
}

/// The NAR being re-serialised: hashed and counted, never stored.
struct NarSink {
    sha256: Hasher,
    size: u64,
    /// A second NAR hash (recursive content hash of another algorithm).
    extra: Option<Hasher>,
}

impl Write for NarSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sha256.update(buf);
        if let Some(h) = &mut self.extra {
            h.update(buf);
        }
        self.size += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Finished directories kept before they are stored.
pub const DIRECTORY_BATCH: usize = 4096;

/// Reads file contents and copies them into the blob writer and, for a flat
/// content hash, into its hasher.
struct Tee<'a> {
    inner: &'a mut dyn Read,
    blob: &'a mut dyn BlobWriter,
    flat: Option<&'a mut Hasher>,
    progress: Option<&'a dyn IngestProgress>,
    /// Writing the blob failed (so that it is not taken for bad input).
    write_failed: Option<io::Error>,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(e) = self.blob.write_all(&buf[..n]) {
            let kind = e.kind();
            self.write_failed = Some(e);
            return Err(io::Error::new(kind, "writing a blob failed"));
        }
        if let Some(h) = &mut self.flat {
            h.update(&buf[..n]);
        }
        if let Some(p) = self.progress {
            p.bytes(n as u64);
        }
        Ok(n)
    }
}

struct Ingester<'a> {
    blobs: &'a dyn BlobService,
    directories: &'a dyn DirectoryService,
    nar: NarWriter<NarSink>,
    /// Entries of each open directory.
    open: Vec<Vec<Entry>>,
    /// Finished directories not stored yet, children first.
    closure: Vec<Directory>,
    /// Why storing failed, if it did: the visitor's callers see only an
    /// `io::Error`, and this is reported instead of it.
    failure: Option<StoreError>,
    root: Option<Node>,
    flat: Option<Hasher>,
    progress: Option<&'a dyn IngestProgress>,
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl Ingester<'_> {
    /// Records a failure to store (not a fault of the input) and returns
    /// the error that stops the walk.
    fn failed(&mut self, e: StoreError) -> io::Error {
        let msg = e.to_string();
        self.failure = Some(e);
        io::Error::other(msg)
    }

    /// Stores the finished directories (their blobs made durable first).
    fn store_directories(&mut self) -> Result<(), StoreError> {
        if self.closure.is_empty() {
            return Ok(());
        }
        self.blobs.sync()?;
        self.directories
            .put_closure(std::mem::take(&mut self.closure))?;
        Ok(())
    }

    fn entry(&mut self, path: &[Vec<u8>]) -> io::Result<()> {
        match path.last() {
            Some(name) => self.nar.entry(name),
            None => Ok(()),
        }
    }

    fn place(&mut self, path: &[Vec<u8>], node: Node) -> io::Result<()> {
        if let Some(p) = self.progress {
            p.entry();
        }
        match (path.last(), self.open.last_mut()) {
            (Some(name), Some(entries)) => {
                entries.push(Entry {
                    name: name.clone(),
                    node,
                });
                Ok(())
            }
            (None, _) => {
                self.root = Some(node);
                Ok(())
            }
            (Some(_), None) => Err(other("entry outside a directory")),
        }
    }
}

impl NarVisitor for Ingester<'_> {
    fn enter_directory(&mut self, path: &[Vec<u8>]) -> io::Result<()> {
        self.entry(path)?;
        self.nar.start_directory()?;
        self.open.push(Vec::new());
        Ok(())
    }

    fn leave_directory(&mut self, path: &[Vec<u8>]) -> io::Result<()> {
        self.nar.end_directory()?;
        let entries = self
            .open
            .pop()
            .ok_or_else(|| other("closing a directory that is not open"))?;
        let dir = directory::from_entries(entries);
        let size = directory::size(&dir).map_err(other)?;
        let digest = directory::digest(&dir);
        self.closure.push(dir);
        if self.closure.len() >= DIRECTORY_BATCH {
            if let Err(e) = self.store_directories() {
                return Err(self.failed(e));
            }
        }
        self.place(path, Node::Directory { digest, size })
    }

    fn symlink(&mut self, path: &[Vec<u8>], target: &[u8]) -> io::Result<()> {
        self.entry(path)?;
        self.nar.symlink(target)?;
        self.place(
            path,
            Node::Symlink {
                target: target.to_vec(),
            },
        )
    }

    fn regular(
        &mut self,
        path: &[Vec<u8>],
        executable: bool,
        size: u64,
        contents: &mut dyn Read,
    ) -> io::Result<()> {
        self.entry(path)?;
        let mut blob = match self.blobs.open_write() {
            Ok(b) => b,
            Err(e) => return Err(self.failed(e.into())),
        };
        let flat = if path.is_empty() {
            self.flat.as_mut()
        } else {
            None
        };
        let mut tee = Tee {
            inner: contents,
            blob: &mut *blob,
            flat,
            progress: self.progress,
            write_failed: None,
        };
        let written = self.nar.regular(executable, size, &mut tee);
        if let Some(source) = tee.write_failed.take() {
            return Err(self.failed(StoreError::Io {
                context: "writing a blob into the store".into(),
                source,
            }));
        }
        written?;
        let digest = match blob.close() {
            Ok(d) => d,
            Err(e) => return Err(self.failed(e.into())),
        };
        self.place(
            path,
            Node::File {
                digest,
                size,
                executable,
            },
        )
    }
}

fn new_ingester<'a>(
    blobs: &'a dyn BlobService,
    directories: &'a dyn DirectoryService,
    content_hash: Option<(IngestionMethod, HashAlgo)>,
    progress: Option<&'a dyn IngestProgress>,
) -> Result<Ingester<'a>, StoreError> {
    let (extra, flat) = match content_hash {
        Some((IngestionMethod::Recursive, algo)) => (Some(Hasher::new(algo)), None),
        Some((IngestionMethod::Flat, algo)) => (None, Some(Hasher::new(algo))),
        None => (None, None),
    };
    let sink = NarSink {
        sha256: Hasher::new(HashAlgo::Sha256),
        size: 0,
        extra,
    };
    Ok(Ingester {
        blobs,
        directories,
        nar: NarWriter::new(sink).map_err(StoreError::Nar)?,
        open: Vec::new(),
        closure: Vec::new(),
        failure: None,
        root: None,
        flat,
        progress,
    })
}

/// What stopped a walk: the store's failure, when that was it.
fn walk_error<E>(ing: &mut Ingester<'_>, e: E) -> StoreError
where
    StoreError: From<E>,
{
    ing.failure.take().unwrap_or_else(|| StoreError::from(e))
}

fn finish(mut ing: Ingester<'_>) -> Result<Ingested, StoreError> {
    let root = ing
        .root
        .take()
        .ok_or_else(|| StoreError::Nar(other("empty archive")))?;
    // Blobs durable before the directories naming them are stored.
    if ing.closure.is_empty() {
        ing.blobs.sync()?;
    } else {
        ing.store_directories()?;
    }
    let sink = ing.nar.finish().map_err(StoreError::Nar)?;
    let content_hash = match (sink.extra, ing.flat) {
        (Some(h), _) => Some(h.finish()),
        (None, Some(h)) => match root {
            Node::File { .. } => Some(h.finish()),
            _ => return Err(StoreError::FlatNotRegular),
        },
        (None, None) => None,
    };
    Ok(Ingested {
        node: root,
        nar_hash: sink.sha256.finish(),
        nar_size: sink.size,
        content_hash,
    })
}

/// A NAR that could not be read, as a [`StoreError`].
struct BadNar(nar::NarError);

impl From<BadNar> for StoreError {
    fn from(e: BadNar) -> Self {
        StoreError::BadNar(e.0)
    }
}

/// Ingests the tree at `path` (a symlink at `path` is stored as a symlink).
/// `content_hash` asks for a hash of the NAR (recursive) or of the file's
/// contents (flat; the path must then be a regular file) besides the NAR
/// SHA-256.
pub fn ingest_path(
    blobs: &dyn BlobService,
    directories: &dyn DirectoryService,
    path: &Path,
    content_hash: Option<(IngestionMethod, HashAlgo)>,
) -> Result<Ingested, StoreError> {
    ingest_path_with_progress(blobs, directories, path, content_hash, None)
}

/// [`ingest_path`], telling `progress` as it goes.
pub fn ingest_path_with_progress(
    blobs: &dyn BlobService,
    directories: &dyn DirectoryService,
    path: &Path,
    content_hash: Option<(IngestionMethod, HashAlgo)>,
    progress: Option<&dyn IngestProgress>,
) -> Result<Ingested, StoreError> {
    let mut ing = new_ingester(blobs, directories, content_hash, progress)?;
    if let Err(e) = nar::fs::walk_path(path, &mut ing) {
        return Err(walk_error(&mut ing, e));
    }
    finish(ing)
}

/// Ingests the NAR read from `input` (validating it as it streams). With
/// `expected`, the NAR's SHA-256 and size must match, or nothing refers to
/// what was stored and the call fails.
pub fn ingest_nar(
    blobs: &dyn BlobService,
    directories: &dyn DirectoryService,
    input: impl Read,
    expected: Option<(Hash, u64)>,
) -> Result<Ingested, StoreError> {
    let mut ing = new_ingester(blobs, directories, None, None)?;
    if let Err(e) = nar::parse(input, &mut ing) {
        return Err(walk_error(&mut ing, BadNar(e)));
    }
    let done = finish(ing)?;
    if let Some((hash, size)) = expected {
        if done.nar_hash != hash {
            return Err(StoreError::NarHashMismatch {
                expected: Box::new(hash),
                actual: Box::new(done.nar_hash),
            });
        }
        if done.nar_size != size {
            return Err(StoreError::NarSizeMismatch {
                expected: size,
                actual: done.nar_size,
            });
        }
    }
    Ok(done)
}

/// Ingests one NAR from a buffered reader without reading past its end (for
/// streams where more data follows, such as the export format).
pub fn ingest_nar_buffered<R: BufRead>(
    blobs: &dyn BlobService,
    directories: &dyn DirectoryService,
    input: &mut R,
    progress: Option<&dyn IngestProgress>,
) -> Result<Ingested, StoreError> {
    let mut ing = new_ingester(blobs, directories, None, progress)?;
    if let Err(e) = nar::parse_buffered(input, &mut ing) {
        return Err(walk_error(&mut ing, BadNar(e)));
    }
    finish(ing)
}
