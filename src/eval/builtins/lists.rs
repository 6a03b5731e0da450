//! List builtins: `length`, `head`, `tail`, `elemAt`, `map`, `filter`,
//! `foldl'`, `elem`, `concatLists`, `concatMap`, `genList`, `any`, `all`,
//! `sort`, `partition`, `groupBy` and `genericClosure`, with C++ Nix 2.8's
//! behaviour and messages.

use std::collections::{BTreeMap, VecDeque};

use super::args::{attrs_arg, bool_of, function_arg, int_arg, list_arg, name_arg, sync};
use super::fast;
use crate::eval::counted::Counted;
use crate::eval::error::ErrorKind;
use crate::eval::ops;
use crate::eval::stable_sort::{StableSort, Step};
use crate::eval::value::{Attrs, List, NixString, Thunk, Value};
use crate::eval::vm::{call, force, Co, GenFuture, ListLoop, Request, Response};

builtins! {
    #[fast(fast::length)] "length" => length, #[fast(fast::head)] "head" => head,
    "tail" => tail, #[fast(fast::elem_at)] "elemAt" => elem_at,
    #[global] #[fast(fast::map)] #[strict_last] "map" => map, "filter" => filter, "foldl'" => foldl,
    #[fast(elem_fast)] #[strict_last] "elem" => elem, "concatLists" => concat_lists,
    #[fast(fast::gen_list)] #[strict_last] "genList" => gen_list, "any" => any, "all" => all, "sort" => sort,
    "partition" => partition, "groupBy" => group_by, "concatMap" => concat_map,
    "genericClosure" => generic_closure,
}

fn length(co: Co, [list]: [Value; 1]) -> GenFuture {
    sync(async move { Ok(Value::Int(list_arg(&co, list).await?.len() as i64)) })
}

fn head(co: Co, [l]: [Value; 1]) -> GenFuture {
    sync(async move {
        let l = list_arg(&co, l).await?;
        l.first()
            .cloned()
            .ok_or_else(|| ErrorKind::Other("'builtins.head' called on an empty list".into()))
    })
}

fn tail(co: Co, [l]: [Value; 1]) -> GenFuture {
    sync(async move {
        let l = list_arg(&co, l).await?;
        if l.is_empty() {
            return Err(ErrorKind::Other(
                "'builtins.tail' called on an empty list".into(),
            ));
        }
        Ok(Value::list(l.skip(1)))
    })
}

fn elem_at(co: Co, [l, i]: [Value; 2]) -> GenFuture {
    sync(async move {
        let l = list_arg(&co, l).await?;
        let i = int_arg(&co, i).await?;
        usize::try_from(i)
            .ok()
            .and_then(|i| l.get(i).cloned())
            .ok_or_else(|| {
                ErrorKind::Other(format!(
                    "'builtins.elemAt' called with index {i} on a list of size {}",
                    l.len()
                ))
            })
    })
}

/// `map f l`: C++ Nix 2.8 forces only the list; `f` is forced when an
/// element is.
fn map(co: Co, [f, l]: [Value; 2]) -> GenFuture {
    sync(async move {
        let f = f;
        let l = list_arg(&co, l).await?;
        Ok(Value::list(
            l.iter()
                .map(|x| Value::Thunk(Thunk::apply(f.clone(), x.clone())))
                .collect(),
        ))
    })
}

/// `filter f l`: C++ Nix 2.8 forces the function first, even for an empty
/// list.
fn filter(co: Co, [f, l]: [Value; 2]) -> GenFuture {
    sync(async move {
        let f = function_arg(&co, f).await?;
        let list = list_arg(&co, l).await?;
        run_loop(&co, ListLoop::Filter { f, list }).await
    })
}

fn foldl(co: Co, [f, acc, l]: [Value; 3]) -> GenFuture {
    sync(async move {
        let f = function_arg(&co, f).await?;
        let list = list_arg(&co, l).await?;
        if list.is_empty() {
            return Ok(acc);
        }
        run_loop(&co, ListLoop::Foldl { f, acc, list }).await
    })
}

/// `elem`'s fast path: the value and the list evaluated, and the elements
/// up to the first equal one evaluated and compared without looking
/// inside them (numbers, strings, paths, the very same set or list); the
/// builtin itself otherwise.
fn elem_fast([x, l]: &[Value; 2]) -> Option<Value> {
    let Value::List(l) = fast::ready(l)? else {
        return None;
    };
    let value = fast::ready(x)?;
    for y in l.iter() {
        // The very same value (a function too) as the builtin's loop
        // sees it: the values as given, not what their thunks hold (C++
        // Nix compares value slots, and `map`'s results are new ones).
        if ops::identical(x, y) || ops::scalar_eq(&value, &fast::ready(y)?)? {
            return Some(Value::Bool(true));
        }
    }
    Some(Value::Bool(false))
}

