//! [`CountingAllocator`]: a global allocator that reports each allocation to
//! a hook, for the tests that prove a path allocates nothing per message.

use std::alloc::{GlobalAlloc, Layout, System};

/// The system allocator, calling `on_alloc` before every allocation and
/// reallocation (deallocations are not reported). Install it in a test
/// binary of its own:
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use tidings_tests::CountingAllocator;
///
/// static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
///
/// fn count_one() {
///     ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
/// }
///
/// #[global_allocator]
/// static ALLOCATOR: CountingAllocator = CountingAllocator { on_alloc: count_one };
///
/// fn main() {
///     let before = ALLOCATIONS.load(Ordering::Relaxed);
///     drop(std::hint::black_box(vec![0u8; 64]));
///     assert!(ALLOCATIONS.load(Ordering::Relaxed) > before);
/// }
/// ```
///
/// The hook runs inside the allocator: it must not allocate itself unless
/// it guards against re-entry.
#[derive(Debug)]
pub struct CountingAllocator {
    /// Called once per allocation or reallocation.
    pub on_alloc: fn(),
}

#[allow(
    unsafe_code,
    reason = "a global allocator is an `unsafe impl GlobalAlloc`: the alloc_free tests count allocations through it"
)]
// SAFETY: every call is forwarded unchanged to the system allocator, which
// upholds the GlobalAlloc contract; the hook only counts.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        (self.on_alloc)();
        // SAFETY: the caller's guarantees for `layout` are passed on as they are.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        (self.on_alloc)();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        (self.on_alloc)();
        // SAFETY: `ptr` was allocated by `System` with `layout` (every
        // allocation goes through this type); the rest is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}
