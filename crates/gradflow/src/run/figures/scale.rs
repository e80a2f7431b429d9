//! Scales: the numbers behind the axes, independent of any drawing library.
//!
//! - which points an axis can show ([`log_ok`], [`lin_ok`]) and the split of a line at the
//!   others ([`segments`]);
//! - axis ranges ([`log_range`], [`lin_range`], [`x_range`]) and tick labels ([`tick`],
//!   [`log_tick`]);
//! - a log axis drawn as log₁₀ y on a linear one ([`to_log10`]): plotters' own log axis drops
//!   every tick below f64::EPSILON (≈ 2e−16), and vanishing gradients live there;
//! - heat maps: cell edges centred on the logged steps ([`cell_edges`]), a viridis-like colour
//!   map ([`heat_color`]) and the near-square grid of small multiples ([`grid`]).

use super::Rgb;

/// Keeps (x, y) pairs a log axis can show: both finite, y > 0.
pub fn log_ok(&(x, y): &(f64, f64)) -> bool {
    x.is_finite() && y.is_finite() && y > 0.0
}

/// Keeps (x, y) pairs a linear axis can show: both finite.
pub fn lin_ok(&(x, y): &(f64, f64)) -> bool {
    x.is_finite() && y.is_finite()
}

/// Split a polyline at the points `ok` rejects, so that the gap shows instead of a jump.
pub fn segments(points: &[(f64, f64)], ok: fn(&(f64, f64)) -> bool) -> Vec<Vec<(f64, f64)>> {
    points
        .split(|p| !ok(p))
        .filter(|s| !s.is_empty())
        .map(<[_]>::to_vec)
        .collect()
}

/// Columns and rows of a near-square grid holding `n` panels: cols = ⌈√n⌉, rows = ⌈n/cols⌉
/// (one cell for n = 0).
pub fn grid(n: usize) -> (usize, usize) {
    let cols = (1..=n.max(1)).find(|c| c * c >= n).unwrap_or(1);
    (cols, n.max(1).div_ceil(cols))
}

/// Column edges of a heat map whose column i is centred on `steps[i]`: edges halfway between
/// neighbouring steps, the outer ones as far out as the nearest inner gap (1 step for a single
/// column). `steps.len() + 1` edges.
pub fn cell_edges(steps: &[usize]) -> Vec<f64> {
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

/// A perceptual colour map close to viridis: 0 → dark purple, 1 → yellow, linear between
/// five stops, values clamped to [0, 1]; NaN and ±∞ → light grey ("no data").
pub fn heat_color(v: f32) -> Rgb {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    if !v.is_finite() {
        return Rgb(220, 220, 220);
    }
    let t = f64::from(v).clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    Rgb(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A range for a log axis holding the positive finite `ys`, padded by a factor of 2;
/// (1e−3, 1) when there is none.
pub fn log_range(ys: impl Iterator<Item = f64>) -> (f64, f64) {
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

/// A range for a linear axis holding the finite `vs`, padded by 5% (±0.5 if flat);
/// (0, 1) when there is none.
pub fn lin_range(vs: impl Iterator<Item = f64>) -> (f64, f64) {
    span(vs, 0.05)
}

/// The span of the finite `xs`, unpadded (layer indices and steps start at round numbers);
/// ±0.5 around a single value, (0, 1) when there is none.
pub fn x_range(xs: impl Iterator<Item = f64>) -> (f64, f64) {
    span(xs, 0.0)
}

/// [min, max] of the finite `vs` widened by `pad`·(max − min) on each side; ±0.5 around a
/// single value (a zero-width axis cannot be drawn), (0, 1) when there is none.
fn span(vs: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
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
        let pad = pad * (hi - lo);
        (lo - pad, hi + pad)
    }
}

/// log₁₀ y, or NaN where a log axis cannot show y (0, negative, NaN, ∞).
pub fn to_log10(y: f64) -> f64 {
    if y.is_finite() && y > 0.0 {
        y.log10()
    } else {
        f64::NAN
    }
}

/// The label of position `e` = log₁₀ y on a log axis: `1e-20` at whole decades (`1`, `10`,
/// `100`, `1000` written out), the value to two significant digits between them.
pub fn log_tick(e: f64) -> String {
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

/// Shortest plain-decimal (for 0.01 ≤ |v| < 10⁴, up to three decimals) or one-digit
/// scientific label for an axis value.
pub fn tick(v: f64) -> String {
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
        assert_eq!(heat_color(0.0), Rgb(68, 1, 84));
        assert_eq!(heat_color(1.0), Rgb(253, 231, 37));
        assert_eq!(heat_color(2.0), heat_color(1.0));
        assert_eq!(heat_color(f32::NAN), Rgb(220, 220, 220));
        // Brightness grows monotonically along the map.
        let luma = |c: Rgb| 0.3 * f64::from(c.0) + 0.59 * f64::from(c.1) + 0.11 * f64::from(c.2);
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
