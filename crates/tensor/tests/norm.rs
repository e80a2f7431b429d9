//! `Tensor::norm` / `norm_value` / `global_norm_value`: values against an f64 reference,
//! gradients of tiny tensors (≈ 10⁻³⁰, where f32 squares underflow to 0), gradient checks,
//! and the norm axioms as properties.
//!
//! Tolerances: the result is accumulated in f64 (relative error ≈ n·2⁻⁵³ ≪ 10⁻¹⁰ for the
//! sizes here) and rounded once to f32 (relative error ≤ 2⁻²⁴ ≈ 6·10⁻⁸). Inputs built in
//! f32 (a + b, c·x) carry one more rounding per element, ≤ 2⁻²⁴ relative. So 10⁻⁶
//! relative is a bound with a margin of more than 5× for every comparison below.

use gradflow_tensor::{GradCheck, Tensor, gradcheck};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const RTOL: f64 = 1e-6;

/// Naive f64 reference, (Σ |xᵢ|ᵖ)^(1/p), valid while no |xᵢ|ᵖ leaves f64's range.
fn reference(x: &[f32], p: f64) -> f64 {
    if p == f64::INFINITY {
        return x.iter().map(|v| f64::from(v.abs())).fold(0.0, f64::max);
    }
    x.iter()
        .map(|&v| f64::from(v).abs().powf(p))
        .sum::<f64>()
        .powf(1.0 / p)
}

/// Values of magnitude in [lo, hi) times `scale`, random signs.
fn signed(rng: &mut StdRng, n: usize, lo: f32, hi: f32, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let m = rng.random_range(lo..hi) * scale;
            if rng.random::<bool>() { m } else { -m }
        })
        .collect()
}

fn close(a: f64, b: f64, rtol: f64) -> bool {
    (a - b).abs() <= rtol * b.abs()
}

const ORDERS: [f64; 7] = [0.5, 1.0, 1.5, 2.0, 3.0, 7.0, f64::INFINITY];

#[test]
fn values_match_an_f64_reference_for_every_order() {
    let mut rng = StdRng::seed_from_u64(1);
    for n in [1usize, 3, 17, 1000, 40_000] {
        let v = signed(&mut rng, n, 0.01, 10.0, 1.0);
        let x = Tensor::from_vec(v.clone(), &[n]);
        for p in ORDERS {
            let want = reference(&v, p);
            let got = x.norm_value(p);
            assert!(close(got, want, 1e-12), "n {n} p {p}: {got:e} vs {want:e}");
            let got32 = f64::from(x.norm(p).item());
            assert!(
                close(got32, want, RTOL),
                "n {n} p {p}: {got32:e} vs {want:e}"
            );
        }
    }
}

#[test]
fn strided_views_give_the_same_norm() {
    let x = Tensor::arange(-6.0, 6.0, 1.0).reshape(&[3, 4]);
    for p in ORDERS {
        let a = x.t().norm_value(p);
        let b = x.norm_value(p);
        assert!(close(a, b, 1e-12), "p {p}: {a} vs {b}");
    }
}

#[test]
fn tiny_values_keep_their_size() {
    // |x| ≈ 10⁻³⁰: x² ≈ 10⁻⁶⁰ is 0 in f32, so an f32 sum of squares reads exactly 0.
    let mut rng = StdRng::seed_from_u64(2);
    let v = signed(&mut rng, 4096, 0.5, 2.0, 1e-30);
    let f32_squares: f32 = v.iter().map(|x| x * x).sum();
    assert_eq!(f32_squares, 0.0, "the premise: f32 squaring underflows");
    let x = Tensor::from_vec(v.clone(), &[4096]);
    for p in ORDERS {
        // Scale the reference by 10³⁰ so that the naive f64 powers (down to 10⁻²¹⁰ for p = 7)
        // stay normal; the norm is homogeneous, so this changes nothing but the range.
        let scaled: Vec<f32> = v.iter().map(|x| x * 1e30).collect();
        let want = reference(&scaled, p) * 1e-30;
        let got = x.norm_value(p);
        // The ×10³⁰ rounding adds ≤ 2⁻²⁴ relative per element.
        assert!(close(got, want, RTOL), "p {p}: {got:e} vs {want:e}");
        let got32 = f64::from(x.norm(p).item());
        assert!(close(got32, want, RTOL), "p {p}: {got32:e} vs {want:e}");
    }
}

