//! The results of `gradflow sequence`: tables, CSV files, figures and `report.md`.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::adding::CONSTANT_MSE;
use super::copy::{self, CopyRun, copy_baseline};
use super::through_time::{self, GradientCurve};
use super::train::TrainRun;
use super::{SequenceError, SequenceOptions};
use crate::run::ReportDir;
use crate::run::figures::{Body, Figure, LinePanel, Look, Series, YScale, emit};

/// Everything one `gradflow sequence` run measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SequenceReport {
    /// What was run.
    pub options: SequenceOptions,
    /// Experiment 1: ‖∂L/∂h_t‖ per network.
    pub gradients: Vec<GradientCurve>,
    /// Experiment 2: the adding-problem runs, unclipped then clipped.
    pub adding: Vec<TrainRun>,
    /// Experiment 3: the exploding configuration, unclipped then clipped.
    pub exploding: Vec<TrainRun>,
    /// Experiment 4: the copy task, one clipped run per network.
    #[serde(default)]
    pub copy: Vec<CopyRun>,
}

/// The adding-problem / exploding table: one row per run.
pub fn runs_table(runs: &[TrainRun], target: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<20} {:>12} {:>7} {:>12} {:>11} {:>13} {:>8}  status",
        "run",
        "held-out MSE",
        "steps",
        if target > 0.0 {
            format!("MSE<{target}")
        } else {
            "target".into()
        },
        "max ‖g‖",
        "h_1/h_T after",
        "time"
    );
    for r in runs {
        let status = match (&r.diverged, r.reached_target) {
            (Some(d), _) => format!("diverged: {d}"),
            (None, Some(_)) => "reached the target".into(),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            s,
            "{:<20} {:>12} {:>7} {:>12} {:>11.2e} {:>13} {:>7.1}s  {}",
            r.label(),
            mse(r.final_mse()),
            r.steps(),
            r.reached_target
                .map_or("—".to_string(), |t| format!("step {t}")),
            r.grad_norms.iter().copied().fold(0.0f32, f32::max),
            r.gradients_after
                .as_ref()
                .map_or("—".to_string(), |c| format!("{:.2e}", c.ratio())),
            r.wall_s,
            status
        );
    }
    s
}

fn mse(v: f64) -> String {
    if v.is_finite() && v < 1e3 {
        format!("{v:.4}")
    } else {
        format!("{v:.2e}")
    }
}

fn curves_csv(runs: &[TrainRun]) -> String {
    let mut s = String::from("run,step,train_mse,grad_norm,heldout_mse\n");
    for r in runs {
        let mut evals = r.evals.iter().peekable();
        for step in 0..=r.steps() {
            let train = if step == 0 {
                String::new()
            } else {
                r.losses
                    .get(step - 1)
                    .map_or(String::new(), |v| v.to_string())
            };
            let g = if step == 0 {
                String::new()
            } else {
                r.grad_norms
                    .get(step - 1)
                    .map_or(String::new(), |v| format!("{v:e}"))
            };
            let held = match evals.peek() {
                Some(&&(s, v)) if s == step => {
                    evals.next();
                    v.to_string()
                }
                _ => String::new(),
            };
            let _ = writeln!(s, "{},{step},{train},{g},{held}", r.label());
        }
    }
    s
}

fn run_look(r: &TrainRun) -> Look {
    Look {
        dashed: r.clip.is_none(),
        ..Look::nth(r.arch.color_index())
    }
}

fn reference(y: f64, x_max: f64) -> Series {
    Series {
        look: Look::reference(),
        points: vec![(0.0, y), (x_max, y)],
    }
}

