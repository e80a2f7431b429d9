//! The error function and its complement, in `f64`.
//!
//! erf(x) = (2/√π) ∫₀ˣ e^(−t²) dt,  erfc(x) = 1 − erf(x) = (2/√π) ∫ₓ^∞ e^(−t²) dt.
//!
//! Rust's standard library has no erf, and GELU needs it: GELU(x) = x·Φ(x) with the standard
//! normal CDF Φ(x) = ½·erfc(−x/√2). We evaluate two classical expansions in `f64`, each on the
//! range where it converges fast and loses nothing to cancellation:
//!
//! - |x| < 3, the series of Abramowitz & Stegun 7.1.6, whose terms are all positive:
//!   erf(x) = (2/√π)·e^(−x²)·Σₙ 2ⁿ·x^(2n+1) / (1·3·5···(2n+1)).
//!   Each term is the previous one times 2x²/(2n+1); at |x| < 3 the sum needs at most ~60
//!   terms to reach 1e−17 relative.
//! - |x| ≥ 3, Laplace's continued fraction (A&S 7.1.14):
//!   erfc(x) = (e^(−x²)/√π) / (x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …))))),
//!   evaluated with the modified Lentz algorithm. It gives erfc itself (not 1 − erf), so the
//!   tail keeps full relative precision down to f64 underflow (erfc(26.5) ≈ 1e−307).
//!
//! Odd symmetry erf(−x) = −erf(x) and erfc(−x) = 2 − erfc(x) cover negative arguments.
//! Accuracy, tested against 30-digit mpmath values in this file's tests: |error| < 1e−15 for
//! erf everywhere and for erfc below 3 (where it is 1 − erf), and relative error < 1e−13 for
//! erfc(x ≥ 3). That is far inside the 1e−6 an `f32` GELU needs. The switch at |x| = 3 is
//! continuous to ~3e−16.
//!
//! NaN maps to NaN; erf(±∞) = ±1, erfc(+∞) = 0, erfc(−∞) = 2.

/// 2/√π.
const FRAC_2_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;
/// 1/√π.
const FRAC_1_SQRT_PI: f64 = FRAC_2_SQRT_PI * 0.5;
/// Where the evaluation switches from the series to the continued fraction.
const SWITCH: f64 = 3.0;
/// Beyond this, erfc(x) < 1e−308 underflows and erf(x) is exactly 1 in f64.
const UNDERFLOW: f64 = 27.0;

/// The error function erf(x) = (2/√π) ∫₀ˣ e^(−t²) dt, to a few f64 ulps.
///
/// See the [module docs](self) for the method (A&S 7.1.6 series below |x| = 3, Laplace's
/// continued fraction above).
///
/// ```
/// use gradflow_activations::erf;
/// assert!((erf(1.0) - 0.842_700_792_949_714_9).abs() < 1e-15);
/// assert_eq!(erf(-0.5), -erf(0.5));
/// ```
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let r = if a < SWITCH {
        erf_series(a)
    } else {
        1.0 - erfc_tail(a)
    };
    r.copysign(x)
}

/// The complementary error function erfc(x) = 1 − erf(x): absolute error < 1e−15, and for
/// x ≥ 3 also relative error < 1e−13, in the tail where 1 − erf(x) would cancel to 0
/// (erfc(10) ≈ 2.09·10⁻⁴⁵).
///
/// ```
/// use gradflow_activations::erfc;
/// let e = erfc(5.0);
/// assert!((e - 1.537_459_794_428_034_8e-12).abs() < 1e-12 * 1e-14);
/// assert_eq!(erfc(-5.0), 2.0 - e);
/// ```
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let tail = if a < SWITCH {
        1.0 - erf_series(a)
    } else {
        erfc_tail(a)
    };
    if x >= 0.0 { tail } else { 2.0 - tail }
}

/// erf(a) for 0 ≤ a < 3 by the positive-term series (A&S 7.1.6).
fn erf_series(a: f64) -> f64 {
    let x2 = a * a;
    let mut term = a;
    let mut sum = a;
    let mut n = 0.0;
    // At a < 3 the ratio 2a²/(2n+3) falls below 1/2 after n ≈ 17; 200 is a safe cap.
    for _ in 0..200 {
        n += 1.0;
        term *= 2.0 * x2 / (2.0 * n + 1.0);
        sum += term;
        if term <= sum * 1e-17 {
            break;
        }
    }
    FRAC_2_SQRT_PI * (-x2).exp() * sum
}

