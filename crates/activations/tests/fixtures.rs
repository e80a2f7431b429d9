//! Every activation against PyTorch.
//!
//! The files in `tests/fixtures/` are copies of `/work/shared/fixtures/act_*.safetensors`,
//! made by `make_fixtures.py` with torch 2.15.0 on CPU:
//!
//! ```python
//! x = torch.cat([torch.linspace(-12, 12, 301),
//!                torch.tensor([-1000., -90., -20., -1e-3, 0., 1e-3, 20., 90., 1000.])])
//! gy = torch.randn_like(x)
//! y = F.<activation>(x.requires_grad_(), **config)
//! dx, = torch.autograd.grad(y, x, gy)          # (prelu: dx, dslope)
//! ```
//!
//! Hyperparameters (`negative_slope`, `alpha`, `beta`, `threshold`, `approximate`, PReLU's
//! slope and shape) are read from each file's `config` metadata, so a regenerated variant
//! with other settings is checked the same way. Tolerance: the fixtures README's guidance
//! for elementwise ops, |ours − torch| ≤ 1e−6 + 1e−5·|torch|.

use std::collections::HashMap;
use std::path::PathBuf;

use gradflow_activations::{
    GeluApprox, elu, gelu, leaky_relu, mish, prelu, relu, selu, sigmoid, silu, softplus, tanh,
};
use gradflow_tensor::Tensor;
use safetensors::SafeTensors;
use serde_json::Value;

const RTOL: f64 = 1e-5;
const ATOL: f64 = 1e-6;

struct Fixture {
    tensors: HashMap<String, Tensor>,
    config: Value,
}

impl Fixture {
    fn load(name: &str) -> Fixture {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(format!("{name}.safetensors"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let st = SafeTensors::deserialize(&bytes).expect("valid safetensors");
        let mut tensors = HashMap::new();
        for (k, v) in st.tensors() {
            assert_eq!(v.dtype(), safetensors::Dtype::F32, "{name}:{k} is not F32");
            let data: Vec<f32> = v
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            tensors.insert(k, Tensor::from_vec(data, v.shape()));
        }
        let (_, meta) = SafeTensors::read_metadata(&bytes).expect("header");
        let config = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("config"))
            .map(|c| serde_json::from_str(c).expect("config is JSON"))
            .unwrap_or(Value::Null);
        Fixture { tensors, config }
    }

    fn get(&self, k: &str) -> Tensor {
        self.tensors
            .get(k)
            .unwrap_or_else(|| panic!("missing tensor {k}"))
            .clone()
    }

    fn param(&self, k: &str) -> f32 {
        self.config[k]
            .as_f64()
            .unwrap_or_else(|| panic!("config has no number {k}: {}", self.config)) as f32
    }
}

/// Compare elementwise and return the worst (|diff|, |diff|/|expected|); panics naming the
/// element on failure.
fn assert_close(what: &str, x: &Tensor, got: &Tensor, want: &Tensor) -> (f64, f64) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let (xv, g, w) = (x.to_vec(), got.to_vec(), want.to_vec());
    let (mut max_abs, mut max_rel, mut max_ratio) = (0.0f64, 0.0f64, 0.0f64);
    let mut worst = (0.0f32, 0.0f64, 0.0f64);
    for i in 0..g.len() {
        let (a, e) = (f64::from(g[i]), f64::from(w[i]));
        assert!(
            a.is_finite() || !e.is_finite(),
            "{what}[{i}] at x = {}: got {a}, torch {e}",
            xv[i]
        );
        let d = (a - e).abs();
        assert!(
            d <= ATOL + RTOL * e.abs(),
            "{what}[{i}] at x = {:e}: got {a:e}, torch {e:e}, |diff| {d:e}",
            xv[i]
        );
        max_abs = max_abs.max(d);
        max_ratio = max_ratio.max(d / (ATOL + RTOL * e.abs()));
        if e != 0.0 && d / e.abs() > max_rel {
            max_rel = d / e.abs();
            worst = (xv[i], a, e);
        }
    }
    println!(
        "{what}: worst |diff|/tolerance {max_ratio:.3}, max |diff| {max_abs:.2e}, \
         max rel {max_rel:.2e} (at x = {:e}: ours {:e}, torch {:e})",
        worst.0, worst.1, worst.2
    );
    (max_abs, max_rel)
}

