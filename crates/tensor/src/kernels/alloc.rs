//! A global allocator that counts live and peak heap bytes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// The system allocator, counting the bytes currently allocated and the peak since the last
/// [`reset_peak`](CountingAlloc::reset_peak). Install it in a binary or test to measure
/// what a training step keeps alive (the graph must be freed after `backward`) or needs at
/// its peak:
///
/// ```
/// use gradflow_tensor::CountingAlloc;
///
/// #[global_allocator]
/// static HEAP: CountingAlloc = CountingAlloc::new();
///
/// fn main() {
///     let before = HEAP.live_bytes();
///     let v = vec![0u8; 1 << 20];
///     assert!(HEAP.live_bytes() - before >= 1 << 20);
///     drop(v);
///     assert!(HEAP.peak_bytes() >= 1 << 20);
/// }
/// ```
///
/// The counters are relaxed atomics: exact for one thread, and exact for several once they
/// have joined. `#[global_allocator]` is per binary, so each test that installs it needs its
/// own test file.
#[derive(Debug, Default)]
pub struct CountingAlloc {
    live: AtomicIsize,
    peak: AtomicIsize,
}

impl CountingAlloc {
    /// A counter at zero (usable in a `static`).
    pub const fn new() -> Self {
        CountingAlloc {
            live: AtomicIsize::new(0),
            peak: AtomicIsize::new(0),
        }
    }

    /// Bytes currently allocated through this allocator.
    pub fn live_bytes(&self) -> isize {
        self.live.load(Ordering::Relaxed)
    }

    /// The largest [`live_bytes`](CountingAlloc::live_bytes) seen since the start or the
    /// last [`reset_peak`](CountingAlloc::reset_peak).
    pub fn peak_bytes(&self) -> isize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Start a new peak measurement from the current live size.
    pub fn reset_peak(&self) {
        self.peak.store(self.live_bytes(), Ordering::Relaxed);
    }

    fn grew(&self, bytes: isize) {
        let now = self.live.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract (valid layouts in, valid pointers out, dealloc/realloc only on
// pointers this allocator returned) is `System`'s; the counters are only bookkeeping and
// never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl comment).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            self.grew(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            self.grew(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) };
        self.live
            .fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            self.grew(new_size as isize - layout.size() as isize);
        }
        p
    }
}
