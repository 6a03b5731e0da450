//! Builtins that read the environment and the file system: `getEnv`,
//! `pathExists`, `readFile`, `readDir`, `readFileType`, `toPath`, and the
//! `currentTime` constant, with C++ Nix 2.8's behaviour and messages.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::args::{string_arg, sync};
use crate::eval::error::ErrorKind;
use crate::eval::eval_io::EvalIo;
use crate::eval::paths::canonicalise;
use crate::eval::value::{Attrs, Context, NixString, Value};
use crate::eval::vm::{Co, GenFuture};
use crate::os_error;
use crate::store_path::{StoreDir, StorePath};

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
        crate::eval::ops::no_context(&name)?;
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
    Ok(path_arg_with_context(co, v).await?.0)
}

/// [`path_arg`] and the string's context.
async fn path_arg_with_context(co: &Co, v: Value) -> Result<(PathBuf, Option<Context>), ErrorKind> {
    let s = crate::eval::ops::coerce_no_copy(co, v).await?;
    let bytes = s.as_bytes();
    if !bytes.starts_with(b"/") {
        return Err(ErrorKind::Other(format!(
            "string '{}' doesn't represent an absolute path",
            String::from_utf8_lossy(bytes)
        )));
    }
    let context = s.context().cloned();
    Ok((PathBuf::from(OsStr::from_bytes(bytes)), context))
}

/// C++ Nix's `realisePath`: the path a value stands for, with the store
/// paths of its context made valid (or an error), checked against
/// restricted evaluation (its real path then).
pub(crate) async fn realised_path(co: &Co, v: Value) -> Result<PathBuf, ErrorKind> {
    let (path, context) = path_arg_with_context(co, v).await?;
    checked_path(co, path, context).await
}

/// The path a value stands for, with the store paths of its context made
/// valid (or an error); restricted evaluation is checked by the caller.
pub(crate) async fn path_with_realised_context(co: &Co, v: Value) -> Result<PathBuf, ErrorKind> {
    let (path, context) = path_arg_with_context(co, v).await?;
    if let Some(context) = context {
        crate::eval::vm::with_evaluator(
            co,
            Box::new(move |ev| ev.realise_context(&context).map(|()| Value::Null)),
        )
        .await?;
    }
    Ok(path)
}

/// `path`, if restricted evaluation allows reading it (its real path
/// then), else C++ Nix's error.
pub(crate) async fn allowed(co: &Co, path: PathBuf) -> Result<PathBuf, ErrorKind> {
    checked_path(co, path, None).await
}

