//! The argument helpers every builtin module uses: forcing an argument to
//! the type a builtin expects (with C++ Nix's type errors), and wrapping a
//! builtin's body as the future its generator runs.

use std::rc::Rc;

use crate::eval::error::ErrorKind;
use crate::eval::value::{AttrSet, List, NixString, Value};
use crate::eval::vm::{force, Co, GenFuture};

pub(super) fn sync(
    f: impl std::future::Future<Output = Result<Value, ErrorKind>> + 'static,
) -> GenFuture {
    Box::pin(f)
}

pub(super) fn arg(args: &[Value], i: usize) -> Value {
    args.get(i).cloned().unwrap_or(Value::Null)
}

pub(super) async fn int_arg(co: &Co, v: Value) -> Result<i64, ErrorKind> {
    match force(co, v).await? {
        Value::Int(i) => Ok(i),
        other => Err(ErrorKind::type_error("an integer", &other)),
    }
}

pub(super) async fn string_arg(co: &Co, v: Value) -> Result<NixString, ErrorKind> {
    match force(co, v).await? {
        Value::String(s) => Ok(s),
        other => Err(ErrorKind::type_error("a string", &other)),
    }
}

pub(super) async fn list_arg(co: &Co, v: Value) -> Result<Rc<List>, ErrorKind> {
    match force(co, v).await? {
        Value::List(l) => Ok(l),
        other => Err(ErrorKind::type_error("a list", &other)),
    }
}

pub(super) async fn attrs_arg(co: &Co, v: Value) -> Result<Rc<AttrSet>, ErrorKind> {
    match force(co, v).await? {
        Value::Attrs(a) => Ok(a),
        other => Err(ErrorKind::type_error("a set", &other)),
    }
}

pub(super) async fn bool_of(co: &Co, v: Value) -> Result<bool, ErrorKind> {
    match force(co, v).await? {
        Value::Bool(b) => Ok(b),
        other => Err(ErrorKind::type_error("a Boolean", &other)),
    }
}

/// Forces `v` and checks it can be called: a lambda, a builtin, or a set
/// with `__functor` (C++ Nix's `forceFunction`).
pub(super) async fn function_arg(co: &Co, v: Value) -> Result<Value, ErrorKind> {
    let f = force(co, v).await?;
    match &f {
        Value::Closure(_) | Value::Builtin(_) => Ok(f),
        Value::Attrs(a) if a.contains_key(&NixString::from("__functor")) => Ok(f),
        _ => Err(ErrorKind::type_error("a function", &f)),
    }
}
