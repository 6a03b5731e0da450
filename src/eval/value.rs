//! Runtime values of the Nix language: strings are byte strings, large
//! attribute sets are persistent (`imbl`) so updates share structure,
//! lists are flat arrays, and laziness lives in [`Thunk`]s that are
//! evaluated at most once.

use std::cell::UnsafeCell;
use std::path::PathBuf;
use std::rc::Rc;

use smallvec::SmallVec;

use super::code::{Code, LambdaInfo, Source};
use super::counted::{self, Counted};

pub use super::nix_string::{cmp_bytes, cmp_with_heads, head_of, int_digits, Context, NixString};

pub use super::attrs::Attrs;

/// An attribute set value: the map, and where its attributes were defined
/// (for sets built from source; `None` for sets made by builtins). The
/// positions are a side table shared by every set one `MakeAttrs`
/// instruction makes, so building a set costs one reference count.
pub struct AttrSet {
    pub map: Attrs,
    pub pos: Option<Rc<AttrPos>>,
}

impl std::ops::Deref for AttrSet {
    type Target = Attrs;
    #[inline]
    fn deref(&self) -> &Attrs {
        &self.map
    }
}

impl AttrSet {
    /// The position of attribute `name` (source and byte offset), if known.
    pub fn pos_of(&self, name: &NixString) -> Option<(Rc<Source>, u32)> {
        let mut table = self.pos.clone()?;
        loop {
            let next = match &*table {
                AttrPos::Table { source, names } => {
                    let i = names.binary_search_by(|(n, _)| n.cmp(name)).ok()?;
                    return Some((source.clone(), names[i].1));
                }
                AttrPos::Update { left, right } => {
                    if right.map.contains_key(name) {
                        right.pos.clone()?
                    } else {
                        left.clone()
                    }
                }
            };
            table = next;
        }
    }

    /// The positions of `left // right` (`right` as the operand).
    pub fn update_pos(left: &AttrSet, right: &Counted<AttrSet>) -> Option<Rc<AttrPos>> {
        match (&left.pos, &right.pos) {
            (None, None) => None,
            (None, Some(r)) => Some(r.clone()),
            (Some(l), _) => Some(Rc::new(AttrPos::Update {
                left: l.clone(),
                right: right.clone(),
            })),
        }
    }
}

/// Where the attributes of a set were defined.
pub enum AttrPos {
    /// Byte offsets in `source`, sorted by name. Every name listed is an
    /// attribute of the sets that share the table.
    Table {
        source: Rc<Source>,
        names: Box<[(NixString, u32)]>,
    },
    /// `left // right`: a name of `right` has `right`'s position (or none),
    /// the others `left`'s.
    Update {
        left: Rc<AttrPos>,
        right: Counted<AttrSet>,
    },
}

impl AttrPos {
    /// A table of `(name, offset)` pairs (sorted here; on repeated names
    /// the last wins).
    pub fn table(source: Rc<Source>, mut names: Vec<(NixString, u32)>) -> Rc<AttrPos> {
        names.sort_by(|a, b| a.0.cmp(&b.0));
        names.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                earlier.1 = later.1;
                true
            } else {
                false
            }
        });
        Rc::new(AttrPos::Table {
            source,
            names: names.into_boxed_slice(),
        })
    }

    /// `table` (a `Table`) with more names.
    pub fn with_more(table: &Rc<AttrPos>, more: Vec<(NixString, u32)>) -> Rc<AttrPos> {
        match &**table {
            AttrPos::Table { source, names } => {
                let mut all = names.to_vec();
                all.extend(more);
                AttrPos::table(source.clone(), all)
            }
            AttrPos::Update { .. } => table.clone(),
        }
    }
}

/// A builtin's synchronous fast path: the result when the arguments it
/// needs are already evaluated and nothing can fail, `None` to run the
/// builtin instead (which then also produces any error).
pub type FastFn = fn(&[Value]) -> Option<Value>;

/// A builtin, possibly partially applied. Its function is the one the
/// evaluator registered as `id` (`host::Host::builtin_fn`), so values do not
/// depend on how builtins run.
pub struct Builtin {
    pub name: &'static str,
    pub arity: usize,
    pub id: u32,
    pub fast: Option<FastFn>,
    /// Forces its last argument before anything else (`map`, `genList`,
    /// `mapAttrs`; one-argument builtins need no mark).
    pub strict_last: bool,
    pub args: PartialArgs,
}

