//! Shared test helpers: the PyTorch fixture reader, tolerant comparison, and composed
//! reference implementations built only from tensor ops (mean, var, sub, div, sqrt), used to
//! cross-check the fused kernels.
#![allow(dead_code)]

use std::collections::HashMap;

use gradflow_tensor::Tensor;
use safetensors::SafeTensors;

/// One `tests/fixtures/NAME.safetensors` file: its f32 tensors and its `config` metadata.
pub struct Fixture {
    pub name: String,
    tensors: HashMap<String, Tensor>,
    pub config: serde_json::Value,
}

impl Fixture {
    pub fn load(name: &str) -> Fixture {
        let path = format!(
            "{}/tests/fixtures/{name}.safetensors",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        let (_, meta) = SafeTensors::read_metadata(&bytes).expect("safetensors header");
        let config = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("config"))
            .map(|c| serde_json::from_str(c).expect("config is JSON"))
            .unwrap_or(serde_json::Value::Null);
        let st = SafeTensors::deserialize(&bytes).expect("safetensors body");
        let mut tensors = HashMap::new();
        for (k, v) in st.tensors() {
            assert_eq!(v.dtype(), safetensors::Dtype::F32, "{name}: {k} is not F32");
            let data: Vec<f32> = v
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            tensors.insert(k.to_string(), Tensor::from_vec(data, v.shape()));
        }
        Fixture {
            name: name.to_string(),
            tensors,
            config,
        }
    }

    pub fn get(&self, key: &str) -> Tensor {
        self.tensors
            .get(key)
            .unwrap_or_else(|| panic!("{}: no tensor {key}", self.name))
            .clone()
    }

    pub fn f32(&self, key: &str) -> f32 {
        self.config[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{}: config.{key}", self.name)) as f32
    }
}

/// Assert |a − e| ≤ atol + rtol·|e| elementwise; returns the largest |a − e|.
#[track_caller]
pub fn assert_close(what: &str, actual: &Tensor, expected: &Tensor, atol: f32, rtol: f32) -> f32 {
    assert_eq!(actual.shape(), expected.shape(), "{what}: shapes differ");
    let (a, e) = (actual.to_vec(), expected.to_vec());
    let mut worst = 0.0f32;
    for (i, (x, y)) in a.iter().zip(&e).enumerate() {
        let d = (x - y).abs();
        assert!(
            d <= atol + rtol * y.abs(),
            "{what}: element {i}: got {x}, expected {y} (|diff| {d:e})"
        );
        worst = worst.max(d);
    }
    worst
}

fn affine_shape(rank: usize, c: usize) -> Vec<usize> {
    let mut s = vec![1; rank];
    s[1] = c;
    s
}

/// x̂ = (x − mean)/√(var + ε) over `dims`, composed from tensor ops (differentiable through
/// the generic autograd, no fused kernel).
pub fn standardize_ref(x: &Tensor, dims: &[usize], eps: f32) -> Tensor {
    let mean = x.mean(dims, true);
    let var = x.var(dims, 0, true);
    x.sub(&mean).div(&var.add_scalar(eps).sqrt())
}

/// Composed BatchNorm in training mode (batch statistics), per-channel γ, β.
pub fn batch_norm_ref(x: &Tensor, w: &Tensor, b: &Tensor, eps: f32) -> Tensor {
    let dims: Vec<usize> = (0..x.rank()).filter(|&d| d != 1).collect();
    let s = affine_shape(x.rank(), x.dim(1));
    standardize_ref(x, &dims, eps)
        .mul(&w.reshape(&s))
        .add(&b.reshape(&s))
}

/// Composed LayerNorm over the last `k` dims, γ, β of shape `x.shape()[rank-k..]`.
pub fn layer_norm_ref(x: &Tensor, k: usize, w: &Tensor, b: &Tensor, eps: f32) -> Tensor {
    let dims: Vec<usize> = (x.rank() - k..x.rank()).collect();
    standardize_ref(x, &dims, eps).mul(w).add(b)
}

/// Composed GroupNorm: reshape to [N, G, rest], standardize over the last axis, reshape back.
pub fn group_norm_ref(x: &Tensor, groups: usize, w: &Tensor, b: &Tensor, eps: f32) -> Tensor {
    let n = x.dim(0);
    let grouped = x.reshape(&[n, groups, x.numel() / (n * groups).max(1)]);
    let s = affine_shape(x.rank(), x.dim(1));
    standardize_ref(&grouped, &[2], eps)
        .reshape(x.shape())
        .mul(&w.reshape(&s))
        .add(&b.reshape(&s))
}
