//! Arithmetic builtins: `add`, `sub`, `mul`, `div`, `lessThan`, `bitAnd`,
//! `bitOr`, `bitXor`, `floor` and `ceil`.

use super::args::{int_arg, sync};
use crate::eval::error::ErrorKind;
use crate::eval::ops;
use crate::eval::value::Value;
use crate::eval::vm::{force, Co, GenFuture};

builtins! {
    "add" => add, "sub" => sub, "mul" => mul, "div" => div, "lessThan" => less_than,
    "bitAnd" => bit_and, "bitOr" => bit_or, "bitXor" => bit_xor, "floor" => floor,
    "ceil" => ceil,
}

macro_rules! arith {
    ($name:ident, $op:expr) => {
        fn $name(co: Co, [a, b]: [Value; 2]) -> GenFuture {
            sync(async move {
                let a = force(&co, a).await?;
                let b = force(&co, b).await?;
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
        fn $name(co: Co, [a, b]: [Value; 2]) -> GenFuture {
            sync(async move {
                let a = int_arg(&co, a).await?;
                let b = int_arg(&co, b).await?;
                Ok(Value::Int(a $op b))
            })
        }
    };
}

bit!(bit_and, &);
bit!(bit_or, |);
bit!(bit_xor, ^);

/// A number as C++ Nix's `forceFloat` takes it (an integer is converted).
async fn float_arg(co: &Co, v: Value) -> Result<f64, ErrorKind> {
    match force(co, v).await? {
        Value::Float(f) => Ok(f),
        Value::Int(i) => Ok(i as f64),
        other => Err(ErrorKind::type_error("a float", &other)),
    }
}

/// A whole float as an integer the way C++ Nix 2.8's conversion behaves
/// on x86-64: values out of range (and NaN) become the smallest integer.
fn to_int(x: f64) -> i64 {
    // -2^63 is exact as a float; 2^63 is the first value out of range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&x) {
        x as i64
    } else {
        i64::MIN
    }
}

/// `builtins.floor x`: the largest integer not above `x`.
fn floor(co: Co, [x]: [Value; 1]) -> GenFuture {
    sync(async move { Ok(Value::Int(to_int(float_arg(&co, x).await?.floor()))) })
}

/// `builtins.ceil x`: the smallest integer not below `x`.
fn ceil(co: Co, [x]: [Value; 1]) -> GenFuture {
    sync(async move { Ok(Value::Int(to_int(float_arg(&co, x).await?.ceil()))) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_to_int_like_cpp() {
        assert_eq!(to_int(23.0), 23);
        assert_eq!(to_int(-3.0), -3);
        assert_eq!(to_int(2f64.powi(63)), i64::MIN);
        assert_eq!(to_int(-(2f64.powi(63))), i64::MIN);
        assert_eq!(to_int(f64::NAN), i64::MIN);
        assert_eq!(to_int(f64::INFINITY), i64::MIN);
    }
}
