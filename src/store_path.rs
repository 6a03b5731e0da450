//! Store paths: `/nix/store/<32 nix32 chars>-<name>`, their validation, and
//! the computations that give C++ Nix's paths for text files (`toFile`),
//! fixed-output (content-addressed) imports and derivation outputs.

use std::collections::BTreeSet;
use std::fmt;

use thiserror::Error;

use crate::hash::{Hash, HashAlgo, HashFormat};
use crate::nixbase32;

/// The store directory C++ Nix uses unless `NIX_STORE_DIR` says otherwise.
pub const DEFAULT_STORE_DIR: &str = "/nix/store";

/// Length of the hash part of a store path's base name.
pub const HASH_PART_LEN: usize = 32;

/// The longest name C++ Nix 2.8 accepts.
pub const MAX_NAME_LEN: usize = 211;

/// What is wrong with a store path or name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StorePathError {
    #[error("path '{0}' is not in the Nix store")]
    NotInStore(String),
    #[error("'{0}' is too short to be a valid store path")]
    TooShort(String),
    #[error("store path '{0}' has an invalid hash part")]
    BadHash(String),
    #[error("store path '{0}' has an empty name")]
    EmptyName(String),
    #[error("store path '{path}' has a name longer than {MAX_NAME_LEN} characters")]
    NameTooLong { path: String },
    #[error("store path '{path}' contains illegal character '{c}'")]
    IllegalChar { path: String, c: char },
    #[error("store directory '{0}' must be an absolute path without a trailing slash")]
    BadStoreDir(String),
}

/// Checks a store path name (the part after `<hash>-`) by C++ Nix 2.8's rules:
/// 1 to 211 characters from `[A-Za-z0-9+-._?=]`. (2.8 accepts a leading `.`,
/// even `.` and `..`; newer Nix rejects those two.)
pub fn validate_name(path_for_errors: &str, name: &str) -> Result<(), StorePathError> {
    if name.is_empty() {
        return Err(StorePathError::EmptyName(path_for_errors.to_owned()));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(StorePathError::NameTooLong {
            path: path_for_errors.to_owned(),
        });
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "+-._?=".contains(c)))
    {
        return Err(StorePathError::IllegalChar {
            path: path_for_errors.to_owned(),
            c,
        });
    }
    Ok(())
}

/// A validated store directory such as `/nix/store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreDir(String);

impl Default for StoreDir {
    fn default() -> Self {
        StoreDir(DEFAULT_STORE_DIR.to_owned())
    }
}

impl StoreDir {
    pub fn new(dir: &str) -> Result<StoreDir, StorePathError> {
        if !dir.starts_with('/') || (dir.len() > 1 && dir.ends_with('/')) {
            return Err(StorePathError::BadStoreDir(dir.to_owned()));
        }
        Ok(StoreDir(dir.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses an absolute store path that must be directly inside this store.
    pub fn parse_path(&self, path: &str) -> Result<StorePath, StorePathError> {
        let base = path
            .strip_prefix(self.0.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|base| !base.contains('/'))
            .ok_or_else(|| StorePathError::NotInStore(path.to_owned()))?;
        StorePath::parse_base_name_for(base, path)
    }

    /// The absolute form of `path`.
    pub fn print(&self, path: &StorePath) -> String {
        let mut s = String::with_capacity(self.0.len() + 1 + path.0.len());
        self.push_path(&mut s, path);
        s
    }

    /// Appends the absolute form of `path` to `out` (by hand, not with
    /// `format!`, which costs several times more: instantiating a
    /// derivation prints every input path a few times).
    fn push_path(&self, out: &mut String, path: &StorePath) {
        out.push_str(&self.0);
        out.push('/');
        out.push_str(&path.0);
    }

    /// C++ Nix's `makeStorePath`: the hash part is the nix32 of the 20-byte
    /// fold of `sha256("<kind>:<algo>:<hex>:<storedir>:<name>")`.
    pub fn make_path(
        &self,
        kind: &str,
        hash: &Hash,
        name: &str,
    ) -> Result<StorePath, StorePathError> {
        let hash = hash.to_string_with(HashFormat::Base16);
        let fingerprint = [kind, &hash, &self.0, name].join(":");
        let digest = Hash::of_bytes(HashAlgo::Sha256, fingerprint.as_bytes()).truncate(20);
        let mut base = nixbase32::encode(digest.digest());
        base.reserve(1 + name.len());
        base.push('-');
        base.push_str(name);
        // Errors name the whole path, as C++ Nix's.
        validate_name(&base, name)?;
        Ok(StorePath(base))
    }

    /// `kind` followed by `:<ref>` for every reference and `:self` if asked,
    /// as C++ Nix's `makeType`.
    fn make_type(&self, kind: &str, references: &BTreeSet<StorePath>, self_ref: bool) -> String {
        let mut s = kind.to_owned();
        for r in references {
            s.push(':');
            self.push_path(&mut s, r);
        }
        if self_ref {
            s.push_str(":self");
        }
        s
    }

    /// The path of a text file added with references (`builtins.toFile`,
    /// `.drv` files).
    pub fn text_path(
        &self,
        name: &str,
        contents: &[u8],
        references: &BTreeSet<StorePath>,
    ) -> Result<StorePath, StorePathError> {
        let hash = Hash::of_bytes(HashAlgo::Sha256, contents);
        self.make_path(&self.make_type("text", references, false), &hash, name)
    }

    /// The path of a text file whose contents have the SHA-256 `hash`.
    pub fn text_path_of_hash(
        &self,
        name: &str,
        hash: &Hash,
        references: &BTreeSet<StorePath>,
    ) -> Result<StorePath, StorePathError> {
        self.make_path(&self.make_type("text", references, false), hash, name)
    }

    /// The path of content-addressed data: recursive sha256 imports are
    /// `source` paths (and may have references); everything else is a fixed
    /// output of the `fixed:out:` fingerprint.
    pub fn fixed_output_path(
        &self,
        name: &str,
        method: IngestionMethod,
        hash: &Hash,
        references: &BTreeSet<StorePath>,
        self_ref: bool,
    ) -> Result<StorePath, StorePathError> {
        if method == IngestionMethod::Recursive && hash.algo() == HashAlgo::Sha256 {
            return self.make_path(&self.make_type("source", references, self_ref), hash, name);
        }
        let inner = format!(
            "fixed:out:{}{}:",
            method.prefix(),
            hash.to_string_with(HashFormat::Base16)
        );
        let outer = Hash::of_bytes(HashAlgo::Sha256, inner.as_bytes());
        self.make_path("output:out", &outer, name)
    }

    /// The path of output `output` of a derivation called `drv_name` whose
    /// `hashDerivationModulo` is `drv_hash`.
    pub fn output_path(
        &self,
        output: &str,
        drv_hash: &Hash,
        drv_name: &str,
    ) -> Result<StorePath, StorePathError> {
        let name = if output == "out" {
            drv_name.to_owned()
        } else {
            format!("{drv_name}-{output}")
        };
        self.make_path(&format!("output:{output}"), drv_hash, &name)
    }
}

/// How file system data is turned into a content hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestionMethod {
    /// The bytes of a single regular file.
    Flat,
    /// The NAR serialisation of a tree.
    Recursive,
}

impl IngestionMethod {
    /// `r:` for recursive, empty for flat (as in `.drv` output hash algos).
    pub fn prefix(self) -> &'static str {
        match self {
            IngestionMethod::Flat => "",
            IngestionMethod::Recursive => "r:",
        }
    }
}

/// A store path, kept as its base name `<hash>-<name>`; ordered as C++ Nix
/// orders store path sets (by that string).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorePath(String);

impl StorePath {
    /// Parses `<hash>-<name>`.
    pub fn parse_base_name(base: &str) -> Result<StorePath, StorePathError> {
        Self::parse_base_name_for(base, base)
    }

