//! The core builtins: types, arithmetic, control, lists, sets and strings.

use std::rc::Rc;

use super::io::path_arg;
use crate::eval::error::ErrorKind;
use crate::eval::ops::{self, coerce_into, coerce_to_string, Coercion};
use crate::eval::value::{AttrSet, Attrs, Context, List, NixString, Thunk, Value};
use crate::eval::vm::{call, force, Co, GenFuture, Request, Response};

builtins! {
    #[global] "isNull"/1 => is_null, "isInt"/1 => is_int, "isFloat"/1 => is_float,
    "isBool"/1 => is_bool, "isString"/1 => is_string, "isList"/1 => is_list,
    "isAttrs"/1 => is_attrs, "isFunction"/1 => is_function, "isPath"/1 => is_path,
    "typeOf"/1 => type_of,
    "add"/2 => add, "sub"/2 => sub, "mul"/2 => mul, "div"/2 => div,
    "lessThan"/2 => less_than,
    "bitAnd"/2 => bit_and, "bitOr"/2 => bit_or, "bitXor"/2 => bit_xor,
    #[global] "throw"/1 => throw, #[global] "abort"/1 => abort,
    "seq"/2 => seq, "deepSeq"/2 => deep_seq, "tryEval"/1 => try_eval,
    "trace"/2 => trace,
    "addErrorContext"/2 => add_error_context,
    "length"/1 => length, "head"/1 => head, "tail"/1 => tail, "elemAt"/2 => elem_at,
    #[global] "map"/2 => map, "filter"/2 => filter, "foldl'"/3 => foldl,
    "elem"/2 => elem, "concatLists"/1 => concat_lists, "genList"/2 => gen_list,
    "any"/2 => any, "all"/2 => all,
    "attrNames"/1 => attr_names, "attrValues"/1 => attr_values,
    "getAttr"/2 => get_attr, "hasAttr"/2 => has_attr,
    #[global] "removeAttrs"/2 => remove_attrs, "listToAttrs"/1 => list_to_attrs,
    "mapAttrs"/2 => map_attrs,
    #[global] "toString"/1 => to_string, "stringLength"/1 => string_length,
    "substring"/3 => substring, "concatStringsSep"/2 => concat_strings_sep,
    #[global] "import"/1 => import, "findFile"/2 => find_file,
    "toXML"/1 => to_xml, #[global] "scopedImport"/2 => scoped_import,
}

pub(super) fn sync(
    f: impl std::future::Future<Output = Result<Value, ErrorKind>> + 'static,
) -> GenFuture {
    Box::pin(f)
}

pub(super) fn arg(args: &[Value], i: usize) -> Value {
    args.get(i).cloned().unwrap_or(Value::Null)
}

macro_rules! type_pred {
    ($name:ident, $pat:pat) => {
        fn $name(co: Co, args: Vec<Value>) -> GenFuture {
            sync(async move {
                Ok(Value::Bool(matches!(
                    force(&co, arg(&args, 0)).await?,
                    $pat
                )))
            })
        }
    };
}

type_pred!(is_null, Value::Null);
type_pred!(is_int, Value::Int(_));
type_pred!(is_float, Value::Float(_));
type_pred!(is_bool, Value::Bool(_));
type_pred!(is_string, Value::String(_));
type_pred!(is_list, Value::List(_));
type_pred!(is_attrs, Value::Attrs(_));
type_pred!(is_function, Value::Closure(_) | Value::Builtin(_));
type_pred!(is_path, Value::Path(_));

fn type_of(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move { Ok(Value::string(force(&co, arg(&args, 0)).await?.type_name())) })
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

