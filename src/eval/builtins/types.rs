//! Type predicates and reflection: `typeOf`, `isNull`, `isInt`, `isFloat`,
//! `isBool`, `isString`, `isList`, `isAttrs`, `isFunction`, `isPath` and
//! `functionArgs`.

use super::args::sync;
use super::fast;
use crate::eval::code::Params;
use crate::eval::error::ErrorKind;
use crate::eval::value::{AttrPos, Attrs, Value};
use crate::eval::vm::{force, Co, GenFuture};

builtins! {
    #[global] #[fast(fast_is_null)] "isNull" => is_null,
    #[fast(fast_is_int)] "isInt" => is_int,
    #[fast(fast_is_float)] "isFloat" => is_float,
    #[fast(fast_is_bool)] "isBool" => is_bool,
    #[fast(fast_is_string)] "isString" => is_string,
    #[fast(fast_is_list)] "isList" => is_list,
    #[fast(fast_is_attrs)] "isAttrs" => is_attrs,
    #[fast(fast_is_function)] "isFunction" => is_function,
    #[fast(fast_is_path)] "isPath" => is_path,
    #[fast(fast::type_of)] "typeOf" => type_of,
    #[fast(function_args_fast)] "functionArgs" => function_args,
}

/// A type predicate `$name` and its fast path `$fast`: whether the value
/// matches `$pat`.
macro_rules! type_pred {
    ($name:ident, $fast:ident, $pat:pat) => {
        fn $name(co: Co, [v]: [Value; 1]) -> GenFuture {
            sync(async move { Ok(Value::Bool(matches!(force(&co, v).await?, $pat))) })
        }

        fn $fast([v]: &[Value; 1]) -> Option<Value> {
            Some(Value::Bool(matches!(fast::ready(v)?, $pat)))
        }
    };
}

type_pred!(is_null, fast_is_null, Value::Null);
type_pred!(is_int, fast_is_int, Value::Int(_));
type_pred!(is_float, fast_is_float, Value::Float(_));
type_pred!(is_bool, fast_is_bool, Value::Bool(_));
type_pred!(is_string, fast_is_string, Value::String(_));
type_pred!(is_list, fast_is_list, Value::List(_));
type_pred!(is_attrs, fast_is_attrs, Value::Attrs(_));
type_pred!(
    is_function,
    fast_is_function,
    Value::Closure(_) | Value::Builtin(_)
);
type_pred!(is_path, fast_is_path, Value::Path(_));

fn type_of(co: Co, [v]: [Value; 1]) -> GenFuture {
    sync(async move { Ok(Value::string(force(&co, v).await?.type_name())) })
}

/// `builtins.functionArgs f`: for a lambda with formals `{ a, b ? e }`,
/// `{ a = false; b = true; }` (whether each has a default); `{ }` for
/// `x: …` lambdas and builtins.
/// `functionArgs`'s fast path: the function evaluated.
fn function_args_fast([f]: &[Value; 1]) -> Option<Value> {
    args_of(&fast::ready(f)?).ok()
}

fn function_args(co: Co, [f]: [Value; 1]) -> GenFuture {
    sync(async move { args_of(&force(&co, f).await?) })
}

/// The formal arguments of function `f`, each with whether it has a default.
fn args_of(f: &Value) -> Result<Value, ErrorKind> {
    {
        match f {
            Value::Builtin(_) => Ok(Value::attrs(Attrs::new())),
            Value::Closure(c) => Ok(c
                .lambda
                .function_args
                .get_or_init(|| match &c.lambda.params {
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
                })
                .clone()),
            _ => Err(ErrorKind::Other(
                "'functionArgs' requires a function".into(),
            )),
        }
    }
}
