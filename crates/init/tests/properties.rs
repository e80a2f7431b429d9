//! Statistical and algebraic invariants of every initializer.
//!
//! Tolerances come from the sample size n, at 5 standard errors (a false failure has
//! probability ≈ 6·10⁻⁷ per check; proptest runs with a fixed seed, so runs are repeatable):
//! - sample mean: sd = σ/√n;
//! - sample variance s² (divisor n − 1): Var[s²] ≈ (μ₄ − σ⁴)/n, so its relative sd is
//!   √((κ − 1)/n) with κ = μ₄/σ⁴. Normal κ = 3 gives √(2/(n − 1)) (exact for normals);
//!   U(−r, r) has κ = 9/5, giving √(0.8/n); for a truncated normal κ is computed by quadrature.

use gradflow_init::{
    FanMode, Nonlinearity, calculate_gain, default_bias, default_weight, fan_in_and_fan_out,
    kaiming_normal, kaiming_uniform, lecun_normal, normal, orthogonal, trunc_normal, uniform,
    xavier_normal, xavier_uniform,
};
use gradflow_tensor::Tensor;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use rand::SeedableRng;
use rand::rngs::StdRng;

const SIGMAS: f64 = 5.0;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(0x6772_6164_666c_6f77),
        ..ProptestConfig::default()
    }
}

/// (mean, unbiased variance), accumulated in f64.
fn moments(t: &Tensor) -> (f64, f64) {
    let v = t.to_vec();
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = v
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    (mean, var)
}

/// Checks mean 0 (or `mean`) and variance `var` of the samples, within 5 standard errors,
/// for a distribution with kurtosis `kurtosis`.
fn check_moments(what: &str, t: &Tensor, mean: f64, var: f64, kurtosis: f64) {
    let n = t.numel() as f64;
    let (m, s2) = moments(t);
    let mean_tol = SIGMAS * (var / n).sqrt();
    assert!(
        (m - mean).abs() <= mean_tol,
        "{what}: sample mean {m}, want {mean} ± {mean_tol} (n = {n})"
    );
    let rel_tol = SIGMAS * ((kurtosis - 1.0) / (n - 1.0)).sqrt();
    assert!(
        (s2 / var - 1.0).abs() <= rel_tol,
        "{what}: sample variance {s2}, want {var} (relative ± {rel_tol}, n = {n})"
    );
}

const NORMAL_KURTOSIS: f64 = 3.0;
const UNIFORM_KURTOSIS: f64 = 1.8;

/// Checks that U(−r, r) samples stay inside and reach the edge: P(max|w| < r(1 − ε)) =
/// (1 − ε)ⁿ ≤ e^{−20} for ε = 20/n.
fn check_uniform(what: &str, t: &Tensor, r: f64) {
    let n = t.numel() as f64;
    let max = t
        .to_vec()
        .iter()
        .fold(0f64, |m, &v| m.max(f64::from(v).abs()));
    assert!(
        max <= r * (1.0 + 1e-6),
        "{what}: max |w| = {max} exceeds bound {r}"
    );
    assert!(
        max >= r * (1.0 - 20.0 / n),
        "{what}: max |w| = {max} never nears bound {r}"
    );
    check_moments(what, t, 0.0, r * r / 3.0, UNIFORM_KURTOSIS);
}

/// Weight shapes with at least 1024 elements: Linear [out, in] or Conv [out, in, k, k].
fn weight_shape() -> impl Strategy<Value = Vec<usize>> {
    (32usize..128, 32usize..128, prop::option::of(1usize..=3)).prop_map(|(o, i, k)| match k {
        None => vec![o, i],
        Some(k) => vec![o, i, k, k],
    })
}

fn nonlinearity() -> impl Strategy<Value = Nonlinearity> {
    prop_oneof![
        Just(Nonlinearity::Linear),
        Just(Nonlinearity::Conv),
        Just(Nonlinearity::Sigmoid),
        Just(Nonlinearity::Tanh),
        Just(Nonlinearity::Relu),
        Just(Nonlinearity::LeakyRelu(None)),
        Just(Nonlinearity::Selu),
    ]
}

fn mode() -> impl Strategy<Value = FanMode> {
    prop_oneof![Just(FanMode::FanIn), Just(FanMode::FanOut)]
}

