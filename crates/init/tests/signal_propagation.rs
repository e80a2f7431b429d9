//! Does the signal survive depth? 50 fully connected layers of width n = 256, no bias, a batch
//! of 512 standard-normal inputs, forward only (under `no_grad`).
//!
//! Theory (zero-mean i.i.d. weights): the second moment q_l = E[a_l²] obeys
//! E[q_l | a_{l−1}] = n·Var[W]·(E[f(z)²]/Var[z])·q_{l−1}, so the per-layer factor
//! r_l = q_l/q_{l−1} has mean
//! - ReLU + He (Var[W] = 2/n): n·(2/n)·½ = 1, exactly (q_l is a martingale);
//! - ReLU + Xavier (Var[W] = 2/(n + n) = 1/n): ½, so q_50/q_0 ≈ 2⁻⁵⁰ ≈ 8.9·10⁻¹⁶;
//! - tanh + Xavier with gain 5/3: tanh′(0)·gain > 1 but tanh saturates, so q settles at a
//!   fixed point inside (0, 1);
//! - tanh + N(0, 1): Var[z] ≈ n·q, z has std ≈ 15 and almost every unit sits on a flat ±1
//!   plateau, where tanh′ ≈ 0 and no gradient flows back.
//!
//! Finite width: r_l is a sum over n units, so it fluctuates around its mean with
//! sd ≤ √(5/n) ≈ 0.14 (for one input, relu(z)²/E[relu(z)²] has variance 6 − 1 = 5; a batch
//! only lowers it). Over L layers log q_L therefore wanders with variance ≈ 5L/n ≈ 1
//! (Hanin, 2018): E[q_50] = q_0 exactly under He, but one network's q_50/q_0 is spread over
//! roughly [e^{−2.5}, e^{1.5}] (measured over 40 seeds: 0.13 … 2.7, median 0.5). So we test
//! (1) the mean per-layer factor, which is tight, and (2) the end-to-end ratio with a bound
//! that allows this spread — still 13 orders of magnitude away from Xavier's.

use gradflow_init::{FanMode, Nonlinearity, calculate_gain, kaiming_normal, normal, xavier_normal};
use gradflow_tensor::{Tensor, no_grad};
use rand::SeedableRng;
use rand::rngs::StdRng;

const DEPTH: usize = 50;
const WIDTH: usize = 256;
const BATCH: usize = 512;

/// E[a²] over the whole batch, accumulated in f64.
fn second_moment(a: &Tensor) -> f64 {
    let v = a.to_vec();
    v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() / v.len() as f64
}

fn tanh(z: &Tensor) -> Tensor {
    Tensor::from_vec(z.to_vec().iter().map(|v| v.tanh()).collect(), z.shape())
}

fn relu(z: &Tensor) -> Tensor {
    z.clamp(0.0, f32::INFINITY)
}

/// The second moments q_0 … q_L and the final activations. `init` makes an [out, in] weight.
fn propagate(
    seed: u64,
    init: impl Fn(&mut StdRng) -> Tensor,
    f: impl Fn(&Tensor) -> Tensor,
) -> (Vec<f64>, Tensor) {
    let mut rng = StdRng::seed_from_u64(seed);
    no_grad(|| {
        let mut a = Tensor::randn(&[BATCH, WIDTH], 0.0, 1.0, &mut rng);
        let mut q = vec![second_moment(&a)];
        for _ in 0..DEPTH {
            let w = init(&mut rng);
            a = f(&a.matmul(&w.t()));
            q.push(second_moment(&a));
        }
        (q, a)
    })
}

/// Mean of the per-layer factors r_l = q_l / q_{l−1}.
fn mean_factor(q: &[f64]) -> f64 {
    q.windows(2).map(|p| p[1] / p[0]).sum::<f64>() / (q.len() - 1) as f64
}

fn he(rng: &mut StdRng) -> Tensor {
    kaiming_normal(
        &[WIDTH, WIDTH],
        0.0,
        FanMode::FanIn,
        Nonlinearity::Relu,
        rng,
    )
}

fn xavier(rng: &mut StdRng) -> Tensor {
    xavier_normal(&[WIDTH, WIDTH], 1.0, rng)
}

