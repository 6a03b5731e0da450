//! Nix lists: immutable arrays of values, one contiguous buffer each, as
//! C++ Nix keeps them. Lists are built once (`[ … ]`, `map`, `genList`,
//! `++`) and then only read, so a flat array is what pays: iterating and
//! indexing touch no tree nodes, and a list of five values takes 80 bytes,
//! not the kilobyte chunk a persistent vector starts at. `++` and `tail`
//! copy (as in C++ Nix); the values themselves are shared.

//!
//! Generic over the element (the evaluator's is `value::List`, of
//! `Value`s), so that this module does not depend on the values' one.

use std::ops::Deref;

/// A list of values (shared behind an `Rc` in `Value::List`).
#[derive(Clone)]
pub struct List<T>(Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Vec::new())
    }
}

impl<T: Clone> List<T> {
    pub const fn new() -> List<T> {
        List(Vec::new())
    }

    /// A list of one value.
    pub fn unit(v: T) -> List<T> {
        List(vec![v])
    }

    /// Appends `v` (while the list is being built).
    pub fn push_back(&mut self, v: T) {
        self.0.push(v);
    }

    /// `a ++ b`: one buffer of both lists' values.
    pub fn concat(a: &List<T>, b: &List<T>) -> List<T> {
        let mut out = Vec::with_capacity(a.len() + b.len());
        out.extend_from_slice(&a.0);
        out.extend_from_slice(&b.0);
        List(out)
    }

    /// The list without its first `n` values.
    pub fn skip(&self, n: usize) -> List<T> {
        List(self.0.get(n..).unwrap_or_default().to_vec())
    }

    /// The values, to own.
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }
}

impl<T> Deref for List<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T> From<Vec<T>> for List<T> {
    fn from(v: Vec<T>) -> List<T> {
        List(v)
    }
}

impl<T> FromIterator<T> for List<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> List<T> {
        List(iter.into_iter().collect())
    }
}

impl<T> IntoIterator for List<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a List<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(l: &List<i64>) -> Vec<i64> {
        l.to_vec()
    }

    #[test]
    fn concatenation_and_skipping_keep_the_order() {
        let a: List<i64> = (1..=3).collect();
        let b = List::unit(4);
        let ab = List::concat(&a, &b);
        assert_eq!(ints(&ab), [1, 2, 3, 4]);
        assert_eq!(ints(&ab.skip(1)), [2, 3, 4]);
        assert!(ab.skip(4).is_empty());
        assert!(ab.skip(9).is_empty());
        assert_eq!(ints(&List::concat(&List::new(), &b)), [4]);
    }
}
