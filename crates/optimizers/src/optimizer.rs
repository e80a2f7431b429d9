//! The [`Optimizer`] trait and the serializable optimizer state (implemented once, by
//! [`Engine`](crate::Engine)).

use std::collections::BTreeMap;

use gradflow_tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::OptimError;

/// A first-order optimizer over a fixed list of parameters (PyTorch's `torch.optim.Optimizer`
/// with one parameter group).
///
/// The training loop is PyTorch's:
///
/// ```
/// use gradflow_optimizers::{Optimizer, Sgd, SgdConfig};
/// use gradflow_tensor::Tensor;
/// let w = Tensor::from_vec(vec![1.0], &[1]).requires_grad_();
/// let mut opt = Sgd::new(&[w.clone()], SgdConfig { lr: 0.25, ..SgdConfig::default() }).unwrap();
/// for _ in 0..3 {
///     opt.zero_grad();
///     w.mul(&w).sum_all().backward(); // L = w², ∂L/∂w = 2w
///     opt.step();                     // w ← w − 0.25·2w = w/2
/// }
/// assert_eq!(w.item(), 0.125);
/// ```
///
/// Parameters whose `grad()` is `None` are skipped by `step` (their state does not advance),
/// as in PyTorch. Hyperparameters are f64 like PyTorch's Python floats; the per-element
/// update runs in f32 on the contiguous data of each parameter. Every optimizer of this crate
/// is an [`Engine`](crate::Engine) over one [`UpdateRule`](crate::UpdateRule); the trait is
/// what schedulers and training loops hold (`&mut dyn Optimizer`, `Box<dyn Optimizer>`).
pub trait Optimizer {
    /// One update of every parameter that has a gradient.
    ///
    /// # Panics
    /// If a parameter is a non-contiguous view (it cannot be updated in place).
    fn step(&mut self);

    /// Forget every parameter's gradient (PyTorch's `zero_grad(set_to_none=True)`).
    fn zero_grad(&self) {
        for p in self.params() {
            p.zero_grad();
        }
    }

    /// The parameters, in the order the state refers to them.
    fn params(&self) -> &[Tensor];

    /// The current learning rate.
    fn lr(&self) -> f64;

    /// Set the learning rate (what a scheduler does).
    fn set_lr(&mut self, lr: f64);

    /// The learning rate schedules are relative to (PyTorch's `initial_lr`): `None` until the
    /// first scheduler is built on this optimizer, which pins the lr it found. Later
    /// schedulers (e.g. the children of a [`SequentialLr`](crate::SequentialLr)) start from
    /// the pinned value, not from the lr an earlier scheduler wrote.
    fn initial_lr(&self) -> Option<f64>;

    /// Pin [`initial_lr`](Optimizer::initial_lr).
    fn set_initial_lr(&mut self, lr: f64);

    /// The momentum-like coefficient a scheduler may cycle: SGD's and RMSProp's `momentum`,
    /// Adam's β₁; `None` for optimizers without one (PyTorch's OneCycleLR uses the same two
    /// keys).
    fn momentum(&self) -> Option<f64> {
        None
    }

    /// Set the coefficient that [`momentum`](Optimizer::momentum) reads.
    ///
    /// # Panics
    /// If the optimizer has no momentum (the default), as PyTorch's `OneCycleLR` refuses
    /// `cycle_momentum` for such optimizers.
    fn set_momentum(&mut self, momentum: f64) {
        panic!(
            "set_momentum({momentum}): this optimizer has no momentum to cycle; \
             disable cycle_momentum in the scheduler"
        )
    }

    /// Everything needed to continue training bit-exactly: hyperparameters (including the
    /// current lr), per-parameter buffers and step counts.
    fn state_dict(&self) -> OptimizerState;

    /// Restore a [`state_dict`](Optimizer::state_dict) taken from an optimizer of the same
    /// kind over parameters of the same sizes. On error nothing is changed.
    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<(), OptimError>;
}

/// A serializable snapshot of an optimizer (PyTorch's `optimizer.state_dict()`).
///
/// ```json
/// {"optimizer": "Adam",
///  "hyperparameters": {"lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8, ...},
///  "state": [{"step": 10, "buffers": {"exp_avg": [...], "exp_avg_sq": [...]}}, null]}
/// ```
///
/// `state[i]` belongs to `params()[i]`; it is `None` until that parameter's first update.
/// JSON written by [`to_json`](OptimizerState::to_json) and read back by
/// [`from_json`](OptimizerState::from_json) reproduces every f32 and f64 bit (finite values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerState {
    /// The optimizer kind (`"SGD"`, `"Adam"`, …).
    pub optimizer: String,
    /// The configuration struct (e.g. [`AdamConfig`](crate::AdamConfig)) as JSON.
    pub hyperparameters: serde_json::Value,
    /// [`Optimizer::initial_lr`], once a scheduler has pinned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_lr: Option<f64>,
    /// Per-parameter state, aligned with the optimizer's parameters.
    pub state: Vec<Option<ParamState>>,
}

/// The state of one parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamState {
    /// Updates applied to this parameter so far.
    pub step: u64,
    /// Named buffers, each with the parameter's element count, row-major.
    pub buffers: BTreeMap<String, Vec<f32>>,
}

impl OptimizerState {
    /// The state as JSON text.
    pub fn to_json(&self) -> Result<String, OptimError> {
        serde_json::to_string(self).map_err(OptimError::Json)
    }

    /// Parse JSON written by [`to_json`](OptimizerState::to_json).
    pub fn from_json(text: &str) -> Result<Self, OptimError> {
        serde_json::from_str(text).map_err(OptimError::Json)
    }
}
