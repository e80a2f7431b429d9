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

use std::collections::HashMap;
use std::path::PathBuf;

use gradflow_tensor::{Conv2dParams, Reduction, Tensor};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

/// One fixture file: its f32 tensors, its i64 tensors and its `config` JSON.
struct Fixture {
    name: String,
    f32s: HashMap<String, Tensor>,
    i64s: HashMap<String, (Vec<i64>, Vec<usize>)>,
    config: Value,
}

impl Fixture {
    fn load(name: &str) -> Fixture {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(format!("{name}.safetensors"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (_, meta) = SafeTensors::read_metadata(&bytes).expect("safetensors header");
        let config: Value = serde_json::from_str(
            meta.metadata()
                .as_ref()
                .and_then(|m| m.get("config"))
                .expect("config metadata"),
        )
        .expect("config is JSON");
        let st = SafeTensors::deserialize(&bytes).expect("safetensors body");
        let (mut f32s, mut i64s) = (HashMap::new(), HashMap::new());
        for (k, view) in st.tensors() {
            let shape = view.shape().to_vec();
            match view.dtype() {
                Dtype::F32 => {
                    let v: Vec<f32> = view
                        .data()
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect();
                    f32s.insert(k, Tensor::from_vec(v, &shape));
                }
                Dtype::I64 => {
                    let v: Vec<i64> = view
                        .data()
                        .chunks_exact(8)
                        .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                        .collect();
                    i64s.insert(k, (v, shape));
                }
                other => panic!("{name}: unexpected dtype {other:?} for {k}"),
            }
        }
        Fixture {
            name: name.to_string(),
            f32s,
            i64s,
            config,
        }
    }

    fn t(&self, key: &str) -> Tensor {
        self.f32s
            .get(key)
            .unwrap_or_else(|| panic!("{}: no tensor {key}", self.name))
            .clone()
    }

    fn usize_cfg(&self, key: &str) -> usize {
        self.config[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{}: config.{key} is not an integer", self.name))
            as usize
    }

    fn classes(&self, key: &str) -> Vec<usize> {
        self.i64s[key]
            .0
            .iter()
            .map(|&v| usize::try_from(v).expect("class index"))
            .collect()
    }
}

/// Assert |got − want| ≤ atol + rtol·|want| everywhere; report the worst element and the
/// largest absolute error.
#[track_caller]
fn assert_close(what: &str, got: &Tensor, want: &Tensor, rtol: f32, atol: f32) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let (g, w) = (got.to_vec(), want.to_vec());
    let mut worst = (0usize, 0.0f32);
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        let ratio = (a - b).abs() / (atol + rtol * b.abs());
        assert!(
            ratio.is_finite() || a == b,
            "{what}[{i}]: got {a}, want {b}"
        );
        if ratio > worst.1 {
            worst = (i, ratio);
        }
    }
    let i = worst.0;
    let max_abs = g
        .iter()
        .zip(&w)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    eprintln!(
        "{what}: max |diff| {max_abs:.2e}, worst diff/tolerance {:.3}",
        worst.1
    );
    assert!(
        worst.1 <= 1.0,
        "{what}[{i}]: got {}, want {} (|diff| {:.3e} > atol {atol:e} + rtol {rtol:e}·|want|)",
        g[i],
        w[i],
        (g[i] - w[i]).abs()
    );
}

fn check_conv(name: &str) {
    let f = Fixture::load(name);
    let params = Conv2dParams::new(
        f.usize_cfg("stride"),
        f.usize_cfg("padding"),
        f.usize_cfg("dilation"),
    )
    .with_groups(f.usize_cfg("groups"));
    let has_bias = f.config["bias"].as_bool().expect("config.bias");
    assert_eq!(
        has_bias,
        f.f32s.contains_key("b"),
        "{name}: bias flag vs tensors"
    );
    let x = f.t("x").requires_grad_();
    let w = f.t("w").requires_grad_();
    let b = has_bias.then(|| f.t("b").requires_grad_());
    let y = x.conv2d(&w, b.as_ref(), params);
    let (rtol, atol) = (1e-4, 1e-4);
    assert_close(&format!("{name}.y"), &y, &f.t("y"), rtol, atol);
    y.backward_with(&f.t("gy"));
    assert_close(
        &format!("{name}.dx"),
        &x.grad().expect("dx"),
        &f.t("dx"),
        rtol,
        atol,
    );
    assert_close(
        &format!("{name}.dw"),
        &w.grad().expect("dw"),
        &f.t("dw"),
        rtol,
        atol,
    );
    if let Some(b) = b {
        assert_close(
            &format!("{name}.db"),
            &b.grad().expect("db"),
            &f.t("db"),
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
    let f = Fixture::load("pool_max_k3s2p1");
    let (k, s, p) = (
        f.usize_cfg("kernel_size"),
        f.usize_cfg("stride"),
        f.usize_cfg("padding"),
    );
    assert_eq!(f.usize_cfg("dilation"), 1);
    assert_eq!(f.config["ceil_mode"], Value::Bool(false));
    let x = f.t("x").requires_grad_();
    let y = x.max_pool2d((k, k), (s, s), (p, p));
    assert_close("max_pool.y", &y, &f.t("y"), 1e-5, 1e-6);
    y.backward_with(&f.t("gy"));
    let dx = x.grad().expect("dx");
    assert_close("max_pool.dx", &dx, &f.t("dx"), 1e-5, 1e-6);

    // Argmax routing: PyTorch's idx (flat h·W + w within each plane) picks the value of y,
    // and scattering gy to idx rebuilds our dx exactly (same additions, same order).
    let (idx, idx_shape) = &f.i64s["idx"];
    assert_eq!(idx_shape.as_slice(), y.shape());
    let (xs, ys) = (x.shape().to_vec(), y.shape().to_vec());
    let (in_plane, out_plane) = (xs[2] * xs[3], ys[2] * ys[3]);
    let (xv, yv, gy) = (x.to_vec(), y.to_vec(), f.t("gy").to_vec());
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
    let f = Fixture::load("pool_avg_k2s2");
    let (k, s, p) = (
        f.usize_cfg("kernel_size"),
        f.usize_cfg("stride"),
        f.usize_cfg("padding"),
    );
    assert_eq!(f.config["count_include_pad"], Value::Bool(true));
    let x = f.t("x").requires_grad_();
    let y = x.avg_pool2d((k, k), (s, s), (p, p));
    assert_close("avg_pool.y", &y, &f.t("y"), 1e-5, 1e-6);
    y.backward_with(&f.t("gy"));
    assert_close(
        "avg_pool.dx",
        &x.grad().expect("dx"),
        &f.t("dx"),
        1e-5,
        1e-6,
    );
}

#[test]
fn adaptive_avg_pool_to_1x1_matches_pytorch() {
    let f = Fixture::load("pool_adaptive_avg_1x1");
    let out = f.config["output_size"].as_array().expect("output_size");
    let size = (
        out[0].as_u64().expect("int") as usize,
        out[1].as_u64().expect("int") as usize,
    );
    let x = f.t("x").requires_grad_();
    let y = x.adaptive_avg_pool2d(size);
    assert_close("adaptive_avg_pool.y", &y, &f.t("y"), 1e-5, 1e-6);
    y.backward_with(&f.t("gy"));
    assert_close(
        "adaptive_avg_pool.dx",
        &x.grad().expect("dx"),
        &f.t("dx"),
        1e-5,
        1e-6,
    );
}

fn reduction(f: &Fixture) -> Reduction {
    match f.config["reduction"].as_str().expect("config.reduction") {
        "mean" => Reduction::Mean,
        "sum" => Reduction::Sum,
        "none" => Reduction::None,
        other => panic!("{}: unknown reduction {other}", f.name),
    }
}

fn check_cross_entropy(name: &str) {
    let f = Fixture::load(name);
    assert!(
        f.config["weight"].is_null(),
        "{name}: class weights are not supported"
    );
    let ls = f.config["label_smoothing"]
        .as_f64()
        .expect("label_smoothing") as f32;
    let targets = f.classes("target");
    let logits = f.t("logits").requires_grad_();
    let loss = logits.cross_entropy(&targets, reduction(&f), ls);
    assert_close(
        &format!("{name}.loss"),
        &loss.reshape(&[1]),
        &f.t("loss"),
        1e-5,
        1e-6,
    );
    loss.backward();
    assert_close(
        &format!("{name}.dlogits"),
        &logits.grad().expect("dlogits"),
        &f.t("dlogits"),
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
fn mse_loss_matches_pytorch() {
    let f = Fixture::load("loss_mse");
    let x = f.t("x").requires_grad_();
    let target = f.t("target").requires_grad_();
    let loss = x.mse_loss(&target, reduction(&f));
    assert_close("mse.loss", &loss.reshape(&[1]), &f.t("loss"), 1e-5, 1e-6);
    loss.backward();
    assert_close("mse.dx", &x.grad().expect("dx"), &f.t("dx"), 1e-5, 1e-6);
    assert_close(
        "mse.dtarget",
        &target.grad().expect("dtarget"),
        &f.t("dtarget"),
        1e-5,
        1e-6,
    );
}
