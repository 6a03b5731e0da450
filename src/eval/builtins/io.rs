//! Builtins that read the environment and the file system: `getEnv`,
//! `pathExists`, `readFile`, `readDir`, `readFileType`, `toPath`, and the
//! `currentTime` constant, with C++ Nix 2.8's behaviour and messages.

use std::ffi::OsStr;
use std::fs::FileType;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::args::{string_arg, sync};
use crate::eval::error::ErrorKind;
use crate::eval::paths::canonicalise;
use crate::eval::value::{Attrs, NixString, Value};
use crate::eval::vm::{Co, GenFuture};
use crate::os_error;

builtins! {
    "getEnv" => get_env, "pathExists" => path_exists, "readFile" => read_file,
    "readDir" => read_dir, "readFileType" => read_file_type, "toPath" => to_path,
}

/// `builtins.currentTime`: seconds since the epoch, taken once (a
/// constant of the builtins set, not a function).
pub(crate) fn current_time() -> Value {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Value::Int(secs)
}

/// `builtins.getEnv name`: the variable's value, or `""` when it is unset.
fn get_env(co: Co, [name]: [Value; 1]) -> GenFuture {
    sync(async move {
        let name = string_arg(&co, name).await?;
        if restricted(&co).await? {
            return Ok(Value::string(""));
        }
        let name = name.as_bytes();
        // Names the C library could never find (and the Rust standard
        // library rejects) are simply unset.
        if name.is_empty() || name.contains(&b'=') || name.contains(&0) {
            return Ok(Value::string(""));
        }
        let value = std::env::var_os(OsStr::from_bytes(name));
        Ok(Value::string(
            value.map(|v| v.as_bytes().to_vec()).unwrap_or_default(),
        ))
    })
}

/// The file-system path a value stands for, as C++ Nix's `coerceToPath`:
/// a path, a string, or a set with `__toString` or `outPath` (followed
/// iteratively); the result must be absolute. Strings are not normalised.
pub(super) async fn path_arg(co: &Co, v: Value) -> Result<PathBuf, ErrorKind> {
    let s = crate::eval::ops::coerce_no_copy(co, v).await?;
    let bytes = s.as_bytes();
    if !bytes.starts_with(b"/") {
        return Err(ErrorKind::Other(format!(
            "string '{}' doesn't represent an absolute path",
            String::from_utf8_lossy(bytes)
        )));
    }
    Ok(PathBuf::from(OsStr::from_bytes(bytes)))
}

/// `path`, if restricted evaluation allows reading it (its real path
/// then), else C++ Nix's error.
pub(crate) async fn allowed(co: &Co, path: PathBuf) -> Result<PathBuf, ErrorKind> {
    let v = crate::eval::vm::with_evaluator(
        co,
        Box::new(move |ev| {
            ev.check_source_path(&path)
                .map(|p| Value::Path(std::rc::Rc::new(p)))
        }),
    )
    .await?;
    match v {
        Value::Path(p) => Ok(p.as_ref().clone()),
        _ => Err(ErrorKind::Other("internal error: path check".into())),
    }
}

/// Whether file access is restricted (`getEnv` then answers `""`).
async fn restricted(co: &Co) -> Result<bool, ErrorKind> {
    let v = crate::eval::vm::with_evaluator(co, Box::new(|ev| Ok(Value::Bool(ev.is_restricted()))))
        .await?;
    Ok(matches!(v, Value::Bool(true)))
}

/// The name Nix gives a file type in `readDir` and `readFileType`.
fn type_name(t: FileType) -> &'static str {
    if t.is_file() {
        "regular"
    } else if t.is_dir() {
        "directory"
    } else if t.is_symlink() {
        "symlink"
    } else {
        "unknown"
    }
}

/// `builtins.pathExists p`: whether anything (even a dangling symlink)
/// is at `p`; `false` on any error looking.
fn path_exists(co: Co, [path]: [Value; 1]) -> GenFuture {
    sync(async move {
        let path = path_arg(&co, path).await?;
        // A path restricted evaluation may not read does not exist.
        let checked = crate::eval::vm::with_evaluator(
            &co,
            Box::new(move |ev| {
                Ok(ev
                    .check_source_path(&path)
                    .map_or(Value::Null, |p| Value::Path(std::rc::Rc::new(p))))
            }),
        )
        .await?;
        let Value::Path(path) = checked else {
            return Ok(Value::Bool(false));
        };
        Ok(Value::Bool(
            std::fs::symlink_metadata(path.as_path()).is_ok(),
        ))
    })
}

/// `builtins.readFile p`: the file's bytes (following symlinks). Like C++
/// Nix 2.8, contents with a NUL byte are refused.
fn read_file(co: Co, [path]: [Value; 1]) -> GenFuture {
    sync(async move {
        let path = allowed(&co, path_arg(&co, path).await?).await?;
        let mut file = std::fs::File::open(&path).map_err(|e| {
            ErrorKind::Other(format!(
                "opening file '{}': {}",
                path.display(),
                os_error::message(&e)
            ))
        })?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| {
            ErrorKind::Other(format!("reading from file: {}", os_error::message(&e)))
        })?;
        if bytes.contains(&0) {
            return Err(ErrorKind::Other(format!(
                "the contents of the file '{}' cannot be represented as a Nix string",
                path.display()
            )));
        }
        Ok(Value::string(bytes))
    })
}

/// `builtins.readDir p`: a set from each entry's name to its type,
/// `"regular"`, `"directory"`, `"symlink"` or `"unknown"` (symlinks are
/// not followed).
fn read_dir(co: Co, [path]: [Value; 1]) -> GenFuture {
    sync(async move {
        let path = allowed(&co, path_arg(&co, path).await?).await?;
        let entries = std::fs::read_dir(&path).map_err(|e| {
            ErrorKind::Other(format!(
                "opening directory '{}': {}",
                path.display(),
                os_error::message(&e)
            ))
        })?;
        let mut out = Attrs::new();
        for entry in entries {
            let entry = entry.map_err(|e| {
                ErrorKind::Other(format!(
                    "reading directory '{}': {}",
                    path.display(),
                    os_error::message(&e)
                ))
            })?;
            let kind = entry.file_type().map_err(|e| {
                ErrorKind::Other(format!(
                    "getting status of '{}': {}",
                    entry.path().display(),
                    os_error::message(&e)
                ))
            })?;
            out.insert(
                NixString::from(entry.file_name().as_bytes()),
                Value::string(type_name(kind)),
            );
        }
        Ok(Value::attrs(out))
    })
}

/// `builtins.readFileType p`: the type of `p` itself, as `readDir` names
/// it (a later Nix addition; C++ Nix 2.8 lacks it).
fn read_file_type(co: Co, [path]: [Value; 1]) -> GenFuture {
    sync(async move {
        let path = path_arg(&co, path).await?;
        allowed(&co, path.clone()).await?;
        let meta = std::fs::symlink_metadata(&path).map_err(|e| {
            ErrorKind::Other(format!(
                "getting status of '{}': {}",
                path.display(),
                os_error::message(&e)
            ))
        })?;
        Ok(Value::string(type_name(meta.file_type())))
    })
}

/// `builtins.toPath s` (deprecated): the absolute path `s` stands for,
/// normalised (`.`, `..` and repeated slashes removed), as a string.
fn to_path(co: Co, [path]: [Value; 1]) -> GenFuture {
    sync(async move {
        let path = path_arg(&co, path).await?;
        let canon = canonicalise(&path);
        Ok(Value::string(canon.as_os_str().as_bytes().to_vec()))
    })
}
