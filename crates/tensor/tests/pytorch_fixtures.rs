//! Forward values and gradients of conv2d, pooling and the losses against PyTorch.
//!
//! Provenance: `tests/fixtures/*.safetensors` are copies of `/work/shared/fixtures`, made by
//! `make_fixtures.py --variant public --seed 1234` with torch 2.15.0 on CPU (one thread).
//! Each case computes `y = op(x, …)` and the gradients of `(y * gy).sum()` (for losses, of
//! the loss itself), e.g. for conv:
//!
//! ```python
//! y = F.conv2d(x, w, b, stride, padding, dilation, groups); (y * gy).sum().backward()
//! ```
//!
//! The hyperparameters come from each file's `config` metadata. Tolerances follow the fixture
//! README: rtol 1e-4 / atol 1e-4 for conv (sums of up to 147 products), rtol 1e-5 / atol 1e-6
//! for elementwise work (pools, losses).

use gradflow_tensor::{Conv2dParams, CrossEntropy, Reduction};
use gradflow_test_support::{Fixture, assert_close, fixture};
use serde_json::Value;

/// The I64 tensor `key` as class indices.
fn classes(f: &Fixture, key: &str) -> Vec<usize> {
    f.ints(key)
        .iter()
        .map(|&v| usize::try_from(v).expect("class index >= 0"))
        .collect()
}

fn check_conv(name: &str) {
    let f = fixture!(name);
    let params = Conv2dParams::new(
        f.cfg_usize("stride"),
        f.cfg_usize("padding"),
        f.cfg_usize("dilation"),
    )
    .with_groups(f.cfg_usize("groups"));
    let has_bias = f.cfg_bool("bias");
    assert_eq!(has_bias, f.contains("b"), "{name}: bias flag vs tensors");
    let x = f.tensor("x").requires_grad_();
    let w = f.tensor("w").requires_grad_();
    let b = has_bias.then(|| f.tensor("b").requires_grad_());
    let y = x.conv2d(&w, b.as_ref(), params);
    let (rtol, atol) = (1e-4, 1e-4);
    assert_close(&format!("{name}.y"), &y, &f.tensor("y"), rtol, atol);
    y.backward_with(&f.tensor("gy"));
    assert_close(
        &format!("{name}.dx"),
        &x.grad().expect("dx"),
        &f.tensor("dx"),
        rtol,
        atol,
    );
    assert_close(
        &format!("{name}.dw"),
        &w.grad().expect("dw"),
        &f.tensor("dw"),
        rtol,
        atol,
    );
    if let Some(b) = b {
        assert_close(
            &format!("{name}.db"),
            &b.grad().expect("db"),
            &f.tensor("db"),
            rtol,
            atol,
        );
    }
}

#[test]
fn conv2d_3x3_padding_1_matches_pytorch() {
    check_conv("conv2d_3x3_p1");
}

#[test]
fn conv2d_7x7_stride_2_padding_3_matches_pytorch() {
    check_conv("conv2d_7x7_s2_p3");
}

#[test]
fn conv2d_1x1_stride_2_without_bias_matches_pytorch() {
    check_conv("conv2d_1x1_s2_nobias");
}

#[test]
fn max_pool_3x3_stride_2_padding_1_matches_pytorch() {
    let f = fixture!("pool_max_k3s2p1");
    let (k, s, p) = (
        f.cfg_usize("kernel_size"),
        f.cfg_usize("stride"),
        f.cfg_usize("padding"),
    );
    assert_eq!(f.cfg_usize("dilation"), 1);
    assert_eq!(f.config["ceil_mode"], Value::Bool(false));
    let x = f.tensor("x").requires_grad_();
    let y = x.max_pool2d((k, k), (s, s), (p, p));
    assert_close("max_pool.y", &y, &f.tensor("y"), 1e-5, 1e-6);
    y.backward_with(&f.tensor("gy"));
    let dx = x.grad().expect("dx");
    assert_close("max_pool.dx", &dx, &f.tensor("dx"), 1e-5, 1e-6);

    // Argmax routing: PyTorch's idx (flat h·W + w within each plane) picks the value of y,
    // and scattering gy to idx rebuilds our dx exactly (same additions, same order).
    let (idx, idx_shape) = (f.ints("idx"), f.shape("idx"));
    assert_eq!(idx_shape, y.shape());
    let (xs, ys) = (x.shape().to_vec(), y.shape().to_vec());
    let (in_plane, out_plane) = (xs[2] * xs[3], ys[2] * ys[3]);
    let (xv, yv, gy) = (x.to_vec(), y.to_vec(), f.tensor("gy").to_vec());
    let mut routed = vec![0.0f32; xv.len()];
    for (o, &i) in idx.iter().enumerate() {
        let plane = o / out_plane;
        let at = plane * in_plane + usize::try_from(i).expect("idx >= 0");
        assert_eq!(
            xv[at], yv[o],
            "max_pool: y[{o}] is not x at PyTorch's argmax"
        );
        routed[at] += gy[o];
    }
    assert_eq!(
        dx.to_vec(),
        routed,
        "max_pool: gradient not routed to PyTorch's argmax"
    );
}

