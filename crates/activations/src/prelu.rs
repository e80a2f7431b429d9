//! Parametric ReLU (He et al., 2015): PReLU(z) = z for z > 0 and a·z otherwise, where the
//! slope a is learned, either one value shared by every element or one per channel
//! (dimension 1 of the input, as `(n, c, …)`).
//!
//! Gradients, for the loss L and upstream gradient dy = ∂L/∂y:
//! - ∂L/∂x = dy for x > 0 and a_c·dy for x ≤ 0 (the slope also at x = 0, as PyTorch);
//! - ∂L/∂a_c = Σ dy·x over the elements of channel c with x ≤ 0 (every element for a
//!   shared slope). The sum is accumulated in `f64`.
//!
//! The derivative with respect to x is {a, 1}: with a learned a ≥ 0 the unit behaves like a
//! Leaky ReLU whose leak is chosen by gradient descent, so it never dies.
//!
//! PyTorch's `nn.PReLU(num_parameters=1, init=0.25)` stores the slope as a parameter named
//! `weight` of shape `[num_parameters]`; [`PRelu`] does the same, so `state_dict` names
//! match. The forward and backward are one fused op recorded with [`Tensor::record`], with
//! two gradients (input and slope).
//!
//! Matches `torch.nn.functional.prelu(x, weight)` / `torch.nn.PReLU`.

use gradflow_tensor::layout::shape_panic;
use gradflow_tensor::{Module, Scope, Tensor};

/// PyTorch's default initial PReLU slope, 0.25.
pub const PRELU_DEFAULT_INIT: f64 = 0.25;

/// PReLU(z) = z if z > 0 else a·z, for one value.
///
/// ```
/// use gradflow_activations::prelu_scalar;
/// assert_eq!(prelu_scalar(-4.0, 0.25), -1.0);
/// ```
pub fn prelu_scalar(z: f32, a: f32) -> f32 {
    if z > 0.0 { z } else { a * z }
}

/// ∂PReLU/∂z = 1 if z > 0 else a (a at z = 0, as PyTorch).
///
/// ```
/// use gradflow_activations::prelu_prime;
/// assert_eq!(prelu_prime(0.0, 0.25), 0.25);
/// ```
pub fn prelu_prime(z: f32, a: f32) -> f32 {
    if z > 0.0 { 1.0 } else { a }
}

/// ∂PReLU/∂a = 0 if z > 0 else z.
///
/// ```
/// use gradflow_activations::prelu_slope_prime;
/// assert_eq!(prelu_slope_prime(-3.0), -3.0);
/// assert_eq!(prelu_slope_prime(2.0), 0.0);
/// ```
pub fn prelu_slope_prime(z: f32) -> f32 {
    if z > 0.0 { 0.0 } else { z }
}

/// (channels, inner): element i of a contiguous `x` uses slope `(i / inner) % channels`.
#[track_caller]
fn channel_layout(x: &[usize], slope: &[usize]) -> (usize, usize) {
    let c: usize = slope.iter().product();
    if c == 1 {
        return (1, 1);
    }
    if slope.len() != 1 {
        shape_panic(
            "prelu",
            x,
            slope,
            "the slope must have one element or be 1-D [C]",
        );
    }
    if x.len() < 2 || x[1] != c {
        shape_panic(
            "prelu",
            x,
            slope,
            "a per-channel slope [C] needs an input of rank >= 2 with C channels in dim 1",
        );
    }
    (c, x[2..].iter().product())
}

