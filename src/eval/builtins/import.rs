//! Loading other files: `import`, `scopedImport`, and `findFile`, the
//! search-path lookup behind `<name>`.

use std::rc::Rc;

use super::args::{attrs_arg, list_arg, name_arg, string_arg, sync};
use super::io::path_with_realised_context;
use crate::eval::error::ErrorKind;
use crate::eval::ops::{coerce_to_string, Coercion};
use crate::eval::value::{NixString, Value};
use crate::eval::vm::{Co, GenFuture, Request, Response};

builtins! {
    #[global] "import" => import, #[global] "scopedImport" => scoped_import,
    "findFile" => find_file,
}

fn import(co: Co, [path]: [Value; 1]) -> GenFuture {
    sync(async move {
        let path = path_with_realised_context(&co, path).await?;
        match co.yield_(Request::Import(path)).await {
            Response::Value(v) => Ok(v),
            Response::Error(e) => Err(e),
        }
    })
}

fn scoped_import(co: Co, [attrs, path]: [Value; 2]) -> GenFuture {
    sync(async move {
        let attrs = attrs_arg(&co, attrs).await?;
        let path = path_with_realised_context(&co, path).await?;
        match co.yield_(Request::ScopedImport(attrs, path)).await {
            Response::Value(v) => Ok(v),
            Response::Error(e) => Err(e),
        }
    })
}

/// `builtins.findFile searchPath "a/b"`: the first entry whose prefix
/// matches and under which the rest exists (`<a/b>` lookups).
fn find_file(co: Co, [entries, wanted]: [Value; 2]) -> GenFuture {
    sync(async move {
        let entries = list_arg(&co, entries).await?;
        let wanted = name_arg(&co, wanted).await?.to_string();
        for e in entries.iter() {
            let e = attrs_arg(&co, e.clone()).await?;
            let get = |k: &str| e.get(&NixString::from(k)).cloned();
            let prefix = match get("prefix") {
                Some(p) => string_arg(&co, p).await?.to_string(),
                None => String::new(),
            };
            let path = match get("path") {
                Some(p) => coerce_to_string(&co, p, Coercion::ToString).await?,
                None => {
                    return Err(ErrorKind::AttributeMissing {
                        name: "path".into(),
                        hint: String::new(),
                    })
                }
            };
            let mut path = path.to_str_lossy().into_owned();
            let rest = if prefix.is_empty() {
                Some(wanted.as_str())
            } else if wanted == prefix {
                Some("")
            } else {
                wanted.strip_prefix(&format!("{prefix}/"))
            };
            let Some(rest) = rest else { continue };
            if crate::eval::eval_io::is_uri(&path) {
                // A tarball to download (once), then searched as a path.
                match search_path_download(&co, path.clone()).await? {
                    Some(p) => path = p,
                    None => continue,
                }
            }
            // A relative entry is relative to the working directory.
            let base = std::path::absolute(&path).unwrap_or_else(|_| path.clone().into());
            let candidate = if rest.is_empty() {
                base.clone()
            } else {
                base.join(rest)
            };
            if !rest.is_empty() || prefix.is_empty() || wanted == prefix {
                // C++ Nix warns about an entry that is not there.
                if !path.contains("://") && !path.is_empty() && !exists(&co, base.clone()).await? {
                    crate::eval::config::warn_missing_entry(std::path::Path::new(&path));
                    continue;
                }
            }
            let found_here = crate::eval::vm::with_evaluator(&co, {
                let candidate = candidate.clone();
                Box::new(move |ev| Ok(Value::Bool(ev.io().stat(&candidate).is_ok())))
            })
            .await?;
            if matches!(found_here, Value::Bool(true)) {
                let found = crate::eval::paths::canonicalise(&candidate);
                let found = super::io::allowed(&co, found).await?;
                return Ok(Value::Path(Rc::new(found)));
            }
        }
        // `<nix/x>` falls back to C++ Nix 2.8's built-in files.
        if let Some(rest) = wanted.strip_prefix("nix/") {
            let path = format!("{}/{rest}", crate::eval::config::COREPKGS);
            return Ok(Value::Path(Rc::new(std::path::PathBuf::from(path))));
        }
        let pure = crate::eval::vm::with_evaluator(
            &co,
            Box::new(|ev| Ok(Value::Bool(ev.config().pure_eval))),
        )
        .await?;
        if matches!(pure, Value::Bool(true)) {
            return Err(ErrorKind::Throw(format!(
                "cannot look up '<{wanted}>' in pure evaluation mode (use '--impure' to override)"
            )));
        }
        // Catchable by `tryEval`, as in newer Nix.
        Err(ErrorKind::Throw(format!(
            "file '{wanted}' was not found in the Nix search path (add it using $NIX_PATH or -I)"
        )))
    })
}

/// The store path a URL entry of the search path unpacks to (C++ Nix's
/// `resolveSearchPathElem`: a tarball named `source`, readable in
/// restricted evaluation), or `None` after a warning when it cannot be
/// downloaded.
async fn search_path_download(co: &Co, entry: String) -> Result<Option<String>, ErrorKind> {
    use crate::eval::eval_io::{FetchFailure, FetchRequest};
    let v = crate::eval::vm::with_evaluator(
        co,
        Box::new(
            move |ev| match ev.io().fetch(&FetchRequest::source_tarball(&entry)) {
                Ok((path, _)) => {
                    let printed = ev.instantiation().store_dir.print(&path);
                    ev.allow_path(std::path::Path::new(&printed));
                    Ok(Value::string(printed))
                }
                Err(FetchFailure::Download(_)) => {
                    crate::log::warning(&format!(
                        "Nix search path entry '{entry}' cannot be downloaded, ignoring"
                    ));
                    Ok(Value::Null)
                }
                Err(FetchFailure::Other(m)) => Err(ErrorKind::Other(m)),
            },
        ),
    )
    .await?;
    Ok(match v {
        Value::String(s) => Some(s.to_str_lossy().into_owned()),
        _ => None,
    })
}

/// Whether anything is at `path` (symlinks not followed), as the
/// evaluator's I/O sees it.
async fn exists(co: &Co, path: std::path::PathBuf) -> Result<bool, ErrorKind> {
    let v = crate::eval::vm::with_evaluator(
        co,
        Box::new(move |ev| Ok(Value::Bool(ev.io().lstat(&path).is_ok()))),
    )
    .await?;
    Ok(matches!(v, Value::Bool(true)))
}
