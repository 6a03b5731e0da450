//! Garbage collector roots of a local store, kept as C++ Nix keeps them
//! under its state directory: `gcroots/` holds symlinks to store paths (or
//! to symlinks elsewhere that point into the store: indirect roots, made
//! by `--add-root` in `gcroots/auto/`), and `profiles/` likewise.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

use crate::store_path::{StoreDir, StorePath};

/// Roots found: each store path with the links that keep it alive.
pub type Roots = BTreeMap<StorePath, BTreeSet<PathBuf>>;

/// Failure to read or write the roots.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {}", crate::os_error::message(.source))]
pub struct RootsError {
    pub context: String,
    #[source]
    pub source: io::Error,
}

fn io_err(context: String) -> impl FnOnce(io::Error) -> RootsError {
    move |source| RootsError { context, source }
}

/// The directory of roots under the state directory `state`.
pub fn roots_dir(state: &Path) -> PathBuf {
    state.join("gcroots")
}

/// Registers `link` (an absolute symlink into the store, anywhere) as an
/// indirect root: `gcroots/auto/<nix32 of the SHA-1 of its path>` points at
/// it, as in C++ Nix, so the root goes away when `link` does.
pub fn add_indirect_root(state: &Path, link: &Path) -> Result<(), RootsError> {
    let auto = roots_dir(state).join("auto");
    std::fs::create_dir_all(&auto)
        .map_err(io_err(format!("creating directory '{}'", auto.display())))?;
    let digest = Sha1::digest(link.as_os_str().as_bytes());
    let name = auto.join(crate::nixbase32::encode(&digest));
    // Replaced atomically: a concurrent collector sees the old or new link.
    let tmp = auto.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        crate::nixbase32::encode(&digest)
    ));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(link, &tmp)
        .map_err(io_err(format!("creating symlink '{}'", tmp.display())))?;
    std::fs::rename(&tmp, &name).map_err(io_err(format!("renaming '{}'", tmp.display())))
}

/// Finds the roots under `state` (`gcroots/` and `profiles/`) whose store
/// path `is_valid`, as C++ Nix's `findRoots` does: stale links in `auto/`
/// are removed and links to invalid paths skipped, each with a note for
/// `note`.
pub fn find_roots(
    state: &Path,
    store_dir: &StoreDir,
    is_valid: &mut dyn FnMut(&StorePath) -> bool,
    note: &mut dyn FnMut(String),
) -> Roots {
    let mut finder = Finder {
        store_dir,
        auto: roots_dir(state).join("auto"),
        is_valid,
        note,
        roots: Roots::new(),
    };
    finder.visit(&roots_dir(state), 0);
    finder.visit(&state.join("profiles"), 0);
    finder.roots
}

struct Finder<'a> {
    store_dir: &'a StoreDir,
    auto: PathBuf,
    is_valid: &'a mut dyn FnMut(&StorePath) -> bool,
    note: &'a mut dyn FnMut(String),
    roots: Roots,
}

impl Finder<'_> {
    /// The store path `target` is in, if it is in the store.
    fn store_path_of(&self, target: &Path) -> Option<StorePath> {
        let rest = target
            .as_os_str()
            .as_bytes()
            .strip_prefix(self.store_dir.as_str().as_bytes())?
            .strip_prefix(b"/")?;
        let base = rest.split(|b| *b == b'/').next()?;
        StorePath::parse_base_name(std::str::from_utf8(base).ok()?).ok()
    }

    fn in_store(&self, target: &Path) -> bool {
        target
            .as_os_str()
            .as_bytes()
            .strip_prefix(self.store_dir.as_str().as_bytes())
            .is_some_and(|r| r.starts_with(b"/"))
    }

    fn found(&mut self, link: &Path, target: &Path) {
        let Some(sp) = self.store_path_of(target) else {
            return;
        };
        if (self.is_valid)(&sp) {
            self.roots.entry(sp).or_default().insert(link.to_owned());
        } else {
            (self.note)(format!(
                "skipping invalid root from '{}' to '{}'",
                link.display(),
                target.display()
            ));
        }
    }

    fn visit(&mut self, path: &Path, depth: u32) {
        // Directories nest at most this deep (a loop of bind mounts).
        if depth > 64 {
            return;
        }
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return;
        };
        let ty = meta.file_type();
        if ty.is_dir() {
            let Ok(entries) = std::fs::read_dir(path) else {
                return;
            };
            let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            names.sort();
            for p in names {
                self.visit(&p, depth + 1);
            }
        } else if ty.is_symlink() {
            let Ok(target) = std::fs::read_link(path) else {
                return;
            };
            if self.in_store(&target) {
                self.found(path, &target);
                return;
            }
            // An indirect root: a link to a link into the store.
            let target = match path.parent() {
                Some(dir) if target.is_relative() => dir.join(&target),
                _ => target,
            };
            match std::fs::symlink_metadata(&target) {
                Err(_) => {
                    if path.starts_with(&self.auto) {
                        (self.note)(format!(
                            "removing stale link from '{}' to '{}'",
                            path.display(),
                            target.display()
                        ));
                        let _ = std::fs::remove_file(path);
                    }
                }
                Ok(m) if m.file_type().is_symlink() => {
                    if let Ok(target2) = std::fs::read_link(&target) {
                        if self.in_store(&target2) {
                            self.found(&target, &target2);
                        }
                    }
                }
                Ok(_) => {}
            }
        } else if ty.is_file() {
            // A file named after a store path keeps it alive.
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if let Some(sp) = name.and_then(|n| StorePath::parse_base_name(&n).ok()) {
                if (self.is_valid)(&sp) {
                    self.roots.entry(sp).or_default().insert(path.to_owned());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indirect_roots_are_found_and_stale_ones_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let store_dir = StoreDir::default();
        let target = "/nix/store/00000000000000000000000000000000-x";
        let link = dir.path().join("result");
        std::os::unix::fs::symlink(target, &link).expect("link");
        add_indirect_root(&state, &link).expect("root");
        let gone = dir.path().join("gone");
        std::os::unix::fs::symlink(target, &gone).expect("link");
        add_indirect_root(&state, &gone).expect("root");
        std::fs::remove_file(&gone).expect("rm");
        let mut notes = Vec::new();
        let roots = find_roots(&state, &store_dir, &mut |_| true, &mut |n| notes.push(n));
        let sp = StorePath::parse_base_name("00000000000000000000000000000000-x").expect("sp");
        assert_eq!(roots.get(&sp), Some(&BTreeSet::from([link.clone()])));
        assert_eq!(roots.len(), 1);
        assert!(notes.iter().any(|n| n.starts_with("removing stale link")));
        let left = std::fs::read_dir(state.join("gcroots/auto"))
            .expect("auto")
            .count();
        assert_eq!(left, 1);
    }
}
