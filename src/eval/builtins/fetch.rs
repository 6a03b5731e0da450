//! The fetchers. `fetchurl` and `fetchTarball` download (through the
//! evaluator's I/O, which adds the result to the store) with C++ Nix
//! 2.8's arguments, checks and messages; `fetchGit`, `fetchMercurial`,
//! `fetchTree` and `getFlake` answer a clear error.

use crate::eval::error::ErrorKind;
use crate::eval::eval_io::{resolve_uri, FetchRequest};
use crate::eval::value::{NixString, Value};
use crate::eval::vm::{force, with_evaluator, Co, GenFuture};
use crate::hash::{Hash, HashAlgo, HashFormat};
use crate::store_path::IngestionMethod;

use super::args::{string_arg, sync};

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

fn fetchurl(co: Co, [args]: [Value; 1]) -> GenFuture {
    sync(async move { fetch(co, args, "fetchurl", false).await })
}

fn fetch_tarball(co: Co, [args]: [Value; 1]) -> GenFuture {
    sync(async move { fetch(co, args, "fetchTarball", true).await })
}

/// A string argument without context (C++ Nix's `forceStringNoCtx`).
async fn plain_string(co: &Co, v: Value) -> Result<String, ErrorKind> {
    let s = string_arg(co, v).await?;
    crate::eval::ops::no_context(&s)?;
    Ok(s.to_str_lossy().into_owned())
}

/// C++ Nix's `baseNameOf` on a URL: the last part, a trailing `/` aside.
fn base_name(url: &str) -> &str {
    let trimmed = match url.strip_suffix('/') {
        Some(t) if !t.is_empty() => t,
        _ => url,
    };
    match trimmed.rfind('/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    }
}

/// An expected SHA-256 hash in any of Nix's notations; an empty string
/// warns and stands for the zero hash (C++ Nix's `newHashAllowEmpty`).
fn expected_hash(text: &str) -> Result<Hash, ErrorKind> {
    if text.is_empty() {
        let zero = Hash::from_digest(HashAlgo::Sha256, &[0; 32])
            .ok_or_else(|| ErrorKind::Other("internal error: zero hash".into()))?;
        crate::log::warning(&format!(
            "found empty hash, assuming '{}'",
            zero.to_string_with(HashFormat::Sri)
        ));
        return Ok(zero);
    }
    Hash::parse_any(text, Some(HashAlgo::Sha256)).map_err(|e| ErrorKind::Other(e.to_string()))
}

/// `fetchurl` (`unpack` false: the file, flat, named after the URL) and
/// `fetchTarball` (`unpack` true: the tarball's one top-level entry,
/// named `source`), as C++ Nix 2.8's `fetch`: the store path as a string
/// with itself as context.
async fn fetch(co: Co, args: Value, who: &'static str, unpack: bool) -> Result<Value, ErrorKind> {
    let mut url = None;
    let mut expected = None;
    let mut name = None;
    match force(&co, args).await? {
        Value::Attrs(attrs) => {
            for (k, v) in attrs.iter() {
                match k.as_bytes() {
                    b"url" => url = Some(plain_string(&co, v.clone()).await?),
                    b"sha256" => {
                        expected = Some(expected_hash(&plain_string(&co, v.clone()).await?)?)
                    }
                    b"name" => name = Some(plain_string(&co, v.clone()).await?),
                    _ => {
                        return Err(ErrorKind::Other(format!(
                            "unsupported argument '{}' to '{who}'",
                            k.to_str_lossy()
                        )))
                    }
                }
            }
        }
        other => url = Some(plain_string(&co, other).await?),
    }
    let Some(url) = url else {
        return Err(ErrorKind::Other("'url' argument required".into()));
    };
    let url = resolve_uri(url);
    let name = match name {
        Some(n) if !n.is_empty() => n,
        _ if unpack => "source".to_owned(),
        _ => base_name(&url).to_owned(),
    };
    let request = FetchRequest { url, unpack, name };
    let v = with_evaluator(
        &co,
        Box::new(move |ev| {
            ev.check_uri(&request.url)?;
            if ev.config().pure_eval && expected.is_none() {
                return Err(ErrorKind::Other(format!(
                    "in pure evaluation mode, '{who}' requires a 'sha256' argument"
                )));
            }
            let store_dir = &ev.instantiation().store_dir;
            let method = if unpack {
                IngestionMethod::Recursive
            } else {
                IngestionMethod::Flat
            };
            // Already in the store under the hash given: not downloaded.
            let pinned = match &expected {
                Some(want) => {
                    let path = store_dir
                        .fixed_output_path(&request.name, method, want, &Default::default(), false)
                        .map_err(|e| ErrorKind::Other(e.to_string()))?;
                    let valid = ev
                        .io()
                        .is_valid_path(std::path::Path::new(&store_dir.print(&path)))
                        .map_err(ErrorKind::Other)?;
                    valid.then_some(path)
                }
                None => None,
            };
            let path = match pinned {
                Some(path) => path,
                None => {
                    let (path, got) = ev
                        .io()
                        .fetch(&request)
                        .map_err(|e| ErrorKind::Other(e.message()))?;
                    match &expected {
                        Some(want) if *want != got => {
                            return Err(ErrorKind::HashMismatch(format!(
                                "hash mismatch in file downloaded from '{}':\n         specified: {}\n         got:       {}",
                                request.url,
                                want.to_string_with(HashFormat::Nix32),
                                got.to_string_with(HashFormat::Nix32)
                            )))
                        }
                        _ => path,
                    }
                }
            };
            ev.allow_path(std::path::Path::new(&store_dir.print(&path)));
            Ok(super::context::store_string(store_dir, &path))
        }),
    )
    .await?;
    Ok(v)
}

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