/// The arguments a builtin has been given so far: fewer than its arity,
/// which is at most three, so they stay in the value (a partial
/// application such as `map f` or `foldl' op` is one allocation).
pub type PartialArgs = smallvec::SmallVec<[Value; 2]>;

impl Builtin {
    /// The same builtin with no arguments applied.
    pub fn without_args(&self) -> Builtin {
        Builtin {
            name: self.name,
            arity: self.arity,
            id: self.id,
            fast: self.fast,
            strict_last: self.strict_last,
            args: PartialArgs::new(),
        }
    }
}

/// Lists of values (see [`super::list`]).
pub type List = super::list::List<Value>;

/// A variable scope at run time. Variables are resolved at compile time to
/// (depth, slot); a `with` scope holds its attribute set in slot 0 and,
/// when there is one, how far up the next `with` scope is in slot 1
/// ([`Env::with_scope`]). 32 bytes, a 40-byte block with its count.
pub struct Env {
    /// A scope of one slot (the argument of `x: …`, most scopes by far)
    /// keeps it inline: one 40-byte allocation.
    slots: UnsafeCell<SmallVec<[Value; 1]>>,
    pub parent: Option<Counted<Env>>,
}

impl Counted<Env> {
    /// The environment `depth` levels up.
    #[inline]
    pub fn up(&self, depth: usize) -> &Counted<Env> {
        let mut e = self;
        for _ in 0..depth {
            e = e
                .parent
                .as_ref()
                .expect("compiler resolved a scope depth that exists");
        }
        e
    }

    /// The next `with` scope out from this `with` scope, if any.
    pub fn next_with(&self) -> Option<&Counted<Env>> {
        let next = self.peek_slots(|slots| match slots {
            [_, Value::Int(n)] => Some(*n as usize),
            _ => None,
        })?;
        Some(self.up(next))
    }
}

impl Env {
    pub fn new(size: usize, parent: Option<Counted<Env>>) -> Counted<Env> {
        Counted::new(Env {
            slots: UnsafeCell::new(smallvec::smallvec![Value::Null; size]),
            parent,
        })
    }

    /// A scope of `size` slots (at least one) whose first slot holds
    /// `first` (a function's argument).
    #[inline]
    pub fn with_first(size: usize, first: Value, parent: Counted<Env>) -> Counted<Env> {
        if size > 1 {
            return Self::with_first_of_many(size, first, parent);
        }
        Counted::new(Env {
            slots: UnsafeCell::new(SmallVec::from_buf([first])),
            parent: Some(parent),
        })
    }

    /// [`Env::with_first`] of a scope of more than one slot (a function
    /// with formals, or one whose body has a `let`), kept apart so that
    /// the one-slot scope of `x: …` is a few instructions where it is
    /// made (together, the function saved six registers and grew the
    /// vector on every call).
    #[inline(never)]
    fn with_first_of_many(size: usize, first: Value, parent: Counted<Env>) -> Counted<Env> {
        let mut slots = SmallVec::with_capacity(size);
        slots.push(first);
        slots.resize(size, Value::Null);
        Counted::new(Env {
            slots: UnsafeCell::new(slots),
            parent: Some(parent),
        })
    }

    /// A `with` scope of set (expression) `attrs`, the next `with` scope
    /// out being `next` scopes up from it (0: none). Which scopes are
    /// `with` scopes is known when compiling, so a scope carries no mark;
    /// a `with` scope keeps the way to the next one in its second slot.
    pub fn with_scope(attrs: Value, next: u32, parent: Counted<Env>) -> Counted<Env> {
        let slots = if next == 0 {
            smallvec::smallvec![attrs]
        } else {
            smallvec::smallvec![attrs, Value::Int(i64::from(next))]
        };
        Counted::new(Env {
            slots: UnsafeCell::new(slots),
            parent: Some(parent),
        })
    }

    #[inline]
    pub fn get(&self, slot: usize) -> Value {
        // SAFETY: see `Env::set`; cloning a value only counts a reference.
        unsafe { (&*self.slots.get())[slot].clone() }
    }

