//! Momentum as an exponential moving average of gradients (the seed's form).

use gradflow_tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::check;
use crate::optimizer::{ParamState, decode_params, decode_state, encode_config};
use crate::{OptimError, Optimizer, OptimizerState};

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

impl EmaMomentumConfig {
    fn validate(&self) -> Result<(), OptimError> {
        let op = "EmaMomentum";
        check(self.lr >= 0.0, op, "lr", self.lr, "must be >= 0")?;
        check(
            (0.0..1.0).contains(&self.beta),
            op,
            "beta",
            self.beta,
            "must be in [0, 1)",
        )?;
        check(
            self.weight_decay >= 0.0,
            op,
            "weight_decay",
            self.weight_decay,
            "must be >= 0",
        )
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
pub struct EmaMomentum {
    params: Vec<Tensor>,
    config: EmaMomentumConfig,
    state: Vec<Option<EmaState>>,
}

#[derive(Clone)]
struct EmaState {
    step: u64,
    velocity: Vec<f32>,
}

impl EmaMomentum {
    /// EMA momentum over `params`.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] for a negative lr or weight decay, or β ∉ [0, 1).
    pub fn new(params: &[Tensor], config: EmaMomentumConfig) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(EmaMomentum {
            params: params.to_vec(),
            config,
            state: vec![None; params.len()],
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &EmaMomentumConfig {
        &self.config
    }
}

impl Optimizer for EmaMomentum {
    fn step(&mut self) {
        let lr = -self.config.lr as f32;
        let beta = self.config.beta as f32;
        let one_minus_beta = (1.0 - self.config.beta) as f32;
        let wd = self.config.weight_decay as f32;
        for (p, slot) in self.params.iter().zip(&mut self.state) {
            let Some(g) = p.grad() else { continue };
            let g = g.to_vec();
            let st = slot.get_or_insert_with(|| EmaState {
                step: 0,
                velocity: vec![0.0; g.len()],
            });
            st.step += 1;
            let v = &mut st.velocity;
            p.update_data(|w| {
                for i in 0..w.len() {
                    let d = if wd != 0.0 { g[i] + wd * w[i] } else { g[i] };
                    v[i] = beta * v[i] + one_minus_beta * d;
                    w[i] += lr * v[i];
                }
            });
        }
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

    fn momentum(&self) -> Option<f64> {
        Some(self.config.beta)
    }

    fn set_momentum(&mut self, momentum: f64) {
        self.config.beta = momentum;
    }

    fn state_dict(&self) -> OptimizerState {
        OptimizerState {
            optimizer: "EmaMomentum".into(),
            hyperparameters: encode_config(&self.config),
            state: self
                .state
                .iter()
                .map(|s| {
                    s.as_ref()
                        .map(|s| ParamState::new(s.step).with("velocity", &s.velocity))
                })
                .collect(),
        }
    }

    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<(), OptimError> {
        let config: EmaMomentumConfig = decode_state(state, "EmaMomentum", self.params.len())?;
        config.validate()?;
        let st = decode_params(state, &self.params, |i, s, n| {
            Ok(EmaState {
                step: s.step,
                velocity: s.buffer(i, "velocity", n)?,
            })
        })?;
        self.config = config;
        self.state = st;
        Ok(())
    }
}
