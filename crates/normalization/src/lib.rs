//! # gradflow-normalization
//!
//! Normalization layers: BatchNorm, LayerNorm, GroupNorm and InstanceNorm, each a fused
//! forward and a fused closed-form backward recorded with [`Tensor::record`](gradflow_tensor::Tensor::record).
//!
//! All of them standardize a set S of pre-activations and then let the network rescale them:
//!
//! x̂ = (x − μ_S)/√(σ²_S + ε),   y = γ·x̂ + β,
//!
//! with μ_S the mean and σ²_S the *biased* variance of the set. They differ only in S:
//!
//! | layer            | S (for x of shape `[N, C, H, W]`)       | batch-dependent | running stats |
//! |------------------|-----------------------------------------|-----------------|---------------|
//! | [`BatchNorm2d`]  | one channel over N, H, W                 | yes             | yes           |
//! | [`LayerNorm`]    | one sample over the trailing dims        | no              | no            |
//! | [`GroupNorm`]    | one sample, C/G channels, over H, W      | no              | no            |
//! | [`InstanceNorm2d`] | one sample, one channel, over H, W     | no              | no            |
//!
//! Why it helps with vanishing gradients: a saturating nonlinearity (sigmoid, tanh) has
//! derivative ≈ 0 once |z| is large; keeping z near mean 0 and variance 1 keeps it in the
//! region where σ′ is largest. And because y is invariant to scaling the layer's weights
//! (x̂(a·Wu) = x̂(Wu) for a > 0), the backward signal through it is rescaled by 1/σ: the
//! gradient does not grow or shrink with the scale of the weights below.
//!
//! Backward, with g = ∂L/∂x̂ = γ·dy and n = |S|:
//! dx = (1/σ_S)·(g − mean_S(g) − x̂·mean_S(g·x̂)),  dγ = Σ dy·x̂,  dβ = Σ dy.
//!
//! ```
//! use gradflow_normalization::BatchNorm1d;
//! use gradflow_tensor::{Module, Tensor};
//! let mut bn = BatchNorm1d::new(2);
//! let x = Tensor::from_vec(vec![1.0, 100.0, 3.0, 300.0, 5.0, 500.0], &[3, 2]);
//! let y = bn.forward(&x);                 // training: batch statistics
//! let var = y.var(&[0], 0, false).to_vec(); // ≈ 1 per channel
//! assert!(var.iter().all(|v| (v - 1.0).abs() < 1e-3));
//! bn.eval();                              // evaluation: running statistics
//! let _ = bn.forward(&x);
//! ```
//!
//! Semantics follow PyTorch (checked against PyTorch 2.15 fixtures in `tests/`).

mod batch_norm;
mod group_norm;
mod kernel;
mod layer_norm;

pub use batch_norm::{BatchNorm, BatchNorm1d, BatchNorm2d, BatchNormConfig, batch_norm};
pub use group_norm::{GroupNorm, GroupNormConfig, InstanceNorm2d, group_norm, instance_norm};
pub use layer_norm::{LayerNorm, LayerNormConfig, layer_norm};

/// Compiles and runs the README's example as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
