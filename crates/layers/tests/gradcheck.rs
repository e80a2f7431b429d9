//! Finite-difference checks of every layer's backward, with respect to the input and to every
//! parameter: the layer is rebuilt inside `f` around the checked tensors (`from_tensors`).

use gradflow_layers::{
    AdaptiveAvgPool2d, AvgPool2d, Conv2d, DropoutConfig, Embedding, Flatten, Linear, MaxPool2d,
    Module, Residual, Sequential,
};
use gradflow_tensor::{Conv2dParams, GradCheck, Scope, Tensor, gradcheck};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, 0.0, 1.0, &mut StdRng::seed_from_u64(seed))
}

/// Distinct values spaced 0.1 apart in a scrambled order: no ties for max pooling, and every
/// pair further apart than the finite-difference step.
fn distinct(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut idx: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    for i in (1..n).rev() {
        let j = (rand::RngExt::random::<u32>(&mut rng) as usize) % (i + 1);
        idx.swap(i, j);
    }
    Tensor::from_vec(
        idx.iter()
            .map(|&i| i as f32 * 0.1 - n as f32 * 0.05)
            .collect(),
        shape,
    )
}

fn check(name: &str, f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    let report = gradcheck(f, inputs, GradCheck::default());
    assert!(report.passed, "{name}: {report}");
    assert!(report.worst.is_some(), "{name}: nothing was checked");
}

#[test]
fn linear_matrix_input() {
    check(
        "Linear [3,4]->[3,5]",
        |t| Linear::from_tensors(t[1].clone(), Some(t[2].clone())).forward(&t[0]),
        &[randn(&[3, 4], 1), randn(&[5, 4], 2), randn(&[5], 3)],
    );
}

#[test]
fn linear_batched_and_vector_input_without_bias() {
    check(
        "Linear [2,3,4]->[2,3,5], no bias",
        |t| Linear::from_tensors(t[1].clone(), None).forward(&t[0]),
        &[randn(&[2, 3, 4], 4), randn(&[5, 4], 5)],
    );
    check(
        "Linear [4]->[5]",
        |t| Linear::from_tensors(t[1].clone(), Some(t[2].clone())).forward(&t[0]),
        &[randn(&[4], 6), randn(&[5, 4], 7), randn(&[5], 8)],
    );
}

fn conv_case(name: &str, x: &[usize], w: &[usize], params: Conv2dParams, seed: u64) {
    check(
        name,
        move |t| Conv2d::from_tensors(t[1].clone(), Some(t[2].clone()), params).forward(&t[0]),
        &[randn(x, seed), randn(w, seed + 1), randn(&[w[0]], seed + 2)],
    );
}

#[test]
fn conv2d_stride_padding() {
    conv_case(
        "Conv2d s2 p1",
        &[2, 3, 7, 6],
        &[4, 3, 3, 3],
        Conv2dParams::new(2, 1, 1),
        10,
    );
}

#[test]
fn conv2d_groups_and_dilation() {
    conv_case(
        "Conv2d groups 2",
        &[1, 4, 6, 6],
        &[6, 2, 3, 3],
        Conv2dParams::new(1, 1, 1).with_groups(2),
        20,
    );
    conv_case(
        "Conv2d dilation 2, rect kernel",
        &[1, 2, 7, 7],
        &[3, 2, 2, 3],
        Conv2dParams {
            stride: (1, 2),
            padding: (1, 0),
            dilation: (2, 2),
            groups: 1,
        },
        30,
    );
}

#[test]
fn conv2d_without_bias() {
    check(
        "Conv2d depthwise, no bias",
        |t| {
            Conv2d::from_tensors(
                t[1].clone(),
                None,
                Conv2dParams::new(1, 0, 1).with_groups(3),
            )
            .forward(&t[0])
        },
        &[randn(&[2, 3, 5, 5], 40), randn(&[3, 1, 2, 2], 41)],
    );
}

#[test]
fn pools() {
    let x = distinct(&[2, 2, 7, 6], 50);
    check(
        "MaxPool2d k3 s2 p1",
        |t| {
            MaxPool2d::new(3)
                .with_stride(2)
                .with_padding(1)
                .forward(&t[0])
        },
        std::slice::from_ref(&x),
    );
    check(
        "AvgPool2d k(2,3) s1 p1",
        |t| {
            AvgPool2d::new((2, 3))
                .with_stride(1)
                .with_padding(1)
                .forward(&t[0])
        },
        std::slice::from_ref(&x),
    );
    check(
        "AdaptiveAvgPool2d (3, 4) from 7x6 (overlapping windows)",
        |t| AdaptiveAvgPool2d::new((3, 4)).forward(&t[0]),
        std::slice::from_ref(&x),
    );
}

