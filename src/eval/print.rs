//! Prints values as `nix-instantiate --eval` does: sets and lists with
//! spaces, strings escaped, `<LAMBDA>`/`<PRIMOP>`/`<PRIMOP-APP>` for
//! functions, `<CODE>` for values not yet evaluated, and `«repeated»` for a
//! set or list already printed.

use std::collections::HashSet;

use super::counted::Counted;
use super::value::{NixString, Value};

/// The printed form of `v`.
pub fn print(v: &Value) -> String {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    print_into(v, &mut out, &mut seen);
    String::from_utf8_lossy(&out).into_owned()
}

/// The printed form as bytes (strings may hold any bytes).
pub fn print_bytes(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    print_into(v, &mut out, &mut seen);
    out
}

/// Appends `s` as a Nix string literal, as values print (`${` escaped).
pub fn escape_string(s: &[u8], out: &mut Vec<u8>) {
    escape(s, out, false);
}

/// Appends `s` as C++ Nix 2.8's `printLiteralString` does (attribute
/// names, `--parse`): every `$` escaped.
pub fn escape_literal(s: &[u8], out: &mut Vec<u8>) {
    escape(s, out, true);
}

fn escape(s: &[u8], out: &mut Vec<u8>, every_dollar: bool) {
    out.push(b'"');
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'$' if every_dollar => out.extend_from_slice(b"\\$"),
            b'$' if s.get(i + 1) == Some(&b'{') => {
                out.extend_from_slice(b"\\${");
                i += 1;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out.push(b'"');
}

/// C++ Nix 2.8 quotes only this keyword when printing attribute names.
const KEYWORDS: &[&str] = &["if"];

/// Appends an attribute name: bare when it is an identifier, else quoted.
pub fn attr_name(name: &NixString, out: &mut Vec<u8>) {
    let b = name.as_bytes();
    let is_ident = !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'\'' || c == b'-')
        && !KEYWORDS.contains(&&*name.to_str_lossy());
    if is_ident {
        out.extend_from_slice(b);
    } else {
        escape_literal(b, out);
    }
}

fn print_into(v: &Value, out: &mut Vec<u8>, seen: &mut HashSet<usize>) {
    // Sets are recognised by their bindings, lists by the value slot that
    // holds them (as C++ Nix does), so a list containing itself prints
    // once more before «repeated».
    let slot = match v {
        Value::Thunk(t) => Some(t.address()),
        _ => None,
    };
    let v = v.resolved();
    match &v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Float(f) => out.extend_from_slice(format_float(*f).as_bytes()),
        Value::String(s) => escape_string(s.as_bytes(), out),
        Value::Path(p) => out.extend_from_slice(p.as_os_str().as_encoded_bytes()),
        Value::Attrs(a) => {
            if !a.is_empty() && !seen.insert(Counted::as_ptr(a) as usize) {
                out.extend_from_slice("«repeated»".as_bytes());
                return;
            }
            out.extend_from_slice(b"{ ");
            for (k, v) in a.iter() {
                attr_name(k, out);
                out.extend_from_slice(b" = ");
                print_into(v, out, seen);
                out.extend_from_slice(b"; ");
            }
            out.push(b'}');
        }
        Value::List(l) => {
            if !l.is_empty() && slot.is_some_and(|id| !seen.insert(id)) {
                out.extend_from_slice("«repeated»".as_bytes());
                return;
            }
            out.extend_from_slice(b"[ ");
            for item in l.iter() {
                print_into(item, out, seen);
                out.push(b' ');
            }
            out.push(b']');
        }
        Value::Closure(_) => out.extend_from_slice(b"<LAMBDA>"),
        Value::Builtin(b) => out.extend_from_slice(if b.args.is_empty() {
            b"<PRIMOP>"
        } else {
            b"<PRIMOP-APP>"
        }),
        Value::Thunk(_) => out.extend_from_slice(b"<CODE>"),
    }
}

