//! Finite-difference checks of the fused backward kernels (x, γ and β are all checked), and
//! a cross-check of the fused forward/backward against the composed reference built from
//! tensor ops (tests/common).

mod common;

use common::{batch_norm_ref, group_norm_ref, layer_norm_ref};
use gradflow_normalization::{batch_norm, group_norm, instance_norm, layer_norm};
use gradflow_tensor::{GradCheck, Tensor, gradcheck};
use gradflow_test_support::assert_close;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn randn(shape: &[usize], mean: f32, std: f32, seed: u64) -> Tensor {
    Tensor::randn(shape, mean, std, &mut StdRng::seed_from_u64(seed))
}

/// γ away from 0 (so that every path matters), β arbitrary.
fn affine(c: usize, seed: u64) -> (Tensor, Tensor) {
    let g = Tensor::rand(&[c], 0.5, 1.5, &mut StdRng::seed_from_u64(seed));
    (g, randn(&[c], 0.0, 0.5, seed + 1))
}

#[track_caller]
fn check(what: &str, f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    let report = gradcheck(f, inputs, GradCheck::default());
    assert!(report.passed, "{what}: {report}");
}

#[test]
fn batch_norm_train_gradcheck() {
    for (i, shape) in [vec![6, 3], vec![4, 2, 5], vec![3, 2, 3, 3]]
        .into_iter()
        .enumerate()
    {
        let x = randn(&shape, 0.7, 1.5, 10 + i as u64);
        let (g, b) = affine(shape[1], 20 + i as u64);
        check(
            &format!("batch_norm train {shape:?}"),
            |t| batch_norm(&t[0], None, None, Some(&t[1]), Some(&t[2]), true, 0.1, 1e-5),
            &[x, g, b],
        );
    }
}

#[test]
fn batch_norm_train_without_affine_gradcheck() {
    let x = randn(&[5, 3, 2], -0.3, 2.0, 1);
    check(
        "batch_norm train, no affine",
        |t| batch_norm(&t[0], None, None, None, None, true, 0.1, 1e-5),
        &[x],
    );
}

#[test]
fn batch_norm_eval_gradcheck() {
    let x = randn(&[4, 3, 2, 2], 0.2, 1.0, 2);
    let (g, b) = affine(3, 3);
    let rm = Tensor::from_vec(vec![0.1, -0.4, 0.9], &[3]);
    let rv = Tensor::from_vec(vec![0.5, 1.7, 2.2], &[3]);
    check(
        "batch_norm eval",
        |t| {
            batch_norm(
                &t[0],
                Some(&rm),
                Some(&rv),
                Some(&t[1]),
                Some(&t[2]),
                false,
                0.1,
                1e-5,
            )
        },
        &[x, g, b],
    );
}

#[test]
fn layer_norm_gradcheck() {
    let x = randn(&[3, 2, 5], 0.5, 1.2, 4);
    let g = Tensor::rand(&[5], 0.5, 1.5, &mut StdRng::seed_from_u64(5));
    let b = randn(&[5], 0.0, 0.5, 6);
    check(
        "layer_norm last1",
        |t| layer_norm(&t[0], &[5], Some(&t[1]), Some(&t[2]), 1e-5),
        &[x.clone(), g, b],
    );
    let g2 = Tensor::rand(&[2, 5], 0.5, 1.5, &mut StdRng::seed_from_u64(7));
    let b2 = randn(&[2, 5], 0.0, 0.5, 8);
    check(
        "layer_norm last2",
        |t| layer_norm(&t[0], &[2, 5], Some(&t[1]), Some(&t[2]), 1e-5),
        &[x, g2, b2],
    );
}

#[test]
fn group_norm_gradcheck() {
    let x = randn(&[2, 6, 2, 2], -0.4, 1.7, 9);
    let (g, b) = affine(6, 10);
    for groups in [1, 3, 6] {
        check(
            &format!("group_norm G = {groups}"),
            |t| group_norm(&t[0], groups, Some(&t[1]), Some(&t[2]), 1e-5),
            &[x.clone(), g.clone(), b.clone()],
        );
    }
    check(
        "instance_norm, no affine",
        |t| instance_norm(&t[0], None, None, 1e-5),
        &[x],
    );
}

