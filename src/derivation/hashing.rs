//! The hashes behind derivation paths, as C++ Nix computes them:
//! `hashDerivationModulo` (which makes a derivation's identity independent of
//! how its fixed-output inputs were fetched), the output paths of a new
//! derivation, and the store path of the `.drv` file itself.

use std::collections::{BTreeMap, BTreeSet};

use bstr::BString;

use super::aterm::{write_replaced_inputs, InputDrvKeys};
use super::{Derivation, DerivationError, Output};
use crate::hash::{Hash, HashAlgo, HashFormat, Hasher};
use crate::store_path::{IngestionMethod, StoreDir, StorePath};

/// Gives the modulo hash of an input derivation (see
/// [`Derivation::hash_derivation_modulo`]); callers usually memoise it.
pub type ModuloLookup<'a> = dyn FnMut(&StorePath) -> Result<Hash, DerivationError> + 'a;

impl Derivation {
    /// C++ Nix's `hashDerivationModulo`. For a fixed-output derivation it is
    /// the sha256 of `fixed:out:<hashAlgo>:<hash>:<out path>`; otherwise the
    /// sha256 of the ATerm form in which every input derivation path is
    /// replaced by the base-16 modulo hash of that input, which `lookup`
    /// supplies. Inputs with equal hashes have their output sets merged.
    pub fn hash_derivation_modulo(
        &self,
        store_dir: &StoreDir,
        lookup: &mut ModuloLookup<'_>,
    ) -> Result<Hash, DerivationError> {
        if let Some(hash) = self.fixed_modulo_hash(store_dir)? {
            return Ok(hash);
        }
        let inputs = replaced_inputs(&self.input_drvs, lookup)?;
        let aterm = self.write_aterm(store_dir, InputDrvKeys::Replaced(&inputs));
        Ok(Hash::of_bytes(HashAlgo::Sha256, &aterm))
    }

    /// The modulo hash of a fixed-output derivation (`None` for any other):
    /// the sha256 of `fixed:out:<hashAlgo>:<hash>:<out path>`.
    fn fixed_modulo_hash(&self, store_dir: &StoreDir) -> Result<Option<Hash>, DerivationError> {
        if !self.is_fixed_output() {
            return Ok(None);
        }
        let Some((name, output)) = self.outputs.iter().next() else {
            return Ok(None);
        };
        let path = output
            .path
            .as_ref()
            .ok_or_else(|| DerivationError::MissingOutputPath {
                output: name.clone(),
            })?;
        let mut fingerprint = b"fixed:out:".to_vec();
        fingerprint.extend_from_slice(&output.hash_algo);
        fingerprint.push(b':');
        fingerprint.extend_from_slice(&output.hash);
        fingerprint.push(b':');
        fingerprint.extend_from_slice(store_dir.print(path).as_bytes());
        Ok(Some(Hash::of_bytes(HashAlgo::Sha256, &fingerprint)))
    }

    /// [`Derivation::hash_derivation_modulo`] of the derivation whose ATerm
    /// text is `aterm`, reading only its outputs and input derivations: the
    /// text is hashed with its list of input derivations written again
    /// with their modulo hashes. For a text this evaluation wrote (the rest
    /// is not checked again).
    pub fn hash_modulo_of_aterm(
        aterm: &[u8],
        store_dir: &StoreDir,
        lookup: &mut ModuloLookup<'_>,
    ) -> Result<Hash, DerivationError> {
        let head = Derivation::head_from_aterm(aterm, store_dir)?;
        let outputs_only = Derivation {
            outputs: head.outputs,
            ..Derivation::default()
        };
        if let Some(hash) = outputs_only.fixed_modulo_hash(store_dir)? {
            return Ok(hash);
        }
        let mut inputs = Vec::with_capacity(head.inputs.len());
        write_replaced_inputs(&mut inputs, &replaced_inputs(&head.input_drvs, lookup)?);
        let mut hasher = Hasher::new(HashAlgo::Sha256);
        hasher.update(&aterm[..head.inputs.start]);
        hasher.update(&inputs);
        hasher.update(&aterm[head.inputs.end..]);
        Ok(hasher.finish())
    }

