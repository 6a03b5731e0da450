//! Builtins' loops over lists, run by the VM itself: `foldl'`, `filter`,
//! `any`/`all` and `concatMap` call a function per element, and
//! `concatStringsSep`/`concatLists` force the elements ahead. As generators,
//! each call was a round trip through the generator (about 400
//! instructions); here the loop's state is a frame of its own, and a call
//! whose function needs no frame (a builtin's fast path) or a result that
//! is already evaluated continues without leaving this loop.
//!
//! The builtin's generator forces and checks the function and the list,
//! then asks for the loop ([`Request::Loop`](super::Request::Loop)) and
//! returns its answer, so that errors get the builtin's trace frames from
//! the generator below, as before.

use super::{
    curried_frame, curried_inner, fast_answer, quick_value, Callee, Done, EvalError, Frame,
    ListLoop, Span, Value, Vm,
};
use crate::eval::code::Shape;
use crate::eval::counted::Counted;
use crate::eval::error::ErrorKind;
use crate::eval::stable_sort::Step;
use crate::eval::value::{Builtin, List};
use std::rc::Rc;

/// What the value the loop gets back next is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    /// Nothing yet: start with the next element.
    Nothing,
    /// `f acc` for `foldl'` with a function that is not `a: b: …`: call
    /// the result with the element kept in `second`.
    FirstApplication,
    /// The function's result for the current element (maybe unevaluated).
    Result,
}

pub(super) struct LoopFrame {
    work: ListLoop,
    /// The list, and the index of the next element to take.
    items: Counted<List>,
    next: usize,
    /// The element of the call under way (`filter` keeps it).
    current: Option<Value>,
    /// The elements kept (`filter`) or collected (`concatMap`).
    out: Vec<Value>,
    awaiting: Awaiting,
    /// The element `foldl'` gives the function's first result.
    second: Option<Value>,
    /// Whether `foldl'`'s function is not `a: b: …`, so that it is called
    /// twice per element. The generator did those calls in a generator of
    /// their own, so that an error of the call itself (a missing formal
    /// argument) was not the builtin's innermost frame; unwinding keeps
    /// that (`Vm::unwind`).
    pub(super) uncurried: bool,
    /// The answer of the frame above, when it finished.
    pub(super) reply: Option<Value>,
    /// The builtin call's position (for errors of the loop itself).
    pub(super) span: Option<Span>,
    pub(super) done: Done,
    /// For a loop started straight from the call ([`direct_loop`]), with
    /// no generator below it: the builtin and its last argument, so that
    /// an error gets the trace frames the generator would have added.
    pub(super) builtin: Option<(Rc<Builtin>, Value)>,
}

/// The loop a call of builtin `b` with its last argument `last` is, when
/// it can start without the builtin's generator: `filter`, `concatMap`,
/// `any`, `all` and `foldl'` (on a non-empty list) with a function and a
/// list already evaluated, the only checks the generator makes before it
/// asks for the same loop.
pub(super) fn direct_loop(b: &Builtin, last: &Value) -> Option<ListLoop> {
    if !is_loop_builtin(b) || b.args.len() + 1 != b.arity {
        return None;
    }
    let Value::List(list) = last.resolved() else {
        return None;
    };
    let f = function_now(b.args.first()?)?;
    Some(match b.name {
        "filter" => ListLoop::Filter { f, list },
        "concatMap" => ListLoop::ConcatMap { f, list },
        "any" => ListLoop::AnyAll {
            f,
            list,
            want: true,
        },
        "all" => ListLoop::AnyAll {
            f,
            list,
            want: false,
        },
        "foldl'" if !list.is_empty() => ListLoop::Foldl {
            acc: b.args.get(1)?.clone(),
            f,
            list,
        },
        _ => return None,
    })
}

/// Whether `b` is a builtin [`direct_loop`] can start.
pub(super) fn is_loop_builtin(b: &Builtin) -> bool {
    b.fast.is_none() && matches!(b.name, "filter" | "concatMap" | "any" | "all" | "foldl'")
}

/// Whether the call of loop builtin `b` with one more argument, its last
/// (the list), may evaluate that argument first: the function, which the
/// builtin forces and checks before the list, is already an evaluated
/// function, so nothing the builtin does comes before forcing the list.
pub(super) fn loop_forces_list_first(b: &Builtin) -> bool {
    is_loop_builtin(b) && b.args.len() + 1 == b.arity && b.args.first().is_some_and(function_ahead)
}

fn is_function(v: &Value) -> bool {
    matches!(v, Value::Closure(_) | Value::Builtin(_))
}