/// Values and all three gradients of `fused` and `reference` on the same inputs.
fn cross_check(
    what: &str,
    fused: impl Fn(&Tensor, &Tensor, &Tensor) -> Tensor,
    reference: impl Fn(&Tensor, &Tensor, &Tensor) -> Tensor,
    x: &Tensor,
    c: usize,
    gshape: &[usize],
) {
    let (g, b) = affine(c, 77);
    let (g, b) = (g.reshape(gshape), b.reshape(gshape));
    let gy = randn(x.shape(), 0.0, 1.0, 99);
    let run = |f: &dyn Fn(&Tensor, &Tensor, &Tensor) -> Tensor| {
        let (x, g, b) = (
            x.detach().requires_grad_(),
            Tensor::from_vec(g.to_vec(), g.shape()).requires_grad_(),
            Tensor::from_vec(b.to_vec(), b.shape()).requires_grad_(),
        );
        let y = f(&x, &g, &b);
        y.backward_with(&gy);
        let grads = [&x, &g, &b].map(|t| t.grad().expect("grad"));
        (y, grads)
    };
    let (y1, d1) = run(&fused);
    let (y2, d2) = run(&reference);
    assert_close(&format!("{what}: y"), &y1, &y2, 1e-5, 1e-5);
    for (name, (a, e)) in ["dx", "dgamma", "dbeta"].iter().zip(d1.iter().zip(&d2)) {
        assert_close(&format!("{what}: {name}"), a, e, 1e-4, 1e-4);
    }
}

#[test]
fn fused_matches_composed_reference() {
    let x = randn(&[5, 4, 3, 2], 1.3, 2.0, 31);
    cross_check(
        "batch_norm",
        |x, g, b| batch_norm(x, None, None, Some(g), Some(b), true, 0.1, 1e-5),
        |x, g, b| batch_norm_ref(x, g, b, 1e-5),
        &x,
        4,
        &[4],
    );
    cross_check(
        "group_norm",
        |x, g, b| group_norm(x, 2, Some(g), Some(b), 1e-5),
        |x, g, b| group_norm_ref(x, 2, g, b, 1e-5),
        &x,
        4,
        &[4],
    );
    cross_check(
        "layer_norm last2",
        |x, g, b| layer_norm(x, &[3, 2], Some(g), Some(b), 1e-5),
        |x, g, b| layer_norm_ref(x, 2, g, b, 1e-5),
        &x,
        6,
        &[3, 2],
    );
    // Above PAR_MIN_ELEMS (2^17) elements: the parallel paths (runs of samples on separate
    // tasks, their partial sums combined in order). dγ sums 49,152 products of N(0, 1)
    // values (|dγ| ≈ 220): the composed reference's f32 sums are off by ~ √n·ε·220 ≈ 3·10⁻³
    // at most, inside 10⁻⁴ relative.
    let big = randn(&[8, 3, 96, 64], -0.7, 1.5, 32);
    cross_check(
        "batch_norm, parallel",
        |x, g, b| batch_norm(x, None, None, Some(g), Some(b), true, 0.1, 1e-5),
        |x, g, b| batch_norm_ref(x, g, b, 1e-5),
        &big,
        3,
        &[3],
    );
    // A non-contiguous input (a transposed view) is read in row-major order.
    let xt = x.transpose(2, 3);
    assert!(!xt.is_contiguous());
    cross_check(
        "layer_norm on a transposed view",
        |x, g, b| layer_norm(x, &[2, 3], Some(g), Some(b), 1e-5),
        |x, g, b| layer_norm_ref(&x.contiguous(), 2, g, b, 1e-5),
        &xt,
        6,
        &[2, 3],
    );
    cross_check(
        "batch_norm on a transposed view",
        |x, g, b| batch_norm(x, None, None, Some(g), Some(b), true, 0.1, 1e-5),
        |x, g, b| batch_norm_ref(&x.contiguous(), g, b, 1e-5),
        &xt,
        4,
        &[4],
    );
}

