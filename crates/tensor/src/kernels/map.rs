//! Elementwise loops: `out[i] = f(x[i])` and `out[i] = f(a[i], b[i])` over contiguous
//! slices, widened to AVX2 + FMA at run time ([`super::simd`]) and split over threads above
//! [`PAR_MIN_ELEMS`] elements.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::simd::has_avx2_fma;
use crate::parallel::PAR_MIN_ELEMS;

/// `out[i] = f(x[i])` on one thread, compiled for AVX2 + FMA when the CPU has them: `f` is
/// inlined into the wide loop, so branch-free kernels such as [`crate::math::exp`] run 8
/// lanes at a time instead of 4. Writes every element of `out` (it may be uninitialized
/// memory), which must be as long as `x`.
fn map_serial(x: &[f32], out: &mut [MaybeUninit<f32>], f: &(impl Fn(f32) -> f32 + Sync)) {
    assert_eq!(x.len(), out.len(), "map_serial: lengths differ");
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn wide(x: &[f32], out: &mut [MaybeUninit<f32>], f: &(impl Fn(f32) -> f32 + Sync)) {
            for (o, &v) in out.iter_mut().zip(x) {
                o.write(f(v));
            }
        }
        if has_avx2_fma() {
            // SAFETY: `wide` only enables AVX2 and FMA, which the CPU was just checked to have;
            // it is otherwise safe code (slice iteration, bounds by `zip`).
            unsafe { wide(x, out, f) };
            return;
        }
    }
    for (o, &v) in out.iter_mut().zip(x) {
        o.write(f(v));
    }
}

/// A new vector of `n` elements, every one written by `fill` into fresh capacity: a
/// `vec![0.0; n]` would be a memset (and, for a buffer the allocator reused, a second pass
/// over memory) that the loop then overwrites; memset was 12 % of the CIFAR resnet20 step.
/// `fill` must write all `n` elements, as [`map_serial`] and [`zip_serial`] do (they assert
/// their lengths).
fn filled(n: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    fill(&mut out.spare_capacity_mut()[..n]);
    // SAFETY: `fill` initialized the first n elements of the spare capacity (its contract,
    // kept by this module's callers: every chunk goes through a length-checked serial
    // kernel that writes each of its elements). Had it panicked, `out` would be dropped
    // with length 0, reading nothing.
    unsafe { out.set_len(n) };
    out
}

/// Apply `f` to every element, splitting the work over threads for large inputs.
pub(crate) fn map_slice(x: &[f32], f: impl Fn(f32) -> f32 + Sync + Send) -> Vec<f32> {
    filled(x.len(), |out| {
        if x.len() >= PAR_MIN_ELEMS {
            out.par_chunks_mut(PAR_MIN_ELEMS / 4)
                .zip(x.par_chunks(PAR_MIN_ELEMS / 4))
                .for_each(|(o, xs)| map_serial(xs, o, &f));
        } else {
            map_serial(x, out, &f);
        }
    })
}

/// `f(a[i], b[i])` for equal-length slices, split over threads for large inputs.
pub(crate) fn zip_slices(
    a: &[f32],
    b: &[f32],
    f: impl Fn(f32, f32) -> f32 + Sync + Send,
) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "zip_slices: lengths differ");
    filled(a.len(), |out| {
        if a.len() >= PAR_MIN_ELEMS {
            let c = PAR_MIN_ELEMS / 4;
            out.par_chunks_mut(c)
                .zip(a.par_chunks(c).zip(b.par_chunks(c)))
                .for_each(|(o, (x, y))| zip_serial(x, y, o, &f));
        } else {
            zip_serial(a, b, out, &f);
        }
    })
}

/// `out[i] = f(a[i], b[i])` on one thread, widened like [`map_serial`]; writes every element
/// of `out`, which must be as long as `a` and `b`.
fn zip_serial(
    a: &[f32],
    b: &[f32],
    out: &mut [MaybeUninit<f32>],
    f: &(impl Fn(f32, f32) -> f32 + Sync),
) {
    assert!(
        a.len() == out.len() && b.len() == out.len(),
        "zip_serial: lengths differ"
    );
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn wide(
            a: &[f32],
            b: &[f32],
            out: &mut [MaybeUninit<f32>],
            f: &(impl Fn(f32, f32) -> f32 + Sync),
        ) {
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                o.write(f(x, y));
            }
        }
        if has_avx2_fma() {
            // SAFETY: `wide` only enables AVX2 and FMA, which the CPU was just checked to have;
            // it is otherwise safe code.
            unsafe { wide(a, b, out, f) };
            return;
        }
    }
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        o.write(f(x, y));
    }
}