#[test]
fn gradients_of_tiny_values_are_the_f64_gradients() {
    let mut rng = StdRng::seed_from_u64(3);
    let n = 257;
    let v = signed(&mut rng, n, 0.5, 2.0, 1e-30);
    for p in [1.0, 2.0, 3.0, 0.5] {
        let x = Tensor::from_vec(v.clone(), &[n]).requires_grad_();
        x.norm(p).backward();
        let g = x.grad().expect("x requires grad").to_vec();
        let norm: f64 = v
            .iter()
            .map(|&a| (f64::from(a) * 1e30).abs().powf(p))
            .sum::<f64>()
            .powf(1.0 / p)
            * 1e-30;
        for (i, (&a, &gi)) in v.iter().zip(&g).enumerate() {
            let a = f64::from(a);
            // ∂‖x‖_p/∂xᵢ = sign(xᵢ)·(|xᵢ|/‖x‖)ᵖ⁻¹: of order n^(−(p−1)/p), nowhere near 0.
            let want = a.signum() * (a.abs() / norm).powf(p - 1.0);
            assert!(
                close(f64::from(gi), want, RTOL),
                "p {p} element {i}: {gi:e} vs {want:e}"
            );
            assert!(gi != 0.0);
        }
    }
    // p = ∞: the single largest element gets sign(x), every other 0.
    let mut w = v.clone();
    w[17] = -3e-30;
    let x = Tensor::from_vec(w, &[n]).requires_grad_();
    x.norm(f64::INFINITY).backward();
    let g = x.grad().expect("x requires grad").to_vec();
    assert_eq!(g[17], -1.0);
    assert_eq!(g.iter().filter(|&&v| v != 0.0).count(), 1);
}

#[test]
fn gradcheck_every_order() {
    // Magnitudes in [0.5, 2): at least 100 steps h ≈ 4.9·10⁻³ away from the kink at 0.
    let mut rng = StdRng::seed_from_u64(4);
    for (shape, p) in [
        (vec![5], 1.0),
        (vec![2, 3], 2.0),
        (vec![4, 2], 1.5),
        (vec![3, 3], 3.0),
        (vec![6], 0.5),
        (vec![2, 2, 2], 7.0),
    ] {
        let n: usize = shape.iter().product();
        let x = Tensor::from_vec(signed(&mut rng, n, 0.5, 2.0, 1.0), &shape);
        let report = gradcheck(|t| t[0].norm(p), &[x], GradCheck::default());
        assert!(report.passed, "p {p}, shape {shape:?}: {report}");
    }
    // p = ∞ with a unique maximum 0.5 above the rest (far more than h).
    let x = Tensor::from_vec(vec![0.3, -2.5, 1.0, 2.0, -0.7], &[5]);
    let report = gradcheck(|t| t[0].norm(f64::INFINITY), &[x], GradCheck::default());
    assert!(report.passed, "p = ∞: {report}");
}

#[test]
fn subgradients_and_special_values() {
    // ‖0‖ = 0 with gradient 0 for every order (PyTorch's convention).
    for p in ORDERS {
        let z = Tensor::zeros(&[3]).requires_grad_();
        let n = z.norm(p);
        assert_eq!(n.item(), 0.0);
        n.backward();
        assert_eq!(z.grad().expect("grad").to_vec(), vec![0.0; 3], "p {p}");
    }
    // Zero elements get gradient 0 (also for p < 1, where the derivative is unbounded).
    for p in [0.5, 1.0, 2.0, 3.0] {
        let x = Tensor::from_vec(vec![0.0, 3.0, -4.0], &[3]).requires_grad_();
        x.norm(p).backward();
        assert_eq!(x.grad().expect("grad").to_vec()[0], 0.0, "p {p}");
    }
    // Ties of the max norm share the gradient.
    let x = Tensor::from_vec(vec![2.0, -2.0, 1.0, 2.0], &[4]).requires_grad_();
    x.norm(f64::INFINITY).backward();
    let third = 1.0 / 3.0f32;
    assert_eq!(
        x.grad().expect("grad").to_vec(),
        vec![third, -third, 0.0, third]
    );
    // NaN propagates; ∞ gives ∞; the empty tensor has norm 0.
    for p in ORDERS {
        let nan = Tensor::from_vec(vec![1.0, f32::NAN], &[2]);
        assert!(nan.norm_value(p).is_nan(), "p {p}");
        let inf = Tensor::from_vec(vec![1.0, f32::NEG_INFINITY], &[2]);
        assert_eq!(inf.norm_value(p), f64::INFINITY, "p {p}");
        assert_eq!(Tensor::zeros(&[0]).norm_value(p), 0.0, "p {p}");
    }
    // Rank 0 is one element.
    assert_eq!(Tensor::scalar(-2.5).norm(2.0).item(), 2.5);
}