    /// `f` of slot `slot`'s value, without counting a reference. `f`
    /// must only read it (as [`Env::get`]'s callers do with the clone).
    #[inline]
    pub fn peek<R>(&self, slot: usize, f: impl FnOnce(&Value) -> R) -> R {
        // SAFETY: single-threaded, and `f` gets a shared reference for its
        // call only; it cannot reach this scope to write it (it is given
        // the value, not the scope).
        unsafe { f(&(&*self.slots.get())[slot]) }
    }

    /// `f` of all slots, read only (as [`Env::peek`]).
    pub fn peek_slots<R>(&self, f: impl FnOnce(&[Value]) -> R) -> R {
        // SAFETY: as `peek`.
        unsafe { f(&*self.slots.get()) }
    }

    /// Empties every slot (a scope found unreachable: see `cycles`).
    pub fn clear(&self) {
        // SAFETY: as `set`: the values are moved out, and dropped only
        // after the write.
        let old = unsafe { std::mem::take(&mut *self.slots.get()) };
        drop(old);
    }

    #[inline]
    pub fn set(&self, slot: usize, v: Value) {
        // SAFETY: the evaluator is single-threaded (`Env` is not `Sync`),
        // and no reference into the slots outlives a `get` or `set`: the
        // old value is moved out here and dropped after the write, so
        // whatever its drop frees cannot observe this scope mid-update.
        let old = unsafe { std::mem::replace(&mut (&mut *self.slots.get())[slot], v) };
        drop(old);
    }
}

/// A function value: compiled code plus the scope it closes over.
pub struct Closure {
    pub lambda: Rc<LambdaInfo>,
    pub env: Counted<Env>,
}

/// What a thunk holds over its life. 24 bytes, so that a thunk is a
/// 32-byte block: `Apply` is the one largest variant (its argument packed
/// in a word, see [`PackedArg`]), and the others fit around its
/// function's tag.
#[derive(Clone)]
pub enum ThunkState {
    /// Code to run in a scope.
    Suspended { code: Rc<Code>, env: Counted<Env> },
    /// A delayed function application (`map`, `genList`, `mapAttrs`).
    Apply(Value, PackedArg),
    /// The same, for an argument that does not pack (a float, a boolean,
    /// `null`, an integer of more than 61 bits), in a block of its own.
    ApplyBoxed(Counted<(Value, Value)>),
    /// Being evaluated: meeting it again means infinite recursion. The work
    /// stays here, to be put back if the evaluation fails (so that forcing
    /// it again fails again instead of reporting recursion).
    EvaluatingCode { code: Rc<Code>, env: Counted<Env> },
    /// A pending call being evaluated, with its function and argument
    /// to put back.
    EvaluatingApply(Counted<(Value, Value)>),
    /// Being evaluated, with nothing to put back.
    Blackhole,
    /// Evaluated to weak head normal form.
    Done(Value),
}

impl ThunkState {
    /// The pending call `f arg`.
    pub fn apply(f: Value, arg: Value) -> ThunkState {
        match PackedArg::pack(arg) {
            Ok(a) => ThunkState::Apply(f, a),
            Err(arg) => ThunkState::ApplyBoxed(Counted::new((f, arg))),
        }
    }

    /// What `k` makes of the function and argument of a pending call
    /// (`None` in any other state).
    #[inline]
    pub fn with_call<R>(&self, k: impl FnOnce(&Value, &Value) -> Option<R>) -> Option<R> {
        match self {
            ThunkState::Apply(f, a) => k(f, &a.view()),
            ThunkState::ApplyBoxed(w) => k(&w.0, &w.1),
            _ => None,
        }
    }

    /// The function and argument of a pending call (the state itself
    /// back when it is none).
    #[inline]
    pub fn into_call(self) -> Result<(Value, Value), ThunkState> {
        match self {
            ThunkState::Apply(f, a) => Ok((f, a.into_value())),
            ThunkState::ApplyBoxed(w) => Ok((w.0.clone(), w.1.clone())),
            other => Err(other),
        }
    }
}

/// A value in one word, for the argument of a pending call: an integer
/// of up to 61 bits (shifted up three bits, the low ones zero), or a
/// string, path, set, list, closure, builtin or thunk (its address, whose
/// three low bits are free as blocks are 8-aligned, with the kind's tag
/// less three in them). The reference it holds is counted as the value's.
pub struct PackedArg(usize);

