//! Mish (Misra, 2019): Mish(z) = z·tanh(softplus(z)), softplus(z) = ln(1 + e^z).
//!
//! Mish′(z) = tanh(s) + z·σ(z)·sech²(s) with s = softplus(z) (since softplus′ = σ). Like SiLU
//! and GELU it is smooth and not monotone: Mish′ ∈ ≈ [−0.1125, 1.0885], with the minimum at
//! z ≈ −2.2564 and the maximum at z ≈ 1.4906; Mish itself has its minimum ≈ −0.3088 at
//! z ≈ −1.1924. Mish′ → 1 for large positive z and decays like |z|·e^(−|z|) for large
//! negative z.
//!
//! **Stable form, one exponential.** With w = 1 + e^z, tanh(ln w) = (w² − 1)/(w² + 1) and
//! sech²(ln w) = 4w²/(w² + 1)². We evaluate in `f64` with an exponent that is never positive:
//! - z ≤ 0, e = e^z: tanh(s) = e(e + 2)/(e(e + 2) + 2), σ(z) = e/(1 + e),
//!   sech²(s) = 4q/(q + 1)² with q = (1 + e)²;
//! - z > 0, e = e^(−z) (dividing through by e^(2z)): tanh(s) = (1 + 2e)/(1 + 2e + 2e²),
//!   σ(z) = 1/(1 + e), sech²(s) = 4q·e²/(q + e²)².
//!
//! So z = 1000 gives exactly z and 1, z = −1000 gives 0 and 0, there is no NaN, and the
//! small negative tail keeps its relative precision (tanh(s) ≈ e^z, not 1 − 1).
//!
//! The fused op keeps x for the backward (as PyTorch's `mish_backward`).
//!
//! Matches `torch.nn.functional.mish` / `torch.nn.Mish`.

use gradflow_tensor::{Elementwise, Module, Saved, Scope, Tensor};

/// (tanh(softplus z), σ(z), sech²(softplus z)) in `f64` with one exponential.
fn parts(z: f64) -> (f64, f64, f64) {
    if z > 0.0 {
        let e = (-z).exp();
        let q = (1.0 + e) * (1.0 + e);
        let t = (1.0 + 2.0 * e) / (1.0 + 2.0 * e + 2.0 * e * e);
        let sech2 = 4.0 * q * e * e / ((q + e * e) * (q + e * e));
        (t, 1.0 / (1.0 + e), sech2)
    } else {
        // Also the NaN branch.
        let e = z.exp();
        let n = e * (e + 2.0);
        let q = (1.0 + e) * (1.0 + e);
        (
            n / (n + 2.0),
            e / (1.0 + e),
            4.0 * q / ((q + 1.0) * (q + 1.0)),
        )
    }
}

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
    (z * parts(z).0) as f32
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
    let (t, sig, sech2) = parts(z);
    (t + z * sig * sech2) as f32
}

/// The fused kernel; keeps x for the backward.
#[derive(Clone, Copy)]
struct MishOp;

impl Elementwise for MishOp {
    const NAME: &'static str = "mish";
    const SAVES: Saved = Saved::Input;
    const COST: usize = 8;
    fn f(self, x: f32) -> f32 {
        mish_scalar(x)
    }
    fn df(self, x: f32) -> f32 {
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

    /// The one-exponential form equals the definition z·tanh(ln(1 + e^z)) and its derivative.
    #[test]
    fn matches_the_definition() {
        for i in -400..=400 {
            let z = f64::from(i) * 0.05;
            let s = crate::softplus::log1p_exp_f64(z);
            let sig = crate::sigmoid::sigmoid_f64(z);
            let (t, sg, sech2) = parts(z);
            assert!((t - s.tanh()).abs() <= 1e-15 * s.tanh().abs(), "{z}");
            assert!((sg - sig).abs() <= 2e-16, "{z}");
            assert!((sech2 - crate::tanh::sech2_f64(s)).abs() <= 1e-15, "{z}");
        }
    }

    #[test]
    fn extremes_and_nan() {
        assert_eq!(mish_prime(1000.0), 1.0);
        assert_eq!(mish_scalar(-1000.0), 0.0);
        assert!(mish_scalar(f32::NAN).is_nan() && mish_prime(f32::NAN).is_nan());
    }
}
