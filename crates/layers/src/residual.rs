//! [`Residual`]: a skip connection around any module, y = x + α·f(x).

use gradflow_tensor::{Module, Scope, Tensor};

/// How the branch is scaled in [`Residual`].
#[derive(Clone, Debug)]
enum Scale {
    /// y = x + f(x).
    One,
    /// y = x + α·f(x) with a fixed α.
    Fixed(f32),
    /// y = x + α·f(x) with α a trainable scalar (shape `[1]`, named `alpha`).
    Learned(Tensor),
}

/// Residual (skip) connection, y = x + α·f(x), the block behind the seed model
/// a_{l+1} = σ(W a_l + b) + a_l (there f = σ∘Linear and α = 1).
///
/// **Why it fights vanishing gradients.** ∂y/∂x = I + α·∂f/∂x: the identity term carries the
/// backward signal through every block unattenuated, so the product of L block Jacobians
/// cannot decay like the product of L sigmoid′ ≤ 1/4 factors of a plain stack.
///
/// **Why the branch scale matters without normalization.** The same identity path also
/// accumulates the forward signal. With He initialization the branch preserves variance,
/// Var(f(x)) ≈ Var(x), and if f(x) is roughly uncorrelated with x then
/// Var(x + α f(x)) ≈ (1 + α²)·Var(x). With α = 1 each block *doubles* the variance: after
/// L blocks activations have grown by 2^L (2⁵⁰ ≈ 10¹⁵ for 50 blocks), saturating sigmoid/tanh
/// branches and blowing up the loss. Choosing α = 1/√L gives (1 + 1/L)^L ≤ e, bounded at any
/// depth; that is the idea of Fixup/SkipInit, and ReZero learns α starting from 0
/// ([`Residual::with_learned_scale`]). Networks with BatchNorm/LayerNorm inside the branch get
/// a similar effect from the normalization instead.
///
/// # Names
/// The wrapped module is the child `inner`: `Residual::new(linear)` has `inner.weight` and
/// `inner.bias` (plus `alpha` when learned), as a PyTorch `Residual` module storing its
/// branch in `self.inner` would.
///
/// # Panics
/// In `forward`, if f changes the shape of its input.
///
/// ```
/// use gradflow_layers::{Linear, Module, Residual};
/// use gradflow_tensor::Tensor;
/// // f(x) = 2x, so y = x + 0.5·2x = 2x.
/// let f = Linear::from_tensors(Tensor::eye(2).mul_scalar(2.0), None);
/// let block = Residual::new(f).with_scale(0.5);
/// let y = block.forward(&Tensor::from_vec(vec![1.0, -3.0], &[1, 2]));
/// assert_eq!(y.to_vec(), vec![2.0, -6.0]);
/// ```
#[derive(Clone, Debug)]
pub struct Residual<M> {
    inner: M,
    scale: Scale,
}

impl<M: Module> Residual<M> {
    /// y = x + f(x).
    pub fn new(inner: M) -> Self {
        Residual {
            inner,
            scale: Scale::One,
        }
    }

    /// y = x + α·f(x) with a fixed α (e.g. 1/√L for L blocks).
    pub fn with_scale(self, alpha: f64) -> Self {
        Residual {
            scale: Scale::Fixed(alpha as f32),
            ..self
        }
    }

    /// y = x + α·f(x) with α a trainable scalar starting at `alpha0` (ReZero uses 0: every
    /// block starts as the identity). α is the parameter `alpha`, shape `[1]`.
    pub fn with_learned_scale(self, alpha0: f64) -> Self {
        Residual {
            scale: Scale::Learned(Tensor::from_vec(vec![alpha0 as f32], &[1]).requires_grad_()),
            ..self
        }
    }

    /// A block whose α is the given tensor (shape `[1]`), used as is (loading, gradient checks).
    ///
    /// # Panics
    /// If `alpha` is not shape `[1]`.
    #[track_caller]
    pub fn with_scale_tensor(self, alpha: Tensor) -> Self {
        assert!(
            alpha.shape() == [1],
            "Residual: alpha must have shape [1], got {:?}",
            alpha.shape()
        );
        Residual {
            scale: Scale::Learned(alpha),
            ..self
        }
    }

    /// The branch f.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// The branch f, mutably.
    pub fn inner_mut(&mut self) -> &mut M {
        &mut self.inner
    }

    /// The current α (1 unless set).
    pub fn scale(&self) -> f32 {
        match &self.scale {
            Scale::One => 1.0,
            Scale::Fixed(a) => *a,
            Scale::Learned(t) => t.get(&[0]),
        }
    }
}

impl<M: Module> Module for Residual<M> {
    fn forward(&self, x: &Tensor) -> Tensor {
        let fx = self.inner.forward(x);
        assert!(
            fx.shape() == x.shape(),
            "Residual: the branch changed the shape {:?} -> {:?}; y = x + f(x) needs equal shapes",
            x.shape(),
            fx.shape()
        );
        let branch = match &self.scale {
            Scale::One => fx,
            Scale::Fixed(a) => fx.mul_scalar(*a),
            Scale::Learned(a) => fx.mul(a),
        };
        x.add(&branch)
    }

    fn visit(&self, s: &mut Scope<'_>) {
        if let Scale::Learned(a) = &self.scale {
            s.param("alpha", a);
        }
        s.module("inner", &self.inner);
    }

    fn set_training(&mut self, training: bool) {
        self.inner.set_training(training);
    }
}