/// erfc(a) for a ≥ 3 by Laplace's continued fraction (A&S 7.1.14), modified Lentz.
fn erfc_tail(a: f64) -> f64 {
    if a > UNDERFLOW {
        return 0.0;
    }
    // f = b₀ + a₁/(b₁ + a₂/(b₂ + …)) with every bₙ = a and aₙ = n/2.
    const TINY: f64 = 1e-300;
    let mut f = a;
    let mut c = f;
    let mut d = 0.0;
    for n in 1..2000 {
        let an = 0.5 * f64::from(n);
        d = a + an * d;
        if d.abs() < TINY {
            d = TINY;
        }
        d = 1.0 / d;
        c = a + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    FRAC_1_SQRT_PI * (-a * a).exp() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (x, erf(x), erfc(x)) from mpmath at 30 digits:
    /// `import mpmath as m; m.mp.dps = 30; print(x, m.erf(x), m.erfc(x))`.
    /// The digits are kept as printed, for provenance; the compiler rounds them to f64.
    #[allow(clippy::excessive_precision)]
    const TABLE: [(f64, f64, f64); 12] = [
        (
            0.1,
            0.112462916018284898404712251014,
            0.887537083981715101595287748986,
        ),
        (
            0.5,
            0.520499877813046537682746653892,
            0.479500122186953462317253346108,
        ),
        (
            1.0,
            0.842700792949714869341220635083,
            0.157299207050285130658779364917,
        ),
        (
            2.0,
            0.995322265018952734162069256367,
            0.00467773498104726583793074363275,
        ),
        (
            2.9,
            0.999958902121900541142004123158,
            0.0000410978780994588579958768419277,
        ),
        (
            3.0,
            0.99997790950300141455862722387,
            0.0000220904969985854413727761295823,
        ),
        (
            3.1,
            0.99998835134263280041068654191,
            0.0000116486573671995893134580901829,
        ),
        (
            4.0,
            0.99999998458274209971998114784,
            0.0000000154172579002800188521596734869,
        ),
        (
            5.0,
            0.99999999999846254020557196515,
            1.53745979442803485018834348538e-12,
        ),
        (
            6.0,
            0.999999999999999978480263287501,
            2.15197367124989131165933503992e-17,
        ),
        (10.0, 1.0, 2.08848758376254475700078629496e-45),
        (20.0, 1.0, 5.39586561160790092893499916791e-176),
    ];

    #[test]
    fn matches_mpmath_to_f64_precision() {
        for &(x, e, c) in &TABLE {
            assert!((erf(x) - e).abs() < 1e-15, "erf({x}) = {} vs {e}", erf(x));
            assert!((erf(-x) + e).abs() < 1e-15, "erf(-{x})");
            // erfc keeps its relative precision in the tail.
            let tol = if x >= SWITCH { 1e-13 * c } else { 1e-15 };
            assert!(
                (erfc(x) - c).abs() <= tol,
                "erfc({x}) = {:e} vs {c:e}",
                erfc(x)
            );
            assert!((erfc(-x) - (2.0 - c)).abs() < 1e-15, "erfc(-{x})");
        }
    }

    #[test]
    fn continuous_across_the_method_switch() {
        let below = erfc(SWITCH - 1e-12);
        let above = erfc(SWITCH);
        // erfc′(3) ≈ −1.39e−4, so the 1e−12 step itself moves it by only ~1.4e−16; the rest is
        // the series' absolute rounding (1 − erf, a few ulps of 1).
        assert!((below - above).abs() < 1e-15, "{below:e} vs {above:e}");
    }

    #[test]
    fn special_values() {
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erfc(0.0), 1.0);
        assert_eq!(erf(f64::INFINITY), 1.0);
        assert_eq!(erf(f64::NEG_INFINITY), -1.0);
        assert_eq!(erfc(f64::INFINITY), 0.0);
        assert_eq!(erfc(f64::NEG_INFINITY), 2.0);
        assert!(erf(f64::NAN).is_nan() && erfc(f64::NAN).is_nan());
        assert_eq!(erfc(30.0), 0.0);
    }
}