/// A value as newer C++ Nix shows it in error messages: nothing is forced
/// (`«thunk»`), functions show where they are defined, and at most ten
/// attributes and ten list items are printed in all (the rest elided).
pub fn error_value(v: &Value) -> String {
    let mut out = Vec::new();
    let mut budget = ErrorBudget { attrs: 0, items: 0 };
    error_value_into(v, &mut out, &mut budget, 0);
    String::from_utf8_lossy(&out).into_owned()
}

struct ErrorBudget {
    attrs: usize,
    items: usize,
}

const ERROR_MAX_ITEMS: usize = 10;
const ERROR_MAX_DEPTH: usize = 10;

fn error_value_into(v: &Value, out: &mut Vec<u8>, budget: &mut ErrorBudget, depth: usize) {
    let v = v.resolved();
    match &v {
        Value::Attrs(a) => {
            if depth >= ERROR_MAX_DEPTH {
                out.extend_from_slice(b"{ ... }");
                return;
            }
            out.extend_from_slice(b"{ ");
            for (i, (k, x)) in a.iter().enumerate() {
                if budget.attrs >= ERROR_MAX_ITEMS {
                    let n = a.len() - i;
                    let noun = if n == 1 { "attribute" } else { "attributes" };
                    out.extend_from_slice(format!("«{n} {noun} elided» ").as_bytes());
                    break;
                }
                attr_name(k, out);
                out.extend_from_slice(b" = ");
                error_value_into(x, out, budget, depth + 1);
                out.extend_from_slice(b"; ");
                budget.attrs += 1;
            }
            out.push(b'}');
        }
        Value::List(l) => {
            if depth >= ERROR_MAX_DEPTH {
                out.extend_from_slice(b"[ ... ]");
                return;
            }
            out.extend_from_slice(b"[ ");
            for (i, x) in l.iter().enumerate() {
                if budget.items >= ERROR_MAX_ITEMS {
                    let n = l.len() - i;
                    let noun = if n == 1 { "item" } else { "items" };
                    out.extend_from_slice(format!("«{n} {noun} elided» ").as_bytes());
                    break;
                }
                error_value_into(x, out, budget, depth + 1);
                out.push(b' ');
                budget.items += 1;
            }
            out.push(b']');
        }
        Value::Closure(c) => {
            out.extend_from_slice("«lambda".as_bytes());
            if let Some(n) = &c.lambda.name {
                out.push(b' ');
                out.extend_from_slice(n.as_bytes());
            }
            out.extend_from_slice(format!(" @ {}»", c.lambda.span.describe()).as_bytes());
        }
        Value::Builtin(b) => {
            let s = if b.args.is_empty() {
                format!("«primop {}»", b.name)
            } else {
                format!("«partially applied primop {}»", b.name)
            };
            out.extend_from_slice(s.as_bytes());
        }
        Value::Thunk(_) => out.extend_from_slice("«thunk»".as_bytes()),
        other => print_into(other, out, &mut HashSet::new()),
    }
}

/// Formats a float as C++ Nix prints it (`%g` with six digits).
pub fn format_float(x: f64) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() {
            "-nan".into()
        } else {
            "nan".into()
        };
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf".into() } else { "inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let exp = x.abs().log10().floor() as i32;
    // %g: scientific when the exponent is < -4 or >= the precision (6).
    let s = if !(-4..6).contains(&exp) {
        let s = format!("{:.5e}", x);
        let (mant, e) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = trim_zeros(mant);
        let e: i32 = e.parse().unwrap_or(0);
        format!("{mant}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    } else {
        let decimals = (5 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, x)).to_owned()
    };
    s
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::format_float;

    #[test]
    fn floats_print_like_printf_g() {
        for (x, s) in [
            (1.5, "1.5"),
            (3.4, "3.4"),
            (100000.0, "100000"),
            (1000000.0, "1e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.0 / 3.0, "0.333333"),
            (123456789.0, "1.23457e+08"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.3"),
        ] {
            assert_eq!(format_float(x), s);
        }
    }
}