/// The backward skips the passes nobody needs; the gradients that are computed must not
/// change when the other inputs stop requiring grad (train and eval statistics).
#[test]
fn partial_requires_grad_gives_same_gradients() {
    let x0 = randn(&[4, 3, 5], 0.3, 1.4, 41);
    let (g0, b0) = affine(3, 42);
    let gy = randn(&[4, 3, 5], 0.0, 1.0, 43);
    let rm = Tensor::from_vec(vec![0.2, -0.1, 0.5], &[3]);
    let rv = Tensor::from_vec(vec![1.5, 0.7, 2.0], &[3]);
    for training in [true, false] {
        // (x, γ, β) requires_grad flags.
        let run = |flags: [bool; 3]| {
            let leaf = |t: &Tensor, on: bool| {
                let t = t.detach();
                if on { t.requires_grad_() } else { t }
            };
            let (x, g, b) = (
                leaf(&x0, flags[0]),
                leaf(&g0, flags[1]),
                leaf(&b0, flags[2]),
            );
            let y = batch_norm(
                &x,
                Some(&rm),
                Some(&rv),
                Some(&g),
                Some(&b),
                training,
                0.0,
                1e-5,
            );
            y.backward_with(&gy);
            [x.grad(), g.grad(), b.grad()]
        };
        let full = run([true, true, true]);
        for flags in [
            [true, false, false],
            [false, true, false],
            [false, false, true],
            [false, true, true],
        ] {
            let part = run(flags);
            for k in 0..3 {
                match (&part[k], flags[k]) {
                    (Some(p), true) => {
                        let f = full[k].clone().expect("full grad");
                        assert_close(
                            &format!("training {training}, flags {flags:?}, input {k}"),
                            p,
                            &f,
                            0.0,
                            0.0,
                        );
                    }
                    (None, false) => {}
                    (p, on) => panic!("input {k}: requires_grad {on} but grad {:?}", p.is_some()),
                }
            }
        }
    }
}

/// `[N, C]` features (one element per channel and sample) take the row-wise kernels, on one
/// thread and, above `PAR_MIN_ELEMS`, split over threads.
#[test]
fn feature_matrices_match_the_reference() {
    for (n, seed) in [(37, 61), (1100, 62)] {
        let x = randn(&[n, 120], 0.3, 1.7, seed);
        cross_check(
            "batch_norm1d, [N, C]",
            |x, g, b| batch_norm(x, None, None, Some(g), Some(b), true, 0.1, 1e-5),
            |x, g, b| batch_norm_ref(x, g, b, 1e-5),
            &x,
            120,
            &[120],
        );
        cross_check(
            "group_norm, [N, C]",
            |x, g, b| group_norm(x, 8, Some(g), Some(b), 1e-5),
            |x, g, b| group_norm_ref(x, 8, g, b, 1e-5),
            &x,
            120,
            &[120],
        );
    }
}

/// Inputs above `PAR_MIN_ELEMS` are split over rayon threads in chunks of whole samples
/// (the last chunk shorter here); the result must still match the composed reference.
#[test]
fn large_inputs_take_the_parallel_path() {
    const { assert!(17 * 4 * 44 * 44 >= gradflow_tensor::PAR_MIN_ELEMS) };
    let x = randn(&[17, 4, 44, 44], -0.6, 1.3, 51);
    cross_check(
        "batch_norm, parallel",
        |x, g, b| batch_norm(x, None, None, Some(g), Some(b), true, 0.1, 1e-5),
        |x, g, b| batch_norm_ref(x, g, b, 1e-5),
        &x,
        4,
        &[4],
    );
    const { assert!(9 * 6 * 50 * 50 >= gradflow_tensor::PAR_MIN_ELEMS) };
    let x = randn(&[9, 6, 50, 50], 0.4, 0.8, 52);
    cross_check(
        "group_norm, parallel",
        |x, g, b| group_norm(x, 3, Some(g), Some(b), 1e-5),
        |x, g, b| group_norm_ref(x, 3, g, b, 1e-5),
        &x,
        6,
        &[6],
    );
    const { assert!(4111 * 32 >= gradflow_tensor::PAR_MIN_ELEMS) };
    let x = randn(&[4111, 32], 2.0, 3.0, 53);
    cross_check(
        "layer_norm, parallel",
        |x, g, b| layer_norm(x, &[32], Some(g), Some(b), 1e-5),
        |x, g, b| layer_norm_ref(x, 1, g, b, 1e-5),
        &x,
        32,
        &[32],
    );
}
