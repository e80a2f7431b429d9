//! The one optimizer engine: parameters, learning rate, per-parameter state, save/load and the
//! gradient-to-update loop, generic over an [`UpdateRule`].

use std::collections::BTreeMap;

use gradflow_tensor::Tensor;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{OptimError, Optimizer, OptimizerState, ParamState};

/// The math of one optimizer: its hyperparameters (the implementing type, e.g.
/// [`SgdConfig`](crate::SgdConfig)), its per-parameter state and its update kernel.
///
/// [`Engine`] does everything else, once for every rule: it keeps the parameters and their
/// step counts, skips parameters without a gradient, hands the kernel the contiguous weights
/// and gradient of each parameter, and saves and restores the state. A new optimizer is one
/// impl, e.g. signSGD (θ ← θ − η·sign(g), Bernstein et al. 2018):
///
/// ```
/// use gradflow_optimizers::{Buffers, Engine, OptimError, Optimizer, Scheduled, UpdateRule};
/// use gradflow_tensor::Tensor;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Clone, Copy, Serialize, Deserialize)]
/// struct SignSgd { lr: f64 }
///
/// impl UpdateRule for SignSgd {
///     type State = ();
///     fn name(&self) -> &'static str { "SignSGD" }
///     fn validate(&self) -> Result<(), OptimError> { Ok(()) }
///     fn scheduled(&mut self) -> Scheduled<'_> {
///         Scheduled { lr: &mut self.lr, momentum: None }
///     }
///     fn init_state(&self, _numel: usize) {}
///     fn update(&self, _state: &mut (), _step: u64, w: &mut [f32], g: &[f32]) {
///         for (w, g) in w.iter_mut().zip(g) {
///             *w -= self.lr as f32 * g.signum();
///         }
///     }
///     fn save(_state: &()) -> Vec<(&'static str, &[f32])> { Vec::new() }
///     fn load(_buffers: &Buffers<'_>) -> Result<(), OptimError> { Ok(()) }
/// }
///
/// let w = Tensor::from_vec(vec![1.0, 1.0], &[2]).requires_grad_();
/// let mut opt = Engine::<SignSgd>::new(&[w.clone()], SignSgd { lr: 0.25 }).unwrap();
/// w.set_grad(Some(Tensor::from_vec(vec![-1e-9, 30.0], &[2])));
/// opt.step();
/// assert_eq!(w.to_vec(), vec![1.25, 0.75]);
/// ```
pub trait UpdateRule: Copy + Serialize + DeserializeOwned {
    /// What the rule keeps for one parameter (moment buffers), created at its first update.
    type State: Clone;

    /// The optimizer kind written into [`OptimizerState::optimizer`] (PyTorch's class name).
    fn name(&self) -> &'static str;

    /// Check the hyperparameters (PyTorch raises `ValueError` for the same ones).
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] naming the first bad one.
    fn validate(&self) -> Result<(), OptimError>;

    /// The hyperparameters a scheduler writes: η and, if the rule has one, the coefficient
    /// [`Optimizer::momentum`] exposes (SGD's and RMSProp's μ, EMA's β, Adam's β₁).
    fn scheduled(&mut self) -> Scheduled<'_>;

    /// The state of a parameter with `numel` elements before its first update.
    fn init_state(&self, numel: usize) -> Self::State;

    /// One update of one parameter: `w` its elements, `g` its gradient (same length), `step`
    /// the 1-based count of updates including this one.
    fn update(&self, state: &mut Self::State, step: u64, w: &mut [f32], g: &[f32]);

    /// The named buffers of `state`, for [`ParamState::buffers`].
    fn save(state: &Self::State) -> Vec<(&'static str, &[f32])>;

    /// Rebuild a state from saved buffers.
    ///
    /// # Errors
    /// [`OptimError::BufferMismatch`] when a buffer is missing or has the wrong length.
    fn load(buffers: &Buffers<'_>) -> Result<Self::State, OptimError>;
}

/// Mutable views of the hyperparameters a scheduler changes (see
/// [`UpdateRule::scheduled`]).
pub struct Scheduled<'a> {
    /// The learning rate η.
    pub lr: &'a mut f64,
    /// The momentum-like coefficient, `None` for rules without one (Adagrad).
    pub momentum: Option<&'a mut f64>,
}

/// The saved buffers of one parameter, checked against its element count while loading.
pub struct Buffers<'a> {
    index: usize,
    numel: usize,
    buffers: &'a BTreeMap<String, Vec<f32>>,
}

