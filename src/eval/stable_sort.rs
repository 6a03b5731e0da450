//! `builtins.sort`'s algorithm as a machine that asks for one comparison
//! at a time, so that the VM can run the user's comparator between steps
//! in a loop frame of its own (no generator round trip per comparison).
//!
//! The comparisons are those of the libstdc++ `std::stable_sort` C++ Nix
//! uses, in the same order, so that results agree even for comparators
//! that are not strict orders (`a: b: a <= b`): the list is cut in two
//! halves (the first one the longer by one when odd); each half is sorted
//! by insertion sort of runs of seven and then merge passes of doubling
//! width; last, the halves are merged, from the back when the first half
//! is the longer.

use super::value::Value;

/// The length of the runs insertion sort makes before merging.
const RUN: usize = 7;

/// What the machine needs next.
pub enum Step {
    /// Whether the first value sorts before the second (the comparator
    /// called with them in this order); give the answer to the next
    /// [`StableSort::step`].
    Compare(Value, Value),
    /// The sorted values.
    Done(Vec<Value>),
}

/// A stable sort under way.
pub struct StableSort {
    halves: [Vec<Value>; 2],
    at: At,
}

/// Where the sort is. Each state that compares asks again for the same
/// comparison until it gets its answer.
enum At {
    /// Insertion sort of run `start..end` of half `h`: element `i` is
    /// compared with the run's first (`val` is `None`); else `val`, taken
    /// out of place `i`, moves left from `j` while it is less than the
    /// element before `j`.
    Insert {
        h: usize,
        start: usize,
        end: usize,
        i: usize,
        j: usize,
        val: Option<Value>,
    },
    /// A merge pass with runs of `step` over half `h` (moved to `src`),
    /// onto `out`: the pair of runs at `pos` of lengths `la` and `lb`,
    /// taken up to `i` and `j`; `last` for the pass's last pair.
    Pass {
        h: usize,
        step: usize,
        src: Vec<Value>,
        out: Vec<Value>,
        pair: Pair,
    },
    /// The halves merged from the front (the first is not the longer),
    /// taken up to `i` and `j`.
    Forward { out: Vec<Value>, i: usize, j: usize },
    /// The halves merged from the back (the first is the longer): the
    /// larger of the elements before `i` and `j` goes to `rev`.
    Backward { rev: Vec<Value>, i: usize, j: usize },
    /// The answer was given.
    Finished,
}

/// Two adjacent runs of a merge pass, and how far each is taken.
struct Pair {
    pos: usize,
    la: usize,
    lb: usize,
    i: usize,
    j: usize,
    last: bool,
}

impl Pair {
    /// The pair of runs of `step` at `pos` in a vector of `len`: two whole
    /// runs while there is room for them, else the rest, cut after one run
    /// (the pass's last pair, which may be empty).
    fn at(pos: usize, step: usize, len: usize) -> Pair {
        let remaining = len - pos;
        let (la, lb, last) = if remaining >= 2 * step {
            (step, step, false)
        } else {
            let la = step.min(remaining);
            (la, remaining - la, true)
        };
        Pair {
            pos,
            la,
            lb,
            i: 0,
            j: 0,
            last,
        }
    }
}

/// The value at `v[k]`, moved out (its place is not read again).
fn take(v: &mut [Value], k: usize) -> Value {
    std::mem::replace(&mut v[k], Value::Null)
}

impl StableSort {
    pub fn new(mut items: Vec<Value>) -> StableSort {
        let second = items.split_off(items.len().div_ceil(2));
        let mut sort = StableSort {
            halves: [items, second],
            at: At::Finished,
        };
        sort.at = sort.insertion(0);
        sort
    }

    /// The insertion sort of half `h`'s first run.
    fn insertion(&self, h: usize) -> At {
        At::Insert {
            h,
            start: 0,
            end: RUN.min(self.halves[h].len()),
            i: 1,
            j: 0,
            val: None,
        }
    }

    /// What comes after half `h`'s runs are sorted: its merge passes, the
    /// second half's runs, or the final merge.
    fn after_runs(&mut self, h: usize) -> At {
        let len = self.halves[h].len();
        if RUN < len {
            return At::Pass {
                h,
                step: RUN,
                src: std::mem::take(&mut self.halves[h]),
                out: Vec::with_capacity(len),
                pair: Pair::at(0, RUN, len),
            };
        }
        self.after_half(h)
    }

    /// What comes after half `h` is sorted.
    fn after_half(&mut self, h: usize) -> At {
        if h == 0 {
            return self.insertion(1);
        }
        let [first, second] = &self.halves;
        if first.len() <= second.len() {
            At::Forward {
                out: Vec::with_capacity(first.len() + second.len()),
                i: 0,
                j: 0,
            }
        } else {
            At::Backward {
                rev: Vec::with_capacity(first.len() + second.len()),
                i: first.len(),
                j: second.len(),
            }
        }
    }

