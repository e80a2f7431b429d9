//! Property tests: the derivative ranges and stability claims made in the docs, for every z.

use gradflow_activations::*;
use gradflow_tensor::Tensor;
use proptest::prelude::*;

/// Largest |z| at which σ′(z) is still > 0 in f32 (σ′ ≈ e^(−|z|) rounds to 0 below 2⁻¹⁵⁰).
const SIGMOID_PRIME_POSITIVE: f32 = 103.9;
/// Largest |z| at which tanh′(z) = sech²(z) ≈ 4e^(−2|z|) is still > 0 in f32.
const TANH_PRIME_POSITIVE: f32 = 52.6;

/// Every scalar function and derivative, for the finiteness property.
fn all_scalars(z: f32) -> Vec<(&'static str, f32)> {
    vec![
        ("sigmoid", sigmoid_scalar(z)),
        ("sigmoid'", sigmoid_prime(z)),
        ("tanh", tanh_scalar(z)),
        ("tanh'", tanh_prime(z)),
        ("relu", relu_scalar(z)),
        ("relu'", relu_prime(z)),
        ("leaky", leaky_relu_scalar(z, 0.01)),
        ("leaky'", leaky_relu_prime(z, 0.01)),
        ("prelu", prelu_scalar(z, 0.25)),
        ("prelu'", prelu_prime(z, 0.25)),
        ("elu", elu_scalar(z, 1.0)),
        ("elu'", elu_prime(z, 1.0)),
        ("selu", selu_scalar(z)),
        ("selu'", selu_prime(z)),
        ("gelu", gelu_scalar(z, GeluApprox::None)),
        ("gelu'", gelu_prime(z, GeluApprox::None)),
        ("gelu_tanh", gelu_scalar(z, GeluApprox::Tanh)),
        ("gelu_tanh'", gelu_prime(z, GeluApprox::Tanh)),
        ("silu", silu_scalar(z)),
        ("silu'", silu_prime(z)),
        ("softplus", softplus_scalar(z, 1.0, 20.0)),
        ("softplus'", softplus_prime(z, 1.0, 20.0)),
        (
            "softplus_nothreshold",
            softplus_scalar(z, 1.0, f32::INFINITY),
        ),
        (
            "softplus_nothreshold'",
            softplus_prime(z, 1.0, f32::INFINITY),
        ),
        ("mish", mish_scalar(z)),
        ("mish'", mish_prime(z)),
    ]
}

