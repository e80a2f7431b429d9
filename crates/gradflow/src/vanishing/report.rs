//! The lab's outputs: a summary table for the terminal, and files (JSON, CSV, Markdown) in the
//! report folder. Every file is written to a temporary name and renamed, so an interrupted run
//! never leaves a half-written report.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{LabConfig, LabOptions, RunResult, best};
use crate::run::{ReportDir, ReportDirError};

/// Everything one `gradflow vanishing` run produced.
#[derive(Clone, Debug, Serialize)]
pub struct LabReport {
    /// Which data the run used, in words.
    pub data: String,
    /// Classes of the task (chance accuracy is 1/classes).
    pub classes: usize,
    /// Held-out rows each accuracy was measured on.
    pub heldout_rows: usize,
    /// The shared options.
    pub options: LabOptions,
    /// Each configuration with all its sweep runs.
    pub configs: Vec<(LabConfig, Vec<RunResult>)>,
}

/// A report file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct ReportError {
    /// The file.
    pub path: PathBuf,
    /// The operating system's error.
    #[source]
    pub source: std::io::Error,
}

/// Write one report file with the workspace's one atomic-write helper
/// ([`gradflow_layers::checkpoint::write_atomic`]: temp file, fsync, mode 0644, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    gradflow_layers::checkpoint::write_atomic(path, bytes).map_err(|source| ReportError {
        path: path.to_path_buf(),
        source,
    })
}

fn fmt_sci(v: f32) -> String {
    if v.is_nan() {
        "—".into()
    } else {
        format!("{v:.1e}")
    }
}

fn fmt_pct(v: f32) -> String {
    if v.is_nan() {
        "—".into()
    } else {
        format!("{:.1}%", v * 100.0)
    }
}

impl LabReport {
    /// The accuracy below which a result is indistinguishable from guessing: chance 1/C plus
    /// three binomial standard deviations of a guesser over the held-out rows, plus one point
    /// (a net that predicts one class scores exactly 1/C on a balanced set).
    pub fn chance_threshold(&self) -> f32 {
        let p = 1.0 / self.classes.max(1) as f64;
        let sd = (p * (1.0 - p) / self.heldout_rows.max(1) as f64).sqrt();
        (p + 3.0 * sd + 0.01) as f32
    }

