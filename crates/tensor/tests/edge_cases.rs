//! Edge cases the math promises: empty tensors, rank-0 tensors, the subgradient conventions
//! at kinks (PyTorch's), and the NaN policy of the extremum ops.

use gradflow_tensor::{Conv2dParams, Tensor};

fn grad_of(x: &Tensor) -> Vec<f32> {
    x.grad().expect("gradient").to_vec()
}

#[test]
fn empty_tensors_flow_through_forward_and_backward() {
    // Σ over an empty axis is 0.
    assert_eq!(
        Tensor::zeros(&[0, 3]).sum(&[0], false).to_vec(),
        vec![0.0; 3]
    );
    // A product with inner dimension 0 is all zeros, and the gradients keep their shapes.
    let a = Tensor::zeros(&[2, 0]).requires_grad_();
    let b = Tensor::zeros(&[0, 3]).requires_grad_();
    let c = a.matmul(&b);
    assert_eq!(c.to_vec(), vec![0.0; 6]);
    c.sum_all().backward();
    assert_eq!(a.grad().unwrap().shape(), &[2, 0]);
    assert_eq!(b.grad().unwrap().shape(), &[0, 3]);
    // An empty piece in concat, an empty selection, an empty batch through conv2d.
    let e = Tensor::ones(&[2, 0]).requires_grad_();
    let f = Tensor::ones(&[2, 2]).requires_grad_();
    Tensor::concat(&[&e, &f], 1).sum_all().backward();
    assert_eq!(
        (e.grad().unwrap().shape(), grad_of(&f)),
        (&[2usize, 0][..], vec![1.0; 4])
    );
    let t = Tensor::ones(&[3, 2]).requires_grad_();
    t.index_select(0, &[]).sum_all().backward();
    assert_eq!(grad_of(&t), vec![0.0; 6]);
    let x = Tensor::zeros(&[0, 2, 3, 3]).requires_grad_();
    let w = Tensor::ones(&[2, 2, 3, 3]).requires_grad_();
    let y = x.conv2d(&w, None, Conv2dParams::default());
    assert_eq!(y.shape(), &[0, 2, 1, 1]);
    y.sum_all().backward();
    assert_eq!(grad_of(&w), vec![0.0; 36]);
}

/// No output channels, or no input channels: the output is empty or all bias, and the
/// gradients keep their shapes, on small planes (the batched path) and large ones (per task).
#[test]
fn convolutions_without_channels_flow_through() {
    for side in [4, 20] {
        let x = Tensor::ones(&[3, 2, side, side]).requires_grad_();
        let w = Tensor::ones(&[0, 2, 3, 3]).requires_grad_();
        let y = x.conv2d(&w, None, Conv2dParams::new(1, 1, 1));
        assert_eq!(y.shape(), &[3, 0, side, side]);
        y.sum_all().backward();
        assert_eq!(grad_of(&x), vec![0.0; 3 * 2 * side * side]);

        let x = Tensor::ones(&[3, 0, side, side]).requires_grad_();
        let w = Tensor::ones(&[2, 0, 3, 3]).requires_grad_();
        let b = Tensor::from_vec(vec![1.5, -2.0], &[2]).requires_grad_();
        let y = x.conv2d(&w, Some(&b), Conv2dParams::new(1, 1, 1));
        assert_eq!(y.shape(), &[3, 2, side, side]);
        assert_eq!(y.get(&[2, 1, 1, 1]), -2.0);
        y.sum_all().backward();
        assert_eq!(x.grad().unwrap().shape(), &[3, 0, side, side]);
        assert_eq!(w.grad().unwrap().shape(), &[2, 0, 3, 3]);
        assert_eq!(grad_of(&b), vec![(3 * side * side) as f32; 2]);
    }
}

#[test]
fn rank_zero_tensors_chain() {
    // y = ln(exp(x²)) = x², so dy/dx = 2x = 4 at x = 2.
    let x = Tensor::scalar(2.0).requires_grad_();
    let y = x.mul(&x).exp().ln();
    assert_eq!(y.shape(), &[] as &[usize]);
    y.backward();
    assert!((grad_of(&x)[0] - 4.0).abs() < 1e-5);
    // A scalar leaf's own backward seeds 1.
    let s = Tensor::scalar(3.0).requires_grad_();
    s.backward();
    assert_eq!(grad_of(&s), vec![1.0]);
}

#[test]
fn subgradients_at_kinks_follow_pytorch() {
    let at0 = || Tensor::zeros(&[1]).requires_grad_();
    // |x|′(0) = 0.
    let x = at0();
    x.abs().sum_all().backward();
    assert_eq!(grad_of(&x), vec![0.0]);
    // clamp passes the gradient at its bounds (min ≤ x ≤ max, bounds included).
    let x = at0();
    x.clamp(0.0, 1.0).sum_all().backward();
    assert_eq!(grad_of(&x), vec![1.0]);
    // torch.maximum splits a tie evenly.
    let (x, z) = (at0(), at0());
    x.maximum(&z).sum_all().backward();
    assert_eq!((grad_of(&x), grad_of(&z)), (vec![0.5], vec![0.5]));
    // amax shares the gradient evenly among equal maxima.
    let x = Tensor::ones(&[4]).requires_grad_();
    x.max(&[0], false).backward();
    assert_eq!(grad_of(&x), vec![0.25; 4]);
    // max_pool sends it to the first maximum of the window.
    let x = Tensor::ones(&[1, 1, 2, 2]).requires_grad_();
    x.max_pool2d((2, 2), (2, 2), (0, 0)).sum_all().backward();
    assert_eq!(grad_of(&x), vec![1.0, 0.0, 0.0, 0.0]);
}

#[test]
fn extrema_propagate_nan() {
    let v = Tensor::from_vec(vec![1.0, f32::NAN, 2.0], &[3]);
    assert!(v.max(&[0], false).item().is_nan());
    assert!(v.min(&[0], false).item().is_nan());
    let x = Tensor::from_vec(vec![1.0, f32::NAN, 0.0, 0.0], &[1, 1, 2, 2]).requires_grad_();
    let y = x.max_pool2d((2, 2), (2, 2), (0, 0));
    assert!(y.item().is_nan());
    // The gradient goes to the NaN that won the window.
    y.sum_all().backward();
    assert_eq!(grad_of(&x), vec![0.0, 1.0, 0.0, 0.0]);
}
