//! The truncated normal: N(mean, std²) conditioned on a ≤ x ≤ b
//! (`torch.nn.init.trunc_normal_`).
//!
//! Sampled by inverting the CDF: with α = (a − μ)/σ, β = (b − μ)/σ and Φ the standard
//! normal CDF, draw p ~ U(Φ(α), Φ(β)) and return μ + σ·Φ⁻¹(p). Unlike rejection sampling this
//! costs the same however small the interval's probability is. PyTorch does the same through
//! `erfinv`; we additionally reflect intervals that lie in the upper tail (α > 0) to the lower
//! tail, where Φ(α) keeps its relative precision.

use crate::basic::numel;
use gradflow_tensor::Tensor;
use rand::Rng;
use rand_distr::{Distribution, StandardUniform};

/// Samples of N(mean, std²) truncated to `[a, b]`; `a` and `b` are absolute values, not
/// multiples of `std` (PyTorch's `trunc_normal_(mean=0, std=1, a=-2, b=2)` convention).
///
/// The variance is below std²: for the symmetric cut a = μ − 2σ, b = μ + 2σ it is
/// ≈ 0.774·σ² (Var = σ²·[1 + (αφ(α) − βφ(β))/Z − ((φ(α) − φ(β))/Z)²], Z = Φ(β) − Φ(α)).
///
/// Either bound may be infinite (`a = 0, b = +∞` is the half-normal; both infinite is
/// [`crate::normal`]). `a == b` or `std == 0` give a constant (`a`, or `mean` clamped to
/// `[a, b]`). An interval
/// more than ~37 standard deviations from the mean, whose probability underflows `f64`,
/// gives its endpoint nearest the mean.
///
/// ```
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let w = gradflow_init::trunc_normal(&[1000], 0.0, 1.0, -2.0, 2.0, &mut rng);
/// assert!(w.to_vec().iter().all(|v| (-2.0..=2.0).contains(v)));
/// ```
///
/// # Panics
/// If `std < 0`, `mean` or `std` is not finite, `a > b`, `a = +∞`, `b = −∞` or a bound is NaN.
#[track_caller]
pub fn trunc_normal<R: Rng + ?Sized>(
    shape: &[usize],
    mean: f64,
    std: f64,
    a: f64,
    b: f64,
    rng: &mut R,
) -> Tensor {
    assert!(
        mean.is_finite()
            && std.is_finite()
            && std >= 0.0
            && a <= b
            && a < f64::INFINITY
            && b > f64::NEG_INFINITY,
        "trunc_normal: bad N(mean = {mean}, std = {std}) on [{a}, {b}] for shape {shape:?}: \
         need finite mean and std >= 0, and a <= b with a < +inf, b > -inf"
    );
    let n = numel(shape);
    if n == 0 || a == b || std == 0.0 {
        return Tensor::full(shape, (if a == b { a } else { mean.clamp(a, b) }) as f32);
    }
    let (mu, sigma) = (mean, std);
    let (alpha, beta) = ((a - mu) / sigma, (b - mu) / sigma);
    // Reflect an upper-tail interval so that Φ is evaluated where it is small and precise.
    let flip = alpha > 0.0;
    let (lo, hi) = if flip { (-beta, -alpha) } else { (alpha, beta) };
    let (p_lo, p_hi) = (std_normal_cdf(lo), std_normal_cdf(hi));
    let data = (0..n)
        .map(|_| {
            let z = if p_hi > p_lo {
                let u: f64 = StandardUniform.sample(rng);
                // Keep p inside (0, 1) so that Φ⁻¹ stays finite even with infinite bounds.
                let p = (p_lo + (p_hi - p_lo) * u).clamp(f64::MIN_POSITIVE, 1.0 - f64::EPSILON);
                probit(p).clamp(lo, hi)
            } else {
                // The interval's mass underflowed: return the endpoint nearest the mean.
                hi
            };
            let z = if flip { -z } else { z };
            ((mu + sigma * z) as f32).clamp(a as f32, b as f32)
        })
        .collect();
    Tensor::from_vec(data, shape)
}

/// Φ(x) = ½·erfc(−x/√2), the standard normal CDF.
pub(crate) fn std_normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// The complementary error function, Chebyshev fit with relative error below 1.2·10⁻⁷
/// everywhere (Numerical Recipes `erfcc`), ample for `f32` samples.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let ans = t * (-z * z + poly).exp();
    if x >= 0.0 { ans } else { 2.0 - ans }
}

/// Φ⁻¹(p) for 0 < p < 1, P. J. Acklam's rational approximation (relative error below
/// 1.15·10⁻⁹).
pub(crate) fn probit(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn cdf_and_probit_known_values() {
        // scipy.stats.norm.cdf / ppf.
        for (x, p) in [
            (0.0, 0.5),
            (1.0, 0.841_344_746_068_542_9),
            (-1.959_963_984_540_054, 0.025),
            (-3.0, 0.001_349_898_031_630_094_6),
            (-6.0, 9.865_876_450_376_98e-10),
        ] {
            let cdf = std_normal_cdf(x);
            assert!((cdf - p).abs() <= 2e-7 * p, "Φ({x}) = {cdf}, want {p}");
            let q = probit(p);
            assert!(
                (q - x).abs() <= 1e-8 * (1.0 + x.abs()),
                "Φ⁻¹({p}) = {q}, want {x}"
            );
        }
    }

    #[test]
    fn stays_inside_and_handles_tails() {
        let mut rng = StdRng::seed_from_u64(3);
        // Far upper tail: [5σ, 6σ] has probability ≈ 2.9e-7, still sampled exactly.
        let t = trunc_normal(&[500], 0.0, 1.0, 5.0, 6.0, &mut rng).to_vec();
        assert!(t.iter().all(|v| (5.0..=6.0).contains(v)), "{t:?}");
        // Most of the mass sits near 5 (the density falls by e^{-5} per unit there).
        let mean = t.iter().sum::<f32>() / t.len() as f32;
        assert!((5.1..5.35).contains(&mean), "mean {mean}");
        // Beyond f64: the endpoint nearest the mean.
        let far = trunc_normal(&[3], 0.0, 1.0, -60.0, -50.0, &mut rng).to_vec();
        assert_eq!(far, vec![-50.0; 3]);
        assert_eq!(
            trunc_normal(&[2], 0.0, 1.0, 1.0, 1.0, &mut rng).to_vec(),
            vec![1.0; 2]
        );
        assert_eq!(
            trunc_normal(&[2], 5.0, 0.0, -1.0, 1.0, &mut rng).to_vec(),
            vec![1.0; 2]
        );
    }

    #[test]
    #[should_panic(expected = "trunc_normal: bad N(mean = 0, std = 1) on [2, -2]")]
    fn reversed_interval_panics() {
        trunc_normal(&[2], 0.0, 1.0, 2.0, -2.0, &mut StdRng::seed_from_u64(0));
    }
}
