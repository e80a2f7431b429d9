//! # gradflow-clipping
//!
//! Gradient clipping: bound the update before the optimizer sees it, the standard cure for
//! *exploding* gradients (the mirror image of vanishing ones: a product of Jacobians with
//! norm above 1 grows exponentially with depth or sequence length).
//!
//! Every function takes the parameters as `&[Tensor]` (leaves that require grad, e.g.
//! `model.parameters()`), reads each `grad()`, and writes the clipped gradient back with
//! `set_grad`. Parameters without a gradient are skipped, as in PyTorch.
//!
//! | function | rule | PyTorch / others |
//! |---|---|---|
//! | [`clip_grad_norm`] | g ← g · min(1, c / (‖(‖g₁‖, …, ‖gₙ‖)‖ + 10⁻⁶)), one global coefficient | `torch.nn.utils.clip_grad_norm_` |
//! | [`try_clip_grad_norm`] | the same, but `Err` on a non-finite norm | `error_if_nonfinite=True` |
//! | [`clip_grad_value`] | gᵢ ← clamp(gᵢ, −c, c) | `torch.nn.utils.clip_grad_value_` |
//! | [`clip_grad_norm_per_param`] | each tensor by its own norm | Burn's `GradientClipping::Norm` |
//! | [`clip_grad_agc`] | each unit: ‖Gᵢ‖ ≤ λ·max(‖Wᵢ‖, ε) | NFNets' AGC (timm `adaptive_clip_grad`) |
//!
//! ```
//! use gradflow_clipping::{clip_grad_norm, NormType};
//! use gradflow_tensor::Tensor;
//!
//! let w = Tensor::zeros(&[2]).requires_grad_();
//! w.set_grad(Some(Tensor::from_vec(vec![3.0, 4.0], &[2])));
//! let total = clip_grad_norm(&[w.clone()], 1.0, NormType::L2);
//! assert_eq!(total, 5.0); // the norm before clipping
//! let g = w.grad().unwrap().to_vec();
//! assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
//! ```

mod agc;
mod error;
mod norm;
mod per_param;
mod value;

pub use agc::{AGC_DEFAULT_CLIP_FACTOR, AGC_DEFAULT_EPS, clip_grad_agc, unitwise_norms};
pub use error::ClipError;
pub use norm::{CLIP_EPS, NormType, clip_grad_norm, grad_norm, try_clip_grad_norm};
pub use per_param::clip_grad_norm_per_param;
pub use value::clip_grad_value;