/// `path` after realising `context` (if any), checked against restricted
/// evaluation (its real path then).
async fn checked_path(
    co: &Co,
    path: PathBuf,
    context: Option<Context>,
) -> Result<PathBuf, ErrorKind> {
    let v = crate::eval::vm::with_evaluator(
        co,
        Box::new(move |ev| {
            if let Some(c) = &context {
                ev.realise_context(c)?;
            }
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

/// Runs `f` with the evaluator's I/O (files, and the store behind them).
pub(crate) async fn with_io(
    co: &Co,
    f: impl FnOnce(&dyn EvalIo) -> Result<Value, ErrorKind> + 'static,
) -> Result<Value, ErrorKind> {
    crate::eval::vm::with_evaluator(co, Box::new(move |ev| f(ev.io()))).await
}

/// Runs `f` with the evaluator's I/O and hands back its result.
pub(crate) async fn io_call<T: 'static>(
    co: &Co,
    f: impl FnOnce(&dyn EvalIo) -> T + 'static,
) -> Result<T, ErrorKind> {
    let slot = std::rc::Rc::new(std::cell::RefCell::new(None));
    let out = slot.clone();
    crate::eval::vm::with_evaluator(
        co,
        Box::new(move |ev| {
            *out.borrow_mut() = Some(f(ev.io()));
            Ok(Value::Null)
        }),
    )
    .await?;
    let result = slot.borrow_mut().take();
    result.ok_or_else(|| ErrorKind::Other("internal error: I/O call".into()))
}

/// C++ Nix's wording of a failed file operation: `opening file '…': …`.
pub(crate) fn io_error(what: &str, path: &Path, e: &std::io::Error) -> ErrorKind {
    ErrorKind::Other(format!(
        "{what} '{}': {}",
        path.display(),
        os_error::message(e)
    ))
}

/// `builtins.pathExists p`: whether anything (even a dangling symlink)
/// is at `p`; `false` on any error looking.
fn path_exists(co: Co, [path]: [Value; 1]) -> GenFuture {
    sync(async move {
        let (path, context) = path_arg_with_context(&co, path).await?;
        // A path restricted evaluation may not read does not exist.
        with_io_and_evaluator(&co, move |ev| {
            if let Some(c) = &context {
                ev.realise_context(c)?;
            }
            let Ok(path) = ev.check_source_path(&path) else {
                return Ok(Value::Bool(false));
            };
            Ok(Value::Bool(ev.io().lstat(&path).is_ok()))
        })
        .await
    })
}

/// Runs `f` with the evaluator.
async fn with_io_and_evaluator(
    co: &Co,
    f: impl FnOnce(&dyn crate::eval::host::Host) -> Result<Value, ErrorKind> + 'static,
) -> Result<Value, ErrorKind> {
    crate::eval::vm::with_evaluator(co, Box::new(f)).await
}

/// `builtins.readFile p`: the file's bytes (following symlinks). Like C++
/// Nix 2.8, contents with a NUL byte are refused. The string's context is
/// the references of the store path read, if it is one.
fn read_file(co: Co, [path]: [Value; 1]) -> GenFuture {
    sync(async move {
        let path = realised_path(&co, path).await?;
        with_io_and_evaluator(&co, move |ev| {
            let io = ev.io();
            let bytes = io.read_file(&path).map_err(|e| {
                // C++ Nix opens a directory and fails reading it.
                if e.kind() == std::io::ErrorKind::IsADirectory {
                    ErrorKind::Other(format!("reading from file: {}", os_error::message(&e)))
                } else {
                    io_error("opening file", &path, &e)
                }
            })?;
            if bytes.contains(&0) {
                return Err(ErrorKind::Other(format!(
                    "the contents of the file '{}' cannot be represented as a Nix string",
                    path.display()
                )));
            }
            let store_dir = &ev.instantiation().store_dir;
            let refs = match store_path_containing(store_dir, &path) {
                Some(sp) => io.references(&sp).ok().flatten().unwrap_or_default(),
                None => Default::default(),
            };
            if refs.is_empty() {
                return Ok(Value::string(bytes));
            }
            let context: Context = refs.iter().map(|r| store_dir.print(r).into()).collect();
            Ok(Value::String(NixString::with_context(bytes, context)))
        })
        .await
    })
}

/// The store path `path` is in (the path itself or below it), if any.
pub(crate) fn store_path_containing(store_dir: &StoreDir, path: &Path) -> Option<StorePath> {
    let text = path.to_str()?;
    let rest = text.strip_prefix(store_dir.as_str())?.strip_prefix('/')?;
    let base = rest.split('/').next()?;
    store_dir
        .parse_path(&format!("{}/{base}", store_dir.as_str()))
        .ok()
}

/// `builtins.readDir p`: a set from each entry's name to its type,
/// `"regular"`, `"directory"`, `"symlink"` or `"unknown"` (symlinks are
/// not followed).
fn read_dir(co: Co, [path]: [Value; 1]) -> GenFuture {
    sync(async move {
        let path = realised_path(&co, path).await?;
        with_io(&co, move |io| {
            let entries = io
                .read_dir(&path)
                .map_err(|e| io_error("opening directory", &path, &e))?;
            let mut out = Attrs::new();
            for (name, kind) in entries {
                out.insert(
                    NixString::from(name.as_slice()),
                    Value::string(kind.type_name()),
                );
            }
            Ok(Value::attrs(out))
        })
        .await
    })
}

/// `builtins.readFileType p`: the type of `p` itself, as `readDir` names
/// it (a later Nix addition; C++ Nix 2.8 lacks it).
fn read_file_type(co: Co, [path]: [Value; 1]) -> GenFuture {
    sync(async move {
        let (path, context) = path_arg_with_context(&co, path).await?;
        with_io_and_evaluator(&co, move |ev| {
            if let Some(c) = &context {
                ev.realise_context(c)?;
            }
            ev.check_source_path(&path)?;
            let kind = ev
                .io()
                .lstat(&path)
                .map_err(|e| io_error("getting status of", &path, &e))?;
            Ok(Value::string(kind.type_name()))
        })
        .await
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