/// The gradient-through-time figure: at initialization ([`through_time::figure`]), plus,
/// when the adding problem ran, a panel of the trained networks (clipped runs), relative to
/// ‖∂L/∂h_T‖.
pub fn gradient_figure(report: &SequenceReport) -> Figure {
    let mut fig = through_time::figure(&report.gradients, report.options.seq_len);
    let trained: Vec<Series> = report
        .adding
        .iter()
        .filter(|r| r.clip.is_some())
        .filter_map(|r| {
            r.gradients_after.as_ref().map(|c| Series {
                look: Look::nth(c.arch.color_index()),
                points: c
                    .norms
                    .iter()
                    .enumerate()
                    .map(|(i, &g)| ((i + 1) as f64, g / c.last()))
                    .collect(),
            })
        })
        .collect();
    if let Body::Lines { panels, legend } = &mut fig.body
        && !trained.is_empty()
    {
        for r in report.adding.iter().filter(|r| r.clip.is_some()) {
            let name = r.arch.name().to_string();
            if !legend.iter().any(|(n, _)| *n == name) {
                legend.push((name, Look::nth(r.arch.color_index())));
            }
        }
        panels.push(LinePanel {
            title: "after training on the adding problem (clipped runs)".into(),
            x_desc: "step t".into(),
            y_desc: "‖∂L/∂h_t‖ / ‖∂L/∂h_T‖ (log scale)".into(),
            y_scale: YScale::Log,
            series: trained,
        });
        fig.size.0 += 420;
    }
    fig
}

/// Held-out MSE against step (log scale), one line per run: solid with clipping, dashed
/// without; the constant predictor's 1/6 and the target as thin dashed references.
pub fn adding_figure(runs: &[TrainRun], target: f64) -> Figure {
    let x_max = runs.iter().map(|r| r.steps()).max().unwrap_or(1) as f64;
    let mut series: Vec<Series> = runs
        .iter()
        .map(|r| Series {
            look: run_look(r),
            points: r.evals.iter().map(|&(s, v)| (s as f64, v)).collect(),
        })
        .collect();
    series.push(reference(CONSTANT_MSE, x_max));
    if target > 0.0 {
        series.push(reference(target, x_max));
    }
    let mut legend: Vec<(String, Look)> = runs.iter().map(|r| (r.label(), run_look(r))).collect();
    legend.push(("1/6 (constant) and target".into(), Look::reference()));
    Figure {
        title: "The adding problem: held-out MSE (dashed: no clipping)".into(),
        size: (1000, 520),
        body: Body::Lines {
            panels: vec![LinePanel {
                title: "held-out MSE".into(),
                x_desc: "Adam step".into(),
                y_desc: "MSE (log scale)".into(),
                y_scale: YScale::Log,
                series,
            }],
            legend,
        },
    }
}

/// The exploding configuration: training loss and the global gradient norm before clipping,
/// per SGD step (log scales).
pub fn exploding_figure(runs: &[TrainRun]) -> Figure {
    let look = |r: &TrainRun| Look {
        dashed: r.clip.is_none(),
        ..Look::nth(if r.clip.is_some() { 2 } else { 3 })
    };
    let per_step = |v: &[f32]| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .map(|(i, &x)| ((i + 1) as f64, f64::from(x)))
            .collect()
    };
    let panels = vec![
        LinePanel {
            title: "training MSE".into(),
            x_desc: "SGD step".into(),
            y_desc: "MSE (log scale)".into(),
            y_scale: YScale::Log,
            series: runs
                .iter()
                .map(|r| Series {
                    look: look(r),
                    points: per_step(&r.losses),
                })
                .collect(),
        },
        LinePanel {
            title: "‖g‖ before clipping".into(),
            x_desc: "SGD step".into(),
            y_desc: "global gradient norm (log scale)".into(),
            y_scale: YScale::Log,
            series: runs
                .iter()
                .map(|r| Series {
                    look: look(r),
                    points: per_step(&r.grad_norms),
                })
                .collect(),
        },
    ];
    Figure {
        title: "An exploding configuration: tanh RNN, W_hh = gain × orthogonal, SGD".into(),
        size: (1130, 520),
        body: Body::Lines {
            panels,
            legend: runs.iter().map(|r| (r.label(), look(r))).collect(),
        },
    }
}