/// The tag of [`Value::Int`] (see [`Value`]'s layout).
const INT_TAG: usize = 2;
/// The first tag of the kinds held by address (`String` … `Thunk`).
const FIRST_POINTER_TAG: usize = 4;

impl PackedArg {
    /// `v` packed, or `v` back when it does not pack.
    pub fn pack(v: Value) -> Result<PackedArg, Value> {
        let words = value_words(&v);
        let packed = match words[0] {
            INT_TAG => {
                let i = words[1] as i64;
                if (i << 3) >> 3 != i {
                    return Err(v);
                }
                (i << 3) as usize
            }
            tag @ FIRST_POINTER_TAG..=10 if words[1] & 7 == 0 => {
                words[1] | (tag - FIRST_POINTER_TAG + 1)
            }
            _ => return Err(v),
        };
        // The reference `v` held is the packed word's now.
        std::mem::forget(v);
        Ok(PackedArg(packed))
    }

    /// The value, lent (its reference is not counted again: it must not
    /// be dropped, which `ManuallyDrop` sees to).
    #[inline]
    pub fn view(&self) -> std::mem::ManuallyDrop<Value> {
        let code = self.0 & 7;
        let words = if code == 0 {
            [INT_TAG, ((self.0 as i64) >> 3) as usize]
        } else {
            [code - 1 + FIRST_POINTER_TAG, self.0 & !7]
        };
        // SAFETY: the words of a value `pack` took apart (the tag, and an
        // integer or the address the kind's reference is), whose
        // reference this holds.
        std::mem::ManuallyDrop::new(unsafe { std::mem::transmute::<[usize; 2], Value>(words) })
    }

    /// The value, with the reference this held.
    #[inline]
    pub fn into_value(self) -> Value {
        let v = std::mem::ManuallyDrop::into_inner(self.view());
        std::mem::forget(self);
        v
    }
}

/// The two words of `v`: its tag (`repr(u64)`, the variant's index in
/// declaration order) and its payload.
#[inline(always)]
fn value_words(v: &Value) -> [usize; 2] {
    // SAFETY: a value is two words (checked by a test), read as such.
    unsafe { std::ptr::read(v as *const Value as *const [usize; 2]) }
}

impl Clone for PackedArg {
    fn clone(&self) -> PackedArg {
        // Counts the reference the copy holds.
        std::mem::forget((*self.view()).clone());
        PackedArg(self.0)
    }
}

impl Drop for PackedArg {
    fn drop(&mut self) {
        drop(std::mem::ManuallyDrop::into_inner(self.view()));
    }
}

/// A lazily evaluated value, shared by everything that refers to it.
///
/// The state sits in an `UnsafeCell` rather than a `RefCell` (8 bytes and
/// a flag check less per thunk): the evaluator is single-threaded (`Rc`
/// makes `Thunk` neither `Send` nor `Sync`), and every access below
/// either copies a value out (a reference count) or swaps the state,
/// dropping what it replaced only after the write. No reference into the
/// state is handed out, except to the `pick` of [`Thunk::with_value`],
/// which only reads.
///
/// [`Counted`] rather than `Rc`: without a weak count a thunk is a
/// 32-byte block (count, state) instead of 40.
#[derive(Clone)]
#[repr(transparent)]
pub struct Thunk(Counted<UnsafeCell<ThunkState>>);

impl Thunk {
    pub fn suspended(code: Rc<Code>, env: Counted<Env>) -> Thunk {
        Thunk::with_state(ThunkState::Suspended { code, env })
    }

    pub fn apply(f: Value, arg: Value) -> Thunk {
        Thunk::with_state(ThunkState::apply(f, arg))
    }

    /// A thunk in state `state` (`Blackhole` for one to be filled later).
    pub fn with_state(state: ThunkState) -> Thunk {
        Thunk(Counted::new(UnsafeCell::new(state)))
    }

    /// Replaces the state (for thunks made before their code exists).
    #[inline]
    pub fn set_state(&self, state: ThunkState) {
        // SAFETY: see the type's comment.
        let old = unsafe { std::mem::replace(&mut *self.0.get(), state) };
        drop(old);
    }

