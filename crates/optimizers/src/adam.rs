//! Adam, with AMSGrad and either L2 (coupled) or decoupled (AdamW) weight decay.

use gradflow_tensor::math::fma;
use serde::{Deserialize, Serialize};

use crate::OptimError;
use crate::engine::{Buffers, Engine, Scheduled, UpdateRule, lerp};
use crate::error::{below_one, non_negative};

/// Hyperparameters of [`Adam`]; the defaults are PyTorch's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Learning rate η (default 1e-3).
    pub lr: f64,
    /// (β₁, β₂): decay of the first and second moment averages (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// ε added to the denominator, outside the square root (default 1e-8).
    pub eps: f64,
    /// Weight decay λ (default 0): the L2 penalty g ← g + λθ, or with
    /// `decoupled_weight_decay` the decay θ ← θ(1 − ηλ).
    pub weight_decay: f64,
    /// Use the running maximum of v (AMSGrad, Reddi et al. 2018).
    pub amsgrad: bool,
    /// AdamW: decay the weights directly instead of adding λθ to the gradient (PyTorch's
    /// `Adam(decoupled_weight_decay=True)`, which is `AdamW`). See [`AdamW`](crate::AdamW).
    #[serde(default)]
    pub decoupled_weight_decay: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            decoupled_weight_decay: false,
        }
    }
}

/// Adam (Kingma & Ba 2015) exactly as PyTorch's `torch.optim.Adam` (single-tensor path). For
/// each parameter θ with gradient g, at step t:
///
/// ```text
/// g ← g + λθ                                   (weight_decay λ ≠ 0: L2, coupled)
/// θ ← θ·(1 − ηλ)                               (instead, with decoupled_weight_decay: AdamW)
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
pub type Adam = Engine<AdamConfig>;

/// Adam's per-parameter moments m and v, and v̂ with AMSGrad.
#[derive(Clone)]
pub struct AdamState {
    exp_avg: Vec<f32>,
    exp_avg_sq: Vec<f32>,
    max_exp_avg_sq: Option<Vec<f32>>,
}

impl UpdateRule for AdamConfig {
    type State = AdamState;

    fn name(&self) -> &'static str {
        if self.decoupled_weight_decay {
            "AdamW"
        } else {
            "Adam"
        }
    }

    fn validate(&self) -> Result<(), OptimError> {
        let op = self.name();
        non_negative(
            op,
            &[
                ("lr", self.lr),
                ("eps", self.eps),
                ("weight_decay", self.weight_decay),
            ],
        )?;
        below_one(op, &[("beta1", self.betas.0), ("beta2", self.betas.1)])
    }

    fn scheduled(&mut self) -> Scheduled<'_> {
        Scheduled {
            lr: &mut self.lr,
            momentum: Some(&mut self.betas.0),
        }
    }

    fn init_state(&self, numel: usize) -> AdamState {
        AdamState {
            exp_avg: vec![0.0; numel],
            exp_avg_sq: vec![0.0; numel],
            max_exp_avg_sq: None,
        }
    }

    fn update(&self, state: &mut AdamState, step: u64, w: &mut [f32], g: &[f32]) {
        let n = g.len();
        let (beta1, beta2) = self.betas;
        let w1 = (1.0 - beta1) as f32;
        let b2 = beta2 as f32;
        let c2 = (1.0 - beta2) as f32;
        let eps = self.eps as f32;
        let wd = self.weight_decay as f32;
        let decay = (1.0 - self.lr * self.weight_decay) as f32;
        let t = step as f64;
        let bias_correction1 = 1.0 - beta1.powf(t);
        let bias_correction2_sqrt = (1.0 - beta2.powf(t)).sqrt();
        let step_size = -(self.lr / bias_correction1) as f32;
        let bc2 = bias_correction2_sqrt as f32;
        let (m, v) = (&mut state.exp_avg, &mut state.exp_avg_sq);
        let mut vmax = self
            .amsgrad
            .then(|| state.max_exp_avg_sq.get_or_insert_with(|| vec![0.0; n]));
        for i in 0..n {
            let mut gi = g[i];
            if self.weight_decay != 0.0 {
                if self.decoupled_weight_decay {
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
    }

    fn save(state: &AdamState) -> Vec<(&'static str, &[f32])> {
        let mut out = vec![
            ("exp_avg", state.exp_avg.as_slice()),
            ("exp_avg_sq", state.exp_avg_sq.as_slice()),
        ];
        out.extend(
            state
                .max_exp_avg_sq
                .as_deref()
                .map(|v| ("max_exp_avg_sq", v)),
        );
        out
    }

    fn load(buffers: &Buffers<'_>) -> Result<AdamState, OptimError> {
        Ok(AdamState {
            exp_avg: buffers.required("exp_avg")?,
            exp_avg_sq: buffers.required("exp_avg_sq")?,
            max_exp_avg_sq: buffers.optional("max_exp_avg_sq")?,
        })
    }
}
