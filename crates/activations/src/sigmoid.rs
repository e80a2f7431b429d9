//! Logistic sigmoid, σ(z) = 1 / (1 + e^(−z)).
//!
//! σ′(z) = σ(z)·(1 − σ(z)) = σ(z)·σ(−z) ∈ (0, 1/4], with the maximum 1/4 at z = 0. A stack of
//! L sigmoid layers multiplies the backward signal by at most 4^(−L): this factor is the
//! vanishing gradient of Hochreiter (1991) and Glorot & Bengio (2010).
//!
//! **Stable form.** `1/(1 + e^(−z))` overflows e^(−z) for z < −88.7 in `f32`, and the
//! textbook derivative e^(−z)/(1 + e^(−z))² turns into ∞/∞ = NaN there. We split on the sign
//! and evaluate in `f64`: σ(z) = 1/(1 + e^(−z)) for z ≥ 0 and e^z/(1 + e^z) for z < 0, and
//! σ′(z) = e^(−|z|)/(1 + e^(−|z|))². No exponent is ever positive, so nothing overflows at
//! any |z| (|z| = 1000 included).
//!
//! **Backward from the output** (PyTorch's `sigmoid_backward`): the fused op keeps only
//! y = σ(x) and computes dx = dy·y·(1 − y) in `f32`. Once y rounds to 1 (x ≳ 17.3, where
//! 1 − σ(x) < 2⁻²⁵), the derivative is exactly 0, as in PyTorch; for x → −∞, y·(1 − y) ≈ y
//! stays positive until y itself underflows.
//!
//! **Where σ′ underflows in `f32`.** [`sigmoid_prime`] (computed from z) is > 0 for
//! |z| < 103.9: it rounds to 0 below half the smallest subnormal, 2⁻¹⁵⁰ ≈ 7·10⁻⁴⁶, which
//! e^(−|z|) crosses at |z| ≈ 103.97. It is a normal float only for |z| < 87.3. From the
//! output, as the backward computes it, σ′ is 0 for z ≳ 17.3. σ′(−90) ≈ 8.2·10⁻⁴⁰ (a
//! subnormal), never NaN.
//!
//! Matches `torch.sigmoid` / `torch.nn.Sigmoid`.

use gradflow_tensor::{Elementwise, Module, Saved, Scope, Tensor};