/// Inputs that cover the interesting region densely and the far tails too: uniform on
/// [−1, 1], on [−120, 120] (where f32 exponentials under- and overflow) and on [−max, max].
fn wide(max: f32) -> impl Strategy<Value = f32> {
    prop_oneof![-1f32..1.0, -120f32..120.0, -max..max]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sigmoid_prime_in_0_quarter_with_max_at_0(z in wide(1e4)) {
        let d = sigmoid_prime(z);
        prop_assert!((0.0..=0.25).contains(&d), "sigmoid'({z}) = {d}");
        if z.abs() < SIGMOID_PRIME_POSITIVE {
            prop_assert!(d > 0.0, "sigmoid'({z}) underflowed");
        }
        if z.abs() >= 1e-3 {
            prop_assert!(d < 0.25, "sigmoid'({z}) = {d} reaches the maximum away from 0");
        }
    }

    #[test]
    fn sigmoid_prime_decreases_with_abs_z(a in -120f32..120f32, b in -120f32..120f32) {
        let (lo, hi) = if a.abs() <= b.abs() { (a, b) } else { (b, a) };
        prop_assert!(sigmoid_prime(lo) >= sigmoid_prime(hi));
    }

    #[test]
    fn sigmoid_symmetry_and_output_form(z in -30f32..30f32) {
        // σ(−z) = 1 − σ(z), and y(1 − y) from the rounded output agrees with σ′ to f32 precision.
        prop_assert!((sigmoid_scalar(-z) - (1.0 - sigmoid_scalar(z))).abs() <= 6e-8);
        let y = sigmoid_scalar(z);
        prop_assert!((sigmoid_prime_from_output(y) - sigmoid_prime(z)).abs() <= 6e-8);
    }

    #[test]
    fn tanh_prime_in_0_1_equal_to_1_only_at_0(z in wide(1e3)) {
        let d = tanh_prime(z);
        prop_assert!((0.0..=1.0).contains(&d), "tanh'({z}) = {d}");
        if z.abs() < TANH_PRIME_POSITIVE {
            prop_assert!(d > 0.0, "tanh'({z}) underflowed");
        }
        if z.abs() >= 1e-3 {
            prop_assert!(d < 1.0, "tanh'({z}) = 1 away from 0");
        }
        prop_assert_eq!(tanh_scalar(-z), -tanh_scalar(z));
        prop_assert!((tanh_prime_from_output(tanh_scalar(z)) - d).abs() <= 2.5e-7);
    }

    #[test]
    fn relu_prime_is_0_or_1(z in prop::num::f32::ANY) {
        let d = relu_prime(z);
        prop_assert!(d == 0.0 || d == 1.0);
        prop_assert_eq!(d == 1.0, z > 0.0);
    }

    #[test]
    fn leaky_relu_prime_at_least_slope(z in prop::num::f32::NORMAL, slope in 0f32..=1.0) {
        let d = leaky_relu_prime(z, slope);
        prop_assert!(d >= slope);
        prop_assert!(d == slope || d == 1.0);
    }

    #[test]
    fn elu_continuous_at_0_and_derivative_too_when_alpha_is_1(
        eps in 1e-6f32..1e-2, alpha in 0.1f32..3.0
    ) {
        // |ELU(ε) − ELU(−ε)| ≤ (1 + α)ε: no jump at 0 for any α.
        let jump = (elu_scalar(eps, alpha) - elu_scalar(-eps, alpha)).abs();
        prop_assert!(jump <= (1.0 + alpha) * eps * 1.0001);
        prop_assert_eq!(elu_scalar(0.0, alpha), 0.0);
        // ELU′ jumps by |1 − α| at 0; with α = 1 the two sides differ by at most ~ε.
        let d1 = (elu_prime(eps, 1.0) - elu_prime(-eps, 1.0)).abs();
        prop_assert!(d1 <= 1.01 * eps, "elu'(±{eps}) differ by {d1}");
        let da = (elu_prime(eps, alpha) - elu_prime(-eps, alpha)).abs();
        prop_assert!((da - (1.0 - alpha).abs()).abs() <= 1.01 * alpha * eps + 1e-6);
    }

    #[test]
    fn elu_and_selu_prime_ranges(z in wide(100.0), alpha in 0.1f32..3.0) {
        // α·e^z underflows f32 below z ≈ −103.97 − ln α; strictly positive above −95 here.
        let d = elu_prime(z, alpha);
        prop_assert!(d >= 0.0 && d <= alpha.max(1.0), "elu'({z}; {alpha}) = {d}");
        let s = selu_prime(z);
        prop_assert!(s >= 0.0 && s <= (SELU_SCALE * SELU_ALPHA) as f32, "selu'({z}) = {s}");
        if z > -95.0 {
            prop_assert!(d > 0.0 && s > 0.0, "elu'/selu' underflowed at {z}");
        }
    }

    #[test]
    fn smooth_non_monotone_derivative_ranges(z in wide(1e3)) {
        // Extrema from mpmath: GELU′ at ±√2, SiLU′ at ±2.3994, Mish′ at −2.2564 / 1.4906.
        let g = gelu_prime(z, GeluApprox::None);
        prop_assert!((-0.128_905..=1.128_905).contains(&g), "gelu'({z}) = {g}");
        let gt = gelu_prime(z, GeluApprox::Tanh);
        prop_assert!((-0.128_994..=1.128_994).contains(&gt), "gelu_tanh'({z}) = {gt}");
        let s = silu_prime(z);
        prop_assert!((-0.099_84..=1.099_84).contains(&s), "silu'({z}) = {s}");
        let m = mish_prime(z);
        prop_assert!((-0.112_527..=1.088_499).contains(&m), "mish'({z}) = {m}");
    }

    #[test]
    fn softplus_prime_is_a_sigmoid_and_softplus_bounds_relu(
        z in -50f32..50f32, beta in 0.2f32..5.0
    ) {
        let d = softplus_prime(z, beta, f32::INFINITY);
        prop_assert!((0.0..=1.0).contains(&d));
        prop_assert!((d - sigmoid_scalar(beta * z)).abs() <= 1e-7);
        // 0 ≤ softplus(z) − relu(z) ≤ ln 2 / β.
        let gap = softplus_scalar(z, beta, f32::INFINITY) - relu_scalar(z);
        prop_assert!(gap >= -1e-6 && gap <= std::f32::consts::LN_2 / beta + 1e-6, "gap {gap}");
    }

    #[test]
    fn no_nan_or_overflow_for_any_finite_input(z in wide(1e30)) {
        for (name, v) in all_scalars(z) {
            prop_assert!(v.is_finite(), "{name}({z}) = {v}");
        }
    }

    #[test]
    fn derivatives_finite_up_to_f32_max(z in prop::num::f32::NORMAL) {
        for (name, v) in all_scalars(z) {
            if name.ends_with('\'') {
                prop_assert!(v.is_finite(), "{name}({z}) = {v}");
            }
        }
    }

    #[test]
    fn prelu_with_shared_slope_is_leaky_relu(
        xs in prop::collection::vec(-10f32..10.0, 1..16), a in 0f32..1.0
    ) {
        let n = xs.len();
        let x1 = Tensor::from_vec(xs.clone(), &[n]).requires_grad_();
        let x2 = Tensor::from_vec(xs, &[n]).requires_grad_();
        let y1 = prelu(&x1, &Tensor::from_vec(vec![a], &[1]));
        let y2 = leaky_relu(&x2, f64::from(a));
        prop_assert_eq!(y1.to_vec(), y2.to_vec());
        y1.sum_all().backward();
        y2.sum_all().backward();
        prop_assert_eq!(x1.grad().unwrap().to_vec(), x2.grad().unwrap().to_vec());
    }
}