fn elem(co: Co, [x, l]: [Value; 2]) -> GenFuture {
    sync(async move {
        let x = x;
        let l = list_arg(&co, l).await?;
        // C++ Nix compares the argument with each element as values in
        // place: the very same value is equal to itself, even a function.
        // The value is forced at the first comparison (as C++ Nix's), and
        // an evaluated element that needs no look inside is compared
        // without a round trip.
        let mut value: Option<Value> = None;
        for y in l.iter() {
            if ops::identical(&x, y) {
                return Ok(Value::Bool(true));
            }
            let v = match &value {
                Some(v) => v.clone(),
                None => value.insert(force(&co, x.clone()).await?).clone(),
            };
            if y.is_evaluated() {
                if let Some(equal) = ops::scalar_eq(&v, &y.resolved()) {
                    if equal {
                        return Ok(Value::Bool(true));
                    }
                    continue;
                }
            }
            if ops::equal(&co, v, y.clone()).await? {
                return Ok(Value::Bool(true));
            }
        }
        Ok(Value::Bool(false))
    })
}

fn concat_lists(co: Co, [l]: [Value; 1]) -> GenFuture {
    sync(async move {
        let l = list_arg(&co, l).await?;
        force_while(&co, &l, |v| matches!(v, Value::List(_))).await?;
        // Collected flat, then made a list once: appending list to list
        // rebalances the tree each time (about 20 µs per piece).
        let mut out = Vec::new();
        for x in l.iter() {
            out.extend(list_arg(&co, x.clone()).await?.iter().cloned());
        }
        Ok(Value::list(List::from(out)))
    })
}

fn gen_list(co: Co, [f, n]: [Value; 2]) -> GenFuture {
    sync(async move {
        let f = f;
        let n = int_arg(&co, n).await?;
        if n < 0 {
            return Err(ErrorKind::Other(format!("cannot create list of size {n}")));
        }
        // As in C++ Nix 2.8, `f` is forced only when an element is.
        Ok(Value::list(
            (0..n)
                .map(|i| Value::Thunk(Thunk::apply(f.clone(), Value::Int(i))))
                .collect(),
        ))
    })
}

/// `any` (`want` true) or `all` (`want` false): whether `f` returns
/// `want` for some element; elements are tested in order until then.
async fn any_all(co: Co, [f, l]: [Value; 2], want: bool) -> Result<Value, ErrorKind> {
    let f = function_arg(&co, f).await?;
    let list = list_arg(&co, l).await?;
    run_loop(&co, ListLoop::AnyAll { f, list, want }).await
}

fn any(co: Co, args: [Value; 2]) -> GenFuture {
    sync(any_all(co, args, true))
}

fn all(co: Co, args: [Value; 2]) -> GenFuture {
    sync(any_all(co, args, false))
}

/// Runs `work` in the VM (see `vm::loops`).
async fn run_loop(co: &Co, work: ListLoop) -> Result<Value, ErrorKind> {
    match co.yield_(Request::Loop(work)).await {
        Response::Value(v) => Ok(v),
        Response::Error(e) => Err(e),
    }
}

/// Forces the elements of `list` in order while they are `wanted`
/// (`ListLoop::ForceWhile`), for a builtin whose own loop then finds them
/// evaluated. Only for builtins that force each element first and then
/// use it in a way that cannot fail for `wanted` values, so that the
/// first error is the one the builtin's own loop would meet.
pub(super) async fn force_while(
    co: &Co,
    list: &Counted<List>,
    wanted: fn(&Value) -> bool,
) -> Result<(), ErrorKind> {
    if list.len() > 1 && list.iter().any(|x| !x.is_evaluated()) {
        run_loop(
            co,
            ListLoop::ForceWhile {
                list: list.clone(),
                wanted,
            },
        )
        .await?;
    }
    Ok(())
}

/// [`less_than`] of evaluated numbers, strings or paths, which need no
/// forcing and no look inside (`None` for anything else).
#[inline]
fn scalar_less_than(x: &Value, y: &Value) -> Option<bool> {
    Some(match (x, y) {
        (Value::Int(p), Value::Int(q)) => p < q,
        (Value::Float(p), Value::Float(q)) => p < q,
        (Value::Float(p), Value::Int(q)) => *p < *q as f64,
        (Value::Int(p), Value::Float(q)) => (*p as f64) < *q,
        (Value::String(p), Value::String(q)) => p.as_bytes() < q.as_bytes(),
        (Value::Path(p), Value::Path(q)) => {
            p.as_os_str().as_encoded_bytes() < q.as_os_str().as_encoded_bytes()
        }
        _ => return None,
    })
}

