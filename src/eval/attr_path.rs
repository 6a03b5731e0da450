//! What the front ends do with an evaluated file before printing it, as
//! C++ Nix does: selection paths (`-A a."b.c".0`), calling a function
//! result with `--arg`/`--argstr` values and its defaults (auto-calling),
//! and collecting the derivations a value stands for (`getDerivations`).

use std::collections::HashSet;
use std::path::Path;

use super::code::Params;
use super::counted::Counted;
use super::error::{ErrorKind, EvalError};
use super::value::{Attrs, NixString, Value};
use super::Evaluator;

/// The arguments a function result is called with: name and value (a
/// thunk for `--arg`), sorted by name, one per name.
pub type AutoArgs = Vec<(NixString, Value)>;

fn usage(msg: String) -> EvalError {
    EvalError::new(ErrorKind::Unlocated(msg), None)
}

/// Splits a selection path into its names: `.` separates, `"…"` quotes
/// (so `a."b.c"` is `a`, `b.c`); an empty path has no names.
pub fn parse_attr_path(s: &str) -> Result<Vec<String>, EvalError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '.' => out.push(std::mem::take(&mut cur)),
            '"' => loop {
                match chars.next() {
                    None => {
                        return Err(EvalError::new(
                            ErrorKind::Parse(format!(
                                "missing closing quote in selection path '{s}'"
                            )),
                            None,
                        ))
                    }
                    Some('"') => break,
                    Some(c) => cur.push(c),
                }
            },
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

impl Evaluator {
    /// Makes the value of `--arg NAME EXPR`: `expr` is parsed now and
    /// evaluated when the function uses it.
    pub fn lazy_source(&self, name: &str, dir: &Path, text: String) -> Result<Value, EvalError> {
        let code = self.compile(name, dir, text)?;
        Ok(Value::Thunk(super::value::Thunk::suspended(
            code,
            super::value::Env::new(0, None),
        )))
    }

    /// C++ Nix's `autoCallFunction`: a set with `__functor` is called
    /// through it; a function taking a set of named arguments is called
    /// with those of `args` it declares (all of them with `...`), the
    /// others taking their defaults; anything else is returned forced.
    pub fn auto_call(&self, v: Value, args: &AutoArgs) -> Result<Value, EvalError> {
        let v = self.force(v)?;
        if let Value::Attrs(a) = &v {
            if let Some(functor) = a.get_bytes(b"__functor").cloned() {
                let f = self.call(functor, v.clone())?;
                return self.auto_call(f, args);
            }
            return Ok(v);
        }
        let Value::Closure(c) = &v else { return Ok(v) };
        let Params::Formals {
            formals, ellipsis, ..
        } = &c.lambda.params
        else {
            return Ok(v);
        };
        let mut attrs = Attrs::new();
        if *ellipsis {
            for (n, a) in args {
                attrs.insert(n.clone(), a.clone());
            }
        } else {
            for f in formals {
                match args.iter().find(|(n, _)| *n == f.name) {
                    Some((n, a)) => {
                        attrs.insert(n.clone(), a.clone());
                    }
                    None if f.default.is_none() => {
                        let name = f.name.to_str_lossy();
                        let span = super::code::Span {
                            source: c.lambda.span.source.clone(),
                            start: f.pos,
                            end: f.pos + f.name.as_bytes().len() as u32,
                        };
                        let indent = "\n       ";
                        return Err(EvalError::new(
                            ErrorKind::Other(format!(
                                "cannot evaluate a function that has an argument without a value ('{name}'){indent}\
                                 Nix attempted to evaluate a function as a top level expression; in{indent}\
                                 this case it must have its arguments supplied either by default{indent}\
                                 values, or passed explicitly with '--arg' or '--argstr'. See{indent}\
                                 https://nixos.org/manual/nix/stable/#ss-functions."
                            )),
                            Some(span),
                        ));
                    }
                    None => {}
                }
            }
        }
        self.call(v, Value::attrs(attrs))
    }

    /// C++ Nix's `findAlongAttrPath`: before each step the value is
    /// auto-called and forced; a number selects a list element, anything
    /// else an attribute. The value reached is returned unforced.
    pub fn find_along_attr_path(
        &self,
        path: &str,
        args: &AutoArgs,
        root: Value,
    ) -> Result<Value, EvalError> {
        let mut v = root;
        for name in parse_attr_path(path)? {
            v = self.auto_call(v, args)?;
            let index = name
                .parse::<u32>()
                .ok()
                .filter(|_| name.bytes().all(|b| b.is_ascii_digit()));
            match index {
                None => {
                    let Value::Attrs(a) = &v else {
                        return Err(usage(format!(
                            "the expression selected by the selection path '{path}' should be a set but is {}",
                            v.type_desc()
                        )));
                    };
                    if name.is_empty() {
                        return Err(usage(format!(
                            "empty attribute name in selection path '{path}'"
                        )));
                    }
                    let key = NixString::from(name.as_str());
                    match a.get(&key) {
                        Some(x) => v = x.clone(),
                        None => {
                            let names: Vec<String> =
                                a.keys().map(|k| k.to_str_lossy().into_owned()).collect();
                            let hint = super::vm::did_you_mean(&names, &name);
                            let hint = if hint.is_empty() {
                                hint
                            } else {
                                format!("\n       {hint}")
                            };
                            return Err(usage(format!(
                                "attribute '{name}' in selection path '{path}' not found{hint}"
                            )));
                        }
                    }
                }
                Some(i) => {
                    let Value::List(l) = &v else {
                        return Err(usage(format!(
                            "the expression selected by the selection path '{path}' should be a list but is {}",
                            v.type_desc()
                        )));
                    };
                    match l.get(i as usize) {
                        Some(x) => v = x.clone(),
                        None => {
                            return Err(usage(format!(
                                "list index {i} in selection path '{path}' is out of range"
                            )))
                        }
                    }
                }
            }
        }
        Ok(v)
    }

