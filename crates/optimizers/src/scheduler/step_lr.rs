//! StepLR: decay by γ every `step_size` steps.

use super::{LrScheduler, attached, base_lr, simple_state};
use crate::error::check;
use crate::{OptimError, Optimizer};

/// lrₑ = lr₀ · γ^⌊e / step_size⌋ (PyTorch's `StepLR`; the recursive form multiplies by γ
/// whenever e is a positive multiple of `step_size`).
///
/// ```
/// use gradflow_optimizers::{LrScheduler, Sgd, SgdConfig, StepLr};
/// let mut opt = Sgd::new(&[], SgdConfig { lr: 1.0, ..SgdConfig::default() }).unwrap();
/// let mut s = StepLr::new(&mut opt, 3, 0.1).unwrap();
/// for _ in 0..3 { s.advance(); }
/// assert!((s.lr() - 0.1).abs() < 1e-15);
/// ```
#[derive(Debug, Clone)]
pub struct StepLr {
    base_lr: f64,
    step_size: usize,
    gamma: f64,
    lr: f64,
    last_epoch: usize,
}

impl StepLr {
    /// Decay `opt`'s lr, starting at its base lr (written into `opt`).
    ///
    /// # Errors
    /// If `step_size` is 0 or γ is negative (then `opt` is unchanged).
    pub fn new(opt: &mut dyn Optimizer, step_size: usize, gamma: f64) -> Result<Self, OptimError> {
        check(
            step_size > 0,
            "StepLR",
            "step_size",
            step_size as f64,
            "must be > 0",
        )?;
        check(gamma >= 0.0, "StepLR", "gamma", gamma, "must be >= 0")?;
        let base_lr = base_lr(opt);
        let s = StepLr {
            base_lr,
            step_size,
            gamma,
            lr: base_lr,
            last_epoch: 0,
        };
        Ok(attached(s, opt))
    }
}

impl LrScheduler for StepLr {
    simple_state!("StepLR");

    fn advance(&mut self) {
        self.last_epoch += 1;
        if self.last_epoch.is_multiple_of(self.step_size) {
            self.lr *= self.gamma;
        }
    }

    fn reset_to(&mut self, epoch: usize) {
        self.last_epoch = epoch;
        self.lr = self.base_lr * self.gamma.powi((epoch / self.step_size) as i32);
    }
}
