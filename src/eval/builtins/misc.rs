//! Smaller builtins: `floor` and `ceil`, the messages `warn` and
//! `traceVerbose`, `break`, and the fetchers, which need the network and a
//! store and so answer a clear error.

use super::core::{arg, string_arg, sync};
use crate::eval::error::ErrorKind;
use crate::eval::value::{NixString, Value};
use crate::eval::vm::{force, Co, GenFuture};

builtins! {
    "floor"/1 => floor, "ceil"/1 => ceil,
    "warn"/2 => warn, "break"/1 => break_, "traceVerbose"/2 => trace_verbose_off,
    #[global] "fetchTarball"/1 => fetch_tarball, "fetchurl"/1 => fetchurl,
    #[global] "fetchGit"/1 => fetch_git, #[global] "fetchMercurial"/1 => fetch_mercurial,
    #[global] "fetchTree"/1 => fetch_tree, "getFlake"/1 => get_flake,
    "unsafeGetAttrPos"/2 => unsafe_get_attr_pos,
}

/// `builtins.unsafeGetAttrPos name set`: `{ file; line; column; }` where
/// the attribute was defined, or `null` (no such attribute, or a set made
/// by a builtin).
fn unsafe_get_attr_pos(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let name = string_arg(&co, arg(&args, 0)).await?;
        let set = super::core::attrs_arg(&co, arg(&args, 1)).await?;
        if !set.contains_key(&name) {
            return Ok(Value::Null);
        }
        Ok(match set.pos_of(&name) {
            Some((source, offset)) => crate::eval::compiler::offset_attrs(&source, offset),
            None => Value::Null,
        })
    })
}

/// A number as C++ Nix's `forceFloat` takes it (an integer is converted).
async fn float_arg(co: &Co, v: Value) -> Result<f64, ErrorKind> {
    match force(co, v).await? {
        Value::Float(f) => Ok(f),
        Value::Int(i) => Ok(i as f64),
        other => Err(ErrorKind::type_error("a float", &other)),
    }
}

/// A whole float as an integer the way C++ Nix 2.8's conversion behaves
/// on x86-64: values out of range (and NaN) become the smallest integer.
fn to_int(x: f64) -> i64 {
    // -2^63 is exact as a float; 2^63 is the first value out of range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&x) {
        x as i64
    } else {
        i64::MIN
    }
}

/// `builtins.floor x`: the largest integer not above `x`.
fn floor(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        Ok(Value::Int(to_int(
            float_arg(&co, arg(&args, 0)).await?.floor(),
        )))
    })
}

/// `builtins.ceil x`: the smallest integer not below `x`.
fn ceil(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        Ok(Value::Int(to_int(
            float_arg(&co, arg(&args, 0)).await?.ceil(),
        )))
    })
}

/// The text newer C++ Nix prints for `builtins.warn msg`: continuation
/// lines line up under the message, unless the message starts on a new
/// line of its own.
pub(crate) fn warning_text(msg: &str) -> String {
    const PREFIX: &str = "evaluation warning:";
    if msg.starts_with('\n') {
        return format!("{PREFIX}{msg}");
    }
    let indent = " ".repeat(PREFIX.len() + 1);
    let mut out = format!("{PREFIX} ");
    for (i, line) in msg.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&indent);
            }
        }
        out.push_str(line);
    }
    out
}

/// `builtins.warn msg v` (newer Nix): prints `msg` (which must be a
/// string) as an evaluation warning, then returns `v`.
fn warn(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let msg = string_arg(&co, arg(&args, 0)).await?;
        crate::log::message(crate::log::Level::Warn, &warning_text(&msg.to_str_lossy()));
        force(&co, arg(&args, 1)).await
    })
}

/// `builtins.break v` (newer Nix): a breakpoint for the debugger, which
/// oxnix does not have; returns `v`.
fn break_(_co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move { Ok(arg(&args, 0)) })
}

/// `builtins.traceVerbose msg v` without `--trace-verbose`: just `v`.
fn trace_verbose_off(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move { force(&co, arg(&args, 1)).await })
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
        fn $f(co: Co, args: Vec<Value>) -> GenFuture {
            sync(async move { not_offline(co, $name, arg(&args, 0)).await })
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
fn fetch_tree_no_flakes(_co: Co, _args: Vec<Value>) -> GenFuture {
    sync(async move {
        Err(ErrorKind::Unlocated(
            "experimental Nix feature 'flakes' is disabled; use '--extra-experimental-features flakes' to override".into(),
        ))
    })
}

pub(crate) fn fetch_tree_no_flakes_spec() -> super::Spec {
    super::Spec {
        name: "fetchTree",
        arity: 1,
        func: fetch_tree_no_flakes,
        global: true,
    }
}

/// `builtins.traceVerbose` with `--trace-verbose`: `builtins.trace`.
pub(crate) fn trace_verbose_spec() -> super::Spec {
    let mut spec = super::core::specs()
        .into_iter()
        .find(|s| s.name == "trace")
        .unwrap_or(super::Spec {
            name: "trace",
            arity: 2,
            func: trace_verbose_off,
            global: false,
        });
    spec.name = "traceVerbose";
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_layout() {
        assert_eq!(
            warning_text("foo\nbar"),
            "evaluation warning: foo\n                    bar"
        );
        assert_eq!(warning_text("\nfoo\nbar"), "evaluation warning:\nfoo\nbar");
        assert_eq!(warning_text("x"), "evaluation warning: x");
    }

    #[test]
    fn float_to_int_like_cpp() {
        assert_eq!(to_int(23.0), 23);
        assert_eq!(to_int(-3.0), -3);
        assert_eq!(to_int(2f64.powi(63)), i64::MIN);
        assert_eq!(to_int(-(2f64.powi(63))), i64::MIN);
        assert_eq!(to_int(f64::NAN), i64::MIN);
        assert_eq!(to_int(f64::INFINITY), i64::MIN);
    }
}
