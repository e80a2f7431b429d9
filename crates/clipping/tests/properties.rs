//! Invariants of every clipping rule, checked on random gradients with proptest.

use gradflow_clipping::{
    NormType, clip_grad_agc, clip_grad_norm, clip_grad_norm_per_param, clip_grad_value, grad_norm,
    try_clip_grad_norm, unitwise_norms,
};
use gradflow_tensor::Tensor;
use proptest::prelude::*;

/// Up to four parameters of random 1-D or 2-D shape with gradients in [−scale, scale].
fn grads() -> impl Strategy<Value = Vec<(Vec<usize>, Vec<f32>)>> {
    let one = (
        1usize..4,
        1usize..6,
        prop_oneof![Just(1e-3f32), Just(1.0f32), Just(1e3f32)],
    )
        .prop_flat_map(|(r, c, scale)| {
            (
                Just(vec![r, c]),
                prop::collection::vec(-scale..scale, r * c),
            )
        });
    prop::collection::vec(one, 1..5)
}

fn norm_types() -> impl Strategy<Value = NormType> {
    prop_oneof![
        Just(NormType::L1),
        Just(NormType::L2),
        Just(NormType::Inf),
        (1.5f64..4.0).prop_map(NormType::P)
    ]
}

fn leaves(gs: &[(Vec<usize>, Vec<f32>)]) -> Vec<Tensor> {
    gs.iter()
        .map(|(shape, g)| {
            let p = Tensor::ones(shape).requires_grad_();
            p.set_grad(Some(Tensor::from_vec(g.clone(), shape)));
            p
        })
        .collect()
}

/// The norm of all gradient elements concatenated, computed independently in f64.
fn reference_norm(gs: &[(Vec<usize>, Vec<f32>)], nt: NormType) -> f64 {
    let all = gs
        .iter()
        .flat_map(|(_, g)| g.iter().map(|&v| f64::from(v).abs()));
    match nt {
        NormType::L1 => all.sum(),
        NormType::L2 => all.map(|v| v * v).sum::<f64>().sqrt(),
        NormType::Inf => all.fold(0.0, f64::max),
        NormType::P(p) => all.map(|v| v.powf(p)).sum::<f64>().powf(1.0 / p),
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn returned_norm_equals_independent_f64_norm(gs in grads(), nt in norm_types()) {
        let params = leaves(&gs);
        let total = clip_grad_norm(&params, 1.0, nt);
        let reference = reference_norm(&gs, nt);
        prop_assert!(
            (f64::from(total) - reference).abs() <= 1e-6 * reference + 1e-30,
            "returned {total}, f64 reference {reference}"
        );
    }

    #[test]
    fn global_norm_is_capped_and_directions_kept(gs in grads(), nt in norm_types(), max_norm in 1e-3f32..10.0) {
        let params = leaves(&gs);
        clip_grad_norm(&params, f64::from(max_norm), nt);
        let after = grad_norm(&params, nt);
        prop_assert!(after <= max_norm * (1.0 + 1e-5), "norm after {after} > max {max_norm}");
        for (p, (_, g0)) in params.iter().zip(&gs) {
            if g0.iter().all(|v| *v == 0.0) { continue; }
            let g = p.grad().unwrap().to_vec();
            let c = cosine(&g, g0);
            prop_assert!((c - 1.0).abs() < 1e-5, "cosine {c}");
        }
    }

    #[test]
    fn below_threshold_is_untouched(gs in grads(), nt in norm_types()) {
        let params = leaves(&gs);
        let total = grad_norm(&params, nt);
        let r = try_clip_grad_norm(&params, f64::from(total * 1.01 + 1e-3), nt);
        prop_assert_eq!(r, Ok(total));
        for (p, (_, g0)) in params.iter().zip(&gs) {
            prop_assert_eq!(&p.grad().unwrap().to_vec(), g0);
        }
    }

    #[test]
    fn value_clipping_bounds_every_element(gs in grads(), c in 0.0f32..2.0) {
        let params = leaves(&gs);
        clip_grad_value(&params, f64::from(c));
        for (p, (_, g0)) in params.iter().zip(&gs) {
            for (x, x0) in p.grad().unwrap().to_vec().iter().zip(g0) {
                prop_assert!(x.abs() <= c);
                if x0.abs() <= c { prop_assert_eq!(x, x0); }
            }
        }
    }

    #[test]
    fn per_param_caps_every_tensor(gs in grads(), max_norm in 1e-3f32..10.0) {
        let params = leaves(&gs);
        let before = clip_grad_norm_per_param(&params, f64::from(max_norm), NormType::L2);
        for ((p, (_, g0)), n0) in params.iter().zip(&gs).zip(before) {
            let g = p.grad().unwrap().to_vec();
            let n = grad_norm(std::slice::from_ref(p), NormType::L2);
            prop_assert!(n <= max_norm * (1.0 + 1e-5));
            if n0.unwrap() <= max_norm { prop_assert_eq!(&g, g0); }
        }
    }

    #[test]
    fn agc_bounds_unit_ratio(gs in grads(), lambda in 1e-3f32..1.0) {
        let params = leaves(&gs);
        // Random weights too, so ‖Wᵢ‖ varies by unit.
        for (p, (_, g0)) in params.iter().zip(&gs) {
            p.update_data(|d| for (w, g) in d.iter_mut().zip(g0) { *w = 0.5 + g.abs().sqrt(); });
        }
        clip_grad_agc(&params, f64::from(lambda), 1e-3);
        for p in &params {
            let wn = unitwise_norms(p);
            let gn = unitwise_norms(&p.grad().unwrap());
            for (w, g) in wn.iter().zip(&gn) {
                prop_assert!(*g <= lambda * w.max(1e-3) * (1.0 + 1e-5), "‖G‖ {g} vs λ‖W‖ {}", lambda * w);
            }
        }
    }
}