impl Buffers<'_> {
    /// The buffer `name`, which must exist with the parameter's element count.
    ///
    /// # Errors
    /// [`OptimError::BufferMismatch`] when it is missing or has another length.
    pub fn required(&self, name: &str) -> Result<Vec<f32>, OptimError> {
        match self.buffers.get(name) {
            Some(b) if b.len() == self.numel => Ok(b.clone()),
            other => Err(OptimError::BufferMismatch {
                index: self.index,
                buffer: name.to_string(),
                expected: self.numel,
                found: other.map_or(0, Vec::len),
            }),
        }
    }

    /// The buffer `name` if saved (buffers that only some settings create).
    ///
    /// # Errors
    /// [`OptimError::BufferMismatch`] when it has another length.
    pub fn optional(&self, name: &str) -> Result<Option<Vec<f32>>, OptimError> {
        if self.buffers.contains_key(name) {
            self.required(name).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// A parameter's update count and rule state.
#[derive(Clone)]
struct Slot<S> {
    step: u64,
    state: S,
}

/// An optimizer over a fixed list of parameters running the rule `R` (PyTorch's
/// `torch.optim.Optimizer` with one parameter group). The public optimizers are this type:
/// [`Sgd`](crate::Sgd) is `Engine<SgdConfig>`, [`Adam`](crate::Adam) is
/// `Engine<AdamConfig>`, and so on.
///
/// For every parameter with a gradient, [`step`](Optimizer::step) counts the update and runs
/// the rule's kernel on the contiguous weights, reading the gradient in place (no copy).
/// Parameters without a gradient are skipped and their state does not advance, as in PyTorch.
pub struct Engine<R: UpdateRule> {
    params: Vec<Tensor>,
    rule: R,
    initial_lr: Option<f64>,
    state: Vec<Option<Slot<R::State>>>,
}

impl<R: UpdateRule> Engine<R> {
    /// The optimizer over `params` (cloned handles: it updates the same storage), with the
    /// hyperparameters `config` (for [`AdamW`](crate::AdamW), an
    /// [`AdamWConfig`](crate::AdamWConfig) converts into the Adam rule).
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperparameter`] for settings PyTorch rejects (see each config).
    pub fn new(params: &[Tensor], config: impl Into<R>) -> Result<Self, OptimError> {
        let rule = config.into();
        rule.validate()?;
        Ok(Engine {
            params: params.to_vec(),
            rule,
            initial_lr: None,
            state: vec![None; params.len()],
        })
    }

    /// The hyperparameters, including the current lr.
    pub fn config(&self) -> &R {
        &self.rule
    }
}

impl<R: UpdateRule> Optimizer for Engine<R> {
    fn step(&mut self) {
        for (p, slot) in self.params.iter().zip(&mut self.state) {
            let Some(g) = p.grad() else { continue };
            let slot = slot.get_or_insert_with(|| Slot {
                step: 0,
                state: self.rule.init_state(p.numel()),
            });
            slot.step += 1;
            let (rule, step, st) = (&self.rule, slot.step, &mut slot.state);
            if g.shares_storage(p) {
                // A gradient that aliases its parameter cannot be read while the parameter is
                // written: copy it first.
                let g = g.to_vec();
                p.update_data(|w| rule.update(st, step, w, &g));
            } else {
                g.with_data(|g| p.update_data(|w| rule.update(st, step, w, g)));
            }
        }
    }

    fn params(&self) -> &[Tensor] {
        &self.params
    }

    fn lr(&self) -> f64 {
        // The rules are small `Copy` structs: read through a copy.
        let mut rule = self.rule;
        *rule.scheduled().lr
    }

    fn set_lr(&mut self, lr: f64) {
        *self.rule.scheduled().lr = lr;
    }

    fn initial_lr(&self) -> Option<f64> {
        self.initial_lr
    }

    fn set_initial_lr(&mut self, lr: f64) {
        self.initial_lr = Some(lr);
    }

    fn momentum(&self) -> Option<f64> {
        let mut rule = self.rule;
        rule.scheduled().momentum.map(|m| *m)
    }

    fn set_momentum(&mut self, momentum: f64) {
        let name = self.rule.name();
        match self.rule.scheduled().momentum {
            Some(m) => *m = momentum,
            None => panic!(
                "set_momentum({momentum}): {name} has no momentum to cycle; disable \
                 cycle_momentum in the scheduler"
            ),
        }
    }

    fn state_dict(&self) -> OptimizerState {
        OptimizerState {
            optimizer: self.rule.name().into(),
            // A config of plain numbers and booleans always serializes.
            hyperparameters: serde_json::to_value(self.rule).unwrap_or(serde_json::Value::Null),
            initial_lr: self.initial_lr,
            state: self
                .state
                .iter()
                .map(|s| {
                    s.as_ref().map(|s| ParamState {
                        step: s.step,
                        buffers: R::save(&s.state)
                            .into_iter()
                            .map(|(name, b)| (name.to_string(), b.to_vec()))
                            .collect(),
                    })
                })
                .collect(),
        }
    }

    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<(), OptimError> {
        let wrong_kind = || OptimError::WrongKind {
            expected: self.rule.name(),
            found: state.optimizer.clone(),
        };
        if state.optimizer != self.rule.name() {
            return Err(wrong_kind());
        }
        let rule = R::deserialize(&state.hyperparameters).map_err(OptimError::Hyperparameters)?;
        // (Adam's kind depends on its decoupled-decay flag.)
        if rule.name() != self.rule.name() {
            return Err(wrong_kind());
        }
        rule.validate()?;
        if state.state.len() != self.params.len() {
            return Err(OptimError::CountMismatch {
                what: "optimizer",
                expected: self.params.len(),
                found: state.state.len(),
            });
        }
        let slots = state
            .state
            .iter()
            .zip(&self.params)
            .enumerate()
            .map(|(index, (s, p))| {
                s.as_ref()
                    .map(|s| {
                        let buffers = Buffers {
                            index,
                            numel: p.numel(),
                            buffers: &s.buffers,
                        };
                        Ok(Slot {
                            step: s.step,
                            state: R::load(&buffers)?,
                        })
                    })
                    .transpose()
            })
            .collect::<Result<Vec<_>, OptimError>>()?;
        self.rule = rule;
        self.state = slots;
        if state.initial_lr.is_some() {
            self.initial_lr = state.initial_lr;
        }
        Ok(())
    }
}

/// a·b + c rounded once: the CPU's instruction when `HW` (only inside a kernel run by
/// [`gradflow_tensor::simd_dispatch`] after [`gradflow_tensor::has_avx2_fma`]), else
/// [`gradflow_tensor::math::fma`]'s emulation. Both give the same bits.
#[inline(always)]
pub(crate) fn fused<const HW: bool>(a: f32, b: f32, c: f32) -> f32 {
    if HW {
        a.mul_add(b, c)
    } else {
        gradflow_tensor::math::fma(a, b, c)
    }
}

/// PyTorch's `torch.lerp(a, b, w)` for one element, as its vectorized CPU kernel computes
/// it: fma(w, b − a, a) when |w| < ½, else fma(w − 1, b − a, b) (exact at both ends). Adam's
/// first moment and centered RMSProp's gradient average use it.
#[inline]
pub(crate) fn lerp(a: f32, b: f32, w: f32) -> f32 {
    use gradflow_tensor::math::fma;
    if w.abs() < 0.5 {
        fma(w, b - a, a)
    } else {
        fma(w - 1.0, b - a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Sgd, SgdConfig};

    #[test]
    fn lerp_is_exact_at_both_ends() {
        for (a, b) in [(0.3f32, -7.0f32), (1e-20, 3.5), (-2.0, -2.0)] {
            assert_eq!(lerp(a, b, 0.0), a);
            assert_eq!(lerp(a, b, 1.0), b);
        }
    }

    #[test]
    fn params_without_grad_are_skipped() {
        let w = Tensor::from_vec(vec![1.0], &[1]).requires_grad_();
        let mut opt = Sgd::new(std::slice::from_ref(&w), SgdConfig::default()).unwrap();
        opt.step();
        assert_eq!(w.item(), 1.0);
        assert!(opt.state_dict().state[0].is_none());
    }

    #[test]
    fn a_gradient_aliasing_its_parameter_is_copied_first() {
        // w ← w − 0.5·w: the kernel must read the old w as the gradient.
        let w = Tensor::from_vec(vec![2.0, -4.0], &[2]).requires_grad_();
        w.set_grad(Some(w.detach()));
        let cfg = SgdConfig {
            lr: 0.5,
            ..SgdConfig::default()
        };
        let mut opt = Sgd::new(std::slice::from_ref(&w), cfg).unwrap();
        // (Whether or not `set_grad` keeps the storage shared, the step must not deadlock and
        // must use the old values.)
        opt.step();
        assert_eq!(w.to_vec(), vec![1.0, -2.0]);
    }
}
