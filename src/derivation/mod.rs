//! Nix derivations (`.drv` files): the in-memory model, the ATerm text form
//! C++ Nix stores them in ([`aterm`]), the JSON form `nix show-derivation`
//! prints ([`json`]), and the hashing that gives output and `.drv` paths
//! ([`hashing`]). Pure format code: nothing here touches the file system.
//!
//! Strings inside a derivation (builder, arguments, environment, …) are
//! byte strings, not UTF-8: C++ Nix writes whatever bytes the evaluator gave.

pub mod aterm;
pub mod hashing;
pub mod json;

use std::collections::{BTreeMap, BTreeSet};

use bstr::BString;
use thiserror::Error;

use crate::hash::HashError;
use crate::store_path::{StorePath, StorePathError};

/// One output of a derivation, as the ATerm form stores it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// The output's store path; `None` while it is masked (printed as `""`).
    pub path: Option<StorePath>,
    /// `r:sha256`, `sha1`, …, or empty unless the output is fixed.
    pub hash_algo: BString,
    /// The expected hash (base-16 as C++ Nix writes it), or empty.
    pub hash: BString,
}

impl Output {
    /// True for a fixed (content-addressed with a known hash) output.
    pub fn is_fixed(&self) -> bool {
        !self.hash.is_empty()
    }
}

/// A store derivation. The maps are ordered by bytes, which is the order
/// C++ Nix's `std::map`s print them in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Derivation {
    /// Outputs by name (`out`, `lib`, …).
    pub outputs: BTreeMap<String, Output>,
    /// Input derivations (`.drv` paths) with the names of the outputs used.
    pub input_drvs: BTreeMap<StorePath, BTreeSet<String>>,
    /// Input store paths that are not derivation outputs.
    pub input_srcs: BTreeSet<StorePath>,
    pub system: BString,
    pub builder: BString,
    pub args: Vec<BString>,
    pub env: BTreeMap<BString, BString>,
}

impl Derivation {
    /// True when this is a fixed-output derivation: exactly one output,
    /// named `out`, with a hash.
    pub fn is_fixed_output(&self) -> bool {
        self.outputs.len() == 1
            && self
                .outputs
                .get("out")
                .is_some_and(|output| output.is_fixed())
    }
}

/// Everything that can go wrong reading a derivation or computing its hashes
/// and paths. Parse errors carry the byte offset in the ATerm input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DerivationError {
    #[error("invalid derivation at byte {offset}: expected {expected}, found {found}")]
    Syntax {
        offset: usize,
        expected: &'static str,
        found: String,
    },
    #[error("invalid derivation at byte {offset}: {source}")]
    InvalidStorePath {
        offset: usize,
        source: StorePathError,
    },
    #[error("invalid derivation at byte {offset}: {what} {value:?} is not valid UTF-8")]
    NotUtf8 {
        offset: usize,
        what: &'static str,
        value: BString,
    },
    #[error("invalid derivation at byte {offset}: duplicate environment variable {key:?}")]
    DuplicateEnvKey { offset: usize, key: BString },
    #[error("invalid derivation at byte {offset}: duplicate output '{name}'")]
    DuplicateOutput { offset: usize, name: String },
    #[error("invalid derivation at byte {offset}: duplicate input derivation '{path}'")]
    DuplicateInputDrv { offset: usize, path: String },
    #[error("invalid derivation at byte {offset}: duplicate input source '{path}'")]
    DuplicateInputSrc { offset: usize, path: String },
    #[error(
        "invalid derivation at byte {offset}: duplicate output '{output}' of input derivation '{drv}'"
    )]
    DuplicateInputDrvOutput {
        offset: usize,
        drv: String,
        output: String,
    },
    #[error("reading derivation '{path}': {message}")]
    Unreadable { path: String, message: String },
    #[error("fixed output '{output}' has no store path")]
    MissingOutputPath { output: String },
    #[error("invalid hash of fixed output '{output}': {source}")]
    BadOutputHash { output: String, source: HashError },
    #[error(
        "output '{output}' has a hash, but a fixed-output derivation must have exactly one output, named 'out'"
    )]
    NotSingleFixedOutput { output: String },
    #[error("output '{output}' has hash algorithm {algo:?} but no hash (floating content-addressed outputs are not supported)")]
    FloatingOutput { output: String, algo: BString },
    #[error(transparent)]
    StorePath(#[from] StorePathError),
    #[error("cannot get the hash of input derivation '{path}': {message}")]
    Lookup { path: String, message: String },
}
