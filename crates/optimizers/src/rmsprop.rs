//! RMSProp (with centering and momentum).

use gradflow_tensor::math::fma;
use serde::{Deserialize, Serialize};

use crate::OptimError;
use crate::engine::{Buffers, Engine, Scheduled, UpdateRule, lerp};
use crate::error::non_negative;

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
pub type RmsProp = Engine<RmsPropConfig>;

/// RMSProp's per-parameter state: s, and a (centered) and b (momentum) when used.
#[derive(Clone)]
pub struct RmsState {
    square_avg: Vec<f32>,
    grad_avg: Option<Vec<f32>>,
    momentum_buffer: Option<Vec<f32>>,
}

impl UpdateRule for RmsPropConfig {
    type State = RmsState;

    fn name(&self) -> &'static str {
        "RMSprop"
    }

    fn validate(&self) -> Result<(), OptimError> {
        non_negative(
            "RMSprop",
            &[
                ("lr", self.lr),
                ("alpha", self.alpha),
                ("eps", self.eps),
                ("momentum", self.momentum),
                ("weight_decay", self.weight_decay),
            ],
        )
    }

    fn scheduled(&mut self) -> Scheduled<'_> {
        Scheduled {
            lr: &mut self.lr,
            momentum: Some(&mut self.momentum),
        }
    }

    fn init_state(&self, numel: usize) -> RmsState {
        RmsState {
            square_avg: vec![0.0; numel],
            grad_avg: None,
            momentum_buffer: None,
        }
    }

    fn update(&self, state: &mut RmsState, _step: u64, w: &mut [f32], g: &[f32]) {
        let n = g.len();
        let lr = -self.lr as f32;
        let alpha = self.alpha as f32;
        let one_minus_alpha = (1.0 - self.alpha) as f32;
        let eps = self.eps as f32;
        let wd = self.weight_decay as f32;
        let mu = self.momentum as f32;
        let s = &mut state.square_avg;
        let mut a = self
            .centered
            .then(|| state.grad_avg.get_or_insert_with(|| vec![0.0; n]));
        let mut b = (self.momentum > 0.0)
            .then(|| state.momentum_buffer.get_or_insert_with(|| vec![0.0; n]));
        for i in 0..n {
            let gi = if self.weight_decay != 0.0 {
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
    }

    fn save(state: &RmsState) -> Vec<(&'static str, &[f32])> {
        let mut out = vec![("square_avg", state.square_avg.as_slice())];
        out.extend(state.grad_avg.as_deref().map(|a| ("grad_avg", a)));
        out.extend(
            state
                .momentum_buffer
                .as_deref()
                .map(|b| ("momentum_buffer", b)),
        );
        out
    }

    fn load(buffers: &Buffers<'_>) -> Result<RmsState, OptimError> {
        Ok(RmsState {
            square_avg: buffers.required("square_avg")?,
            grad_avg: buffers.optional("grad_avg")?,
            momentum_buffer: buffers.optional("momentum_buffer")?,
        })
    }
}
