//! Freeing `let` and `rec` scopes that only their own bindings keep alive.
//!
//! Values are reference counted, and a scope made by `let` or `rec` is in
//! a cycle with its bindings when they name each other: the scope holds
//! each binding's thunk, and the thunk holds the scope it runs in (a
//! function binding's closure too). C++ Nix's collector frees such a
//! scope once nothing reaches it; counting alone never does, so a `let`
//! whose bindings were not all evaluated would stay in memory to the end
//! (a million calls of `n: let a = n + 1; b = a * 2; in n` kept 250 MB).
//!
//! When the VM leaves a scope ([`free_if_unreachable`], at `PopScope`),
//! it counts the references to the scope that come from values only the
//! scope itself reaches (a thunk held by one of its slots and by nothing
//! else, that thunk's value, a closure only it holds, …). When those are
//! all the references there are besides the VM's own, nothing outside
//! can reach the scope or those values, and its slots are emptied, which
//! breaks the cycle. Shared values are not looked into, so a scope is only
//! emptied when that is certain. A scope that escapes (its bindings are in
//! the result) is remembered instead ([`defer`]) and looked at once
//! more a little later (after a few dozen more such scopes, while it is
//! likely still in the cache), when what it escaped into may have gone:
//! a `let` whose closure is returned in a set that is used and dropped
//! at once. A scope still reachable then is left to counting: looking at
//! it again later, when it has left the cache, measured 15 % of the
//! module benchmark's time. A function's scope is remembered the same way
//! when the call starts, if a default of its formals is a thunk of the
//! scope (`{ a, b ? a + 1 }: …`): a `b` never forced kept the scope.

use std::cell::RefCell;

use super::counted::Counted;
use super::value::{Env, ThunkState, Value};

/// How many values one scope's check may visit; a scope whose values
/// are larger is left as it is.
const VISIT_BUDGET: usize = 16;

/// How many escaped scopes are remembered before they are looked at
/// again.
const DEFERRED_MAX: usize = 64;

thread_local! {
    /// Scopes that were still reachable when they were left.
    static DEFERRED: RefCell<Vec<Counted<Env>>> = const { RefCell::new(Vec::new()) };
}

/// Drops `scope`, a scope whose body has been evaluated, emptying it
/// first when only its own values still refer to it; a scope that is
/// still reachable is remembered, to be looked at again later.
#[inline]
pub fn free_or_defer(scope: Counted<Env>) {
    if let Err(scope) = free_if_unreachable(scope) {
        defer(scope);
    }
}

/// Remembers `scope` (reachable now: an escaped `let`, or a function's
/// scope a default of which is a thunk of it) and looks at the scopes
/// remembered so far when there are enough of them.
pub fn defer(scope: Counted<Env>) {
    // (Not while a look is going on: what a look frees can end no scope,
    // but a nested call would find the list borrowed.)
    let full = DEFERRED.with(|d| match d.try_borrow_mut() {
        Ok(mut d) => {
            d.push(scope);
            d.len() >= DEFERRED_MAX
        }
        Err(_) => false,
    });
    if full {
        look_again();
    }
}

/// Looks at the remembered scopes again: each is emptied when only its
/// own values hold it, and let go.
#[inline(never)]
fn look_again() {
    let scopes = DEFERRED.with(|d| std::mem::take(&mut *d.borrow_mut()));
    // (Emptying scopes runs no evaluation: nothing is remembered meanwhile.)
    for scope in scopes {
        if Counted::strong_count(&scope) > 1 {
            let _ = free_if_unreachable(scope);
        }
    }
}

/// How many scopes are remembered (for tests).
#[cfg(test)]
fn deferred_len() -> usize {
    DEFERRED.with(|d| d.borrow().len())
}