    /// C++ Nix's `getDerivations`: the derivations `v` stands for, after
    /// auto-calling: itself; a set's attributes that are derivations (in
    /// name order, names of the form `[A-Za-z_][A-Za-z0-9_+-]*` only),
    /// recursing into sets with `recurseForDerivations = true`; a list's
    /// elements, recursing into those that are not derivations. Each
    /// derivation (and set) is taken once.
    pub fn get_derivations(&self, v: Value, args: &AutoArgs) -> Result<Vec<Value>, EvalError> {
        let mut found = Vec::new();
        let mut done = HashSet::new();
        self.get_derivations_in(v, args, &mut found, &mut done)?;
        Ok(found)
    }

    fn get_derivations_in(
        &self,
        v: Value,
        args: &AutoArgs,
        found: &mut Vec<Value>,
        done: &mut HashSet<usize>,
    ) -> Result<(), EvalError> {
        let v = self.auto_call(v, args)?;
        if !self.take_if_derivation(&v, found, done)? {
            return Ok(());
        }
        match &v {
            Value::Attrs(a) => {
                if !done.insert(Counted::as_ptr(a) as usize) {
                    return Ok(());
                }
                let combine = a.get_bytes(b"_combineChannels").is_some();
                for (name, item) in a.iter() {
                    if !is_attr_name(name.as_bytes()) {
                        continue;
                    }
                    if combine {
                        self.get_derivations_in(item.clone(), args, found, done)?;
                        continue;
                    }
                    let item = self.force(item.clone())?;
                    if !self.take_if_derivation(&item, found, done)? {
                        continue;
                    }
                    let Value::Attrs(inner) = &item else { continue };
                    if let Some(r) = inner.get_bytes(b"recurseForDerivations") {
                        match self.force(r.clone())? {
                            Value::Bool(true) => {
                                self.get_derivations_in(item.clone(), args, found, done)?
                            }
                            Value::Bool(false) => {}
                            other => {
                                return Err(EvalError::new(
                                    ErrorKind::type_error("a Boolean", &other),
                                    None,
                                ))
                            }
                        }
                    }
                }
                Ok(())
            }
            Value::List(l) => {
                for item in l.iter() {
                    let item = self.force(item.clone())?;
                    if self.take_if_derivation(&item, found, done)? {
                        self.get_derivations_in(item, args, found, done)?;
                    }
                }
                Ok(())
            }
            _ => Err(EvalError::new(
                ErrorKind::Other(
                    "expression does not evaluate to a derivation (or a set or list of those)"
                        .into(),
                ),
                None,
            )),
        }
    }

    /// C++ Nix's `getDerivation`: records `v` if it is a derivation not
    /// seen yet; answers whether `v` is something else (to look into).
    fn take_if_derivation(
        &self,
        v: &Value,
        found: &mut Vec<Value>,
        done: &mut HashSet<usize>,
    ) -> Result<bool, EvalError> {
        let v = self.force(v.clone())?;
        if !self.is_derivation(&v)? {
            return Ok(true);
        }
        let Value::Attrs(a) = &v else { return Ok(true) };
        if done.insert(Counted::as_ptr(a) as usize) {
            found.push(v.clone());
        }
        Ok(false)
    }

    /// Whether `v` is a set whose `type` is `"derivation"`.
    pub fn is_derivation(&self, v: &Value) -> Result<bool, EvalError> {
        let Value::Attrs(a) = v else { return Ok(false) };
        match a.get_bytes(b"type") {
            Some(t) => Ok(matches!(
                self.force(t.clone())?,
                Value::String(s) if s.as_bytes() == b"derivation"
            )),
            None => Ok(false),
        }
    }
}

/// The attribute names `getDerivations` looks at.
fn is_attr_name(n: &[u8]) -> bool {
    match n.split_first() {
        Some((f, rest)) => {
            (f.is_ascii_alphabetic() || *f == b'_')
                && rest
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'+' | b'-'))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_paths() {
        assert_eq!(parse_attr_path("").unwrap(), Vec::<String>::new());
        assert_eq!(parse_attr_path("a.b.0").unwrap(), vec!["a", "b", "0"]);
        assert_eq!(parse_attr_path("x.\"a.b\"").unwrap(), vec!["x", "a.b"]);
        assert_eq!(parse_attr_path("a..b").unwrap(), vec!["a", "", "b"]);
        assert_eq!(parse_attr_path("a.").unwrap(), vec!["a"]);
        assert!(parse_attr_path("x.\"a").is_err());
    }

    #[test]
    fn attr_names_for_derivations() {
        assert!(is_attr_name(b"hello-2_x+"));
        assert!(!is_attr_name(b"a.b"));
        assert!(!is_attr_name(b"1x"));
        assert!(!is_attr_name(b""));
    }
}