#[test]
fn relu_he_preserves_xavier_vanishes() {
    for seed in [7, 8] {
        let (q, _) = propagate(seed, he, relu);
        // The r_l are martingale differences (uncorrelated), each with sd ≤ 0.14, so their
        // mean over 50 layers has sd ≤ 0.02: 1 ± 0.1 is a 5σ band.
        let r = mean_factor(&q);
        assert!(
            (0.9..=1.1).contains(&r),
            "seed {seed}: He + ReLU mean factor {r}, want 1"
        );
        let ratio = q[DEPTH] / q[0];
        assert!(
            (0.05..=20.0).contains(&ratio),
            "seed {seed}: He + ReLU q_50/q_0 = {ratio}, want O(1) (±3σ of log-spread)"
        );

        let (q, _) = propagate(seed, xavier, relu);
        let r = mean_factor(&q);
        assert!(
            (0.45..=0.55).contains(&r),
            "seed {seed}: Xavier + ReLU mean factor {r}, want ½"
        );
        let ratio = q[DEPTH] / q[0];
        let predicted = 0.5f64.powi(DEPTH as i32);
        assert!(
            ratio < 1e-12,
            "seed {seed}: Xavier + ReLU q_50/q_0 = {ratio}"
        );
        assert!(
            (ratio / predicted).log10().abs() < 1.0,
            "seed {seed}: Xavier + ReLU q_50/q_0 = {ratio}, predicted 2^-50 = {predicted}"
        );
    }
}

#[test]
fn tanh_xavier_stays_bounded_normal_saturates() {
    let saturated = |a: &Tensor| {
        let v = a.to_vec();
        v.iter().filter(|x| x.abs() > 0.9).count() as f64 / v.len() as f64
    };
    // Mean field: σ_w² = n·Var[W] = (5/3)² ≈ 2.8, whose tanh fixed point is q* ≈ 0.43; about
    // 18% of the units exceed 0.9 there.
    let gain = calculate_gain(Nonlinearity::Tanh);
    let (q, a) = propagate(11, |rng| xavier_normal(&[WIDTH, WIDTH], gain, rng), tanh);
    let frac = saturated(&a);
    let q_last = q[DEPTH];
    assert!(
        (0.1..0.8).contains(&q_last) && frac < 0.3,
        "tanh + Xavier(5/3): q_50 = {q_last}, fraction with |a| > 0.9: {frac}"
    );

    let (q, a) = propagate(11, |rng| normal(&[WIDTH, WIDTH], 0.0, 1.0, rng), tanh);
    let frac = saturated(&a);
    // z ~ N(0, 256·q) with q ≈ 0.95: |tanh z| ≤ 0.9 needs |z| ≤ 1.47, probability ≈ 7.5%.
    let q_last = q[DEPTH];
    assert!(
        frac > 0.85 && q_last > 0.9,
        "tanh + N(0, 1): q_50 = {q_last}, fraction with |a| > 0.9: {frac}, want most"
    );
}

/// The backward pass obeys the same recursion with fan_out: ∂L/∂a_{l−1} = W_lᵀ·(relu′(z_l) ⊙
/// ∂L/∂a_l) multiplies the gradient's second moment by fan_out·Var[W]·½ per layer. With
/// square layers fan_in = fan_out, so He keeps the input gradient O(1) while Xavier's
/// vanishes like 2⁻⁵⁰ — the vanishing gradient, present before the first training step.
#[test]
fn relu_gradient_survives_he_vanishes_xavier() {
    let grad_ratio = |seed: u64, init: fn(&mut StdRng) -> Tensor| {
        let mut rng = StdRng::seed_from_u64(seed);
        let x = Tensor::randn(&[64, WIDTH], 0.0, 1.0, &mut rng).requires_grad_();
        let mut a = x.clone();
        for _ in 0..DEPTH {
            a = relu(&a.matmul(&init(&mut rng).t()));
        }
        // L = Σ a_L ⊙ g with g ~ N(0, 1), so ∂L/∂a_L = g has second moment ≈ 1.
        let g = Tensor::randn(a.shape(), 0.0, 1.0, &mut rng);
        a.mul(&g).sum_all().backward();
        let dx = x.grad().expect("x requires grad");
        second_moment(&dx) / second_moment(&g)
    };
    for seed in [21, 22] {
        let he_ratio = grad_ratio(seed, he);
        assert!(
            (0.05..=20.0).contains(&he_ratio),
            "seed {seed}: He + ReLU E[(∂L/∂x)²]/E[g²] = {he_ratio}, want O(1)"
        );
        let xavier_ratio = grad_ratio(seed, xavier);
        let predicted = 0.5f64.powi(DEPTH as i32);
        assert!(
            xavier_ratio < 1e-12 && (xavier_ratio / predicted).log10().abs() < 1.0,
            "seed {seed}: Xavier + ReLU gradient ratio {xavier_ratio}, predicted {predicted}"
        );
    }
}
