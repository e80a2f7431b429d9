//! Figures for every pipeline's report: line charts (log or linear y) and heat maps, each
//! written as SVG (for the Markdown report) and PNG (for viewers that cannot show SVG).
//!
//! A pipeline describes *what* to draw with the plain data types of this module — a
//! [`Figure`] holding either line [`LinePanel`]s of [`Series`] or [`HeatPanel`]s — and hands
//! it to [`emit`]; it never touches plotters. The parts:
//!
//! - [`scale`]: axis ranges, tick labels, the split of a line at values an axis cannot show,
//!   heat-map cells and colours, the panel grid — pure functions, tested on their own;
//! - `render` (private): the plotters drawing, the embedded font and the PNG encoding.
//!
//! Values a log axis cannot show (0, negative, NaN, ∞) are left out, which breaks the line
//! there; a linear axis leaves out NaN and ∞ the same way.
//!
//! ```no_run
//! use gradflow::run::figures::{Body, Figure, LinePanel, Look, Series, YScale, emit};
//!
//! let loss = Series { look: Look::nth(0), points: vec![(0.0, 2.3), (10.0, 1.1), (20.0, 0.6)] };
//! let fig = Figure {
//!     title: "Training loss".into(),
//!     size: (900, 500),
//!     body: Body::Lines {
//!         panels: vec![LinePanel {
//!             title: "loss".into(),
//!             x_desc: "step".into(),
//!             y_desc: "cross-entropy (log scale)".into(),
//!             y_scale: YScale::Log,
//!             series: vec![loss],
//!         }],
//!         legend: vec![("run 1".into(), Look::nth(0))],
//!     },
//! };
//! let svg = emit(&fig, std::path::Path::new("out"), "loss")?; // out/loss.svg, out/loss.png
//! assert_eq!(svg, "loss.svg");
//! # Ok::<(), gradflow::run::figures::PlotError>(())
//! ```

mod render;
pub mod scale;

use std::path::{Path, PathBuf};

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

/// An 8-bit sRGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// Black, for reference lines and text.
    pub const BLACK: Rgb = Rgb(0, 0, 0);
}

/// Matplotlib's "tab10" palette: ten colours that stay apart on screen and in print.
pub const PALETTE: [Rgb; 10] = [
    Rgb(31, 119, 180),
    Rgb(255, 127, 14),
    Rgb(44, 160, 44),
    Rgb(214, 39, 40),
    Rgb(148, 103, 189),
    Rgb(140, 86, 75),
    Rgb(227, 119, 194),
    Rgb(127, 127, 127),
    Rgb(188, 189, 34),
    Rgb(23, 190, 207),
];

/// How a series is drawn: colour, dash, stroke width in pixels, and whether each valid point
/// gets a dot (so that a lone point between two gaps still shows).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Look {
    /// Stroke and dot colour.
    pub color: Rgb,
    /// Dashed instead of solid.
    pub dashed: bool,
    /// Stroke width in pixels.
    pub width: u32,
    /// A dot on every valid point.
    pub dots: bool,
}

impl Look {
    /// The look of the i-th data series: the [`PALETTE`] colours in turn, solid with dots for
    /// the first ten series, dashed for the next ten, and so on.
    pub fn nth(i: usize) -> Look {
        Look {
            color: PALETTE[i % PALETTE.len()],
            dashed: (i / PALETTE.len()) % 2 == 1,
            width: 2,
            dots: true,
        }
    }

    /// A reference curve (a theoretical bound, a target): thin, black, dashed, no dots.
    pub fn reference() -> Look {
        Look {
            color: Rgb::BLACK,
            dashed: true,
            width: 1,
            dots: false,
        }
    }
}

/// One line: its points (x, y) in data coordinates, in drawing order. Points the panel's axis
/// cannot show (see [`scale::log_ok`], [`scale::lin_ok`]) break the line into segments.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// How the line is drawn.
    pub look: Look,
    /// The points, (x, y).
    pub points: Vec<(f64, f64)>,
}