/// Run `f` on the fixture's x, backpropagate gy, and compare y and dx.
fn check(name: &str, f: impl Fn(&Fixture, &Tensor) -> Tensor) {
    let fx = Fixture::load(name);
    let x = fx.get("x").requires_grad_();
    let y = f(&fx, &x);
    y.backward_with(&fx.get("gy"));
    assert_close(&format!("{name}.y"), &x, &y, &fx.get("y"));
    let dx = x.grad().expect("dx");
    assert_close(&format!("{name}.dx"), &x, &dx, &fx.get("dx"));
}

#[test]
fn extreme_points_are_present() {
    // The README promises these after the grid; the stability claims rely on them.
    let x = Fixture::load("act_sigmoid").get("x").to_vec();
    for z in [-1000.0, -90.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 90.0, 1000.0] {
        assert!(x.contains(&z), "x lacks {z}");
    }
}

#[test]
fn sigmoid_matches_torch() {
    check("act_sigmoid", |_, x| sigmoid(x));
}

#[test]
fn tanh_matches_torch() {
    check("act_tanh", |_, x| tanh(x));
}

#[test]
fn relu_matches_torch() {
    check("act_relu", |_, x| relu(x));
}

#[test]
fn leaky_relu_matches_torch() {
    check("act_leaky_relu", |fx, x| {
        leaky_relu(x, fx.param("negative_slope"))
    });
}

#[test]
fn elu_matches_torch() {
    check("act_elu", |fx, x| elu(x, fx.param("alpha")));
}

#[test]
fn selu_matches_torch() {
    check("act_selu", |fx, x| {
        // The file records the constants it used; ours must be the same ones.
        assert_eq!(fx.param("alpha"), gradflow_activations::SELU_ALPHA as f32);
        assert_eq!(fx.param("scale"), gradflow_activations::SELU_SCALE as f32);
        selu(x)
    });
}

#[test]
fn gelu_matches_torch() {
    check("act_gelu", |fx, x| {
        assert_eq!(fx.config["approximate"], "none");
        gelu(x, GeluApprox::None)
    });
}

#[test]
fn gelu_tanh_matches_torch() {
    check("act_gelu_tanh", |fx, x| {
        assert_eq!(fx.config["approximate"], "tanh");
        gelu(x, GeluApprox::Tanh)
    });
}

#[test]
fn silu_matches_torch() {
    check("act_silu", |_, x| silu(x));
}

#[test]
fn softplus_matches_torch() {
    check("act_softplus", |fx, x| {
        softplus(x, fx.param("beta"), fx.param("threshold"))
    });
}

#[test]
fn mish_matches_torch() {
    check("act_mish", |_, x| mish(x));
}

#[test]
fn prelu_matches_torch() {
    let fx = Fixture::load("act_prelu");
    let x = fx.get("x").requires_grad_();
    let slope = fx.get("slope").requires_grad_();
    assert_eq!(
        slope.numel() as f64,
        fx.config["num_parameters"]
            .as_f64()
            .expect("num_parameters")
    );
    let y = prelu(&x, &slope);
    y.backward_with(&fx.get("gy"));
    assert_close("act_prelu.y", &x, &y, &fx.get("y"));
    assert_close("act_prelu.dx", &x, &x.grad().expect("dx"), &fx.get("dx"));
    let ds = slope.grad().expect("dslope");
    assert_close("act_prelu.dslope", &slope, &ds, &fx.get("dslope"));
}
