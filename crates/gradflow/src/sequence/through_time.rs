//! Experiment 1: how much of the loss's gradient reaches step t?
//!
//! Each network reads one batch of adding-problem sequences step by step; the loss is the MSE
//! of a Linear readout of the **last** hidden state h_T only. By the chain rule
//!
//! ∂L/∂h_t = (∂h_{t+1}/∂h_t)ᵀ ∂L/∂h_{t+1} = (∏_{s=t+1..T} ∂h_s/∂h_{s−1})ᵀ ∂L/∂h_T,
//!
//! so ‖∂L/∂h_t‖ against t shows how the product of T − t step Jacobians treats the signal:
//! for the tanh RNN ∂h_s/∂h_{s−1} = diag(1 − h_s²)·W_hh, and ‖∂L/∂h_t‖ falls roughly like
//! (σ·tanh′)^(T−t), a straight line on a log axis whose slope is the log of the per-step
//! factor; for the LSTM the cell path contributes diag(f_s) per step, so the slope is set by
//! how open the forget gates are. The per-step factor is reported as the geometric mean
//! (‖∂L/∂h_1‖ / ‖∂L/∂h_T‖)^(1/(T−1)).
//!
//! Every h_t is its own graph node (the cells of `gradflow-recurrent`, one step at a time),
//! marked with `retain_grad`, so one backward pass yields all T gradients. Values below about
//! 10⁻³⁰ per element are flushed to zero by the recurrent kernels (subnormal arithmetic is
//! slow); such steps are reported as 0 and left out of the log-scale figure.

use std::time::Instant;

use gradflow_tensor::{Reduction, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::adding::AddingBatch;
use super::model::{Arch, SteppedModel};
use crate::run::figures::{Body, Figure, LinePanel, Look, Series, YScale};

/// One network's gradient-through-time curve.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GradientCurve {
    /// The network.
    pub arch: Arch,
    /// ‖∂L/∂h_t‖ (Frobenius norm over the batch) for t = 1 … T.
    pub norms: Vec<f64>,
    /// Wall time of the forward and backward pass.
    pub wall_s: f64,
}

impl GradientCurve {
    /// ‖∂L/∂h_1‖, the gradient that reaches the first step.
    pub fn first(&self) -> f64 {
        self.norms.first().copied().unwrap_or(f64::NAN)
    }

    /// ‖∂L/∂h_T‖, the gradient at the loss.
    pub fn last(&self) -> f64 {
        self.norms.last().copied().unwrap_or(f64::NAN)
    }

    /// ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖.
    pub fn ratio(&self) -> f64 {
        self.first() / self.last()
    }

    /// The geometric-mean factor per step, (‖∂L/∂h_k‖ / ‖∂L/∂h_T‖)^(1/(T−k)), where k is
    /// the earliest step whose gradient was not flushed to zero (k = 1 when none was).
    pub fn per_step(&self) -> f64 {
        let n = self.norms.len();
        let Some(k) = self.norms.iter().position(|&g| g > 0.0) else {
            return f64::NAN;
        };
        if k + 1 >= n {
            return f64::NAN;
        }
        (self.norms[k] / self.last()).powf(1.0 / (n - 1 - k) as f64)
    }

    /// How many steps back from T the gradient keeps at least `fraction` of ‖∂L/∂h_T‖: the
    /// largest d with ‖∂L/∂h_{T−d'}‖ ≥ fraction·‖∂L/∂h_T‖ for every d' ≤ d.
    pub fn reach(&self, fraction: f64) -> usize {
        let floor = fraction * self.last();
        self.norms
            .iter()
            .rev()
            .take_while(|&&g| g >= floor)
            .count()
            .saturating_sub(1)
    }
}

/// Measure ‖∂L/∂h_t‖ for `arch` with `hidden` units on `data` (weights from `seed`).
pub fn measure(arch: Arch, hidden: usize, data: &AddingBatch, seed: u64) -> GradientCurve {
    let mut rng = StdRng::seed_from_u64(seed);
    measure_model(arch, &SteppedModel::new(arch, 2, hidden, &mut rng), data)
}

