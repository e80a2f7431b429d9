//! Figures of the vanishing-gradient report, each written as SVG (for the Markdown report) and
//! PNG (for viewers that cannot show SVG).
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
//! there; a figure with nothing to show is not written.
//!
//! Text is drawn with DejaVu Sans, embedded in the binary (`assets/DejaVuSans.ttf`, Bitstream
//! Vera licence, see `assets/DejaVuSans-LICENSE.txt`) and registered with plotters' pure-Rust
//! `ab_glyph` backend: no system font or font library is needed at build or run time.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

use super::model::Activation;
use super::report::LabReport;
use super::{CurvePoint, LabConfig, RunResult, best};

/// DejaVu Sans 2.37 (Debian fonts-dejavu-core), free licence in `assets/DejaVuSans-LICENSE.txt`.
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
/// The family name every text style uses; the SVG files name it too, so a browser draws
/// them with its own sans-serif font.
const FAMILY: &str = "sans-serif";

/// A figure could not be drawn or written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// plotters failed while drawing.
    #[error("cannot draw {path}: {message}")]
    Draw {
        /// The figure file.
        path: PathBuf,
        /// plotters' description of the failure.
        message: String,
    },
    /// The PNG encoder failed.
    #[error("cannot encode {path} as PNG: {source}")]
    Png {
        /// The figure file.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: png::EncodingError,
    },
    /// The file or its folder could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The embedded font did not parse (a corrupt build).
    #[error("the embedded font DejaVu Sans could not be parsed")]
    Font,
}

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

// ---------------------------------------------------------------------------------------------
// What is drawn: data extracted from the report, independent of plotters.

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

/// Colour and dash of a series: ten colours, solid for the first ten series, then dashed.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Look {
    color: RGBColor,
    dashed: bool,
    width: u32,
}

/// Matplotlib's "tab10" palette: ten colours that stay apart on screen and in print.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

impl Look {
    fn nth(i: usize) -> Look {
        Look {
            color: PALETTE[i % PALETTE.len()],
            dashed: (i / PALETTE.len()) % 2 == 1,
            width: 2,
        }
    }

    fn bound() -> Look {
        Look {
            color: BLACK,
            dashed: true,
            width: 1,
        }
    }

    fn style(self) -> ShapeStyle {
        self.color.stroke_width(self.width)
    }
}

/// One line: its points (x, y) in data coordinates.
struct Series {
    look: Look,
    points: Vec<(f64, f64)>,
}

/// One chart of a [`Figure::Lines`].
struct LinePanel {
    title: String,
    x_desc: String,
    y_desc: String,
    log_y: bool,
    series: Vec<Series>,
}

/// One small multiple of a [`Figure::Heat`]: `cells[i][l]` is the value of layer l + 1 at
/// logged step `steps[i]`.
struct HeatPanel {
    name: String,
    steps: Vec<usize>,
    layers: usize,
    cells: Vec<Vec<f32>>,
}

enum Body {
    /// Line charts side by side, sharing one legend at the right.
    Lines {
        panels: Vec<LinePanel>,
        legend: Vec<(String, Look)>,
    },
    /// Heat maps on a grid, sharing one colour bar on [0, 1].
    Heat {
        value_desc: String,
        panels: Vec<HeatPanel>,
    },
}

struct Figure {
    title: String,
    size: (u32, u32),
    body: Body,
}

#[derive(Clone, Copy, PartialEq)]
enum Moment {
    Init,
    Trained,
}

/// Keeps (x, y) pairs a log axis can show: both finite, y > 0.
fn log_ok(&(x, y): &(f64, f64)) -> bool {
    x.is_finite() && y.is_finite() && y > 0.0
}

/// Keeps (x, y) pairs a linear axis can show: both finite.
fn lin_ok(&(x, y): &(f64, f64)) -> bool {
    x.is_finite() && y.is_finite()
}

