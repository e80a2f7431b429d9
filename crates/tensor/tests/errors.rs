//! Bad input: shape errors panic with a message that names the op and both shapes (the
//! crate's panic policy), and `all_finite` flags NaN and ±∞.

use gradflow_tensor::{Conv2dParams, Reduction, Tensor};

#[test]
#[should_panic(
    expected = "add: incompatible shapes [2, 3] and [4]: dimension 1 of the broadcast differs (3 vs 4) and neither is 1"
)]
fn add_names_both_shapes() {
    Tensor::zeros(&[2, 3]).add(&Tensor::zeros(&[4]));
}

#[test]
#[should_panic(expected = "add: incompatible shapes [5, 2, 3] and [4, 1]")]
fn add_reports_the_original_shapes_not_the_broadcast() {
    Tensor::zeros(&[5, 2, 3]).add(&Tensor::zeros(&[4, 1]));
}

#[test]
#[should_panic(
    expected = "matmul: incompatible shapes [2, 3] and [4, 5]: inner dimensions differ (3 vs 4)"
)]
fn matmul_inner_dimension_mismatch() {
    Tensor::zeros(&[2, 3]).matmul(&Tensor::zeros(&[4, 5]));
}

#[test]
#[should_panic(
    expected = "matmul: incompatible shapes [2, 4, 3] and [3, 3, 5]: batch dimensions do not broadcast"
)]
fn matmul_batch_dims_that_do_not_broadcast() {
    Tensor::zeros(&[2, 4, 3]).matmul(&Tensor::zeros(&[3, 3, 5]));
}

#[test]
#[should_panic(
    expected = "matmul: incompatible shapes [3] and [3, 2]: both operands need rank >= 2"
)]
fn matmul_rejects_vectors() {
    Tensor::zeros(&[3]).matmul(&Tensor::zeros(&[3, 2]));
}

#[test]
#[should_panic(
    expected = "conv2d: incompatible shapes [1, 3, 5, 5] and [4, 2, 3, 3]: input has 3 channels but the weight expects 2 × 1 groups"
)]
fn conv2d_channel_mismatch() {
    Tensor::zeros(&[1, 3, 5, 5]).conv2d(
        &Tensor::zeros(&[4, 2, 3, 3]),
        None,
        Conv2dParams::default(),
    );
}

#[test]
#[should_panic(
    expected = "conv2d: incompatible shapes [1, 1, 2, 2] and [1, 1, 3, 3]: kernel larger than the padded input"
)]
fn conv2d_kernel_too_large() {
    Tensor::zeros(&[1, 1, 2, 2]).conv2d(
        &Tensor::zeros(&[1, 1, 3, 3]),
        None,
        Conv2dParams::default(),
    );
}

#[test]
#[should_panic(
    expected = "conv2d: incompatible shapes [3] and [4]: bias must have one value per output channel"
)]
fn conv2d_bias_mismatch() {
    let bias = Tensor::zeros(&[3]);
    Tensor::zeros(&[1, 2, 5, 5]).conv2d(
        &Tensor::zeros(&[4, 2, 3, 3]),
        Some(&bias),
        Conv2dParams::default(),
    );
}

#[test]
#[should_panic(expected = "reshape: incompatible shapes [2, 3] and [4]: element counts differ")]
fn reshape_element_count_mismatch() {
    Tensor::zeros(&[2, 3]).reshape(&[4]);
}

#[test]
#[should_panic(
    expected = "concat: incompatible shapes [2, 3] and [3, 2]: shapes must match except in dim 1"
)]
fn concat_shape_mismatch() {
    Tensor::concat(&[&Tensor::zeros(&[2, 3]), &Tensor::zeros(&[3, 2])], 1);
}

#[test]
#[should_panic(
    expected = "cross_entropy: incompatible shapes [2, 3] and [3]: logits must be [N, C] with one target per row"
)]
fn cross_entropy_target_count_mismatch() {
    Tensor::zeros(&[2, 3]).cross_entropy(&[0, 1, 2], Reduction::Mean, 0.0);
}

#[test]
#[should_panic(expected = "cross_entropy: target class 3 out of range for 3 classes")]
fn cross_entropy_class_out_of_range() {
    Tensor::zeros(&[2, 3]).cross_entropy(&[0, 3], Reduction::Mean, 0.0);
}

#[test]
#[should_panic(
    expected = "narrow: incompatible shapes [4, 5] and [1, 3, 3]: range [start, start+len) leaves the dimension"
)]
fn narrow_out_of_range() {
    Tensor::zeros(&[4, 5]).narrow(1, 3, 3);
}

