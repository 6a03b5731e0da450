//! Operators and coercions: arithmetic with C++ Nix's overflow errors,
//! comparison, structural equality (iterative, so deep structures cannot
//! overflow the stack), and coercion of values to strings.

use std::path::Path;
use std::rc::Rc;

use super::code::BinOp;
use super::counted::Counted;
use super::paths::canonicalise;
// Kept here for the builtins that name it so (moved to `print`).
use super::error::ErrorKind;
pub use super::print::format_float;
use super::value::{AttrSet, Context, NixString, Value};
use super::vm::{call, force, Co, Request, Response};

/// `Ok` for a string without context; C++ Nix's error for one with
/// context where a plain name is wanted (an attribute's name, an
/// environment variable's, a derivation's; its `forceStringNoCtx`).
pub fn no_context(s: &NixString) -> Result<(), ErrorKind> {
    let Some(ctx) = s.context() else {
        return Ok(());
    };
    let first = ctx.iter().next().map(|e| e.to_string()).unwrap_or_default();
    Err(ErrorKind::Other(format!(
        "the string '{}' is not allowed to refer to a store path (such as '{first}')",
        s.to_str_lossy()
    )))
}

fn overflow(op: &'static str, sym: &'static str, a: i64, b: i64) -> ErrorKind {
    ErrorKind::Overflow { op, a, sym, b }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// Operators on evaluated operands that need nothing more; `None` when the
/// operation needs to force nested values (equality and ordering of lists
/// and sets).
pub fn binop_simple(op: BinOp, a: &Value, b: &Value) -> Result<Option<Value>, ErrorKind> {
    use Value::*;
    let v = match op {
        BinOp::Add => match (a, b) {
            (Int(x), Int(y)) => Int(x
                .checked_add(*y)
                .ok_or_else(|| overflow("adding", "+", *x, *y))?),
            (Float(_), Int(_) | Float(_)) | (Int(_), Float(_)) => {
                Float(as_f64(a).unwrap_or_default() + as_f64(b).unwrap_or_default())
            }
            (String(x), String(y)) => {
                let mut s = x.as_bytes().to_vec();
                s.extend_from_slice(y.as_bytes());
                if x.has_context() || y.has_context() {
                    let mut ctx = Context::new();
                    x.add_context_to(&mut ctx);
                    y.add_context_to(&mut ctx);
                    Value::String(NixString::with_context(s, ctx))
                } else {
                    Value::string(s)
                }
            }
            (Path(_), String(s)) if s.has_context() => {
                return Err(ErrorKind::Other(
                    "a string that refers to a store path cannot be appended to a path".into(),
                ))
            }
            (Path(p), String(s)) => {
                let joined = format!("{}{}", p.display(), s.to_str_lossy());
                Path(Rc::new(canonicalise(std::path::Path::new(&joined))))
            }
            (Path(p), Path(q)) => {
                let joined = format!("{}{}", p.display(), q.display());
                Path(Rc::new(canonicalise(std::path::Path::new(&joined))))
            }
            // Sets are coerced (`outPath`, `__toString`).
            (String(_) | Path(_), Attrs(_)) | (Attrs(_), String(_) | Path(_) | Attrs(_)) => {
                return Ok(None)
            }
            // The path is copied to the store first.
            (String(_), Path(_)) => return Ok(None),
            (Path(_) | String(_), _) => return Err(ErrorKind::cannot_coerce(b)),
            (Int(_), _) => {
                return Err(ErrorKind::Other(format!(
                    "cannot add {} to an integer",
                    b.type_desc()
                )))
            }
            (Float(_), _) => {
                return Err(ErrorKind::Other(format!(
                    "cannot add {} to a float",
                    b.type_desc()
                )))
            }
            _ => return Err(ErrorKind::cannot_coerce(a)),
        },
        BinOp::Sub | BinOp::Mul | BinOp::Div => match (a, b) {
            (Int(x), Int(y)) => Int(match op {
                BinOp::Sub => x
                    .checked_sub(*y)
                    .ok_or_else(|| overflow("subtracting", "-", *x, *y))?,
                BinOp::Mul => x
                    .checked_mul(*y)
                    .ok_or_else(|| overflow("multiplying", "*", *x, *y))?,
                _ => {
                    if *y == 0 {
                        return Err(ErrorKind::DivisionByZero);
                    }
                    x.checked_div(*y)
                        .ok_or_else(|| overflow("dividing", "/", *x, *y))?
                }
            }),
            (Int(_) | Float(_), Int(_) | Float(_)) => {
                let (x, y) = (as_f64(a).unwrap_or_default(), as_f64(b).unwrap_or_default());
                Float(match op {
                    BinOp::Sub => x - y,
                    BinOp::Mul => x * y,
                    _ => {
                        if y == 0.0 {
                            return Err(ErrorKind::DivisionByZero);
                        }
                        x / y
                    }
                })
            }
            (Int(_) | Float(_), _) => return Err(ErrorKind::type_error("an integer", b)),
            _ => return Err(ErrorKind::type_error("an integer", a)),
        },
        BinOp::Less | BinOp::LessEq | BinOp::More | BinOp::MoreEq => {
            // C++ Nix reads `a > b` as `b < a`, `a <= b` as `!(b < a)` and
            // `a >= b` as `!(a < b)` (so errors name the operands that way).
            let (x, y, negate) = less_than_operands(op, a, b);
            let ord = match compare_scalars(x, y)? {
                Some(o) => o,
                None => return Ok(None),
            };
            Bool((ord == std::cmp::Ordering::Less) != negate)
        }
        BinOp::Eq | BinOp::NotEq => match scalar_eq(a, b) {
            Some(e) => Bool(e == (op == BinOp::Eq)),
            None => return Ok(None),
        },
        BinOp::Update => match (a, b) {
            (Attrs(x), Attrs(y)) => {
                if x.is_empty() {
                    Attrs(y.clone())
                } else if y.is_empty() {
                    Attrs(x.clone())
                } else {
                    Value::attrs_with_pos(x.map.update(&y.map), AttrSet::update_pos(x, y))
                }
            }
            (Attrs(_), _) => return Err(ErrorKind::type_error("a set", b)),
            _ => return Err(ErrorKind::type_error("a set", a)),
        },
        BinOp::Concat => match (a, b) {
            (List(x), List(y)) => {
                if y.is_empty() {
                    Value::List(x.clone())
                } else if x.is_empty() {
                    Value::List(y.clone())
                } else {
                    Value::list(super::list::List::concat(x, y))
                }
            }
            (List(_), _) => return Err(ErrorKind::type_error("a list", b)),
            _ => return Err(ErrorKind::type_error("a list", a)),
        },
    };
    Ok(Some(v))
}

/// The operands of the `<` an ordering operator stands for, and whether
/// its result is negated.
fn less_than_operands<'v>(op: BinOp, a: &'v Value, b: &'v Value) -> (&'v Value, &'v Value, bool) {
    match op {
        BinOp::Less => (a, b, false),
        BinOp::More => (b, a, false),
        BinOp::LessEq => (b, a, true),
        _ => (a, b, true),
    }
}