/// Split a polyline at the points `ok` rejects, so that the gap shows instead of a jump.
fn segments(points: &[(f64, f64)], ok: fn(&(f64, f64)) -> bool) -> Vec<Vec<(f64, f64)>> {
    points
        .split(|p| !ok(p))
        .filter(|s| !s.is_empty())
        .map(<[_]>::to_vec)
        .collect()
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
        legend.push(("0.25^k bound (σ′ ≤ 1/4)".to_string(), Look::bound()));
        series.push(Series {
            look: Look::bound(),
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
                log_y: true,
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
                    log_y: true,
                    series: loss,
                },
                LinePanel {
                    title: "training accuracy".into(),
                    x_desc: "step".into(),
                    y_desc: "accuracy on the step's batch".into(),
                    log_y: false,
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

/// Columns and rows of a near-square grid holding `n` panels.
fn grid(n: usize) -> (usize, usize) {
    let cols = (1..=n.max(1)).find(|c| c * c >= n).unwrap_or(1);
    (cols, n.max(1).div_ceil(cols))
}

/// Column edges of a heat map whose column i is centred on `steps[i]`: edges halfway between
/// neighbouring steps, the outer ones as far out as the nearest inner gap (1 step for a single
/// column). `steps.len() + 1` edges.
fn cell_edges(steps: &[usize]) -> Vec<f64> {
    let s: Vec<f64> = steps.iter().map(|&v| v as f64).collect();
    match s.as_slice() {
        [] => vec![0.0],
        [only] => vec![only - 0.5, only + 0.5],
        [a, b, ..] => {
            let first = a - (b - a) / 2.0;
            let last = {
                let (p, q) = (s[s.len() - 2], s[s.len() - 1]);
                q + (q - p) / 2.0
            };
            std::iter::once(first)
                .chain(s.windows(2).map(|w| (w[0] + w[1]) / 2.0))
                .chain(std::iter::once(last))
                .collect()
        }
    }
}

/// A perceptual colour map close to viridis: 0 → dark purple, 1 → yellow; NaN → light grey.
fn heat_color(v: f32) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    if !v.is_finite() {
        return RGBColor(220, 220, 220);
    }
    let t = f64::from(v).clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A range for a log axis holding the positive finite `ys`, padded by a factor of 2.
fn log_range(ys: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = ys
        .filter(|y| y.is_finite() && *y > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), y| {
            (lo.min(y), hi.max(y))
        });
    if hi > 0.0 {
        (lo / 2.0, hi * 2.0)
    } else {
        (1e-3, 1.0)
    }
}

/// A range for a linear axis holding the finite `vs`, padded by 5% (±0.5 if flat).
fn lin_range(vs: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = vs
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        (0.0, 1.0)
    } else if hi - lo < 1e-12 {
        (lo - 0.5, hi + 0.5)
    } else {
        let pad = 0.05 * (hi - lo);
        (lo - pad, hi + pad)
    }
}

/// The span of the finite `xs`, unpadded (layer indices and steps start at round numbers);
/// ±0.5 around a single value.
fn x_range(xs: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = xs
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        });
    if lo > hi {
        (0.0, 1.0)
    } else if hi - lo < 1e-12 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    }
}

/// log₁₀ y, or NaN where a log axis cannot show y (0, negative, NaN, ∞).
fn to_log10(y: f64) -> f64 {
    if y.is_finite() && y > 0.0 {
        y.log10()
    } else {
        f64::NAN
    }
}

/// The label of position `e` = log₁₀ y on a log axis: `1e-20` at whole decades, the value
/// to two significant digits between them.
fn log_tick(e: f64) -> String {
    let r = e.round();
    if (e - r).abs() > 1e-9 {
        // Two significant digits: off by < 1% of the value, under a pixel on a log axis.
        let v = 10f64.powf(e);
        let mag = e.floor() as i32;
        if (-2..3).contains(&mag) {
            let decimals = (1 - mag).max(0) as usize;
            format!("{v:.decimals$}")
        } else {
            format!("{v:.1e}")
        }
    } else if (0.0..=3.0).contains(&r) {
        format!("{}", 10f64.powi(r as i32))
    } else {
        format!("1e{r}")
    }
}

/// Shortest plain-decimal or scientific label for an axis value.
fn tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if (1e-2..1e4).contains(&a) {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.0e}")
    }
}

