//! StepLR: decay by γ every `step_size` steps.

use super::{LrScheduler, simple_state};
use crate::OptimError;
use crate::error::check;

/// lrₑ = lr₀ · γ^⌊e / step_size⌋ (PyTorch's `StepLR`; the recursive form multiplies by γ
/// whenever e is a positive multiple of `step_size`).
///
/// ```
/// use gradflow_optimizers::{LrScheduler, StepLr};
/// let mut s = StepLr::new(1.0, 3, 0.1).unwrap();
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
    /// Start at `base_lr`.
    ///
    /// # Errors
    /// If `step_size` is 0 or γ is negative.
    pub fn new(base_lr: f64, step_size: usize, gamma: f64) -> Result<Self, OptimError> {
        check(
            step_size > 0,
            "StepLR",
            "step_size",
            step_size as f64,
            "must be > 0",
        )?;
        check(gamma >= 0.0, "StepLR", "gamma", gamma, "must be >= 0")?;
        Ok(StepLr {
            base_lr,
            step_size,
            gamma,
            lr: base_lr,
            last_epoch: 0,
        })
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