    /// Fills in the output paths of a new derivation called `drv_name`, and
    /// the environment variables named after the outputs, as C++ Nix's
    /// `derivationStrict` does. A fixed-output derivation gets the path of
    /// its content hash. Otherwise every output is masked (no path, its
    /// variable set to `""`), the modulo hash of that masked derivation is
    /// taken, and each output gets the path derived from it.
    pub fn compute_output_paths(
        &mut self,
        store_dir: &StoreDir,
        drv_name: &str,
        lookup: &mut ModuloLookup<'_>,
    ) -> Result<(), DerivationError> {
        if self.is_fixed_output() {
            if let Some((name, output)) = self.outputs.iter_mut().next() {
                let (method, hash) = fixed_hash(name, output)?;
                let path = store_dir.fixed_output_path(
                    drv_name,
                    method,
                    &hash,
                    &BTreeSet::new(),
                    false,
                )?;
                self.env
                    .insert(BString::from(name.as_str()), store_dir.print(&path).into());
                output.path = Some(path);
            }
            return Ok(());
        }
        for (name, output) in &mut self.outputs {
            if output.is_fixed() {
                return Err(DerivationError::NotSingleFixedOutput {
                    output: name.clone(),
                });
            }
            if !output.hash_algo.is_empty() {
                return Err(DerivationError::FloatingOutput {
                    output: name.clone(),
                    algo: output.hash_algo.clone(),
                });
            }
            output.path = None;
            self.env
                .insert(BString::from(name.as_str()), BString::default());
        }
        let hash = self.hash_derivation_modulo(store_dir, lookup)?;
        for (name, output) in &mut self.outputs {
            let path = store_dir.output_path(name, &hash, drv_name)?;
            self.env
                .insert(BString::from(name.as_str()), store_dir.print(&path).into());
            output.path = Some(path);
        }
        Ok(())
    }

    /// The store path of this derivation's `.drv` file when its name is
    /// `name` (without `.drv`): a text file whose references are the input
    /// sources and input derivations.
    pub fn drv_path(&self, store_dir: &StoreDir, name: &str) -> Result<StorePath, DerivationError> {
        drv_text_path(
            store_dir,
            name,
            &self.to_aterm(store_dir),
            &self.references(),
        )
    }

    /// The store paths a `.drv` file refers to: its input sources and
    /// input derivations.
    pub fn references(&self) -> BTreeSet<StorePath> {
        self.input_srcs
            .iter()
            .chain(self.input_drvs.keys())
            .cloned()
            .collect()
    }
}

/// The input derivations keyed by the base-16 modulo hashes `lookup`
/// gives, outputs of inputs with equal hashes merged.
fn replaced_inputs(
    input_drvs: &BTreeMap<StorePath, BTreeSet<String>>,
    lookup: &mut ModuloLookup<'_>,
) -> Result<BTreeMap<String, BTreeSet<String>>, DerivationError> {
    let mut inputs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (drv_path, outputs) in input_drvs {
        let hash = lookup(drv_path)?.encode(HashFormat::Base16);
        inputs
            .entry(hash)
            .or_default()
            .extend(outputs.iter().cloned());
    }
    Ok(inputs)
}

/// The store path of the `.drv` file called `name` (without `.drv`) whose
/// text is `aterm` and whose references are `references`.
pub fn drv_text_path(
    store_dir: &StoreDir,
    name: &str,
    aterm: &[u8],
    references: &BTreeSet<StorePath>,
) -> Result<StorePath, DerivationError> {
    Ok(store_dir.text_path(&format!("{name}.drv"), aterm, references)?)
}

