//! What evaluation puts into the store: sources copied by path coercion
//! (`"${./file}"`), `builtins.toFile` texts and derivations. The evaluator
//! only computes their store paths (as C++ Nix does in read-only mode) and
//! records them here; `nix-instantiate` writes the records to the store
//! afterwards. Derivations are also kept (as their `.drv` text) so that
//! the modulo hashes of their dependents can be computed.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::derivation::hashing::drv_text_path;
use crate::derivation::{Derivation, DerivationError};
use crate::hash::Hash;
use crate::store_path::{IngestionMethod, StoreDir, StorePath};

use super::error::ErrorKind;
use super::eval_io::{EvalIo, FileKind, StdIo};

/// One thing evaluation adds to the store.
#[derive(Clone, Debug)]
pub enum Addition {
    /// A file system path copied in (recursive, sha256).
    Source { from: PathBuf, path: StorePath },
    /// A serialised tree (`builtins.path`, `filterSource`), content
    /// addressed by `method` and `hash`.
    Nar {
        path: StorePath,
        nar: Vec<u8>,
        ca: String,
    },
    /// A text file with references (`toFile`, a `.drv`).
    Text {
        path: StorePath,
        contents: Vec<u8>,
        references: BTreeSet<StorePath>,
    },
}

/// A derivation's `.drv` text, and whether this evaluation wrote it (its
/// modulo hash then reads only the start of it) or read it.
struct DrvText {
    text: Rc<[u8]>,
    written_here: bool,
}

/// The store-facing state of an evaluation. It is also the evaluator's
/// [`EvalIo`]: file access goes to the I/O it was made with, except that a
/// store path evaluation has recorded but not yet written is written first
/// when it is read (in read-write mode, where C++ Nix would have written it
/// already).
pub struct Instantiation {
    pub store_dir: StoreDir,
    io: Rc<dyn EvalIo>,
    /// Whether additions may be written during evaluation (C++ Nix's
    /// read-write mode) rather than only computed.
    read_write: bool,
    sources: RefCell<HashMap<PathBuf, StorePath>>,
    additions: RefCell<Vec<Addition>>,
    keep_additions: Cell<bool>,
    /// The text of every derivation met (made or read), parsed again when
    /// needed: the text is a third of the parsed form's size. The modulo
    /// hash of one made here reads only the start of its text.
    derivations: RefCell<HashMap<StorePath, DrvText>>,
    modulo_hashes: RefCell<HashMap<StorePath, Hash>>,
}

impl Instantiation {
    /// Plain file system access, nothing written during evaluation.
    pub fn new(store_dir: StoreDir) -> Instantiation {
        Instantiation::with_io(store_dir, Rc::new(StdIo), false)
    }

    /// File and store access through `io`; with `read_write`, recorded
    /// additions are written as soon as evaluation reads them.
    pub fn with_io(store_dir: StoreDir, io: Rc<dyn EvalIo>, read_write: bool) -> Instantiation {
        Instantiation {
            store_dir,
            io,
            read_write,
            sources: RefCell::new(HashMap::new()),
            additions: RefCell::new(Vec::new()),
            keep_additions: Cell::new(true),
            derivations: RefCell::new(HashMap::new()),
            modulo_hashes: RefCell::new(HashMap::new()),
        }
    }

    /// From now on, keeps no record of additions: for an evaluation whose
    /// additions are never written (`nix-instantiate --eval`), where the
    /// text of every `.drv` would stay in memory to the end.
    pub fn discard_additions(&self) {
        self.keep_additions.set(false);
    }

    /// Records `addition` to be written (unless discarding).
    fn record(&self, addition: Addition) {
        if self.keep_additions.get() {
            self.additions.borrow_mut().push(addition);
        }
    }

    /// Everything evaluation added since the last call, in order
    /// (dependencies first); the records move to the caller, who writes them.
    pub fn take_additions(&self) -> Vec<Addition> {
        std::mem::take(&mut *self.additions.borrow_mut())
    }

    /// The I/O evaluation reads through (without the write-on-read of
    /// pending additions that [`Instantiation`]'s own `EvalIo` adds).
    pub fn io(&self) -> &dyn EvalIo {
        &*self.io
    }

    /// Whether additions may be written during evaluation.
    pub fn read_write(&self) -> bool {
        self.read_write
    }

    /// Whether `path` is recorded but not written yet.
    pub fn is_pending(&self, path: &StorePath) -> bool {
        self.additions.borrow().iter().any(|a| a.path() == path)
    }

    /// Writes every recorded addition now (through the I/O).
    pub fn flush(&self) -> Result<(), ErrorKind> {
        let additions = self.take_additions();
        self.io.write_additions(additions).map_err(ErrorKind::Other)
    }

