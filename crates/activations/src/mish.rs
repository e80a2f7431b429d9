//! Mish (Misra, 2019): Mish(z) = z·tanh(softplus(z)), softplus(z) = ln(1 + e^z).
//!
//! Mish′(z) = tanh(s) + z·σ(z)·sech²(s) with s = softplus(z) (since softplus′ = σ). Like SiLU
//! and GELU it is smooth and not monotone: Mish′ ∈ ≈ [−0.1125, 1.0885], with the minimum at
//! z ≈ −2.2564 and the maximum at z ≈ 1.4906; Mish itself has its minimum ≈ −0.3088 at
//! z ≈ −1.1924. Mish′ → 1 for large positive z and decays like |z|·e^(−|z|) for large
//! negative z.
//!
//! **Stable form.** In `f64`: s = z + ln1p(e^(−z)) for z > 0 else ln1p(e^z) (no overflow),
//! sech²(s) = 4e^(−2s)/(1 + e^(−2s))², σ sign-split. z = 1000 gives exactly z and 1;
//! z = −1000 gives 0 and 0, no NaN.
//!
//! The fused op keeps x for the backward (as PyTorch's `mish_backward`).
//!
//! Matches `torch.nn.functional.mish` / `torch.nn.Mish`.

use gradflow_tensor::{Elementwise, Module, Scope, Tensor};

use crate::sigmoid::sigmoid_f64;
use crate::softplus::log1p_exp_f64;
use crate::tanh::sech2_f64;

/// Mish(z) = z·tanh(ln(1 + e^z)), for one value.
///
/// ```
/// use gradflow_activations::mish_scalar;
/// assert_eq!(mish_scalar(0.0), 0.0);
/// assert!((mish_scalar(1.0) - 0.865_098_4).abs() < 1e-6);
/// assert_eq!(mish_scalar(1000.0), 1000.0);
/// ```
pub fn mish_scalar(z: f32) -> f32 {
    let z = f64::from(z);
    (z * log1p_exp_f64(z).tanh()) as f32
}

/// Mish′(z) = tanh(s) + z·σ(z)·sech²(s), s = softplus(z); range ≈ [−0.1125, 1.0885].
///
/// ```
/// use gradflow_activations::mish_prime;
/// assert!((mish_prime(0.0) - 0.6).abs() < 1e-6); // tanh(ln 2) = 3/5
/// assert_eq!(mish_prime(-1000.0), 0.0);
/// ```
pub fn mish_prime(z: f32) -> f32 {
    let z = f64::from(z);
    let s = log1p_exp_f64(z);
    (s.tanh() + z * sigmoid_f64(z) * sech2_f64(s)) as f32
}

/// The fused kernel; keeps x for the backward.
#[derive(Clone, Copy)]
struct MishOp;

impl Elementwise for MishOp {
    const NAME: &'static str = "mish";
    const FROM_OUTPUT: bool = false;
    fn f(self, x: f32) -> f32 {
        mish_scalar(x)
    }
    fn df(self, x: f32, _y: f32) -> f32 {
        mish_prime(x)
    }
}

/// Mish(x) = x·tanh(softplus(x)), elementwise, as one fused op (`torch.nn.functional.mish`).
///
/// Shapes: any; the output has the input's shape.
///
/// ```
/// use gradflow_activations::mish;
/// use gradflow_tensor::Tensor;
/// let x = Tensor::from_vec(vec![0.0], &[1]).requires_grad_();
/// mish(&x).sum_all().backward();
/// assert!((x.grad().unwrap().item() - 0.6).abs() < 1e-6);
/// ```
pub fn mish(x: &Tensor) -> Tensor {
    x.map(MishOp)
}

/// The Mish layer (`torch.nn.Mish`): no parameters, applies [`mish`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mish;

impl Module for Mish {
    fn forward(&self, x: &Tensor) -> Tensor {
        mish(x)
    }
    fn visit(&self, _s: &mut Scope<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_and_nan() {
        assert_eq!(mish_prime(1000.0), 1.0);
        assert_eq!(mish_scalar(-1000.0), 0.0);
        assert!(mish_scalar(f32::NAN).is_nan() && mish_prime(f32::NAN).is_nan());
    }
}