/// The tensor op uses exactly the public scalar math: backward with dy = 1 gives f′ elementwise.
#[test]
fn tensor_backward_equals_scalar_derivative() {
    let zs: Vec<f32> = (-160..=160).map(|i| i as f32 * 0.075).collect();
    let n = zs.len();
    type Case = (&'static str, fn(&Tensor) -> Tensor, fn(f32) -> f32);
    let cases: [Case; 10] = [
        ("relu", relu, relu_prime),
        (
            "leaky_relu",
            |x| leaky_relu(x, 0.2),
            |z| leaky_relu_prime(z, 0.2),
        ),
        (
            "prelu",
            |x| prelu(x, &Tensor::scalar(0.3)),
            |z| prelu_prime(z, 0.3),
        ),
        ("elu", |x| elu(x, 0.7), |z| elu_prime(z, 0.7)),
        ("selu", selu, selu_prime),
        (
            "gelu",
            |x| gelu(x, GeluApprox::None),
            |z| gelu_prime(z, GeluApprox::None),
        ),
        (
            "gelu_tanh",
            |x| gelu(x, GeluApprox::Tanh),
            |z| gelu_prime(z, GeluApprox::Tanh),
        ),
        ("silu", silu, silu_prime),
        (
            "softplus",
            |x| softplus(x, 2.0, 5.0),
            |z| softplus_prime(z, 2.0, 5.0),
        ),
        ("mish", mish, mish_prime),
    ];
    for (name, f, df) in cases {
        let x = Tensor::from_vec(zs.clone(), &[n]).requires_grad_();
        let y = f(&x);
        assert_eq!(y.op_name(), Some(name), "{name} is not one fused op");
        y.sum_all().backward();
        let g = x.grad().unwrap().to_vec();
        for (i, &z) in zs.iter().enumerate() {
            assert_eq!(g[i], df(z), "{name}' at {z}");
        }
    }
    // sigmoid and tanh differentiate through their output.
    for (name, f, df, fo) in [
        (
            "sigmoid",
            sigmoid as fn(&Tensor) -> Tensor,
            sigmoid_prime as fn(f32) -> f32,
            sigmoid_prime_from_output as fn(f32) -> f32,
        ),
        ("tanh", tanh, tanh_prime, tanh_prime_from_output),
    ] {
        let x = Tensor::from_vec(zs.clone(), &[n]).requires_grad_();
        let y = f(&x);
        assert_eq!(y.op_name(), Some(name));
        let yv = y.to_vec();
        y.sum_all().backward();
        let g = x.grad().unwrap().to_vec();
        for (i, &z) in zs.iter().enumerate() {
            assert_eq!(g[i], fo(yv[i]), "{name}' at {z}");
            assert!(
                (g[i] - df(z)).abs() <= 2.5e-7,
                "{name}' at {z}: {} vs {}",
                g[i],
                df(z)
            );
        }
    }
}

#[test]
fn saturated_sigmoid_and_tanh_pass_exactly_zero_like_pytorch() {
    let x = Tensor::from_vec(vec![20.0, -20.0, 90.0, 1000.0], &[4]).requires_grad_();
    tanh(&x).sum_all().backward();
    assert_eq!(x.grad().unwrap().to_vec(), vec![0.0; 4]);
    let x = Tensor::from_vec(vec![20.0, 90.0, 1000.0, -1000.0], &[4]).requires_grad_();
    sigmoid(&x).sum_all().backward();
    assert_eq!(x.grad().unwrap().to_vec(), vec![0.0; 4]);
}

#[test]
fn sigmoid_bound_compounds_over_depth() {
    // Through L stacked sigmoids (no weights), dy/dx = Π σ′ ≤ 4^(−L), attained only at 0.
    for &x0 in &[0.0f32, 0.5, -2.0] {
        let x = Tensor::from_vec(vec![x0], &[1]).requires_grad_();
        let mut h = x.clone();
        let depth = 10;
        for _ in 0..depth {
            h = sigmoid(&h);
        }
        h.sum_all().backward();
        let g = x.grad().unwrap().item();
        assert!(g > 0.0 && g <= 0.25f32.powi(depth), "L = {depth}: {g}");
    }
}