/// The ingestion method and hash of a fixed output: `hashAlgo` is the
/// algorithm name, prefixed by `r:` for recursive (NAR) hashing.
fn fixed_hash(name: &str, output: &Output) -> Result<(IngestionMethod, Hash), DerivationError> {
    let bad = |source| DerivationError::BadOutputHash {
        output: name.to_owned(),
        source,
    };
    let algo = String::from_utf8_lossy(&output.hash_algo);
    let (method, algo) = match algo.strip_prefix("r:") {
        Some(rest) => (IngestionMethod::Recursive, rest),
        None => (IngestionMethod::Flat, &*algo),
    };
    let algo = HashAlgo::from_name(algo).map_err(bad)?;
    let hash = Hash::parse_bare(&String::from_utf8_lossy(&output.hash), algo).map_err(bad)?;
    Ok((method, hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::HashError;

    fn store() -> StoreDir {
        StoreDir::default()
    }

    fn no_inputs(path: &StorePath) -> Result<Hash, DerivationError> {
        Err(DerivationError::Lookup {
            path: path.to_string(),
            message: "unexpected".into(),
        })
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<BString, BString> {
        pairs
            .iter()
            .map(|(k, v)| (BString::from(*k), BString::from(*v)))
            .collect()
    }

    /// `bar` from the upstream fixtures: fixed output, recursive sha256.
    fn fixed_bar() -> Derivation {
        Derivation {
            outputs: [(
                "out".to_owned(),
                Output {
                    path: None,
                    hash_algo: "r:sha256".into(),
                    hash: "08813cbee9903c62be4c5027726a418a300da4500b2d369d3af9286f4815ceba".into(),
                },
            )]
            .into(),
            system: ":".into(),
            builder: ":".into(),
            env: env(&[
                ("builder", ":"),
                ("name", "bar"),
                (
                    "outputHash",
                    "08813cbee9903c62be4c5027726a418a300da4500b2d369d3af9286f4815ceba",
                ),
                ("outputHashAlgo", "sha256"),
                ("outputHashMode", "recursive"),
                ("system", ":"),
            ]),
            ..Derivation::default()
        }
    }

    #[test]
    fn fixed_output_paths_and_hash() {
        let mut drv = fixed_bar();
        assert!(matches!(
            drv.hash_derivation_modulo(&store(), &mut no_inputs),
            Err(DerivationError::MissingOutputPath { .. })
        ));
        drv.compute_output_paths(&store(), "bar", &mut no_inputs)
            .unwrap();
        let p = "/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar";
        assert_eq!(store().print(drv.outputs["out"].path.as_ref().unwrap()), p);
        assert_eq!(drv.env[&BString::from("out")], p);
        let h = drv
            .hash_derivation_modulo(&store(), &mut no_inputs)
            .unwrap();
        let expected = Hash::of_bytes(
            HashAlgo::Sha256,
            format!("fixed:out:r:sha256:08813cbee9903c62be4c5027726a418a300da4500b2d369d3af9286f4815ceba:{p}").as_bytes(),
        );
        assert_eq!(h, expected);
        assert_eq!(
            drv.drv_path(&store(), "bar").unwrap().base_name(),
            "0hm2f1psjpcwg8fijsmr4wwxrx59s092-bar.drv"
        );
    }

    #[test]
    fn input_hashes_replace_paths_and_merge() {
        let a = StorePath::parse_base_name("0hm2f1psjpcwg8fijsmr4wwxrx59s092-bar.drv").unwrap();
        let b = StorePath::parse_base_name("ss2p4wmxijn652haqyd7dckxwl4c7hxx-bar.drv").unwrap();
        let drv = Derivation {
            input_drvs: [
                (a.clone(), ["out".to_owned()].into()),
                (b.clone(), ["dev".to_owned()].into()),
            ]
            .into(),
            ..Derivation::default()
        };
        let h = Hash::of_bytes(HashAlgo::Sha256, b"x");
        let hex = h.encode(HashFormat::Base16);
        let mut asked = Vec::new();
        let got = drv
            .hash_derivation_modulo(&store(), &mut |p: &StorePath| {
                asked.push(p.clone());
                Ok(h)
            })
            .unwrap();
        assert_eq!(asked, [a, b]);
        let aterm = format!(r#"Derive([],[("{hex}",["dev","out"])],[],"","",[],[])"#);
        assert_eq!(got, Hash::of_bytes(HashAlgo::Sha256, aterm.as_bytes()));
    }

    #[test]
    fn lookup_errors_propagate() {
        let a = StorePath::parse_base_name("0hm2f1psjpcwg8fijsmr4wwxrx59s092-bar.drv").unwrap();
        let mut drv = Derivation {
            outputs: [("out".to_owned(), Output::default())].into(),
            input_drvs: [(a, ["out".to_owned()].into())].into(),
            ..Derivation::default()
        };
        let err = drv
            .compute_output_paths(&store(), "foo", &mut no_inputs)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot get the hash of input derivation '0hm2f1psjpcwg8fijsmr4wwxrx59s092-bar.drv': unexpected"
        );
    }

    #[test]
    fn masked_outputs() {
        let mut drv = Derivation {
            outputs: [
                ("out".to_owned(), Output::default()),
                ("lib".to_owned(), Output::default()),
            ]
            .into(),
            env: env(&[("name", "has-multi-out"), ("out", "stale")]),
            ..Derivation::default()
        };
        let mut masked = drv.clone();
        masked.env.extend(env(&[("out", ""), ("lib", "")]));
        let hash = masked
            .hash_derivation_modulo(&store(), &mut no_inputs)
            .unwrap();
        drv.compute_output_paths(&store(), "has-multi-out", &mut no_inputs)
            .unwrap();
        let lib = store().output_path("lib", &hash, "has-multi-out").unwrap();
        assert_eq!(lib.name(), "has-multi-out-lib");
        assert_eq!(drv.outputs["lib"].path.as_ref(), Some(&lib));
        assert_eq!(drv.env[&BString::from("lib")], store().print(&lib));
        let out = drv.outputs["out"].path.as_ref().unwrap();
        assert_eq!(out.name(), "has-multi-out");
        assert_eq!(drv.env[&BString::from("out")], store().print(out));
    }

    #[test]
    fn bad_fixed_outputs() {
        let mut drv = fixed_bar();
        drv.outputs.get_mut("out").unwrap().hash_algo = "r:sha257".into();
        assert!(matches!(
            drv.compute_output_paths(&store(), "bar", &mut no_inputs),
            Err(DerivationError::BadOutputHash {
                source: HashError::UnknownAlgo(_),
                ..
            })
        ));
        let mut drv = fixed_bar();
        drv.outputs.get_mut("out").unwrap().hash = "0088".into();
        assert!(matches!(
            drv.compute_output_paths(&store(), "bar", &mut no_inputs),
            Err(DerivationError::BadOutputHash { .. })
        ));
        let mut drv = fixed_bar();
        drv.outputs.insert("dev".into(), Output::default());
        assert!(matches!(
            drv.compute_output_paths(&store(), "bar", &mut no_inputs),
            Err(DerivationError::NotSingleFixedOutput { .. })
        ));
        let mut drv = fixed_bar();
        drv.outputs.get_mut("out").unwrap().hash = "".into();
        assert!(matches!(
            drv.compute_output_paths(&store(), "bar", &mut no_inputs),
            Err(DerivationError::FloatingOutput { .. })
        ));
        let mut drv = fixed_bar();
        assert!(matches!(
            drv.compute_output_paths(&store(), "b/ar", &mut no_inputs),
            Err(DerivationError::StorePath(_))
        ));
    }

    #[test]
    fn flat_fixed_output() {
        let mut drv = fixed_bar();
        let out = drv.outputs.get_mut("out").unwrap();
        out.hash_algo = "sha1".into();
        out.hash = "0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33".into();
        drv.compute_output_paths(&store(), "bar", &mut no_inputs)
            .unwrap();
        let h = Hash::parse_any("sha1:0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33", None).unwrap();
        let expected = store()
            .fixed_output_path("bar", IngestionMethod::Flat, &h, &BTreeSet::new(), false)
            .unwrap();
        assert_eq!(drv.outputs["out"].path, Some(expected));
    }
}
