//! Builtin functions. Each is an async function of a [`Co`] and its
//! arguments, run by the VM as a generator so it can force values and call
//! functions without recursing in Rust. [`Builtin`] values carry their
//! arguments until all are supplied.

/// Declares a module's builtins, `"name" => function`, and defines the
/// module's `specs()`. Each entry is a [`spec!`]: `#[global]` marks those
/// also visible without `builtins.`, `#[fast(path)]` attaches a fast path,
/// `#[strict_last]` marks one that forces its last argument before anything
/// else (so the VM may force it first, for the fast path to answer).
macro_rules! builtins {
    ($( $(#[$($attr:tt)*])* $name:literal => $f:ident ),* $(,)?) => {
        pub(super) fn specs() -> Vec<$crate::eval::builtins::args::Spec> {
            vec![$( spec!($(#[$($attr)*])* $name => $f) ),*]
        }
    };
}

/// The table entry of one builtin: `spec!(#[global] #[fast(fast_fn)]
/// #[strict_last] "name" => function)`, all attributes optional. The
/// function takes its arguments as an array, `fn(Co, [Value; N]) ->
/// GenFuture`, and that `N` is the builtin's arity; a fast path,
/// `fn(&[Value; N]) -> Option<Value>`, must take as many (checked when
/// compiling).
macro_rules! spec {
    ($(#[$($attr:tt)*])* $name:literal => $f:path) => {
        spec!(@attrs [$name, $f, false, None, false] $([$($attr)*])*)
    };
    (@attrs [$name:literal, $f:path, $global:expr, $fast:expr, $strict:expr] [global] $($rest:tt)*) => {
        spec!(@attrs [$name, $f, true, $fast, $strict] $($rest)*)
    };
    (@attrs [$name:literal, $f:path, $global:expr, $fast:expr, $strict:expr] [strict_last] $($rest:tt)*) => {
        spec!(@attrs [$name, $f, $global, $fast, true] $($rest)*)
    };
    (@attrs [$name:literal, $f:path, $global:expr, $fast:expr, $strict:expr] [fast($fast_fn:path)] $($rest:tt)*) => {
        spec!(@attrs [$name, $f, $global, Some(
            (|args| $crate::eval::builtins::args::fast_with($f, $fast_fn, args))
                as $crate::eval::value::FastFn
        ), $strict] $($rest)*)
    };
    (@attrs [$name:literal, $f:path, $global:expr, $fast:expr, $strict:expr]) => {
        $crate::eval::builtins::args::Spec {
            name: $name,
            arity: $crate::eval::builtins::args::arity($f),
            func: |co, args| $crate::eval::builtins::args::call_with($f, co, args),
            fast: $fast,
            strict_last: $strict,
            global: $global,
        }
    };
}

mod args;
mod context;
mod control;
mod derivation;
mod fast;
mod fetch;
mod flake;
mod flake_ref;
mod hashing;
mod import;
mod io;
pub(crate) use io::io_error;
mod json;
mod lists;
mod numbers;
mod regex;
mod sets;
mod strings;
mod toml;
mod types;
mod versions;

pub use self::control::deep_force;
pub(crate) use self::io::current_time;
pub(crate) use self::json::to_json_bytes;

use std::rc::Rc;

use super::value::{Builtin, Value};

pub(crate) use self::args::attrs_from;
pub use self::args::Spec;
pub use crate::eval::host::BuiltinFn;
pub use crate::eval::value::FastFn;

/// Every builtin function.
pub fn specs() -> Vec<Spec> {
    let mut v = types::specs();
    v.extend(numbers::specs());
    v.extend(control::specs());
    v.extend(lists::specs());
    v.extend(sets::specs());
    v.extend(strings::specs());
    v.extend(regex::specs());
    v.extend(versions::specs());
    v.extend(json::specs());
    v.extend(import::specs());
    v.extend(io::specs());
    v.extend(hashing::specs());
    v.extend(fetch::specs());
    v.extend(toml::specs());
    v.extend(flake::specs());
    v.extend(context::specs());
    v.extend(derivation::specs());
    v
}

/// Every builtin function, as an evaluation's settings choose them:
/// `traceVerbose` (newer Nix; C++ Nix 2.8 has none) exists only with
/// `--trace-verbose`, and traces; `getFlake` exists only with the
/// experimental feature `flakes` (as in C++ Nix 2.8), without which
/// `fetchTree` fails; `fromTOML` reads dates and times with the
/// experimental feature `parse-toml-timestamps`.
pub fn configured_specs(config: &super::config::EvalConfig) -> Vec<Spec> {
    specs()
        .into_iter()
        .filter_map(|spec| match spec.name {
            "traceVerbose" if config.trace_verbose => Some(control::trace_verbose_spec()),
            "traceVerbose" => None,
            "getFlake" if !config.has_feature("flakes") => None,
            "fetchTree" if !config.has_feature("flakes") => {
                Some(fetch::fetch_tree_no_flakes_spec())
            }
            "fromTOML" if config.has_feature("parse-toml-timestamps") => {
                Some(toml::from_toml_timestamps_spec())
            }
            _ => Some(spec),
        })
        .collect()
}

/// The value of builtin `spec`, registered with the evaluator as `id`.
pub fn value_of(spec: &Spec, id: u32) -> Value {
    Value::Builtin(Rc::new(Builtin {
        name: spec.name,
        arity: spec.arity,
        id,
        fast: spec.fast,
        strict_last: spec.strict_last,
        args: super::value::PartialArgs::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The builtins that have a fast path, with their arities.
    const FAST: [(&str, usize); 33] = [
        ("toString", 1),
        ("stringLength", 1),
        ("length", 1),
        ("head", 1),
        ("elemAt", 2),
        ("typeOf", 1),
        ("isNull", 1),
        ("isInt", 1),
        ("isFloat", 1),
        ("isBool", 1),
        ("isString", 1),
        ("isList", 1),
        ("isAttrs", 1),
        ("isFunction", 1),
        ("isPath", 1),
        ("attrNames", 1),
        ("attrValues", 1),
        ("hasAttr", 2),
        ("getAttr", 2),
        ("concatStringsSep", 2),
        ("map", 2),
        ("genList", 2),
        ("functionArgs", 1),
        ("mapAttrs", 2),
        ("removeAttrs", 2),
        ("intersectAttrs", 2),
        ("listToAttrs", 1),
        ("elem", 2),
        ("substring", 3),
        ("placeholder", 1),
        ("hashString", 2),
        ("parseDrvName", 1),
        ("baseNameOf", 1),
    ];

    /// Every fast path is attached to the builtin it is for, with that
    /// builtin's arity, and to no other; given another number of
    /// arguments, it declines.
    #[test]
    fn fast_paths_belong_to_their_builtins() {
        let specs = specs();
        for (name, arity) in FAST {
            let spec = specs.iter().find(|s| s.name == name);
            let spec = spec.unwrap_or_else(|| panic!("no builtin {name}"));
            assert_eq!(spec.arity, arity, "arity of {name}");
            assert!(spec.fast.is_some(), "{name} has no fast path");
        }
        for spec in &specs {
            let Some(fast) = spec.fast else { continue };
            assert!(
                FAST.iter().any(|&(name, _)| name == spec.name),
                "unexpected fast path on {}",
                spec.name
            );
            let too_many = vec![Value::Null; spec.arity + 1];
            assert!(fast(&too_many).is_none(), "{} took too many", spec.name);
            if let Some(fewer) = spec.arity.checked_sub(1) {
                assert!(
                    fast(&too_many[..fewer]).is_none(),
                    "{} took too few",
                    spec.name
                );
            }
        }
    }

    /// Builtin names are unique, and those a configuration replaces keep
    /// their arity and visibility.
    #[test]
    fn configured_builtins_match_the_table() {
        let specs = specs();
        let mut names: Vec<_> = specs.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), specs.len(), "a builtin is declared twice");
        for replacement in [
            control::trace_verbose_spec(),
            fetch::fetch_tree_no_flakes_spec(),
            toml::from_toml_timestamps_spec(),
        ] {
            let spec = specs.iter().find(|s| s.name == replacement.name);
            let spec = spec.unwrap_or_else(|| panic!("no builtin {}", replacement.name));
            assert_eq!(spec.arity, replacement.arity, "{}", spec.name);
            assert_eq!(spec.global, replacement.global, "{}", spec.name);
        }
    }
}