/// PReLU with a learnable slope, as one fused op with gradients for `x` and `slope`
/// (`torch.nn.functional.prelu(x, weight)`).
///
/// # Shapes
/// - `x`: any shape when `slope` has one element (shape `[1]` or `[]`);
///   `(n, c, …)` with `slope` of shape `[c]` for a per-channel slope.
/// - output: the shape of `x`; the slope's gradient has the slope's shape.
///
/// # Panics
/// If `slope` has more than one element and is not 1-D of length `x.shape()[1]`; the
/// message names `prelu` and both shapes.
///
/// ```
/// use gradflow_activations::prelu;
/// use gradflow_tensor::Tensor;
/// let x = Tensor::from_vec(vec![-2.0, 3.0, -4.0, 5.0], &[2, 2]).requires_grad_();
/// let a = Tensor::from_vec(vec![0.25], &[1]).requires_grad_();
/// let y = prelu(&x, &a);
/// assert_eq!(y.to_vec(), vec![-0.5, 3.0, -1.0, 5.0]);
/// y.sum_all().backward();
/// assert_eq!(x.grad().unwrap().to_vec(), vec![0.25, 1.0, 0.25, 1.0]);
/// assert_eq!(a.grad().unwrap().to_vec(), vec![-6.0]); // −2 + −4
/// ```
#[track_caller]
pub fn prelu(x: &Tensor, slope: &Tensor) -> Tensor {
    let (c, inner) = channel_layout(x.shape(), slope.shape());
    let a = slope.to_vec();
    let y: Vec<f32> = x.with_data(|xv| {
        xv.iter()
            .enumerate()
            .map(|(i, &v)| prelu_scalar(v, a[(i / inner) % c]))
            .collect()
    });
    let (xs, slope_shape) = (x.detach(), slope.shape().to_vec());
    Tensor::from_vec(y, x.shape()).record("prelu", &[x, slope], false, move |ctx| {
        let dy = ctx.grad_output();
        let (dx, da) = xs.with_data(|xv| {
            dy.with_data(|g| {
                let dx = ctx.needs_grad(0).then(|| {
                    let v: Vec<f32> = xv
                        .iter()
                        .zip(g)
                        .enumerate()
                        .map(|(i, (&v, &gi))| gi * prelu_prime(v, a[(i / inner) % c]))
                        .collect();
                    Tensor::from_vec(v, xs.shape())
                });
                let da = ctx.needs_grad(1).then(|| {
                    let mut acc = vec![0.0f64; c];
                    for (i, (&v, &gi)) in xv.iter().zip(g).enumerate() {
                        acc[(i / inner) % c] += f64::from(gi) * f64::from(prelu_slope_prime(v));
                    }
                    Tensor::from_vec(acc.into_iter().map(|s| s as f32).collect(), &slope_shape)
                });
                (dx, da)
            })
        });
        vec![dx, da]
    })
}

/// How to build a [`PRelu`] (PyTorch's `nn.PReLU(num_parameters, init)`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PReluConfig {
    /// 1 for a shared slope, or the number of channels C for one slope per channel.
    pub num_parameters: usize,
    /// The initial value of every slope (PyTorch's default 0.25).
    pub init: f64,
}

impl Default for PReluConfig {
    fn default() -> Self {
        PReluConfig {
            num_parameters: 1,
            init: PRELU_DEFAULT_INIT,
        }
    }
}

impl PReluConfig {
    /// Build the layer: a `weight` parameter of shape `[num_parameters]` filled with `init`.
    ///
    /// # Panics
    /// If `num_parameters` is 0.
    #[track_caller]
    pub fn init(&self) -> PRelu {
        assert!(
            self.num_parameters > 0,
            "PReluConfig::init: num_parameters must be >= 1, got 0"
        );
        PRelu {
            weight: Tensor::full(&[self.num_parameters], self.init as f32).requires_grad_(),
        }
    }
}

/// The PReLU layer (`torch.nn.PReLU`): one learnable parameter `weight` of shape
/// `[num_parameters]`, applied by [`prelu`] (per channel along dim 1 when
/// `num_parameters > 1`).
///
/// ```
/// use gradflow_activations::{PRelu, PReluConfig};
/// use gradflow_tensor::{Module, Tensor};
/// let layer = PReluConfig { num_parameters: 3, init: 0.25 }.init();
/// let names: Vec<String> = layer.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["weight"]);
/// let y = layer.forward(&Tensor::full(&[2, 3, 4], -4.0));
/// assert_eq!(y.to_vec()[0], -1.0);
/// ```
#[derive(Clone)]
pub struct PRelu {
    /// The slopes a, shape `[num_parameters]` (PyTorch's `weight`).
    weight: Tensor,
}