/// Measure ‖∂L/∂h_t‖ for a built (for instance trained) `model` of kind `arch` on `data`.
pub fn measure_model(arch: Arch, model: &SteppedModel, data: &AddingBatch) -> GradientCurve {
    let start = Instant::now();
    let xs: Vec<Tensor> = (0..data.steps).map(|t| data.step(t)).collect();
    let (pred, hs) = model.run(&xs);
    pred.mse_loss(&data.targets(), Reduction::Mean).backward();
    let norms = hs
        .iter()
        .map(|h| h.grad().map_or(0.0, |g| g.norm_value(2.0)))
        .collect();
    GradientCurve {
        arch,
        norms,
        wall_s: start.elapsed().as_secs_f64(),
    }
}

fn sci(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2e}")
    } else {
        "—".into()
    }
}

/// One row per network: the gradient at the loss and at step 1, their ratio, the factor per
/// step ([`GradientCurve::per_step`]) and how many steps back the gradient keeps 10⁻⁶ of its
/// size at the loss ([`GradientCurve::reach`]).
pub fn table(curves: &[GradientCurve]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<14} {:>12} {:>12} {:>12} {:>10} {:>12} {:>7}",
        "network", "‖∂L/∂h_T‖", "‖∂L/∂h_1‖", "ratio", "per step", "reach 1e-6", "time"
    );
    for c in curves {
        let _ = writeln!(
            s,
            "{:<14} {:>12} {:>12} {:>12} {:>10.4} {:>12} {:>6.2}s",
            c.arch.name(),
            sci(c.last()),
            sci(c.first()),
            sci(c.ratio()),
            c.per_step(),
            c.reach(1e-6),
            c.wall_s
        );
    }
    s
}

/// One CSV row per (network, step).
pub fn csv(curves: &[GradientCurve]) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("network,t,grad_norm,relative_to_last\n");
    for c in curves {
        for (i, g) in c.norms.iter().enumerate() {
            let _ = writeln!(s, "{},{},{:e},{:e}", c.arch.name(), i + 1, g, g / c.last());
        }
    }
    s
}

/// The figure: ‖∂L/∂h_t‖ against t on a log axis, absolute (left) and relative to
/// ‖∂L/∂h_T‖ (right).
pub fn figure(curves: &[GradientCurve], steps: usize) -> Figure {
    let series = |relative: bool| -> Vec<Series> {
        curves
            .iter()
            .map(|c| Series {
                look: Look::nth(c.arch.color_index()),
                points: c
                    .norms
                    .iter()
                    .enumerate()
                    .map(|(i, &g)| ((i + 1) as f64, if relative { g / c.last() } else { g }))
                    .collect(),
            })
            .collect()
    };
    let legend = curves
        .iter()
        .map(|c| (c.arch.name().to_string(), Look::nth(c.arch.color_index())))
        .collect();
    Figure {
        title: format!("Gradient through time: loss at step T = {steps} only"),
        size: (1130, 520),
        body: Body::Lines {
            panels: vec![
                LinePanel {
                    title: "‖∂L/∂h_t‖".into(),
                    x_desc: "step t".into(),
                    y_desc: "‖∂L/∂h_t‖ (log scale)".into(),
                    y_scale: YScale::Log,
                    series: series(false),
                },
                LinePanel {
                    title: "relative to the last step".into(),
                    x_desc: "step t".into(),
                    y_desc: "‖∂L/∂h_t‖ / ‖∂L/∂h_T‖ (log scale)".into(),
                    y_scale: YScale::Log,
                    series: series(true),
                },
            ],
            legend,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_step_factor_and_reach_of_a_geometric_curve() {
        // ‖∂L/∂h_t‖ = 0.5^(T−t) with the first two steps flushed to zero.
        let mut norms: Vec<f64> = (1..=30).map(|t| 0.5f64.powi(30 - t)).collect();
        norms[0] = 0.0;
        norms[1] = 0.0;
        let c = GradientCurve {
            arch: Arch::RnnTanh,
            norms,
            wall_s: 0.0,
        };
        assert!((c.per_step() - 0.5).abs() < 1e-12, "{}", c.per_step());
        // 0.5^d ≥ 1e-6 ⇔ d ≤ 19.93.
        assert_eq!(c.reach(1e-6), 19);
        assert_eq!(c.first(), 0.0);
    }
}
