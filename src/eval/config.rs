//! The settings of an evaluation (search path, system, restrictions,
//! lints, experimental features) and the built-in `<nix/…>` location.

use std::path::{Path, PathBuf};

/// Where C++ Nix 2.8 finds `<nix/…>` files the search path lacks
/// (`findFile`); of those, `fetchurl.nix` is built in.
pub const COREPKGS: &str = "/__corepkgs__";
pub(crate) const COREPKGS_FETCHURL: &str = "/__corepkgs__/fetchurl.nix";
pub(crate) const COREPKGS_DERIVATION: &str = "/__corepkgs__/derivation.nix";

/// Settings of an evaluation.
#[derive(Clone, Debug, Default)]
pub struct EvalConfig {
    /// Search path entries (`-I` first, then `NIX_PATH`): `prefix=path` or
    /// plain paths.
    pub search_path: Vec<String>,
    /// `$HOME`, for `~/` paths.
    pub home: Option<PathBuf>,
    /// `builtins.currentSystem`.
    pub system: String,
    /// `--lint-*` settings of newer Nix.
    pub lints: Lints,
    /// Stop with an error after this many frame activations (for fuzzing
    /// and other bounded runs); `None` for no limit.
    pub max_steps: Option<u64>,
    /// `builtins.storeDir` (`$NIX_STORE_DIR`); `None` for `/nix/store`.
    pub store_dir: Option<String>,
    /// Enabled experimental features (`--extra-experimental-features`).
    pub experimental_features: Vec<String>,
    /// `--trace-verbose`: `builtins.traceVerbose` traces.
    pub trace_verbose: bool,
    /// `restrict-eval`: only the search path's files may be read.
    pub restrict_eval: bool,
    /// `pure-eval`: restricted, and no search path, `currentSystem`,
    /// `currentTime` or environment.
    pub pure_eval: bool,
    /// `trace-function-calls`: each call prints `function-trace entered …`
    /// and `… exited …` with its position and a timestamp on stderr.
    pub trace_function_calls: bool,
    /// `allow-import-from-derivation = false`: reading a derivation's
    /// output during evaluation is an error.
    pub import_from_derivation_disabled: bool,
    /// `allowed-uris`: URL prefixes the fetchers may fetch in restricted
    /// evaluation.
    pub allowed_uris: Vec<String>,
}

impl EvalConfig {
    /// Whether the experimental feature `name` is enabled.
    pub fn has_feature(&self, name: &str) -> bool {
        self.experimental_features.iter().any(|f| f == name)
    }
}

/// How a lint reports: not at all, as a warning, or as an error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LintLevel {
    #[default]
    Off,
    Warn,
    Fatal,
}

/// The path and URL literal lints (`--lint-short-path-literals`,
/// `--lint-absolute-path-literals`, `--lint-url-literals`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Lints {
    pub short_path: LintLevel,
    pub absolute_path: LintLevel,
    pub url: LintLevel,
}

/// C++ Nix's warning for a search path entry that is not there, once per
/// entry.
pub(crate) fn warn_missing_entry(path: &Path) {
    thread_local! {
        static WARNED: std::cell::RefCell<std::collections::HashSet<PathBuf>> =
            Default::default();
    }
    if WARNED.with(|w| w.borrow_mut().insert(path.to_owned())) {
        crate::log::warning(&format!(
            "Nix search path entry '{}' does not exist, ignoring",
            path.display()
        ));
    }
}