impl PRelu {
    /// A PReLU with `num_parameters` slopes, all `init`.
    ///
    /// # Panics
    /// If `num_parameters` is 0.
    #[track_caller]
    pub fn new(num_parameters: usize, init: f64) -> Self {
        PReluConfig {
            num_parameters,
            init,
        }
        .init()
    }

    /// A PReLU around an existing slope tensor (loading, sharing, gradient checks), used as
    /// given: call `requires_grad_()` first if it should train. Shape `[1]` for one shared
    /// slope or `[C]` for one per channel, as PyTorch's `weight`.
    ///
    /// ```
    /// use gradflow_activations::PRelu;
    /// use gradflow_tensor::{Module, Tensor};
    /// let p = PRelu::from_tensors(Tensor::from_vec(vec![0.5], &[1]));
    /// assert_eq!(p.forward(&Tensor::from_vec(vec![-2.0, 3.0], &[2])).to_vec(), vec![-1.0, 3.0]);
    /// ```
    ///
    /// # Panics
    /// If `weight` is not 1-D with at least one element.
    #[track_caller]
    pub fn from_tensors(weight: Tensor) -> Self {
        assert!(
            weight.rank() == 1 && weight.numel() > 0,
            "PRelu::from_tensors: weight must be [1] or [C], got {:?}",
            weight.shape()
        );
        PRelu { weight }
    }

    /// The slopes a, shape `[num_parameters]` (PyTorch's `weight`).
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
}

impl Default for PRelu {
    fn default() -> Self {
        PReluConfig::default().init()
    }
}

impl std::fmt::Debug for PRelu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PRelu")
            .field("weight", &self.weight.to_vec())
            .finish()
    }
}

impl Module for PRelu {
    fn forward(&self, x: &Tensor) -> Tensor {
        prelu(x, &self.weight)
    }
    fn visit(&self, s: &mut Scope<'_>) {
        s.param("weight", &self.weight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_slope_applies_along_dim_1() {
        // x: (n=1, c=2, 2): channel 0 uses 0.1, channel 1 uses 0.5.
        let x = Tensor::from_vec(vec![-1.0, -2.0, -1.0, 4.0], &[1, 2, 2]).requires_grad_();
        let a = Tensor::from_vec(vec![0.1, 0.5], &[2]).requires_grad_();
        let y = prelu(&x, &a);
        assert_eq!(y.to_vec(), vec![-0.1, -0.2, -0.5, 4.0]);
        y.backward_with(&Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 2, 2]));
        assert_eq!(x.grad().unwrap().to_vec(), vec![0.1, 0.2, 1.5, 4.0]);
        assert_eq!(a.grad().unwrap().to_vec(), vec![-5.0, -3.0]);
    }

    #[test]
    fn only_the_slope_needs_grad() {
        let x = Tensor::from_vec(vec![-1.0, 2.0], &[2]);
        let a = Tensor::scalar(0.3).requires_grad_();
        prelu(&x, &a).sum_all().backward();
        assert_eq!(a.grad().unwrap().shape(), &[] as &[usize]);
        assert_eq!(a.grad().unwrap().item(), -1.0);
    }

    #[test]
    fn strided_input_reads_in_logical_order() {
        let x = Tensor::from_vec(vec![-1.0, 2.0, -3.0, 4.0, -5.0, 6.0], &[3, 2]).t(); // (2, 3)
        let a = Tensor::from_vec(vec![0.5, 2.0, 1.0], &[3]);
        assert_eq!(
            prelu(&x, &a).to_vec(),
            vec![-0.5, -6.0, -5.0, 2.0, 4.0, 6.0]
        );
    }

    #[test]
    #[should_panic(expected = "prelu: incompatible shapes [2, 4] and [3]")]
    fn wrong_channel_count_panics_with_both_shapes() {
        prelu(&Tensor::zeros(&[2, 4]), &Tensor::zeros(&[3]));
    }

    #[test]
    #[should_panic(expected = "prelu: incompatible shapes [4] and [2]")]
    fn per_channel_slope_on_1d_input_panics() {
        prelu(&Tensor::zeros(&[4]), &Tensor::zeros(&[2]));
    }
}
