//! Restricted and pure evaluation (`restrict-eval`, `pure-eval`): which
//! files evaluation may read. Only paths inside the search path's entries
//! (and Nix's built-in files) are allowed, checked before and after
//! symlinks are resolved, with C++ Nix's messages.

use std::path::{Path, PathBuf};

use super::config::warn_missing_entry;
use super::error::ErrorKind;
use super::paths::canonicalise;
use super::Evaluator;

/// Whether `path` is `dir` or inside it.
fn is_dir_or_in_dir(path: &Path, dir: &Path) -> bool {
    path == dir || dir == Path::new("/") || path.starts_with(dir)
}

impl Evaluator {
    /// Whether file access is restricted (`restrict-eval` or `pure-eval`).
    pub fn is_restricted(&self) -> bool {
        self.config.restrict_eval || self.config.pure_eval
    }

    /// The paths restricted evaluation may read: each search path entry
    /// that exists (a warning for one that does not), as C++ Nix computes
    /// them when evaluation starts.
    pub(crate) fn initial_allowed_paths(&self) -> Vec<PathBuf> {
        let mut allowed = Vec::new();
        for entry in &self.config.search_path {
            let path = entry.split_once('=').map_or(entry.as_str(), |(_, p)| p);
            if path.contains("://") || path.starts_with("channel:") {
                continue;
            }
            let abs = std::path::absolute(path).unwrap_or_else(|_| PathBuf::from(path));
            let abs = canonicalise(&abs);
            if super::eval_io::EvalIo::lstat(&self.instantiation, &abs).is_ok() {
                allowed.push(abs);
            } else {
                warn_missing_entry(Path::new(path));
            }
        }
        allowed
    }

    /// C++ Nix's `checkSourcePath`: `path` itself when access is not
    /// restricted; else its real path, if both it and its real path are
    /// allowed, and an error otherwise.
    pub fn check_source_path(&self, path: &Path) -> Result<PathBuf, ErrorKind> {
        if !self.is_restricted() {
            return Ok(path.to_owned());
        }
        let mode = if self.config.pure_eval {
            "in pure eval mode (use '--impure' to override)"
        } else {
            "in restricted mode"
        };
        let abs = canonicalise(path);
        if abs.starts_with(super::config::COREPKGS) {
            return Ok(abs);
        }
        let allowed = self.allowed_paths.borrow();
        if !allowed.iter().any(|a| is_dir_or_in_dir(&abs, a)) {
            return Err(ErrorKind::Unlocated(format!(
                "access to absolute path '{}' is forbidden {mode}",
                abs.display()
            )));
        }
        let real = super::eval_io::EvalIo::canonicalize(&self.instantiation, &abs)
            .unwrap_or_else(|_| abs.clone());
        if !allowed.iter().any(|a| is_dir_or_in_dir(&real, a)) {
            return Err(ErrorKind::Unlocated(format!(
                "access to canonical path '{}' is forbidden {mode}",
                real.display()
            )));
        }
        Ok(real)
    }

    /// C++ Nix's `checkURI`: in restricted evaluation a fetcher may fetch
    /// a URI that is one of `allowed-uris` or below one (a prefix ending
    /// in `/`, or followed by `/`), or a local path (`/…`, `file://…`)
    /// that may be read.
    /// (Only `restrict-eval` restricts URIs: pure evaluation asks for
    /// a hash instead.)
    pub fn check_uri(&self, uri: &str) -> Result<(), ErrorKind> {
        if !self.config.restrict_eval {
            return Ok(());
        }
        let below = |prefix: &str| {
            uri == prefix
                || (!prefix.is_empty()
                    && uri.len() > prefix.len()
                    && uri.starts_with(prefix)
                    && (prefix.ends_with('/') || uri.as_bytes()[prefix.len()] == b'/'))
        };
        if self.config.allowed_uris.iter().any(|p| below(p)) {
            return Ok(());
        }
        if uri.starts_with('/') {
            return self.check_source_path(Path::new(uri)).map(|_| ());
        }
        if let Some(rest) = uri.strip_prefix("file://") {
            return self.check_source_path(Path::new(rest)).map(|_| ());
        }
        Err(ErrorKind::Unlocated(format!(
            "access to URI '{uri}' is forbidden in restricted mode"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_or_in_dir() {
        assert!(is_dir_or_in_dir(Path::new("/a/b"), Path::new("/a")));
        assert!(is_dir_or_in_dir(Path::new("/a"), Path::new("/a")));
        assert!(!is_dir_or_in_dir(Path::new("/ab"), Path::new("/a")));
        assert!(is_dir_or_in_dir(Path::new("/x"), Path::new("/")));
    }
}
