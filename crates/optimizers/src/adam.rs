//! Adam (with AMSGrad and L2 weight decay); the kernel is shared with AdamW.

use gradflow_tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::check;
use crate::optimizer::{ParamState, decode_params, decode_state, encode_config, fma, lerp};
use crate::{OptimError, Optimizer, OptimizerState};

/// Hyperparameters of [`Adam`]; the defaults are PyTorch's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Learning rate η (default 1e-3).
    pub lr: f64,
    /// (β₁, β₂): decay of the first and second moment averages (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// ε added to the denominator, outside the square root (default 1e-8).
    pub eps: f64,
    /// L2 penalty λ added to the gradient, g ← g + λθ (default 0). For decoupled decay use
    /// [`AdamW`](crate::AdamW).
    pub weight_decay: f64,
    /// Use the running maximum of v (AMSGrad, Reddi et al. 2018).
    pub amsgrad: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
        }
    }
}

pub(crate) fn validate_adam(
    op: &'static str,
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
) -> Result<(), OptimError> {
    check(lr >= 0.0, op, "lr", lr, "must be >= 0")?;
    check(
        (0.0..1.0).contains(&betas.0),
        op,
        "beta1",
        betas.0,
        "must be in [0, 1)",
    )?;
    check(
        (0.0..1.0).contains(&betas.1),
        op,
        "beta2",
        betas.1,
        "must be in [0, 1)",
    )?;
    check(eps >= 0.0, op, "eps", eps, "must be >= 0")?;
    check(
        weight_decay >= 0.0,
        op,
        "weight_decay",
        weight_decay,
        "must be >= 0",
    )
}

/// Adam (Kingma & Ba 2015) exactly as PyTorch's `torch.optim.Adam` (single-tensor path). For
/// each parameter θ with gradient g, at step t:
///
/// ```text
/// g ← g + λθ                                   (weight_decay λ ≠ 0: L2, coupled)
/// m ← m + (1 − β₁)(g − m)                      (= β₁m + (1 − β₁)g, PyTorch's lerp)
/// v ← β₂v + (1 − β₂)g²
/// v̂ ← max(v̂, v)                                (amsgrad; v̂ = v otherwise)
/// denom ← √v̂ / √(1 − β₂ᵗ) + ε                  (ε outside the square root)
/// θ ← θ − η/(1 − β₁ᵗ) · m / denom
/// ```
///
/// Bias correction makes the first step θ ← θ − η·g/(|g| + ε): every coordinate moves by at
/// most η, whatever the gradient's scale. The per-coordinate normalisation by √v is also why
/// Adam copes with vanishing gradients better than SGD: a layer whose gradients are 1000×
/// smaller still takes steps of size ≈ η.
///
/// ```
/// use gradflow_optimizers::{Adam, AdamConfig, Optimizer};
/// use gradflow_tensor::Tensor;
/// let w = Tensor::from_vec(vec![0.0, 0.0], &[2]).requires_grad_();
/// let mut opt = Adam::new(&[w.clone()], AdamConfig { lr: 0.1, ..AdamConfig::default() }).unwrap();
/// w.set_grad(Some(Tensor::from_vec(vec![1e-4, -50.0], &[2])));
/// opt.step();
/// let x = w.to_vec();
/// // |Δθ| = η·|g|/(|g| + ε): both coordinates move by ≈ η despite a 5·10⁵ ratio in |g|.
/// assert!((x[0] + 0.1).abs() < 1e-4 && (x[1] - 0.1).abs() < 1e-6);
/// ```
pub struct Adam {
    params: Vec<Tensor>,
    config: AdamConfig,
    state: Vec<Option<AdamState>>,
}

/// Per-parameter moments of Adam and AdamW.
#[derive(Clone)]
pub(crate) struct AdamState {
    step: u64,
    exp_avg: Vec<f32>,
    exp_avg_sq: Vec<f32>,
    max_exp_avg_sq: Option<Vec<f32>>,
}

/// The hyperparameters one Adam/AdamW step needs.
pub(crate) struct AdamHyper {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    pub amsgrad: bool,
    /// AdamW: θ ← θ(1 − ηλ) instead of g ← g + λθ.
    pub decoupled: bool,
}

