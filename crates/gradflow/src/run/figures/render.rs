//! Drawing a [`Figure`] with plotters: one generic pass per backend (SVG text, RGB bitmap),
//! then PNG encoding of the bitmap.
//!
//! Text is drawn with DejaVu Sans, embedded in the binary (`assets/DejaVuSans.ttf`, Bitstream
//! Vera licence, see `assets/DejaVuSans-LICENSE.txt`) and registered with plotters' pure-Rust
//! `ab_glyph` backend: no system font or font library is needed at build or run time.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

use super::scale::{
    cell_edges, grid, heat_color, lin_ok, lin_range, log_range, log_tick, segments, tick, to_log10,
    x_range,
};
use super::{Body, Figure, HeatPanel, LinePanel, Look, PlotError, Rgb, Series, YScale};

/// DejaVu Sans 2.37 (Debian fonts-dejavu-core), free licence in `assets/DejaVuSans-LICENSE.txt`.
const FONT: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");
/// The family name every text style uses; the SVG files name it too, so a browser draws
/// them with its own sans-serif font.
const FAMILY: &str = "sans-serif";

/// `fig` as an SVG document; `path` only names the file in errors.
pub(super) fn to_svg(fig: &Figure, path: &Path) -> Result<String, PlotError> {
    ensure_font()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, fig.size).into_drawing_area();
        draw(fig, &root)
            .and_then(|()| root.present())
            .map_err(|e| draw_error(path, &e))?;
    }
    Ok(svg)
}

/// `fig` as a PNG file's bytes; `path` only names the file in errors.
pub(super) fn to_png(fig: &Figure, path: &Path) -> Result<Vec<u8>, PlotError> {
    ensure_font()?;
    let (w, h) = fig.size;
    let mut rgb = vec![0u8; 3 * w as usize * h as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw(fig, &root)
            .and_then(|()| root.present())
            .map_err(|e| draw_error(path, &e))?;
    }
    encode_png(&rgb, w, h).map_err(|source| PlotError::Png {
        path: path.to_path_buf(),
        source,
    })
}

/// Register the embedded font once per process.
fn ensure_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok { Ok(()) } else { Err(PlotError::Font) }
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

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn color(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

fn stroke(look: Look) -> ShapeStyle {
    color(look.color).stroke_width(look.width)
}

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
/// points, and a dot on every valid point where the look asks for dots (so a lone point
/// still shows).
fn draw_series<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'_, DB, CT>,
    series: &[Series],
    ok: fn(&(f64, f64)) -> bool,
) -> DrawResult<DB> {
    for s in series {
        let style = stroke(s.look);
        for seg in segments(&s.points, ok) {
            if s.look.dashed {
                chart.draw_series(DashedLineSeries::new(seg.clone(), 7, 5, style))?;
            } else {
                chart.draw_series(LineSeries::new(seg.clone(), style))?;
            }
            if s.look.dots {
                let dot = color(s.look.color).filled();
                chart.draw_series(seg.into_iter().map(|p| Circle::new(p, 2, dot)))?;
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
    let log_y = panel.y_scale == YScale::Log;
    let series: Vec<Series> = if log_y {
        panel
            .series
            .iter()
            .map(|s| Series {
                look: s.look,
                points: s.points.iter().map(|&(x, y)| (x, to_log10(y))).collect(),
            })
            .collect()
    } else {
        panel.series.clone()
    };
    let valid = || {
        series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(lin_ok)
    };
    let (x0, x1) = x_range(valid().map(|p| p.0));
    let (y0, y1) = if log_y {
        let (lo, hi) = log_range(valid().map(|p| 10f64.powf(p.1)));
        (lo.log10(), hi.log10())
    } else {
        lin_range(valid().map(|p| p.1))
    };
    let y_label = |v: &f64| if log_y { log_tick(*v) } else { tick(*v) };
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
                area.draw(&PathElement::new(vec![(x, y), (x + 8, y)], stroke(*look)))?;
            }
        } else {
            area.draw(&PathElement::new(vec![(4, y), (38, y)], stroke(*look)))?;
            if look.dots {
                area.draw(&Circle::new((21, y), 2, color(look.color).filled()))?;
            }
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
    let first = panel.first_row as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.name, font(14))
        .margin(8)
        .x_label_area_size(38)
        .y_label_area_size(48)
        .build_cartesian_2d(x0..x1, first - 0.5..first + panel.layers as f64 - 0.5)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(panel.x_desc.as_str())
        .y_desc(panel.y_desc.as_str())
        // The first column reaches below step 0: no negative step labels.
        .x_label_formatter(&|v| if *v < 0.0 { String::new() } else { tick(*v) })
        .y_label_formatter(&|v| tick(*v))
        .label_style(font(12))
        .axis_desc_style(font(14))
        .draw()?;
    chart.draw_series(edges.windows(2).zip(&panel.cells).flat_map(|(ab, col)| {
        let (a, b) = (ab[0], ab[1]);
        col.iter().enumerate().map(move |(l, &v)| {
            let y = first + l as f64;
            Rectangle::new([(a, y - 0.5), (b, y + 0.5)], color(heat_color(v)).filled())
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
            color(heat_color(v)).filled(),
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
