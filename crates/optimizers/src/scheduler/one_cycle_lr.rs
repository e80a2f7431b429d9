//! OneCycleLR: warm up to max_lr, then anneal far below the start, cycling momentum inversely.

use std::f64::consts::PI;

use super::{LrScheduler, SchedulerState, attached};
use crate::error::check;
use crate::{OptimError, Optimizer};

/// How [`OneCycleLr`] interpolates inside a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnealStrategy {
    /// end + (start − end)·(1 + cos(π·pct))/2 (PyTorch's default `"cos"`).
    Cos,
    /// start + (end − start)·pct (`"linear"`).
    Linear,
}

impl AnnealStrategy {
    fn anneal(self, start: f64, end: f64, pct: f64) -> f64 {
        match self {
            AnnealStrategy::Cos => end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0),
            AnnealStrategy::Linear => (end - start) * pct + start,
        }
    }
}

/// Hyperparameters of [`OneCycleLr`]; the defaults are PyTorch's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneCycleConfig {
    /// The peak learning rate.
    pub max_lr: f64,
    /// Length of the cycle in optimizer steps.
    pub total_steps: usize,
    /// Fraction of the cycle spent increasing the lr (default 0.3).
    pub pct_start: f64,
    /// Interpolation inside each phase (default cos).
    pub anneal_strategy: AnnealStrategy,
    /// Cycle momentum inversely to the lr (default true).
    pub cycle_momentum: bool,
    /// Momentum at the lr peak (default 0.85).
    pub base_momentum: f64,
    /// Momentum at the start and end (default 0.95).
    pub max_momentum: f64,
    /// initial_lr = max_lr / div_factor (default 25).
    pub div_factor: f64,
    /// min_lr = initial_lr / final_div_factor (default 1e4).
    pub final_div_factor: f64,
    /// Fast.ai's three phases: up, back down to initial_lr, then to min_lr (default false).
    pub three_phase: bool,
}