// ---------------------------------------------------------------------------------------------
// Drawing: one generic pass per backend (SVG text, RGB bitmap).

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Text in the embedded font. Sizes are even: plotters' ab_glyph backend puts the baseline at
/// size/2 below the anchor and truncates per glyph, so odd sizes shift small glyphs such as
/// "." by a pixel.
fn font(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&BLACK)
}

fn draw<DB: DrawingBackend>(fig: &Figure, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let root = root.titled(&fig.title, font(22))?;
    match &fig.body {
        Body::Lines { panels, legend } => {
            let (w, _) = root.dim_in_pixel();
            let (charts, key) = root.split_horizontally(w.saturating_sub(290));
            let areas = charts.split_evenly((1, panels.len().max(1)));
            for (panel, area) in panels.iter().zip(&areas) {
                draw_line_panel(panel, area)?;
            }
            draw_legend(&key, legend)
        }
        Body::Heat { value_desc, panels } => {
            let (w, _) = root.dim_in_pixel();
            let (maps, bar) = root.split_horizontally(w.saturating_sub(110));
            let (cols, rows) = grid(panels.len());
            let areas = maps.split_evenly((rows, cols));
            for (panel, area) in panels.iter().zip(&areas) {
                draw_heat_panel(panel, area)?;
            }
            draw_color_bar(&bar, value_desc)
        }
    }
}

/// Draw `series` into a chart whose coordinates take (f64, f64): a line per run of valid
/// points, and a dot on every valid point (so a lone point still shows).
fn draw_series<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'_, DB, CT>,
    series: &[Series],
    ok: fn(&(f64, f64)) -> bool,
) -> DrawResult<DB> {
    for s in series {
        let style = s.look.style();
        for seg in segments(&s.points, ok) {
            if s.look.dashed {
                chart.draw_series(DashedLineSeries::new(seg.clone(), 7, 5, style))?;
            } else {
                chart.draw_series(LineSeries::new(seg.clone(), style))?;
            }
            if s.look != Look::bound() {
                chart.draw_series(
                    seg.into_iter()
                        .map(|p| Circle::new(p, 2, s.look.color.filled())),
                )?;
            }
        }
    }
    Ok(())
}

/// A log-scale panel is drawn as log₁₀ y on a linear axis with decade labels: plotters' own
/// log axis drops every tick below f64::EPSILON (≈ 2e−16), and vanishing gradients live there.
fn draw_line_panel<DB: DrawingBackend>(
    panel: &LinePanel,
    area: &DrawingArea<DB, Shift>,
) -> DrawResult<DB> {
    let series: Vec<Series> = if panel.log_y {
        panel
            .series
            .iter()
            .map(|s| Series {
                look: s.look,
                points: s.points.iter().map(|&(x, y)| (x, to_log10(y))).collect(),
            })
            .collect()
    } else {
        panel
            .series
            .iter()
            .map(|s| Series {
                look: s.look,
                points: s.points.clone(),
            })
            .collect()
    };
    let valid = || {
        series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(lin_ok)
    };
    let (x0, x1) = x_range(valid().map(|p| p.0));
    let (y0, y1) = if panel.log_y {
        let (lo, hi) = log_range(valid().map(|p| 10f64.powf(p.1)));
        (lo.log10(), hi.log10())
    } else {
        lin_range(valid().map(|p| p.1))
    };
    let y_label = |v: &f64| if panel.log_y { log_tick(*v) } else { tick(*v) };
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, font(18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(75)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc(&panel.x_desc)
        .y_desc(&panel.y_desc)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&y_label)
        .label_style(font(12))
        .axis_desc_style(font(14))
        .light_line_style(RGBColor(238, 238, 238))
        .max_light_lines(4)
        .draw()?;
    draw_series(&mut chart, &series, lin_ok)
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, Look)],
) -> DrawResult<DB> {
    let text = font(14).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (label, look)) in entries.iter().enumerate() {
        let y = 60 + 21 * i as i32;
        if look.dashed {
            for x in [4, 17, 30] {
                area.draw(&PathElement::new(vec![(x, y), (x + 8, y)], look.style()))?;
            }
        } else {
            area.draw(&PathElement::new(vec![(4, y), (38, y)], look.style()))?;
            area.draw(&Circle::new((21, y), 2, look.color.filled()))?;
        }
        area.draw(&Text::new(label.clone(), (46, y), text.clone()))?;
    }
    Ok(())
}