/// Whether `f` is a function, or a thunk that only makes one (`filter (x:
/// …) l` passes the lambda as such a thunk): forcing it cannot fail.
fn function_ahead(f: &Value) -> bool {
    match f {
        Value::Thunk(t) => t
            .with_value(|v| Some(is_function(v)))
            .or_else(|| t.with_suspended(|code, _| Some(matches!(code.shape, Shape::Closure(_)))))
            .unwrap_or(false),
        v => is_function(v),
    }
}

/// The function `f` is, or makes when it is a thunk that only makes one
/// (evaluated here, as the builtin would force it first).
fn function_now(f: &Value) -> Option<Value> {
    let Value::Thunk(t) = f else {
        return is_function(f).then(|| f.clone());
    };
    if let Some(v) = t.value() {
        return is_function(&v).then_some(v);
    }
    let v = t.with_suspended(|code, env| match code.shape {
        Shape::Closure(_) => quick_value(code, env),
        _ => None,
    })?;
    t.finish(v.clone());
    Some(v)
}

impl LoopFrame {
    pub(super) fn new(work: ListLoop, span: Option<Span>) -> LoopFrame {
        let items = match &work {
            ListLoop::Foldl { list, .. }
            | ListLoop::Filter { list, .. }
            | ListLoop::AnyAll { list, .. }
            | ListLoop::ConcatMap { list, .. }
            | ListLoop::ForceWhile { list, .. } => list.clone(),
            ListLoop::Sort { .. } => Counted::new(List::from(Vec::new())),
        };
        LoopFrame {
            work,
            items,
            next: 0,
            current: None,
            out: Vec::new(),
            awaiting: Awaiting::Nothing,
            second: None,
            uncurried: false,
            reply: None,
            span,
            done: Done::Resume,
            builtin: None,
        }
    }

    /// Takes in the (evaluated) result of the call for the current
    /// element; `Some` when the loop's answer is known early (`any`,
    /// `all`).
    fn absorb(&mut self, v: Value) -> Result<Option<Value>, ErrorKind> {
        match &mut self.work {
            ListLoop::Foldl { acc, .. } => *acc = v,
            ListLoop::Filter { .. } => match v {
                Value::Bool(keep) => {
                    if let (true, Some(x)) = (keep, self.current.take()) {
                        self.out.push(x);
                    }
                }
                other => return Err(ErrorKind::type_error("a Boolean", &other)),
            },
            ListLoop::AnyAll { want, .. } => match v {
                Value::Bool(b) => {
                    if b == *want {
                        return Ok(Some(Value::Bool(*want)));
                    }
                }
                other => return Err(ErrorKind::type_error("a Boolean", &other)),
            },
            ListLoop::ConcatMap { .. } => match v {
                Value::List(l) => self.out.extend(l.iter().cloned()),
                other => return Err(ErrorKind::type_error("a list", &other)),
            },
            ListLoop::ForceWhile { wanted, .. } => {
                if !wanted(&v) {
                    return Ok(Some(Value::Null));
                }
            }
            ListLoop::Sort { .. } => unreachable!("a sort runs in `run_sort`"),
        }
        Ok(None)
    }

    /// The loop's answer once every element is done.
    fn finish(&mut self) -> Value {
        let out = std::mem::take(&mut self.out);
        match &mut self.work {
            ListLoop::Foldl { acc, .. } => std::mem::replace(acc, Value::Null),
            ListLoop::Filter { .. } | ListLoop::ConcatMap { .. } => Value::list(List::from(out)),
            ListLoop::AnyAll { want, .. } => Value::Bool(!*want),
            ListLoop::ForceWhile { .. } => Value::Null,
            ListLoop::Sort { .. } => unreachable!("a sort runs in `run_sort`"),
        }
    }

    /// The function and argument of the call for element `x`, and what
    /// its value is; `Err(x)` when the loop calls nothing (`ForceWhile`:
    /// the element itself is the value to take in).
    fn next_call(&mut self, x: Value) -> Result<(Value, Value, Awaiting), Value> {
        Ok(match &self.work {
            ListLoop::Foldl { f, acc, .. } => match curried_inner(f, acc) {
                Some(g) => (g, x, Awaiting::Result),
                None => {
                    self.uncurried = true;
                    self.second = Some(x);
                    (f.clone(), acc.clone(), Awaiting::FirstApplication)
                }
            },
            ListLoop::Filter { f, .. } => {
                self.current = Some(x.clone());
                (f.clone(), x, Awaiting::Result)
            }
            ListLoop::AnyAll { f, .. } | ListLoop::ConcatMap { f, .. } => {
                (f.clone(), x, Awaiting::Result)
            }
            ListLoop::ForceWhile { .. } => return Err(x),
            ListLoop::Sort { .. } => unreachable!("a sort runs in `run_sort`"),
        })
    }
}

/// What a loop does with a value that came straight back to it (see
/// [`Vm::resume_inline`]).
pub(super) enum Resumed {
    /// The next element's frame, to run at once (the loop stays below).
    Next(super::CodeFrame),
    /// The loop has the value; [`Vm::run_loop`] goes on with it.
    Later,
}

