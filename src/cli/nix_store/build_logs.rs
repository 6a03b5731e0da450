//! `nix-store --read-log` (`-l`): the build log C++ Nix kept of a
//! derivation, from its local store's log directory
//! (`LOG/drvs/XX/REST`, or the older flat `LOG/drvs/NAME`, either of
//! them possibly `.bz2`). For an output path, the log of its deriver.
//! oxnix builds nothing, so its own store has no logs; nor, in Nix 2.8,
//! has a store reached through the daemon.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::store::any::{AnyAddress, AnyStore};
use crate::store_path::StorePath;

use super::super::CliError;

/// Where the logs of the store at `address` are, if it has any:
/// `log_dir` (`$NIX_LOG_DIR` or its default) for C++ Nix's daemon.
pub(super) fn log_dir_of(address: &AnyAddress, log_dir: &Path) -> Option<PathBuf> {
    match address {
        AnyAddress::Local(config) => Some(config.log_dir.clone()),
        AnyAddress::Daemon { .. } => Some(log_dir.to_path_buf()),
        AnyAddress::Oxnix(_) | AnyAddress::Unsupported(..) => None,
    }
}

/// The log of `path` in store `store` (whose logs are in `log_dir`), if
/// there is one.
pub(super) fn build_log(
    store: &AnyStore,
    log_dir: Option<&Path>,
    path: &StorePath,
) -> Result<Option<Vec<u8>>, CliError> {
    let Some(log_dir) = log_dir else {
        return Ok(None);
    };
    let drv = if path.name().ends_with(".drv") {
        path.clone()
    } else {
        // An invalid path has no log (as C++ Nix, which asks its deriver).
        if !store.is_valid(path).map_err(CliError::failed)? {
            return Ok(None);
        }
        match store.query(path).map_err(CliError::failed)?.deriver {
            Some(d) => d,
            None => return Ok(None),
        }
    };
    let base = drv.to_string();
    for file in candidates(log_dir, &base) {
        if let Some(log) = read_log_file(&file)? {
            return Ok(Some(log));
        }
    }
    Ok(None)
}

/// Where a log of the derivation with base name `base` may be, in C++
/// Nix's order.
fn candidates(log_dir: &Path, base: &str) -> [PathBuf; 2] {
    let drvs = log_dir.join("drvs");
    let (head, rest) = base.split_at(base.len().min(2));
    [drvs.join(head).join(rest), drvs.join(base)]
}

/// The log at `file` (plain) or `file.bz2` (compressed); a compressed
/// log that does not decompress counts as none, as in C++ Nix.
fn read_log_file(file: &Path) -> Result<Option<Vec<u8>>, CliError> {
    let read = |p: &Path| match std::fs::read(p) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::Failed(format!(
            "reading file '{}': {}",
            p.display(),
            crate::os_error::message(&e)
        ))),
    };
    if let Some(log) = read(file)? {
        return Ok(Some(log));
    }
    let mut bz2 = file.as_os_str().to_owned();
    bz2.push(".bz2");
    let Some(packed) = read(Path::new(&bz2))? else {
        return Ok(None);
    };
    let mut log = Vec::new();
    match bzip2::read::BzDecoder::new(&packed[..]).read_to_end(&mut log) {
        Ok(_) => Ok(Some(log)),
        Err(_) => Ok(None),
    }
}

/// The operation: each argument's store path (`resolve`d as C++ Nix's
/// `followLinksToStorePath`), its log to `out`, in turn; the first path
/// without one ends it with C++ Nix's error.
pub(super) fn read_logs(
    store: &AnyStore,
    log_dir: Option<&Path>,
    args: &[PathBuf],
    resolve: &dyn Fn(&PathBuf) -> Result<StorePath, CliError>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    for arg in args {
        let path = &resolve(arg)?;
        let Some(log) = build_log(store, log_dir, path)? else {
            out.flush().map_err(CliError::failed)?;
            return Err(CliError::Failed(format!(
                "build log of derivation '{}' is not available",
                store.print(path)
            )));
        };
        out.write_all(&log).map_err(CliError::failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_looked_for_in_the_split_then_the_flat_layout() {
        let [a, b] = candidates(Path::new("/l"), "abcdef-x.drv");
        assert_eq!(a, Path::new("/l/drvs/ab/cdef-x.drv"));
        assert_eq!(b, Path::new("/l/drvs/abcdef-x.drv"));
    }

    #[test]
    fn a_compressed_log_is_read_and_a_broken_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("log");
        assert_eq!(read_log_file(&f).unwrap(), None);
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        enc.write_all(b"FOO\n").unwrap();
        std::fs::write(dir.path().join("log.bz2"), enc.finish().unwrap()).unwrap();
        assert_eq!(read_log_file(&f).unwrap().as_deref(), Some(&b"FOO\n"[..]));
        std::fs::write(dir.path().join("log.bz2"), b"not bzip2").unwrap();
        assert_eq!(read_log_file(&f).unwrap(), None);
        std::fs::write(&f, b"plain").unwrap();
        assert_eq!(read_log_file(&f).unwrap().as_deref(), Some(&b"plain"[..]));
    }
}
