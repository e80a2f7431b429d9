//! Rectified linear unit, ReLU(z) = max(0, z).
//!
//! ReLU′(z) = 1 for z > 0 and 0 for z < 0. At the kink z = 0 we use the subgradient 0, as
//! PyTorch (`threshold_backward(grad, result, 0)` passes the gradient only where y > 0).
//!
//! Along a path of active units the derivative is exactly 1, so depth alone does not shrink
//! the gradient: this is why ReLU networks train where sigmoid networks stall. The price is
//! the other value, 0: a unit whose pre-activation is negative for every input passes no
//! gradient at all and can never recover (a "dead" ReLU).
//!
//! The fused op keeps only its output: y > 0 ⇔ x > 0, so dx = dy if y > 0, else 0.
//! NaN propagates (ReLU(NaN) = NaN, like `torch.relu`).
//!
//! Matches `torch.nn.functional.relu` / `torch.nn.ReLU`.

use gradflow_tensor::{Elementwise, Module, Saved, Scope, Tensor};

/// ReLU(z) = max(0, z) for one value; NaN stays NaN.
///
/// ```
/// use gradflow_activations::relu_scalar;
/// assert_eq!(relu_scalar(-2.0), 0.0);
/// assert_eq!(relu_scalar(3.0), 3.0);
/// ```
pub fn relu_scalar(z: f32) -> f32 {
    if z > 0.0 || z.is_nan() { z } else { 0.0 }
}

/// ReLU′(z) ∈ {0, 1}: 1 for z > 0, else 0 (the subgradient at z = 0 is 0, as PyTorch).
///
/// ```
/// use gradflow_activations::relu_prime;
/// assert_eq!(relu_prime(0.0), 0.0);
/// assert_eq!(relu_prime(1e-3), 1.0);
/// ```
pub fn relu_prime(z: f32) -> f32 {
    if z > 0.0 { 1.0 } else { 0.0 }
}

/// The fused kernel: backward dy if y > 0, else 0, from the saved output.
#[derive(Clone, Copy)]
struct ReluOp;

impl Elementwise for ReluOp {
    const NAME: &'static str = "relu";
    const SAVES: Saved = Saved::Output;
    fn f(self, x: f32) -> f32 {
        relu_scalar(x)
    }
    fn df(self, y: f32) -> f32 {
        // y > 0 exactly where x > 0.
        relu_prime(y)
    }
}

/// ReLU(x) = max(0, x), elementwise, as one fused op (`torch.nn.functional.relu`).
///
/// Shapes: any; the output has the input's shape.
///
/// ```
/// use gradflow_activations::relu;
/// use gradflow_tensor::Tensor;
/// let x = Tensor::from_vec(vec![-1.0, 0.0, 2.0], &[3]).requires_grad_();
/// let y = relu(&x);
/// assert_eq!(y.to_vec(), vec![0.0, 0.0, 2.0]);
/// y.sum_all().backward();
/// assert_eq!(x.grad().unwrap().to_vec(), vec![0.0, 0.0, 1.0]);
/// ```
pub fn relu(x: &Tensor) -> Tensor {
    x.map(ReluOp)
}

/// The ReLU layer (`torch.nn.ReLU`): no parameters, applies [`relu`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relu;

impl Module for Relu {
    fn forward(&self, x: &Tensor) -> Tensor {
        relu(x)
    }
    fn visit(&self, _s: &mut Scope<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kink_and_nan() {
        assert_eq!(relu_prime(0.0), 0.0);
        assert_eq!(relu_prime(-0.0), 0.0);
        assert!(relu_scalar(f32::NAN).is_nan());
        assert_eq!(relu_scalar(-1000.0), 0.0);
        assert_eq!(relu_scalar(1000.0), 1000.0);
    }
}