impl Vm<'_> {
    /// Takes in value `v` that the loop frame on top of the frame stack
    /// was waiting for, and when the loop's next step needs a frame that
    /// can start here, starts it: for `foldl'` with `a: b: …`, the next
    /// element's call; for a loop that forces elements ahead, the forcing
    /// of the next one. That saves a round trip through the loop's own
    /// frame per element.
    pub(super) fn resume_inline(&mut self, v: Value) -> Resumed {
        let base = self.stack.len();
        let Some(Frame::Loop(l)) = self.frames.last_mut() else {
            unreachable!("called with a loop frame on top")
        };
        if l.awaiting != Awaiting::Result || matches!(v, Value::Thunk(_)) {
            l.reply = Some(v);
            return Resumed::Later;
        }
        match &mut l.work {
            ListLoop::Foldl { f, acc, .. } => {
                *acc = v;
                l.awaiting = Awaiting::Nothing;
                // `a: b: a ⊕ b` of integers: element after element without
                // a frame, as long as that answers.
                while let Some(x) = l.items.get(l.next) {
                    let Some(next) = super::quick_fold(f, acc, x) else {
                        break;
                    };
                    *acc = next;
                    l.next += 1;
                }
                let Some(x) = l.items.get(l.next).cloned() else {
                    return Resumed::Later;
                };
                match curried_frame(f, acc, x, base, Done::Resume) {
                    Ok(Frame::Code(c)) => {
                        l.next += 1;
                        l.awaiting = Awaiting::Result;
                        Resumed::Next(c)
                    }
                    // (Not `a: b: …`: the loop calls it twice, in `run_loop`.)
                    _ => Resumed::Later,
                }
            }
            ListLoop::ForceWhile { wanted, .. } if wanted(&v) => {
                l.awaiting = Awaiting::Nothing;
                // The next element, when it is to be evaluated (the loop
                // goes through evaluated ones by itself).
                let t = match l.items.get(l.next) {
                    Some(Value::Thunk(t)) if !t.is_done() => t.clone(),
                    _ => return Resumed::Later,
                };
                l.next += 1;
                l.awaiting = Awaiting::Result;
                Resumed::Next(self.force_frame(t))
            }
            _ => {
                l.reply = Some(v);
                Resumed::Later
            }
        }
    }

    /// Runs loop frame `l` until it needs a frame above it evaluated, or
    /// is done.
    pub(super) fn run_loop(&mut self, mut l: Box<LoopFrame>) -> Result<(), EvalError> {
        if matches!(l.work, ListLoop::Sort { .. }) {
            return self.run_sort(l);
        }
        loop {
            if let Some(v) = l.reply.take() {
                let awaiting = std::mem::replace(&mut l.awaiting, Awaiting::Nothing);
                match awaiting {
                    Awaiting::FirstApplication => {
                        let y = l.second.take().unwrap_or(Value::Null);
                        l.awaiting = Awaiting::Result;
                        match self.loop_call(l, v, y)? {
                            Some(back) => {
                                l = back;
                                continue;
                            }
                            None => return Ok(()),
                        }
                    }
                    Awaiting::Result => {
                        if let Value::Thunk(t) = &v {
                            if !t.is_done() {
                                // Force it; its value comes back as the reply.
                                let t = t.clone();
                                l.awaiting = Awaiting::Result;
                                self.frames.push(Frame::Loop(l));
                                self.force_for_gen(t);
                                return Ok(());
                            }
                        }
                        match l.absorb(v.resolved()) {
                            Ok(Some(answer)) => {
                                let done = std::mem::replace(&mut l.done, Done::Top);
                                return self.complete(answer, done);
                            }
                            Ok(None) => {}
                            Err(kind) => {
                                let span = l.span.clone();
                                self.frames.push(Frame::Loop(l));
                                return Err(EvalError::new(kind, span));
                            }
                        }
                    }
                    Awaiting::Nothing => {}
                }
            }
            let Some(x) = l.items.get(l.next).cloned() else {
                let answer = l.finish();
                let done = std::mem::replace(&mut l.done, Done::Top);
                return self.complete(answer, done);
            };
            l.next += 1;
            // `foldl'` with `a: b: …`: the inner body's frame at once.
            let x = match &l.work {
                ListLoop::Foldl { f, acc, .. } => {
                    let base = self.stack.len();
                    match curried_frame(f, acc, x, base, Done::Resume) {
                        Ok(frame) => {
                            l.awaiting = Awaiting::Result;
                            self.frames.push(Frame::Loop(l));
                            self.frames.push(frame);
                            return Ok(());
                        }
                        Err((x, _)) => x,
                    }
                }
                _ => x,
            };
            let (f, arg, awaiting) = match l.next_call(x) {
                Ok(call) => call,
                Err(x) => {
                    l.awaiting = Awaiting::Result;
                    l.reply = Some(x);
                    continue;
                }
            };
            l.awaiting = awaiting;
            // `filter isString`, `any isDerivation`, `all (hasAttr n)`
            // of an evaluated element: the builtin's fast path answers
            // here, without the call (as `Vm::builtin_call` would).
            let arg = match &f {
                Value::Builtin(b) if arg.is_evaluated() => match fast_answer(b, arg) {
                    Ok(v) => {
                        l.reply = Some(v);
                        continue;
                    }
                    Err(arg) => arg,
                },
                _ => arg,
            };
            match self.loop_call(l, f, arg)? {
                Some(back) => l = back,
                None => return Ok(()),
            }
        }
    }

    /// Runs sort loop `l`: gives the comparator's answer (the reply) to the
    /// sort, and calls the comparator for the next comparison it asks for.
    /// Out of line: inlined into the driver's loop, it made that loop 3 KB
    /// larger and the module benchmark 6 % slower.
    #[inline(never)]
    fn run_sort(&mut self, mut l: Box<LoopFrame>) -> Result<(), EvalError> {
        loop {
            let mut answer = None;
            if let Some(v) = l.reply.take() {
                match std::mem::replace(&mut l.awaiting, Awaiting::Nothing) {
                    Awaiting::FirstApplication => {
                        // `f a` of a comparator that is not `a: b: …`:
                        // now with `b`.
                        let b = l.second.take().unwrap_or(Value::Null);
                        l.awaiting = Awaiting::Result;
                        match self.loop_call(l, v, b)? {
                            Some(back) => {
                                l = back;
                                continue;
                            }
                            None => return Ok(()),
                        }
                    }
                    Awaiting::Result => match v.resolved() {
                        Value::Bool(less) => answer = Some(less),
                        Value::Thunk(t) => {
                            // Force it; its value comes back as the reply.
                            l.awaiting = Awaiting::Result;
                            self.frames.push(Frame::Loop(l));
                            self.force_for_gen(t);
                            return Ok(());
                        }
                        other => {
                            let span = l.span.clone();
                            self.frames.push(Frame::Loop(l));
                            let kind = ErrorKind::type_error("a Boolean", &other);
                            return Err(EvalError::new(kind, span));
                        }
                    },
                    Awaiting::Nothing => {}
                }
            }
            let ListLoop::Sort { f, sort } = &mut l.work else {
                unreachable!("called for a sort")
            };
            let (a, b) = match sort.step(answer) {
                Step::Compare(a, b) => (a, b),
                Step::Done(sorted) => {
                    let done = std::mem::replace(&mut l.done, Done::Top);
                    return self.complete(Value::list(List::from(sorted)), done);
                }
            };
            l.awaiting = Awaiting::Result;
            // `a: b: a < b` of integers: the answer without a frame.
            if let Some(v) = super::quick_fold(f, &a, &b) {
                l.reply = Some(v);
                continue;
            }
            match self.curried_call(f, &a, b, Done::Resume) {
                Ok(Ok(Callee::Value(v))) => l.reply = Some(v),
                Ok(Ok(Callee::Frame(frame))) => {
                    self.frames.push(Frame::Loop(l));
                    self.frames.push(frame);
                    return Ok(());
                }
                Ok(Err(kind)) => {
                    let span = l.span.clone();
                    self.frames.push(Frame::Loop(l));
                    return Err(EvalError::located(kind, span));
                }
                Err((b, _)) => {
                    // Not `a: b: …`: `f a`, then its result with `b`.
                    let f = f.clone();
                    l.uncurried = true;
                    l.second = Some(b);
                    l.awaiting = Awaiting::FirstApplication;
                    match self.loop_call(l, f, a)? {
                        Some(back) => l = back,
                        None => return Ok(()),
                    }
                }
            }
        }
    }

    /// Calls `f` with `arg` for loop `l`: `l` back when the value is there
    /// at once (in `l.reply`), `None` when `l` and the call's frame were
    /// pushed. On an error, `l` is pushed so that unwinding sees it.
    fn loop_call(
        &mut self,
        mut l: Box<LoopFrame>,
        f: Value,
        arg: Value,
    ) -> Result<Option<Box<LoopFrame>>, EvalError> {
        match self.call_frame(f, arg, Done::Resume) {
            Ok(Callee::Value(v)) => {
                l.reply = Some(v);
                Ok(Some(l))
            }
            Ok(Callee::Frame(frame)) => {
                self.frames.push(Frame::Loop(l));
                self.frames.push(frame);
                Ok(None)
            }
            Err(kind) => {
                let span = l.span.clone();
                self.frames.push(Frame::Loop(l));
                Err(EvalError::located(kind, span))
            }
        }
    }
}
