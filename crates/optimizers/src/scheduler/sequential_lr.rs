//! SequentialLR: run schedules one after another.

use super::{LrScheduler, SchedulerState, attached};
use crate::{OptimError, Optimizer};

/// Runs `schedulers[0]` until `milestones[0]`, then `schedulers[1]` restarted at its epoch 0
/// (closed form), and so on (PyTorch's `SequentialLR`). The classic use is warm-up then
/// decay:
///
/// ```
/// use gradflow_optimizers::{CosineAnnealingLr, LinearLr, LrScheduler, Optimizer, SequentialLr, Sgd, SgdConfig};
/// let mut opt = Sgd::new(&[], SgdConfig { lr: 0.1, ..SgdConfig::default() }).unwrap();
/// let warmup = LinearLr::new(&mut opt, 0.1, 1.0, 5).unwrap();
/// let cosine = CosineAnnealingLr::new(&mut opt, 35, 1e-3).unwrap();
/// let mut s = SequentialLr::new(&mut opt, vec![Box::new(warmup), Box::new(cosine)], &[5]).unwrap();
/// assert!((opt.lr() - 0.01).abs() < 1e-12); // the warm-up's lr₀
/// for _ in 0..5 { s.step(&mut opt); }
/// assert!((opt.lr() - 0.1).abs() < 1e-12); // the cosine starts at the base lr
/// ```
///
/// Every child is built on the same optimizer, as in PyTorch, and starts from its pinned
/// [`initial_lr`](Optimizer::initial_lr), so no child is given a base lr. Before its
/// milestone a child's own recursion only ever sees its own output, so children are
/// independent values here.
pub struct SequentialLr {
    schedulers: Vec<Box<dyn LrScheduler>>,
    milestones: Vec<usize>,
    last_epoch: usize,
}

impl SequentialLr {
    /// Chain `schedulers` (built on `opt`), switching at `milestones` (one fewer than
    /// schedulers, increasing); writes the first child's lr₀ into `opt`, replacing what the
    /// later children wrote when they were built (PyTorch's `SequentialLR` does the same).
    ///
    /// # Errors
    /// If the counts do not fit or the milestones are not strictly increasing.
    pub fn new(
        opt: &mut dyn Optimizer,
        schedulers: Vec<Box<dyn LrScheduler>>,
        milestones: &[usize],
    ) -> Result<Self, OptimError> {
        if schedulers.is_empty() || milestones.len() + 1 != schedulers.len() {
            return Err(OptimError::CountMismatch {
                what: "scheduler",
                expected: schedulers.len().saturating_sub(1),
                found: milestones.len(),
            });
        }
        let increasing = milestones.windows(2).all(|w| w[0] < w[1]);
        crate::error::check(
            increasing,
            "SequentialLR",
            "milestones",
            milestones.first().copied().unwrap_or(0) as f64,
            "must be strictly increasing",
        )?;
        let mut schedulers = schedulers;
        schedulers[0].reset_to(0);
        let s = SequentialLr {
            schedulers,
            milestones: milestones.to_vec(),
            last_epoch: 0,
        };
        Ok(attached(s, opt))
    }

    fn current(&self) -> usize {
        self.milestones.partition_point(|&m| m <= self.last_epoch)
    }
}

impl LrScheduler for SequentialLr {
    fn name(&self) -> &'static str {
        "SequentialLR"
    }

    fn lr(&self) -> f64 {
        self.schedulers[self.current()].lr()
    }

    fn momentum(&self) -> Option<f64> {
        self.schedulers[self.current()].momentum()
    }

    fn last_epoch(&self) -> usize {
        self.last_epoch
    }

    fn advance(&mut self) {
        self.last_epoch += 1;
        let idx = self.current();
        if idx > 0 && self.milestones[idx - 1] == self.last_epoch {
            self.schedulers[idx].reset_to(0);
        } else {
            self.schedulers[idx].advance();
        }
    }

    fn reset_to(&mut self, epoch: usize) {
        self.last_epoch = epoch;
        let idx = self.current();
        let start = if idx > 0 { self.milestones[idx - 1] } else { 0 };
        self.schedulers[idx].reset_to(epoch - start);
    }

    fn state_dict(&self) -> SchedulerState {
        SchedulerState {
            scheduler: "SequentialLR".into(),
            last_epoch: self.last_epoch,
            lr: self.lr(),
            children: self.schedulers.iter().map(|s| s.state_dict()).collect(),
        }
    }

    fn load_state_dict(&mut self, state: &SchedulerState) -> Result<(), OptimError> {
        let (e, _) = state.expect("SequentialLR")?;
        if state.children.len() != self.schedulers.len() {
            return Err(OptimError::CountMismatch {
                what: "scheduler",
                expected: self.schedulers.len(),
                found: state.children.len(),
            });
        }
        // Validate every child first so that a failure changes nothing.
        for (s, cs) in self.schedulers.iter().zip(&state.children) {
            cs.expect(s.name())?;
        }
        for (s, cs) in self.schedulers.iter_mut().zip(&state.children) {
            s.load_state_dict(cs)?;
        }
        self.last_epoch = e;
        Ok(())
    }
}
