//! String builtins: `toString`, `stringLength`, `substring`,
//! `concatStringsSep`, `replaceStrings`, `baseNameOf`, `dirOf` and `toXML`,
//! with C++ Nix 2.8's behaviour and messages.
//!
//! Where later Nix releases made `replaceStrings` lazier, the later
//! behaviour is followed, as upstream's language tests expect it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::rc::Rc;

use super::args::{int_arg, list_arg, string_arg, sync};
use super::fast;
use super::lists::force_while;
use crate::eval::error::ErrorKind;
use crate::eval::ops::{coerce_into, coerce_no_copy, coerce_to_string, Coercion};
use crate::eval::value::{Context, NixString, Value};
use crate::eval::vm::{force, Co, GenFuture};

builtins! {
    #[global] #[fast(fast::to_string)] "toString" => to_string,
    #[fast(fast::string_length)] "stringLength" => string_length, #[fast(substring_fast)] "substring" => substring,
    #[fast(fast::concat_strings_sep)] "concatStringsSep" => concat_strings_sep,
    "replaceStrings" => replace_strings, #[global] #[fast(base_name_of_fast)] "baseNameOf" => base_name_of,
    #[global] "dirOf" => dir_of, "toXML" => to_xml,
}

fn to_string(co: Co, [v]: [Value; 1]) -> GenFuture {
    sync(async move {
        match v.resolved() {
            s @ Value::String(_) => return Ok(s),
            Value::Int(i) => return Ok(Value::String(NixString::of_int(i))),
            _ => {}
        }
        Ok(Value::String(
            coerce_to_string(&co, v, Coercion::ToString).await?,
        ))
    })
}

fn string_length(co: Co, [v]: [Value; 1]) -> GenFuture {
    sync(async move {
        if let Value::String(s) = v.resolved() {
            return Ok(Value::Int(s.len() as i64));
        }
        let s = coerce_to_string(&co, v, Coercion::Interpolation).await?;
        Ok(Value::Int(s.len() as i64))
    })
}

/// `len` bytes of `s` from `start` (to the end for a negative `len`),
/// clipped to the string; the context stays, as in C++ Nix (even for an
/// empty result).
fn substring_of(s: &NixString, start: usize, len: i64) -> Value {
    let start = start.min(s.len());
    let end = if len < 0 {
        s.len()
    } else {
        start.saturating_add(len as usize).min(s.len())
    };
    let mut ctx = Context::new();
    s.add_context_to(&mut ctx);
    Value::String(NixString::with_context(&s.as_bytes()[start..end], ctx))
}

/// `substring`'s fast path: evaluated integers (the start not negative)
/// and an evaluated string.
fn substring_fast([start, len, s]: &[Value; 3]) -> Option<Value> {
    let (Value::Int(start), Value::Int(len), Value::String(s)) =
        (fast::ready(start)?, fast::ready(len)?, fast::ready(s)?)
    else {
        return None;
    };
    Some(substring_of(&s, usize::try_from(start).ok()?, len))
}

fn substring(co: Co, [start, len, s]: [Value; 3]) -> GenFuture {
    sync(async move {
        let start = int_arg(&co, start).await?;
        let len = int_arg(&co, len).await?;
        let s = coerce_to_string(&co, s, Coercion::Interpolation).await?;
        if start < 0 {
            return Err(ErrorKind::Other(
                "negative start position in 'substring'".into(),
            ));
        }
        Ok(substring_of(&s, start as usize, len))
    })
}

fn concat_strings_sep(co: Co, [sep, l]: [Value; 2]) -> GenFuture {
    sync(async move {
        let sep = string_arg(&co, sep).await?;
        let l = list_arg(&co, l).await?;
        // Forcing the elements that are strings ahead, in order, fails
        // where the loop below would, and saves it a round trip each.
        force_while(&co, &l, |v| matches!(v, Value::String(_))).await?;
        // The strings (all the elements, usually) joined without a call
        // each; other elements are coerced one by one.
        if let Some(joined) = fast::join_strings(&sep, &l) {
            return Ok(Value::String(joined));
        }
        let mut ctx = Context::new();
        sep.add_context_to(&mut ctx);
        let mut out = Vec::new();
        for (i, x) in l.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(sep.as_bytes());
            }
            coerce_into(&co, x.clone(), Coercion::Interpolation, &mut out, &mut ctx).await?;
        }
        Ok(Value::String(NixString::with_context(out, ctx)))
    })
}

