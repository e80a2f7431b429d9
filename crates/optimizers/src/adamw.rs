//! AdamW: Adam with decoupled weight decay, as a flag of the Adam rule.

use serde::{Deserialize, Serialize};

use crate::AdamConfig;

/// Hyperparameters of [`AdamW`] with PyTorch's `AdamW` defaults (note `weight_decay` 1e-2);
/// it converts into an [`AdamConfig`] with `decoupled_weight_decay` set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// Learning rate η (default 1e-3).
    pub lr: f64,
    /// (β₁, β₂) (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// ε outside the square root (default 1e-8).
    pub eps: f64,
    /// Decoupled decay λ: θ ← θ(1 − ηλ) each step (default 1e-2).
    pub weight_decay: f64,
    /// Use the running maximum of v (AMSGrad).
    pub amsgrad: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 1e-2,
            amsgrad: false,
        }
    }
}

impl From<AdamWConfig> for AdamConfig {
    fn from(c: AdamWConfig) -> AdamConfig {
        AdamConfig {
            lr: c.lr,
            betas: c.betas,
            eps: c.eps,
            weight_decay: c.weight_decay,
            amsgrad: c.amsgrad,
            decoupled_weight_decay: true,
        }
    }
}

/// AdamW (Loshchilov & Hutter 2019) exactly as PyTorch's `torch.optim.AdamW`: Adam whose
/// weight decay is applied to the weights directly instead of through the gradient,
///
/// ```text
/// θ ← θ·(1 − ηλ)                 (decoupled: not rescaled by 1/√v)
/// m, v, v̂, denom as in Adam, with the raw gradient g
/// θ ← θ − η/(1 − β₁ᵗ) · m / denom
/// ```
///
/// With [`Adam`](crate::Adam)'s L2 form, g + λθ is divided by √v, so parameters with large
/// gradients are barely regularised; AdamW decays every weight at the same rate ηλ. Prefer it
/// whenever you want weight decay with an adaptive optimizer.
///
/// `AdamW` is the [`Adam`](crate::Adam) optimizer: `AdamW::new` takes an [`AdamWConfig`] (or
/// an [`AdamConfig`] with `decoupled_weight_decay: true`), and its state is saved as
/// `"AdamW"`.
///
/// ```
/// use gradflow_optimizers::{AdamW, AdamWConfig, Optimizer};
/// use gradflow_tensor::Tensor;
/// let w = Tensor::from_vec(vec![2.0], &[1]).requires_grad_();
/// let cfg = AdamWConfig { lr: 0.1, weight_decay: 0.5, ..AdamWConfig::default() };
/// let mut opt = AdamW::new(&[w.clone()], cfg).unwrap();
/// w.set_grad(Some(Tensor::from_vec(vec![0.0], &[1])));
/// opt.step(); // zero gradient: only the decay acts, 2·(1 − 0.05)
/// assert!((w.item() - 1.9).abs() < 1e-6);
/// ```
pub type AdamW = crate::Adam;