macro_rules! arith {
    ($name:ident, $op:expr) => {
        fn $name(co: Co, args: Vec<Value>) -> GenFuture {
            sync(async move {
                let a = force(&co, arg(&args, 0)).await?;
                let b = force(&co, arg(&args, 1)).await?;
                // `builtins.add` & co. take numbers only (unlike `+`).
                if $op != crate::eval::code::BinOp::Less {
                    for v in [&a, &b] {
                        if !matches!(v, Value::Int(_) | Value::Float(_)) {
                            return Err(ErrorKind::type_error("an integer", v));
                        }
                    }
                }
                match ops::binop_simple($op, &a, &b)? {
                    Some(v) => Ok(v),
                    None => ops::binop_deep(co, $op, a, b).await,
                }
            })
        }
    };
}

arith!(add, crate::eval::code::BinOp::Add);
arith!(sub, crate::eval::code::BinOp::Sub);
arith!(mul, crate::eval::code::BinOp::Mul);
arith!(div, crate::eval::code::BinOp::Div);
arith!(less_than, crate::eval::code::BinOp::Less);

macro_rules! bit {
    ($name:ident, $op:tt) => {
        fn $name(co: Co, args: Vec<Value>) -> GenFuture {
            sync(async move {
                let a = int_arg(&co, arg(&args, 0)).await?;
                let b = int_arg(&co, arg(&args, 1)).await?;
                Ok(Value::Int(a $op b))
            })
        }
    };
}

bit!(bit_and, &);
bit!(bit_or, |);
bit!(bit_xor, ^);

fn throw(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let msg = coerce_to_string(&co, arg(&args, 0), Coercion::Interpolation).await?;
        Err(ErrorKind::Thrown(msg.to_str_lossy().into_owned()))
    })
}

fn abort(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let msg = coerce_to_string(&co, arg(&args, 0), Coercion::Interpolation).await?;
        Err(ErrorKind::Abort(msg.to_str_lossy().into_owned()))
    })
}

fn seq(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        force(&co, arg(&args, 0)).await?;
        Ok(arg(&args, 1))
    })
}

/// Forces `v` and everything inside it (iteratively; shared values once).
pub async fn deep_force(co: &Co, v: Value) -> Result<(), ErrorKind> {
    let mut seen = std::collections::HashSet::new();
    let mut work = vec![v];
    while let Some(v) = work.pop() {
        match force(co, v).await? {
            Value::Attrs(a) if seen.insert(Rc::as_ptr(&a) as usize) => {
                // In C++ Nix's order, which decides which error comes first.
                let order = crate::eval::symbols::in_symbol_order(&a);
                work.extend(order.into_iter().rev().map(|(_, v)| v.clone()));
            }
            Value::List(l) if seen.insert(Rc::as_ptr(&l) as usize) => {
                work.extend(l.iter().rev().cloned());
            }
            _ => {}
        }
    }
    Ok(())
}

fn deep_seq(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        deep_force(&co, arg(&args, 0)).await?;
        Ok(arg(&args, 1))
    })
}

fn try_eval(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let v = arg(&args, 0);
        let r = if v.is_evaluated() {
            Response::Value(v.resolved())
        } else {
            co.yield_(Request::TryForce(v)).await
        };
        Ok(match r {
            Response::Value(v) => super::attrs_from([("success", Value::Bool(true)), ("value", v)]),
            Response::Error(_) => super::attrs_from([
                ("success", Value::Bool(false)),
                ("value", Value::Bool(false)),
            ]),
        })
    })
}

fn trace(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let v = force(&co, arg(&args, 0)).await?;
        deep_force(&co, v.clone()).await?;
        // Strings are shown as they are, other values printed.
        match &v {
            Value::String(s) => {
                crate::log::message(crate::log::Level::Error, &format!("trace: {s}"))
            }
            _ => crate::log::message(
                crate::log::Level::Error,
                &format!("trace: {}", crate::eval::print::print(&v)),
            ),
        }
        Ok(arg(&args, 1))
    })
}

