//! Gaussian error linear unit (Hendrycks & Gimpel, 2016): GELU(z) = z·Φ(z), with Φ the
//! standard normal CDF, Φ(z) = ½·erfc(−z/√2) = ½·(1 + erf(z/√2)).
//!
//! GELU′(z) = Φ(z) + z·φ(z), with φ(z) = e^(−z²/2)/√(2π). Its extrema are at z = ±√2
//! (where GELU″(z) = φ(z)(2 − z²) vanishes), so GELU′ ∈ ≈ [−0.1290, 1.1289]; GELU itself has
//! its minimum ≈ −0.1700 at z ≈ −0.7518. Like SiLU it is smooth, not monotone, ReLU-like
//! (GELU′ → 1) for large positive z and decays like |z|·φ(z) for large negative z.
//!
//! Two forms, as in PyTorch (`approximate='none'` / `'tanh'`):
//! - [`GeluApprox::None`], exact: Φ through our `f64` [`erfc`](crate::erfc()) (A&S 7.1.6
//!   series and Laplace's continued fraction, error < 10⁻¹⁵). Using erfc rather than
//!   1 + erf keeps the tiny negative tail (GELU(−12) ≈ −2.1·10⁻³²) instead of a cancelled 0.
//! - [`GeluApprox::Tanh`]: GELU(z) ≈ ½·z·(1 + tanh(u)), u = √(2/π)·(z + 0.044715·z³).
//!   We use the identical form z·σ(2u) (since ½(1 + tanh u) = σ(2u)), whose derivative is
//!   σ(2u) + 2z·u′·σ(2u)·σ(−2u), u′ = √(2/π)·(1 + 3·0.044715·z²). Everything is evaluated
//!   in `f64`, so z³ cannot overflow and z = ±1000 gives exactly z and 0.
//!
//! The fused op keeps x for the backward (as PyTorch's `gelu_backward`).
//!
//! Matches `torch.nn.functional.gelu(x, approximate=...)` / `torch.nn.GELU` (default exact).

use gradflow_tensor::{Elementwise, Module, Saved, Scope, Tensor};

use crate::erf::erfc;
use crate::sigmoid::{sigmoid_f64, sigmoid_prime_f64};

/// Which GELU formula to use (PyTorch's `approximate` argument).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GeluApprox {
    /// The exact z·Φ(z) through erf (`approximate='none'`, PyTorch's default).
    #[default]
    None,
    /// The tanh approximation ½z(1 + tanh(√(2/π)(z + 0.044715z³))) (`approximate='tanh'`).
    Tanh,
}

/// 1/√2.
const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
/// 1/√(2π).
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_677_939_946_059_934_4;
/// √(2/π).
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_355_879_892_119_868_8;
/// The cubic coefficient of the tanh approximation.
const KAPPA: f64 = 0.044_715;

/// Φ(z) = ½·erfc(−z/√2), the standard normal CDF.
fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z * FRAC_1_SQRT_2)
}

/// φ(z) = e^(−z²/2)/√(2π), the standard normal density.
fn normal_pdf(z: f64) -> f64 {
    FRAC_1_SQRT_2PI * (-0.5 * z * z).exp()
}

/// GELU(z) for one value, exact or tanh-approximated.
///
/// ```
/// use gradflow_activations::{gelu_scalar, GeluApprox};
/// assert_eq!(gelu_scalar(0.0, GeluApprox::None), 0.0);
/// assert!((gelu_scalar(1.0, GeluApprox::None) - 0.841_344_75).abs() < 1e-7);
/// assert!((gelu_scalar(1.0, GeluApprox::Tanh) - 0.841_191_96).abs() < 1e-7);
/// ```
pub fn gelu_scalar(z: f32, approx: GeluApprox) -> f32 {
    let z = f64::from(z);
    let y = match approx {
        GeluApprox::None => z * normal_cdf(z),
        GeluApprox::Tanh => {
            let u = SQRT_2_OVER_PI * (z + KAPPA * z * z * z);
            z * sigmoid_f64(2.0 * u)
        }
    };
    y as f32
}

