//! The [`Optimizer`] trait and the serializable optimizer state.

use std::collections::BTreeMap;

use gradflow_tensor::Tensor;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

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
/// update runs in f32 on the contiguous data of each parameter.
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

impl ParamState {
    pub(crate) fn new(step: u64) -> Self {
        ParamState {
            step,
            buffers: BTreeMap::new(),
        }
    }

    pub(crate) fn with(mut self, name: &str, buffer: &[f32]) -> Self {
        self.buffers.insert(name.to_string(), buffer.to_vec());
        self
    }

    pub(crate) fn with_opt(self, name: &str, buffer: Option<&Vec<f32>>) -> Self {
        match buffer {
            Some(b) => self.with(name, b),
            None => self,
        }
    }

    /// The buffer `name`, checked to have `numel` elements.
    pub(crate) fn buffer(
        &self,
        index: usize,
        name: &str,
        numel: usize,
    ) -> Result<Vec<f32>, OptimError> {
        match self.buffers.get(name) {
            Some(b) if b.len() == numel => Ok(b.clone()),
            other => Err(OptimError::BufferMismatch {
                index,
                buffer: name.to_string(),
                expected: numel,
                found: other.map_or(0, Vec::len),
            }),
        }
    }

    /// The buffer `name` if present, checked to have `numel` elements.
    pub(crate) fn optional_buffer(
        &self,
        index: usize,
        name: &str,
        numel: usize,
    ) -> Result<Option<Vec<f32>>, OptimError> {
        if self.buffers.contains_key(name) {
            self.buffer(index, name, numel).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Check the kind and parameter count of a state and decode its hyperparameters.
pub(crate) fn decode_state<C: DeserializeOwned>(
    state: &OptimizerState,
    kind: &'static str,
    n_params: usize,
) -> Result<C, OptimError> {
    if state.optimizer != kind {
        return Err(OptimError::WrongKind {
            expected: kind,
            found: state.optimizer.clone(),
        });
    }
    if state.state.len() != n_params {
        return Err(OptimError::CountMismatch {
            what: "optimizer",
            expected: n_params,
            found: state.state.len(),
        });
    }
    C::deserialize(&state.hyperparameters).map_err(OptimError::Hyperparameters)
}

/// The configuration as JSON for [`OptimizerState::hyperparameters`].
pub(crate) fn encode_config<C: Serialize>(config: &C) -> serde_json::Value {
    // A config of plain numbers and booleans always serializes.
    serde_json::to_value(config).unwrap_or(serde_json::Value::Null)
}

/// Decode every parameter's state with `f`, all or nothing.
pub(crate) fn decode_params<S>(
    state: &OptimizerState,
    params: &[Tensor],
    mut f: impl FnMut(usize, &ParamState, usize) -> Result<S, OptimError>,
) -> Result<Vec<Option<S>>, OptimError> {
    state
        .state
        .iter()
        .zip(params)
        .enumerate()
        .map(|(i, (s, p))| s.as_ref().map(|s| f(i, s, p.numel())).transpose())
        .collect()
}

/// a·b + c with a single rounding (IEEE fused multiply-add), what PyTorch's CPU kernels compute
/// for `x.add(y, alpha=a)`.
///
/// `f32::mul_add` is a libm call on x86-64 builds without the `fma` target feature (several ns
/// per element), so we compute in f64 instead: a·b is exact in f64 (24 + 24 < 53 bits), and
/// rounding s = a·b + c first to f64 and then to f32 equals rounding s once to f32 unless the
/// f64 value lands exactly on a midpoint between two f32 (low 29 bits = `0x1000_0000`) or in
/// the f32 subnormal range; those rare cases take the exact `mul_add` path (musl's `fmaf`
/// argument).
#[inline]
pub(crate) fn fma(a: f32, b: f32, c: f32) -> f32 {
    if cfg!(target_feature = "fma") {
        return a.mul_add(b, c);
    }
    let r = f64::from(a) * f64::from(b) + f64::from(c);
    if r.to_bits() & 0x1fff_ffff == 0x1000_0000 || r.abs() < f64::from(f32::MIN_POSITIVE) {
        a.mul_add(b, c)
    } else {
        r as f32
    }
}

/// PyTorch's `torch.lerp(a, b, w)` for one element, as its vectorized CPU kernel computes
/// it: fma(w, b − a, a) when |w| < ½, else fma(w − 1, b − a, b) (exact at both ends).
#[inline]
pub(crate) fn lerp(a: f32, b: f32, w: f32) -> f32 {
    if w.abs() < 0.5 {
        fma(w, b - a, a)
    } else {
        fma(w - 1.0, b - a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fma_matches_mul_add_on_hard_cases() {
        // Halfway and subnormal cases that a plain f64 evaluation would double-round.
        let cases = [
            (1.0 + f32::EPSILON, 1.0 - f32::EPSILON / 2.0, -1.0),
            (f32::MIN_POSITIVE, 0.5, f32::MIN_POSITIVE / 3.0),
            (3.0, 1.0 / 3.0, -1.0),
            (f32::MAX, 2.0, -f32::MAX),
            (1e-20, 1e-20, 0.0),
            (0.1, 0.7, 1e8),
        ];
        for (a, b, c) in cases {
            assert_eq!(
                fma(a, b, c).to_bits(),
                a.mul_add(b, c).to_bits(),
                "fma({a}, {b}, {c})"
            );
        }
        // A deterministic sweep over many bit patterns.
        let mut x: u32 = 0x1234_5678;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            f32::from_bits(x)
        };
        for _ in 0..200_000 {
            let (a, b, c) = (next(), next(), next());
            let (f, m) = (fma(a, b, c), a.mul_add(b, c));
            assert!(
                f.to_bits() == m.to_bits() || (f.is_nan() && m.is_nan()),
                "fma({a}, {b}, {c}): {f} vs {m}"
            );
        }
    }
}
