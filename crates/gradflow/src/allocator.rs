//! The allocator of the `gradflow` binary and of every criterion bench in `benches/` (which
//! include this file): mimalloc, told to keep the memory a training step frees.
//!
//! A training step frees and reallocates the same large buffers (activations, gradients,
//! im2col columns) every step. By default mimalloc v3 returns ("purges") freed memory to the
//! operating system a second after it is freed, and a later step faults it in again, page by
//! page, each page zeroed by the kernel. On the 2-core VMs we measure on (where the kernel's
//! DAMON reclaim, kdamond, runs) those faults cost a fifth of a ResNet step.
//! [`keep_freed_memory`] turns purging off, as PyTorch's CPU allocator (glibc's malloc with its
//! dynamic mmap threshold) effectively does: measured on 2026-12-06, old and new bench binary
//! alternated, CIFAR resnet20 train step 475–510 ms → 381–388 ms, char-LM LSTM step 135–161 ms
//! → 127–132 ms. The price is memory: the process keeps its peak (resnet20's step: peak RSS
//! 294 → 309 MiB in `scripts/bench-compare.py`). See `docs/benchmarks.md`, "The allocator".

use std::ffi::{c_int, c_long};

/// mimalloc, linked in by the `mimalloc` crate.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// mimalloc's option accessors (`include/mimalloc.h`), from the static library that
// libmimalloc-sys builds; declared here because libmimalloc-sys exports them only with its
// `extended` feature and without the option we need.
unsafe extern "C" {
    fn mi_option_get(option: c_int) -> c_long;
    fn mi_option_set(option: c_int, value: c_long);
}

/// `mi_option_purge_delay`: its position in mimalloc v3's `mi_option_e` (libmimalloc-sys
/// 0.1.49, `c_src/mimalloc/v3/include/mimalloc.h`). libmimalloc-sys does not export it as a
/// constant ("for stability reasons"), so [`keep_freed_memory`] checks the option's default
/// before it changes anything; recheck both when upgrading mimalloc.
const PURGE_DELAY: c_int = 15;

/// mimalloc v3's default purge delay, in milliseconds (`src/options.c`; the header's comment
/// still says 10, the v2 default).
const PURGE_DELAY_DEFAULT_MS: c_long = 1000;

/// Turns off mimalloc's purging of freed memory, unless the option does not hold its default
/// (the user set `MIMALLOC_PURGE_DELAY`, which then wins, or the index no longer names the
/// option). Returns whether it changed the setting. Idempotent.
pub fn keep_freed_memory() -> bool {
    // SAFETY: plain reads and writes of one entry of mimalloc's option table, by an index
    // below its `_mi_option_last` (47 in v3); they allocate nothing and touch no other state.
    unsafe {
        match mi_option_get(PURGE_DELAY) {
            -1 => false,
            PURGE_DELAY_DEFAULT_MS => {
                mi_option_set(PURGE_DELAY, -1);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn purging_is_turned_off_once() {
        use super::{PURGE_DELAY, keep_freed_memory, mi_option_get};
        // A test process does not set MIMALLOC_PURGE_DELAY, so the option holds mimalloc's
        // default: the first call must find it at PURGE_DELAY (a wrong index or default makes
        // it return false) and set it to −1; the second finds −1 and changes nothing.
        assert!(
            keep_freed_memory(),
            "mi_option {PURGE_DELAY} is not the purge delay"
        );
        // SAFETY: as in keep_freed_memory, a read of one option-table entry.
        assert_eq!(unsafe { mi_option_get(PURGE_DELAY) }, -1);
        assert!(!keep_freed_memory());
    }
}
