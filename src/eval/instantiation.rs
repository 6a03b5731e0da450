//! What evaluation puts into the store: sources copied by path coercion
//! (`"${./file}"`), `builtins.toFile` texts and derivations. The evaluator
//! only computes their store paths (as C++ Nix does in read-only mode) and
//! records them here; `nix-instantiate` writes the records to the store
//! afterwards. Derivations are also kept so that the modulo hashes of
//! their dependents can be computed.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::derivation::{Derivation, DerivationError};
use crate::hash::{Hash, HashAlgo, Hasher};
use crate::nar::fs::dump_path;
use crate::store_path::{IngestionMethod, StoreDir, StorePath};

use super::error::ErrorKind;

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

/// The store-facing state of an evaluation.
pub struct Instantiation {
    pub store_dir: StoreDir,
    sources: RefCell<HashMap<PathBuf, StorePath>>,
    additions: RefCell<Vec<Addition>>,
    derivations: RefCell<HashMap<StorePath, Derivation>>,
    modulo_hashes: RefCell<HashMap<StorePath, Hash>>,
}

impl Instantiation {
    pub fn new(store_dir: StoreDir) -> Instantiation {
        Instantiation {
            store_dir,
            sources: RefCell::new(HashMap::new()),
            additions: RefCell::new(Vec::new()),
            derivations: RefCell::new(HashMap::new()),
            modulo_hashes: RefCell::new(HashMap::new()),
        }
    }

    /// Everything evaluation added since the last call, in order
    /// (dependencies first); the records move to the caller, who writes them.
    pub fn take_additions(&self) -> Vec<Addition> {
        std::mem::take(&mut *self.additions.borrow_mut())
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
        let hasher = dump_path(path, Hasher::new(HashAlgo::Sha256))
            .map_err(|e| ErrorKind::Other(e.to_string()))?;
        let hash = hasher.finish();
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
        self.additions.borrow_mut().push(Addition::Source {
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
        self.additions.borrow_mut().push(Addition::Nar {
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
        self.additions.borrow_mut().push(Addition::Text {
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
        let drv_path = drv.drv_path(&self.store_dir, name).map_err(drv_error)?;
        let references: BTreeSet<StorePath> = drv
            .input_srcs
            .iter()
            .chain(drv.input_drvs.keys())
            .cloned()
            .collect();
        let contents = drv.to_aterm(&self.store_dir);
        if !self.derivations.borrow().contains_key(&drv_path) {
            self.additions.borrow_mut().push(Addition::Text {
                path: drv_path.clone(),
                contents,
                references,
            });
            self.derivations
                .borrow_mut()
                .insert(drv_path.clone(), drv.clone());
        }
        Ok((drv_path, drv))
    }

    /// A derivation known to this evaluation, or read from its `.drv` file
    /// in the store directory.
    pub fn derivation(&self, path: &StorePath) -> Result<Derivation, DerivationError> {
        if let Some(d) = self.derivations.borrow().get(path) {
            return Ok(d.clone());
        }
        let file = self.store_dir.print(path);
        let bytes = std::fs::read(&file).map_err(|e| DerivationError::Unreadable {
            path: file.clone(),
            message: crate::os_error::message(&e),
        })?;
        let drv = Derivation::from_aterm(&bytes, &self.store_dir)?;
        self.derivations
            .borrow_mut()
            .insert(path.clone(), drv.clone());
        Ok(drv)
    }

    /// `hashDerivationModulo` of the derivation at `path`, memoised.
    fn modulo_hash(&self, path: &StorePath) -> Result<Hash, DerivationError> {
        if let Some(h) = self.modulo_hashes.borrow().get(path) {
            return Ok(*h);
        }
        let drv = self.derivation(path)?;
        let hash = drv.hash_derivation_modulo(&self.store_dir, &mut |p| self.modulo_hash(p))?;
        self.modulo_hashes.borrow_mut().insert(path.clone(), hash);
        Ok(hash)
    }
}

fn drv_error(e: DerivationError) -> ErrorKind {
    ErrorKind::Other(e.to_string())
}
