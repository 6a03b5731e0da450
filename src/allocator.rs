//! The global allocator: mimalloc, called through its plain (unaligned)
//! entry points whenever the requested alignment is one every mimalloc
//! block already has. The `mimalloc` crate always takes the aligned entry
//! points, which cost the evaluator's small allocations about 10% more
//! instructions.
//!
//! Running out of memory ends the process as C++ Nix's commands end:
//! `error: out of memory` on stderr and exit status 1 ([`out_of_memory`]),
//! written without allocating, instead of Rust's abort (SIGABRT, "memory
//! allocation of N bytes failed"). Nothing here hands a null pointer back,
//! so `handle_alloc_error` is never reached; capacity overflow (a panic)
//! is turned into the same ending by the commands' panic hook.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// Every block mimalloc returns is aligned to at least a machine word
/// (its smallest size classes are word multiples, so 16 is not promised).
const NATURAL_ALIGN: usize = std::mem::size_of::<usize>();

pub(crate) struct MiMalloc;

/// Ends the process for want of memory: `error: out of memory` on stderr
/// with one `write(2)` (no allocation, no lock), exit status 1, no
/// destructors or buffered output (they may need memory too; the store is
/// made to survive an ending at any point).
pub(crate) fn out_of_memory() -> ! {
    const MSG: &[u8] = b"error: out of memory\n";
    // SAFETY: writing a static buffer to fd 2 and `_exit` have no
    // preconditions; `_exit` does not return.
    unsafe {
        libc::write(2, MSG.as_ptr().cast(), MSG.len());
        libc::_exit(1)
    }
}

/// Turns transparent huge pages off for this process (and what it
/// starts). The evaluator's heap grows in many small steps; with THP on
/// ("madvise", the usual setting, and mimalloc asks for huge pages), each
/// fault of a fresh 2 MiB region makes the kernel find and zero a huge
/// page, compacting memory when none is free. Measured on the eval
/// benchmarks while the machine was busy: system time of `json.nix`
/// 1.17 s with THP, 0.16 s without; of `fold.nix` 0.90 s and 0.42 s.
/// C++ Nix's collector does not ask for huge pages either. Done with
/// `prctl` because mimalloc reads its own `allow_thp` option before
/// `main` runs.
pub(crate) fn disable_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and touches only
    // this process's memory settings; an error (an old kernel) is harmless.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// A block from mimalloc, or the end of the process when there is none.
#[inline]
fn or_exit(p: *mut c_void) -> *mut u8 {
    if p.is_null() {
        out_of_memory()
    }
    p as *mut u8
}

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
        or_exit(if plain(&layout) {
            mi::mi_malloc(layout.size())
        } else {
            mi::mi_malloc_aligned(layout.size(), layout.align())
        })
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        or_exit(if plain(&layout) {
            mi::mi_zalloc(layout.size())
        } else {
            mi::mi_zalloc_aligned(layout.size(), layout.align())
        })
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi::mi_free(ptr as *mut c_void)
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align_unchecked(new_size, layout.align());
        or_exit(if plain(&layout) && plain(&new) {
            mi::mi_realloc(ptr as *mut c_void, new_size)
        } else {
            mi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align())
        })
    }
}
