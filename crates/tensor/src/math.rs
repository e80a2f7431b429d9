//! Scalar f32 functions written so that loops over slices vectorize.
//!
//! `f32::exp` calls the C library once per element, which the compiler cannot turn into SIMD
//! code. [`exp`] is branch-free arithmetic (range reduction, a polynomial, and an exponent
//! built from bits), so a loop like `x.iter().map(|&v| exp(v))` becomes packed SIMD even for
//! the baseline x86-64 target. Sigmoid, tanh, softmax and the losses are built on it.

// The polynomial coefficients are Cephes' published values, kept digit for digit.
#![allow(clippy::excessive_precision)]

/// eˣ for f32, accurate to about 2 ulp (relative error < 2.5·10⁻⁷ over the normal range).
///
/// Method (Cephes `expf`): write x = n·ln 2 + r with n = round(x / ln 2) and |r| ≤ ln 2 / 2,
/// evaluate eʳ with a degree-6 minimax polynomial, and multiply by 2ⁿ assembled from its
/// exponent bits. ln 2 is split in two constants so that n·ln 2 is subtracted without
/// rounding error. Edges: x > 88.72 gives +∞, x < −87.33 gives 0 (the exact result would be
/// subnormal, below 1.2·10⁻³⁸), NaN stays NaN.
///
/// ```
/// use gradflow_tensor::math::exp;
/// assert!((exp(1.0) - std::f32::consts::E).abs() < 1e-6);
/// assert_eq!(exp(-100.0), 0.0);
/// assert_eq!(exp(100.0), f32::INFINITY);
/// ```
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const MAX: f32 = 88.722_83;
    const MIN: f32 = -87.336_55;
    // 1.5·2²³: adding and subtracting it rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    let xc = x.clamp(MIN, MAX);
    // t = n + ROUND holds n in its low mantissa bits: n as an integer without a conversion
    // instruction (and without branches, so the loop vectorizes).
    let t = xc * LOG2E + ROUND;
    let n = t - ROUND;
    let ni = t.to_bits() as i32 - ROUND.to_bits() as i32;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let er = p * r * r + r + 1.0;
    // 2ⁿ with n ∈ [−126, 128] as 2^⌊n/2⌋ · 2^(n − ⌊n/2⌋): both factors are normal floats,
    // so neither the n = −126 nor the n = 128 end under- or overflows on its own.
    let (na, nb) = (ni >> 1, ni - (ni >> 1));
    let two_n_a = f32::from_bits(((na + 127) as u32) << 23);
    let two_n_b = f32::from_bits(((nb + 127) as u32) << 23);
    let y = er * two_n_a * two_n_b;
    // Selects, not branches. A NaN input stays NaN through `clamp` and the arithmetic.
    let y = if x > MAX { f32::INFINITY } else { y };
    if x < MIN { 0.0 } else { y }
}

/// Logistic sigmoid σ(x) = 1 / (1 + e^(−x)) on top of [`exp`], in the sign-split form that
/// never overflows: for x ≥ 0, 1/(1 + e^(−x)); for x < 0, eˣ/(1 + eˣ).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    let e = exp(-x.abs());
    let s = 1.0 / (1.0 + e);
    if x >= 0.0 { s } else { e * s }
}

/// tanh x on top of [`exp`] (Cephes `tanhf`): for |x| < 0.625 the odd minimax polynomial
/// x + x·z·P(z) with z = x², which avoids the cancellation of 1 − e^(−2|x|) near 0; beyond,
/// sign(x)·(1 − 2/(e^(2|x|) + 1)). Relative error a few 10⁻⁷; ±1 for |x| > 9.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let mut p = -5.704_988_7e-3_f32;
    p = p * z + 2.063_908_9e-2;
    p = p * z - 5.373_971_6e-2;
    p = p * z + 1.333_144_2e-1;
    p = p * z - 3.333_328_2e-1;
    let small = x + x * z * p;
    let large = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    if a < 0.625 {
        small
    } else if x < 0.0 {
        -large
    } else {
        large
    }
}

/// a·b + c with a single rounding (IEEE fused multiply–add) without the C library.
///
/// `f32::mul_add` is a libm call on x86-64 builds without the `fma` target feature, so this
/// computes in f64: a·b is exact there (24 + 24 < 53 bits), and rounding a·b + c to f64 and
/// then to f32 equals rounding it once to f32 unless the f64 sum lands exactly on a midpoint
/// between two f32 values or in the f32 subnormal range; those rare cases take `mul_add`.
#[inline(always)]
pub fn fma(a: f32, b: f32, c: f32) -> f32 {
    let r = f64::from(a) * f64::from(b) + f64::from(c);
    if r.to_bits() & 0x1fff_ffff == 0x1000_0000 || r.abs() < f64::from(f32::MIN_POSITIVE) {
        a.mul_add(b, c)
    } else {
        r as f32
    }
}

// The FMA `axpy` is a kernel (runtime SIMD dispatch needs `unsafe`); it is re-exported here,
// beside the scalar `fma` it agrees with bit for bit.
pub use crate::kernels::axpy::axpy;

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f32, b: f64) -> f64 {
        ((a as f64 - b) / b).abs()
    }

    #[test]
    fn exp_matches_f64_over_the_normal_range() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.5 {
            worst = worst.max(rel(exp(x), (x as f64).exp()));
            x += 0.0137;
        }
        assert!(worst < 2.5e-7, "worst relative error {worst:e}");
    }

    #[test]
    fn axpy_rounds_once_like_mul_add() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let x: Vec<f32> = (0..4099).map(|_| rng.random_range(-1e3f32..1e3)).collect();
        let mut y: Vec<f32> = (0..4099).map(|_| rng.random_range(-1e3f32..1e3)).collect();
        let want: Vec<u32> = y
            .iter()
            .zip(&x)
            .map(|(&yi, &xi)| 0.37f32.mul_add(xi, yi).to_bits())
            .collect();
        let mut y2 = y.clone();
        axpy(&mut y, 0.37, &x);
        assert_eq!(y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want);
        for (yi, &xi) in y2.iter_mut().zip(&x) {
            *yi = fma(0.37, xi, *yi);
        }
        assert_eq!(y2.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want);
    }

    #[test]
    fn sigmoid_and_tanh_match_f64() {
        let mut worst = (0.0f64, 0.0f64);
        let mut x = -30.0f32;
        while x < 30.0 {
            let xs = x as f64;
            let s = 1.0 / (1.0 + (-xs).exp());
            worst.0 = worst.0.max((sigmoid(x) as f64 - s).abs() / s);
            let t = xs.tanh();
            worst.1 = worst.1.max((tanh(x) as f64 - t).abs() / t.abs().max(1e-30));
            x += 0.00731;
        }
        assert!(worst.0 < 5e-7 && worst.1 < 5e-7, "{worst:?}");
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert_eq!(tanh(1000.0), 1.0);
        assert!(exp(f32::NAN).is_nan() && sigmoid(f32::NAN).is_nan());
    }
}