/// Order of two non-list values; `None` for two lists.
fn compare_scalars(a: &Value, b: &Value) -> Result<Option<std::cmp::Ordering>, ErrorKind> {
    use Value::*;
    Ok(Some(match (a, b) {
        (Int(x), Int(y)) => x.cmp(y),
        (Int(_) | Float(_), Int(_) | Float(_)) => {
            let (x, y) = (as_f64(a).unwrap_or_default(), as_f64(b).unwrap_or_default());
            x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal)
        }
        (String(x), String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Path(x), Path(y)) => x.as_os_str().cmp(y.as_os_str()),
        (List(_), List(_)) => return Ok(None),
        _ => return Err(ErrorKind::incomparable(a, b)),
    }))
}

/// Equality when it needs no forcing; `None` for two lists or two sets.
pub(crate) fn scalar_eq(a: &Value, b: &Value) -> Option<bool> {
    use Value::*;
    Some(match (a, b) {
        (Null, Null) => true,
        (Bool(x), Bool(y)) => x == y,
        (Int(x), Int(y)) => x == y,
        (Int(_) | Float(_), Int(_) | Float(_)) => as_f64(a) == as_f64(b),
        (String(x), String(y)) => x == y,
        (Path(x), Path(y)) => x == y,
        (Attrs(x), Attrs(y)) if Counted::ptr_eq(x, y) => true,
        (List(x), List(y)) if Counted::ptr_eq(x, y) => true,
        (List(x), List(y)) if x.len() != y.len() => false,
        (Attrs(_), Attrs(_)) | (List(_), List(_)) => return None,
        _ => false,
    })
}

