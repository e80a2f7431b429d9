//! Sigmoid linear unit, SiLU(z) = z·σ(z) (Hendrycks & Gimpel 2016; "Swish" with β = 1,
//! Ramachandran et al. 2017).
//!
//! SiLU′(z) = σ(z)·(1 + z·(1 − σ(z))) = σ(z) + z·σ(z)·σ(−z). It is not monotone: the
//! derivative ranges over ≈ [−0.0998, 1.0998], with the minimum at z ≈ −2.3994 and the
//! maximum at z ≈ +2.3994; SiLU itself has its minimum ≈ −0.2785 at z ≈ −1.2785. Far on the
//! positive side SiLU′ → 1 (ReLU-like gradient flow); on the negative side it decays like
//! |z|·e^(−|z|) instead of being cut to 0.
//!
//! **Stable form.** σ and σ(z)σ(−z) are evaluated sign-split in `f64`, so z = ±1000 gives
//! exact 0 and 1 derivatives and no NaN.
//!
//! Matches `torch.nn.functional.silu` / `torch.nn.SiLU`.

use gradflow_tensor::{Elementwise, Module, Saved, Scope, Tensor};

use crate::sigmoid::{sigmoid_f64, sigmoid_prime_f64};

/// SiLU(z) = z·σ(z), for one value.
///
/// ```
/// use gradflow_activations::silu_scalar;
/// assert_eq!(silu_scalar(0.0), 0.0);
/// assert_eq!(silu_scalar(1000.0), 1000.0);
/// assert_eq!(silu_scalar(-1000.0), 0.0);
/// ```
pub fn silu_scalar(z: f32) -> f32 {
    let z = f64::from(z);
    (z * sigmoid_f64(z)) as f32
}

/// SiLU′(z) = σ(z) + z·σ(z)·σ(−z) ∈ ≈ [−0.0998, 1.0998].
///
/// ```
/// use gradflow_activations::silu_prime;
/// assert_eq!(silu_prime(0.0), 0.5);
/// assert!((silu_prime(-2.399_357) + 0.099_839_32).abs() < 1e-7);
/// ```
pub fn silu_prime(z: f32) -> f32 {
    let z = f64::from(z);
    (sigmoid_f64(z) + z * sigmoid_prime_f64(z)) as f32
}

/// The fused kernel; keeps x for the backward.
#[derive(Clone, Copy)]
struct SiluOp;

impl Elementwise for SiluOp {
    const NAME: &'static str = "silu";
    const SAVES: Saved = Saved::Input;
    const COST: usize = 8;
    fn f(self, x: f32) -> f32 {
        silu_scalar(x)
    }
    fn df(self, x: f32) -> f32 {
        silu_prime(x)
    }
}

/// SiLU(x) = x·σ(x), elementwise, as one fused op (`torch.nn.functional.silu`).
///
/// Shapes: any; the output has the input's shape.
///
/// ```
/// use gradflow_activations::silu;
/// use gradflow_tensor::Tensor;
/// let x = Tensor::from_vec(vec![0.0], &[1]).requires_grad_();
/// silu(&x).sum_all().backward();
/// assert_eq!(x.grad().unwrap().item(), 0.5);
/// ```
pub fn silu(x: &Tensor) -> Tensor {
    x.map(SiluOp)
}

/// The SiLU layer (`torch.nn.SiLU`): no parameters, applies [`silu`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Silu;

impl Module for Silu {
    fn forward(&self, x: &Tensor) -> Tensor {
        silu(x)
    }
    fn visit(&self, _s: &mut Scope<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_and_nan() {
        assert_eq!(silu_prime(1000.0), 1.0);
        assert_eq!(silu_prime(-1000.0), 0.0);
        // SiLU′(−90) ≈ −89·σ(−90) ≈ −7.3e−38: tiny, finite, negative.
        assert!(silu_prime(-90.0) < 0.0 && silu_prime(-90.0) > -1e-36);
        assert!(silu_scalar(f32::NAN).is_nan() && silu_prime(f32::NAN).is_nan());
    }
}
