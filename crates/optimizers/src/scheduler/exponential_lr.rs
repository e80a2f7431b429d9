//! ExponentialLR: decay by γ every step.

use super::{LrScheduler, simple_state};
use crate::OptimError;
use crate::error::check;

/// lrₑ = lr₀ · γᵉ (PyTorch's `ExponentialLR`; recursively lr ← γ·lr).
///
/// ```
/// use gradflow_optimizers::{ExponentialLr, LrScheduler};
/// let mut s = ExponentialLr::new(1.0, 0.5).unwrap();
/// s.advance();
/// s.advance();
/// assert_eq!(s.lr(), 0.25);
/// ```
#[derive(Debug, Clone)]
pub struct ExponentialLr {
    base_lr: f64,
    gamma: f64,
    lr: f64,
    last_epoch: usize,
}

impl ExponentialLr {
    /// Start at `base_lr`.
    ///
    /// # Errors
    /// If γ is negative.
    pub fn new(base_lr: f64, gamma: f64) -> Result<Self, OptimError> {
        check(
            gamma >= 0.0,
            "ExponentialLR",
            "gamma",
            gamma,
            "must be >= 0",
        )?;
        Ok(ExponentialLr {
            base_lr,
            gamma,
            lr: base_lr,
            last_epoch: 0,
        })
    }
}

impl LrScheduler for ExponentialLr {
    simple_state!("ExponentialLR");

    fn advance(&mut self) {
        self.last_epoch += 1;
        self.lr *= self.gamma;
    }

    fn reset_to(&mut self, epoch: usize) {
        self.last_epoch = epoch;
        self.lr = self.base_lr * self.gamma.powi(epoch as i32);
    }
}
