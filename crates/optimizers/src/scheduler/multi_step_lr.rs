//! MultiStepLR: decay by γ at given milestones.

use super::{LrScheduler, attached, base_lr, simple_state};
use crate::error::check;
use crate::{OptimError, Optimizer};

/// lrₑ = lr₀ · γ^(number of milestones ≤ e) (PyTorch's `MultiStepLR`; a milestone listed
/// twice decays twice).
///
/// ```
/// use gradflow_optimizers::{LrScheduler, MultiStepLr, Sgd, SgdConfig};
/// let mut opt = Sgd::new(&[], SgdConfig { lr: 1.0, ..SgdConfig::default() }).unwrap();
/// let mut s = MultiStepLr::new(&mut opt, &[2, 4], 0.5).unwrap();
/// let lrs: Vec<f64> = (0..5).map(|_| { let l = s.lr(); s.advance(); l }).collect();
/// assert_eq!(lrs, vec![1.0, 1.0, 0.5, 0.5, 0.25]);
/// ```
#[derive(Debug, Clone)]
pub struct MultiStepLr {
    base_lr: f64,
    milestones: Vec<usize>,
    gamma: f64,
    lr: f64,
    last_epoch: usize,
}

impl MultiStepLr {
    /// Decay `opt`'s lr at `milestones` (in any order), starting at its base lr.
    ///
    /// # Errors
    /// If γ is negative (then `opt` is unchanged).
    pub fn new(
        opt: &mut dyn Optimizer,
        milestones: &[usize],
        gamma: f64,
    ) -> Result<Self, OptimError> {
        check(gamma >= 0.0, "MultiStepLR", "gamma", gamma, "must be >= 0")?;
        let mut milestones = milestones.to_vec();
        milestones.sort_unstable();
        let base_lr = base_lr(opt);
        let s = MultiStepLr {
            base_lr,
            milestones,
            gamma,
            lr: base_lr,
            last_epoch: 0,
        };
        Ok(attached(s, opt))
    }
}

impl LrScheduler for MultiStepLr {
    simple_state!("MultiStepLR");

    fn advance(&mut self) {
        self.last_epoch += 1;
        let hits = self
            .milestones
            .iter()
            .filter(|&&m| m == self.last_epoch)
            .count();
        if hits > 0 {
            self.lr *= self.gamma.powi(hits as i32);
        }
    }

    fn reset_to(&mut self, epoch: usize) {
        self.last_epoch = epoch;
        let passed = self.milestones.partition_point(|&m| m <= epoch);
        self.lr = self.base_lr * self.gamma.powi(passed as i32);
    }
}
