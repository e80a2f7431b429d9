//! `gradflow compare-runs`: the curves of several `train-image` runs in one figure, the way
//! He et al. (2016, Fig. 6) compare plain and residual networks of two depths: training
//! error (100 − top-1 on the augmented training batches, averaged over the epoch) and
//! validation error per epoch, plus the training loss.

use std::path::PathBuf;

use clap::Args;

use super::ImageError;
use crate::run::figures::{Body, Figure, LinePanel, Look, Series, YScale, emit};
use crate::run::{MetricsLog, ReportDir};

/// The flags of `gradflow compare-runs`.
#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// Run folders written by train-image (each labelled by its folder name).
    #[arg(required = true, value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    /// Folder for compare.svg/png and compare.md.
    #[arg(long, default_value = "compare-report")]
    pub out: PathBuf,
    /// Figure title.
    #[arg(long, default_value = "train-image runs")]
    pub title: String,
}

/// One run's final numbers, as the table prints them.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    /// The folder name.
    pub label: String,
    /// Epochs logged.
    pub epochs: usize,
    /// Final training error, %.
    pub train_error: f64,
    /// Final validation error, %.
    pub val_error: f64,
    /// Final training loss.
    pub train_loss: f64,
}

/// Draws the runs' curves and writes `compare.md` with the table.
///
/// # Errors
/// [`ImageError::Metrics`] for a folder without metrics; figure and folder errors.
pub fn compare_runs(a: &CompareArgs) -> Result<Vec<RunRow>, ImageError> {
    let mut logs = Vec::new();
    for dir in &a.runs {
        let label = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        // The finer training log when the run has one.
        let steps = MetricsLog::read(&dir.join(super::train::STEP_LOG)).ok();
        logs.push((label, MetricsLog::read(dir)?, steps));
    }
    let out = ReportDir::prepare(&a.out)?;
    let curve = |log: &MetricsLog, col: &str, error: bool| -> Vec<(f64, f64)> {
        let x = log.column("epoch").unwrap_or_default();
        let y = log.column(col).unwrap_or_default();
        x.into_iter()
            .zip(y)
            .map(|(e, v)| (e, if error { 100.0 * (1.0 - v) } else { v }))
            .collect()
    };
    let panel =
        |title: &str, y_desc: &str, col: &str, error: bool, fine: bool, scale: YScale| LinePanel {
            title: title.into(),
            x_desc: "epoch".into(),
            y_desc: y_desc.into(),
            y_scale: scale,
            series: logs
                .iter()
                .enumerate()
                .map(|(i, (_, log, steps))| Series {
                    look: Look::nth(i),
                    points: match (fine, steps) {
                        (true, Some(s)) => curve(s, col, error),
                        _ => curve(log, col, error),
                    },
                })
                .collect(),
        };
    let fig = Figure {
        title: a.title.clone(),
        size: (1500, 480),
        body: Body::Lines {
            panels: vec![
                panel(
                    "training error",
                    "% (augmented batches)",
                    "train_top1",
                    true,
                    true,
                    YScale::Linear,
                ),
                panel(
                    "validation error",
                    "%",
                    "val_top1",
                    true,
                    false,
                    YScale::Linear,
                ),
                panel(
                    "training loss",
                    "cross-entropy (log scale)",
                    "train_loss",
                    false,
                    true,
                    YScale::Log,
                ),
            ],
            legend: logs
                .iter()
                .enumerate()
                .map(|(i, (l, _, _))| (l.clone(), Look::nth(i)))
                .collect(),
        },
    };
    let svg = emit(&fig, out.path(), "compare")?;
    let last = |log: &MetricsLog, col: &str| {
        log.column(col)
            .and_then(|v| v.last().copied())
            .unwrap_or(f64::NAN)
    };
    let rows: Vec<RunRow> = logs
        .iter()
        .map(|(label, log, _)| RunRow {
            label: label.clone(),
            epochs: log.rows().len(),
            train_error: 100.0 * (1.0 - last(log, "train_top1")),
            val_error: 100.0 * (1.0 - last(log, "val_top1")),
            train_loss: last(log, "train_loss"),
        })
        .collect();
    let mut md = format!(
        "# {}\n\n![curves]({svg})\n\n| run | epochs | train error % | val error % | train loss |\n|---|---|---|---|---|\n",
        a.title
    );
    for r in &rows {
        md += &format!(
            "| {} | {} | {:.2} | {:.2} | {:.4} |\n",
            r.label, r.epochs, r.train_error, r.val_error, r.train_loss
        );
    }
    out.write("compare.md", md.as_bytes())?;
    let dir = out.commit("gradflow compare-runs")?;
    print!("{}", md.lines().skip(4).collect::<Vec<_>>().join("\n"));
    println!("\nfigure: {}", dir.join(svg).display());
    Ok(rows)
}
