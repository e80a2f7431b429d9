//! When has a run diverged? Not only when the loss is NaN.
//!
//! A training run is stopped and reported as diverged when
//! - the loss is NaN or ±∞ (the step is named);
//! - a gradient is NaN or ±∞ while the loss is still finite (checked on every step, before the
//!   optimizer applies it: one non-finite gradient poisons every weight it touches);
//! - at the end, the loss has grown: the mean of the last [`DivergenceGuard::WINDOW`] losses
//!   exceeds the mean of the first ones by the factor [`DivergenceGuard::GROWTH`]. That catches
//!   a loss that climbs from 2.3 to 57 without overflowing, which a NaN check misses; the step
//!   named is the first whose loss crossed the threshold.

use gradflow_clipping::{NormType, clip_grad_norm, grad_norm};
use gradflow_tensor::Tensor;
use serde::Serialize;

/// Why and where a run diverged.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Divergence {
    /// The loss was NaN or infinite at this step.
    NonFiniteLoss {
        /// The step.
        step: usize,
    },
    /// A gradient was NaN or infinite at this step (its global norm is not finite).
    NonFiniteGradient {
        /// The step.
        step: usize,
    },
    /// The loss grew by more than [`DivergenceGuard::GROWTH`]× over the run.
    LossGrew {
        /// The first step whose loss exceeded the threshold.
        step: usize,
        /// Mean loss over the first steps.
        from: f32,
        /// Mean loss over the last steps.
        to: f32,
    },
}

impl Divergence {
    /// The step the divergence is attributed to.
    pub fn step(&self) -> usize {
        match *self {
            Divergence::NonFiniteLoss { step }
            | Divergence::NonFiniteGradient { step }
            | Divergence::LossGrew { step, .. } => step,
        }
    }
}

/// The global L2 norm of the parameters' gradients, clipped to `clip` first when given
/// (`clip_grad_norm`, which, as PyTorch's, returns the norm *before* clipping). Loops that
/// record the norm even when it is not finite call this, then
/// [`DivergenceGuard::gradient_norm`]; the others call [`DivergenceGuard::clip_and_check`].
pub fn clipped_norm(params: &[Tensor], clip: Option<f64>) -> f32 {
    match clip {
        Some(c) => clip_grad_norm(params, c, NormType::L2),
        None => grad_norm(params, NormType::L2),
    }
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Divergence::NonFiniteLoss { step } => write!(f, "loss became NaN/inf at step {step}"),
            Divergence::NonFiniteGradient { step } => {
                write!(f, "a gradient became NaN/inf at step {step}")
            }
            Divergence::LossGrew { step, from, to } => write!(
                f,
                "loss grew from {from:.3} to {to:.3} (above {}× from step {step})",
                DivergenceGuard::GROWTH
            ),
        }
    }
}

/// Watches a run's losses and gradient norms step by step; see the module docs for the rule.
#[derive(Clone, Debug, Default)]
pub struct DivergenceGuard {
    first: Vec<f32>,
    last: std::collections::VecDeque<f32>,
    /// The first step after the initial window whose loss crossed the threshold.
    crossed: Option<usize>,
}

impl DivergenceGuard {
    /// Steps averaged at the start and at the end of the run.
    pub const WINDOW: usize = 10;
    /// How much the loss may grow before the run counts as diverged.
    pub const GROWTH: f32 = 1.5;

    /// A guard for a new run.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record step `step`'s loss; an error when it is not finite.
    pub fn loss(&mut self, step: usize, loss: f32) -> Result<(), Divergence> {
        if !loss.is_finite() {
            return Err(Divergence::NonFiniteLoss { step });
        }
        if self.first.len() < Self::WINDOW {
            self.first.push(loss);
        } else if self.crossed.is_none() && loss > self.threshold() {
            self.crossed = Some(step);
        }
        if self.last.len() == Self::WINDOW {
            self.last.pop_front();
        }
        self.last.push_back(loss);
        Ok(())
    }

    /// Record step `step`'s global gradient norm; an error when it is not finite.
    pub fn gradient_norm(&self, step: usize, norm: f64) -> Result<(), Divergence> {
        if norm.is_finite() {
            Ok(())
        } else {
            Err(Divergence::NonFiniteGradient { step })
        }
    }

    /// After `loss.backward()`: the global L2 norm of the parameters' gradients, clipped to
    /// `clip` first when given (`clip_grad_norm`, which, as PyTorch's, returns the norm
    /// *before* clipping), and checked as [`gradient_norm`](Self::gradient_norm) does. The
    /// one place every training loop of the pipelines measures, clips and checks.
    ///
    /// # Errors
    /// [`Divergence::NonFiniteGradient`] naming `step` when the norm is NaN or infinite.
    pub fn clip_and_check(
        &self,
        step: usize,
        params: &[Tensor],
        clip: Option<f64>,
    ) -> Result<f32, Divergence> {
        let norm = clipped_norm(params, clip);
        self.gradient_norm(step, f64::from(norm))?;
        Ok(norm)
    }

    fn mean(v: impl Iterator<Item = f32>) -> f32 {
        let (s, n) = v.fold((0.0f64, 0usize), |(s, n), x| (s + f64::from(x), n + 1));
        (s / n.max(1) as f64) as f32
    }

    fn threshold(&self) -> f32 {
        Self::mean(self.first.iter().copied()) * Self::GROWTH
    }

    /// At the end of the run: an error when the loss grew (see the module docs).
    pub fn finish(&self) -> Result<(), Divergence> {
        if self.first.is_empty() {
            return Ok(());
        }
        let (from, to) = (
            Self::mean(self.first.iter().copied()),
            Self::mean(self.last.iter().copied()),
        );
        if to > from * Self::GROWTH {
            let step = self.crossed.unwrap_or(0);
            return Err(Divergence::LossGrew { step, from, to });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_falling_loss_is_fine() {
        let mut g = DivergenceGuard::new();
        for s in 0..100 {
            g.loss(s, 2.3 / (1.0 + s as f32 * 0.1)).unwrap();
        }
        assert_eq!(g.finish(), Ok(()));
    }

    #[test]
    fn a_loss_that_climbs_without_overflowing_is_named() {
        // 9.5 → 57, the case a NaN check misses.
        let mut g = DivergenceGuard::new();
        for s in 0..120 {
            let loss = if s < 40 { 9.5 } else { 57.0 };
            g.loss(s, loss).unwrap();
        }
        match g.finish() {
            Err(Divergence::LossGrew { step, from, to }) => {
                assert_eq!(step, 40);
                assert_eq!((from, to), (9.5, 57.0));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nan_loss_and_gradient_stop_at_once() {
        let mut g = DivergenceGuard::new();
        assert_eq!(
            g.loss(3, f32::NAN),
            Err(Divergence::NonFiniteLoss { step: 3 })
        );
        assert_eq!(
            g.gradient_norm(4, f64::INFINITY),
            Err(Divergence::NonFiniteGradient { step: 4 })
        );
        assert_eq!(g.gradient_norm(4, 1e30), Ok(()));
    }

    #[test]
    fn a_spike_that_recovers_is_not_divergence() {
        let mut g = DivergenceGuard::new();
        for s in 0..60 {
            g.loss(s, if s == 30 { 100.0 } else { 2.0 }).unwrap();
        }
        assert_eq!(g.finish(), Ok(()));
    }
}
