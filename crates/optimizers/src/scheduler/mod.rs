//! Learning-rate schedulers with PyTorch's semantics.
//!
//! A scheduler is a sequence of learning rates lr₀, lr₁, …. As in PyTorch, a scheduler is
//! built on its optimizer: the constructor reads the base lr from it and writes lr₀ (and
//! OneCycle's momentum) into it, so the very first `optimizer.step()` already runs at the
//! scheduled rate. Each [`step`](LrScheduler::step) (called once after each
//! `optimizer.step()`) moves to the next value and writes it into the optimizer. The values
//! are computed in f64 with the same recursive ("chainable") formulas PyTorch's `step()`
//! uses, so they match PyTorch's to the last few bits.
//!
//! The base lr is the optimizer's [`initial_lr`](Optimizer::initial_lr): the first scheduler
//! built on an optimizer pins the lr it finds there, and later ones (the children of a
//! [`SequentialLr`]) start from that value too, as PyTorch's `initial_lr` does.
//!
//! ```
//! use gradflow_optimizers::{LrScheduler, Optimizer, Sgd, SgdConfig, StepLr};
//! use gradflow_tensor::Tensor;
//! let w = Tensor::zeros(&[1]).requires_grad_();
//! let mut opt = Sgd::new(&[w.clone()], SgdConfig { lr: 0.1, ..SgdConfig::default() }).unwrap();
//! let mut sched = StepLr::new(&mut opt, 2, 0.5).unwrap(); // lr₀ is in the optimizer now
//! let mut used = vec![];
//! for _ in 0..5 {
//!     used.push(opt.lr());
//!     opt.step();            // (after backward)
//!     sched.step(&mut opt);  // lr for the next step
//! }
//! assert_eq!(used, vec![0.1, 0.1, 0.05, 0.05, 0.025]);
//! ```
//!
//! A scheduler does not hold its optimizer (it is a plain value, passed the optimizer at each
//! `step`), so it can also be driven on its own with [`advance`](LrScheduler::advance) and
//! [`lr`](LrScheduler::lr).

mod cosine_annealing_lr;
mod exponential_lr;
mod linear_lr;
mod multi_step_lr;
mod one_cycle_lr;
mod sequential_lr;
mod step_lr;

pub use cosine_annealing_lr::CosineAnnealingLr;
pub use exponential_lr::ExponentialLr;
pub use linear_lr::LinearLr;
pub use multi_step_lr::MultiStepLr;
pub use one_cycle_lr::{AnnealStrategy, OneCycleConfig, OneCycleLr};
pub use sequential_lr::SequentialLr;
pub use step_lr::StepLr;

use serde::{Deserialize, Serialize};

use crate::{OptimError, Optimizer};

/// A learning-rate schedule (PyTorch's `torch.optim.lr_scheduler.LRScheduler`).
pub trait LrScheduler {
    /// The schedule's name (`"StepLR"`, …), stored in its state.
    fn name(&self) -> &'static str;

    /// The learning rate for the next optimizer step.
    fn lr(&self) -> f64;

    /// The momentum (or Adam β₁) for the next step, for schedules that cycle it.
    fn momentum(&self) -> Option<f64> {
        None
    }

    /// How many times the schedule has advanced (PyTorch's `last_epoch`).
    fn last_epoch(&self) -> usize;

    /// Move to the next learning rate (the recursive form PyTorch's `step()` uses).
    fn advance(&mut self);

    /// Jump to `epoch` using the closed form (what PyTorch's `SequentialLR` does with
    /// `scheduler.step(0)` at a milestone).
    fn reset_to(&mut self, epoch: usize);

    /// Write [`lr`](LrScheduler::lr) (and [`momentum`](LrScheduler::momentum) if any) into
    /// the optimizer. Constructors and [`step`](LrScheduler::step) do this already; call it
    /// after [`load_state_dict`](LrScheduler::load_state_dict) if the optimizer's state was
    /// not restored too.
    ///
    /// # Panics
    /// If the schedule cycles momentum and the optimizer has none
    /// ([`Optimizer::set_momentum`]).
    fn apply(&self, opt: &mut dyn Optimizer) {
        opt.set_lr(self.lr());
        if let Some(m) = self.momentum() {
            opt.set_momentum(m);
        }
    }

