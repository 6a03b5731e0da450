//! The order of attribute and variable names as C++ Nix 2.8 keeps it.
//!
//! C++ Nix 2.8 interns names as symbols and orders a set's attributes, a
//! `let`'s bindings and a `rec` set's slots by the address of the interned
//! name, which in practice is mostly the order in which names were first
//! seen: the names the evaluator interns at start-up, then each file's
//! names in source order as it is parsed, then names made while
//! evaluating (a few start-up names land after the user's, see [`LATE`];
//! an order by address cannot be reproduced exactly, this is a model of
//! it checked against C++ Nix 2.8 in the compat corpora). That
//! order shows in what C++ Nix does: `--strict` and `deepSeq` force a set's
//! attributes in it (so it decides which error comes first), `==` compares
//! attributes in it, and `let`/`rec` fill their slots in it (so whether
//! `rec { a = 1; b = a; }` shares `a`'s value with `b`, which
//! `nix-instantiate --eval` shows). This module gives each name the ordinal
//! of its first appearance, per thread (values never cross threads).

use std::cell::RefCell;
use std::collections::HashMap;

use super::value::{AttrSet, NixString, Value};

/// Names C++ Nix 2.8 interns before it reads any user code: `EvalState`'s
/// own symbols in its order (the builtins' names follow, in name order,
/// from [`intern_globals`]).
const PREINTERNED: &[&str] = &[
    "<with>",
    "outPath",
    "drvPath",
    "type",
    "meta",
    "name",
    "value",
    "system",
    "__overrides",
    "outputs",
    "outputName",
    "__ignoreNulls",
    "file",
    "line",
    "column",
    "__functor",
    "__toString",
    "right",
    "wrong",
    "__structuredAttrs",
    "builder",
    "args",
    "__contentAddressed",
    "__impure",
    "outputHash",
    "outputHashAlgo",
    "outputHashMode",
    "recurseForDerivations",
    "description",
    "self",
    "",
    "startSet",
    "operator",
    "key",
    "path",
    "prefix",
    "outputSpecified",
];

/// Identifiers of C++ Nix's `derivation.nix` that are no builtin's name.
/// It is parsed last at start-up, and in practice these names land at
/// higher addresses than the names a user's code interns first (which
/// reuse memory freed by then): `let x = 1; y = x;` fills `y` first. They
/// are given ordinals after every other name.
const LATE: &[&str] = &[
    "drvAttrs",
    "strict",
    "commonAttrs",
    "outputsList",
    "x",
    "outputToAttrListElement",
];

/// The first ordinal of [`LATE`] names.
const LATE_BASE: u32 = u32::MAX / 2;

struct Table {
    ordinals: HashMap<Box<[u8]>, u32>,
    /// The ordinal the next new name gets.
    next: u32,
    globals_done: bool,
}

impl Table {
    fn new() -> Table {
        let mut t = Table {
            ordinals: HashMap::new(),
            next: 0,
            globals_done: false,
        };
        for n in PREINTERNED {
            t.intern(n.as_bytes());
        }
        for (i, n) in LATE.iter().enumerate() {
            t.ordinals.insert(n.as_bytes().into(), LATE_BASE + i as u32);
        }
        t
    }

    fn intern(&mut self, name: &[u8]) -> u32 {
        if let Some(&o) = self.ordinals.get(name) {
            return o;
        }
        let o = self.next;
        self.next += 1;
        self.ordinals.insert(name.into(), o);
        o
    }
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table::new());
}

thread_local! {
    /// One string per attribute name the compiler wrote (see
    /// [`name_string`]).
    static NAME_STRINGS: RefCell<HashMap<Box<[u8]>, NixString>> = RefCell::new(HashMap::new());
}

/// The string for the attribute name `name` written in code, the same
/// block each time: a set made by `{ a = …; }` and the `x.a` that looks
/// into it then hold one string, and an instruction that remembers where
/// it last found its name knows it again by the address alone.
pub fn name_string(name: impl AsRef<[u8]>) -> NixString {
    let name = name.as_ref();
    NAME_STRINGS.with(|m| {
        let mut m = m.borrow_mut();
        if let Some(s) = m.get(name) {
            return s.clone();
        }
        let s = NixString::from(name);
        m.insert(name.into(), s.clone());
        s
    })
}

/// The ordinal of `name`, interning it now if it is new.
pub fn intern(name: &[u8]) -> u32 {
    TABLE.with(|t| t.borrow_mut().intern(name))
}

/// Interns the global names (builtins) once, in name order, as C++ Nix
/// does at start-up.
pub fn intern_globals<'a>(names: impl Iterator<Item = &'a str>) {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        if t.globals_done {
            return;
        }
        t.globals_done = true;
        let mut names: Vec<&str> = names.collect();
        names.sort_unstable();
        for n in names {
            t.intern(n.strip_prefix("__").unwrap_or(n).as_bytes());
            t.intern(n.as_bytes());
        }
    })
}

/// The attributes of `set` in C++ Nix's order (see the module doc).
pub fn in_symbol_order(set: &AttrSet) -> Vec<(&NixString, &Value)> {
    let mut entries: Vec<(u32, (&NixString, &Value))> = TABLE.with(|t| {
        let mut t = t.borrow_mut();
        set.iter()
            .map(|(k, v)| (t.intern(k.as_bytes()), (k, v)))
            .collect()
    });
    entries.sort_unstable_by_key(|e| e.0);
    entries.into_iter().map(|e| e.1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_appearance_decides_and_startup_names_come_first() {
        let a = intern(b"symbols-test-zzz");
        let b = intern(b"symbols-test-aaa");
        assert!(a < b);
        assert_eq!(intern(b"symbols-test-zzz"), a);
        assert!(intern(b"name") < intern(b"value"));
        assert!(intern(b"value") < a);
        assert!(a < intern(b"x"));
    }
}
