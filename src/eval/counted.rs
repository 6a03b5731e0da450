//! [`Counted`]: a shared reference for the evaluator's most numerous
//! allocations (thunks, scopes, sets, lists, closures), counted like `Rc` but without `Rc`'s
//! weak count, which they never use: 8 bytes less per block, in a run of
//! the module benchmark some six million blocks. Blocks of up to 64 bytes
//! come from [`super::block_pool`]'s per-thread free lists.

use std::alloc::Layout;
use std::cell::Cell;
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;

use super::block_pool;

/// A reference-counted, immutable (through `Deref`) value on the heap,
/// freed when the last reference goes. Neither `Send` nor `Sync`.
/// Transparent: a `Counted` is the block's address, the count at its
/// start (what [`count_another`] relies on).
#[repr(transparent)]
pub struct Counted<T>(NonNull<Block<T>>, PhantomData<Block<T>>);

/// The count first, at the same offset for every `T` (as in `Rc`), so that
/// counting a [`super::value::Value`]'s reference is the same code whatever
/// its kind.
#[repr(C)]
struct Block<T> {
    count: Cell<usize>,
    value: T,
}

impl<T> Counted<T> {
    #[inline]
    pub fn new(value: T) -> Counted<T> {
        let block = Block {
            count: Cell::new(1),
            value,
        };
        if !block_pool::serves(Layout::new::<Block<T>>()) {
            return Counted(NonNull::from(Box::leak(Box::new(block))), PhantomData);
        }
        let p = block_pool::allocate(Layout::new::<Block<T>>()).cast::<Block<T>>();
        // SAFETY: a fresh block of `Block<T>`'s size and alignment.
        unsafe {
            p.write(block);
            Counted(NonNull::new_unchecked(p), PhantomData)
        }
    }

    #[inline(always)]
    fn block(&self) -> &Block<T> {
        // SAFETY: the block lives as long as any reference to it.
        unsafe { self.0.as_ref() }
    }

    /// How many references there are to the value.
    #[inline]
    pub fn strong_count(this: &Counted<T>) -> usize {
        this.block().count.get()
    }

    /// Whether `a` and `b` refer to the same value.
    #[inline]
    pub fn ptr_eq(a: &Counted<T>, b: &Counted<T>) -> bool {
        a.0 == b.0
    }

    /// The value's address (its identity while it lives).
    #[inline]
    pub fn as_ptr(this: &Counted<T>) -> *const T {
        &this.block().value
    }

    /// Drops the value and frees the block (out of line, as `Rc` does, so
    /// that dropping a reference stays a decrement and a test).
    #[inline(never)]
    fn free(&mut self) {
        let layout = Layout::new::<Block<T>>();
        if !block_pool::serves(layout) {
            // SAFETY: the last reference is going: nothing else reaches
            // the block, which `Counted::new` made with `Box`.
            drop(unsafe { Box::from_raw(self.0.as_ptr()) });
            return;
        }
        // SAFETY: the last reference is going: nothing else reaches the
        // block, which `Counted::new` took from the pool. The value is
        // dropped before the block goes back (its drop may free others).
        unsafe {
            std::ptr::drop_in_place(self.0.as_ptr());
            block_pool::release(self.0.as_ptr().cast(), layout);
        }
    }
}

impl<T> Deref for Counted<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.block().value
    }
}

impl<T> Clone for Counted<T> {
    #[inline]
    fn clone(&self) -> Counted<T> {
        // SAFETY: the block of a live reference.
        unsafe { count_another(self.0.as_ptr().cast()) };
        Counted(self.0, PhantomData)
    }
}

/// Counts one more reference to the block a `Counted` (of any `T`)
/// points to, given as the address of its count (the block's start):
/// how a [`super::value::Value`] is cloned without looking at its kind.
///
/// # Safety
/// `count` must be the address of a live `Counted`'s block.
#[inline(always)]
pub unsafe fn count_another(count: *const Cell<usize>) {
    // SAFETY: the caller's.
    let count = unsafe { &*count };
    let n = count.get();
    // SAFETY: a live reference (the caller's) is counted.
    unsafe { std::hint::assert_unchecked(n != 0) };
    let n = n.wrapping_add(1);
    count.set(n);
    // As `Rc`: abort rather than wrap.
    if n == 0 {
        std::process::abort();
    }
}

/// Gives back one reference of a block's `count`: whether it was the
/// last (the block is then to be freed). What dropping a `Counted`, or a
/// string, whose block is counted the same way, does first.
#[inline(always)]
pub fn count_one_less(count: &Cell<usize>) -> bool {
    let n = count.get() - 1;
    count.set(n);
    n == 0
}

impl<T> Drop for Counted<T> {
    #[inline]
    fn drop(&mut self) {
        if count_one_less(&self.block().count) {
            self.free();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn the_value_goes_with_the_last_reference() {
        let probe = Rc::new(());
        let a = Counted::new(probe.clone());
        let b = a.clone();
        assert_eq!(Counted::strong_count(&a), 2);
        assert!(Counted::ptr_eq(&a, &b));
        assert!(!Counted::ptr_eq(&a, &Counted::new(probe.clone())));
        drop(a);
        assert_eq!(Rc::strong_count(&probe), 2);
        assert_eq!(Counted::strong_count(&b), 1);
        drop(b);
        assert_eq!(Rc::strong_count(&probe), 1);
    }

    #[test]
    fn a_block_is_a_count_and_the_value() {
        assert_eq!(std::mem::size_of::<Block<[u64; 3]>>(), 32);
        assert_eq!(std::mem::size_of::<Option<Counted<u64>>>(), 8);
    }
}