    /// In read-write mode, writes the recorded additions when `path` is
    /// inside one of them that is not written yet; answers whether it did.
    fn flush_if_pending(&self, path: &Path) -> io::Result<bool> {
        if !self.read_write {
            return Ok(false);
        }
        let Some(sp) = self.store_path_of(path) else {
            return Ok(false);
        };
        if !self.is_pending(&sp) {
            return Ok(false);
        }
        self.flush().map_err(|e| io::Error::other(e.to_string()))?;
        Ok(true)
    }

    /// The store path `path` is in, if it is under the store directory.
    fn store_path_of(&self, path: &Path) -> Option<StorePath> {
        let text = path.to_str()?;
        let rest = text
            .strip_prefix(self.store_dir.as_str())?
            .strip_prefix('/')?;
        let base = rest.split('/').next()?;
        self.store_dir
            .parse_path(&format!("{}/{base}", self.store_dir.as_str()))
            .ok()
    }

    /// Runs `op`; if `path` was not found because it is still only
    /// recorded, writes the additions and runs it again.
    fn retrying<T>(&self, path: &Path, op: impl Fn() -> io::Result<T>) -> io::Result<T> {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.flush_if_pending(path)? => op(),
            other => other,
        }
    }

    /// The store path `path` is copied to (name: its base name), computed
    /// once per path.
    pub fn copy_source(&self, path: &Path) -> Result<StorePath, ErrorKind> {
        if let Some(p) = self.sources.borrow().get(path) {
            return Ok(p.clone());
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let hash = self
            .io
            .nar_hash(path)
            .map_err(|e| ErrorKind::Other(crate::os_error::message(&e)))?;
        let store_path = self
            .store_dir
            .fixed_output_path(
                &name,
                IngestionMethod::Recursive,
                &hash,
                &BTreeSet::new(),
                false,
            )
            .map_err(|e| ErrorKind::Other(e.to_string()))?;
        self.sources
            .borrow_mut()
            .insert(path.to_owned(), store_path.clone());
        self.record(Addition::Source {
            from: path.to_owned(),
            path: store_path.clone(),
        });
        Ok(store_path)
    }

    /// Records a serialised tree under the content-addressed path of
    /// `hash` (sha256; of the NAR when recursive, of the file when flat).
    pub fn add_nar(
        &self,
        name: &str,
        method: IngestionMethod,
        hash: &Hash,
        nar: Vec<u8>,
    ) -> Result<StorePath, ErrorKind> {
        let path = self
            .store_dir
            .fixed_output_path(name, method, hash, &BTreeSet::new(), false)
            .map_err(|e| ErrorKind::Other(e.to_string()))?;
        let ca = format!(
            "fixed:{}{}",
            method.prefix(),
            hash.to_string_with(crate::hash::HashFormat::Nix32)
        );
        self.record(Addition::Nar {
            path: path.clone(),
            nar,
            ca,
        });
        Ok(path)
    }

    /// Records a text file (`toFile`) and returns its store path.
    pub fn add_text(
        &self,
        name: &str,
        contents: &[u8],
        references: BTreeSet<StorePath>,
    ) -> Result<StorePath, ErrorKind> {
        let path = self
            .store_dir
            .text_path(name, contents, &references)
            .map_err(|e| ErrorKind::Other(e.to_string()))?;
        self.record(Addition::Text {
            path: path.clone(),
            contents: contents.to_vec(),
            references,
        });
        Ok(path)
    }

    /// Fills in the output paths of `drv` (called `name`), records it and
    /// returns its `.drv` path.
    pub fn add_derivation(
        &self,
        mut drv: Derivation,
        name: &str,
    ) -> Result<(StorePath, Derivation), ErrorKind> {
        drv.compute_output_paths(&self.store_dir, name, &mut |p| self.modulo_hash(p))
            .map_err(drv_error)?;
        // One ATerm text gives the `.drv` path, the file's contents and,
        // when another derivation needs it, this one's modulo hash.
        let contents = drv.to_aterm(&self.store_dir);
        let references = drv.references();
        let drv_path =
            drv_text_path(&self.store_dir, name, &contents, &references).map_err(drv_error)?;
        if !self.derivations.borrow().contains_key(&drv_path) {
            self.derivations.borrow_mut().insert(
                drv_path.clone(),
                DrvText {
                    text: Rc::from(contents.as_slice()),
                    written_here: true,
                },
            );
            self.record(Addition::Text {
                path: drv_path.clone(),
                contents,
                references,
            });
        }
        Ok((drv_path, drv))
    }

    /// A derivation known to this evaluation, or read from its `.drv` file
    /// in the store directory.
    pub fn derivation(&self, path: &StorePath) -> Result<Derivation, DerivationError> {
        let known = self.derivations.borrow().get(path).map(|d| d.text.clone());
        let text = match known {
            Some(text) => text,
            None => {
                let file = self.store_dir.print(path);
                let bytes =
                    self.read_file(Path::new(&file))
                        .map_err(|e| DerivationError::Unreadable {
                            path: file.clone(),
                            message: crate::os_error::message(&e),
                        })?;
                let text: Rc<[u8]> = Rc::from(bytes);
                self.derivations.borrow_mut().insert(
                    path.clone(),
                    DrvText {
                        text: text.clone(),
                        written_here: false,
                    },
                );
                text
            }
        };
        Derivation::from_aterm(&text, &self.store_dir)
    }

    /// `hashDerivationModulo` of the derivation at `path`, memoised.
    fn modulo_hash(&self, path: &StorePath) -> Result<Hash, DerivationError> {
        if let Some(h) = self.modulo_hashes.borrow().get(path) {
            return Ok(*h);
        }
        let written = self
            .derivations
            .borrow()
            .get(path)
            .filter(|d| d.written_here)
            .map(|d| d.text.clone());
        let lookup = &mut |p: &StorePath| self.modulo_hash(p);
        let hash = match written {
            Some(text) => Derivation::hash_modulo_of_aterm(&text, &self.store_dir, lookup)?,
            None => self
                .derivation(path)?
                .hash_derivation_modulo(&self.store_dir, lookup)?,
        };
        self.modulo_hashes.borrow_mut().insert(path.clone(), hash);
        Ok(hash)
    }
}

