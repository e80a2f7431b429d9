//! Softplus, Softplus(z) = (1/β)·ln(1 + e^(β·z)), a smooth ReLU; for β·z > threshold it
//! returns z itself (PyTorch's linear cut-off, strictly greater).
//!
//! Softplus′(z) = σ(β·z) ∈ (0, 1) (exactly 1 beyond the threshold). The derivative is a
//! sigmoid, but one that tends to 1 on the active side instead of vanishing: like ReLU it
//! passes gradients through positive units undiminished, and unlike ReLU it never returns an
//! exact 0 for moderate negative inputs.
//!
//! **Stable form.** ln(1 + e^t) with t = β·z is evaluated in `f64` as t + ln1p(e^(−t)) for
//! t > 0 and ln1p(e^t) otherwise: no overflow at t = 1000 (even with threshold = ∞), no loss
//! of precision at t = −90 (ln1p(8.2·10⁻⁴⁰) = 8.2·10⁻⁴⁰). The threshold test β·z > threshold
//! uses the `f32` product, as PyTorch.
//!
//! β must be non-zero (β < 0 gives the reflected function, as in PyTorch).
//!
//! Matches `torch.nn.functional.softplus(x, beta, threshold)` / `torch.nn.Softplus`
//! (defaults β = 1, threshold = 20).

use gradflow_tensor::{Elementwise, Module, Saved, Scope, Tensor};

use crate::sigmoid::sigmoid_f64;

/// PyTorch's default Softplus β, 1.0.
pub const SOFTPLUS_DEFAULT_BETA: f64 = 1.0;
/// PyTorch's default Softplus threshold, 20.0.
pub const SOFTPLUS_DEFAULT_THRESHOLD: f64 = 20.0;

/// ln(1 + e^t) in `f64` without overflow or cancellation; NaN stays NaN.
pub(crate) fn log1p_exp_f64(t: f64) -> f64 {
    if t > 0.0 {
        t + (-t).exp().ln_1p()
    } else {
        t.exp().ln_1p()
    }
}

/// Softplus(z) = ln(1 + e^(βz))/β, or z when βz > threshold, for one value.
///
/// ```
/// use gradflow_activations::softplus_scalar;
/// assert!((softplus_scalar(0.0, 1.0, 20.0) - std::f32::consts::LN_2).abs() < 1e-7);
/// assert_eq!(softplus_scalar(1000.0, 1.0, 20.0), 1000.0);
/// assert_eq!(softplus_scalar(1000.0, 1.0, f32::INFINITY), 1000.0); // no overflow
/// ```
pub fn softplus_scalar(z: f32, beta: f32, threshold: f32) -> f32 {
    if z * beta > threshold {
        return z;
    }
    let b = f64::from(beta);
    (log1p_exp_f64(b * f64::from(z)) / b) as f32
}

/// Softplus′(z) = σ(βz), or 1 when βz > threshold.
///
/// ```
/// use gradflow_activations::softplus_prime;
/// assert_eq!(softplus_prime(0.0, 1.0, 20.0), 0.5);
/// assert_eq!(softplus_prime(21.0, 1.0, 20.0), 1.0);
/// ```
pub fn softplus_prime(z: f32, beta: f32, threshold: f32) -> f32 {
    if z * beta > threshold {
        return 1.0;
    }
    sigmoid_f64(f64::from(beta) * f64::from(z)) as f32
}

/// The fused kernel; keeps x for the backward (as PyTorch's `softplus_backward`).
#[derive(Clone, Copy)]
struct SoftplusOp {
    beta: f32,
    threshold: f32,
}

impl Elementwise for SoftplusOp {
    const NAME: &'static str = "softplus";
    const SAVES: Saved = Saved::Input;
    const COST: usize = 8;
    fn f(self, x: f32) -> f32 {
        softplus_scalar(x, self.beta, self.threshold)
    }
    fn df(self, x: f32) -> f32 {
        softplus_prime(x, self.beta, self.threshold)
    }
}

