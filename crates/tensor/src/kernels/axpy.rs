//! y ← a·x + y on the CPU's FMA unit.

use super::simd::has_avx2_fma;
use crate::math::fma;

/// y ← a·x + y elementwise with one rounding per element (what PyTorch's CPU kernels compute
/// for `y.add_(x, alpha=a)`, the SGD update). Uses the CPU's FMA instructions when present
/// (runtime detection), else [`fma`]; both give identical bits.
///
/// ```
/// let mut y = vec![1.0f32, 2.0];
/// gradflow_tensor::math::axpy(&mut y, 0.5, &[2.0, -4.0]);
/// assert_eq!(y, vec![2.0, 0.0]);
/// ```
///
/// # Panics
/// If the slices differ in length.
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    assert_eq!(
        y.len(),
        x.len(),
        "axpy: lengths {} and {} differ",
        y.len(),
        x.len()
    );
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn axpy_fma(y: &mut [f32], a: f32, x: &[f32]) {
            for (yi, &xi) in y.iter_mut().zip(x) {
                *yi = a.mul_add(xi, *yi);
            }
        }
        if has_avx2_fma() {
            // SAFETY: `axpy_fma` only enables AVX2 and FMA, and the CPU was just checked to
            // have both; it is otherwise safe code.
            unsafe { axpy_fma(y, a, x) };
            return;
        }
    }
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = fma(a, xi, *yi);
    }
}
