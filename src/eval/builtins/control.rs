//! Control and messages: `throw`, `abort`, `seq`, `deepSeq`, `tryEval`,
//! `addErrorContext`, `trace`, `traceVerbose`, `warn` and `break`.

use super::args::{string_arg, sync};
use crate::eval::counted::Counted;
use crate::eval::error::ErrorKind;
use crate::eval::ops::{coerce_to_string, Coercion};
use crate::eval::value::Value;
use crate::eval::vm::{force, Co, GenFuture, Request, Response};

builtins! {
    #[global] "throw" => throw, #[global] "abort" => abort, "seq" => seq, "deepSeq" => deep_seq,
    "tryEval" => try_eval, "trace" => trace, "addErrorContext" => add_error_context,
    "warn" => warn, "break" => break_, "traceVerbose" => trace_verbose_off,
}

fn throw(co: Co, [msg]: [Value; 1]) -> GenFuture {
    sync(async move {
        let msg = coerce_to_string(&co, msg, Coercion::Interpolation).await?;
        Err(ErrorKind::Thrown(msg.to_str_lossy().into_owned()))
    })
}

fn abort(co: Co, [msg]: [Value; 1]) -> GenFuture {
    sync(async move {
        let msg = coerce_to_string(&co, msg, Coercion::Interpolation).await?;
        Err(ErrorKind::Abort(msg.to_str_lossy().into_owned()))
    })
}

fn seq(co: Co, [x, y]: [Value; 2]) -> GenFuture {
    sync(async move {
        force(&co, x).await?;
        Ok(y)
    })
}

/// Forces `v` and everything inside it (iteratively; shared values once).
pub async fn deep_force(co: &Co, v: Value) -> Result<(), ErrorKind> {
    let mut seen = std::collections::HashSet::new();
    let mut work = vec![v];
    while let Some(v) = work.pop() {
        match force(co, v).await? {
            Value::Attrs(a) if seen.insert(Counted::as_ptr(&a) as usize) => {
                // In C++ Nix's order, which decides which error comes first.
                let order = crate::eval::symbols::in_symbol_order(&a);
                work.extend(order.into_iter().rev().map(|(_, v)| v.clone()));
            }
            Value::List(l) if seen.insert(Counted::as_ptr(&l) as usize) => {
                work.extend(l.iter().rev().cloned());
            }
            _ => {}
        }
    }
    Ok(())
}

fn deep_seq(co: Co, [x, y]: [Value; 2]) -> GenFuture {
    sync(async move {
        // `x` is kept alive while it is forced, as `deep_force` tells
        // values apart by address.
        deep_force(&co, x.clone()).await?;
        Ok(y)
    })
}

fn try_eval(co: Co, [v]: [Value; 1]) -> GenFuture {
    sync(async move {
        let v = v;
        let r = if v.is_evaluated() {
            Response::Value(v.resolved())
        } else {
            co.yield_(Request::TryForce(v)).await
        };
        Ok(match r {
            Response::Value(v) => {
                super::args::attrs_from([("success", Value::Bool(true)), ("value", v)])
            }
            Response::Error(_) => super::args::attrs_from([
                ("success", Value::Bool(false)),
                ("value", Value::Bool(false)),
            ]),
        })
    })
}

fn trace(co: Co, [v, result]: [Value; 2]) -> GenFuture {
    sync(async move {
        let v = force(&co, v).await?;
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
        Ok(result)
    })
}

/// `builtins.addErrorContext msg v`: `v`; an error while forcing it gets
/// `msg` as a frame of its trace (`--show-trace`).
fn add_error_context(co: Co, [msg, value]: [Value; 2]) -> GenFuture {
    sync(async move {
        match co
            .yield_(crate::eval::vm::Request::ForceWithContext(msg, value))
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
fn warn(co: Co, [msg, value]: [Value; 2]) -> GenFuture {
    sync(async move {
        let msg = string_arg(&co, msg).await?;
        crate::log::message(crate::log::Level::Warn, &warning_text(&msg.to_str_lossy()));
        force(&co, value).await
    })
}

/// `builtins.break v` (newer Nix): a breakpoint for the debugger, which
/// oxnix does not have; returns `v`.
fn break_(_co: Co, [value]: [Value; 1]) -> GenFuture {
    sync(async move { Ok(value) })
}

/// `builtins.traceVerbose msg v` without `--trace-verbose`: just `v`.
fn trace_verbose_off(co: Co, [_msg, value]: [Value; 2]) -> GenFuture {
    sync(async move { force(&co, value).await })
}

/// `builtins.traceVerbose` with `--trace-verbose`: `builtins.trace`.
pub(crate) fn trace_verbose_spec() -> super::args::Spec {
    spec!("traceVerbose" => trace)
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
