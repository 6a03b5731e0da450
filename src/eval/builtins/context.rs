//! String context builtins: `hasContext`, `getContext`, `appendContext`,
//! `unsafeDiscardStringContext` and `unsafeDiscardOutputDependency`.

use std::collections::BTreeMap;

use super::args::{string_arg, sync};
use crate::eval::error::ErrorKind;
use crate::eval::value::{Attrs, Context, List, NixString, Value};
use crate::eval::vm::{force, Co, GenFuture};
use crate::store_path::{StoreDir, StorePath};

builtins! {
    "hasContext" => has_context, "getContext" => get_context, "appendContext" => append_context,
    "unsafeDiscardStringContext" => discard_context,
    "unsafeDiscardOutputDependency" => discard_output_dependency,
    "addDrvOutputDependencies" => add_drv_output_dependencies,
}

/// One context element, decoded.
pub(crate) enum Element<'a> {
    /// A plain store path.
    Path(&'a str),
    /// `=drv`: a derivation and all its outputs.
    AllOutputs(&'a str),
    /// `!out!drv`: one output of a derivation.
    Output { drv: &'a str, output: &'a str },
}

pub(crate) fn decode(e: &str) -> Element<'_> {
    if let Some(drv) = e.strip_prefix('=') {
        return Element::AllOutputs(drv);
    }
    if let Some(rest) = e.strip_prefix('!') {
        if let Some((output, drv)) = rest.split_once('!') {
            return Element::Output { drv, output };
        }
    }
    Element::Path(e)
}

fn has_context(co: Co, [s]: [Value; 1]) -> GenFuture {
    sync(async move {
        let s = string_arg(&co, s).await?;
        Ok(Value::Bool(s.has_context()))
    })
}

fn get_context(co: Co, [s]: [Value; 1]) -> GenFuture {
    sync(async move {
        let s = string_arg(&co, s).await?;
        #[derive(Default)]
        struct Info {
            path: bool,
            all: bool,
            outputs: Vec<String>,
        }
        let mut by_path: BTreeMap<String, Info> = BTreeMap::new();
        for e in s.context().into_iter().flatten() {
            match decode(e) {
                Element::Path(p) => by_path.entry(p.into()).or_default().path = true,
                Element::AllOutputs(d) => by_path.entry(d.into()).or_default().all = true,
                Element::Output { drv, output } => by_path
                    .entry(drv.into())
                    .or_default()
                    .outputs
                    .push(output.into()),
            }
        }
        let mut out = Attrs::new();
        for (path, info) in by_path {
            let mut a = Attrs::new();
            if info.path {
                a.insert(NixString::from("path"), Value::Bool(true));
            }
            if info.all {
                a.insert(NixString::from("allOutputs"), Value::Bool(true));
            }
            if !info.outputs.is_empty() {
                let mut outputs = info.outputs;
                outputs.sort();
                a.insert(
                    NixString::from("outputs"),
                    Value::list(outputs.into_iter().map(Value::string).collect::<List>()),
                );
            }
            out.insert(NixString::from(path), Value::attrs(a));
        }
        Ok(Value::attrs(out))
    })
}

fn append_context(co: Co, [s, attrs]: [Value; 2]) -> GenFuture {
    sync(async move {
        let s = string_arg(&co, s).await?;
        let Value::Attrs(spec) = force(&co, attrs.clone()).await? else {
            return Err(ErrorKind::type_error("a set", &attrs));
        };
        let mut ctx = Context::new();
        s.add_context_to(&mut ctx);
        for (path, info) in spec.iter() {
            let path_s = path.to_str_lossy().into_owned();
            if !path_s.starts_with('/') {
                return Err(ErrorKind::Other(format!(
                    "context key '{path_s}' is not a store path"
                )));
            }
            let Value::Attrs(info) = force(&co, info.clone()).await? else {
                return Err(ErrorKind::type_error("a set", info));
            };
            let flag = |name: &str| info.get(&NixString::from(name)).cloned();
            if let Some(v) = flag("path") {
                if matches!(force(&co, v).await?, Value::Bool(true)) {
                    ctx.insert(path_s.clone().into());
                }
            }
            if let Some(v) = flag("allOutputs") {
                if matches!(force(&co, v).await?, Value::Bool(true)) {
                    if !path_s.ends_with(".drv") {
                        return Err(ErrorKind::Other(format!(
                            "tried to add all-outputs context of {path_s}, which is not a derivation, to a string"
                        )));
                    }
                    ctx.insert(format!("={path_s}").into());
                }
            }
            if let Some(v) = flag("outputs") {
                let Value::List(outputs) = force(&co, v.clone()).await? else {
                    return Err(ErrorKind::type_error("a list", &v));
                };
                if !outputs.is_empty() && !path_s.ends_with(".drv") {
                    return Err(ErrorKind::Other(format!(
                        "tried to add derivation output context of {path_s}, which is not a derivation, to a string"
                    )));
                }
                for o in outputs.iter() {
                    let o = string_arg(&co, o.clone()).await?;
                    ctx.insert(format!("!{}!{path_s}", o.to_str_lossy()).into());
                }
            }
        }
        Ok(Value::String(NixString::with_context(s.as_bytes(), ctx)))
    })
}

fn discard_context(co: Co, [s]: [Value; 1]) -> GenFuture {
    sync(async move {
        let s = string_arg(&co, s).await?;
        Ok(Value::String(s.without_context()))
    })
}

fn discard_output_dependency(co: Co, [s]: [Value; 1]) -> GenFuture {
    sync(async move {
        let s = string_arg(&co, s).await?;
        let mut ctx = Context::new();
        for e in s.context().into_iter().flatten() {
            match decode(e) {
                Element::AllOutputs(d) => ctx.insert(d.into()),
                _ => ctx.insert(e.clone()),
            };
        }
        Ok(Value::String(NixString::with_context(s.as_bytes(), ctx)))
    })
}

/// Newer Nix's `addDrvOutputDependencies`: a string whose one context
/// element is a derivation path gets the derivation with all its outputs.
fn add_drv_output_dependencies(co: Co, [s]: [Value; 1]) -> GenFuture {
    sync(async move {
        let s = string_arg(&co, s).await?;
        let elements: Vec<&std::rc::Rc<str>> = s.context().into_iter().flatten().collect();
        let [e] = elements[..] else {
            return Err(ErrorKind::Other(format!(
                "context of string '{}' must have exactly one element, but has {}",
                s.to_str_lossy(),
                elements.len()
            )));
        };
        let new: std::rc::Rc<str> = match decode(e) {
            Element::Path(p) if p.ends_with(".drv") => format!("={p}").into(),
            Element::Path(p) => {
                return Err(ErrorKind::Other(format!(
                    "path '{p}' is not a derivation"
                )))
            }
            Element::AllOutputs(_) => e.clone(),
            Element::Output { drv, output } => {
                return Err(ErrorKind::Other(format!(
                    "`addDrvOutputDependencies` can only act on derivations, not on a derivation output such as '{output}' of '{drv}'"
                )))
            }
        };
        Ok(Value::String(NixString::with_context(
            s.as_bytes(),
            Context::from([new]),
        )))
    })
}

/// A store path as a string whose context is the path itself.
pub(super) fn store_string(store: &StoreDir, path: &StorePath) -> Value {
    let printed = store.print(path);
    let mut ctx = Context::new();
    ctx.insert(printed.clone().into());
    Value::String(NixString::with_context(printed.into_bytes(), ctx))
}
