//! C++ Nix's `realiseContext`: before a path with a string context is read
//! (`import`, `readFile`, `readDir`, `pathExists`, `hashFile`, `path`,
//! `filterSource`, …), every store path of its context must be valid, and
//! the derivation outputs it names must exist. oxnix does not build, so an
//! output that is not in the store is an honest "not supported yet".

use std::path::Path;

use super::error::ErrorKind;
use super::eval_io::EvalIo;
use super::value::Context;
use super::Evaluator;

impl Evaluator {
    /// Makes the store paths of `context` readable, or fails as C++ Nix 2.8
    /// does: `path '…' is not valid` for a path the store lacks (in
    /// read-only mode, also one evaluation computed but did not write),
    /// and an error for a derivation output that would need a build.
    pub fn realise_context(&self, context: &Context) -> Result<(), ErrorKind> {
        let inst = &self.instantiation;
        let mut outputs = Vec::new();
        for element in context {
            let (drv_output, path) = match element.strip_prefix('!') {
                Some(rest) => match rest.split_once('!') {
                    Some((output, drv)) => (Some(output), drv),
                    None => continue,
                },
                None => (None, element.strip_prefix('=').unwrap_or(element)),
            };
            let Ok(store_path) = inst.store_dir.parse_path(path) else {
                continue;
            };
            if inst.read_write() && inst.is_pending(&store_path) {
                inst.flush()?;
            }
            if !inst
                .is_valid_path(Path::new(path))
                .map_err(ErrorKind::Other)?
            {
                return Err(ErrorKind::Unlocated(format!("path '{path}' is not valid")));
            }
            if let Some(output) = drv_output {
                outputs.push((store_path, output.to_owned()));
            }
        }
        for (drv_path, output) in outputs {
            let printed = inst.store_dir.print(&drv_path);
            let drv = inst
                .derivation(&drv_path)
                .map_err(|e| ErrorKind::Other(e.to_string()))?;
            let out_path = drv.outputs.get(&output).and_then(|o| o.path.as_ref());
            let built = match out_path {
                Some(p) => inst
                    .is_valid_path(Path::new(&inst.store_dir.print(p)))
                    .map_err(ErrorKind::Other)?,
                None => false,
            };
            if built {
                continue;
            }
            if self.config.import_from_derivation_disabled {
                return Err(ErrorKind::Unlocated(format!(
                    "cannot build '{printed}' during evaluation because the option 'allow-import-from-derivation' is disabled"
                )));
            }
            return Err(ErrorKind::NotYetSupported(format!(
                "building '{printed}' during evaluation (import from derivation; oxnix does not build derivations)"
            )));
        }
        Ok(())
    }
}