/// The operators that need forcing: deep equality and list ordering.
pub async fn binop_deep(co: Co, op: BinOp, a: Value, b: Value) -> Result<Value, ErrorKind> {
    match op {
        BinOp::Add => {
            let coerce = |v: Value| async {
                Ok::<Value, ErrorKind>(match v {
                    Value::Attrs(_) => {
                        Value::String(coerce_to_string(&co, v, Coercion::Interpolation).await?)
                    }
                    v => v,
                })
            };
            let a = coerce(a).await?;
            // `"…" + ./p` copies the path to the store.
            let b = match (&a, b) {
                (Value::String(_), b @ Value::Path(_)) => {
                    Value::String(coerce_to_string(&co, b, Coercion::Interpolation).await?)
                }
                (_, b) => coerce(b).await?,
            };
            binop_simple(op, &a, &b)?.ok_or_else(|| ErrorKind::cannot_coerce(&b))
        }
        BinOp::Eq => Ok(Value::Bool(equal(&co, a, b).await?)),
        BinOp::NotEq => Ok(Value::Bool(!equal(&co, a, b).await?)),
        _ => {
            let (x, y, negate) = less_than_operands(op, &a, &b);
            let o = compare(&co, x.clone(), y.clone()).await?;
            Ok(Value::Bool((o == std::cmp::Ordering::Less) != negate))
        }
    }
}

/// Nix's `==`: structural, forcing as it goes; two derivations compare by
/// `outPath`; functions are never equal.
pub async fn equal(co: &Co, a: Value, b: Value) -> Result<bool, ErrorKind> {
    let mut work = vec![(a, b)];
    let mut nested = false;
    while let Some((a, b)) = work.pop() {
        // Inside sets and lists, the very same value is equal to itself,
        // even a function (C++ Nix's value identity shortcut).
        if nested && identical(&a, &b) {
            continue;
        }
        nested = true;
        let a = force(co, a).await?;
        let b = force(co, b).await?;
        if let Some(e) = scalar_eq(&a, &b) {
            if !e {
                return Ok(false);
            }
            continue;
        }
        match (&a, &b) {
            (Value::List(x), Value::List(y)) => {
                work.extend(x.iter().cloned().zip(y.iter().cloned()).rev());
            }
            (Value::Attrs(x), Value::Attrs(y)) => {
                let is_drv = |s: &super::value::Attrs| matches!(s.get_bytes(b"type").map(|v| v.resolved()), Some(Value::String(t)) if t.as_bytes() == b"derivation");
                let out = NixString::from("outPath");
                if is_drv(x) && is_drv(y) {
                    if let (Some(p), Some(q)) = (x.get(&out), y.get(&out)) {
                        work.push((p.clone(), q.clone()));
                        continue;
                    }
                }
                if x.len() != y.len() || x.keys().zip(y.keys()).any(|(k, l)| k != l) {
                    return Ok(false);
                }
                // In C++ Nix's order, which decides which error comes first.
                let pairs: Vec<(Value, Value)> = super::symbols::in_symbol_order(x)
                    .into_iter()
                    .filter_map(|(k, v)| Some((v.clone(), y.get(k)?.clone())))
                    .collect();
                work.extend(pairs.into_iter().rev());
            }
            _ => return Ok(false),
        }
    }
    Ok(true)
}

