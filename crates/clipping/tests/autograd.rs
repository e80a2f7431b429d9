//! Clipping gradients that come out of a real backward pass.

use gradflow_clipping::{NormType, clip_grad_norm, clip_grad_norm_per_param};
use gradflow_tensor::Tensor;

/// `a + b` hands the same upstream gradient to both leaves; clipping one of them must not
/// change the other (gradients are replaced, never edited in place).
#[test]
fn clipping_one_leaf_leaves_a_sibling_with_shared_gradient_alone() {
    let a = Tensor::from_vec(vec![1.0, 2.0], &[2]).requires_grad_();
    let b = Tensor::from_vec(vec![3.0, 4.0], &[2]).requires_grad_();
    let w = Tensor::from_vec(vec![30.0, 40.0], &[2]);
    a.add(&b).mul(&w).sum_all().backward();
    assert_eq!(b.grad().unwrap().to_vec(), vec![30.0, 40.0]);
    let norms = clip_grad_norm_per_param(std::slice::from_ref(&a), 1.0, NormType::L2);
    assert_eq!(norms, vec![Some(50.0)]);
    let ga = a.grad().unwrap().to_vec();
    assert!((ga[0] - 0.6).abs() < 1e-6 && (ga[1] - 0.8).abs() < 1e-6);
    assert_eq!(b.grad().unwrap().to_vec(), vec![30.0, 40.0]);
}

/// The global norm of a model's gradients after backward, clipped, then accumulated into
/// again by a second backward (clipping leaves a normal leaf gradient behind).
#[test]
fn clipped_gradient_keeps_accumulating() {
    let w = Tensor::from_vec(vec![3.0, 4.0], &[2]).requires_grad_();
    w.mul(&w).sum_all().backward(); // ∂/∂w Σw² = 2w = (6, 8), norm 10
    let total = clip_grad_norm(std::slice::from_ref(&w), 5.0, 2.0);
    assert_eq!(total, 10.0);
    w.sum_all().backward(); // + (1, 1)
    let g = w.grad().unwrap().to_vec();
    assert!(
        (g[0] - 4.0).abs() < 1e-5 && (g[1] - 5.0).abs() < 1e-5,
        "{g:?}"
    );
}