#[test]
fn flatten() {
    check(
        "Flatten then Linear",
        |t| Linear::from_tensors(t[1].clone(), None).forward(&Flatten::new().forward(&t[0])),
        &[randn(&[2, 2, 3], 60), randn(&[4, 6], 61)],
    );
    // A non-contiguous input (a transposed view) goes through the copying path.
    check(
        "Flatten of a transposed view",
        |t| {
            Flatten::new()
                .forward(&t[0].transpose(1, 2))
                .mul(&t[0].reshape(&[2, 6]))
        },
        &[randn(&[2, 2, 3], 62)],
    );
}

#[test]
fn embedding_with_repeated_ids() {
    check(
        "Embedding lookup [1,3,1,0]",
        |t| Embedding::from_tensor(t[0].clone()).lookup(&[1, 3, 1, 0]),
        &[randn(&[5, 3], 70)],
    );
    check(
        "Embedding forward with f32 ids",
        |t| {
            Embedding::from_tensor(t[0].clone())
                .forward(&Tensor::from_vec(vec![4.0, 4.0, 2.0, 0.0], &[2, 2]))
        },
        &[randn(&[5, 3], 71)],
    );
}

/// y = x ⊙ x, a smooth nonlinearity for test branches.
struct Square;
impl Module for Square {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.mul(x)
    }
    fn visit(&self, _s: &mut Scope<'_>) {}
}

#[test]
fn residual_fixed_and_learned_scale() {
    check(
        "Residual(Linear)",
        |t| Residual::new(Linear::from_tensors(t[1].clone(), Some(t[2].clone()))).forward(&t[0]),
        &[randn(&[3, 4], 80), randn(&[4, 4], 81), randn(&[4], 82)],
    );
    check(
        "Residual(Linear, Square, Linear) with alpha 0.3",
        |t| {
            let branch = Sequential::new()
                .with(Linear::from_tensors(t[1].clone(), None))
                .with(Square)
                .with(Linear::from_tensors(t[2].clone(), None));
            Residual::new(branch).with_scale(0.3).forward(&t[0])
        },
        &[randn(&[2, 4], 83), randn(&[5, 4], 84), randn(&[4, 5], 85)],
    );
    check(
        "Residual with learned alpha",
        |t| {
            Residual::new(Linear::from_tensors(t[1].clone(), None))
                .with_scale_tensor(t[2].clone())
                .forward(&t[0])
        },
        &[
            randn(&[3, 4], 86),
            randn(&[4, 4], 87),
            Tensor::from_vec(vec![0.7], &[1]),
        ],
    );
}

#[test]
fn sequential_conv_pool_flatten_linear() {
    check(
        "Sequential(Conv2d, Square, AvgPool2d, Flatten, Linear)",
        |t| {
            Sequential::new()
                .with(Conv2d::from_tensors(
                    t[1].clone(),
                    Some(t[2].clone()),
                    Conv2dParams::new(1, 1, 1),
                ))
                .with(Square)
                .with(AvgPool2d::new(2))
                .with(Flatten::new())
                .with(Linear::from_tensors(t[3].clone(), Some(t[4].clone())))
                .forward(&t[0])
        },
        &[
            randn(&[2, 2, 4, 4], 90),
            randn(&[3, 2, 3, 3], 91).mul_scalar(0.5),
            randn(&[3], 92),
            randn(&[2, 12], 93),
            randn(&[2], 94),
        ],
    );
}

#[test]
fn dropout_with_a_fixed_mask() {
    // f must be deterministic: rebuild the layer from the same seed on every call.
    check(
        "Dropout p=0.3 (fixed seed)",
        |t| {
            DropoutConfig::new(0.3)
                .init(&mut StdRng::seed_from_u64(7))
                .forward(&t[0])
                .mul(&t[0])
        },
        &[randn(&[4, 5], 100)],
    );
}

#[test]
fn the_check_catches_a_wrong_gradient() {
    // Guard against a vacuous harness: y = Linear(x) recorded with a backward that returns
    // 2·(true ∂L/∂x) must fail.
    let w = randn(&[4, 3], 111);
    let report = gradcheck(
        |t| {
            let y = Linear::from_tensors(w.clone(), None).forward(&t[0].detach());
            let w = w.clone();
            Tensor::from_vec(y.to_vec(), y.shape()).record("wrong", &[&t[0]], false, move |c| {
                vec![Some(c.grad_output().matmul(&w).mul_scalar(2.0))]
            })
        },
        &[randn(&[2, 3], 110)],
        GradCheck::default(),
    );
    assert!(!report.passed, "{report}");
}
