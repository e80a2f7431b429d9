//! Scaled exponential linear unit (Klambauer et al., 2017, "Self-Normalizing Neural
//! Networks"): SELU(z) = λ·z for z > 0 and λ·α·(e^z − 1) for z ≤ 0, with the fixed constants
//! α ≈ 1.6733 and λ ≈ 1.0507 ([`SELU_ALPHA`], [`SELU_SCALE`], PyTorch's values).
//!
//! SELU′(z) = λ for z > 0 and λ·α·e^z for z ≤ 0, so SELU′ ∈ (0, λα ≈ 1.7581]. At z = 0
//! PyTorch uses the z ≤ 0 branch, giving λ·α; so do we.
//!
//! The constants are the fixed point of the mean/variance map of a dense layer with
//! LeCun-normal weights: activations are driven to zero mean and unit variance, so the
//! gradient through L layers neither vanishes nor explodes in expectation, although single
//! factors exceed 1 (λ > 1 on the positive side).
//!
//! **Stable form.** λ·α·expm1(z) in `f64`.
//!
//! Matches `torch.nn.functional.selu` / `torch.nn.SELU`.

use gradflow_tensor::{Elementwise, Module, Saved, Scope, Tensor};

/// SELU's α = 1.6732632423543772848170429916717 (PyTorch's constant).
pub const SELU_ALPHA: f64 = 1.673_263_242_354_377_284_817_042_991_671_7;
/// SELU's scale λ = 1.0507009873554804934193349852946 (PyTorch's constant).
pub const SELU_SCALE: f64 = 1.050_700_987_355_480_493_419_334_985_294_6;

/// SELU(z) = λ·z if z > 0 else λ·α·(e^z − 1), for one value.
///
/// ```
/// use gradflow_activations::selu_scalar;
/// assert_eq!(selu_scalar(0.0), 0.0);
/// assert!((selu_scalar(-1000.0) + 1.758_099_3).abs() < 1e-6);
/// ```
pub fn selu_scalar(z: f32) -> f32 {
    let z = f64::from(z);
    let y = if z > 0.0 { z } else { SELU_ALPHA * z.exp_m1() };
    (SELU_SCALE * y) as f32
}

/// SELU′(z) = λ if z > 0 else λ·α·e^z (λ·α at z = 0, as PyTorch).
///
/// ```
/// use gradflow_activations::selu_prime;
/// assert!((selu_prime(0.0) - 1.758_099_3).abs() < 1e-6);
/// assert!((selu_prime(1.0) - 1.050_701).abs() < 1e-6);
/// ```
pub fn selu_prime(z: f32) -> f32 {
    let d = if z > 0.0 {
        SELU_SCALE
    } else {
        SELU_SCALE * SELU_ALPHA * f64::from(z).exp()
    };
    d as f32
}

/// The fused kernel; keeps x for the backward.
#[derive(Clone, Copy)]
struct SeluOp;

impl Elementwise for SeluOp {
    const NAME: &'static str = "selu";
    const SAVES: Saved = Saved::Input;
    const COST: usize = 8;
    fn f(self, x: f32) -> f32 {
        selu_scalar(x)
    }
    fn df(self, x: f32) -> f32 {
        selu_prime(x)
    }
}

/// SELU, elementwise, as one fused op (`torch.nn.functional.selu`).
///
/// Shapes: any; the output has the input's shape.
///
/// ```
/// use gradflow_activations::selu;
/// use gradflow_tensor::Tensor;
/// let x = Tensor::from_vec(vec![2.0], &[1]).requires_grad_();
/// let y = selu(&x);
/// assert!((y.item() - 2.101_402).abs() < 1e-6);
/// ```
pub fn selu(x: &Tensor) -> Tensor {
    x.map(SeluOp)
}

/// The SELU layer (`torch.nn.SELU`): no parameters, applies [`selu`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Selu;

impl Module for Selu {
    fn forward(&self, x: &Tensor) -> Tensor {
        selu(x)
    }
    fn visit(&self, _s: &mut Scope<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kink_and_nan() {
        assert_eq!(selu_prime(0.0), (SELU_SCALE * SELU_ALPHA) as f32);
        assert_eq!(selu_prime(1e-3), SELU_SCALE as f32);
        assert!(selu_scalar(f32::NAN).is_nan() && selu_prime(f32::NAN).is_nan());
    }
}