/// `builtins.addErrorContext msg v`: `v`; an error while forcing it gets
/// `msg` as a frame of its trace (`--show-trace`).
fn add_error_context(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        match co
            .yield_(crate::eval::vm::Request::ForceWithContext(
                arg(&args, 0),
                arg(&args, 1),
            ))
            .await
        {
            crate::eval::vm::Response::Value(v) => Ok(v),
            crate::eval::vm::Response::Error(e) => Err(e),
        }
    })
}

fn length(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move { Ok(Value::Int(list_arg(&co, arg(&args, 0)).await?.len() as i64)) })
}

fn head(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let l = list_arg(&co, arg(&args, 0)).await?;
        l.front()
            .cloned()
            .ok_or_else(|| ErrorKind::Other("'builtins.head' called on an empty list".into()))
    })
}

fn tail(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let l = list_arg(&co, arg(&args, 0)).await?;
        if l.is_empty() {
            return Err(ErrorKind::Other(
                "'builtins.tail' called on an empty list".into(),
            ));
        }
        Ok(Value::list(l.skip(1)))
    })
}

fn elem_at(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let l = list_arg(&co, arg(&args, 0)).await?;
        let i = int_arg(&co, arg(&args, 1)).await?;
        usize::try_from(i)
            .ok()
            .and_then(|i| l.get(i).cloned())
            .ok_or_else(|| {
                ErrorKind::Other(format!(
                    "'builtins.elemAt' called with index {i} on a list of size {}",
                    l.len()
                ))
            })
    })
}

/// `map f l`: C++ Nix 2.8 forces only the list; `f` is forced when an
/// element is.
fn map(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let f = arg(&args, 0);
        let l = list_arg(&co, arg(&args, 1)).await?;
        Ok(Value::list(
            l.iter()
                .map(|x| Value::Thunk(Thunk::apply(f.clone(), x.clone())))
                .collect(),
        ))
    })
}

/// `filter f l`: C++ Nix 2.8 forces the function first, even for an empty
/// list.
fn filter(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let f = super::lists::function_arg(&co, arg(&args, 0)).await?;
        let l = list_arg(&co, arg(&args, 1)).await?;
        let mut out = List::new();
        for x in l.iter() {
            let keep = call(&co, f.clone(), x.clone()).await?;
            if bool_of(&co, keep).await? {
                out.push_back(x.clone());
            }
        }
        Ok(Value::list(out))
    })
}

fn foldl(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let f = super::lists::function_arg(&co, arg(&args, 0)).await?;
        let mut acc = arg(&args, 1);
        let l = list_arg(&co, arg(&args, 2)).await?;
        for x in l.iter() {
            let g = call(&co, f.clone(), acc).await?;
            acc = force(&co, call(&co, g, x.clone()).await?).await?;
        }
        Ok(acc)
    })
}

fn elem(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let x = arg(&args, 0);
        let l = list_arg(&co, arg(&args, 1)).await?;
        // C++ Nix compares the argument with each element as values in
        // place: the very same value is equal to itself, even a function.
        for y in l.iter() {
            if ops::identical(&x, y) || ops::equal(&co, x.clone(), y.clone()).await? {
                return Ok(Value::Bool(true));
            }
        }
        Ok(Value::Bool(false))
    })
}

fn concat_lists(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let l = list_arg(&co, arg(&args, 0)).await?;
        let mut out = List::new();
        for x in l.iter() {
            out.append(list_arg(&co, x.clone()).await?.as_ref().clone());
        }
        Ok(Value::list(out))
    })
}

fn gen_list(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let f = arg(&args, 0);
        let n = int_arg(&co, arg(&args, 1)).await?;
        if n < 0 {
            return Err(ErrorKind::Other(format!("cannot create list of size {n}")));
        }
        // As in C++ Nix 2.8, `f` is forced only when an element is.
        Ok(Value::list(
            (0..n)
                .map(|i| Value::Thunk(Thunk::apply(f.clone(), Value::Int(i))))
                .collect(),
        ))
    })
}

