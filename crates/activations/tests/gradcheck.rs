//! Gradient checks: every activation's backward against central differences (the tensor
//! crate's `gradcheck`, f64 accumulation, tolerance derived from f32 precision), on random
//! inputs kept at least 0.02 away from kinks (the finite-difference step is ≈ 5·10⁻³).

use gradflow_activations::*;
use gradflow_tensor::{GradCheck, Tensor, gradcheck};
use proptest::prelude::*;

/// Random vectors in [−6, 6] that avoid the kink at 0.
fn inputs() -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(
        (-6f32..6.0).prop_filter("away from the kink", |v| v.abs() > 0.02),
        1..8,
    )
}

fn check(
    name: &str,
    f: impl Fn(&[Tensor]) -> Tensor,
    inputs: &[Tensor],
) -> Result<(), TestCaseError> {
    let r = gradcheck(f, inputs, GradCheck::default());
    prop_assert!(r.passed, "{name}: {r}");
    Ok(())
}

fn vec1(v: &[f32]) -> Tensor {
    Tensor::from_vec(v.to_vec(), &[v.len()])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn parameterless(xs in inputs()) {
        let x = [vec1(&xs)];
        check("sigmoid", |t| sigmoid(&t[0]), &x)?;
        check("tanh", |t| tanh(&t[0]), &x)?;
        check("relu", |t| relu(&t[0]), &x)?;
        check("selu", |t| selu(&t[0]), &x)?;
        check("gelu", |t| gelu(&t[0], GeluApprox::None), &x)?;
        check("gelu_tanh", |t| gelu(&t[0], GeluApprox::Tanh), &x)?;
        check("silu", |t| silu(&t[0]), &x)?;
        check("mish", |t| mish(&t[0]), &x)?;
    }

    #[test]
    fn with_hyperparameters(
        xs in inputs(), slope in 0f64..1.0, alpha in 0.1f64..3.0, beta in 0.5f64..3.0
    ) {
        let x = [vec1(&xs)];
        check("leaky_relu", |t| leaky_relu(&t[0], slope), &x)?;
        check("elu", |t| elu(&t[0], alpha), &x)?;
        // β·x ≤ 18 < threshold 20: the smooth branch.
        check("softplus", |t| softplus(&t[0], beta, 20.0), &x)?;
    }

    #[test]
    fn prelu_shared_slope_checks_input_and_slope(xs in inputs(), a in -0.5f32..1.5) {
        // gradcheck perturbs both inputs, so this checks ∂L/∂x and ∂L/∂a.
        check("prelu", |t| prelu(&t[0], &t[1]), &[vec1(&xs), Tensor::from_vec(vec![a], &[1])])?;
    }

    #[test]
    fn prelu_per_channel_checks_input_and_slopes(
        xs in prop::collection::vec((-6f32..6.0).prop_filter("kink", |v| v.abs() > 0.02), 12),
        a in prop::collection::vec(-0.5f32..1.5, 3),
    ) {
        // (n, c, w) = (2, 3, 2), slopes along dim 1.
        let x = Tensor::from_vec(xs, &[2, 3, 2]);
        check("prelu per-channel", |t| prelu(&t[0], &t[1]), &[x, vec1(&a)])?;
    }
}

#[test]
fn softplus_threshold_branch() {
    // β = 2, threshold 3: the cut-off is at x = 1.5; check both sides, away from it.
    let x = vec1(&[-2.0, 0.3, 1.2, 1.8, 4.0]);
    let r = gradcheck(|t| softplus(&t[0], 2.0, 3.0), &[x], GradCheck::default());
    assert!(r.passed, "{r}");
}

#[test]
fn through_a_strided_view() {
    // The fused ops read views in logical order; the gradient lands on the base tensor.
    let base = Tensor::from_vec(vec![-1.5, 0.5, 2.0, -0.7, 1.1, -3.0], &[2, 3]);
    let r = gradcheck(
        |t| mish(&t[0].t()).mul(&sigmoid(&t[0].t())),
        &[base],
        GradCheck::default(),
    );
    assert!(r.passed, "{r}");
}