/// The same thunk, function, set or list object.
pub fn identical(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Thunk(x), Value::Thunk(y)) => x.ptr_eq(y),
        (Value::Closure(x), Value::Closure(y)) => Counted::ptr_eq(x, y),
        (Value::Builtin(x), Value::Builtin(y)) => Rc::ptr_eq(x, y),
        (Value::Attrs(x), Value::Attrs(y)) => Counted::ptr_eq(x, y),
        (Value::List(x), Value::List(y)) => Counted::ptr_eq(x, y),
        _ => false,
    }
}

/// Ordering for `<` and friends, lists compared element by element.
pub async fn compare(co: &Co, a: Value, b: Value) -> Result<std::cmp::Ordering, ErrorKind> {
    let a = force(co, a).await?;
    let b = force(co, b).await?;
    if let Some(o) = compare_scalars(&a, &b)? {
        return Ok(o);
    }
    let (Value::List(x), Value::List(y)) = (&a, &b) else {
        return Err(ErrorKind::incomparable(&a, &b));
    };
    for (p, q) in x.iter().zip(y.iter()) {
        // Equal elements are skipped (so `[ {} ] < [ {} ]` is false); the
        // first unequal pair decides. Nested lists recurse through boxed
        // futures, bounded by the data's nesting.
        if equal(co, p.clone(), q.clone()).await? {
            continue;
        }
        return Box::pin(compare(co, p.clone(), q.clone())).await;
    }
    Ok(x.len().cmp(&y.len()))
}

/// How a value is turned into a string.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Coercion {
    /// `"${x}"` and `+`: strings, paths (copied to the store), sets with
    /// `__toString`/`outPath`.
    Interpolation,
    /// `toString`: also numbers, Booleans, null and lists; paths stay
    /// their own text.
    ToString,
    /// Derivation attributes: as `toString`, but paths are copied to the
    /// store.
    DrvAttr,
}

impl Coercion {
    /// Numbers, Booleans, null and lists are accepted (C++'s `coerceMore`).
    fn more(self) -> bool {
        self != Coercion::Interpolation
    }
    /// Paths become store paths (C++'s `copyToStore`).
    fn copies(self) -> bool {
        self != Coercion::ToString
    }
}

/// Coerces `v` to a string (bytes), calling `__toString` and following
/// `outPath` as C++ Nix does.
pub async fn coerce_to_string(co: &Co, v: Value, mode: Coercion) -> Result<NixString, ErrorKind> {
    if let Value::String(s) = v.resolved() {
        return Ok(s);
    }
    let mut out = Vec::new();
    let mut ctx = Context::new();
    coerce_into(co, v, mode, &mut out, &mut ctx).await?;
    Ok(NixString::with_context(out, ctx))
}

/// [`coerce_to_string`], appending to `out` and adding the string
/// context to `ctx`.
pub async fn coerce_into(
    co: &Co,
    v: Value,
    mode: Coercion,
    out: &mut Vec<u8>,
    ctx: &mut Context,
) -> Result<(), ErrorKind> {
    // Fast path: a string already evaluated needs no work list.
    if let Value::String(s) = v.resolved() {
        out.extend_from_slice(s.as_bytes());
        s.add_context_to(ctx);
        return Ok(());
    }
    // A work list so that nested lists need no recursion: each item says
    // whether a space follows it (list elements but the last, and not after
    // an empty list: C++ Nix's rule).
    enum Work {
        Item(Value, bool),
        Space,
    }
    let mut work = vec![Work::Item(v, false)];
    while let Some(item) = work.pop() {
        let (v, space_after) = match item {
            Work::Space => {
                out.push(b' ');
                continue;
            }
            Work::Item(v, s) => (v, s),
        };
        let v = force(co, v).await?;
        match &v {
            Value::String(s) => {
                out.extend_from_slice(s.as_bytes());
                s.add_context_to(ctx);
            }
            Value::Path(p) => {
                if mode.copies() {
                    let s = copy_to_store(co, p).await?;
                    out.extend_from_slice(s.as_bytes());
                    s.add_context_to(ctx);
                } else {
                    out.extend_from_slice(p.as_os_str().as_encoded_bytes());
                }
            }
            Value::Attrs(a) => {
                if let Some(f) = a.get_bytes(b"__toString") {
                    let r = call(co, f.clone(), v.clone()).await?;
                    work.push(Work::Item(r, space_after));
                    continue;
                } else if let Some(p) = a.get_bytes(b"outPath") {
                    work.push(Work::Item(p.clone(), space_after));
                    continue;
                } else {
                    return Err(ErrorKind::cannot_coerce(&v));
                }
            }
            Value::Int(i) if mode.more() => {
                out.extend_from_slice(crate::eval::value::int_digits(*i, &mut [0; 20]))
            }
            Value::Float(f) if mode.more() => out.extend_from_slice(format!("{f:.6}").as_bytes()),
            Value::Bool(true) if mode.more() => out.push(b'1'),
            Value::Bool(false) | Value::Null if mode.more() => {}
            Value::List(l) if mode.more() => {
                if l.is_empty() {
                    // No space after an empty list.
                    continue;
                }
                if space_after {
                    work.push(Work::Space);
                }
                let n = l.len();
                for (i, item) in l.iter().enumerate().rev() {
                    work.push(Work::Item(item.clone(), i + 1 < n));
                }
                continue;
            }
            other => return Err(ErrorKind::cannot_coerce(other)),
        }
        if space_after {
            out.push(b' ');
        }
    }
    Ok(())
}

