//! Figures of the vanishing-gradient report, built from the lab's runs and drawn with the
//! shared figure toolkit ([`crate::run::figures`]) as SVG and PNG.
//!
//! A plain feed-forward network computes h_l = φ(W_l h_{l−1}), so the backward pass multiplies
//! the signal by one Jacobian per layer,
//!
//! ∂L/∂h_{l−1} = W_lᵀ (φ′(z_l) ⊙ ∂L/∂h_l),
//!
//! and for the sigmoid φ′ = σ(1 − σ) ≤ 1/4: k layers below the last hidden layer the φ′
//! factors alone contribute a factor of at most 0.25^k (the weights add ‖W‖^k on top). The
//! figures show that and its cures:
//!
//! | file stem | what it shows |
//! |---|---|
//! | `grad_flow_init` | ‖∂L/∂h_l‖ per layer l at initialization, log scale, one line per configuration, with the 0.25^k sigmoid bound dashed |
//! | `grad_flow_trained` | the same at the last logged step |
//! | `training_curves` | training loss (log scale) and accuracy against step |
//! | `saturation_heatmap` | fraction of saturated units, layers × logged steps, for sigmoid and tanh configurations |
//! | `dead_units_heatmap` | fraction of dead units, layers × logged steps, for ReLU configurations |
//!
//! Every configuration is drawn from its best stable run ([`best`]); a configuration whose
//! runs all diverged is drawn from its first run that logged anything, marked "diverged".
//! Values a log axis cannot show (0, negative, NaN, ∞) are left out, which breaks the line
//! there; a figure with nothing to show is not written. Files are written in place: the caller
//! passes the report's staging folder ([`crate::run::ReportDir`]), published whole or not at all.

use std::path::Path;

use crate::run::figures::scale::{grid, lin_ok, log_ok};
use crate::run::figures::{
    Body, Figure, HeatPanel, LinePanel, Look, PlotError, Series, YScale, emit,
};

use super::model::Activation;
use super::report::LabReport;
use super::{CurvePoint, LabConfig, RunResult, best};

/// Draw every figure of `report` into `dir` (created if missing), as `<stem>.svg` and
/// `<stem>.png`, and return `(title, svg file name)` pairs in report order for the Markdown
/// report. Figures without data (say, no sigmoid configuration ran) are skipped.
///
/// # Errors
/// [`PlotError`] naming the file that could not be drawn, encoded or written.
pub fn write_figures(report: &LabReport, dir: &Path) -> Result<Vec<(String, String)>, PlotError> {
    std::fs::create_dir_all(dir).map_err(|source| PlotError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let picked = pick_runs(report);
    let mut written = Vec::new();
    let mut emit_if = |fig: Option<Figure>, stem: &str| -> Result<(), PlotError> {
        if let Some(fig) = fig {
            let file = emit(&fig, dir, stem)?;
            written.push((fig.title, file));
        }
        Ok(())
    };
    emit_if(grad_flow(&picked, Moment::Init), "grad_flow_init")?;
    emit_if(grad_flow(&picked, Moment::Trained), "grad_flow_trained")?;
    emit_if(training_curves(&picked), "training_curves")?;
    emit_if(
        heatmaps(
            &picked,
            "Saturated units per layer (sigmoid, tanh)",
            "saturated fraction (φ′ < 0.01)",
            |a| matches!(a, Activation::Sigmoid | Activation::Tanh),
            |s| s.saturated,
        ),
        "saturation_heatmap",
    )?;
    emit_if(
        heatmaps(
            &picked,
            "Dead units per layer (ReLU)",
            "dead fraction (0 on the whole batch)",
            |a| a == Activation::Relu,
            |s| s.dead,
        ),
        "dead_units_heatmap",
    )?;
    Ok(written)
}

/// One configuration and the run that represents it.
struct Picked<'a> {
    config: &'a LabConfig,
    run: &'a RunResult,
    look: Look,
}

impl Picked<'_> {
    fn label(&self) -> String {
        let diverged = if self.run.diverged { ", diverged" } else { "" };
        format!("{} (lr {}{diverged})", self.config.name, self.run.lr)
    }
}

