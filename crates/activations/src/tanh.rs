//! Hyperbolic tangent, tanh(z) = (e^z − e^(−z)) / (e^z + e^(−z)) = 2σ(2z) − 1.
//!
//! tanh′(z) = 1 − tanh²(z) = sech²(z) ∈ (0, 1], equal to 1 only at z = 0. Zero-centred with
//! four times sigmoid's slope at the origin, it still saturates: every layer whose input
//! leaves the linear region multiplies the gradient by a factor well below 1, and by less
//! than 0.42 once |z| > 1.
//!
//! **Stable form.** The forward uses `f64::tanh` (no overflow at any |z|); the scalar
//! derivative is sech²(z) = 4e^(−2|z|)/(1 + e^(−2|z|))² in `f64`, never ∞/∞.
//!
//! **Backward from the output** (PyTorch's `tanh_backward`): the fused op keeps only
//! y = tanh(x) and computes dx = dy·(1 − y²) in `f32`; it is exactly 0 once |y| rounds to 1
//! (|x| ≳ 9.0, where 1 − |tanh x| < 2⁻²⁵).
//!
//! **Where tanh′ underflows in `f32`.** [`tanh_prime`] (from z) is > 0 for |z| < 52.6 and a
//! normal float for |z| < 44.3.
//!
//! Matches `torch.tanh` / `torch.nn.Tanh`.

use gradflow_tensor::{Elementwise, Module, Saved, Scope, Tensor};

/// sech²(z) = 1 − tanh²(z) = 4e^(−2|z|)/(1 + e^(−2|z|))² in `f64`, never overflowing.
pub(crate) fn sech2_f64(z: f64) -> f64 {
    let e = (-2.0 * z.abs()).exp();
    4.0 * e / ((1.0 + e) * (1.0 + e))
}

/// tanh(z) for one value.
///
/// ```
/// use gradflow_activations::tanh_scalar;
/// assert_eq!(tanh_scalar(0.0), 0.0);
/// assert_eq!(tanh_scalar(-1000.0), -1.0);
/// ```
pub fn tanh_scalar(z: f32) -> f32 {
    f64::from(z).tanh() as f32
}

/// tanh′(z) = sech²(z) ∈ (0, 1], computed from the input; 1 only at z = 0, > 0 in `f32` for
/// |z| < 52.6, never NaN.
///
/// ```
/// use gradflow_activations::tanh_prime;
/// assert_eq!(tanh_prime(0.0), 1.0);
/// assert!(tanh_prime(20.0) > 0.0 && tanh_prime(20.0) < 1e-16);
/// assert_eq!(tanh_prime(1000.0), 0.0);
/// ```
pub fn tanh_prime(z: f32) -> f32 {
    sech2_f64(f64::from(z)) as f32
}

/// tanh′ through the output y = tanh(z): 1 − y², in `f32` as PyTorch's `tanh_backward`.
/// Exactly 0 once |y| has rounded to 1.
///
/// ```
/// use gradflow_activations::{tanh_prime_from_output, tanh_scalar};
/// assert_eq!(tanh_prime_from_output(0.0), 1.0);
/// assert_eq!(tanh_prime_from_output(tanh_scalar(20.0)), 0.0);
/// ```
pub fn tanh_prime_from_output(y: f32) -> f32 {
    1.0 - y * y
}

/// The fused kernel: forward tanh(x), backward dy·(1 − y²) from the saved output.
#[derive(Clone, Copy)]
struct TanhOp;

impl Elementwise for TanhOp {
    const NAME: &'static str = "tanh";
    const SAVES: Saved = Saved::Output;
    const COST: usize = 8;
    // The tensor op uses the vectorizable f32 form (relative error < 5·10⁻⁷, see
    // `gradflow_tensor::math::tanh`); `tanh_scalar` stays the f64 reference.
    fn f(self, x: f32) -> f32 {
        gradflow_tensor::math::tanh(x)
    }
    fn df(self, y: f32) -> f32 {
        tanh_prime_from_output(y)
    }
}

/// tanh(x), elementwise, as one fused op that saves only its output (`torch.tanh`).
///
/// tanh′ = 1 − y² ≤ 1. Shapes: any; the output has the input's shape.
///
/// ```
/// use gradflow_activations::tanh;
/// use gradflow_tensor::Tensor;
/// let x = Tensor::from_vec(vec![0.0, 20.0], &[2]).requires_grad_();
/// let y = tanh(&x);
/// y.sum_all().backward();
/// assert_eq!(x.grad().unwrap().to_vec(), vec![1.0, 0.0]);
/// ```
pub fn tanh(x: &Tensor) -> Tensor {
    x.map(TanhOp)
}

/// The tanh layer (`torch.nn.Tanh`): no parameters, applies [`tanh`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tanh;

impl Module for Tanh {
    fn forward(&self, x: &Tensor) -> Tensor {
        tanh(x)
    }
    fn visit(&self, _s: &mut Scope<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn underflow_thresholds_as_documented() {
        assert!(tanh_prime(52.5) > 0.0 && tanh_prime(-52.5) > 0.0);
        assert_eq!(tanh_prime(52.8), 0.0);
        assert!(tanh_prime(44.2).is_normal());
        assert!(!tanh_prime(44.5).is_normal());
        assert!(tanh_prime_from_output(tanh_scalar(8.5)) > 0.0);
        assert_eq!(tanh_prime_from_output(tanh_scalar(9.2)), 0.0);
    }

    #[test]
    fn odd_and_bounded() {
        for z in [1e-3f32, 0.5, 3.0, 20.0, 1000.0] {
            assert_eq!(tanh_scalar(-z), -tanh_scalar(z));
            assert!(tanh_scalar(z).abs() <= 1.0);
        }
        assert!(tanh_scalar(f32::NAN).is_nan() && tanh_prime(f32::NAN).is_nan());
    }
}
