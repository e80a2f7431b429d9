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

use gradflow_tensor::{Elementwise, Module, PAR_MIN_ELEMS, Saved, Scope, Tensor, write_new};

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

/// relu(a + b) as one fused op, for two tensors of one shape: the join of a residual block
/// (torchvision's `out += identity; out = relu(out)`), in one pass over the data where the
/// two ops take two (and, backward, one pass where they take two: the add's gradient is
/// ReLU's). Values and gradients are those of `relu(&a.add(b))` bit for bit (the same
/// float operations); shapes that differ (broadcasting) take that composition.
///
/// ```
/// use gradflow_activations::{add_relu, relu};
/// use gradflow_tensor::Tensor;
/// let a = Tensor::from_vec(vec![-1.0, 0.5, 2.0], &[3]).requires_grad_();
/// let b = Tensor::from_vec(vec![0.5, -1.0, 1.0], &[3]);
/// let y = add_relu(&a, &b);
/// assert_eq!(y.to_vec(), relu(&a.add(&b)).to_vec());
/// y.sum_all().backward();
/// assert_eq!(a.grad().unwrap().to_vec(), vec![0.0, 0.0, 1.0]);
/// ```
pub fn add_relu(a: &Tensor, b: &Tensor) -> Tensor {
    if a.shape() != b.shape() {
        return relu(&a.add(b));
    }
    let y = zip(a, b, |x, y| relu_scalar(x + y));
    Tensor::from_vec(y, a.shape()).record("add_relu", &[a, b], true, move |c| {
        // ReLU's rule from the output, then the add's (the identity for equal shapes).
        let g = zip(c.grad_output(), c.output(), |g, y| g * relu_prime(y));
        let g = Tensor::from_vec(g, c.output().shape());
        vec![
            c.needs_grad(0).then(|| g.clone()),
            c.needs_grad(1).then_some(g),
        ]
    })
}

/// f(x, y) elementwise over two tensors of one shape into a new buffer, in parallel pieces.
/// Generic over `f` so that it inlines into the vectorized loop (a function pointer would
/// be called once per element).
fn zip(x: &Tensor, y: &Tensor, f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    x.with_data(|xv| {
        y.with_data(|yv| {
            write_new(xv.len(), PAR_MIN_ELEMS / 4, |r, w| {
                w.zip(&xv[r.clone()], &yv[r], &f)
            })
        })
    })
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

    /// add_relu against the composition it fuses: values and both gradients bit for bit,
    /// with zeros (the kink), a NaN, and an upstream gradient that is not all ones; and the
    /// broadcasting fallback.
    #[test]
    fn add_relu_is_relu_of_the_sum_bit_for_bit() {
        let av: Vec<f32> = (0..37).map(|i| (i as f32 * 0.7).sin() * 3.0).collect();
        let mut bv: Vec<f32> = (0..37).map(|i| (i as f32 * 1.3).cos() * 2.0).collect();
        bv[3] = -av[3];
        bv[5] = f32::NAN;
        let up: Vec<f32> = (0..37).map(|i| i as f32 - 18.0).collect();
        let bits = |t: &Tensor| t.to_vec().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let run = |fused: bool, bshape: &[usize], bdata: &[f32]| {
            let a = Tensor::from_vec(av.clone(), &[37]).requires_grad_();
            let b = Tensor::from_vec(bdata.to_vec(), bshape).requires_grad_();
            let y = if fused {
                add_relu(&a, &b)
            } else {
                relu(&a.add(&b))
            };
            y.backward_with(&Tensor::from_vec(up.clone(), &[37]));
            (bits(&y), bits(&a.grad().unwrap()), bits(&b.grad().unwrap()))
        };
        assert_eq!(run(true, &[37], &bv), run(false, &[37], &bv));
        assert_eq!(run(true, &[1], &[0.25]), run(false, &[1], &[0.25]));
    }

    #[test]
    fn kink_and_nan() {
        assert_eq!(relu_prime(0.0), 0.0);
        assert_eq!(relu_prime(-0.0), 0.0);
        assert!(relu_scalar(f32::NAN).is_nan());
        assert_eq!(relu_scalar(-1000.0), 0.0);
        assert_eq!(relu_scalar(1000.0), 1000.0);
    }
}