async fn any_all(co: Co, args: Vec<Value>, want: bool) -> Result<Value, ErrorKind> {
    let f = super::lists::function_arg(&co, arg(&args, 0)).await?;
    let l = list_arg(&co, arg(&args, 1)).await?;
    for x in l.iter() {
        let r = call(&co, f.clone(), x.clone()).await?;
        if bool_of(&co, r).await? == want {
            return Ok(Value::Bool(want));
        }
    }
    Ok(Value::Bool(!want))
}

fn any(co: Co, args: Vec<Value>) -> GenFuture {
    sync(any_all(co, args, true))
}

fn all(co: Co, args: Vec<Value>) -> GenFuture {
    sync(any_all(co, args, false))
}

fn attr_names(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let a = attrs_arg(&co, arg(&args, 0)).await?;
        Ok(Value::list(
            a.keys().map(|k| Value::String(k.clone())).collect(),
        ))
    })
}

fn attr_values(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let a = attrs_arg(&co, arg(&args, 0)).await?;
        Ok(Value::list(a.values().cloned().collect()))
    })
}

fn get_attr(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let k = string_arg(&co, arg(&args, 0)).await?;
        let a = attrs_arg(&co, arg(&args, 1)).await?;
        a.get(&k)
            .cloned()
            .ok_or_else(|| ErrorKind::AttributeMissing {
                name: k.to_string(),
                hint: String::new(),
            })
    })
}

fn has_attr(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let k = string_arg(&co, arg(&args, 0)).await?;
        let a = attrs_arg(&co, arg(&args, 1)).await?;
        Ok(Value::Bool(a.contains_key(&k)))
    })
}

fn remove_attrs(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let a = attrs_arg(&co, arg(&args, 0)).await?;
        let names = list_arg(&co, arg(&args, 1)).await?;
        let mut out = a.map.clone();
        for n in names.iter() {
            out.remove(&string_arg(&co, n.clone()).await?);
        }
        // The positions of the attributes left stay.
        Ok(Value::attrs_with_pos(out, a.pos.clone()))
    })
}

fn list_to_attrs(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let l = list_arg(&co, arg(&args, 0)).await?;
        let mut out = Attrs::new();
        let (name_key, value_key) = (NixString::from("name"), NixString::from("value"));
        for item in l.iter() {
            let a = attrs_arg(&co, item.clone()).await?;
            let name = a
                .get(&name_key)
                .cloned()
                .ok_or(ErrorKind::AttributeMissing {
                    name: "name".into(),
                    hint: String::new(),
                })?;
            let name = string_arg(&co, name).await?;
            let value = a
                .get(&value_key)
                .cloned()
                .ok_or(ErrorKind::AttributeMissing {
                    name: "value".into(),
                    hint: String::new(),
                })?;
            // The first occurrence of a name wins.
            out.entry(name).or_insert(value);
        }
        Ok(Value::attrs(out))
    })
}

fn map_attrs(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let f = arg(&args, 0);
        let a = attrs_arg(&co, arg(&args, 1)).await?;
        let out: Attrs = a
            .iter()
            .map(|(k, v)| {
                let partial = Value::Thunk(Thunk::apply(f.clone(), Value::String(k.clone())));
                (k.clone(), Value::Thunk(Thunk::apply(partial, v.clone())))
            })
            .collect();
        Ok(Value::attrs(out))
    })
}

fn to_string(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        match arg(&args, 0).resolved() {
            s @ Value::String(_) => return Ok(s),
            Value::Int(i) => return Ok(Value::string(i.to_string())),
            _ => {}
        }
        Ok(Value::String(
            coerce_to_string(&co, arg(&args, 0), Coercion::ToString).await?,
        ))
    })
}

fn string_length(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        if let Value::String(s) = arg(&args, 0).resolved() {
            return Ok(Value::Int(s.len() as i64));
        }
        let s = coerce_to_string(&co, arg(&args, 0), Coercion::Interpolation).await?;
        Ok(Value::Int(s.len() as i64))
    })
}