#[test]
fn avg_pool_2x2_stride_2_matches_pytorch() {
    let f = fixture!("pool_avg_k2s2");
    let (k, s, p) = (
        f.cfg_usize("kernel_size"),
        f.cfg_usize("stride"),
        f.cfg_usize("padding"),
    );
    assert_eq!(f.config["count_include_pad"], Value::Bool(true));
    let x = f.tensor("x").requires_grad_();
    let y = x.avg_pool2d((k, k), (s, s), (p, p));
    assert_close("avg_pool.y", &y, &f.tensor("y"), 1e-5, 1e-6);
    y.backward_with(&f.tensor("gy"));
    assert_close(
        "avg_pool.dx",
        &x.grad().expect("dx"),
        &f.tensor("dx"),
        1e-5,
        1e-6,
    );
}

#[test]
fn adaptive_avg_pool_to_1x1_matches_pytorch() {
    let f = fixture!("pool_adaptive_avg_1x1");
    let out = f.config["output_size"].as_array().expect("output_size");
    let size = (
        out[0].as_u64().expect("int") as usize,
        out[1].as_u64().expect("int") as usize,
    );
    let x = f.tensor("x").requires_grad_();
    let y = x.adaptive_avg_pool2d(size);
    assert_close("adaptive_avg_pool.y", &y, &f.tensor("y"), 1e-5, 1e-6);
    y.backward_with(&f.tensor("gy"));
    assert_close(
        "adaptive_avg_pool.dx",
        &x.grad().expect("dx"),
        &f.tensor("dx"),
        1e-5,
        1e-6,
    );
}

fn reduction(f: &Fixture) -> Reduction {
    match f.config["reduction"].as_str().expect("config.reduction") {
        "mean" => Reduction::Mean,
        "sum" => Reduction::Sum,
        "none" => Reduction::None,
        other => panic!("{}: unknown reduction {other}", f.path().display()),
    }
}

fn check_cross_entropy(name: &str) {
    let f = fixture!(name);
    let ignore = f.config["ignore_index"]
        .as_i64()
        .expect("config.ignore_index");
    let opts = CrossEntropy {
        weight: (!f.config["weight"].is_null()).then(|| f.values("weight").to_vec()),
        // PyTorch's default -100 ignores nothing: class indices are never negative.
        ignore_index: usize::try_from(ignore).ok(),
        reduction: reduction(&f),
        label_smoothing: f.cfg_f64("label_smoothing"),
    };
    let targets = classes(&f, "target");
    let logits = f.tensor("logits").requires_grad_();
    let loss = logits.cross_entropy_with(&targets, &opts);
    // 1e-5 relative: log-softmax and the sums over ≤ 10 classes in f32 round differently in
    // the last bits than ATen's kernels.
    assert_close(
        &format!("{name}.loss"),
        &loss.reshape(&[loss.numel()]),
        &f.tensor("loss"),
        1e-5,
        1e-6,
    );
    loss.sum_all().backward();
    assert_close(
        &format!("{name}.dlogits"),
        &logits.grad().expect("dlogits"),
        &f.tensor("dlogits"),
        1e-5,
        1e-6,
    );
}

#[test]
fn cross_entropy_matches_pytorch() {
    check_cross_entropy("loss_ce_plain");
}

#[test]
fn cross_entropy_with_label_smoothing_matches_pytorch() {
    check_cross_entropy("loss_ce_smooth");
}

#[test]
fn cross_entropy_with_class_weights_matches_pytorch() {
    check_cross_entropy("loss_ce_weighted");
    check_cross_entropy("loss_ce_weighted_none");
}

#[test]
fn cross_entropy_with_ignore_index_matches_pytorch() {
    check_cross_entropy("loss_ce_ignore_mean");
    check_cross_entropy("loss_ce_ignore_sum");
    check_cross_entropy("loss_ce_weighted_smooth_ignore");
}

#[test]
fn mse_loss_matches_pytorch() {
    let f = fixture!("loss_mse");
    let x = f.tensor("x").requires_grad_();
    let target = f.tensor("target").requires_grad_();
    let loss = x.mse_loss(&target, reduction(&f));
    assert_close(
        "mse.loss",
        &loss.reshape(&[1]),
        &f.tensor("loss"),
        1e-5,
        1e-6,
    );
    loss.backward();
    assert_close(
        "mse.dx",
        &x.grad().expect("dx"),
        &f.tensor("dx"),
        1e-5,
        1e-6,
    );
    assert_close(
        "mse.dtarget",
        &target.grad().expect("dtarget"),
        &f.tensor("dtarget"),
        1e-5,
        1e-6,
    );
}