    /// [`advance`](LrScheduler::advance), then [`apply`](LrScheduler::apply): call once after
    /// every `optimizer.step()`, as PyTorch's `scheduler.step()`.
    ///
    /// # Panics
    /// As [`apply`](LrScheduler::apply).
    fn step(&mut self, opt: &mut dyn Optimizer) {
        self.advance();
        self.apply(opt);
    }

    /// The position in the schedule, to resume bit-exactly.
    fn state_dict(&self) -> SchedulerState;

    /// Restore a [`state_dict`](LrScheduler::state_dict) into a scheduler built with the same
    /// configuration.
    fn load_state_dict(&mut self, state: &SchedulerState) -> Result<(), OptimError>;
}

/// The lr a new scheduler on `opt` starts from: its pinned
/// [`initial_lr`](Optimizer::initial_lr), pinning the current lr when this is the first
/// scheduler (PyTorch's `group.setdefault("initial_lr", group["lr"])`).
pub(crate) fn base_lr(opt: &mut dyn Optimizer) -> f64 {
    match opt.initial_lr() {
        Some(lr) => lr,
        None => {
            let lr = opt.lr();
            opt.set_initial_lr(lr);
            lr
        }
    }
}

/// `sched` after writing its lr₀ into `opt` (the last line of every constructor).
pub(crate) fn attached<S: LrScheduler>(sched: S, opt: &mut dyn Optimizer) -> S {
    sched.apply(opt);
    sched
}

/// A serializable scheduler position: the configuration is not stored (rebuild the scheduler
/// with the same arguments, then load).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulerState {
    /// [`LrScheduler::name`].
    pub scheduler: String,
    /// Steps taken so far.
    pub last_epoch: usize,
    /// The current learning rate (the recursive forms need it).
    pub lr: f64,
    /// The children's states (for [`SequentialLr`]).
    pub children: Vec<SchedulerState>,
}

impl SchedulerState {
    /// A childless state.
    pub(crate) fn simple(name: &str, last_epoch: usize, lr: f64) -> Self {
        SchedulerState {
            scheduler: name.to_string(),
            last_epoch,
            lr,
            children: Vec::new(),
        }
    }

    /// Check the name and return (last_epoch, lr).
    pub(crate) fn expect(&self, name: &'static str) -> Result<(usize, f64), OptimError> {
        if self.scheduler != name {
            return Err(OptimError::WrongKind {
                expected: name,
                found: self.scheduler.clone(),
            });
        }
        Ok((self.last_epoch, self.lr))
    }

    /// The state as JSON text.
    pub fn to_json(&self) -> Result<String, OptimError> {
        serde_json::to_string(self).map_err(OptimError::Json)
    }

    /// Parse JSON written by [`to_json`](SchedulerState::to_json).
    pub fn from_json(text: &str) -> Result<Self, OptimError> {
        serde_json::from_str(text).map_err(OptimError::Json)
    }
}

/// Implements the bookkeeping methods shared by the single-rate schedulers (fields
/// `lr: f64`, `last_epoch: usize`).
macro_rules! simple_state {
    ($name:literal) => {
        fn name(&self) -> &'static str {
            $name
        }

        fn lr(&self) -> f64 {
            self.lr
        }

        fn last_epoch(&self) -> usize {
            self.last_epoch
        }

        fn state_dict(&self) -> $crate::scheduler::SchedulerState {
            $crate::scheduler::SchedulerState::simple($name, self.last_epoch, self.lr)
        }

        fn load_state_dict(
            &mut self,
            state: &$crate::scheduler::SchedulerState,
        ) -> Result<(), $crate::OptimError> {
            let (e, lr) = state.expect($name)?;
            self.last_epoch = e;
            self.lr = lr;
            Ok(())
        }
    };
}
pub(crate) use simple_state;