impl SequenceReport {
    /// The tables of every experiment that ran, as the terminal shows them.
    pub fn table(&self) -> String {
        let mut s = String::new();
        if !self.gradients.is_empty() {
            let _ = writeln!(
                s,
                "Gradient through time (T = {}, H = {}, loss at the last step):",
                self.options.seq_len, self.options.hidden
            );
            s.push_str(&through_time::table(&self.gradients));
        }
        if !self.adding.is_empty() {
            if !s.is_empty() {
                s.push('\n');
            }
            let _ = writeln!(
                s,
                "Adding problem (T = {}, H = {}, batch {}, Adam lr {}, clip {}; constant predictor: MSE {:.4}):",
                self.options.seq_len,
                self.options.hidden,
                self.options.batch,
                self.options.lr,
                self.options.clip,
                CONSTANT_MSE
            );
            s.push_str(&runs_table(&self.adding, self.options.target_mse));
        }
        if !self.copy.is_empty() {
            if !s.is_empty() {
                s.push('\n');
            }
            let _ = writeln!(
                s,
                "Copy task (T = {}, H = {}, batch {}, Adam lr {}, clip {}; memoryless baseline: CE {:.4} nats):",
                self.options.copy_delay,
                self.options.hidden,
                self.options.batch,
                self.options.lr,
                self.options.clip,
                copy_baseline(self.options.copy_delay)
            );
            s.push_str(&copy_table(&self.copy));
        }
        if !self.exploding.is_empty() {
            if !s.is_empty() {
                s.push('\n');
            }
            let _ = writeln!(
                s,
                "Exploding configuration (tanh RNN, W_hh = {} × orthogonal, SGD lr {}, clip {}):",
                self.options.exploding_gain, self.options.exploding_lr, self.options.clip
            );
            s.push_str(&runs_table(&self.exploding, 0.0));
        }
        s
    }

    /// Write results.json, the CSV files, the figures and report.md into `out`.
    ///
    /// # Errors
    /// The folder's or a figure's write error, naming the file.
    pub fn write(&self, out: &ReportDir) -> Result<(), SequenceError> {
        out.write(
            "results.json",
            serde_json::to_string_pretty(self)
                .unwrap_or_default()
                .as_bytes(),
        )?;
        let mut md = String::from("# gradflow sequence report\n\n");
        // T (--seq-len) is the gradient, adding and exploding experiments' length; the copy
        // task's own length is its delay, which its table names.
        let uses_seq_len = self
            .options
            .experiments
            .iter()
            .any(|e| *e != super::Experiment::Copy);
        let t = if uses_seq_len {
            format!("T = {}, ", self.options.seq_len)
        } else {
            String::new()
        };
        let _ = writeln!(
            md,
            "Seed {}; {t}H = {}, batch {}.\n\n```text\n{}```\n",
            self.options.seed,
            self.options.hidden,
            self.options.batch,
            self.table()
        );
        if !self.gradients.is_empty() {
            out.write(
                "gradients.csv",
                through_time::csv(&self.gradients).as_bytes(),
            )?;
            let fig = gradient_figure(self);
            let svg = emit(&fig, out.path(), "gradient_through_time")?;
            let _ = writeln!(
                md,
                "## Gradient through time\n\n‖∂L/∂h_t‖ for every step t (`gradients.csv`); \
                 `per step` is the geometric-mean factor per step from the earliest step not flushed to zero up to T; `reach 1e-6` how many steps back the gradient keeps 10⁻⁶ of ‖∂L/∂h_T‖.\n\n![{}]({svg})\n",
                fig.title
            );
        }
        if !self.adding.is_empty() {
            out.write("adding.csv", curves_csv(&self.adding).as_bytes())?;
            let after: Vec<GradientCurve> = self
                .adding
                .iter()
                .filter_map(|r| r.gradients_after.clone())
                .collect();
            let mut csv = String::from("run,");
            csv.push_str(&through_time::csv(&after));
            let labels: Vec<String> = self
                .adding
                .iter()
                .filter(|r| r.gradients_after.is_some())
                .map(|r| r.label())
                .collect();
            // Prefix each row with its run's label (two runs share an architecture).
            let mut lines = csv.lines();
            let mut out_csv = format!("{}\n", lines.next().unwrap_or_default());
            let steps = self.options.seq_len;
            for (i, line) in lines.enumerate() {
                let label = labels.get(i / steps.max(1)).map_or("", String::as_str);
                let _ = writeln!(out_csv, "{label},{line}");
            }
            out.write("gradients_after_training.csv", out_csv.as_bytes())?;
            let fig = adding_figure(&self.adding, self.options.target_mse);
            let svg = emit(&fig, out.path(), "adding")?;
            let _ = writeln!(
                md,
                "## The adding problem\n\nHeld-out MSE on {} sequences every {} steps \
                 (`adding.csv` has every step's training MSE and gradient norm).\n\n![{}]({svg})\n",
                self.options.eval_batch, self.options.eval_every, fig.title
            );
        }
        if !self.exploding.is_empty() {
            out.write("exploding.csv", curves_csv(&self.exploding).as_bytes())?;
            let fig = exploding_figure(&self.exploding);
            let svg = emit(&fig, out.path(), "exploding")?;
            let _ = writeln!(
                md,
                "## The exploding configuration\n\n![{}]({svg})\n",
                fig.title
            );
        }
        if !self.copy.is_empty() {
            out.write("copy.csv", copy_csv(&self.copy).as_bytes())?;
            let fig = copy_figure(&self.copy, self.options.copy_delay);
            let svg = emit(&fig, out.path(), "copy")?;
            let _ = writeln!(
                md,
                "## The copy task\n\nHeld-out cross-entropy per step on {} sequences every {} steps, \
                 against the memoryless baseline 10·ln 8/(T + 20) (`copy.csv`).\n\n![{}]({svg})\n",
                self.options.eval_batch, self.options.eval_every, fig.title
            );
        }
        out.write("report.md", md.as_bytes())?;
        Ok(())
    }
}

