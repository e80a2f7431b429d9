//! Leaky ReLU, LeakyReLU(z) = z for z > 0 and a·z otherwise, with a fixed negative slope a.
//!
//! LeakyReLU′(z) = 1 for z > 0 and a for z ≤ 0. At the kink z = 0 the gradient is the slope
//! a, as PyTorch (`leaky_relu_backward` tests `x > 0`). The default a = 0.01 is PyTorch's
//! `negative_slope`.
//!
//! For 0 ≤ a ≤ 1 the derivative is ≥ a everywhere, so no unit is ever completely dead: the
//! gradient through L layers is at least a^L along any path instead of possibly 0.
//!
//! The fused op keeps the input (with a < 0, y > 0 no longer tells the side of the kink).
//!
//! Matches `torch.nn.functional.leaky_relu(x, negative_slope)` / `torch.nn.LeakyReLU`.

use gradflow_tensor::{Elementwise, Module, Saved, Scope, Tensor};

/// PyTorch's default negative slope for Leaky ReLU, 0.01.
pub const LEAKY_RELU_DEFAULT_SLOPE: f64 = 0.01;

/// LeakyReLU(z) = z if z > 0 else slope·z, for one value.
///
/// ```
/// use gradflow_activations::leaky_relu_scalar;
/// assert_eq!(leaky_relu_scalar(-2.0, 0.1), -0.2);
/// assert_eq!(leaky_relu_scalar(3.0, 0.1), 3.0);
/// ```
pub fn leaky_relu_scalar(z: f32, slope: f32) -> f32 {
    if z > 0.0 { z } else { slope * z }
}

/// LeakyReLU′(z) = 1 if z > 0 else slope (the slope also at z = 0, as PyTorch).
///
/// ```
/// use gradflow_activations::leaky_relu_prime;
/// assert_eq!(leaky_relu_prime(0.0, 0.01), 0.01);
/// assert_eq!(leaky_relu_prime(2.0, 0.01), 1.0);
/// ```
pub fn leaky_relu_prime(z: f32, slope: f32) -> f32 {
    if z > 0.0 { 1.0 } else { slope }
}

/// The fused kernel; keeps x for the backward.
#[derive(Clone, Copy)]
struct LeakyReluOp {
    slope: f32,
}

impl Elementwise for LeakyReluOp {
    const NAME: &'static str = "leaky_relu";
    const SAVES: Saved = Saved::Input;
    fn f(self, x: f32) -> f32 {
        leaky_relu_scalar(x, self.slope)
    }
    fn df(self, x: f32) -> f32 {
        leaky_relu_prime(x, self.slope)
    }
}

/// Leaky ReLU with negative slope `slope`, elementwise, as one fused op
/// (`torch.nn.functional.leaky_relu(x, negative_slope=slope)`; PyTorch's default slope is
/// [`LEAKY_RELU_DEFAULT_SLOPE`]).
///
/// Shapes: any; the output has the input's shape.
///
/// ```
/// use gradflow_activations::leaky_relu;
/// use gradflow_tensor::Tensor;
/// let x = Tensor::from_vec(vec![-1.0, 0.0, 2.0], &[3]).requires_grad_();
/// leaky_relu(&x, 0.1).sum_all().backward();
/// assert_eq!(x.grad().unwrap().to_vec(), vec![0.1, 0.1, 1.0]);
/// ```
pub fn leaky_relu(x: &Tensor, slope: f64) -> Tensor {
    x.map(LeakyReluOp {
        slope: slope as f32,
    })
}

/// The Leaky ReLU layer (`torch.nn.LeakyReLU`); `Default` uses slope 0.01.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyRelu {
    /// The slope a for z ≤ 0 (PyTorch's `negative_slope`).
    pub negative_slope: f64,
}

impl LeakyRelu {
    /// A Leaky ReLU with the given negative slope.
    pub fn new(negative_slope: f64) -> Self {
        LeakyRelu { negative_slope }
    }
}

impl Default for LeakyRelu {
    fn default() -> Self {
        LeakyRelu::new(LEAKY_RELU_DEFAULT_SLOPE)
    }
}

impl Module for LeakyRelu {
    fn forward(&self, x: &Tensor) -> Tensor {
        leaky_relu(x, self.negative_slope)
    }
    fn visit(&self, _s: &mut Scope<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_at_the_kink_and_nan() {
        assert_eq!(leaky_relu_prime(0.0, 0.2), 0.2);
        assert_eq!(leaky_relu_prime(-0.0, 0.2), 0.2);
        assert!(leaky_relu_scalar(f32::NAN, 0.2).is_nan());
        assert_eq!(LeakyRelu::default().negative_slope, 0.01);
    }
}