/// Drops `scope` emptied when only its own values still refer to it; a
/// scope still reachable comes back.
#[inline]
pub fn free_if_unreachable(scope: Counted<Env>) -> Result<(), Counted<Env>> {
    let others = Counted::strong_count(&scope) - 1;
    let target = Counted::as_ptr(&scope);
    let mut budget = VISIT_BUDGET;
    // (More references than slots come from elsewhere, almost always:
    // not worth looking.)
    let only_own = others > 0
        && scope.peek_slots(|slots| {
            others <= slots.len() && values_refs(target, slots, &mut budget) == Some(others)
        });
    if !only_own {
        return Err(scope);
    }
    scope.clear();
    Ok(())
}

/// References to `target` in `values` and in what only they reach, or
/// `None` when there were too many to look at.
fn values_refs(target: *const Env, values: &[Value], budget: &mut usize) -> Option<usize> {
    let mut n = 0;
    for v in values {
        n += value_refs(target, v, budget)?;
    }
    Some(n)
}

/// References to `target` in `v` and in what only `v` reaches.
fn value_refs(target: *const Env, v: &Value, budget: &mut usize) -> Option<usize> {
    *budget = budget.checked_sub(1)?;
    Some(match v {
        Value::Thunk(t) if t.is_unshared() => t.peek_state(|state| match state {
            ThunkState::Suspended { env, .. } | ThunkState::EvaluatingCode { env, .. } => {
                env_refs(target, env, budget)
            }
            ThunkState::Apply(f, x) => {
                Some(value_refs(target, f, budget)? + value_refs(target, &x.view(), budget)?)
            }
            // (A pair another state shares is not looked into.)
            ThunkState::ApplyBoxed(work) | ThunkState::EvaluatingApply(work)
                if Counted::strong_count(work) == 1 =>
            {
                Some(value_refs(target, &work.0, budget)? + value_refs(target, &work.1, budget)?)
            }
            ThunkState::ApplyBoxed(_) | ThunkState::EvaluatingApply(_) => Some(0),
            ThunkState::Done(v) => value_refs(target, v, budget),
            ThunkState::Blackhole => Some(0),
        })?,
        Value::Closure(c) if Counted::strong_count(c) == 1 => env_refs(target, &c.env, budget)?,
        // (A large set's B-tree nodes may be shared with other sets, so
        // what they hold is not only this set's: not looked into.)
        Value::Attrs(a) if Counted::strong_count(a) == 1 => match a.owned_entries() {
            Some(entries) => {
                let mut n = 0;
                for (_, v) in entries {
                    n += value_refs(target, v, budget)?;
                }
                n
            }
            None => 0,
        },
        Value::List(l) if Counted::strong_count(l) == 1 => values_refs(target, l, budget)?,
        _ => 0,
    })
}

