//! Control and messages: `throw`, `abort`, `seq`, `deepSeq`, `tryEval`,
//! `addErrorContext`, `trace`, `traceVerbose`, `warn` and `break`.

use std::rc::Rc;

use super::args::{arg, string_arg, sync};
use crate::eval::error::ErrorKind;
use crate::eval::ops::{coerce_to_string, Coercion};
use crate::eval::value::Value;
use crate::eval::vm::{force, Co, GenFuture, Request, Response};

builtins! {
    #[global] "throw"/1 => throw, #[global] "abort"/1 => abort,
    "seq"/2 => seq, "deepSeq"/2 => deep_seq, "tryEval"/1 => try_eval,
    "trace"/2 => trace,
    "addErrorContext"/2 => add_error_context,
    "warn"/2 => warn, "break"/1 => break_, "traceVerbose"/2 => trace_verbose_off,
}

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

/// `builtins.traceVerbose` with `--trace-verbose`: `builtins.trace`.
pub(crate) fn trace_verbose_spec() -> super::Spec {
    let mut spec = specs()
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
}