fn draw_heat_panel<DB: DrawingBackend>(
    panel: &HeatPanel,
    area: &DrawingArea<DB, Shift>,
) -> DrawResult<DB> {
    let edges = cell_edges(&panel.steps);
    let (x0, x1) = (
        edges.first().copied().unwrap_or(0.0),
        edges.last().copied().unwrap_or(1.0),
    );
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.name, font(14))
        .margin(8)
        .x_label_area_size(38)
        .y_label_area_size(48)
        .build_cartesian_2d(x0..x1, 0.5..panel.layers as f64 + 0.5)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("step")
        .y_desc("layer")
        // The first column reaches below step 0: no negative step labels.
        .x_label_formatter(&|v| if *v < 0.0 { String::new() } else { tick(*v) })
        .y_label_formatter(&|v| tick(*v))
        .label_style(font(12))
        .axis_desc_style(font(14))
        .draw()?;
    chart.draw_series(edges.windows(2).zip(&panel.cells).flat_map(|(ab, col)| {
        let (a, b) = (ab[0], ab[1]);
        col.iter().enumerate().map(move |(l, &v)| {
            let y = (l + 1) as f64;
            Rectangle::new([(a, y - 0.5), (b, y + 0.5)], heat_color(v).filled())
        })
    }))?;
    Ok(())
}

fn draw_color_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    value_desc: &str,
) -> DrawResult<DB> {
    let (_, h) = area.dim_in_pixel();
    let (top, bottom) = (60, h as i32 - 60);
    let n = 50;
    let span = (bottom - top).max(n);
    for k in 0..n {
        let v = 1.0 - k as f32 / (n - 1) as f32;
        let (y0, y1) = (top + span * k / n, top + span * (k + 1) / n);
        area.draw(&Rectangle::new(
            [(10, y0), (34, y1)],
            heat_color(v).filled(),
        ))?;
    }
    area.draw(&Rectangle::new(
        [(10, top), (34, top + span)],
        BLACK.stroke_width(1),
    ))?;
    let text = font(12).pos(Pos::new(HPos::Left, VPos::Center));
    for (v, label) in [(1.0, "100%"), (0.5, "50%"), (0.0, "0%")] {
        let y = top + ((1.0 - v) * span as f64) as i32;
        area.draw(&Text::new(label, (38, y), text.clone()))?;
    }
    let note = font(12).pos(Pos::new(HPos::Left, VPos::Center));
    area.draw(&Text::new("grey: no data", (4, top + span + 20), note))?;
    let vertical = font(12)
        .transform(FontTransform::Rotate270)
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new(
        value_desc.to_string(),
        (85, top + span / 2),
        vertical,
    ))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Output.

/// Register the embedded font once per process.
fn ensure_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok { Ok(()) } else { Err(PlotError::Font) }
}

/// Draw `fig` as `<stem>.svg` and `<stem>.png` in `dir`; returns the SVG file name.
fn emit(fig: &Figure, dir: &Path, stem: &str) -> Result<String, PlotError> {
    ensure_font()?;
    let (w, h) = fig.size;
    let svg_name = format!("{stem}.svg");
    let svg_path = dir.join(&svg_name);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        draw(fig, &root)
            .and_then(|()| root.present())
            .map_err(|e| draw_error(&svg_path, &e))?;
    }
    write_atomic(&svg_path, svg.as_bytes())?;

    let png_path = dir.join(format!("{stem}.png"));
    let mut rgb = vec![0u8; 3 * w as usize * h as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw(fig, &root)
            .and_then(|()| root.present())
            .map_err(|e| draw_error(&png_path, &e))?;
    }
    let bytes = encode_png(&rgb, w, h).map_err(|source| PlotError::Png {
        path: png_path.clone(),
        source,
    })?;
    write_atomic(&png_path, &bytes)?;
    Ok(svg_name)
}