/// References to `target` from scope `env`: one when it is the target,
/// else those of a scope only this reference holds (its slots, parent).
fn env_refs(target: *const Env, env: &Counted<Env>, budget: &mut usize) -> Option<usize> {
    if Counted::as_ptr(env) == target {
        return Some(1);
    }
    if Counted::strong_count(env) != 1 {
        return Some(0);
    }
    *budget = budget.checked_sub(1)?;
    let n = match &env.parent {
        Some(p) => env_refs(target, p, budget)?,
        None => 0,
    };
    Some(n + env.peek_slots(|slots| values_refs(target, slots, budget))?)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::rc::{Rc, Weak};

    use super::super::code::Code;
    use super::super::value::{Closure, Thunk};
    use super::*;

    /// Compiled code of `text` (a lambda's, for closures).
    fn code(text: &str) -> Rc<Code> {
        super::super::compiler::compile_test_text(text)
    }

    /// A scope below one holding a probe, which lives as long as the scope.
    fn scope_with_probe(size: usize) -> (Counted<Env>, Weak<PathBuf>) {
        let probe = Rc::new(PathBuf::from("/probe"));
        let weak = Rc::downgrade(&probe);
        let parent = Env::new(1, None);
        parent.set(0, Value::Path(probe));
        (Env::new(size, Some(parent)), weak)
    }

    /// A scope of two bindings, each a thunk of the scope itself.
    fn cyclic_scope() -> (Counted<Env>, Weak<PathBuf>) {
        let (env, probe) = scope_with_probe(2);
        for slot in 0..2 {
            env.set(slot, Value::Thunk(Thunk::suspended(code("1"), env.clone())));
        }
        (env, probe)
    }

    #[test]
    fn a_scope_only_its_bindings_hold_is_freed() {
        let (env, probe) = cyclic_scope();
        assert!(free_if_unreachable(env).is_ok());
        assert!(probe.upgrade().is_none());
    }

    #[test]
    fn a_scope_whose_binding_escaped_is_kept() {
        let (env, probe) = cyclic_scope();
        let escaped = env.get(1);
        assert!(free_if_unreachable(env).is_err());
        assert!(probe.upgrade().is_some());
        let Value::Thunk(t) = &escaped else {
            unreachable!("bindings are thunks")
        };
        let slots = t.with_suspended(|_, env| {
            Some(env.peek_slots(|s| s.iter().filter(|v| matches!(v, Value::Thunk(_))).count()))
        });
        assert_eq!(slots, Some(2));
    }

    #[test]
    fn an_escaped_scope_is_emptied_once_what_it_escaped_into_is_gone() {
        let (env, probe) = cyclic_scope();
        let escaped = env.get(1);
        free_or_defer(env);
        assert_eq!(deferred_len(), 1);
        drop(escaped);
        assert!(probe.upgrade().is_some());
        look_again();
        assert!(probe.upgrade().is_none());
        assert_eq!(deferred_len(), 0);
    }

    #[test]
    fn a_function_scope_whose_default_was_never_forced_is_emptied_after_the_call() {
        // `{ a, b ? a + 1 }: a` called: slot 0 the argument, slot 1 the
        // default's thunk of the scope; the call's frame holds the scope.
        let (env, probe) = scope_with_probe(2);
        env.set(0, Value::Int(1));
        env.set(1, Value::Thunk(Thunk::suspended(code("1"), env.clone())));
        defer(env.clone());
        // The call is over: its frame lets the scope go.
        drop(env);
        assert!(probe.upgrade().is_some());
        look_again();
        assert!(probe.upgrade().is_none());
    }

    #[test]
    fn an_escaped_scope_still_reachable_is_left_to_counting() {
        let (env, probe) = cyclic_scope();
        let escaped = env.get(1);
        free_or_defer(env);
        let mut held = Vec::new();
        for _ in 1..DEFERRED_MAX {
            let (env, _) = cyclic_scope();
            held.push(env.get(0));
            free_or_defer(env);
        }
        // (A full list was looked at, and let go.)
        assert_eq!(deferred_len(), 0);
        drop(held);
        assert!(probe.upgrade().is_some());
        drop(escaped);
        // Nothing looks at it any more.
        assert!(probe.upgrade().is_some());
    }

    #[test]
    fn a_scope_held_by_a_value_on_the_side_is_kept() {
        let (env, probe) = cyclic_scope();
        let elsewhere = Thunk::suspended(code("1"), env.clone());
        assert!(free_if_unreachable(env).is_err());
        assert!(probe.upgrade().is_some());
        drop(elsewhere);
    }

    #[test]
    fn a_function_binding_evaluated_to_its_closure_is_freed() {
        let (env, probe) = scope_with_probe(1);
        let lambda = code("x: x").lambdas[0].clone();
        let closure = Value::Closure(Counted::new(Closure {
            lambda,
            env: env.clone(),
        }));
        let binding = Thunk::suspended(code("1"), env.clone());
        binding.finish(closure);
        env.set(0, Value::Thunk(binding));
        assert!(free_if_unreachable(env).is_ok());
        assert!(probe.upgrade().is_none());
    }
}