/// σ(z) in `f64`, sign-split so that the exponent is never positive.
pub(crate) fn sigmoid_f64(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        // Also the NaN branch: e^NaN = NaN.
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// σ′(z) = σ(z)·σ(−z) = e^(−|z|)/(1 + e^(−|z|))² in `f64`, never overflowing.
pub(crate) fn sigmoid_prime_f64(z: f64) -> f64 {
    let e = (-z.abs()).exp();
    e / ((1.0 + e) * (1.0 + e))
}

/// σ(z) = 1/(1 + e^(−z)) for one value, by the sign-split stable form.
///
/// ```
/// use gradflow_activations::sigmoid_scalar;
/// assert_eq!(sigmoid_scalar(0.0), 0.5);
/// assert_eq!(sigmoid_scalar(1000.0), 1.0);
/// assert_eq!(sigmoid_scalar(-1000.0), 0.0);
/// ```
pub fn sigmoid_scalar(z: f32) -> f32 {
    sigmoid_f64(f64::from(z)) as f32
}

/// σ′(z) = σ(z)(1 − σ(z)) ∈ (0, 1/4] computed from the input z.
///
/// The maximum 1/4 is at z = 0. In `f32` the value is > 0 for |z| < 103.9 and underflows to 0
/// beyond (see the [module docs](self)); it is never NaN.
///
/// ```
/// use gradflow_activations::sigmoid_prime;
/// assert_eq!(sigmoid_prime(0.0), 0.25);
/// assert!(sigmoid_prime(-90.0) > 0.0 && sigmoid_prime(-90.0) < 1e-38);
/// assert_eq!(sigmoid_prime(1000.0), 0.0);
/// ```
pub fn sigmoid_prime(z: f32) -> f32 {
    sigmoid_prime_f64(f64::from(z)) as f32
}

/// σ′ written through the output y = σ(z): σ′ = y·(1 − y), evaluated in `f32` as PyTorch's
/// `sigmoid_backward` does. Exactly 0 once y has rounded to 0 or 1.
///
/// ```
/// use gradflow_activations::{sigmoid_prime_from_output, sigmoid_scalar};
/// assert_eq!(sigmoid_prime_from_output(0.5), 0.25);
/// assert_eq!(sigmoid_prime_from_output(sigmoid_scalar(20.0)), 0.0); // y rounds to 1
/// ```
pub fn sigmoid_prime_from_output(y: f32) -> f32 {
    y * (1.0 - y)
}

/// The fused kernel: forward σ(x), backward dy·y(1 − y) from the saved output.
#[derive(Clone, Copy)]
struct SigmoidOp;

impl Elementwise for SigmoidOp {
    const NAME: &'static str = "sigmoid";
    const SAVES: Saved = Saved::Output;
    const COST: usize = 8;
    // The tensor op uses the vectorizable f32 form (relative error < 5·10⁻⁷, see
    // `gradflow_tensor::math::sigmoid`); `sigmoid_scalar` stays the f64 reference.
    fn f(self, x: f32) -> f32 {
        gradflow_tensor::math::sigmoid(x)
    }
    fn df(self, y: f32) -> f32 {
        sigmoid_prime_from_output(y)
    }
}

/// Logistic sigmoid σ(x) = 1/(1 + e^(−x)), elementwise, as one fused op that saves only its
/// output (`torch.sigmoid`).
///
/// σ′ = y(1 − y) ≤ 1/4. Shapes: any; the output has the input's shape.
///
/// ```
/// use gradflow_activations::sigmoid;
/// use gradflow_tensor::Tensor;
/// let x = Tensor::from_vec(vec![0.0, 20.0], &[2]).requires_grad_();
/// let y = sigmoid(&x);
/// assert_eq!(y.to_vec(), vec![0.5, 1.0]);
/// y.sum_all().backward();
/// assert_eq!(x.grad().unwrap().to_vec(), vec![0.25, 0.0]);
/// ```
pub fn sigmoid(x: &Tensor) -> Tensor {
    x.map(SigmoidOp)
}

/// The sigmoid layer (`torch.nn.Sigmoid`): no parameters, applies [`sigmoid`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sigmoid;

impl Module for Sigmoid {
    fn forward(&self, x: &Tensor) -> Tensor {
        sigmoid(x)
    }
    fn visit(&self, _s: &mut Scope<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_at_extremes() {
        for z in [-1000.0f32, -90.0, -20.0, 20.0, 90.0, 1000.0] {
            let (y, d) = (sigmoid_scalar(z), sigmoid_prime(z));
            assert!((0.0..=1.0).contains(&y), "sigmoid({z}) = {y}");
            assert!((0.0..=0.25).contains(&d), "sigmoid'({z}) = {d}");
        }
        // The naive formula gives NaN here.
        assert!(sigmoid_prime(-90.0) > 0.0);
        assert!((sigmoid_scalar(-20.0) - 2.061_153_6e-9).abs() < 1e-15);
    }

    #[test]
    fn underflow_thresholds_as_documented() {
        assert!(sigmoid_prime(103.0) > 0.0 && sigmoid_prime(-103.0) > 0.0);
        assert_eq!(sigmoid_prime(104.0), 0.0);
        assert!(sigmoid_prime(87.0).is_normal());
        assert!(!sigmoid_prime(88.0).is_normal());
        // From the output, the derivative vanishes once y rounds to 1.
        assert!(sigmoid_prime_from_output(sigmoid_scalar(16.0)) > 0.0);
        assert_eq!(sigmoid_prime_from_output(sigmoid_scalar(17.5)), 0.0);
    }

    #[test]
    fn nan_propagates() {
        assert!(sigmoid_scalar(f32::NAN).is_nan());
        assert!(sigmoid_prime(f32::NAN).is_nan());
    }
}
