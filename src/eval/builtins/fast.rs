//! Synchronous fast paths of common builtins. When the arguments a builtin
//! needs are already evaluated and the call cannot fail, the VM takes the
//! result from here without starting a generator or pushing a frame. Any
//! other case (a thunk to force, an error to report) answers `None` and
//! the builtin's generator runs as usual, so behaviour and messages are
//! defined in one place: the generator.
//!
//! A fast path is attached to its builtin in the builtin's table entry,
//! `#[fast(fast::name)]`, and takes as many arguments as the builtin. (The
//! type predicates' fast paths are made with the predicates, in `types`.)

use crate::eval::value::{Context, List, NixString, Thunk, Value};

/// The value of `v` if it is evaluated.
pub(super) fn ready(v: &Value) -> Option<Value> {
    v.is_evaluated().then(|| v.resolved())
}

pub(super) fn to_string([v]: &[Value; 1]) -> Option<Value> {
    match ready(v)? {
        s @ Value::String(_) => Some(s),
        Value::Int(i) => Some(Value::String(NixString::of_int(i))),
        _ => None,
    }
}

pub(super) fn string_length([v]: &[Value; 1]) -> Option<Value> {
    match ready(v)? {
        Value::String(s) => Some(Value::Int(s.len() as i64)),
        _ => None,
    }
}

pub(super) fn length([v]: &[Value; 1]) -> Option<Value> {
    match ready(v)? {
        Value::List(l) => Some(Value::Int(l.len() as i64)),
        _ => None,
    }
}

pub(super) fn head([v]: &[Value; 1]) -> Option<Value> {
    match ready(v)? {
        Value::List(l) => l.first().cloned(),
        _ => None,
    }
}

pub(super) fn elem_at([list, index]: &[Value; 2]) -> Option<Value> {
    match (ready(list)?, ready(index)?) {
        (Value::List(l), Value::Int(i)) => l.get(usize::try_from(i).ok()?).cloned(),
        _ => None,
    }
}

pub(super) fn type_of([v]: &[Value; 1]) -> Option<Value> {
    Some(Value::string(ready(v)?.type_name()))
}

pub(super) fn attr_names([v]: &[Value; 1]) -> Option<Value> {
    match ready(v)? {
        Value::Attrs(a) => Some(Value::list(
            a.keys().map(|k| Value::String(k.clone())).collect(),
        )),
        _ => None,
    }
}

pub(super) fn attr_values([v]: &[Value; 1]) -> Option<Value> {
    match ready(v)? {
        Value::Attrs(a) => Some(Value::list(a.values().cloned().collect())),
        _ => None,
    }
}

pub(super) fn has_attr([name, set]: &[Value; 2]) -> Option<Value> {
    match (ready(name)?, ready(set)?) {
        (Value::String(k), Value::Attrs(a)) if !k.has_context() => {
            Some(Value::Bool(a.contains_key(&k)))
        }
        _ => None,
    }
}

pub(super) fn get_attr([name, set]: &[Value; 2]) -> Option<Value> {
    match (ready(name)?, ready(set)?) {
        (Value::String(k), Value::Attrs(a)) if !k.has_context() => a.get(&k).cloned(),
        _ => None,
    }
}

pub(super) fn concat_strings_sep([sep, list]: &[Value; 2]) -> Option<Value> {
    let (Value::String(sep), Value::List(l)) = (ready(sep)?, ready(list)?) else {
        return None;
    };
    join_strings(&sep, &l).map(Value::String)
}

/// `items` joined by `sep` with all their contexts, sized once, when every
/// item is an evaluated string (`concatStringsSep`'s usual case).
pub(super) fn join_strings(sep: &NixString, items: &[Value]) -> Option<NixString> {
    let string_len = |v: &Value| match v {
        Value::String(s) => Some(s.len()),
        Value::Thunk(t) => t.with_value(|v| match v {
            Value::String(s) => Some(s.len()),
            _ => None,
        }),
        _ => None,
    };
    let mut len = sep.len() * items.len().saturating_sub(1);
    for x in items {
        len += string_len(x)?;
    }
    let mut out = Vec::with_capacity(len);
    let mut ctx = Context::new();
    sep.add_context_to(&mut ctx);
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(sep.as_bytes());
        }
        let Value::String(s) = ready(x)? else {
            return None;
        };
        out.extend_from_slice(s.as_bytes());
        s.add_context_to(&mut ctx);
    }
    Some(NixString::with_context(out, ctx))
}

pub(super) fn map([f, list]: &[Value; 2]) -> Option<Value> {
    match ready(list)? {
        Value::List(l) => Some(Value::list(
            l.iter()
                .map(|x| Value::Thunk(Thunk::apply(f.clone(), x.clone())))
                .collect::<List>(),
        )),
        _ => None,
    }
}

pub(super) fn gen_list([f, n]: &[Value; 2]) -> Option<Value> {
    match ready(n)? {
        Value::Int(n) if n >= 0 => Some(Value::list(
            (0..n)
                .map(|i| Value::Thunk(Thunk::apply(f.clone(), Value::Int(i))))
                .collect::<List>(),
        )),
        _ => None,
    }
}