    /// One word for a configuration's best run: `learns`, `at chance`, or `diverged` when
    /// every learning rate diverged.
    pub fn verdict(&self, runs: &[RunResult]) -> &'static str {
        match best(runs) {
            None => "diverged",
            Some(r) if r.heldout_accuracy < self.chance_threshold() => "at chance",
            Some(_) => "learns",
        }
    }

    /// The summary table: one row per configuration, its best stable learning rate, and the
    /// rates that diverged.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<24} {:>7} {:>8} {:>9} {:>9} {:>9} {:>7} {:>7} {:>8}  {:<9}  diverged at",
            "configuration",
            "best lr",
            "held-out",
            "loss",
            "‖∂L/∂h₁‖",
            "first/last",
            "sat.",
            "dead",
            "steps/s",
            "verdict"
        );
        for (cfg, runs) in &self.configs {
            let diverged: Vec<String> = runs
                .iter()
                .filter(|r| r.diverged)
                .map(|r| format!("{}", r.lr))
                .collect();
            let div = if diverged.is_empty() {
                String::new()
            } else {
                format!("lr {}", diverged.join(", "))
            };
            match best(runs) {
                Some(r) => {
                    let init = r.curve.first();
                    let last = r.curve.last();
                    let h1 = init
                        .and_then(|p| p.layers.first())
                        .map_or(f32::NAN, |l| l.grad_h_norm);
                    let sat = last.map_or(f32::NAN, |p| {
                        p.layers.iter().map(|l| l.saturated).sum::<f32>()
                            / p.layers.len().max(1) as f32
                    });
                    let dead = last.map_or(f32::NAN, |p| {
                        p.layers.iter().map(|l| l.dead).sum::<f32>() / p.layers.len().max(1) as f32
                    });
                    let _ = writeln!(
                        s,
                        "{:<24} {:>7} {:>8} {:>9.4} {:>9} {:>9} {:>7} {:>7} {:>8.1}  {:<9}  {}",
                        cfg.name,
                        r.lr,
                        fmt_pct(r.heldout_accuracy),
                        r.final_loss(),
                        fmt_sci(h1),
                        fmt_sci(r.first_last_ratio()),
                        fmt_pct(sat),
                        fmt_pct(dead),
                        r.steps_per_s,
                        self.verdict(runs),
                        div
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "{:<24} {:>7} {:>8}  every learning rate diverged: {}",
                        cfg.name, "—", "—", div
                    );
                }
            }
        }
        s
    }

    /// One CSV row per (configuration, lr, step, layer) with every recorder number.
    pub fn layers_csv(&self) -> String {
        let mut s = String::from(
            "config,lr,step,layer,grad_w_norm,grad_h_norm,act_mean,act_std,saturated,dead\n",
        );
        for (_, runs) in &self.configs {
            for r in runs {
                for p in &r.curve {
                    for l in &p.layers {
                        let _ = writeln!(
                            s,
                            "{},{},{},{},{},{},{},{},{},{}",
                            r.config,
                            r.lr,
                            p.step,
                            l.layer,
                            l.grad_w_norm,
                            l.grad_h_norm,
                            l.act_mean,
                            l.act_std,
                            l.saturated,
                            l.dead
                        );
                    }
                }
            }
        }
        s
    }

    /// One CSV row per (configuration, lr, logged step): loss, accuracy, gradient norm.
    pub fn curves_csv(&self) -> String {
        let mut s = String::from("config,lr,step,loss,accuracy,grad_norm\n");
        for (_, runs) in &self.configs {
            for r in runs {
                for p in &r.curve {
                    let _ = writeln!(
                        s,
                        "{},{},{},{},{},{}",
                        r.config, r.lr, p.step, p.loss, p.accuracy, p.grad_norm
                    );
                }
            }
        }
        s
    }

    /// A Markdown summary linking the other files.
    pub fn markdown(&self, figures: &[(String, String)]) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# gradflow vanishing-gradient report\n");
        let _ = writeln!(s, "Data: {}\n", self.data);
        let o = &self.options;
        let _ = writeln!(
            s,
            "Networks: {} linear layers of width {} (the very deep rung: {}), batch {}, {} steps, seed {}.\n",
            o.depth, o.width, o.deep_depth, o.batch, o.steps, o.seed
        );
        let _ = writeln!(s, "## Summary\n\n```text\n{}```\n", self.table());
        let _ = writeln!(
            s,
            "`‖∂L/∂h₁‖` is the backward signal reaching the first hidden layer at initialization; \
             `first/last` divides it by the signal at the last hidden layer (≪ 1: vanishing, ≫ 1: \
             exploding). `sat.` and `dead` are averaged over layers after training. `at chance`: \
             the best learning rate's held-out accuracy is below {:.1} % (chance 1/{} plus three \
             standard deviations of a guesser over {} rows, plus one point). A run diverged when \
             its loss or a gradient became NaN/inf or its loss grew {}×.\n",
            self.chance_threshold() * 100.0,
            self.classes,
            self.heldout_rows,
            crate::run::DivergenceGuard::GROWTH
        );
        let _ = writeln!(s, "## Configurations\n");
        for (cfg, _) in &self.configs {
            let _ = writeln!(s, "- **{}**: {}", cfg.name, cfg.about);
        }
        if !figures.is_empty() {
            let _ = writeln!(s, "\n## Figures\n");
            for (title, file) in figures {
                let _ = writeln!(s, "### {title}\n\n![{title}]({file})\n");
            }
        }
        let _ = writeln!(
            s,
            "\n## Files\n\n- `results.json`: everything below, machine-readable\n- `layers.csv`: per layer and logged step\n- `curves.csv`: loss and accuracy curves"
        );
        s
    }

    /// Write results.json, layers.csv, curves.csv and report.md into the report folder;
    /// `figures` are (title, file name) pairs already written there.
    pub fn write(
        &self,
        out: &ReportDir,
        figures: &[(String, String)],
    ) -> Result<(), ReportDirError> {
        let json = serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        out.write("results.json", json.as_bytes())?;
        out.write("layers.csv", self.layers_csv().as_bytes())?;
        out.write("curves.csv", self.curves_csv().as_bytes())?;
        out.write("report.md", self.markdown(figures).as_bytes())?;
        Ok(())
    }
}