#[track_caller]
fn check_beta(beta: f64) {
    assert!(
        beta != 0.0 && !beta.is_nan(),
        "softplus: beta must be non-zero and not NaN, got {beta}"
    );
}

/// Softplus with parameters β and threshold, elementwise, as one fused op
/// (`torch.nn.functional.softplus(x, beta, threshold)`; PyTorch's defaults are
/// [`SOFTPLUS_DEFAULT_BETA`] = 1 and [`SOFTPLUS_DEFAULT_THRESHOLD`] = 20).
///
/// Shapes: any; the output has the input's shape.
///
/// # Panics
/// If `beta` is 0 or NaN.
///
/// ```
/// use gradflow_activations::softplus;
/// use gradflow_tensor::Tensor;
/// let x = Tensor::from_vec(vec![0.0, 25.0], &[2]).requires_grad_();
/// let y = softplus(&x, 1.0, 20.0);
/// assert_eq!(y.to_vec()[1], 25.0);
/// y.sum_all().backward();
/// assert_eq!(x.grad().unwrap().to_vec(), vec![0.5, 1.0]);
/// ```
#[track_caller]
pub fn softplus(x: &Tensor, beta: f64, threshold: f64) -> Tensor {
    check_beta(beta);
    // One rounding to f32 at the kernel boundary, as ATen's `beta.to<opmath_t>()`.
    x.map(SoftplusOp {
        beta: beta as f32,
        threshold: threshold as f32,
    })
}

/// The Softplus layer (`torch.nn.Softplus`); `Default` uses β = 1, threshold = 20.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Softplus {
    /// β, the sharpness: larger β is closer to ReLU.
    pub beta: f64,
    /// Above β·z > threshold the layer returns z (linear cut-off).
    pub threshold: f64,
}

impl Softplus {
    /// A Softplus with the given β and threshold.
    ///
    /// # Panics
    /// If `beta` is 0 or NaN.
    #[track_caller]
    pub fn new(beta: f64, threshold: f64) -> Self {
        check_beta(beta);
        Softplus { beta, threshold }
    }
}

impl Default for Softplus {
    fn default() -> Self {
        Softplus::new(SOFTPLUS_DEFAULT_BETA, SOFTPLUS_DEFAULT_THRESHOLD)
    }
}

impl Module for Softplus {
    fn forward(&self, x: &Tensor) -> Tensor {
        softplus(x, self.beta, self.threshold)
    }
    fn visit(&self, _s: &mut Scope<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_is_strict_and_tail_is_precise() {
        // β·z == threshold is not above it: the log1p branch runs.
        // (threshold 5 so that the smooth branch is visible in f32)
        assert!((softplus_scalar(5.0, 1.0, 5.0) - 5.006_715).abs() < 1e-6);
        assert!((softplus_prime(5.0, 1.0, 5.0) - 0.993_307_2).abs() < 1e-7);
        assert_eq!(softplus_scalar(5.001, 1.0, 5.0), 5.001);
        assert_eq!(softplus_prime(5.001, 1.0, 5.0), 1.0);
        let tail = softplus_scalar(-90.0, 1.0, 20.0);
        assert!(
            (f64::from(tail) - 8.194_008_692e-40).abs() < 1e-44,
            "{tail:e}"
        );
        assert_eq!(softplus_scalar(-1000.0, 1.0, 20.0), 0.0);
        assert!(softplus_scalar(f32::NAN, 1.0, 20.0).is_nan());
    }

    #[test]
    fn beta_scales_the_input() {
        // softplus(z; β) = softplus(βz; 1)/β.
        let (z, b) = (0.7f32, 3.0f32);
        let lhs = softplus_scalar(z, b, 20.0);
        let rhs = softplus_scalar(z * b, 1.0, 20.0) / b;
        assert!((lhs - rhs).abs() < 1e-6);
    }

    #[test]
    #[should_panic(expected = "softplus: beta must be non-zero")]
    fn zero_beta_panics() {
        softplus(&Tensor::zeros(&[1]), 0.0, 20.0);
    }
}