/// The scale of a line panel's y axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YScale {
    /// Linear, padded by 5% around the finite values.
    Linear,
    /// Base-10 logarithmic, padded by a factor of 2 around the positive finite values, with
    /// labels at decades; any number of decades (down to 1e−300) is drawn correctly.
    Log,
}

/// One chart of a [`Body::Lines`] figure.
#[derive(Clone, Debug, PartialEq)]
pub struct LinePanel {
    /// Caption above the chart.
    pub title: String,
    /// x-axis description.
    pub x_desc: String,
    /// y-axis description.
    pub y_desc: String,
    /// Linear or log y axis.
    pub y_scale: YScale,
    /// The lines.
    pub series: Vec<Series>,
}

/// One small multiple of a [`Body::Heat`] figure: a grid of rows × logged steps, where
/// `cells[i][r]` is the value of row r + 1 (a layer, a block) at logged step `steps[i]`.
/// Values are fractions on [0, 1] (clamped; NaN is drawn light grey as "no data"); column i is
/// centred on `steps[i]` ([`scale::cell_edges`]).
#[derive(Clone, Debug, PartialEq)]
pub struct HeatPanel {
    /// Caption above the map.
    pub name: String,
    /// The logged steps, one column each, increasing.
    pub steps: Vec<usize>,
    /// Number of rows.
    pub layers: usize,
    /// The y label of the first row (1 for layers counted from the input, 0 for class
    /// indices); the y axis runs first_row..first_row + layers.
    pub first_row: usize,
    /// The x axis' description (`step`, `true class`).
    pub x_desc: String,
    /// The y axis' description (`layer`, `predicted class`).
    pub y_desc: String,
    /// `cells[i][r]`: the value at step `steps[i]`, row r + 1; a short column leaves its top
    /// rows empty.
    pub cells: Vec<Vec<f32>>,
}

/// What a figure holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// Line charts side by side, sharing one legend at the right.
    Lines {
        /// The charts, left to right.
        panels: Vec<LinePanel>,
        /// Legend entries, top to bottom: a label and the look it stands for.
        legend: Vec<(String, Look)>,
    },
    /// Heat maps on a near-square grid ([`scale::grid`]), sharing one colour bar on [0, 1]
    /// labelled 0% … 100%.
    Heat {
        /// What the colour means, written beside the colour bar.
        value_desc: String,
        /// The maps, row by row.
        panels: Vec<HeatPanel>,
    },
}

/// A whole figure: a title over its body, drawn at `size` pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// The title drawn at the top (and the caption a report gives it).
    pub title: String,
    /// Width and height in pixels (the PNG's size and the SVG's view box). Line figures keep
    /// 290 px at the right for the legend, heat figures 110 px for the colour bar.
    pub size: (u32, u32),
    /// The charts.
    pub body: Body,
}

/// Draw `fig` as `<stem>.svg` and `<stem>.png` in the existing folder `dir` and return the
/// SVG file name (`<stem>.svg`), which a Markdown report links to.
///
/// Files are written in place with [`std::fs::write`]: pipelines write into their report's
/// staging folder ([`crate::run::ReportDir`]), which is published whole or not at all.
///
/// # Errors
/// [`PlotError`] naming the file that could not be drawn, encoded or written.
pub fn emit(fig: &Figure, dir: &Path, stem: &str) -> Result<String, PlotError> {
    let svg_name = format!("{stem}.svg");
    let svg_path = dir.join(&svg_name);
    let svg = render::to_svg(fig, &svg_path)?;
    write(&svg_path, svg.as_bytes())?;
    let png_path = dir.join(format!("{stem}.png"));
    let png = render::to_png(fig, &png_path)?;
    write(&png_path, &png)?;
    Ok(svg_name)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    std::fs::write(path, bytes).map_err(|source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    })
}