fn drv_error(e: DerivationError) -> ErrorKind {
    ErrorKind::Other(e.to_string())
}

impl Addition {
    /// The store path this addition makes.
    pub fn path(&self) -> &StorePath {
        match self {
            Addition::Source { path, .. }
            | Addition::Nar { path, .. }
            | Addition::Text { path, .. } => path,
        }
    }
}

impl EvalIo for Instantiation {
    fn lstat(&self, path: &Path) -> io::Result<FileKind> {
        self.retrying(path, || self.io.lstat(path))
    }

    fn stat(&self, path: &Path) -> io::Result<FileKind> {
        self.retrying(path, || self.io.stat(path))
    }

    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.retrying(path, || self.io.read_file(path))
    }

    fn open_file<'a>(&'a self, path: &Path) -> io::Result<Box<dyn std::io::Read + 'a>> {
        match self.io.open_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.flush_if_pending(path)? => {
                self.io.open_file(path)
            }
            other => other,
        }
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<(Vec<u8>, FileKind)>> {
        self.retrying(path, || self.io.read_dir(path))
    }

    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        self.retrying(path, || self.io.read_link(path))
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        self.retrying(path, || self.io.canonicalize(path))
    }

    fn nar_hash(&self, path: &Path) -> io::Result<Hash> {
        self.retrying(path, || self.io.nar_hash(path))
    }

    fn is_valid_path(&self, path: &Path) -> Result<bool, String> {
        if self.flush_if_pending(path).map_err(|e| e.to_string())? {
            return self.io.is_valid_path(path);
        }
        self.io.is_valid_path(path)
    }

    fn references(&self, path: &StorePath) -> Result<Option<BTreeSet<StorePath>>, String> {
        self.io.references(path)
    }

    fn write_additions(&self, additions: Vec<Addition>) -> Result<(), String> {
        self.io.write_additions(additions)
    }

    fn fetch(
        &self,
        request: &super::eval_io::FetchRequest,
    ) -> Result<(StorePath, crate::hash::Hash), super::eval_io::FetchFailure> {
        self.io.fetch(request)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::eval::{EvalConfig, Evaluator};

    /// `drvPath` of a derivation depending on two others (one through
    /// its `drvPath`, which takes the whole closure), as JSON.
    fn drv_paths(discard: bool) -> (String, usize) {
        let ev = Evaluator::new(EvalConfig::default());
        if discard {
            ev.instantiation.discard_additions();
        }
        let expr = r#"
          let
            mk = name: attrs: derivation ({ inherit name; system = "x"; builder = "/bin/sh"; } // attrs);
            a = mk "a" { };
            b = mk "b" { dep = a; file = builtins.toFile "t" "text"; };
            c = mk "c" { dep = b.drvPath; };
          in [ a.drvPath b.drvPath c.drvPath c.outPath ]
        "#;
        let v = ev
            .eval_source("«test»", Path::new("/"), expr.to_owned())
            .expect("evaluates");
        let json = ev.to_json(v).expect("JSON");
        let kept = ev.instantiation.take_additions().len();
        (String::from_utf8(json).expect("UTF-8"), kept)
    }

    #[test]
    fn discarding_additions_keeps_paths_and_records_nothing() {
        let (kept_paths, kept) = drv_paths(false);
        let (paths, none) = drv_paths(true);
        assert_eq!(paths, kept_paths);
        // Three .drv files and the text file.
        assert_eq!((kept, none), (4, 0));
        assert!(paths.contains("-c.drv"), "{paths}");
    }
}
