//! Momentum as an exponential moving average of gradients (the seed's form).

use serde::{Deserialize, Serialize};

use crate::OptimError;
use crate::engine::{Buffers, Engine, Scheduled, UpdateRule};
use crate::error::{below_one, non_negative};

/// Hyperparameters of [`EmaMomentum`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EmaMomentumConfig {
    /// Learning rate η.
    pub lr: f64,
    /// Averaging coefficient β ∈ [0, 1).
    pub beta: f64,
    /// L2 penalty λ added to the gradient: g ← g + λθ.
    pub weight_decay: f64,
}

impl Default for EmaMomentumConfig {
    fn default() -> Self {
        EmaMomentumConfig {
            lr: 1e-2,
            beta: 0.9,
            weight_decay: 0.0,
        }
    }
}

/// Momentum written as an exponential moving average (Andrew Ng's course, Keras-era
/// tutorials, the seed of this project), with v₀ = 0:
///
/// ```text
/// g ← g + λθ           (weight_decay λ ≠ 0)
/// v ← β·v + (1 − β)·g
/// θ ← θ − η·v
/// ```
///
/// **Equivalence with PyTorch's momentum.** Unrolling, vₜ = (1 − β) Σₖ β^(t−k) gₖ, while
/// PyTorch's buffer (dampening 0, first buffer = first gradient) is bₜ = Σₖ β^(t−k) gₖ. So
/// vₜ = (1 − β)·bₜ at every step, and
///
/// **EmaMomentum with lr η ≡ [`Sgd`](crate::Sgd) with momentum β and lr η·(1 − β).**
///
/// The EMA form keeps the step size independent of β (a constant gradient g gives steps
/// η·g in the steady state instead of η·g/(1 − β)), which makes β easier to tune on its own;
/// the PyTorch form is what published learning rates assume. (The two agree up to f32
/// rounding; the `ema_equals_pytorch_momentum` test checks this.)
///
/// ```
/// use gradflow_optimizers::{EmaMomentum, EmaMomentumConfig, Optimizer};
/// use gradflow_tensor::Tensor;
/// let w = Tensor::from_vec(vec![0.0], &[1]).requires_grad_();
/// let cfg = EmaMomentumConfig { lr: 1.0, beta: 0.9, weight_decay: 0.0 };
/// let mut opt = EmaMomentum::new(&[w.clone()], cfg).unwrap();
/// w.set_grad(Some(Tensor::from_vec(vec![1.0], &[1])));
/// opt.step(); // v = 0.1
/// assert!((w.item() + 0.1).abs() < 1e-7);
/// ```
pub type EmaMomentum = Engine<EmaMomentumConfig>;

/// EMA momentum's per-parameter state: the velocity v (v₀ = 0).
#[derive(Clone)]
pub struct EmaState {
    velocity: Vec<f32>,
}

impl UpdateRule for EmaMomentumConfig {
    type State = EmaState;

    fn name(&self) -> &'static str {
        "EmaMomentum"
    }

    fn validate(&self) -> Result<(), OptimError> {
        let op = "EmaMomentum";
        non_negative(op, &[("lr", self.lr), ("weight_decay", self.weight_decay)])?;
        below_one(op, &[("beta", self.beta)])
    }

    fn scheduled(&mut self) -> Scheduled<'_> {
        Scheduled {
            lr: &mut self.lr,
            momentum: Some(&mut self.beta),
        }
    }

    fn init_state(&self, numel: usize) -> EmaState {
        EmaState {
            velocity: vec![0.0; numel],
        }
    }

    fn update(&self, state: &mut EmaState, _step: u64, w: &mut [f32], g: &[f32]) {
        let lr = -self.lr as f32;
        let beta = self.beta as f32;
        let one_minus_beta = (1.0 - self.beta) as f32;
        let wd = self.weight_decay as f32;
        for ((w, &g), v) in w.iter_mut().zip(g).zip(&mut state.velocity) {
            let d = if wd != 0.0 { g + wd * *w } else { g };
            *v = beta * *v + one_minus_beta * d;
            *w += lr * *v;
        }
    }

    fn save(state: &EmaState) -> Vec<(&'static str, &[f32])> {
        vec![("velocity", &state.velocity)]
    }

    fn load(buffers: &Buffers<'_>) -> Result<EmaState, OptimError> {
        Ok(EmaState {
            velocity: buffers.required("velocity")?,
        })
    }
}
