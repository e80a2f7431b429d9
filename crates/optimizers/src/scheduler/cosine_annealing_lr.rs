//! CosineAnnealingLR.

use std::f64::consts::PI;

use super::{LrScheduler, attached, base_lr, simple_state};
use crate::error::check;
use crate::{OptimError, Optimizer};

/// Cosine annealing from lr₀ down to η_min over T_max steps (Loshchilov & Hutter 2017,
/// without restarts), PyTorch's `CosineAnnealingLR`:
///
/// closed form  lrₑ = η_min + (lr₀ − η_min)·(1 + cos(πe/T_max))/2,
///
/// computed, as PyTorch's `step()` does, recursively:
///
/// ```text
/// lrₑ = η_min + (lrₑ₋₁ − η_min) · (1 + cos(πe/T)) / (1 + cos(π(e−1)/T))
/// lrₑ = lrₑ₋₁ + (lr₀ − η_min)(1 − cos(π/T))/2          when (e − 1 − T) mod 2T = 0
/// ```
///
/// Past T_max the recursion climbs back up (a cosine of period 2·T_max), as in PyTorch.
///
/// ```
/// use gradflow_optimizers::{CosineAnnealingLr, LrScheduler, Sgd, SgdConfig};
/// let mut opt = Sgd::new(&[], SgdConfig { lr: 1.0, ..SgdConfig::default() }).unwrap();
/// let mut s = CosineAnnealingLr::new(&mut opt, 10, 0.0).unwrap();
/// for _ in 0..5 { s.advance(); }
/// assert!((s.lr() - 0.5).abs() < 1e-12); // halfway
/// ```
#[derive(Debug, Clone)]
pub struct CosineAnnealingLr {
    base_lr: f64,
    t_max: usize,
    eta_min: f64,
    lr: f64,
    last_epoch: usize,
}

impl CosineAnnealingLr {
    /// Anneal `opt`'s lr from its base lr to `eta_min` in `t_max` steps.
    ///
    /// # Errors
    /// If `t_max` is 0 (then `opt` is unchanged).
    pub fn new(opt: &mut dyn Optimizer, t_max: usize, eta_min: f64) -> Result<Self, OptimError> {
        check(
            t_max > 0,
            "CosineAnnealingLR",
            "T_max",
            t_max as f64,
            "must be > 0",
        )?;
        let base_lr = base_lr(opt);
        let s = CosineAnnealingLr {
            base_lr,
            t_max,
            eta_min,
            lr: base_lr,
            last_epoch: 0,
        };
        Ok(attached(s, opt))
    }
}

impl LrScheduler for CosineAnnealingLr {
    simple_state!("CosineAnnealingLR");

    fn advance(&mut self) {
        self.last_epoch += 1;
        let e = self.last_epoch as i64;
        let t = self.t_max as i64;
        let tf = self.t_max as f64;
        if (e - 1 - t).rem_euclid(2 * t) == 0 {
            self.lr += (self.base_lr - self.eta_min) * (1.0 - (PI / tf).cos()) / 2.0;
        } else {
            let ef = e as f64;
            self.lr = (1.0 + (PI * ef / tf).cos()) / (1.0 + (PI * (ef - 1.0) / tf).cos())
                * (self.lr - self.eta_min)
                + self.eta_min;
        }
    }

    fn reset_to(&mut self, epoch: usize) {
        self.last_epoch = epoch;
        self.lr = self.eta_min
            + (self.base_lr - self.eta_min) * (1.0 + (PI * epoch as f64 / self.t_max as f64).cos())
                / 2.0;
    }
}
