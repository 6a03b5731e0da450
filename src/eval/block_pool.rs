//! Per-thread free lists for the small blocks [`super::counted::Counted`]
//! allocates by the million (thunks, scopes, closures, sets, lists: 16 to
//! 64 bytes). Taking a block is popping a list; freeing one is pushing it
//! back, so the block freed last (still in cache) is the next one handed
//! out. New blocks are cut from 256 KiB chunks, whose pages (past the
//! first few chunks) are made present in one call rather than faulted in
//! one by one.
//!
//! Memory goes back to a list of its own size, never to the system: the
//! evaluator's heap is at its largest near the end of an evaluation, and
//! the thread that evaluates lives as long as the command. What a thread
//! still has when it ends (its free lists, the rest of its chunk) is lost,
//! not handed on: a block may still be referred to from another
//! thread-local value being destroyed after the pool, so no chunk is ever
//! freed. A block allocated or freed while the thread's pool is already
//! destroyed goes to (or is left with) the global allocator.

use std::alloc::{alloc, Layout};
use std::cell::UnsafeCell;
use std::ptr;

/// Sizes the pool serves: multiples of 8 up to this.
pub(super) const MAX_SIZE: usize = 64;
const CLASSES: usize = MAX_SIZE / 8 + 1;
const CHUNK: usize = 256 * 1024;
/// Chunks after this many have their pages made present as they are
/// cut ([`populate`]); an evaluation that stays within the first MiB
/// (`--eval -E 1`) does not pay for pages it never uses.
const EAGER_AFTER: usize = 4;

/// A free block: its first word links to the next free block of its size.
struct FreeBlock {
    next: *mut FreeBlock,
}

struct Pool {
    /// One list per size (index: size / 8).
    free: [*mut FreeBlock; CLASSES],
    /// The part of the current chunk not handed out yet.
    bump: *mut u8,
    end: *mut u8,
    /// How many chunks were cut so far.
    chunks: usize,
}

thread_local! {
    static POOL: UnsafeCell<Pool> = const {
        UnsafeCell::new(Pool {
            free: [ptr::null_mut(); CLASSES],
            bump: ptr::null_mut(),
            end: ptr::null_mut(),
            chunks: 0,
        })
    };
}

/// Whether blocks of `layout` come from the pool (else from the global
/// allocator).
#[inline(always)]
pub(super) const fn serves(layout: Layout) -> bool {
    layout.size() <= MAX_SIZE
        && layout.size().is_multiple_of(8)
        && layout.align() <= 8
        && layout.size() > 0
}

/// A block for `layout` (which the pool must [`serve`](serves)); never
/// null (running out of memory ends the process as the global allocator
/// does).
#[inline(always)]
pub(super) fn allocate(layout: Layout) -> *mut u8 {
    debug_assert!(serves(layout));
    let got = POOL.try_with(|p| {
        // SAFETY: the pool is this thread's, and nothing else holds a
        // reference into it while this runs (no callbacks).
        let p = unsafe { &mut *p.get() };
        let list = &mut p.free[layout.size() / 8];
        let head = *list;
        if head.is_null() {
            p.cut(layout.size())
        } else {
            // SAFETY: a block on a free list is a free block of this size,
            // its first word the link written by `release`.
            *list = unsafe { (*head).next };
            head.cast()
        }
    });
    match got {
        Ok(block) => block,
        // SAFETY: `layout` has a non-zero size.
        Err(_) => or_exit(unsafe { alloc(layout) }, layout),
    }
}

/// Gives back a block [`allocate`] returned for `layout` (its value
/// already dropped).
///
/// # Safety
/// `block` came from `allocate(layout)` on this thread and is not used
/// again.
#[inline(always)]
pub(super) unsafe fn release(block: *mut u8, layout: Layout) {
    debug_assert!(serves(layout));
    // When the pool is gone (the thread is ending), the block is left.
    let _ = POOL.try_with(|p| {
        // SAFETY: as in `allocate`; the caller gives up the block, which
        // is at least a word long and word-aligned.
        unsafe {
            let p = &mut *p.get();
            let list = &mut p.free[layout.size() / 8];
            let block = block.cast::<FreeBlock>();
            (*block).next = *list;
            *list = block;
        }
    });
}

impl Pool {
    /// A fresh block of `size` bytes from the current chunk (a new chunk
    /// when it is used up; the rest of the old one is left unused).
    #[inline(never)]
    fn cut(&mut self, size: usize) -> *mut u8 {
        if (self.end as usize) - (self.bump as usize) < size {
            let layout = Layout::from_size_align(CHUNK, 64).expect("a valid chunk layout");
            // SAFETY: the layout has a non-zero size.
            let chunk = or_exit(unsafe { alloc(layout) }, layout);
            self.chunks += 1;
            if self.chunks > EAGER_AFTER {
                populate(chunk, CHUNK);
            }
            self.bump = chunk;
            // SAFETY: one past the end of the chunk.
            self.end = unsafe { chunk.add(CHUNK) };
        }
        let block = self.bump;
        // SAFETY: `size` bytes are left in the chunk (checked above).
        self.bump = unsafe { self.bump.add(size) };
        block
    }
}

/// Asks the kernel to back the whole pages of `len` bytes at `start`
/// with memory now, in one call (`MADV_POPULATE_WRITE`, Linux 5.14),
/// instead of one page fault per page as the blocks are first written:
/// the module benchmark cuts 1,472 chunks and took 88 K of its 137 K page
/// faults on them (system time 0.40 → 0.35 s, median of 9).
#[cfg(target_os = "linux")]
fn populate(start: *mut u8, len: usize) {
    const PAGE: usize = 4096;
    let first = (start as usize).next_multiple_of(PAGE);
    let end = (start as usize + len) & !(PAGE - 1);
    if end > first {
        // SAFETY: the range lies inside the chunk just allocated, which
        // this thread owns; MADV_POPULATE_WRITE only faults its pages in
        // (without changing their contents), and an error (an old
        // kernel) leaves them to be faulted in as they are written.
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                end - first,
                libc::MADV_POPULATE_WRITE,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn populate(_start: *mut u8, _len: usize) {}

fn or_exit(p: *mut u8, layout: Layout) -> *mut u8 {
    if p.is_null() {
        std::alloc::handle_alloc_error(layout)
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_block_is_handed_out_again_for_its_size_only() {
        let l40 = Layout::from_size_align(40, 8).unwrap();
        let l32 = Layout::from_size_align(32, 8).unwrap();
        let a = allocate(l40);
        let b = allocate(l40);
        assert_ne!(a, b);
        // SAFETY: blocks from `allocate` above, not used again.
        unsafe { release(a, l40) };
        let c = allocate(l32);
        assert_ne!(c, a);
        assert_eq!(allocate(l40), a);
    }

    #[test]
    fn blocks_do_not_overlap_across_chunks() {
        let l = Layout::from_size_align(64, 8).unwrap();
        let mut blocks: Vec<usize> = (0..3 * CHUNK / 64).map(|_| allocate(l) as usize).collect();
        blocks.sort_unstable();
        assert!(blocks.windows(2).all(|w| w[1] - w[0] >= 64));
    }

    #[test]
    fn only_small_word_multiples_are_served() {
        assert!(serves(Layout::from_size_align(40, 8).unwrap()));
        assert!(!serves(Layout::from_size_align(72, 8).unwrap()));
        assert!(!serves(Layout::from_size_align(12, 4).unwrap()));
        assert!(!serves(Layout::from_size_align(32, 16).unwrap()));
    }
}