/// `a < b` as C++ Nix 2.8's `CompareValues` decides it (used by
/// `lessThan` in `sort`'s fast path and for `genericClosure`'s keys):
/// numbers (mixing integers and floats), strings and paths are ordered;
/// lists lexicographically, skipping elements that are equal (`==`), so
/// `[ { } ] < [ { } ]` is false rather than an error; anything else is
/// "cannot compare". Nested lists are followed in a loop, not recursion.
pub(crate) async fn less_than(co: &Co, a: Value, b: Value) -> Result<bool, ErrorKind> {
    let (mut a, mut b) = (a, b);
    loop {
        let x = force(co, a).await?;
        let y = force(co, b).await?;
        if let Some(less) = scalar_less_than(&x, &y) {
            return Ok(less);
        }
        return Ok(match (&x, &y) {
            (Value::List(p), Value::List(q)) => {
                let mut differing = None;
                for (e, f) in p.iter().zip(q.iter()) {
                    if !ops::equal(co, e.clone(), f.clone()).await? {
                        differing = Some((e.clone(), f.clone()));
                        break;
                    }
                }
                match differing {
                    // The first elements that differ decide.
                    Some((e, f)) => {
                        (a, b) = (e, f);
                        continue;
                    }
                    None => p.len() < q.len(),
                }
            }
            _ => return Err(ErrorKind::incomparable(&x, &y)),
        });
    }
}

/// `builtins.sort f list`: a stable sort by the "less than" function `f`;
/// every element is forced first. The sort runs in the VM
/// ([`ListLoop::Sort`]), which calls `f` between its steps; with
/// `builtins.lessThan` itself, C++ Nix compares the values directly, and
/// so does this builtin.
fn sort(co: Co, [f, l]: [Value; 2]) -> GenFuture {
    sync(async move {
        // The list is checked first (newer Nix), the function even for an
        // empty list (2.8).
        let l = list_arg(&co, l).await?;
        let f = function_arg(&co, f).await?;
        if l.is_empty() {
            return Ok(Value::List(l));
        }
        force_while(&co, &l, |_| true).await?;
        let mut items = Vec::with_capacity(l.len());
        for x in l.iter() {
            items.push(force(&co, x.clone()).await?);
        }
        let by_less_than =
            matches!(&f, Value::Builtin(b) if b.name == "lessThan" && b.args.is_empty());
        // `sort lessThan` of integers only, or of strings only: a total
        // order, which every stable sort puts in the same order as C++
        // Nix's `std::stable_sort` (floats are left to the step-wise
        // sort below: NaN orders nothing).
        if by_less_than {
            if items.iter().all(|x| matches!(x, Value::Int(_))) {
                items.sort_by_key(|x| match x {
                    Value::Int(i) => *i,
                    _ => 0,
                });
                return Ok(Value::list(List::from(items)));
            }
            if items.iter().all(|x| matches!(x, Value::String(_))) {
                items.sort_by(|x, y| match (x, y) {
                    (Value::String(p), Value::String(q)) => p.as_bytes().cmp(q.as_bytes()),
                    _ => std::cmp::Ordering::Equal,
                });
                return Ok(Value::list(List::from(items)));
            }
        }
        let sort = Box::new(StableSort::new(items));
        if !by_less_than {
            return run_loop(&co, ListLoop::Sort { f, sort }).await;
        }
        let mut sort = sort;
        let mut answer = None;
        loop {
            match sort.step(answer) {
                // The elements are evaluated: most compare at once.
                Step::Compare(a, b) => {
                    answer = Some(match scalar_less_than(&a, &b) {
                        Some(less) => less,
                        None => less_than(&co, a, b).await?,
                    })
                }
                Step::Done(sorted) => return Ok(Value::list(sorted.into_iter().collect())),
            }
        }
    })
}

/// `builtins.partition pred list`: `{ right; wrong; }`, the elements for
/// which `pred` is true and false, in order.
fn partition(co: Co, [f, l]: [Value; 2]) -> GenFuture {
    sync(async move {
        let f = function_arg(&co, f).await?;
        let l = list_arg(&co, l).await?;
        let (mut right, mut wrong) = (List::new(), List::new());
        for x in l.iter() {
            let x = force(&co, x.clone()).await?;
            let r = call(&co, f.clone(), x.clone()).await?;
            if bool_of(&co, r).await? {
                right.push_back(x);
            } else {
                wrong.push_back(x);
            }
        }
        Ok(super::args::attrs_from([
            ("right", Value::list(right)),
            ("wrong", Value::list(wrong)),
        ]))
    })
}

