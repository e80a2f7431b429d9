//! ExponentialLR: decay by γ every step.

use super::{LrScheduler, attached, base_lr, simple_state};
use crate::error::check;
use crate::{OptimError, Optimizer};

/// lrₑ = lr₀ · γᵉ (PyTorch's `ExponentialLR`; recursively lr ← γ·lr).
///
/// ```
/// use gradflow_optimizers::{ExponentialLr, LrScheduler, Sgd, SgdConfig};
/// let mut opt = Sgd::new(&[], SgdConfig { lr: 1.0, ..SgdConfig::default() }).unwrap();
/// let mut s = ExponentialLr::new(&mut opt, 0.5).unwrap();
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
    /// Decay `opt`'s lr every step, starting at its base lr.
    ///
    /// # Errors
    /// If γ is negative (then `opt` is unchanged).
    pub fn new(opt: &mut dyn Optimizer, gamma: f64) -> Result<Self, OptimError> {
        check(
            gamma >= 0.0,
            "ExponentialLR",
            "gamma",
            gamma,
            "must be >= 0",
        )?;
        let base_lr = base_lr(opt);
        let s = ExponentialLr {
            base_lr,
            gamma,
            lr: base_lr,
            last_epoch: 0,
        };
        Ok(attached(s, opt))
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
