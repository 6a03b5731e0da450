//! Type predicates and reflection: `typeOf`, `isNull`, `isInt`, `isFloat`,
//! `isBool`, `isString`, `isList`, `isAttrs`, `isFunction`, `isPath` and
//! `functionArgs`.

use super::args::{arg, sync};
use crate::eval::code::Params;
use crate::eval::error::ErrorKind;
use crate::eval::value::{AttrPos, Attrs, Value};
use crate::eval::vm::{force, Co, GenFuture};

builtins! {
    #[global] "isNull"/1 => is_null, "isInt"/1 => is_int, "isFloat"/1 => is_float,
    "isBool"/1 => is_bool, "isString"/1 => is_string, "isList"/1 => is_list,
    "isAttrs"/1 => is_attrs, "isFunction"/1 => is_function, "isPath"/1 => is_path,
    "typeOf"/1 => type_of, "functionArgs"/1 => function_args,
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

/// `builtins.functionArgs f`: for a lambda with formals `{ a, b ? e }`,
/// `{ a = false; b = true; }` (whether each has a default); `{ }` for
/// `x: …` lambdas and builtins.
fn function_args(co: Co, args: Vec<Value>) -> GenFuture {
    sync(async move {
        match force(&co, arg(&args, 0)).await? {
            Value::Builtin(_) => Ok(Value::attrs(Attrs::new())),
            Value::Closure(c) => Ok(match &c.lambda.params {
                Params::Ident => Value::attrs(Attrs::new()),
                Params::Formals { formals, .. } => {
                    let pos = AttrPos::table(
                        c.lambda.span.source.clone(),
                        formals.iter().map(|f| (f.name.clone(), f.pos)).collect(),
                    );
                    Value::attrs_with_pos(
                        formals
                            .iter()
                            .map(|f| (f.name.clone(), Value::Bool(f.default.is_some())))
                            .collect(),
                        Some(pos),
                    )
                }
            }),
            _ => Err(ErrorKind::Other(
                "'functionArgs' requires a function".into(),
            )),
        }
    })
}
