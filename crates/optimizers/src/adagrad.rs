//! Adagrad.

use gradflow_tensor::math::fma;
use serde::{Deserialize, Serialize};

use crate::OptimError;
use crate::engine::{Buffers, Engine, Scheduled, UpdateRule};
use crate::error::non_negative;

/// Hyperparameters of [`Adagrad`]; the defaults are PyTorch's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdagradConfig {
    /// Learning rate η (default 1e-2).
    pub lr: f64,
    /// Decay of the learning rate, ηₜ = η / (1 + (t − 1)·lr_decay) (default 0).
    pub lr_decay: f64,
    /// L2 penalty λ added to the gradient (default 0).
    pub weight_decay: f64,
    /// Starting value of the squared-gradient sum (default 0).
    pub initial_accumulator_value: f64,
    /// ε added to the root, outside it (default 1e-10).
    pub eps: f64,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
        }
    }
}

/// Adagrad (Duchi, Hazan & Singer 2011) exactly as PyTorch's `torch.optim.Adagrad` (dense
/// gradients). For each parameter θ with gradient g, at step t:
///
/// ```text
/// g ← g + λθ                          (weight_decay λ ≠ 0)
/// ηₜ = η / (1 + (t − 1)·lr_decay)
/// S ← S + g²                          (S₀ = initial_accumulator_value)
/// θ ← θ − ηₜ · g / (√S + ε)
/// ```
///
/// The accumulated S only grows, so steps shrink like 1/√t: good for sparse features and
/// convex problems, too timid for long deep-network runs (RMSProp and Adam replace the sum by
/// a moving average).
///
/// ```
/// use gradflow_optimizers::{Adagrad, AdagradConfig, Optimizer};
/// use gradflow_tensor::Tensor;
/// let w = Tensor::from_vec(vec![0.0], &[1]).requires_grad_();
/// let mut opt = Adagrad::new(&[w.clone()], AdagradConfig { lr: 0.5, ..AdagradConfig::default() }).unwrap();
/// w.set_grad(Some(Tensor::from_vec(vec![4.0], &[1])));
/// opt.step(); // S = 16, step = 0.5·4/4
/// assert!((w.item() + 0.5).abs() < 1e-6);
/// ```
pub type Adagrad = Engine<AdagradConfig>;

/// Adagrad's per-parameter state: the squared-gradient sum S.
#[derive(Clone)]
pub struct AdagradState {
    sum: Vec<f32>,
}

impl UpdateRule for AdagradConfig {
    type State = AdagradState;

    fn name(&self) -> &'static str {
        "Adagrad"
    }

    fn validate(&self) -> Result<(), OptimError> {
        non_negative(
            "Adagrad",
            &[
                ("lr", self.lr),
                ("lr_decay", self.lr_decay),
                ("weight_decay", self.weight_decay),
                ("initial_accumulator_value", self.initial_accumulator_value),
                ("eps", self.eps),
            ],
        )
    }

    fn scheduled(&mut self) -> Scheduled<'_> {
        Scheduled {
            lr: &mut self.lr,
            momentum: None,
        }
    }

    fn init_state(&self, numel: usize) -> AdagradState {
        AdagradState {
            sum: vec![self.initial_accumulator_value as f32; numel],
        }
    }

    fn update(&self, state: &mut AdagradState, step: u64, w: &mut [f32], g: &[f32]) {
        let wd = self.weight_decay as f32;
        let eps = self.eps as f32;
        let clr = -(self.lr / (1.0 + (step - 1) as f64 * self.lr_decay)) as f32;
        for ((w, &g), s) in w.iter_mut().zip(g).zip(&mut state.sum) {
            let g = if self.weight_decay != 0.0 {
                fma(wd, *w, g)
            } else {
                g
            };
            *s += g * g;
            let std = s.sqrt() + eps;
            *w += clr * g / std;
        }
    }

    fn save(state: &AdagradState) -> Vec<(&'static str, &[f32])> {
        vec![("sum", &state.sum)]
    }

    fn load(buffers: &Buffers<'_>) -> Result<AdagradState, OptimError> {
        Ok(AdagradState {
            sum: buffers.required("sum")?,
        })
    }
}
