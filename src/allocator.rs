//! The global allocator: mimalloc, called through its plain (unaligned)
//! entry points whenever the requested alignment is one every mimalloc
//! block already has. The `mimalloc` crate always takes the aligned entry
//! points, which cost the evaluator's small allocations about 10% more
//! instructions.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// Every block mimalloc returns is aligned to at least a machine word
/// (its smallest size classes are word multiples, so 16 is not promised).
const NATURAL_ALIGN: usize = std::mem::size_of::<usize>();

pub(crate) struct MiMalloc;

#[inline]
fn plain(layout: &Layout) -> bool {
    layout.align() <= NATURAL_ALIGN
}

// SAFETY: each method forwards to the mimalloc function with the same
// contract; the unaligned functions are used only when `plain` says the
// natural alignment of mimalloc's blocks satisfies the layout.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if plain(&layout) {
            mi::mi_malloc(layout.size()) as *mut u8
        } else {
            mi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if plain(&layout) {
            mi::mi_zalloc(layout.size()) as *mut u8
        } else {
            mi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi::mi_free(ptr as *mut c_void)
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align_unchecked(new_size, layout.align());
        if plain(&layout) && plain(&new) {
            mi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8
        } else {
            mi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
        }
    }
}