    /// Goes on with `answer` to the comparison asked for last (`None` at
    /// the start) until the next comparison is needed or the sort is done.
    pub fn step(&mut self, mut answer: Option<bool>) -> Step {
        loop {
            let next = match &mut self.at {
                At::Insert {
                    h,
                    start,
                    end,
                    i,
                    j,
                    val,
                } => {
                    let v = &mut self.halves[*h];
                    if *i >= *end {
                        if *end < v.len() {
                            *start = *end;
                            *end = (*start + RUN).min(v.len());
                            *i = *start + 1;
                            continue;
                        }
                        let h = *h;
                        self.after_runs(h)
                    } else {
                        match (val.as_ref(), answer.take()) {
                            (None, None) => return Step::Compare(v[*i].clone(), v[*start].clone()),
                            (None, Some(true)) => {
                                v[*start..=*i].rotate_right(1);
                                *i += 1;
                            }
                            (None, Some(false)) => {
                                *val = Some(v[*i].clone());
                                *j = *i;
                            }
                            (Some(x), None) => return Step::Compare(x.clone(), v[*j - 1].clone()),
                            (Some(_), Some(true)) => {
                                v[*j] = take(v, *j - 1);
                                *j -= 1;
                                if *j == *start {
                                    v[*j] = val.take().unwrap_or(Value::Null);
                                    *i += 1;
                                }
                            }
                            (Some(_), Some(false)) => {
                                v[*j] = val.take().unwrap_or(Value::Null);
                                *i += 1;
                            }
                        }
                        continue;
                    }
                }
                At::Pass {
                    h,
                    step,
                    src,
                    out,
                    pair,
                } => {
                    let Pair {
                        pos, la, lb, i, j, ..
                    } = *pair;
                    let (a, b) = (pos + i, pos + la + j);
                    if i < la && j < lb {
                        match answer.take() {
                            None => return Step::Compare(src[b].clone(), src[a].clone()),
                            Some(true) => {
                                out.push(take(src, b));
                                pair.j += 1;
                            }
                            Some(false) => {
                                out.push(take(src, a));
                                pair.i += 1;
                            }
                        }
                        continue;
                    }
                    out.extend(
                        src[a..pos + la]
                            .iter_mut()
                            .map(|x| std::mem::replace(x, Value::Null)),
                    );
                    out.extend(
                        src[b..pos + la + lb]
                            .iter_mut()
                            .map(|x| std::mem::replace(x, Value::Null)),
                    );
                    if !pair.last {
                        *pair = Pair::at(pos + la + lb, *step, src.len());
                        continue;
                    }
                    // The pass is done; a pass with runs as long as the
                    // half would compare nothing.
                    let len = src.len();
                    *src = std::mem::replace(out, Vec::with_capacity(len));
                    *step *= 2;
                    if *step < len {
                        *pair = Pair::at(0, *step, len);
                        continue;
                    }
                    let h = *h;
                    self.halves[h] = std::mem::take(src);
                    self.after_half(h)
                }
                At::Forward { out, i, j } => {
                    let [first, second] = &mut self.halves;
                    if *i < first.len() && *j < second.len() {
                        match answer.take() {
                            None => return Step::Compare(second[*j].clone(), first[*i].clone()),
                            Some(true) => {
                                out.push(take(second, *j));
                                *j += 1;
                            }
                            Some(false) => {
                                out.push(take(first, *i));
                                *i += 1;
                            }
                        }
                        continue;
                    }
                    let mut out = std::mem::take(out);
                    out.extend(first.drain(*i..));
                    out.extend(second.drain(*j..));
                    self.at = At::Finished;
                    return Step::Done(out);
                }
                At::Backward { rev, i, j } => {
                    let [first, second] = &mut self.halves;
                    if *i > 0 && *j > 0 {
                        match answer.take() {
                            None => {
                                return Step::Compare(second[*j - 1].clone(), first[*i - 1].clone())
                            }
                            Some(true) => {
                                rev.push(take(first, *i - 1));
                                *i -= 1;
                            }
                            Some(false) => {
                                rev.push(take(second, *j - 1));
                                *j -= 1;
                            }
                        }
                        continue;
                    }
                    let mut out = Vec::with_capacity(first.len() + second.len());
                    out.extend(first.drain(..*i));
                    out.extend(second.drain(..*j));
                    out.extend(std::mem::take(rev).into_iter().rev());
                    self.at = At::Finished;
                    return Step::Done(out);
                }
                At::Finished => return Step::Done(Vec::new()),
            };
            self.at = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The sort as C++ Nix's `std::stable_sort` does it, written the plain
    /// way (recursion and loops), with `less` recording each comparison.
    mod reference {
        pub(super) fn stable_sort(
            v: Vec<i64>,
            less: &mut impl FnMut(i64, i64) -> bool,
        ) -> Vec<i64> {
            let mid = v.len().div_ceil(2);
            let mut first = v;
            let mut second = first.split_off(mid);
            merge_sort(&mut first, less);
            merge_sort(&mut second, less);
            if first.len() <= second.len() {
                let mut out = Vec::new();
                merge(&first, &second, &mut out, less);
                return out;
            }
            let mut rev = Vec::new();
            let (mut i, mut j) = (first.len(), second.len());
            while i > 0 && j > 0 {
                if less(second[j - 1], first[i - 1]) {
                    rev.push(first[i - 1]);
                    i -= 1;
                } else {
                    rev.push(second[j - 1]);
                    j -= 1;
                }
            }
            let mut out = first[..i].to_vec();
            out.extend_from_slice(&second[..j]);
            out.extend(rev.into_iter().rev());
            out
        }

        fn insertion_sort(v: &mut [i64], less: &mut impl FnMut(i64, i64) -> bool) {
            for i in 1..v.len() {
                if less(v[i], v[0]) {
                    v[..=i].rotate_right(1);
                    continue;
                }
                let val = v[i];
                let mut j = i;
                while j > 0 && less(val, v[j - 1]) {
                    v[j] = v[j - 1];
                    j -= 1;
                }
                v[j] = val;
            }
        }

        fn merge(
            a: &[i64],
            b: &[i64],
            out: &mut Vec<i64>,
            less: &mut impl FnMut(i64, i64) -> bool,
        ) {
            let (mut i, mut j) = (0, 0);
            while i < a.len() && j < b.len() {
                if less(b[j], a[i]) {
                    out.push(b[j]);
                    j += 1;
                } else {
                    out.push(a[i]);
                    i += 1;
                }
            }
            out.extend_from_slice(&a[i..]);
            out.extend_from_slice(&b[j..]);
        }

        fn merge_pass(
            src: &[i64],
            step: usize,
            less: &mut impl FnMut(i64, i64) -> bool,
        ) -> Vec<i64> {
            let mut out = Vec::new();
            let mut rest = src;
            while rest.len() >= 2 * step {
                let (a, tail) = rest.split_at(step);
                let (b, tail) = tail.split_at(step);
                merge(a, b, &mut out, less);
                rest = tail;
            }
            let (a, b) = rest.split_at(step.min(rest.len()));
            merge(a, b, &mut out, less);
            out
        }

        fn merge_sort(v: &mut Vec<i64>, less: &mut impl FnMut(i64, i64) -> bool) {
            for chunk in v.chunks_mut(super::RUN) {
                insertion_sort(chunk, less);
            }
            let mut step = super::RUN;
            while step < v.len() {
                let buf = merge_pass(v, step, less);
                step *= 2;
                *v = merge_pass(&buf, step, less);
                step *= 2;
            }
        }
    }

    fn int(v: &Value) -> i64 {
        match v {
            Value::Int(i) => *i,
            _ => panic!("the test sorts integers"),
        }
    }

    /// The machine's comparisons and result for `items` under `less`.
    fn machine(items: &[i64], less: &mut impl FnMut(i64, i64) -> bool) -> Vec<i64> {
        let mut sort = StableSort::new(items.iter().map(|&i| Value::Int(i)).collect());
        let mut answer = None;
        loop {
            match sort.step(answer) {
                Step::Compare(a, b) => answer = Some(less(int(&a), int(&b))),
                Step::Done(out) => return out.iter().map(int).collect(),
            }
        }
    }

    /// Same comparisons in the same order, same result, for `less`.
    fn agree(items: &[i64], less: impl Fn(i64, i64) -> bool) {
        let (mut seen_ref, mut seen) = (Vec::new(), Vec::new());
        let want = reference::stable_sort(items.to_vec(), &mut |a, b| {
            seen_ref.push((a, b));
            less(a, b)
        });
        let got = machine(items, &mut |a, b| {
            seen.push((a, b));
            less(a, b)
        });
        assert_eq!(seen, seen_ref, "comparisons of {items:?}");
        assert_eq!(got, want, "result of {items:?}");
    }

    #[test]
    fn short_lists() {
        for n in 0..40 {
            let items: Vec<i64> = (0..n).map(|i| (i * 7919) % 13).collect();
            agree(&items, |a, b| a < b);
            agree(&items, |a, b| a <= b);
            agree(&items, |_, _| true);
            agree(&items, |_, _| false);
        }
    }

    proptest! {
        /// Strict, non-strict and arbitrary (inconsistent) comparators on
        /// lists long enough for several merge passes.
        #[test]
        fn same_comparisons_as_the_plain_algorithm(
            items in proptest::collection::vec(-50i64..50, 0..300),
            salt in any::<u64>(),
        ) {
            agree(&items, |a, b| a < b);
            agree(&items, |a, b| a <= b);
            agree(&items, |a, b| a > b);
            agree(&items, |a, b| {
                (a.wrapping_mul(31).wrapping_add(b) as u64 ^ salt).count_ones().is_multiple_of(2)
            });
        }
    }
}