#[test]
#[should_panic(expected = "index_select: index 3 out of range for dim 0 of shape [3, 2]")]
fn index_select_out_of_range() {
    Tensor::zeros(&[3, 2]).index_select(0, &[0, 3]);
}

#[test]
#[should_panic(expected = "index_select: dimension 2 out of range for shape [3, 2]")]
fn index_select_bad_dim() {
    Tensor::zeros(&[3, 2]).index_select(2, &[0]);
}

#[test]
#[should_panic(expected = "mse_loss: incompatible shapes [2, 3] and [3, 2]")]
fn mse_loss_shape_mismatch() {
    Tensor::zeros(&[2, 3]).mse_loss(&Tensor::zeros(&[3, 2]), Reduction::Mean);
}

#[test]
#[should_panic(
    expected = "backward: incompatible shapes [2] and [3]: the seed gradient must have the output's shape"
)]
fn backward_with_wrong_seed_shape() {
    let x = Tensor::ones(&[2]).requires_grad_();
    x.mul_scalar(2.0).backward_with(&Tensor::ones(&[3]));
}

#[test]
fn all_finite_detects_nan_and_infinities() {
    assert!(Tensor::from_vec(vec![0.0, -1.0, f32::MAX, f32::MIN_POSITIVE], &[4]).all_finite());
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let t = Tensor::from_vec(vec![1.0, bad, 2.0], &[3]);
        assert!(!t.all_finite(), "{bad} not detected");
        // On a strided view too: the bad value sits in the selected column.
        let m = Tensor::from_vec(vec![1.0, 2.0, bad, 4.0], &[2, 2]).t();
        assert!(
            !m.narrow(0, 0, 1).all_finite(),
            "{bad} not detected in a view"
        );
        assert!(
            m.narrow(0, 1, 1).all_finite(),
            "{bad} outside the view was counted"
        );
    }
    // Overflow produces inf, which the check must see.
    assert!(!Tensor::full(&[2], 100.0).exp().all_finite());
    assert!(!Tensor::from_vec(vec![-1.0], &[1]).ln().all_finite());
}

#[test]
#[should_panic(
    expected = "conv2d: incompatible shapes [1, 2, 3, 3] and [2, 2, 3, 3]: kernel larger than the padded input (or a zero kernel size, stride or dilation)"
)]
fn conv2d_rejects_dilation_zero() {
    // Dilation 0 would stack all taps on one pixel; PyTorch rejects it too.
    Tensor::zeros(&[1, 2, 3, 3]).conv2d(
        &Tensor::zeros(&[2, 2, 3, 3]),
        None,
        Conv2dParams::new(1, 0, 0),
    );
}

#[test]
#[should_panic(expected = "conv2d: incompatible shapes [1, 2, 3, 3] and [2, 2, 0, 3]")]
fn conv2d_rejects_an_empty_kernel() {
    Tensor::zeros(&[1, 2, 3, 3]).conv2d(
        &Tensor::zeros(&[2, 2, 0, 3]),
        None,
        Conv2dParams::default(),
    );
}

#[test]
#[should_panic(
    expected = "conv2d: incompatible shapes [1, 2, 3, 3] and [2, 2, 1, 1]: kernel larger than the padded input (or a zero kernel size, stride or dilation)"
)]
fn conv2d_rejects_stride_zero() {
    Tensor::zeros(&[1, 2, 3, 3]).conv2d(
        &Tensor::zeros(&[2, 2, 1, 1]),
        None,
        Conv2dParams::new(0, 0, 1),
    );
}

#[test]
#[should_panic(expected = "max_pool2d: incompatible shapes [1, 1, 3, 3] and [0, 2]")]
fn max_pool_rejects_an_empty_kernel() {
    Tensor::zeros(&[1, 1, 3, 3]).max_pool2d((0, 2), (1, 1), (0, 0));
}

#[test]
#[should_panic(
    expected = "avg_pool2d: incompatible shapes [1, 1, 2, 2] and [3, 3]: kernel larger than the padded input"
)]
fn avg_pool_kernel_too_large() {
    Tensor::zeros(&[1, 1, 2, 2]).avg_pool2d((3, 3), (1, 1), (0, 0));
}

#[test]
#[should_panic(
    expected = "linear: incompatible shapes [2, 3] and [4, 5]: input must be [..., in] and weight [out, in]"
)]
fn linear_feature_mismatch() {
    Tensor::zeros(&[2, 3]).linear(&Tensor::zeros(&[4, 5]), None);
}
