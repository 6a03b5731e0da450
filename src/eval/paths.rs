//! Paths as the Nix language treats them: made absolute and normalised
//! without touching the file system.

use std::path::{Component, Path, PathBuf};

/// Removes `.`, `..` and repeated slashes, without touching the file system
/// (C++ Nix's `canonPath`).
pub fn canonicalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}
