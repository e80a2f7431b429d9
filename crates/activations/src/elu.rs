//! Exponential linear unit (Clevert et al., 2016):
//! ELU(z) = z for z > 0 and α·(e^z − 1) for z ≤ 0.
//!
//! ELU′(z) = 1 for z > 0 and α·e^z for z ≤ 0, so ELU′ ∈ (0, max(1, α)]. At z = 0 PyTorch uses
//! the z ≤ 0 branch, giving α; so do we. ELU itself is continuous at 0 for every α (both
//! branches give 0); its derivative is continuous there only when α = 1 (the left limit is α,
//! the right one 1).
//!
//! Unlike ReLU the negative side keeps a gradient (α·e^z > 0) and saturates smoothly to −α,
//! which pushes mean activations toward 0.
//!
//! **Stable form.** α·(e^z − 1) is evaluated as α·expm1(z) in `f64`: exact near 0 (no
//! cancellation at z = −10⁻³) and simply −α at z = −1000.
//!
//! Matches `torch.nn.functional.elu(x, alpha)` / `torch.nn.ELU` (default α = 1).

use gradflow_tensor::{Elementwise, Module, Saved, Scope, Tensor};

/// PyTorch's default ELU α, 1.0.
pub const ELU_DEFAULT_ALPHA: f64 = 1.0;

/// ELU(z) = z if z > 0 else α·(e^z − 1), for one value (via expm1).
///
/// ```
/// use gradflow_activations::elu_scalar;
/// assert_eq!(elu_scalar(2.0, 1.0), 2.0);
/// assert_eq!(elu_scalar(-1000.0, 1.5), -1.5);
/// ```
pub fn elu_scalar(z: f32, alpha: f32) -> f32 {
    if z > 0.0 {
        z
    } else {
        (f64::from(alpha) * f64::from(z).exp_m1()) as f32
    }
}

/// ELU′(z) = 1 if z > 0 else α·e^z (α at z = 0, as PyTorch).
///
/// ```
/// use gradflow_activations::elu_prime;
/// assert_eq!(elu_prime(0.0, 0.5), 0.5);
/// assert_eq!(elu_prime(3.0, 0.5), 1.0);
/// ```
pub fn elu_prime(z: f32, alpha: f32) -> f32 {
    if z > 0.0 {
        1.0
    } else {
        (f64::from(alpha) * f64::from(z).exp()) as f32
    }
}

/// The fused kernel; keeps x for the backward (as PyTorch's `elu_backward(is_result=false)`).
#[derive(Clone, Copy)]
struct EluOp {
    alpha: f32,
}

impl Elementwise for EluOp {
    const NAME: &'static str = "elu";
    const SAVES: Saved = Saved::Input;
    const COST: usize = 8;
    fn f(self, x: f32) -> f32 {
        elu_scalar(x, self.alpha)
    }
    fn df(self, x: f32) -> f32 {
        elu_prime(x, self.alpha)
    }
}

/// ELU with parameter α, elementwise, as one fused op
/// (`torch.nn.functional.elu(x, alpha)`; PyTorch's default α is [`ELU_DEFAULT_ALPHA`]).
///
/// Shapes: any; the output has the input's shape.
///
/// ```
/// use gradflow_activations::elu;
/// use gradflow_tensor::Tensor;
/// let x = Tensor::from_vec(vec![0.0, 1.0], &[2]).requires_grad_();
/// elu(&x, 1.0).sum_all().backward();
/// assert_eq!(x.grad().unwrap().to_vec(), vec![1.0, 1.0]);
/// ```
pub fn elu(x: &Tensor, alpha: f64) -> Tensor {
    // One rounding to f32 at the kernel boundary, as ATen's `alpha.to<opmath_t>()`.
    x.map(EluOp {
        alpha: alpha as f32,
    })
}

/// The ELU layer (`torch.nn.ELU`); `Default` uses α = 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Elu {
    /// α, the magnitude of the negative saturation (ELU(z) → −α as z → −∞).
    pub alpha: f64,
}

impl Elu {
    /// An ELU with the given α.
    pub fn new(alpha: f64) -> Self {
        Elu { alpha }
    }
}

impl Default for Elu {
    fn default() -> Self {
        Elu::new(ELU_DEFAULT_ALPHA)
    }
}

impl Module for Elu {
    fn forward(&self, x: &Tensor) -> Tensor {
        elu(x, self.alpha)
    }
    fn visit(&self, _s: &mut Scope<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kink_extremes_and_nan() {
        assert_eq!(elu_prime(0.0, 2.0), 2.0);
        assert_eq!(elu_scalar(0.0, 2.0), 0.0);
        // expm1 keeps full precision next to the kink.
        let z = -1e-3f32;
        let exact = (f64::from(z).exp() - 1.0) as f32;
        assert!((elu_scalar(z, 1.0) - exact).abs() <= f32::EPSILON * exact.abs());
        assert_eq!(elu_prime(-1000.0, 1.0), 0.0);
        assert!(elu_scalar(f32::NAN, 1.0).is_nan() && elu_prime(f32::NAN, 1.0).is_nan());
    }
}