#[test]
#[should_panic(expected = "norm: the order p = 0 must be > 0")]
fn order_zero_panics() {
    Tensor::ones(&[2]).norm(0.0);
}

#[test]
#[should_panic(expected = "norm_value: the order p = NaN must be > 0")]
fn order_nan_panics() {
    Tensor::ones(&[2]).norm_value(f64::NAN);
}

#[test]
fn global_norm_equals_the_norm_of_the_concatenation() {
    let mut rng = StdRng::seed_from_u64(5);
    let parts: Vec<Tensor> = [3usize, 1, 50, 7]
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            // Sizes from 10⁻³⁰ to 10³⁰: the combination must not lose the small ones' order
            // of magnitude, nor overflow on the large ones' powers.
            let scale = [1e-30, 1.0, 1e-20, 1e30][i];
            Tensor::from_vec(signed(&mut rng, n, 0.5, 2.0, scale), &[n])
        })
        .collect();
    let refs: Vec<&Tensor> = parts.iter().collect();
    let all = Tensor::concat(&refs, 0);
    for p in ORDERS {
        let a = Tensor::global_norm_value(&refs, p);
        let b = all.norm_value(p);
        assert!(close(a, b, 1e-12), "p {p}: {a:e} vs {b:e}");
    }
    let tiny: Vec<&Tensor> = vec![&parts[0]];
    assert!(Tensor::global_norm_value(&tiny, 2.0) > 1e-31);
    assert_eq!(Tensor::global_norm_value(&[], 2.0), 0.0);
}

fn values(n: std::ops::Range<usize>) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-100.0f32..100.0, n)
}

fn order() -> impl Strategy<Value = f64> {
    prop_oneof![Just(1.0), Just(2.0), Just(f64::INFINITY), 1.0f64..8.0]
}

proptest! {
    /// ‖a + b‖ ≤ ‖a‖ + ‖b‖ for p ≥ 1 (Minkowski). a + b is rounded in f32 (≤ 2⁻²⁴·|aᵢ + bᵢ|
    /// per element), hence the RTOL slack.
    #[test]
    fn triangle_inequality(ab in (1usize..40).prop_flat_map(|n| (values(n..n + 1), values(n..n + 1))), p in order()) {
        let (a, b) = ab;
        let n = a.len();
        let (ta, tb) = (Tensor::from_vec(a, &[n]), Tensor::from_vec(b, &[n]));
        let lhs = ta.add(&tb).norm_value(p);
        let rhs = ta.norm_value(p) + tb.norm_value(p);
        prop_assert!(lhs <= rhs * (1.0 + RTOL), "p {p}: {lhs} > {rhs}");
    }

    /// ‖c·x‖ = |c|·‖x‖, including c = 10⁻³⁰ (results far below f32's squaring range). A
    /// product c·xᵢ that lands among the f32 subnormals is rounded to a multiple of 2⁻¹⁴⁹,
    /// an absolute error ≤ 2⁻¹⁵⁰ ≈ 7·10⁻⁴⁶ each: at most 60 of them, below 10⁻⁴³.
    #[test]
    fn absolute_homogeneity(x in values(1..60), c in prop_oneof![-1e3f32..1e3, Just(1e-30f32), Just(-3e-25f32)], p in order()) {
        let t = Tensor::from_vec(x.clone(), &[x.len()]);
        let lhs = t.mul_scalar(c).norm_value(p);
        let rhs = f64::from(c.abs()) * t.norm_value(p);
        prop_assert!((lhs - rhs).abs() <= RTOL * rhs + 1e-43, "p {p} c {c}: {lhs:e} vs {rhs:e}");
    }

    /// ‖x‖_∞ ≤ ‖x‖_q ≤ ‖x‖_p for p ≤ q (monotone in the order), and ‖x‖ = 0 only at 0.
    #[test]
    fn norms_decrease_with_the_order(x in values(1..60), p in 1.0f64..4.0, dq in 0.0f64..4.0) {
        let t = Tensor::from_vec(x.clone(), &[x.len()]);
        let (np, nq, ninf) = (t.norm_value(p), t.norm_value(p + dq), t.norm_value(f64::INFINITY));
        prop_assert!(ninf <= nq * (1.0 + 1e-12) && nq <= np * (1.0 + 1e-12), "{ninf} {nq} {np}");
        prop_assert_eq!(np == 0.0, x.iter().all(|&v| v == 0.0));
    }
}
