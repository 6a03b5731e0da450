//! What every builtin module uses: the table entry of a builtin
//! ([`Spec`]), forcing an argument to the type a builtin expects (with C++
//! Nix's type errors), wrapping a builtin's body as the future its
//! generator runs, and building small result sets.

use crate::eval::counted::Counted;
use crate::eval::error::ErrorKind;
use crate::eval::host::BuiltinFn;
use crate::eval::value::{AttrSet, Attrs, FastFn, List, NixString, Value};
use crate::eval::vm::{force, Co, GenFuture};

/// A builtin's body as the future its generator runs.
pub(super) fn sync(
    f: impl std::future::Future<Output = Result<Value, ErrorKind>> + 'static,
) -> GenFuture {
    Box::pin(f)
}

/// The arity of a builtin: the length of its argument array.
pub(super) const fn arity<const N: usize>(_: fn(Co, [Value; N]) -> GenFuture) -> usize {
    N
}

/// Calls builtin `f` with the arguments the VM collected, as the array it
/// takes. The VM collects exactly as many as the arity (taken from the
/// same array), so the error is for a bug, not for Nix code.
pub(super) fn call_with<const N: usize>(
    f: fn(Co, [Value; N]) -> GenFuture,
    co: Co,
    args: Vec<Value>,
) -> GenFuture {
    match <[Value; N]>::try_from(args) {
        Ok(args) => f(co, args),
        Err(args) => {
            let given = args.len();
            sync(async move {
                Err(ErrorKind::Other(format!(
                    "internal error: a builtin taking {N} arguments was given {given}"
                )))
            })
        }
    }
}

/// Runs fast path `fast` of builtin `_f` (which must take as many
/// arguments) on the collected arguments; `None` (run the builtin) when
/// there are not exactly that many.
pub(super) fn fast_with<const N: usize>(
    _f: fn(Co, [Value; N]) -> GenFuture,
    fast: fn(&[Value; N]) -> Option<Value>,
    args: &[Value],
) -> Option<Value> {
    fast(<&[Value; N]>::try_from(args).ok()?)
}

/// Defines `$name(co, v)`: the contents of `v`, forced, when it is a
/// `Value::$variant`; else C++ Nix's type error, expecting `$what`.
macro_rules! typed_arg {
    ($name:ident -> $t:ty, $variant:ident, $what:literal) => {
        pub(super) async fn $name(co: &Co, v: Value) -> Result<$t, ErrorKind> {
            match force(co, v).await? {
                Value::$variant(x) => Ok(x),
                other => Err(ErrorKind::type_error($what, &other)),
            }
        }
    };
}

typed_arg!(int_arg -> i64, Int, "an integer");
typed_arg!(string_arg -> NixString, String, "a string");
typed_arg!(list_arg -> Counted<List>, List, "a list");
typed_arg!(attrs_arg -> Counted<AttrSet>, Attrs, "a set");
typed_arg!(bool_of -> bool, Bool, "a Boolean");

/// Forces `v` and checks it can be called: a lambda, a builtin, or a set
/// with `__functor` (C++ Nix's `forceFunction`).
pub(super) async fn function_arg(co: &Co, v: Value) -> Result<Value, ErrorKind> {
    let f = force(co, v).await?;
    match &f {
        Value::Closure(_) | Value::Builtin(_) => Ok(f),
        Value::Attrs(a) if a.get_bytes(b"__functor").is_some() => Ok(f),
        _ => Err(ErrorKind::type_error("a function", &f)),
    }
}

/// One entry of the builtins table.
pub struct Spec {
    pub name: &'static str,
    pub arity: usize,
    pub func: BuiltinFn,
    /// The synchronous fast path, if it has one.
    pub fast: Option<FastFn>,
    /// Whether it forces its last argument before anything else.
    pub strict_last: bool,
    /// Also visible without `builtins.` (like `map`, `toString`).
    pub global: bool,
}

/// A set of the given attributes.
pub(crate) fn attrs_from(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
    let mut a = Attrs::new();
    for (k, v) in pairs {
        a.insert(NixString::from(k), v);
    }
    Value::attrs(a)
}

/// A string argument that is a plain name: one with context is an error
/// (attribute names, as C++ Nix's `forceStringNoCtx`).
pub(super) async fn name_arg(co: &Co, v: Value) -> Result<NixString, ErrorKind> {
    let s = string_arg(co, v).await?;
    crate::eval::ops::no_context(&s)?;
    Ok(s)
}