    /// What `pick` finds in the value, if evaluated. `pick` must only read.
    #[inline(always)]
    pub fn with_value<T>(&self, pick: impl FnOnce(&Value) -> Option<T>) -> Option<T> {
        // SAFETY: see the type's comment; `pick` gets a shared reference
        // while nothing writes to the state.
        match unsafe { &*self.0.get() } {
            ThunkState::Done(v) => pick(v),
            _ => None,
        }
    }

    /// The value, if evaluated.
    #[inline]
    pub fn value(&self) -> Option<Value> {
        self.with_value(|v| Some(v.clone()))
    }

    /// What `f` makes of the code and scope of a thunk not started yet
    /// (`None` in any other state). `f` must only read them.
    #[inline]
    pub fn with_suspended<T>(
        &self,
        f: impl FnOnce(&Rc<Code>, &Counted<Env>) -> Option<T>,
    ) -> Option<T> {
        // SAFETY: see the type's comment; `f` gets shared references while
        // nothing writes to the state.
        match unsafe { &*self.0.get() } {
            ThunkState::Suspended { code, env } => f(code, env),
            _ => None,
        }
    }

    /// Whether the thunk has been evaluated.
    #[inline]
    pub fn is_done(&self) -> bool {
        // SAFETY: see the type's comment.
        matches!(unsafe { &*self.0.get() }, ThunkState::Done(_))
    }

    /// Takes the pending work out, leaving a blackhole.
    #[inline]
    pub fn start(&self) -> ThunkState {
        // SAFETY: see the type's comment.
        let state = unsafe { &mut *self.0.get() };
        let evaluating = match &*state {
            ThunkState::Suspended { code, env } => ThunkState::EvaluatingCode {
                code: code.clone(),
                env: env.clone(),
            },
            ThunkState::Apply(f, x) => {
                ThunkState::EvaluatingApply(Counted::new((f.clone(), (*x.view()).clone())))
            }
            ThunkState::ApplyBoxed(work) => ThunkState::EvaluatingApply(work.clone()),
            ThunkState::Done(v) => return ThunkState::Done(v.clone()),
            _ => return ThunkState::Blackhole,
        };
        std::mem::replace(state, evaluating)
    }

    #[inline]
    pub fn finish(&self, v: Value) {
        self.set_state(ThunkState::Done(v));
    }

    /// Puts back the work [`Thunk::start`] began, when its evaluation failed.
    pub fn restore(&self) {
        // SAFETY: see the type's comment.
        let state = unsafe { &mut *self.0.get() };
        let back = match std::mem::replace(state, ThunkState::Blackhole) {
            ThunkState::EvaluatingCode { code, env } => ThunkState::Suspended { code, env },
            ThunkState::EvaluatingApply(work) => ThunkState::apply(work.0.clone(), work.1.clone()),
            other => other,
        };
        let old = std::mem::replace(state, back);
        drop(old);
    }

    /// What `f` makes of the state. `f` must only read it.
    pub fn peek_state<R>(&self, f: impl FnOnce(&ThunkState) -> R) -> R {
        // SAFETY: see the type's comment.
        f(unsafe { &*self.0.get() })
    }

    /// Whether nothing else refers to this thunk.
    pub fn is_unshared(&self) -> bool {
        Counted::strong_count(&self.0) == 1
    }

    pub fn ptr_eq(&self, other: &Thunk) -> bool {
        Counted::ptr_eq(&self.0, &other.0)
    }

    /// The thunk's address (its identity while it lives).
    pub fn address(&self) -> usize {
        Counted::as_ptr(&self.0) as usize
    }
}

/// A Nix value. `Thunk` is the only variant that may be unevaluated.
///
/// The tag is a whole word (`repr(u64)`) so that every payload, `Bool`'s
/// too, starts at the second word: with a one-byte tag `Bool` sat in the
/// first word's padding, and the compiler moved values byte by byte
/// around it (and stores split that way stall the 16-byte loads that
/// read them back). Still two words, and `Option<Value>` and
/// [`ThunkState`] find their niches in the tag.
#[repr(u64)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(NixString),
    Path(Rc<PathBuf>),
    Attrs(Counted<AttrSet>),
    List(Counted<List>),
    Closure(Counted<Closure>),
    Builtin(Rc<Builtin>),
    Thunk(Thunk),
}

