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

use gradflow_activations::{
    GeluApprox, elu, gelu, leaky_relu, mish, prelu, relu, selu, sigmoid, silu, softplus, tanh,
};
use gradflow_tensor::Tensor;
use gradflow_test_support::{Fixture, assert_close, fixture};

const RTOL: f64 = 1e-5;
const ATOL: f64 = 1e-6;

/// Compare elementwise within the tolerance above (panics naming the element on failure) and
/// print the worst error, so that a run shows how much of the tolerance each op uses.
fn check_close(what: &str, got: &Tensor, want: &Tensor) {
    let worst = assert_close(what, got, want, RTOL, ATOL);
    println!(
        "{what}: worst |diff|/tolerance {:.3}, max |diff| {:.2e}",
        worst.of_tolerance, worst.abs
    );
}

/// Run `f` on the fixture's x, backpropagate gy, and compare y and dx.
fn check(name: &str, f: impl Fn(&Fixture, &Tensor) -> Tensor) {
    let fx = fixture!(name);
    let x = fx.tensor("x").requires_grad_();
    let y = f(&fx, &x);
    y.backward_with(&fx.tensor("gy"));
    check_close(&format!("{name}.y"), &y, &fx.tensor("y"));
    let dx = x.grad().expect("dx");
    check_close(&format!("{name}.dx"), &dx, &fx.tensor("dx"));
}

#[test]
fn extreme_points_are_present() {
    // The README promises these after the grid; the stability claims rely on them.
    let fx = fixture!("act_sigmoid");
    let x = fx.values("x");
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
        leaky_relu(x, fx.cfg_f64("negative_slope"))
    });
}

#[test]
fn elu_matches_torch() {
    check("act_elu", |fx, x| elu(x, fx.cfg_f64("alpha")));
}

#[test]
fn selu_matches_torch() {
    check("act_selu", |fx, x| {
        // The file records the constants it used; ours must be the same ones.
        assert_eq!(fx.cfg_f32("alpha"), gradflow_activations::SELU_ALPHA as f32);
        assert_eq!(fx.cfg_f32("scale"), gradflow_activations::SELU_SCALE as f32);
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
        softplus(x, fx.cfg_f64("beta"), fx.cfg_f64("threshold"))
    });
}

#[test]
fn mish_matches_torch() {
    check("act_mish", |_, x| mish(x));
}

#[test]
fn prelu_matches_torch() {
    let fx = fixture!("act_prelu");
    let x = fx.tensor("x").requires_grad_();
    let slope = fx.tensor("slope").requires_grad_();
    assert_eq!(slope.numel() as f64, fx.cfg_f64("num_parameters"));
    let y = prelu(&x, &slope);
    y.backward_with(&fx.tensor("gy"));
    check_close("act_prelu.y", &y, &fx.tensor("y"));
    check_close("act_prelu.dx", &x.grad().expect("dx"), &fx.tensor("dx"));
    let ds = slope.grad().expect("dslope");
    check_close("act_prelu.dslope", &ds, &fx.tensor("dslope"));
}
