//! The fetchers: `fetchurl`, `fetchTarball`, `fetchGit`, `fetchMercurial`,
//! `fetchTree` and `getFlake`, which need the network and a store and so
//! answer a clear error.

use crate::eval::error::ErrorKind;
use crate::eval::value::{NixString, Value};
use crate::eval::vm::{force, Co, GenFuture};

use super::args::sync;

builtins! {
    #[global] "fetchTarball" => fetch_tarball, "fetchurl" => fetchurl,
    #[global] "fetchGit" => fetch_git, #[global] "fetchMercurial" => fetch_mercurial,
    #[global] "fetchTree" => fetch_tree, "getFlake" => get_flake,
}

/// What a fetcher was asked to fetch, for the message: the argument when
/// it is a string, else its `url` (or `path`) attribute when that is one.
async fn fetch_target(co: &Co, v: Value) -> Result<Option<NixString>, ErrorKind> {
    match force(co, v).await? {
        Value::String(s) => Ok(Some(s)),
        Value::Path(p) => Ok(Some(NixString::from(p.display().to_string()))),
        Value::Attrs(a) => {
            for key in ["url", "path"] {
                if let Some(v) = a.get(&NixString::from(key)) {
                    if let Value::String(s) = force(co, v.clone()).await? {
                        return Ok(Some(s));
                    }
                }
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// The error every fetcher answers: fetching needs the network and a store.
async fn not_offline(co: Co, name: &str, v: Value) -> Result<Value, ErrorKind> {
    let what = match fetch_target(&co, v).await? {
        Some(s) => format!(" (fetching '{s}')"),
        None => String::new(),
    };
    Err(ErrorKind::Other(format!(
        "builtins.{name} is not supported offline by oxnix{what}"
    )))
}

macro_rules! fetcher {
    ($f:ident, $name:literal) => {
        fn $f(co: Co, [target]: [Value; 1]) -> GenFuture {
            sync(async move { not_offline(co, $name, target).await })
        }
    };
}

fetcher!(fetchurl, "fetchurl");
fetcher!(fetch_tarball, "fetchTarball");
fetcher!(fetch_git, "fetchGit");
fetcher!(fetch_mercurial, "fetchMercurial");
fetcher!(fetch_tree, "fetchTree");
fetcher!(get_flake, "getFlake");

/// `builtins.fetchTree` without the experimental feature `flakes`, as in
/// C++ Nix 2.8.
fn fetch_tree_no_flakes(_co: Co, [_target]: [Value; 1]) -> GenFuture {
    sync(async move {
        Err(ErrorKind::Unlocated(
            "experimental Nix feature 'flakes' is disabled; use '--extra-experimental-features flakes' to override".into(),
        ))
    })
}

pub(crate) fn fetch_tree_no_flakes_spec() -> super::args::Spec {
    spec!(#[global] "fetchTree" => fetch_tree_no_flakes)
}
