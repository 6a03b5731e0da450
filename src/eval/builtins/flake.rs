//! `builtins.parseFlakeRef` and `builtins.flakeRefToString` (newer Nix):
//! flake references (see [`super::flake_ref`]) between their URL form and
//! attribute sets.

use super::args::{attrs_arg, string_arg, sync};
use super::flake_ref::{parse_ref, ref_to_string, Attr, FlakeAttrs};
use crate::eval::error::ErrorKind;
use crate::eval::value::{Attrs, NixString, Value};
use crate::eval::vm::{force, Co, GenFuture};

builtins! {
    "parseFlakeRef" => parse_flake_ref, "flakeRefToString" => flake_ref_to_string,
}

/// `builtins.parseFlakeRef s`: the attributes of the flake reference `s`.
fn parse_flake_ref(co: Co, [text]: [Value; 1]) -> GenFuture {
    sync(async move {
        let text = string_arg(&co, text).await?;
        let attrs = parse_ref(&text.to_str_lossy())?;
        let mut out = Attrs::new();
        for (k, v) in attrs {
            let v = match v {
                Attr::Str(s) => Value::string(s),
                Attr::Int(i) => Value::Int(i64::try_from(i).unwrap_or(i64::MAX)),
                Attr::Bool(b) => Value::Bool(b),
            };
            out.insert(NixString::from(k), v);
        }
        Ok(Value::attrs(out))
    })
}

/// `builtins.flakeRefToString attrs`: the URL form of a flake reference.
fn flake_ref_to_string(co: Co, [set]: [Value; 1]) -> GenFuture {
    sync(async move {
        let set = attrs_arg(&co, set).await?;
        let mut attrs = FlakeAttrs::new();
        for (k, v) in set.iter() {
            let name = k.to_string();
            let a = match force(&co, v.clone()).await? {
                Value::Int(i) if i < 0 => {
                    return Err(ErrorKind::Other(format!(
                        "negative value given for flake ref attr {name}: {i}"
                    )))
                }
                Value::Int(i) => Attr::Int(i.unsigned_abs()),
                Value::Bool(b) => Attr::Bool(b),
                Value::String(s) => Attr::Str(s.to_string()),
                other => {
                    return Err(ErrorKind::Other(format!(
                        "flake reference attribute sets may only contain integers, Booleans, and strings, but attribute '{name}' is {}",
                        other.type_desc()
                    )))
                }
            };
            attrs.insert(name, a);
        }
        Ok(Value::string(ref_to_string(attrs)?))
    })
}
