//! Attribute maps, sorted by name as Nix prints and iterates them.
//!
//! Most sets are small (a derivation's arguments, a module's options, a
//! JSON object): those are a sorted vector of (name, value) pairs, one
//! allocation as C++ Nix's `Bindings`. A set that grows past
//! [`SMALL_MAX`] names becomes a persistent B-tree (`imbl`), so that
//! building a large set name by name (`listToAttrs`, `mapAttrs`) and
//! updating it stay logarithmic.

use std::iter::FromIterator;

use super::value::{NixString, Value};

/// The largest set kept as a sorted vector. 32 rather than 16 measured
/// −34 MiB and 0.98 of the CPU time on the package benchmark (the module
/// benchmark unchanged); 64 changed nothing more.
pub const SMALL_MAX: usize = 32;

type Tree = imbl::GenericOrdMap<NixString, Value, imbl::shared_ptr::RcK>;

/// An attribute map: name to value, ordered by name.
#[derive(Clone)]
pub struct Attrs(Repr);

#[derive(Clone)]
enum Repr {
    Small(Vec<(NixString, Value)>),
    Large(Tree),
}

thread_local! {
    /// The names [`Attrs::get_bytes`] was asked for, made once.
    static WELL_KNOWN: std::cell::RefCell<Vec<(&'static [u8], NixString)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// `name` as a string, made once per thread (the evaluator asks for a
/// handful of names: `outPath`, `__toString`, `__functor`, `type`, …).
fn well_known_name(name: &'static [u8]) -> NixString {
    WELL_KNOWN.with(|names| {
        let mut names = names.borrow_mut();
        if let Some((_, s)) = names.iter().find(|(n, _)| *n == name) {
            return s.clone();
        }
        let s = NixString::from(name);
        names.push((name, s.clone()));
        s
    })
}

impl Default for Attrs {
    fn default() -> Self {
        Attrs::new()
    }
}

impl Attrs {
    pub const fn new() -> Attrs {
        Attrs(Repr::Small(Vec::new()))
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Small(v) => v.len(),
            Repr::Large(t) => t.len(),
        }
    }

    /// The entries of a small set, in order (`None` for a large one).
    pub fn as_sorted_slice(&self) -> Option<&[(NixString, Value)]> {
        match &self.0 {
            Repr::Small(v) => Some(v),
            Repr::Large(_) => None,
        }
    }

    /// Whether this is a persistent tree rather than a sorted vector.
    #[inline]
    pub fn is_large(&self) -> bool {
        matches!(self.0, Repr::Large(_))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    fn find(v: &[(NixString, Value)], key: &NixString) -> Result<usize, usize> {
        v.binary_search_by(|(k, _)| k.cmp(key))
    }

    pub fn get(&self, key: &NixString) -> Option<&Value> {
        match &self.0 {
            Repr::Small(v) => Self::find(v, key).ok().map(|i| &v[i].1),
            Repr::Large(t) => t.get(key),
        }
    }

    /// [`Attrs::get`] that first tries the entry at `hint` (where the
    /// instruction asking last found its name), by the name's address
    /// only, and on a miss leaves there where the search found it.
    #[inline]
    pub fn get_hinted(&self, key: &NixString, hint: &std::cell::Cell<u32>) -> Option<&Value> {
        match &self.0 {
            Repr::Small(v) => {
                if let Some((k, x)) = v.get(hint.get() as usize) {
                    if k.ptr_eq(key) {
                        return Some(x);
                    }
                }
                let i = Self::find(v, key).ok()?;
                hint.set(i as u32);
                Some(&v[i].1)
            }
            Repr::Large(t) => t.get(key),
        }
    }

    /// The value of the attribute named `key` (a name written in the
    /// evaluator's code, such as `outPath`, without making a string).
    pub fn get_bytes(&self, key: &'static [u8]) -> Option<&Value> {
        match &self.0 {
            Repr::Small(v) => {
                let head = super::value::head_of(key);
                v.binary_search_by(|(k, _)| {
                    super::value::cmp_with_heads(k.head(), k.as_bytes(), head, key)
                })
                .ok()
                .map(|i| &v[i].1)
            }
            // The tree compares keys as names (first eight bytes, then
            // the rest), so it is searched with the name as a string.
            Repr::Large(t) => t.get(&well_known_name(key)),
        }
    }

    pub fn get_mut(&mut self, key: &NixString) -> Option<&mut Value> {
        match &mut self.0 {
            Repr::Small(v) => match Self::find(v, key) {
                Ok(i) => Some(&mut v[i].1),
                Err(_) => None,
            },
            Repr::Large(t) => t.get_mut(key),
        }
    }

    pub fn contains_key(&self, key: &NixString) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`; the value it had, if any.
    pub fn insert(&mut self, key: NixString, value: Value) -> Option<Value> {
        match &mut self.0 {
            Repr::Small(v) => match Self::find(v, &key) {
                Ok(i) => Some(std::mem::replace(&mut v[i].1, value)),
                Err(i) => {
                    if v.len() < SMALL_MAX {
                        v.insert(i, (key, value));
                    } else {
                        let mut t: Tree = std::mem::take(v).into_iter().collect();
                        t.insert(key, value);
                        self.0 = Repr::Large(t);
                    }
                    None
                }
            },
            Repr::Large(t) => t.insert(key, value),
        }
    }

    pub fn remove(&mut self, key: &NixString) -> Option<Value> {
        match &mut self.0 {
            Repr::Small(v) => match Self::find(v, key) {
                Ok(i) => Some(v.remove(i).1),
                Err(_) => None,
            },
            Repr::Large(t) => t.remove(key),
        }
    }

    /// Keeps the entries `f` accepts.
    pub fn retain(&mut self, mut f: impl FnMut(&NixString, &Value) -> bool) {
        match &mut self.0 {
            Repr::Small(v) => v.retain(|(k, x)| f(k, x)),
            Repr::Large(t) => {
                let gone: Vec<NixString> = t
                    .iter()
                    .filter(|(k, x)| !f(k, x))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in gone {
                    t.remove(&k);
                }
            }
        }
    }

    /// `self // right`: this map with `right`'s entries added, `right`'s
    /// value on a name both have. Two vectors make one merge that clones
    /// each value once; with a tree, the larger side's tree is shared and
    /// the other side inserted into it.
    pub fn update(&self, right: &Attrs) -> Attrs {
        match (&self.0, &right.0) {
            (Repr::Small(mine), Repr::Small(theirs)) => {
                let mut out = Vec::with_capacity(mine.len() + theirs.len());
                let (mut i, mut j) = (0, 0);
                while let (Some(a), Some(b)) = (mine.get(i), theirs.get(j)) {
                    match a.0.cmp(&b.0) {
                        std::cmp::Ordering::Less => {
                            out.push(a.clone());
                            i += 1;
                        }
                        std::cmp::Ordering::Greater => {
                            out.push(b.clone());
                            j += 1;
                        }
                        std::cmp::Ordering::Equal => {
                            out.push(b.clone());
                            i += 1;
                            j += 1;
                        }
                    }
                }
                out.extend_from_slice(&mine[i..]);
                out.extend_from_slice(&theirs[j..]);
                if out.len() > SMALL_MAX {
                    return Attrs::from_distinct(out);
                }
                Attrs(Repr::Small(out))
            }
            (_, Repr::Large(_)) if right.len() >= self.len() => {
                let mut out = right.clone();
                for (k, v) in self {
                    if !out.contains_key(k) {
                        out.insert(k.clone(), v.clone());
                    }
                }
                out
            }
            _ => {
                let mut out = self.clone();
                for (k, v) in right {
                    out.insert(k.clone(), v.clone());
                }
                out
            }
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        match &self.0 {
            Repr::Small(v) => Iter::Small(v.iter()),
            Repr::Large(t) => Iter::Large(t.iter()),
        }
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &NixString> + '_ {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// The entries of a set kept as a vector, which owns its values (a
    /// B-tree's nodes may be shared with other sets): `None` for a large
    /// set.
    pub fn owned_entries(&self) -> Option<&[(NixString, Value)]> {
        match &self.0 {
            Repr::Small(v) => Some(v),
            Repr::Large(_) => None,
        }
    }
}

/// The entries of an [`Attrs`], by name.
pub enum Iter<'a> {
    Small(std::slice::Iter<'a, (NixString, Value)>),
    Large(imbl::ordmap::Iter<'a, NixString, Value, imbl::shared_ptr::RcK>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a NixString, &'a Value);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Small(i) => i.next().map(|(k, v)| (k, v)),
            Iter::Large(i) => i.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Small(i) => i.size_hint(),
            Iter::Large(i) => i.size_hint(),
        }
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Small(i) => i.next_back().map(|(k, v)| (k, v)),
            Iter::Large(i) => i.next_back(),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Attrs {
    type Item = (&'a NixString, &'a Value);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The owned entries of an [`Attrs`], by name.
pub enum IntoIter {
    Small(std::vec::IntoIter<(NixString, Value)>),
    Large(imbl::ordmap::ConsumingIter<NixString, Value, imbl::shared_ptr::RcK>),
}

impl Iterator for IntoIter {
    type Item = (NixString, Value);
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            IntoIter::Small(i) => i.next(),
            IntoIter::Large(i) => i.next(),
        }
    }
}

impl IntoIterator for Attrs {
    type Item = (NixString, Value);
    type IntoIter = IntoIter;
    fn into_iter(self) -> IntoIter {
        match self.0 {
            Repr::Small(v) => IntoIter::Small(v.into_iter()),
            Repr::Large(t) => IntoIter::Large(t.into_iter()),
        }
    }
}

impl Attrs {
    /// The map of `entries`, whose names are all different (in any order;
    /// sorted ones, as the compiler pushes a set's static names, are only
    /// checked).
    pub fn from_distinct(mut entries: Vec<(NixString, Value)>) -> Attrs {
        if entries.len() > SMALL_MAX {
            return Attrs(Repr::Large(entries.into_iter().collect()));
        }
        if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
            entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        Attrs(Repr::Small(entries))
    }
}

impl Attrs {
    /// The map of `entries` where, of entries with the same name, the
    /// first wins (`listToAttrs`): one stable sort instead of an insertion
    /// per entry.
    pub fn from_first_wins(mut entries: Vec<(NixString, Value)>) -> Attrs {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        // `dedup_by` drops the later of two neighbours with one name.
        entries.dedup_by(|later, earlier| later.0 == earlier.0);
        if entries.len() > SMALL_MAX {
            return Attrs(Repr::Large(entries.into_iter().collect()));
        }
        Attrs(Repr::Small(entries))
    }
}

impl FromIterator<(NixString, Value)> for Attrs {
    /// On repeated names the last wins (as repeated `insert`s).
    fn from_iter<I: IntoIterator<Item = (NixString, Value)>>(iter: I) -> Attrs {
        let mut v: Vec<(NixString, Value)> = iter.into_iter().collect();
        if v.len() > SMALL_MAX {
            let mut t = Tree::new();
            for (k, x) in v {
                t.insert(k, x);
            }
            return Attrs(Repr::Large(t));
        }
        // Stable: of equal names, the later stays last; keep it.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(NixString, Value)> = Vec::with_capacity(v.len());
        for (k, x) in v {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = x,
                _ => out.push((k, x)),
            }
        }
        Attrs(Repr::Small(out))
    }
}

impl Extend<(NixString, Value)> for Attrs {
    fn extend<I: IntoIterator<Item = (NixString, Value)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> NixString {
        NixString::from(format!("k{i:03}"))
    }

    #[test]
    fn small_and_large_agree_with_a_btree() {
        let mut a = Attrs::new();
        let mut reference = std::collections::BTreeMap::new();
        for round in 0..3 {
            for i in (0..40).rev() {
                let k = key(i * 7 % 40);
                let prev = a.insert(k.clone(), Value::Int((i + round) as i64));
                let prev_ref = reference.insert(k, (i + round) as i64);
                assert_eq!(prev.is_some(), prev_ref.is_some());
                assert_eq!(a.len(), reference.len());
            }
            let names: Vec<_> = a.keys().cloned().collect();
            let names_ref: Vec<_> = reference.keys().cloned().collect();
            assert!(names == names_ref);
            for i in (0..40).step_by(3) {
                assert_eq!(
                    a.remove(&key(i)).is_some(),
                    reference.remove(&key(i)).is_some()
                );
            }
            assert_eq!(a.len(), reference.len());
        }
    }

    #[test]
    fn byte_order_is_slice_order() {
        let words: [&[u8]; 12] = [
            b"",
            b"a",
            b"a\0",
            b"ab",
            b"abcdefgh",
            b"abcdefgh\0",
            b"abcdefghi",
            b"abcdefgi",
            b"b",
            b"\xff",
            b"abcdefg",
            b"abcdefgha",
        ];
        for x in words {
            for y in words {
                assert_eq!(
                    super::super::value::cmp_bytes(x, y),
                    x.cmp(y),
                    "{x:?} {y:?}"
                );
            }
        }
    }

    #[test]
    fn collecting_keeps_the_last_of_repeated_names() {
        let a: Attrs = [
            (key(2), Value::Int(1)),
            (key(1), Value::Int(2)),
            (key(2), Value::Int(3)),
        ]
        .into_iter()
        .collect();
        let got: Vec<(String, i64)> = a
            .iter()
            .map(|(k, v)| match v {
                Value::Int(i) => (k.to_string(), *i),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(got, vec![("k001".into(), 2), ("k002".into(), 3)]);
    }

    /// `//` keeps the left map's value on a shared name, whatever the two
    /// maps' representations (merged vectors, or inserts into a tree).
    #[test]
    fn update_agrees_with_a_btree() {
        let sizes = [
            0,
            1,
            3,
            SMALL_MAX - 1,
            SMALL_MAX,
            SMALL_MAX + 5,
            3 * SMALL_MAX,
        ];
        for &n in &sizes {
            for &m in &sizes {
                let left: Attrs = (0..n).map(|i| (key(i * 3), Value::Int(i as i64))).collect();
                let right: Attrs = (0..m)
                    .map(|i| (key(i * 2), Value::Int(1000 + i as i64)))
                    .collect();
                let mut reference = std::collections::BTreeMap::new();
                for i in 0..m {
                    reference.insert(key(i * 2), 1000 + i as i64);
                }
                for i in 0..n {
                    reference.insert(key(i * 3), i as i64);
                }
                let got: Vec<(NixString, i64)> = right
                    .update(&left)
                    .iter()
                    .map(|(k, v)| match v {
                        Value::Int(i) => (k.clone(), *i),
                        _ => unreachable!(),
                    })
                    .collect();
                let want: Vec<(NixString, i64)> = reference.into_iter().collect();
                assert!(got == want, "sizes {n} and {m}");
            }
        }
    }
}