/// `builtins.replaceStrings from to s`: scanning `s` left to right, at
/// each position the first of `from` that occurs there is replaced by the
/// matching element of `to`; an empty pattern matches at every position
/// (also the end), inserting its replacement before the character there.
/// Replacements are forced only when used.
fn replace_strings(co: Co, [from, to, subject]: [Value; 3]) -> GenFuture {
    sync(async move {
        let from = list_arg(&co, from).await?;
        let to = list_arg(&co, to).await?;
        if from.len() != to.len() {
            return Err(ErrorKind::Other(
                "'from' and 'to' arguments passed to builtins.replaceStrings have different lengths"
                    .into(),
            ));
        }
        let mut patterns = Vec::with_capacity(from.len());
        for p in from.iter() {
            patterns.push(string_arg(&co, p.clone()).await?);
        }
        let subject = string_arg(&co, subject).await?;
        let s = subject.as_bytes();
        // The subject's context and that of every replacement used.
        let mut ctx = Context::new();
        subject.add_context_to(&mut ctx);
        let mut replacements: Vec<Option<NixString>> = vec![None; to.len()];
        let mut out = Vec::with_capacity(s.len());
        // Without an empty pattern, a byte no pattern starts with is
        // copied as it is, with the run of such bytes after it.
        let skip = !patterns.iter().any(|pat| pat.is_empty());
        let mut starts = [false; 256];
        for pat in &patterns {
            if let Some(&b) = pat.as_bytes().first() {
                starts[b as usize] = true;
            }
        }
        let mut p = 0;
        while p <= s.len() {
            if skip {
                let run = s[p..]
                    .iter()
                    .position(|&c| starts[c as usize])
                    .unwrap_or(s.len() - p);
                if run > 0 {
                    out.extend_from_slice(&s[p..p + run]);
                    p += run;
                    continue;
                }
            }
            let found = patterns
                .iter()
                .position(|pat| s[p..].starts_with(pat.as_bytes()));
            match found {
                Some(i) => {
                    let r = match &replacements[i] {
                        Some(r) => r.clone(),
                        None => {
                            let r =
                                string_arg(&co, to.get(i).cloned().unwrap_or(Value::Null)).await?;
                            replacements[i] = Some(r.clone());
                            r
                        }
                    };
                    out.extend_from_slice(r.as_bytes());
                    r.add_context_to(&mut ctx);
                    let len = patterns[i].len();
                    if len == 0 {
                        if let Some(&c) = s.get(p) {
                            out.push(c);
                        }
                        p += 1;
                    } else {
                        p += len;
                    }
                }
                None => {
                    if let Some(&c) = s.get(p) {
                        out.push(c);
                    }
                    p += 1;
                }
            }
        }
        Ok(Value::String(NixString::with_context(out, ctx)))
    })
}

/// The last component of `path`, ignoring one trailing slash.
fn base_name(path: &[u8]) -> &[u8] {
    if path.is_empty() {
        return path;
    }
    let mut last = path.len() - 1;
    if path[last] == b'/' && last > 0 {
        last -= 1;
    }
    let start = path[..=last]
        .iter()
        .rposition(|&c| c == b'/')
        .map_or(0, |p| p + 1);
    &path[start..=last]
}

/// Everything before the last slash: `.` when there is none, `/` when it
/// is the first character.
fn dir_name(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&c| c == b'/') {
        None => b".",
        Some(0) => b"/",
        Some(p) => &path[..p],
    }
}

/// The last component of `s`, with its context.
fn base_name_value(s: &NixString) -> Value {
    let mut ctx = Context::new();
    s.add_context_to(&mut ctx);
    Value::String(NixString::with_context(base_name(s.as_bytes()), ctx))
}

/// `baseNameOf`'s fast path: an evaluated string.
fn base_name_of_fast([s]: &[Value; 1]) -> Option<Value> {
    match fast::ready(s)? {
        Value::String(s) => Some(base_name_value(&s)),
        _ => None,
    }
}

/// `baseNameOf x`: the last component of a path or string (without
/// copying paths to the store), as a string.
fn base_name_of(co: Co, [s]: [Value; 1]) -> GenFuture {
    sync(async move { Ok(base_name_value(&coerce_no_copy(&co, s).await?)) })
}

/// `dirOf x`: the directory part of a path (a path) or of anything else
/// that coerces to a string (a string).
fn dir_of(co: Co, [v]: [Value; 1]) -> GenFuture {
    sync(async move {
        let v = force(&co, v).await?;
        let is_path = matches!(v, Value::Path(_));
        let s = coerce_no_copy(&co, v).await?;
        let dir = dir_name(s.as_bytes());
        Ok(if is_path {
            Value::Path(Rc::new(PathBuf::from(OsStr::from_bytes(dir))))
        } else {
            let mut ctx = Context::new();
            s.add_context_to(&mut ctx);
            Value::String(NixString::with_context(dir, ctx))
        })
    })
}

fn to_xml(co: Co, [v]: [Value; 1]) -> GenFuture {
    sync(async move {
        Ok(Value::string(
            crate::eval::xml::to_xml(&co, v, true, false).await?,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(base_name(b"a//"), b"");
        assert_eq!(base_name(b"/a/b/"), b"b");
        assert_eq!(dir_name(b"a///b"), b"a//");
        assert_eq!(dir_name(b"/"), b"/");
        assert_eq!(dir_name(b"x"), b".");
    }
}