/// `builtins.groupBy f list`: a set from each name `f` returns to the
/// elements it returned that name for, in order (elements stay lazy).
fn group_by(co: Co, [f, l]: [Value; 2]) -> GenFuture {
    sync(async move {
        let f = function_arg(&co, f).await?;
        let l = list_arg(&co, l).await?;
        let mut groups: BTreeMap<NixString, List> = BTreeMap::new();
        for x in l.iter() {
            let name = call(&co, f.clone(), x.clone()).await?;
            let name = name_arg(&co, name).await?;
            groups.entry(name).or_default().push_back(x.clone());
        }
        Ok(Value::attrs(
            groups
                .into_iter()
                .map(|(k, v)| (k, Value::list(v)))
                .collect(),
        ))
    })
}

/// `builtins.concatMap f list`: the concatenation of the lists `f` returns
/// for each element.
fn concat_map(co: Co, [f, l]: [Value; 2]) -> GenFuture {
    sync(async move {
        let f = function_arg(&co, f).await?;
        let list = list_arg(&co, l).await?;
        // As `concatLists`: collected flat, made a list once.
        run_loop(&co, ListLoop::ConcatMap { f, list }).await
    })
}

/// The keys `genericClosure` has seen, in order. Integer or string keys
/// (the usual case) are kept in a B-tree set of their own; a key of
/// another kind turns the set into a sorted list searched with Nix's
/// comparison, which also gives its error for keys that do not compare.
enum ClosureKeys {
    Ints(std::collections::BTreeSet<i64>),
    Strings(std::collections::BTreeSet<NixString>),
    General(Vec<Value>),
}

impl ClosureKeys {
    /// Adds `key`; false when it was there already.
    async fn insert(&mut self, co: &Co, key: Value) -> Result<bool, ErrorKind> {
        match (&mut *self, &key) {
            (ClosureKeys::Ints(set), Value::Int(i)) => return Ok(set.insert(*i)),
            (ClosureKeys::Strings(set), Value::String(s)) => return Ok(set.insert(s.clone())),
            (ClosureKeys::Ints(set), Value::String(s)) if set.is_empty() => {
                *self = ClosureKeys::Strings([s.clone()].into_iter().collect());
                return Ok(true);
            }
            (ClosureKeys::General(_), _) => {}
            _ => {
                let sorted: Vec<Value> = match &*self {
                    ClosureKeys::Ints(set) => set.iter().map(|i| Value::Int(*i)).collect(),
                    ClosureKeys::Strings(set) => set.iter().cloned().map(Value::String).collect(),
                    ClosureKeys::General(v) => v.clone(),
                };
                *self = ClosureKeys::General(sorted);
            }
        }
        let ClosureKeys::General(done_keys) = self else {
            unreachable!("made general above")
        };
        // Upper bound: the first key greater than `key`; `key` is
        // already there if the one before it is not less than it.
        let (mut lo, mut hi) = (0, done_keys.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if less_than(co, key.clone(), done_keys[mid].clone()).await? {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        if let Some(prev) = lo.checked_sub(1).map(|i| done_keys[i].clone()) {
            if !less_than(co, prev, key.clone()).await? {
                return Ok(false);
            }
        }
        done_keys.insert(lo, key);
        Ok(true)
    }
}

/// The attribute `name` of the set argument of `genericClosure`.
fn closure_attr(a: &Attrs, name: &str) -> Result<Value, ErrorKind> {
    a.get(&NixString::from(name)).cloned().ok_or_else(|| {
        ErrorKind::Other(format!(
            "attribute '{name}' missing for call to 'genericClosure'"
        ))
    })
}

/// `builtins.genericClosure { startSet; operator; }`: starting from
/// `startSet`, every set reachable through `operator` whose `key` was not
/// seen before, in the order found. Keys are kept sorted by
/// [`less_than`] (two keys are the same when neither is less), as C++ Nix
/// keeps them in a `std::set`.
fn generic_closure(co: Co, [a]: [Value; 1]) -> GenFuture {
    sync(async move {
        let a = attrs_arg(&co, a).await?;
        let start = list_arg(&co, closure_attr(&a, "startSet")?).await?;
        let op = force(&co, closure_attr(&a, "operator")?).await?;
        let key_name = NixString::from("key");
        let mut work: VecDeque<Value> = start.iter().cloned().collect();
        let mut done_keys = ClosureKeys::Ints(Default::default());
        let mut result = List::new();
        while let Some(e) = work.pop_front() {
            let e_attrs = attrs_arg(&co, e.clone()).await?;
            let key = e_attrs
                .get(&key_name)
                .cloned()
                .ok_or_else(|| ErrorKind::Other("attribute 'key' required".into()))?;
            let key = force(&co, key).await?;
            if !done_keys.insert(&co, key).await? {
                continue;
            }
            result.push_back(Value::Attrs(e_attrs));
            let next = call(&co, op.clone(), e).await?;
            for x in list_arg(&co, next).await?.iter() {
                work.push_back(force(&co, x.clone()).await?);
            }
        }
        Ok(Value::list(result))
    })
}