/// The best stable run of every configuration, or its first run that logged anything.
fn pick_runs(report: &LabReport) -> Vec<Picked<'_>> {
    report
        .configs
        .iter()
        .filter_map(|(config, runs)| {
            best(runs)
                .filter(|r| !r.curve.is_empty())
                .or_else(|| runs.iter().find(|r| !r.curve.is_empty()))
                .map(|run| (config, run))
        })
        .enumerate()
        .map(|(i, (config, run))| Picked {
            config,
            run,
            look: Look::nth(i),
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Moment {
    Init,
    Trained,
}

/// The 0.25^k envelope of a sigmoid stack, anchored at `(last_layer, anchor)`:
/// b(l) = anchor · 0.25^(last_layer − l) for l = 1..=last_layer; `None` unless the anchor is
/// finite and positive.
fn sigmoid_bound(last_layer: usize, anchor: f64) -> Option<Vec<(f64, f64)>> {
    (anchor.is_finite() && anchor > 0.0 && last_layer > 0).then(|| {
        (1..=last_layer)
            .map(|l| (l as f64, anchor * 0.25f64.powi((last_layer - l) as i32)))
            .collect()
    })
}

fn grad_flow(picked: &[Picked<'_>], moment: Moment) -> Option<Figure> {
    fn at(run: &RunResult, moment: Moment) -> Option<&CurvePoint> {
        match moment {
            Moment::Init => run.curve.first(),
            Moment::Trained => run.curve.last(),
        }
    }
    let point = |run| at(run, moment);
    let mut legend = Vec::new();
    let mut series = Vec::new();
    for p in picked {
        let Some(cp) = point(p.run) else { continue };
        let points: Vec<(f64, f64)> = cp
            .layers
            .iter()
            .map(|s| (s.layer as f64, f64::from(s.grad_h_norm)))
            .collect();
        if !points.iter().any(log_ok) {
            continue;
        }
        legend.push((p.label(), p.look));
        series.push(Series {
            look: p.look,
            points,
        });
    }
    if series.is_empty() {
        return None;
    }
    // The anchor: sigmoid-small (the ladder's problem case), else the first sigmoid rung.
    let anchor = picked
        .iter()
        .find(|p| p.config.name == "sigmoid-small")
        .or_else(|| {
            picked
                .iter()
                .find(|p| p.config.spec.activation == Activation::Sigmoid)
        })
        .and_then(|p| point(p.run))
        .and_then(|cp| cp.layers.last())
        .and_then(|last| sigmoid_bound(last.layer, f64::from(last.grad_h_norm)));
    if let Some(points) = anchor {
        legend.push(("0.25^k bound (σ′ ≤ 1/4)".to_string(), Look::reference()));
        series.push(Series {
            look: Look::reference(),
            points,
        });
    }
    let (title, when) = match moment {
        Moment::Init => ("Backward signal per layer at initialization", "step 0"),
        Moment::Trained => (
            "Backward signal per layer after training",
            "last logged step",
        ),
    };
    Some(Figure {
        title: title.to_string(),
        size: (1100, 620),
        body: Body::Lines {
            panels: vec![LinePanel {
                title: format!("‖∂L/∂hₗ‖, {when}"),
                x_desc: "layer l (1 = next to the input)".into(),
                y_desc: "‖∂L/∂hₗ‖ (log scale)".into(),
                y_scale: YScale::Log,
                series,
            }],
            legend,
        },
    })
}

fn training_curves(picked: &[Picked<'_>]) -> Option<Figure> {
    let curve = |p: &Picked<'_>, f: fn(&CurvePoint) -> f32| Series {
        look: p.look,
        points: p
            .run
            .curve
            .iter()
            .map(|c| (c.step as f64, f64::from(f(c))))
            .collect(),
    };
    let loss: Vec<Series> = picked.iter().map(|p| curve(p, |c| c.loss)).collect();
    let acc: Vec<Series> = picked.iter().map(|p| curve(p, |c| c.accuracy)).collect();
    if !loss.iter().chain(&acc).any(|s| s.points.iter().any(lin_ok)) {
        return None;
    }
    Some(Figure {
        title: "Training curves (best stable run per configuration)".into(),
        size: (1400, 620),
        body: Body::Lines {
            panels: vec![
                LinePanel {
                    title: "training loss".into(),
                    x_desc: "step".into(),
                    y_desc: "cross-entropy (log scale)".into(),
                    y_scale: YScale::Log,
                    series: loss,
                },
                LinePanel {
                    title: "training accuracy".into(),
                    x_desc: "step".into(),
                    y_desc: "accuracy on the step's batch".into(),
                    y_scale: YScale::Linear,
                    series: acc,
                },
            ],
            legend: picked.iter().map(|p| (p.label(), p.look)).collect(),
        },
    })
}

fn heatmaps(
    picked: &[Picked<'_>],
    title: &str,
    value_desc: &str,
    wanted: fn(Activation) -> bool,
    value: fn(&crate::diagnostics::LayerStats) -> f32,
) -> Option<Figure> {
    let panels: Vec<HeatPanel> = picked
        .iter()
        .filter(|p| wanted(p.config.spec.activation))
        .filter_map(|p| {
            let layers = p.run.curve.iter().map(|c| c.layers.len()).max()?;
            let peak = p
                .run
                .curve
                .iter()
                .flat_map(|c| c.layers.iter().map(value))
                .filter(|v| v.is_finite())
                .fold(f32::NEG_INFINITY, f32::max);
            let name = if peak.is_finite() {
                format!("{}: max {:.1}%", p.label(), 100.0 * peak)
            } else {
                p.label()
            };
            (layers > 0).then(|| HeatPanel {
                name,
                steps: p.run.curve.iter().map(|c| c.step).collect(),
                layers,
                first_row: 1,
                x_desc: "step".into(),
                y_desc: "layer".into(),
                cells: p
                    .run
                    .curve
                    .iter()
                    .map(|c| c.layers.iter().map(value).collect())
                    .collect(),
            })
        })
        .collect();
    if panels.is_empty() {
        return None;
    }
    let (cols, rows) = grid(panels.len());
    Some(Figure {
        title: title.into(),
        size: (cols as u32 * 380 + 110, rows as u32 * 300 + 50),
        body: Body::Heat {
            value_desc: value_desc.into(),
            panels,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_bound_quarters_per_layer_below_the_anchor() {
        let b = sigmoid_bound(4, 2.0).expect("positive anchor");
        let ys: Vec<f64> = b.iter().map(|p| p.1).collect();
        assert_eq!(
            b.iter().map(|p| p.0).collect::<Vec<_>>(),
            vec![1.0, 2.0, 3.0, 4.0]
        );
        for (got, want) in ys.iter().zip([2.0 / 64.0, 2.0 / 16.0, 2.0 / 4.0, 2.0]) {
            assert!((got - want).abs() <= 1e-12 * want, "{got} vs {want}");
        }
        assert!(sigmoid_bound(4, 0.0).is_none());
        assert!(sigmoid_bound(4, f64::NAN).is_none());
        assert!(sigmoid_bound(0, 1.0).is_none());
    }
}