/// PyTorch's kaiming gain: `calculate_gain(nl, a)` — `a` is the slope only for leaky ReLU.
fn kaiming_gain(a: f64, nl: Nonlinearity) -> f64 {
    match nl {
        Nonlinearity::LeakyRelu(_) => (2.0 / (1.0 + a.powi(2))).sqrt(),
        other => calculate_gain(other),
    }
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn xavier_variance(shape in weight_shape(), gain in 0.1f64..3.0, seed in any::<u64>()) {
        let (fi, fo) = fan_in_and_fan_out(&shape);
        let var = gain.powi(2) * 2.0 / (fi + fo) as f64;
        let mut rng = StdRng::seed_from_u64(seed);
        check_moments("xavier_normal", &xavier_normal(&shape, gain, &mut rng), 0.0, var, NORMAL_KURTOSIS);
        check_uniform("xavier_uniform", &xavier_uniform(&shape, gain, &mut rng), (3.0 * var).sqrt());
    }

    #[test]
    fn kaiming_variance(
        shape in weight_shape(),
        a in 0.0f64..1.0,
        mode in mode(),
        nl in nonlinearity(),
        seed in any::<u64>(),
    ) {
        let (fi, fo) = fan_in_and_fan_out(&shape);
        let fan = if mode == FanMode::FanIn { fi } else { fo };
        let var = kaiming_gain(a, nl).powi(2) / fan as f64;
        let mut rng = StdRng::seed_from_u64(seed);
        let w = kaiming_normal(&shape, a, mode, nl, &mut rng);
        check_moments("kaiming_normal", &w, 0.0, var, NORMAL_KURTOSIS);
        let w = kaiming_uniform(&shape, a, mode, nl, &mut rng);
        check_uniform("kaiming_uniform", &w, (3.0 * var).sqrt());
    }

    #[test]
    fn lecun_and_pytorch_default(shape in weight_shape(), seed in any::<u64>()) {
        let (fi, _) = fan_in_and_fan_out(&shape);
        let mut rng = StdRng::seed_from_u64(seed);
        check_moments("lecun_normal", &lecun_normal(&shape, &mut rng), 0.0, 1.0 / fi as f64, NORMAL_KURTOSIS);
        let bound = 1.0 / (fi as f64).sqrt();
        check_uniform("default_weight", &default_weight(&shape, &mut rng), bound);
        let b = default_bias(4096, fi, &mut rng);
        prop_assert_eq!(b.shape(), &[4096]);
        check_uniform("default_bias", &b, bound);
    }

    #[test]
    fn plain_distributions(
        mean in -3.0f64..3.0,
        std in 0.01f64..5.0,
        width in 0.01f64..10.0,
        n in 1000usize..5000,
        seed in any::<u64>(),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let t = normal(&[n], mean, std, &mut rng);
        check_moments("normal", &t, mean, std.powi(2), NORMAL_KURTOSIS);
        let (low, high) = (mean - width / 2.0, mean + width / 2.0);
        let t = uniform(&[n], low, high, &mut rng);
        // The samples are f32: the bounds as they reach them.
        prop_assert!(t.to_vec().iter().all(|v| (low as f32..=high as f32).contains(v)));
        let var = (high - low).powi(2) / 12.0;
        check_moments("uniform", &t, (low + high) / 2.0, var, UNIFORM_KURTOSIS);
    }

    #[test]
    fn trunc_normal_moments(
        mean in -2.0f64..2.0,
        std in 0.1f64..3.0,
        alpha in -3.0f64..2.0,
        width in 0.2f64..4.0,
        seed in any::<u64>(),
    ) {
        let (mu, sigma) = (mean, std);
        let a = mu + sigma * alpha;
        let b = mu + sigma * (alpha + width);
        let mut rng = StdRng::seed_from_u64(seed);
        let t = trunc_normal(&[4000], mean, std, a, b, &mut rng);
        prop_assert!(t.to_vec().iter().all(|v| (a as f32..=b as f32).contains(v)), "outside [{}, {}]", a, b);
        let (m, var, kurt) = truncated_moments(mu, sigma, a, b);
        check_moments("trunc_normal", &t, m, var, kurt);
    }

    #[test]
    fn orthogonal_gram_is_identity(
        rows in 1usize..12,
        inner in 1usize..6,
        k in prop::option::of(1usize..=3),
        gain in 0.5f64..2.0,
        seed in any::<u64>(),
    ) {
        let shape = match k { None => vec![rows, inner], Some(k) => vec![rows, inner, k] };
        let cols = inner * k.unwrap_or(1);
        let mut rng = StdRng::seed_from_u64(seed);
        let w = orthogonal(&shape, gain, &mut rng);
        prop_assert_eq!(w.shape(), shape.as_slice());
        let m = w.reshape(&[rows, cols]);
        // Wide (rows ≤ cols): orthonormal rows, W·Wᵀ = gain²·I. Tall: orthonormal columns.
        let (g, d) = if rows <= cols { (m.matmul(&m.t()), rows) } else { (m.t().matmul(&m), cols) };
        let g = g.to_vec();
        let g2 = gain.powi(2);
        for i in 0..d {
            for j in 0..d {
                let want = if i == j { g2 } else { 0.0 };
                let got = f64::from(g[i * d + j]);
                prop_assert!((got - want).abs() <= 2e-6 * g2 * d as f64,
                    "shape {:?}: Gram[{}][{}] = {}, want {}", shape, i, j, got, want);
            }
        }
    }

    #[test]
    fn fans_multiply_back_to_numel(
        dims in prop::collection::vec(1usize..6, 2..6),
    ) {
        let (fi, fo) = fan_in_and_fan_out(&dims);
        let numel: usize = dims.iter().product();
        prop_assert_eq!(fi * dims[0], numel);
        prop_assert_eq!(fo * dims[1], numel);
    }

    #[test]
    fn leaky_gain_keeps_second_moment(slope in 0.0f64..5.0) {
        // E[leaky(z)²] = (1 + s²)/2·Var[z], so gain²·(1 + s²)/2 = 1 (f64: a few ulps).
        let g = calculate_gain(Nonlinearity::LeakyRelu(Some(slope)));
        let s = slope;
        prop_assert!((g * g * (1.0 + s * s) / 2.0 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn same_seed_same_weights(shape in weight_shape(), seed in any::<u64>()) {
        let draw = |s: u64| {
            let mut rng = StdRng::seed_from_u64(s);
            (default_weight(&shape, &mut rng).to_vec(), orthogonal(&shape, 1.0, &mut rng).to_vec())
        };
        let first = draw(seed);
        prop_assert!(first == draw(seed));
        prop_assert!(first != draw(seed.wrapping_add(1)));
    }
}

/// Mean, variance and kurtosis of N(μ, σ²) truncated to [a, b], by composite Simpson
/// quadrature of xᵏ·φ(x) in standardized units (2000 panels: error far below the test's
/// statistical tolerance). Independent of the crate's inverse-CDF sampler.
fn truncated_moments(mu: f64, sigma: f64, a: f64, b: f64) -> (f64, f64, f64) {
    let (lo, hi) = ((a - mu) / sigma, (b - mu) / sigma);
    let panels = 2000;
    let h = (hi - lo) / panels as f64;
    let mut raw = [0f64; 5];
    for i in 0..=panels {
        let z = lo + h * i as f64;
        let w = if i == 0 || i == panels {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        };
        let phi = (-0.5 * z * z).exp();
        for (k, m) in raw.iter_mut().enumerate() {
            *m += w * phi * z.powi(k as i32);
        }
    }
    let [z0, z1, z2, z3, z4] = raw;
    let (e1, e2, e3, e4) = (z1 / z0, z2 / z0, z3 / z0, z4 / z0);
    let var = e2 - e1 * e1;
    let mu4 = e4 - 4.0 * e1 * e3 + 6.0 * e1 * e1 * e2 - 3.0 * e1.powi(4);
    (mu + sigma * e1, sigma * sigma * var, mu4 / (var * var))
}

/// With 10⁶ samples the tolerances shrink to < 1%: the scale is right, not just roughly.
#[test]
fn large_sample_variances_are_tight() {
    let mut rng = StdRng::seed_from_u64(2024);
    let shape = [1000, 1000];
    let var = 2.0 / 1000.0;
    let he = kaiming_normal(&shape, 0.0, FanMode::FanIn, Nonlinearity::Relu, &mut rng);
    check_moments("kaiming_normal 10⁶", &he, 0.0, var, NORMAL_KURTOSIS);
    check_moments(
        "xavier_normal 10⁶",
        &xavier_normal(&shape, 1.0, &mut rng),
        0.0,
        1e-3,
        NORMAL_KURTOSIS,
    );
    let he_u = kaiming_uniform(&shape, 0.0, FanMode::FanOut, Nonlinearity::Relu, &mut rng);
    check_uniform("kaiming_uniform 10⁶", &he_u, (3.0 * var).sqrt());
    // Truncation at ±2σ keeps 77.4% of the variance (1 − 4φ(2)/(Φ(2) − Φ(−2)) = 0.7737413, as scipy.stats.truncnorm(-2, 2).var()).
    let t = trunc_normal(&[1_000_000], 0.0, 1.0, -2.0, 2.0, &mut rng);
    let (_, tv, kurt) = truncated_moments(0.0, 1.0, -2.0, 2.0);
    assert!(
        (tv - 0.773_741_303_5).abs() < 1e-6,
        "quadrature variance {tv}"
    );
    check_moments("trunc_normal 10⁶", &t, 0.0, tv, kurt);
}

#[test]
fn zero_element_shapes_are_no_ops() {
    let mut rng = StdRng::seed_from_u64(0);
    let shapes: [&[usize]; 3] = [&[0, 4], &[4, 0], &[2, 0, 3, 3]];
    for shape in shapes {
        let all = [
            xavier_uniform(shape, 1.0, &mut rng),
            xavier_normal(shape, 1.0, &mut rng),
            kaiming_uniform(shape, 0.0, FanMode::FanIn, Nonlinearity::Relu, &mut rng),
            kaiming_normal(shape, 0.0, FanMode::FanOut, Nonlinearity::Relu, &mut rng),
            lecun_normal(shape, &mut rng),
            orthogonal(shape, 1.0, &mut rng),
            default_weight(shape, &mut rng),
            trunc_normal(shape, 0.0, 1.0, -2.0, 2.0, &mut rng),
        ];
        for t in all {
            assert_eq!(t.shape(), shape);
        }
    }
}

#[test]
fn outputs_are_plain_leaves() {
    let mut rng = StdRng::seed_from_u64(0);
    let w = kaiming_uniform(&[4, 3], 0.0, FanMode::FanIn, Nonlinearity::Relu, &mut rng);
    assert!(w.is_leaf() && !w.requires_grad());
    let o = orthogonal(&[4, 3], 1.0, &mut rng);
    assert!(o.is_leaf() && !o.requires_grad());
}