impl Clone for Value {
    /// Counts the reference, then copies the value's 16 bytes at once.
    /// (A derived clone writes the tag and the payload as two stores; the
    /// 16-byte load that moves the copy on, onto the stack say, cannot
    /// be forwarded from two stores and waits for them to retire: in the
    /// Fibonacci benchmark the push after a variable's clone stalled on
    /// that for a seventh of the run.) The kinds held in a [`Counted`]
    /// are counted by one test of the tag, not a jump on it (an indirect
    /// jump the processor mispredicts as the kinds vary: an eighth of the
    /// fold benchmark's time).
    #[inline]
    fn clone(&self) -> Value {
        let words = self as *const Value as *const usize;
        // SAFETY: `repr(u64)`: the first word is the tag, the declaration
        // order's index.
        let tag = unsafe { *words };
        if COUNTED_KINDS >> tag & 1 != 0 {
            // SAFETY: the second word of a counted kind is its `Counted`
            // (transparent: the block's address, the count first).
            unsafe { counted::count_another(*words.add(1) as *const std::cell::Cell<usize>) };
        } else {
            match self {
                Value::Path(p) => std::mem::forget(p.clone()),
                Value::Builtin(b) => std::mem::forget(b.clone()),
                _ => {}
            }
        }
        // SAFETY: the reference the copy holds was counted above, and
        // every other variant is plain data: a bitwise copy is a clone.
        unsafe { std::ptr::read(self) }
    }
}

/// The tags (bit `i` for tag `i`) of the kinds whose payload is the
/// address of a block that starts with its count: strings (whose block is
/// laid out so, see [`NixString`]) and the [`Counted`] sets, lists,
/// closures and thunks.
const COUNTED_KINDS: usize = 1 << 4 | 1 << 6 | 1 << 7 | 1 << 8 | 1 << 10;

impl Value {
    pub fn string(s: impl Into<NixString>) -> Value {
        Value::String(s.into())
    }

    pub fn attrs(a: Attrs) -> Value {
        Value::Attrs(Counted::new(AttrSet { map: a, pos: None }))
    }

    /// A set with attribute positions.
    pub fn attrs_with_pos(a: Attrs, pos: Option<Rc<AttrPos>>) -> Value {
        Value::Attrs(Counted::new(AttrSet { map: a, pos }))
    }

    pub fn list(l: List) -> Value {
        Value::List(Counted::new(l))
    }

    /// Follows evaluated thunks; an unevaluated thunk is returned as is.
    #[inline]
    pub fn resolved(&self) -> Value {
        match self {
            Value::Thunk(t) => match t.value() {
                Some(v) => v,
                None => self.clone(),
            },
            v => v.clone(),
        }
    }

    /// True unless this is a thunk not yet evaluated.
    #[inline]
    pub fn is_evaluated(&self) -> bool {
        match self {
            Value::Thunk(t) => t.is_done(),
            _ => true,
        }
    }

