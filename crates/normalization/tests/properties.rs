//! Property tests of what the math promises (proptest, small shapes).
//!
//! Bounds are derived from f32 rounding, ε₃₂ = 2⁻²³: every x̂ = (x − μ)·rstd carries a relative
//! error of a few ε₃₂ plus, through the rounding of μ and of the input itself, an absolute
//! error of about ε₃₂·max|x|·rstd.

mod common;

use common::{batch_norm_ref, group_norm_ref, layer_norm_ref};
use gradflow_normalization::{BatchNorm1d, BatchNormConfig, batch_norm, group_norm, layer_norm};
use gradflow_tensor::{Module, Tensor};
use gradflow_test_support::assert_close;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

const EPS32: f64 = f32::EPSILON as f64;

/// x[n, c, l] = randn·scale_c + shift_c, with log-uniform scales in [10^lo, 10^hi].
fn channel_data(shape: &[usize], seed: u64, lo: f64, hi: f64, shift: f64) -> Tensor {
    let mut rng = StdRng::seed_from_u64(seed);
    let c = shape[1];
    let u = Tensor::rand(&[c], 0.0, 1.0, &mut rng).to_vec();
    let t = Tensor::rand(&[c], -1.0, 1.0, &mut rng).to_vec();
    let mut bshape = vec![1; shape.len()];
    bshape[1] = c;
    let scale: Vec<f32> = u
        .iter()
        .map(|&u| 10f64.powf(lo + (hi - lo) * u as f64) as f32)
        .collect();
    let shift: Vec<f32> = t.iter().map(|&t| (t as f64 * shift) as f32).collect();
    Tensor::randn(shape, 0.0, 1.0, &mut rng)
        .mul(&Tensor::from_vec(scale, &bshape))
        .add(&Tensor::from_vec(shift, &bshape))
}

/// Per-channel (dim 1) values of a `[N, C, L]` tensor.
fn channel(v: &[f32], shape: &[usize], c: usize) -> Vec<f64> {
    let (n, cc, l) = (shape[0], shape[1], shape[2]);
    let mut out = Vec::with_capacity(n * l);
    for i in 0..n {
        for k in 0..l {
            out.push(v[(i * cc + c) * l + k] as f64);
        }
    }
    out
}

fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (m, v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n)
}

