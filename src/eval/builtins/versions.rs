//! Versions and derivation names: `compareVersions`, `splitVersion` and
//! `parseDrvName`, as C++ Nix splits and orders version components.

use super::args::{name_arg, sync};
use crate::eval::value::{List, NixString, Value};
use crate::eval::vm::{Co, GenFuture};

builtins! {
    "splitVersion" => split_version, "compareVersions" => compare_versions,
    #[fast(parse_drv_name_fast)] "parseDrvName" => parse_drv_name,
}

/// The next component of a version string from `*p`: separators (`.`,
/// `-`) are skipped, then a run of digits or a run of other characters.
/// Empty at the end.
fn next_component<'a>(s: &'a [u8], p: &mut usize) -> &'a [u8] {
    while *p < s.len() && (s[*p] == b'.' || s[*p] == b'-') {
        *p += 1;
    }
    let start = *p;
    if *p < s.len() && s[*p].is_ascii_digit() {
        while *p < s.len() && s[*p].is_ascii_digit() {
            *p += 1;
        }
    } else {
        while *p < s.len() && !s[*p].is_ascii_digit() && s[*p] != b'.' && s[*p] != b'-' {
            *p += 1;
        }
    }
    &s[start..*p]
}

/// Whether version component `a` sorts before `b`: numbers (that fit a C
/// `int`) numerically, the empty component before numbers, `pre` before
/// everything else, other strings before numbers, else bytewise.
fn component_less(a: &[u8], b: &[u8]) -> bool {
    let num = |s: &[u8]| -> Option<i32> { std::str::from_utf8(s).ok()?.parse().ok() };
    let (n1, n2) = (num(a), num(b));
    match (n1, n2) {
        (Some(x), Some(y)) => x < y,
        _ if a.is_empty() && n2.is_some() => true,
        _ if a == b"pre" && b != b"pre" => true,
        _ if b == b"pre" => false,
        (_, Some(_)) => true,
        (Some(_), _) => false,
        _ => a < b,
    }
}

/// C++ Nix's `compareVersions`: -1, 0 or 1.
fn compare_version_strings(a: &[u8], b: &[u8]) -> i64 {
    let (mut p, mut q) = (0, 0);
    while p < a.len() || q < b.len() {
        let c1 = next_component(a, &mut p);
        let c2 = next_component(b, &mut q);
        if component_less(c1, c2) {
            return -1;
        }
        if component_less(c2, c1) {
            return 1;
        }
    }
    0
}

/// `builtins.compareVersions a b`: -1, 0 or 1 as version `a` is older
/// than, the same as or newer than `b`.
fn compare_versions(co: Co, [a, b]: [Value; 2]) -> GenFuture {
    sync(async move {
        let a = name_arg(&co, a).await?;
        let b = name_arg(&co, b).await?;
        Ok(Value::Int(compare_version_strings(
            a.as_bytes(),
            b.as_bytes(),
        )))
    })
}

/// `builtins.splitVersion s`: the components `compareVersions` compares.
fn split_version(co: Co, [s]: [Value; 1]) -> GenFuture {
    sync(async move {
        let s = name_arg(&co, s).await?;
        let s = s.as_bytes();
        let mut p = 0;
        let mut out = List::new();
        while p < s.len() {
            let c = next_component(s, &mut p);
            if c.is_empty() {
                break;
            }
            out.push_back(Value::string(c));
        }
        Ok(Value::list(out))
    })
}

/// `parseDrvName`'s fast path: the string evaluated, without context.
fn parse_drv_name_fast([s]: &[Value; 1]) -> Option<Value> {
    match super::fast::ready(s)? {
        Value::String(s) if !s.has_context() => Some(parsed_drv_name(&s)),
        _ => None,
    }
}

/// `builtins.parseDrvName s`: `{ name; version; }`, split at the first
/// `-` not followed by a letter (no version when there is none). A name
/// with context is an error, as in C++ Nix.
fn parse_drv_name(co: Co, [s]: [Value; 1]) -> GenFuture {
    sync(async move { Ok(parsed_drv_name(&name_arg(&co, s).await?)) })
}

/// `{ name; version; }` of derivation name `s`.
fn parsed_drv_name(s: &NixString) -> Value {
    let b = s.as_bytes();
    let split = (0..b.len())
        .find(|&i| b[i] == b'-' && b.get(i + 1).is_some_and(|c| !c.is_ascii_alphabetic()));
    let (name, version) = match split {
        Some(i) => (Value::string(&b[..i]), Value::string(&b[i + 1..])),
        None => (Value::String(s.clone()), Value::string("")),
    };
    super::args::attrs_from([("name", name), ("version", version)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_components() {
        let split = |s: &str| {
            let mut p = 0;
            let mut v = Vec::new();
            while p < s.len() {
                let c = next_component(s.as_bytes(), &mut p);
                if c.is_empty() {
                    break;
                }
                v.push(String::from_utf8_lossy(c).into_owned());
            }
            v
        };
        assert_eq!(split("1.2.3"), ["1", "2", "3"]);
        assert_eq!(split("2.3pre1-x"), ["2", "3", "pre", "1", "x"]);
        assert_eq!(compare_version_strings(b"2.3pre1", b"2.3"), -1);
        assert_eq!(compare_version_strings(b"2.3.1", b"2.3a"), 1);
        assert_eq!(compare_version_strings(b"1.0", b"1.0"), 0);
    }
}