/// GELU′(z): Φ(z) + z·φ(z) exactly, or the derivative of the tanh form,
/// σ(2u) + 2z·u′·σ(2u)σ(−2u). Range ≈ [−0.1290, 1.1289] (extrema at z = ±√2).
///
/// ```
/// use gradflow_activations::{gelu_prime, GeluApprox};
/// assert_eq!(gelu_prime(0.0, GeluApprox::None), 0.5);
/// assert!((gelu_prime(std::f32::consts::SQRT_2, GeluApprox::None) - 1.128_904_1).abs() < 1e-6);
/// ```
pub fn gelu_prime(z: f32, approx: GeluApprox) -> f32 {
    let z = f64::from(z);
    let d = match approx {
        GeluApprox::None => normal_cdf(z) + z * normal_pdf(z),
        GeluApprox::Tanh => {
            let u = SQRT_2_OVER_PI * (z + KAPPA * z * z * z);
            let du = SQRT_2_OVER_PI * (1.0 + 3.0 * KAPPA * z * z);
            sigmoid_f64(2.0 * u) + 2.0 * z * du * sigmoid_prime_f64(2.0 * u)
        }
    };
    d as f32
}

/// The fused kernel of the exact form; keeps x for the backward.
#[derive(Clone, Copy)]
struct GeluOp;

impl Elementwise for GeluOp {
    const NAME: &'static str = "gelu";
    const SAVES: Saved = Saved::Input;
    const COST: usize = 8;
    fn f(self, x: f32) -> f32 {
        gelu_scalar(x, GeluApprox::None)
    }
    fn df(self, x: f32) -> f32 {
        gelu_prime(x, GeluApprox::None)
    }
}

/// The fused kernel of the tanh form; keeps x for the backward.
#[derive(Clone, Copy)]
struct GeluTanhOp;

impl Elementwise for GeluTanhOp {
    const NAME: &'static str = "gelu_tanh";
    const SAVES: Saved = Saved::Input;
    const COST: usize = 8;
    fn f(self, x: f32) -> f32 {
        gelu_scalar(x, GeluApprox::Tanh)
    }
    fn df(self, x: f32) -> f32 {
        gelu_prime(x, GeluApprox::Tanh)
    }
}

/// GELU, elementwise, as one fused op (`torch.nn.functional.gelu(x, approximate)`), named
/// `gelu` or `gelu_tanh` in the graph.
///
/// Shapes: any; the output has the input's shape.
///
/// ```
/// use gradflow_activations::{gelu, GeluApprox};
/// use gradflow_tensor::Tensor;
/// let x = Tensor::from_vec(vec![0.0, 1000.0, -1000.0], &[3]).requires_grad_();
/// let y = gelu(&x, GeluApprox::None);
/// assert_eq!(y.to_vec(), vec![0.0, 1000.0, -0.0]);
/// y.sum_all().backward();
/// assert_eq!(x.grad().unwrap().to_vec(), vec![0.5, 1.0, 0.0]);
/// ```
pub fn gelu(x: &Tensor, approx: GeluApprox) -> Tensor {
    match approx {
        GeluApprox::None => x.map(GeluOp),
        GeluApprox::Tanh => x.map(GeluTanhOp),
    }
}

/// The GELU layer (`torch.nn.GELU`); `Default` is the exact form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gelu {
    /// Exact or tanh-approximated.
    pub approximate: GeluApprox,
}

impl Gelu {
    /// A GELU layer with the given formula.
    pub fn new(approximate: GeluApprox) -> Self {
        Gelu { approximate }
    }
}

impl Module for Gelu {
    fn forward(&self, x: &Tensor) -> Tensor {
        gelu(x, self.approximate)
    }
    fn visit(&self, _s: &mut Scope<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_is_not_cancelled() {
        // GELU(−12) = −12·Φ(−12) ≈ −2.1318e−32 (mpmath: -12*ncdf(-12)).
        let y = gelu_scalar(-12.0, GeluApprox::None);
        assert!(
            y < 0.0 && (y / -2.131_778_5e-32 - 1.0).abs() < 1e-3,
            "{y:e}"
        );
    }

    #[test]
    fn extremes_and_nan() {
        for a in [GeluApprox::None, GeluApprox::Tanh] {
            assert_eq!(gelu_scalar(1000.0, a), 1000.0);
            assert_eq!(gelu_prime(1000.0, a), 1.0);
            assert_eq!(gelu_prime(-1000.0, a), 0.0);
            assert_eq!(gelu_scalar(f32::MAX, a), f32::MAX);
            assert!(gelu_scalar(f32::NAN, a).is_nan() && gelu_prime(f32::NAN, a).is_nan());
        }
    }
}
