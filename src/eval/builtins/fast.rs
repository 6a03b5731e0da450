//! Synchronous fast paths of common builtins. When the arguments a builtin
//! needs are already evaluated and the call cannot fail, the VM takes the
//! result from here without starting a generator or pushing a frame. Any
//! other case (a thunk to force, an error to report) answers `None` and
//! the builtin's generator runs as usual, so behaviour and messages are
//! defined in one place: the generator.

use super::FastFn;
use crate::eval::value::{List, Thunk, Value};

/// The fast path of builtin `name`, if it has one.
pub fn for_builtin(name: &str) -> Option<FastFn> {
    Some(match name {
        "toString" => to_string,
        "stringLength" => string_length,
        "length" => length,
        "head" => head,
        "elemAt" => elem_at,
        "typeOf" => type_of,
        "isNull" => |a| is(a, |v| matches!(v, Value::Null)),
        "isInt" => |a| is(a, |v| matches!(v, Value::Int(_))),
        "isFloat" => |a| is(a, |v| matches!(v, Value::Float(_))),
        "isBool" => |a| is(a, |v| matches!(v, Value::Bool(_))),
        "isString" => |a| is(a, |v| matches!(v, Value::String(_))),
        "isList" => |a| is(a, |v| matches!(v, Value::List(_))),
        "isAttrs" => |a| is(a, |v| matches!(v, Value::Attrs(_))),
        "isFunction" => |a| is(a, |v| matches!(v, Value::Closure(_) | Value::Builtin(_))),
        "isPath" => |a| is(a, |v| matches!(v, Value::Path(_))),
        "attrNames" => attr_names,
        "attrValues" => attr_values,
        "hasAttr" => has_attr,
        "getAttr" => get_attr,
        "concatStringsSep" => concat_strings_sep,
        "map" => map,
        "genList" => gen_list,
        _ => return None,
    })
}

/// The value of `v` if it is evaluated.
fn ready(v: &Value) -> Option<Value> {
    v.is_evaluated().then(|| v.resolved())
}

fn is(args: &[Value], pred: fn(&Value) -> bool) -> Option<Value> {
    Some(Value::Bool(pred(&ready(args.first()?)?)))
}

fn to_string(args: &[Value]) -> Option<Value> {
    match ready(args.first()?)? {
        s @ Value::String(_) => Some(s),
        Value::Int(i) => Some(Value::string(i.to_string())),
        _ => None,
    }
}

fn string_length(args: &[Value]) -> Option<Value> {
    match ready(args.first()?)? {
        Value::String(s) => Some(Value::Int(s.len() as i64)),
        _ => None,
    }
}

fn length(args: &[Value]) -> Option<Value> {
    match ready(args.first()?)? {
        Value::List(l) => Some(Value::Int(l.len() as i64)),
        _ => None,
    }
}

fn head(args: &[Value]) -> Option<Value> {
    match ready(args.first()?)? {
        Value::List(l) => l.front().cloned(),
        _ => None,
    }
}

fn elem_at(args: &[Value]) -> Option<Value> {
    match (ready(args.first()?)?, ready(args.get(1)?)?) {
        (Value::List(l), Value::Int(i)) => l.get(usize::try_from(i).ok()?).cloned(),
        _ => None,
    }
}

fn type_of(args: &[Value]) -> Option<Value> {
    Some(Value::string(ready(args.first()?)?.type_name()))
}

fn attr_names(args: &[Value]) -> Option<Value> {
    match ready(args.first()?)? {
        Value::Attrs(a) => Some(Value::list(
            a.keys().map(|k| Value::String(k.clone())).collect(),
        )),
        _ => None,
    }
}

fn attr_values(args: &[Value]) -> Option<Value> {
    match ready(args.first()?)? {
        Value::Attrs(a) => Some(Value::list(a.values().cloned().collect())),
        _ => None,
    }
}

fn has_attr(args: &[Value]) -> Option<Value> {
    match (ready(args.first()?)?, ready(args.get(1)?)?) {
        (Value::String(k), Value::Attrs(a)) => Some(Value::Bool(a.contains_key(&k))),
        _ => None,
    }
}

fn get_attr(args: &[Value]) -> Option<Value> {
    match (ready(args.first()?)?, ready(args.get(1)?)?) {
        (Value::String(k), Value::Attrs(a)) => a.get(&k).cloned(),
        _ => None,
    }
}

fn concat_strings_sep(args: &[Value]) -> Option<Value> {
    let (Value::String(sep), Value::List(l)) = (ready(args.first()?)?, ready(args.get(1)?)?) else {
        return None;
    };
    if sep.has_context() {
        return None;
    }
    let mut out = Vec::new();
    for (i, x) in l.iter().enumerate() {
        let Value::String(s) = ready(x)? else {
            return None;
        };
        if s.has_context() {
            return None;
        }
        if i > 0 {
            out.extend_from_slice(sep.as_bytes());
        }
        out.extend_from_slice(s.as_bytes());
    }
    Some(Value::string(out))
}

fn map(args: &[Value]) -> Option<Value> {
    let f = args.first()?;
    match ready(args.get(1)?)? {
        Value::List(l) => Some(Value::list(
            l.iter()
                .map(|x| Value::Thunk(Thunk::apply(f.clone(), x.clone())))
                .collect::<List>(),
        )),
        _ => None,
    }
}

fn gen_list(args: &[Value]) -> Option<Value> {
    let f = args.first()?;
    match ready(args.get(1)?)? {
        Value::Int(n) if n >= 0 => Some(Value::list(
            (0..n)
                .map(|i| Value::Thunk(Thunk::apply(f.clone(), Value::Int(i))))
                .collect::<List>(),
        )),
        _ => None,
    }
}