    fn parse_base_name_for(base: &str, full: &str) -> Result<StorePath, StorePathError> {
        if base.len() < HASH_PART_LEN + 1 || !base.is_char_boundary(HASH_PART_LEN) {
            // C++ Nix names the base name here.
            return Err(StorePathError::TooShort(base.to_owned()));
        }
        let (hash, rest) = base.split_at(HASH_PART_LEN);
        if nixbase32::decode_fixed::<20>(hash.as_bytes()).is_err() {
            return Err(StorePathError::BadHash(full.to_owned()));
        }
        let name = rest
            .strip_prefix('-')
            .ok_or_else(|| StorePathError::BadHash(full.to_owned()))?;
        validate_name(full, name)?;
        Ok(StorePath(base.to_owned()))
    }

    /// The 32-character nix32 hash part.
    pub fn hash_part(&self) -> &str {
        &self.0[..HASH_PART_LEN]
    }

    /// The 20 bytes the hash part encodes.
    pub fn digest(&self) -> [u8; 20] {
        nixbase32::decode_fixed::<20>(self.hash_part().as_bytes())
            .expect("validated when the store path was made")
    }

    /// The name after `<hash>-`.
    pub fn name(&self) -> &str {
        &self.0[HASH_PART_LEN + 1..]
    }

    pub fn base_name(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> StoreDir {
        StoreDir::default()
    }

    #[test]
    fn parses_and_prints() {
        let s = "/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar";
        let p = store().parse_path(s).unwrap();
        assert_eq!(p.name(), "bar");
        assert_eq!(p.hash_part(), "4q0pg5zpfmznxscq3avycvf9xdvx50n3");
        assert_eq!(store().print(&p), s);
    }

    #[test]
    fn rejects_bad_paths() {
        let st = store();
        for bad in [
            "/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3",
            "/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-",
            "/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50ne-bar",
            "/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-b ar",
            "/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar/sub",
            "/nix/stor/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar",
            "/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3_bar",
            "/nix/store/ü",
        ] {
            assert!(st.parse_path(bad).is_err(), "{bad}");
        }
        let long = format!(
            "/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-{}",
            "a".repeat(212)
        );
        assert!(matches!(
            st.parse_path(&long),
            Err(StorePathError::NameTooLong { .. })
        ));
        let ok = format!(
            "/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-{}",
            "a".repeat(211)
        );
        assert!(st.parse_path(&ok).is_ok());
    }

    #[test]
    fn fixed_output_paths_match_fixture() {
        // `bar` in ../shared/upstream/derivation: recursive sha256 and sha1 outputs.
        let h = Hash::parse_any(
            "sha256:08813cbee9903c62be4c5027726a418a300da4500b2d369d3af9286f4815ceba",
            None,
        )
        .unwrap();
        let p = store()
            .fixed_output_path(
                "bar",
                IngestionMethod::Recursive,
                &h,
                &BTreeSet::new(),
                false,
            )
            .unwrap();
        assert_eq!(p.base_name(), "4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar");
        let h1 = Hash::parse_any("sha1:0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33", None).unwrap();
        let p1 = store()
            .fixed_output_path(
                "bar",
                IngestionMethod::Recursive,
                &h1,
                &BTreeSet::new(),
                false,
            )
            .unwrap();
        assert_eq!(p1.base_name(), "mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar");
    }
}