    /// The type name Nix uses in messages and `builtins.typeOf`.
    pub fn type_name(&self) -> &'static str {
        match self.resolved() {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Path(_) => "path",
            Value::Attrs(_) => "set",
            Value::List(_) => "list",
            Value::Closure(_) | Value::Builtin(_) => "lambda",
            Value::Thunk(_) => "thunk",
        }
    }

    /// C++ Nix's wording in type errors ("a set", "an integer", …).
    pub fn type_desc(&self) -> &'static str {
        match self.resolved() {
            Value::Null => "null",
            Value::Bool(_) => "a Boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::String(_) => "a string",
            Value::Path(_) => "a path",
            Value::Attrs(_) => "a set",
            Value::List(_) => "a list",
            Value::Closure(_) => "a function",
            Value::Builtin(_) => "a built-in function",
            Value::Thunk(_) => "a thunk",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of argument packs or not as documented, comes back the
    /// same through `view` and `into_value`, and keeps its references
    /// counted (a clone of the packing counts one more, dropping it one
    /// less).
    #[test]
    fn pending_call_arguments_pack_and_come_back() {
        let set = Value::attrs(Attrs::new());
        let list = Value::list(vec![Value::Int(1)].into());
        let thunk = Value::Thunk(Thunk::with_state(ThunkState::Done(Value::Int(7))));
        let packs = [
            Value::Int(0),
            Value::Int(-1),
            Value::Int((1 << 60) - 1),
            Value::Int(-(1 << 60)),
            Value::string("a name"),
            Value::Path(Rc::new(PathBuf::from("/p"))),
            set.clone(),
            list.clone(),
            thunk.clone(),
        ];
        for v in packs {
            let shown = format!("{:?}", crate::eval::print::print_bytes(&v));
            let p = PackedArg::pack(v).unwrap_or_else(|_| panic!("{shown} packs"));
            assert_eq!(
                format!("{:?}", crate::eval::print::print_bytes(&p.view())),
                shown
            );
            let q = p.clone();
            drop(p);
            let back = q.into_value();
            assert_eq!(
                format!("{:?}", crate::eval::print::print_bytes(&back)),
                shown
            );
        }
        for v in [
            Value::Null,
            Value::Bool(true),
            Value::Float(0.5),
            Value::Int(1 << 60),
            Value::Int(i64::MIN),
        ] {
            assert!(PackedArg::pack(v).is_err());
        }
        let (Value::Attrs(a), Value::List(l), Value::Thunk(t)) = (&set, &list, &thunk) else {
            unreachable!()
        };
        assert_eq!(Counted::strong_count(a), 1);
        assert_eq!(Counted::strong_count(l), 1);
        assert!(t.is_unshared());
        let state = ThunkState::apply(Value::Null, set.clone());
        assert_eq!(Counted::strong_count(a), 2);
        let copy = state.clone();
        assert_eq!(Counted::strong_count(a), 3);
        drop(state);
        let Ok((_, arg)) = copy.into_call() else {
            unreachable!("a pending call")
        };
        assert_eq!(Counted::strong_count(a), 2);
        drop(arg);
        assert_eq!(Counted::strong_count(a), 1);
    }

    proptest::proptest! {
        /// `toString`'s digits are Rust's (and C++'s) decimal form.
        #[test]
        fn int_digits_are_decimal(i in proptest::prelude::any::<i64>()) {
            let mut buf = [0; 20];
            let expected = i.to_string();
            proptest::prop_assert_eq!(int_digits(i, &mut buf), expected.as_bytes());
        }
    }

    #[test]
    fn int_digits_at_the_edges() {
        for i in [0, 1, -1, 9, 10, -10, i64::MAX, i64::MIN, 1234567890123] {
            assert_eq!(NixString::of_int(i).as_bytes(), i.to_string().as_bytes());
        }
    }

    /// The sizes the evaluator's memory use rests on: a thunk is one
    /// 40-byte block (count, state), a value two words.
    #[test]
    fn values_and_thunks_stay_small() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
        assert_eq!(std::mem::size_of::<Option<Value>>(), 16);
    }

    /// `Value::clone` finds the counted kinds by their tags.
    #[test]
    fn counted_kinds_have_the_tags_clone_tests() {
        let tag = |v: &Value| unsafe { *(v as *const Value as *const usize) };
        let env = Env::new(1, None);
        let set = Value::attrs(Default::default());
        let list = Value::list(Default::default());
        let thunk = Value::Thunk(Thunk::with_state(ThunkState::Blackhole));
        for v in [&set, &list, &thunk] {
            assert_ne!(COUNTED_KINDS >> tag(v) & 1, 0);
        }
        for v in [
            Value::Null,
            Value::Bool(true),
            Value::Int(1),
            Value::Float(1.0),
        ] {
            assert_eq!(COUNTED_KINDS >> tag(&v) & 1, 0);
        }
        let string = Value::string("s");
        assert_ne!(COUNTED_KINDS >> tag(&string) & 1, 0);
        assert_eq!(tag(&string), 4);
        assert_eq!(tag(&set), 6);
        assert_eq!(tag(&list), 7);
        assert_eq!(tag(&thunk), 10);
        // Clones count references, and their drops give them back.
        let copies: Vec<Value> = (0..3).map(|_| set.clone()).collect();
        let Value::Attrs(a) = &set else {
            unreachable!()
        };
        assert_eq!(Counted::strong_count(a), 4);
        drop(copies);
        assert_eq!(Counted::strong_count(a), 1);
        drop(env);
        assert_eq!(std::mem::size_of::<ThunkState>(), 24);
        // A scope of one slot: 40 bytes with its count.
        assert_eq!(std::mem::size_of::<Env>(), 32);
    }
}