impl OneCycleConfig {
    /// PyTorch's defaults for the given peak and length.
    pub fn new(max_lr: f64, total_steps: usize) -> Self {
        OneCycleConfig {
            max_lr,
            total_steps,
            pct_start: 0.3,
            anneal_strategy: AnnealStrategy::Cos,
            cycle_momentum: true,
            base_momentum: 0.85,
            max_momentum: 0.95,
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Phase {
    end_step: f64,
    start_lr: f64,
    end_lr: f64,
    start_momentum: f64,
    end_momentum: f64,
}

/// The 1cycle policy (Smith & Topin 2018), PyTorch's `OneCycleLR`. It ignores the
/// optimizer's lr: the cycle starts at max_lr/div_factor, rises to max_lr at step
/// ⌊pct_start·T⌋ − 1 and anneals to max_lr/(div_factor·final_div_factor) at step T − 1;
/// momentum moves the opposite way between max_momentum and base_momentum. Within phase k
/// (steps s₀…s₁): lr = anneal(start, end, (e − s₀)/(s₁ − s₀)).
///
/// With `cycle_momentum`, the constructor and every [`step`](LrScheduler::step) write the
/// momentum into SGD/RMSProp's `momentum` or Adam's β₁ (as PyTorch does with
/// `momentum`/`betas`).
///
/// ```
/// use gradflow_optimizers::{Adam, AdamConfig, LrScheduler, OneCycleConfig, OneCycleLr, Optimizer};
/// let mut opt = Adam::new(&[], AdamConfig::default()).unwrap();
/// let s = OneCycleLr::new(&mut opt, OneCycleConfig::new(0.1, 100)).unwrap();
/// assert!((opt.lr() - 0.004).abs() < 1e-12);   // 0.1 / 25, already in the optimizer
/// assert_eq!(opt.momentum(), Some(0.95));       // Adam's β₁
/// assert_eq!(s.momentum(), Some(0.95));
/// ```
#[derive(Debug, Clone)]
pub struct OneCycleLr {
    config: OneCycleConfig,
    phases: Vec<Phase>,
    last_epoch: usize,
    lr: f64,
    momentum: f64,
}

impl OneCycleLr {
    /// The cycle on `opt`, at step 0 (its lr and momentum written into `opt`; the optimizer's
    /// own lr is ignored).
    ///
    /// # Errors
    /// If `total_steps` is 0, `pct_start` ∉ [0, 1], a divisor is not positive, or
    /// `cycle_momentum` is set and `opt` has no momentum (Adagrad), as PyTorch refuses it.
    /// Then `opt` is unchanged.
    pub fn new(opt: &mut dyn Optimizer, config: OneCycleConfig) -> Result<Self, OptimError> {
        let op = "OneCycleLR";
        let c = config;
        check(
            !c.cycle_momentum || opt.momentum().is_some(),
            op,
            "cycle_momentum",
            1.0,
            "the optimizer has no momentum or beta1 to cycle",
        )?;
        check(
            c.total_steps > 0,
            op,
            "total_steps",
            c.total_steps as f64,
            "must be > 0",
        )?;
        check(
            (0.0..=1.0).contains(&c.pct_start),
            op,
            "pct_start",
            c.pct_start,
            "must be in [0, 1]",
        )?;
        check(
            c.div_factor > 0.0,
            op,
            "div_factor",
            c.div_factor,
            "must be > 0",
        )?;
        check(
            c.final_div_factor > 0.0,
            op,
            "final_div_factor",
            c.final_div_factor,
            "must be > 0",
        )?;
        let initial_lr = c.max_lr / c.div_factor;
        let min_lr = initial_lr / c.final_div_factor;
        let t = c.total_steps as f64;
        let (lo_m, hi_m) = (c.base_momentum, c.max_momentum);
        let up = Phase {
            end_step: c.pct_start * t - 1.0,
            start_lr: initial_lr,
            end_lr: c.max_lr,
            start_momentum: hi_m,
            end_momentum: lo_m,
        };
        let phases = if c.three_phase {
            vec![
                up,
                Phase {
                    end_step: 2.0 * c.pct_start * t - 2.0,
                    start_lr: c.max_lr,
                    end_lr: initial_lr,
                    start_momentum: lo_m,
                    end_momentum: hi_m,
                },
                Phase {
                    end_step: t - 1.0,
                    start_lr: initial_lr,
                    end_lr: min_lr,
                    start_momentum: hi_m,
                    end_momentum: hi_m,
                },
            ]
        } else {
            vec![
                up,
                Phase {
                    end_step: t - 1.0,
                    start_lr: c.max_lr,
                    end_lr: min_lr,
                    start_momentum: lo_m,
                    end_momentum: hi_m,
                },
            ]
        };
        let mut s = OneCycleLr {
            config,
            phases,
            last_epoch: 0,
            lr: initial_lr,
            momentum: hi_m,
        };
        s.reset_to(0);
        Ok(attached(s, opt))
    }

    /// The hyperparameters.
    pub fn config(&self) -> &OneCycleConfig {
        &self.config
    }
}

impl LrScheduler for OneCycleLr {
    fn name(&self) -> &'static str {
        "OneCycleLR"
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn momentum(&self) -> Option<f64> {
        self.config.cycle_momentum.then_some(self.momentum)
    }

    fn last_epoch(&self) -> usize {
        self.last_epoch
    }

    /// # Panics
    /// When stepped past `total_steps` (PyTorch raises `ValueError` there too).
    fn advance(&mut self) {
        assert!(
            self.last_epoch < self.config.total_steps,
            "OneCycleLR: tried to step {} times; the specified number of total steps is {}",
            self.last_epoch + 1,
            self.config.total_steps
        );
        self.reset_to(self.last_epoch + 1);
    }

    fn reset_to(&mut self, epoch: usize) {
        self.last_epoch = epoch;
        let e = epoch as f64;
        let mut start_step = 0.0;
        let last = self.phases.len() - 1;
        for (i, ph) in self.phases.iter().enumerate() {
            if e <= ph.end_step || i == last {
                let pct = (e - start_step) / (ph.end_step - start_step);
                let a = self.config.anneal_strategy;
                self.lr = a.anneal(ph.start_lr, ph.end_lr, pct);
                self.momentum = a.anneal(ph.start_momentum, ph.end_momentum, pct);
                return;
            }
            start_step = ph.end_step;
        }
    }

    fn state_dict(&self) -> SchedulerState {
        SchedulerState::simple("OneCycleLR", self.last_epoch, self.lr)
    }

    fn load_state_dict(&mut self, state: &SchedulerState) -> Result<(), OptimError> {
        let (e, _) = state.expect("OneCycleLR")?;
        self.reset_to(e);
        Ok(())
    }
}
