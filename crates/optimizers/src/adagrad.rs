//! Adagrad.

use gradflow_tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::check;
use crate::optimizer::{ParamState, decode_params, decode_state, encode_config, fma};
use crate::{OptimError, Optimizer, OptimizerState};

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

impl AdagradConfig {
    fn validate(&self) -> Result<(), OptimError> {
        let op = "Adagrad";
        check(self.lr >= 0.0, op, "lr", self.lr, "must be >= 0")?;
        check(
            self.lr_decay >= 0.0,
            op,
            "lr_decay",
            self.lr_decay,
            "must be >= 0",
        )?;
        check(
            self.weight_decay >= 0.0,
            op,
            "weight_decay",
            self.weight_decay,
            "must be >= 0",
        )?;
        check(
            self.initial_accumulator_value >= 0.0,
            op,
            "initial_accumulator_value",
            self.initial_accumulator_value,
            "must be >= 0",
        )?;
        check(self.eps >= 0.0, op, "eps", self.eps, "must be >= 0")
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
pub struct Adagrad {
    params: Vec<Tensor>,
    config: AdagradConfig,
    state: Vec<Option<AdagradState>>,
}

#[derive(Clone)]
struct AdagradState {
    step: u64,
    sum: Vec<f32>,
}

impl Adagrad {
    /// Adagrad over `params`.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] for any negative hyperparameter.
    pub fn new(params: &[Tensor], config: AdagradConfig) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(Adagrad {
            params: params.to_vec(),
            config,
            state: vec![None; params.len()],
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &AdagradConfig {
        &self.config
    }
}

impl Optimizer for Adagrad {
    fn step(&mut self) {
        let c = self.config;
        let wd = c.weight_decay as f32;
        let eps = c.eps as f32;
        let init = c.initial_accumulator_value as f32;
        for (p, slot) in self.params.iter().zip(&mut self.state) {
            let Some(g) = p.grad() else { continue };
            let g = g.to_vec();
            let n = g.len();
            let st = slot.get_or_insert_with(|| AdagradState {
                step: 0,
                sum: vec![init; n],
            });
            st.step += 1;
            let clr = -(c.lr / (1.0 + (st.step - 1) as f64 * c.lr_decay)) as f32;
            let s = &mut st.sum;
            p.update_data(|w| {
                for i in 0..n {
                    let gi = if c.weight_decay != 0.0 {
                        fma(wd, w[i], g[i])
                    } else {
                        g[i]
                    };
                    s[i] += gi * gi;
                    let std = s[i].sqrt() + eps;
                    w[i] += clr * gi / std;
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

    fn state_dict(&self) -> OptimizerState {
        OptimizerState {
            optimizer: "Adagrad".into(),
            hyperparameters: encode_config(&self.config),
            state: self
                .state
                .iter()
                .map(|s| {
                    s.as_ref()
                        .map(|s| ParamState::new(s.step).with("sum", &s.sum))
                })
                .collect(),
        }
    }

    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<(), OptimError> {
        let c: AdagradConfig = decode_state(state, "Adagrad", self.params.len())?;
        c.validate()?;
        let st = decode_params(state, &self.params, |i, s, n| {
            Ok(AdagradState {
                step: s.step,
                sum: s.buffer(i, "sum", n)?,
            })
        })?;
        self.config = c;
        self.state = st;
        Ok(())
    }
}