/// C++ Nix's `coerceToString` with neither `coerceMore` nor
/// `copyToStore`: strings, paths (as their own text), and sets through
/// `__toString` or `outPath`, followed in a loop.
pub async fn coerce_no_copy(co: &Co, v: Value) -> Result<NixString, ErrorKind> {
    let mut v = v;
    loop {
        let forced = force(co, v).await?;
        match &forced {
            Value::String(s) => return Ok(s.clone()),
            Value::Path(p) => return Ok(NixString::from(p.as_os_str().as_encoded_bytes())),
            Value::Attrs(a) => {
                if let Some(f) = a.get_bytes(b"__toString") {
                    v = call(co, f.clone(), forced.clone()).await?;
                } else if let Some(p) = a.get_bytes(b"outPath") {
                    v = p.clone();
                } else {
                    return Err(ErrorKind::cannot_coerce(&forced));
                }
            }
            other => return Err(ErrorKind::cannot_coerce(other)),
        }
    }
}

/// The store path a path is copied to (C++ Nix's `copyPathToStore`), as a
/// string whose context is that store path.
pub async fn copy_to_store(co: &Co, p: &Path) -> Result<NixString, ErrorKind> {
    match co.yield_(Request::CopyToStore(p.to_path_buf())).await {
        Response::Value(Value::String(s)) => Ok(s),
        Response::Value(other) => Err(ErrorKind::type_error("a string", &other)),
        Response::Error(e) => Err(e),
    }
}

/// `"a${b}c"` and interpolated paths: coerce every part and join.
pub async fn interpolate(co: Co, parts: Vec<Value>, is_path: bool) -> Result<Value, ErrorKind> {
    let mut out = Vec::new();
    let mut ctx = Context::new();
    for (i, p) in parts.into_iter().enumerate() {
        let p = force(&co, p).await?;
        // The path's own parts are plain strings; interpolated parts of a
        // path may themselves be paths.
        let mode = if is_path && i > 0 {
            Coercion::ToString
        } else {
            Coercion::Interpolation
        };
        if is_path && i > 0 && !matches!(p, Value::String(_) | Value::Path(_)) {
            return Err(ErrorKind::type_error("a string", &p));
        }
        if is_path && i > 0 {
            if let Value::String(s) = &p {
                if s.has_context() {
                    return Err(ErrorKind::Other(
                        "a string that refers to a store path cannot be appended to a path".into(),
                    ));
                }
            }
        }
        coerce_into(&co, p, mode, &mut out, &mut ctx).await?;
    }
    if is_path {
        let s = String::from_utf8_lossy(&out).into_owned();
        return Ok(Value::Path(Rc::new(canonicalise(Path::new(&s)))));
    }
    Ok(Value::String(NixString::with_context(out, ctx)))
}