fn draw_error(path: &Path, e: &dyn std::fmt::Display) -> PlotError {
    PlotError::Draw {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// 8-bit RGB rows, top to bottom, as a PNG file.
fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

/// Write `bytes` to `path` atomically (temporary file, then rename), as the report does.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    super::report::write_atomic(path, bytes).map_err(|e| PlotError::Io {
        path: e.path,
        source: e.source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_break_at_invalid_points() {
        let pts = [
            (1.0, 1.0),
            (2.0, 0.0),
            (3.0, 2.0),
            (4.0, 3.0),
            (5.0, f64::NAN),
            (6.0, -1.0),
        ];
        let segs = segments(&pts, log_ok);
        assert_eq!(segs, vec![vec![(1.0, 1.0)], vec![(3.0, 2.0), (4.0, 3.0)]]);
        // A linear axis keeps 0 and −1 but still drops NaN.
        let segs = segments(&pts, lin_ok);
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].len(), 4);
        assert_eq!(segs[1], vec![(6.0, -1.0)]);
    }

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

    #[test]
    fn log_range_ignores_values_a_log_axis_cannot_show() {
        let (lo, hi) = log_range([0.0, -3.0, f64::NAN, f64::INFINITY, 1e-6, 10.0].into_iter());
        assert!(
            (lo - 5e-7).abs() < 1e-18 && (hi - 20.0).abs() < 1e-12,
            "{lo} {hi}"
        );
        assert_eq!(log_range([0.0, f64::NAN].into_iter()), (1e-3, 1.0));
        let (lo, hi) = lin_range([3.0, 3.0].into_iter());
        assert!(lo < 3.0 && hi > 3.0);
    }

    #[test]
    fn heat_color_runs_from_purple_to_yellow_and_greys_nan() {
        assert_eq!(heat_color(0.0), RGBColor(68, 1, 84));
        assert_eq!(heat_color(1.0), RGBColor(253, 231, 37));
        assert_eq!(heat_color(2.0), heat_color(1.0));
        assert_eq!(heat_color(f32::NAN), RGBColor(220, 220, 220));
        // Brightness grows monotonically along the map.
        let luma =
            |c: RGBColor| 0.3 * f64::from(c.0) + 0.59 * f64::from(c.1) + 0.11 * f64::from(c.2);
        let l: Vec<f64> = (0..=20)
            .map(|i| luma(heat_color(i as f32 / 20.0)))
            .collect();
        assert!(l.windows(2).all(|w| w[1] > w[0]), "{l:?}");
    }

    #[test]
    fn heat_cells_are_centred_on_their_steps() {
        assert_eq!(
            cell_edges(&[0, 10, 20, 25]),
            vec![-5.0, 5.0, 15.0, 22.5, 27.5]
        );
        assert_eq!(cell_edges(&[3]), vec![2.5, 3.5]);
        assert_eq!(cell_edges(&[]), vec![0.0]);
    }

    #[test]
    fn grid_holds_every_panel() {
        for n in 1..30 {
            let (c, r) = grid(n);
            assert!(c * r >= n && c * (r - 1) < n, "n = {n}: {c} × {r}");
        }
    }

    #[test]
    fn log_ticks_name_decades() {
        assert_eq!(log_tick(-20.0), "1e-20");
        assert_eq!(log_tick(0.0), "1");
        assert_eq!(log_tick(2.0), "100");
        assert_eq!(log_tick(5.0), "1e5");
        assert_eq!(log_tick(0.5f64.log10()), "0.50");
        assert_eq!(log_tick(63.096f64.log10()), "63");
        assert_eq!(log_tick(1.585f64.log10()), "1.6");
        assert_eq!(log_tick(3.16e5f64.log10()), "3.2e5");
        assert!(to_log10(0.0).is_nan() && to_log10(-1.0).is_nan() && to_log10(f64::NAN).is_nan());
        assert!((to_log10(1e-30) + 30.0).abs() < 1e-12);
    }

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(10.0), "10");
        assert_eq!(tick(0.25), "0.25");
        assert_eq!(tick(1e-7), "1e-7");
    }
}
