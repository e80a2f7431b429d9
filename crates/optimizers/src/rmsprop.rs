//! RMSProp (with centering and momentum).

use gradflow_tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::check;
use crate::optimizer::{ParamState, decode_params, decode_state, encode_config, fma, lerp};
use crate::{OptimError, Optimizer, OptimizerState};

/// Hyperparameters of [`RmsProp`]; the defaults are PyTorch's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RmsPropConfig {
    /// Learning rate η (default 1e-2).
    pub lr: f64,
    /// Smoothing constant α of the squared-gradient average (default 0.99).
    pub alpha: f64,
    /// ε added to the root, outside it (default 1e-8).
    pub eps: f64,
    /// L2 penalty λ added to the gradient (default 0).
    pub weight_decay: f64,
    /// Momentum μ on the normalised step (default 0).
    pub momentum: f64,
    /// Divide by the estimated standard deviation √(E(g²) − E(g)²) instead of √E(g²).
    pub centered: bool,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
        }
    }
}

impl RmsPropConfig {
    fn validate(&self) -> Result<(), OptimError> {
        let op = "RMSprop";
        check(self.lr >= 0.0, op, "lr", self.lr, "must be >= 0")?;
        check(self.alpha >= 0.0, op, "alpha", self.alpha, "must be >= 0")?;
        check(self.eps >= 0.0, op, "eps", self.eps, "must be >= 0")?;
        check(
            self.momentum >= 0.0,
            op,
            "momentum",
            self.momentum,
            "must be >= 0",
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

/// RMSProp (Hinton's lecture 6e) exactly as PyTorch's `torch.optim.RMSprop`. For each
/// parameter θ with gradient g:
///
/// ```text
/// g ← g + λθ                               (weight_decay λ ≠ 0)
/// s ← α·s + (1 − α)·g²
/// a ← a + (1 − α)(g − a)                   (centered only)
/// r ← √(s − a²) + ε  if centered, else √s + ε
/// b ← μ·b + g/r;  θ ← θ − η·b              (momentum μ > 0, b₀ = 0)
/// θ ← θ − η·g/r                            (μ = 0)
/// ```
///
/// No bias correction: with s₀ = 0 the first steps are large (|Δθ| ≈ η/√(1 − α) = 10η at
/// α = 0.99). Like Adam, the division by √s gives every coordinate a step of about η
/// whatever its gradient scale.
///
/// ```
/// use gradflow_optimizers::{Optimizer, RmsProp, RmsPropConfig};
/// use gradflow_tensor::Tensor;
/// let w = Tensor::from_vec(vec![0.0], &[1]).requires_grad_();
/// let mut opt = RmsProp::new(&[w.clone()], RmsPropConfig::default()).unwrap();
/// w.set_grad(Some(Tensor::from_vec(vec![3.0], &[1])));
/// opt.step(); // s = 0.01·9, step = 0.01·3/0.3 = 0.1
/// assert!((w.item() + 0.1).abs() < 1e-6);
/// ```
pub struct RmsProp {
    params: Vec<Tensor>,
    config: RmsPropConfig,
    state: Vec<Option<RmsState>>,
}

#[derive(Clone)]
struct RmsState {
    step: u64,
    square_avg: Vec<f32>,
    grad_avg: Option<Vec<f32>>,
    momentum_buffer: Option<Vec<f32>>,
}

impl RmsProp {
    /// RMSProp over `params`.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] for a negative lr, α, ε, momentum or weight decay.
    pub fn new(params: &[Tensor], config: RmsPropConfig) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(RmsProp {
            params: params.to_vec(),
            config,
            state: vec![None; params.len()],
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &RmsPropConfig {
        &self.config
    }
}

impl Optimizer for RmsProp {
    fn step(&mut self) {
        let c = self.config;
        let lr = -c.lr as f32;
        let alpha = c.alpha as f32;
        let one_minus_alpha = (1.0 - c.alpha) as f32;
        let eps = c.eps as f32;
        let wd = c.weight_decay as f32;
        let mu = c.momentum as f32;
        for (p, slot) in self.params.iter().zip(&mut self.state) {
            let Some(g) = p.grad() else { continue };
            let g = g.to_vec();
            let n = g.len();
            let st = slot.get_or_insert_with(|| RmsState {
                step: 0,
                square_avg: vec![0.0; n],
                grad_avg: None,
                momentum_buffer: None,
            });
            st.step += 1;
            let s = &mut st.square_avg;
            let mut a = if c.centered {
                Some(st.grad_avg.get_or_insert_with(|| vec![0.0; n]))
            } else {
                None
            };
            let mut b = if c.momentum > 0.0 {
                Some(st.momentum_buffer.get_or_insert_with(|| vec![0.0; n]))
            } else {
                None
            };
            p.update_data(|w| {
                for i in 0..n {
                    let gi = if c.weight_decay != 0.0 {
                        fma(wd, w[i], g[i])
                    } else {
                        g[i]
                    };
                    s[i] = s[i] * alpha + one_minus_alpha * gi * gi;
                    let avg = match a.as_deref_mut() {
                        Some(a) => {
                            a[i] = lerp(a[i], gi, one_minus_alpha);
                            (s[i] + -a[i] * a[i]).sqrt()
                        }
                        None => s[i].sqrt(),
                    } + eps;
                    match b.as_deref_mut() {
                        Some(b) => {
                            b[i] = b[i] * mu + gi / avg;
                            w[i] = fma(lr, b[i], w[i]);
                        }
                        None => w[i] += lr * gi / avg,
                    }
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
        Some(self.config.momentum)
    }

    fn set_momentum(&mut self, momentum: f64) {
        self.config.momentum = momentum;
    }

    fn state_dict(&self) -> OptimizerState {
        OptimizerState {
            optimizer: "RMSprop".into(),
            hyperparameters: encode_config(&self.config),
            state: self
                .state
                .iter()
                .map(|s| {
                    s.as_ref().map(|s| {
                        ParamState::new(s.step)
                            .with("square_avg", &s.square_avg)
                            .with_opt("grad_avg", s.grad_avg.as_ref())
                            .with_opt("momentum_buffer", s.momentum_buffer.as_ref())
                    })
                })
                .collect(),
        }
    }

    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<(), OptimError> {
        let c: RmsPropConfig = decode_state(state, "RMSprop", self.params.len())?;
        c.validate()?;
        let st = decode_params(state, &self.params, |i, s, n| {
            Ok(RmsState {
                step: s.step,
                square_avg: s.buffer(i, "square_avg", n)?,
                grad_avg: s.optional_buffer(i, "grad_avg", n)?,
                momentum_buffer: s.optional_buffer(i, "momentum_buffer", n)?,
            })
        })?;
        self.config = c;
        self.state = st;
        Ok(())
    }
}