/// One Adam/AdamW step over every parameter with a gradient.
pub(crate) fn adam_step(params: &[Tensor], state: &mut [Option<AdamState>], h: &AdamHyper) {
    let (beta1, beta2) = h.betas;
    let w1 = (1.0 - beta1) as f32;
    let b2 = beta2 as f32;
    let c2 = (1.0 - beta2) as f32;
    let eps = h.eps as f32;
    let wd = h.weight_decay as f32;
    let decay = (1.0 - h.lr * h.weight_decay) as f32;
    for (p, slot) in params.iter().zip(state) {
        let Some(g) = p.grad() else { continue };
        let g = g.to_vec();
        let n = g.len();
        let st = slot.get_or_insert_with(|| AdamState {
            step: 0,
            exp_avg: vec![0.0; n],
            exp_avg_sq: vec![0.0; n],
            max_exp_avg_sq: None,
        });
        st.step += 1;
        let t = st.step as f64;
        let bias_correction1 = 1.0 - beta1.powf(t);
        let bias_correction2_sqrt = (1.0 - beta2.powf(t)).sqrt();
        let step_size = -(h.lr / bias_correction1) as f32;
        let bc2 = bias_correction2_sqrt as f32;
        let (m, v) = (&mut st.exp_avg, &mut st.exp_avg_sq);
        let mut vmax = if h.amsgrad {
            Some(st.max_exp_avg_sq.get_or_insert_with(|| vec![0.0; n]))
        } else {
            None
        };
        p.update_data(|w| {
            for i in 0..n {
                let mut gi = g[i];
                if h.weight_decay != 0.0 {
                    if h.decoupled {
                        w[i] *= decay;
                    } else {
                        gi = fma(wd, w[i], gi);
                    }
                }
                m[i] = lerp(m[i], gi, w1);
                v[i] = fma(c2 * gi, gi, v[i] * b2);
                let vhat = match vmax.as_deref_mut() {
                    Some(vm) => {
                        vm[i] = vm[i].max(v[i]);
                        vm[i]
                    }
                    None => v[i],
                };
                let denom = vhat.sqrt() / bc2 + eps;
                w[i] += step_size * m[i] / denom;
            }
        });
    }
}

pub(crate) fn adam_state_dict(state: &[Option<AdamState>]) -> Vec<Option<ParamState>> {
    state
        .iter()
        .map(|s| {
            s.as_ref().map(|s| {
                ParamState::new(s.step)
                    .with("exp_avg", &s.exp_avg)
                    .with("exp_avg_sq", &s.exp_avg_sq)
                    .with_opt("max_exp_avg_sq", s.max_exp_avg_sq.as_ref())
            })
        })
        .collect()
}

pub(crate) fn adam_load_params(
    state: &OptimizerState,
    params: &[Tensor],
) -> Result<Vec<Option<AdamState>>, OptimError> {
    decode_params(state, params, |i, s, n| {
        Ok(AdamState {
            step: s.step,
            exp_avg: s.buffer(i, "exp_avg", n)?,
            exp_avg_sq: s.buffer(i, "exp_avg_sq", n)?,
            max_exp_avg_sq: s.optional_buffer(i, "max_exp_avg_sq", n)?,
        })
    })
}

impl Adam {
    /// Adam over `params`.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] for a negative lr, ε or weight decay, or a β
    /// outside [0, 1).
    pub fn new(params: &[Tensor], config: AdamConfig) -> Result<Self, OptimError> {
        validate_adam(
            "Adam",
            config.lr,
            config.betas,
            config.eps,
            config.weight_decay,
        )?;
        Ok(Adam {
            params: params.to_vec(),
            config,
            state: vec![None; params.len()],
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }
}

impl Optimizer for Adam {
    fn step(&mut self) {
        let c = self.config;
        let h = AdamHyper {
            lr: c.lr,
            betas: c.betas,
            eps: c.eps,
            weight_decay: c.weight_decay,
            amsgrad: c.amsgrad,
            decoupled: false,
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

    /// β₁, what PyTorch's OneCycleLR cycles for Adam.
    fn momentum(&self) -> Option<f64> {
        Some(self.config.betas.0)
    }

    fn set_momentum(&mut self, momentum: f64) {
        self.config.betas.0 = momentum;
    }

    fn state_dict(&self) -> OptimizerState {
        OptimizerState {
            optimizer: "Adam".into(),
            hyperparameters: encode_config(&self.config),
            state: adam_state_dict(&self.state),
        }
    }

    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<(), OptimError> {
        let c: AdamConfig = decode_state(state, "Adam", self.params.len())?;
        validate_adam("Adam", c.lr, c.betas, c.eps, c.weight_decay)?;
        self.state = adam_load_params(state, &self.params)?;
        self.config = c;
        Ok(())
    }
}