/// The copy-task table: one row per run.
pub fn copy_table(runs: &[CopyRun]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<14} {:>12} {:>8} {:>7} {:>11} {:>11} {:>8}  status",
        "run", "held-out CE", "recall", "steps", "solved", "max ‖g‖", "time"
    );
    for r in runs {
        let (ce, acc) = r.last();
        let _ = writeln!(
            s,
            "{:<14} {:>12.4} {:>7.1}% {:>7} {:>11} {:>11.2e} {:>7.1}s  {}",
            r.label(),
            ce,
            100.0 * acc,
            r.losses.len(),
            r.solved_at.map_or("—".to_string(), |t| format!("step {t}")),
            r.grad_norms.iter().copied().fold(0.0f32, f32::max),
            r.wall_s,
            r.diverged
                .as_ref()
                .map_or(String::new(), |d| format!("diverged: {d}"))
        );
    }
    s
}

fn copy_csv(runs: &[CopyRun]) -> String {
    let mut s = String::from("run,step,train_ce,grad_norm,heldout_ce,recall\n");
    for r in runs {
        let mut evals = r.evals.iter().peekable();
        for step in 0..=r.losses.len() {
            let (train, g) = match step.checked_sub(1) {
                Some(i) => (
                    r.losses.get(i).map_or(String::new(), |v| v.to_string()),
                    r.grad_norms
                        .get(i)
                        .map_or(String::new(), |v| format!("{v:e}")),
                ),
                None => (String::new(), String::new()),
            };
            let (held, acc) = match evals.peek() {
                Some(&&(s, ce, acc)) if s == step => {
                    evals.next();
                    (ce.to_string(), acc.to_string())
                }
                _ => (String::new(), String::new()),
            };
            let _ = writeln!(s, "{},{step},{train},{g},{held},{acc}", r.label());
        }
    }
    s
}

/// Held-out cross-entropy against step, one line per network, with the memoryless baseline
/// 10·ln 8/(T + 20) as a dashed reference.
pub fn copy_figure(runs: &[CopyRun], delay: usize) -> Figure {
    let x_max = runs.iter().map(|r| r.losses.len()).max().unwrap_or(1) as f64;
    let look = |r: &CopyRun| Look::nth(r.arch.color_index());
    let mut series: Vec<Series> = runs
        .iter()
        .map(|r| Series {
            look: look(r),
            points: r.evals.iter().map(|&(s, ce, _)| (s as f64, ce)).collect(),
        })
        .collect();
    series.push(reference(copy_baseline(delay), x_max));
    let mut legend: Vec<(String, Look)> = runs.iter().map(|r| (r.label(), look(r))).collect();
    legend.push(("memoryless baseline".into(), Look::reference()));
    Figure {
        title: format!(
            "The copy task, T = {delay}: held-out cross-entropy ({} symbols)",
            copy::COPY_SYMBOLS
        ),
        size: (1000, 520),
        body: Body::Lines {
            panels: vec![LinePanel {
                title: "held-out cross-entropy per step".into(),
                x_desc: "Adam step".into(),
                y_desc: "nats (log scale)".into(),
                y_scale: YScale::Log,
                series,
            }],
            legend,
        },
    }
}