fn substring(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let start = int_arg(&co, arg(&args, 0)).await?;
        let len = int_arg(&co, arg(&args, 1)).await?;
        let s = coerce_to_string(&co, arg(&args, 2), Coercion::Interpolation).await?;
        if start < 0 {
            return Err(ErrorKind::Other(
                "negative start position in 'substring'".into(),
            ));
        }
        let start = (start as usize).min(s.len());
        let end = if len < 0 {
            s.len()
        } else {
            start.saturating_add(len as usize).min(s.len())
        };
        // The context stays, as in C++ Nix (even for an empty result).
        let mut ctx = Context::new();
        s.add_context_to(&mut ctx);
        Ok(Value::String(NixString::with_context(
            &s.as_bytes()[start..end],
            ctx,
        )))
    })
}

fn concat_strings_sep(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let sep = string_arg(&co, arg(&args, 0)).await?;
        let l = list_arg(&co, arg(&args, 1)).await?;
        let mut out = Vec::new();
        let mut ctx = Context::new();
        sep.add_context_to(&mut ctx);
        for (i, x) in l.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(sep.as_bytes());
            }
            coerce_into(&co, x.clone(), Coercion::Interpolation, &mut out, &mut ctx).await?;
        }
        Ok(Value::String(NixString::with_context(out, ctx)))
    })
}

fn import(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let path = path_arg(&co, arg(&args, 0)).await?;
        match co.yield_(Request::Import(path)).await {
            Response::Value(v) => Ok(v),
            Response::Error(e) => Err(e),
        }
    })
}

/// `builtins.findFile searchPath "a/b"`: the first entry whose prefix
/// matches and under which the rest exists (`<a/b>` lookups).
fn find_file(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let entries = list_arg(&co, arg(&args, 0)).await?;
        let wanted = string_arg(&co, arg(&args, 1)).await?.to_string();
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
            let path = path.to_str_lossy().into_owned();
            let rest = if prefix.is_empty() {
                Some(wanted.as_str())
            } else if wanted == prefix {
                Some("")
            } else {
                wanted.strip_prefix(&format!("{prefix}/"))
            };
            let Some(rest) = rest else { continue };
            // A relative entry is relative to the working directory.
            let base = std::path::absolute(&path).unwrap_or_else(|_| path.clone().into());
            let candidate = if rest.is_empty() {
                base.clone()
            } else {
                base.join(rest)
            };
            if !rest.is_empty() || prefix.is_empty() || wanted == prefix {
                // C++ Nix warns about an entry that is not there.
                if !path.contains("://")
                    && !path.is_empty()
                    && std::fs::symlink_metadata(&base).is_err()
                {
                    crate::eval::access::warn_missing_entry(std::path::Path::new(&path));
                    continue;
                }
            }
            if candidate.exists() {
                let found = crate::eval::compiler::canonicalise(&candidate);
                let found = super::io::allowed(&co, found).await?;
                return Ok(Value::Path(Rc::new(found)));
            }
        }
        // `<nix/x>` falls back to C++ Nix 2.8's built-in files.
        if let Some(rest) = wanted.strip_prefix("nix/") {
            let path = format!("{}/{rest}", crate::eval::COREPKGS);
            return Ok(Value::Path(Rc::new(std::path::PathBuf::from(path))));
        }
        let pure = crate::eval::vm::with_evaluator(
            &co,
            Box::new(|ev| Ok(Value::Bool(ev.config.pure_eval))),
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

fn to_xml(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        Ok(Value::string(
            crate::eval::xml::to_xml(&co, arg(&args, 0), true, false).await?,
        ))
    })
}

fn scoped_import(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        let attrs = attrs_arg(&co, arg(&args, 0)).await?;
        let path = path_arg(&co, arg(&args, 1)).await?;
        match co.yield_(Request::ScopedImport(attrs, path)).await {
            Response::Value(v) => Ok(v),
            Response::Error(e) => Err(e),
        }
    })
}
