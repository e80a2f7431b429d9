//! LinearLR: linear warm-up (or cool-down) of the learning-rate factor.

use super::{LrScheduler, attached, base_lr, simple_state};
use crate::error::check;
use crate::{OptimError, Optimizer};

/// The factor goes linearly from `start_factor` to `end_factor` over `total_iters` steps and
/// then stays (PyTorch's `LinearLR`; the usual warm-up is start 0.1 or 1/3, end 1):
///
/// closed form  lrₑ = lr₀·(s + (f − s)·min(e, T)/T),
///
/// recursively lrₑ = lrₑ₋₁·(1 + (f − s)/(T·s + (e − 1)(f − s))) for 0 < e ≤ T.
///
/// ```
/// use gradflow_optimizers::{LinearLr, LrScheduler, Sgd, SgdConfig};
/// let mut opt = Sgd::new(&[], SgdConfig { lr: 1.0, ..SgdConfig::default() }).unwrap();
/// let mut s = LinearLr::new(&mut opt, 0.25, 1.0, 3).unwrap();
/// let lrs: Vec<f64> = (0..5).map(|_| { let l = s.lr(); s.advance(); l }).collect();
/// for (a, b) in lrs.iter().zip([0.25, 0.5, 0.75, 1.0, 1.0]) { assert!((a - b).abs() < 1e-12); }
/// ```
#[derive(Debug, Clone)]
pub struct LinearLr {
    base_lr: f64,
    start_factor: f64,
    end_factor: f64,
    total_iters: usize,
    lr: f64,
    last_epoch: usize,
}

impl LinearLr {
    /// Scale `opt`'s base lr, starting at base·`start_factor`.
    ///
    /// # Errors
    /// If `start_factor` ∉ (0, 1] or `end_factor` ∉ [0, 1] (PyTorch's limits; then `opt` is
    /// unchanged).
    pub fn new(
        opt: &mut dyn Optimizer,
        start_factor: f64,
        end_factor: f64,
        total_iters: usize,
    ) -> Result<Self, OptimError> {
        check(
            start_factor > 0.0 && start_factor <= 1.0,
            "LinearLR",
            "start_factor",
            start_factor,
            "must be in (0, 1]",
        )?;
        check(
            (0.0..=1.0).contains(&end_factor),
            "LinearLR",
            "end_factor",
            end_factor,
            "must be in [0, 1]",
        )?;
        let base_lr = base_lr(opt);
        let s = LinearLr {
            base_lr,
            start_factor,
            end_factor,
            total_iters,
            lr: base_lr * start_factor,
            last_epoch: 0,
        };
        Ok(attached(s, opt))
    }
}

impl LrScheduler for LinearLr {
    simple_state!("LinearLR");

    fn advance(&mut self) {
        self.last_epoch += 1;
        let e = self.last_epoch;
        if e > self.total_iters {
            return;
        }
        let (s, f) = (self.start_factor, self.end_factor);
        self.lr *= 1.0 + (f - s) / (self.total_iters as f64 * s + (e as f64 - 1.0) * (f - s));
    }

    fn reset_to(&mut self, epoch: usize) {
        self.last_epoch = epoch;
        let (s, f) = (self.start_factor, self.end_factor);
        let frac = if self.total_iters == 0 {
            1.0
        } else {
            epoch.min(self.total_iters) as f64 / self.total_iters as f64
        };
        self.lr = self.base_lr * (s + (f - s) * frac);
    }
}