fn shape3() -> impl Strategy<Value = Vec<usize>> {
    (1usize..6, 1usize..4, 1usize..5)
        .prop_filter("n·l ≥ 2", |(n, _, l)| n * l >= 2)
        .prop_map(|(n, c, l)| vec![n, c, l])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Train mode, γ = 1, β = 0: per channel mean(y) ≈ 0 and var(y) = σ²/(σ² + ε) (x̂'s
    /// biased variance; noticeably below 1 once σ² is comparable to ε, which the scales
    /// down to 10^−2.7, σ² ≈ 4·10⁻⁶, exercise).
    #[test]
    fn train_output_is_standardized(shape in shape3(), seed in any::<u64>()) {
        let eps = 1e-5f64;
        let x = channel_data(&shape, seed, -2.7, 1.0, 10.0);
        let y = batch_norm(&x, None, None, None, None, true, 0.1, eps);
        let (xv, yv) = (x.to_vec(), y.to_vec());
        for c in 0..shape[1] {
            let xc = channel(&xv, &shape, c);
            let (_, s2) = mean_var(&xc);
            let rstd = 1.0 / (s2 + eps).sqrt();
            let max_x = xc.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            let n = xc.len() as f64;
            let (my, vy) = mean_var(&channel(&yv, &shape, c));
            let tol_mean = 8.0 * EPS32 * (max_x * rstd + n.sqrt());
            prop_assert!(my.abs() <= tol_mean, "channel {c}: mean {my:e} > {tol_mean:e}");
            let expected = s2 / (s2 + eps);
            let tol_var = 32.0 * EPS32 * (expected + max_x * rstd * expected.sqrt());
            prop_assert!(
                (vy - expected).abs() <= tol_var,
                "channel {c}: var {vy} vs σ²/(σ²+ε) = {expected} (tol {tol_var:e})"
            );
        }
    }

    /// y(x + b) = y(x) and y(a·x; a²ε) = y(x; ε) for a > 0, for all three normalizations.
    #[test]
    fn invariant_to_shift_and_positive_scale(
        shape in shape3(),
        seed in any::<u64>(),
        b in -10.0f32..10.0,
        log_a in -2.0f32..2.0,
    ) {
        let a = 10f32.powf(log_a);
        let eps = 1e-5f64;
        let x = channel_data(&shape, seed, -1.0, 1.0, 5.0);
        let max_x = x.abs().max(&[0, 1, 2], false).item() as f64;
        type Norm = Box<dyn Fn(&Tensor, f64) -> Tensor>;
        let c = shape[1];
        // (name, op, the dims one normalization set spans).
        let norms: Vec<(&str, Norm, Vec<usize>)> = vec![
            ("batch_norm", Box::new(|x: &Tensor, e| batch_norm(x, None, None, None, None, true, 0.1, e)), vec![0, 2]),
            ("layer_norm", Box::new(|x: &Tensor, e| layer_norm(x, &[x.dim(1), x.dim(2)], None, None, e)), vec![1, 2]),
            ("group_norm", Box::new(move |x: &Tensor, e| group_norm(x, c, None, None, e)), vec![2]),
        ];
        for (name, f, set_dims) in &norms {
            let y = f(&x, eps);
            let min_var = x.var(set_dims, 0, false).to_vec().iter().fold(f32::INFINITY, |a, &v| a.min(v)) as f64;
            let rstd_max = 1.0 / (min_var + eps).sqrt();
            let n = x.numel() as f64;
            let tol = (16.0 * EPS32 * (n.sqrt() + (max_x + b.abs() as f64) * rstd_max)) as f32;
            let ys = f(&x.add_scalar(b), eps);
            assert_close(&format!("{name}: shift by {b}"), &ys, &y, 0.0, f64::from(tol));
            let ya = f(&x.mul_scalar(a), eps * f64::from(a) * f64::from(a));
            assert_close(&format!("{name}: scale by {a}"), &ya, &y, 0.0, f64::from(tol));
        }
    }

    /// GroupNorm and LayerNorm: one sample's output does not depend on the rest of the batch.
    #[test]
    fn group_and_layer_norm_are_per_sample(
        shape in shape3(),
        seed in any::<u64>(),
        other_seed in any::<u64>(),
    ) {
        let x = channel_data(&shape, seed, -1.0, 1.0, 3.0);
        let c = shape[1];
        let g = Tensor::rand(&[c], 0.5, 1.5, &mut StdRng::seed_from_u64(seed ^ 1));
        let b = Tensor::rand(&[c], -1.0, 1.0, &mut StdRng::seed_from_u64(seed ^ 2));
        // Replace every sample but the first with unrelated data.
        let other = channel_data(&shape, other_seed, -1.0, 2.0, 50.0);
        let mixed = Tensor::concat(&[&x.narrow(0, 0, 1), &other.narrow(0, 1, shape[0] - 1)], 0);
        let alone = x.narrow(0, 0, 1);
        for groups in [1, c] {
            let full = group_norm(&mixed, groups, Some(&g), Some(&b), 1e-5).narrow(0, 0, 1);
            let solo = group_norm(&alone, groups, Some(&g), Some(&b), 1e-5);
            assert_close(&format!("group_norm G = {groups}"), &full, &solo, 1e-6, 1e-6);
        }
        let ln_full = layer_norm(&mixed, &[c, shape[2]], None, None, 1e-5).narrow(0, 0, 1);
        let ln_solo = layer_norm(&alone, &[c, shape[2]], None, None, 1e-5);
        assert_close("layer_norm", &ln_full, &ln_solo, 1e-6, 1e-6);
    }

    /// After any sequence of training batches (constant channels included, any momentum in
    /// [0, 1] or the cumulative average) running_var stays ≥ 0 and finite, and eval mode is
    /// then a per-sample map.
    #[test]
    fn running_var_stays_nonnegative(
        shape in shape3(),
        seed in any::<u64>(),
        momentum in prop::option::of(0.0f64..=1.0),
        steps in 1usize..6,
    ) {
        let c = shape[1];
        let mut bn = BatchNormConfig::new(c).with_momentum(momentum).init::<1>();
        for s in 0..steps {
            let x = channel_data(&shape, seed.wrapping_add(s as u64), -8.0, 1.0, 4.0);
            // Every other step channel 0 is constant: batch variance 0.
            let x = if s % 2 == 1 {
                let mut v = x.to_vec();
                for i in 0..shape[0] {
                    for k in 0..shape[2] {
                        v[i * c * shape[2] + k] = 3.25;
                    }
                }
                Tensor::from_vec(v, &shape)
            } else {
                x
            };
            bn.forward(&x);
            let rv = bn.running_var().map(Tensor::to_vec).unwrap_or_default();
            prop_assert!(rv.iter().all(|&v| v >= 0.0 && v.is_finite()), "running_var {rv:?}");
        }
        bn.eval();
        let x = channel_data(&shape, seed ^ 7, -1.0, 1.0, 1.0);
        let full = bn.forward(&x).narrow(0, 0, 1);
        let solo = bn.forward(&x.narrow(0, 0, 1));
        assert_close("eval batch_norm per sample", &full, &solo, 0.0, 0.0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The fused kernels agree with the composed tensor-op references in value and in all
    /// three gradients, on random shapes.
    #[test]
    fn fused_equals_composed(
        shape in shape3(),
        seed in any::<u64>(),
    ) {
        let x = channel_data(&shape, seed, -0.5, 0.5, 2.0);
        let c = shape[1];
        let gy = Tensor::randn(&shape, 0.0, 1.0, &mut StdRng::seed_from_u64(seed ^ 3));
        type F = Box<dyn Fn(&Tensor, &Tensor, &Tensor) -> Tensor>;
        let l = shape[2];
        // (name, fused, reference, γ/β shape).
        let cases: Vec<(&str, F, F, Vec<usize>)> = vec![
            ("batch_norm",
             Box::new(|x, g, b| batch_norm(x, None, None, Some(g), Some(b), true, 0.1, 1e-5)),
             Box::new(|x, g, b| batch_norm_ref(x, g, b, 1e-5)),
             vec![c]),
            ("group_norm",
             Box::new(move |x, g, b| group_norm(x, c, Some(g), Some(b), 1e-5)),
             Box::new(move |x, g, b| group_norm_ref(x, c, g, b, 1e-5)),
             vec![c]),
            ("layer_norm",
             Box::new(move |x, g, b| layer_norm(x, &[c, l], Some(g), Some(b), 1e-5)),
             Box::new(|x, g, b| layer_norm_ref(x, 2, g, b, 1e-5)),
             vec![c, l]),
        ];
        for (name, fused, reference, pshape) in &cases {
            let g0 = Tensor::rand(pshape, 0.5, 1.5, &mut StdRng::seed_from_u64(seed ^ 4));
            let b0 = Tensor::rand(pshape, -1.0, 1.0, &mut StdRng::seed_from_u64(seed ^ 5));
            let run = |f: &F| {
                let (x, g, b) = (
                    x.detach().requires_grad_(),
                    g0.detach().requires_grad_(),
                    b0.detach().requires_grad_(),
                );
                let y = f(&x, &g, &b);
                y.backward_with(&gy);
                (y, [x.grad(), g.grad(), b.grad()])
            };
            let (y1, d1) = run(fused);
            let (y2, d2) = run(reference);
            assert_close(&format!("{name}: y"), &y1, &y2, 1e-5, 2e-5);
            for (k, (a, e)) in ["dx", "dgamma", "dbeta"].iter().zip(d1.iter().zip(&d2)) {
                let (a, e) = (a.clone().expect("fused grad"), e.clone().expect("reference grad"));
                assert_close(&format!("{name}: {k}"), &a, &e, 1e-4, 1e-4);
            }
        }
    }
}

#[test]
fn batchnorm1d_module_reads_nc_and_ncl() {
    let bn = BatchNorm1d::new(3);
    let x2 = channel_data(&[4, 3, 1], 1, 0.0, 0.5, 1.0);
    let y2 = bn.forward(&x2.reshape(&[4, 3]));
    let y3 = batch_norm(&x2, None, None, None, None, true, 0.1, 1e-5);
    assert_close(
        "[N, C] vs [N, C, 1]",
        &y2.reshape(&[4, 3, 1]),
        &y3,
        0.0,
        1e-7,
    );
}
