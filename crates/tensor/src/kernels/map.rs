//! Elementwise loops: `out[i] = f(x[i])` and `out[i] = f(a[i], b[i])` over contiguous
//! slices, widened to AVX2 + FMA at run time ([`super::simd`]) and split over threads above
//! [`PAR_MIN_ELEMS`] elements.

use rayon::prelude::*;

use super::simd::has_avx2_fma;
use crate::parallel::PAR_MIN_ELEMS;

/// `out[i] = f(x[i])` on one thread, compiled for AVX2 + FMA when the CPU has them: `f` is
/// inlined into the wide loop, so branch-free kernels such as [`crate::math::exp`] run 8
/// lanes at a time instead of 4.
fn map_serial(x: &[f32], out: &mut [f32], f: &(impl Fn(f32) -> f32 + Sync)) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn wide(x: &[f32], out: &mut [f32], f: &(impl Fn(f32) -> f32 + Sync)) {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = f(v);
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
        *o = f(v);
    }
}

/// Apply `f` to every element, splitting the work over threads for large inputs.
pub(crate) fn map_slice(x: &[f32], f: impl Fn(f32) -> f32 + Sync + Send) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    if x.len() >= PAR_MIN_ELEMS {
        out.par_chunks_mut(PAR_MIN_ELEMS / 4)
            .zip(x.par_chunks(PAR_MIN_ELEMS / 4))
            .for_each(|(o, xs)| map_serial(xs, o, &f));
    } else {
        map_serial(x, &mut out, &f);
    }
    out
}

/// `f(a[i], b[i])` for equal-length slices, split over threads for large inputs.
pub(crate) fn zip_slices(
    a: &[f32],
    b: &[f32],
    f: impl Fn(f32, f32) -> f32 + Sync + Send,
) -> Vec<f32> {
    debug_assert_eq!(a.len(), b.len());
    let mut out = vec![0.0f32; a.len()];
    if a.len() >= PAR_MIN_ELEMS {
        let c = PAR_MIN_ELEMS / 4;
        out.par_chunks_mut(c)
            .zip(a.par_chunks(c).zip(b.par_chunks(c)))
            .for_each(|(o, (x, y))| zip_serial(x, y, o, &f));
    } else {
        zip_serial(a, b, &mut out, &f);
    }
    out
}

/// `out[i] = f(a[i], b[i])` on one thread, widened like [`map_serial`].
fn zip_serial(a: &[f32], b: &[f32], out: &mut [f32], f: &(impl Fn(f32, f32) -> f32 + Sync)) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn wide(a: &[f32], b: &[f32], out: &mut [f32], f: &(impl Fn(f32, f32) -> f32 + Sync)) {
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                *o = f(x, y);
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
        *o = f(x, y);
    }
}
