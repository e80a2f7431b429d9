//! AdamW: Adam with decoupled weight decay.

use gradflow_tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::adam::{
    AdamHyper, AdamState, adam_load_params, adam_state_dict, adam_step, validate_adam,
};
use crate::optimizer::{decode_state, encode_config};
use crate::{OptimError, Optimizer, OptimizerState};

/// Hyperparameters of [`AdamW`]; the defaults are PyTorch's (note `weight_decay` 1e-2).
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
pub struct AdamW {
    params: Vec<Tensor>,
    config: AdamWConfig,
    state: Vec<Option<AdamState>>,
}

impl AdamW {
    /// AdamW over `params`.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] for a negative lr, ε or weight decay, or a β
    /// outside [0, 1).
    pub fn new(params: &[Tensor], config: AdamWConfig) -> Result<Self, OptimError> {
        validate_adam(
            "AdamW",
            config.lr,
            config.betas,
            config.eps,
            config.weight_decay,
        )?;
        Ok(AdamW {
            params: params.to_vec(),
            config,
            state: vec![None; params.len()],
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }
}

impl Optimizer for AdamW {
    fn step(&mut self) {
        let c = self.config;
        let h = AdamHyper {
            lr: c.lr,
            betas: c.betas,
            eps: c.eps,
            weight_decay: c.weight_decay,
            amsgrad: c.amsgrad,
            decoupled: true,
        };
        adam_step(&self.params, &mut self.state, &h);
    }

    fn params(&self) -> &[Tensor] {
        &self.params
    }

    fn lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    /// β₁, what PyTorch's OneCycleLR cycles for AdamW.
    fn momentum(&self) -> Option<f64> {
        Some(self.config.betas.0)
    }

    fn set_momentum(&mut self, momentum: f64) {
        self.config.betas.0 = momentum;
    }

    fn state_dict(&self) -> OptimizerState {
        OptimizerState {
            optimizer: "AdamW".into(),
            hyperparameters: encode_config(&self.config),
            state: adam_state_dict(&self.state),
        }
    }

    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<(), OptimError> {
        let c: AdamWConfig = decode_state(state, "AdamW", self.params.len())?;
        validate_adam("AdamW", c.lr, c.betas, c.eps, c.weight_decay)?;
        self.state = adam_load_params(state, &self.params)?;
        self.config = c;
        Ok(())
    }
}
