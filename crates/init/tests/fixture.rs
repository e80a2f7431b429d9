//! `calculate_gain` and `fan_in_and_fan_out` against PyTorch.
//!
//! Fixture: tests/fixtures/init_gains.safetensors, copied from /work/shared/fixtures, made by
//! `make_fixtures.py` (torch 2.15.0) as
//! `gain_<nl> = torch.nn.init.calculate_gain(nl, param)` and
//! `fan_in_i, fan_out_i = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape_i))`,
//! with `param` and `shape_i` in the `config` metadata (`config.gains`, `config.fans`).

use std::collections::BTreeSet;

use gradflow_init::{Nonlinearity, calculate_gain, fan_in_and_fan_out};
use gradflow_test_support::{Fixture, fixture};
use serde_json::Value;

fn load() -> Fixture {
    fixture!("init_gains")
}

/// The single value of a `[1]` tensor.
fn scalar(fx: &Fixture, name: &str) -> f32 {
    assert_eq!(fx.shape(name), &[1], "{name}");
    fx.values(name)[0]
}

/// PyTorch's nonlinearity string (and parameter) as our enum.
fn nonlinearity(name: &str, param: &Value) -> Nonlinearity {
    match name {
        "linear" => Nonlinearity::Linear,
        "conv1d" | "conv2d" | "conv3d" | "conv_transpose1d" | "conv_transpose2d"
        | "conv_transpose3d" => Nonlinearity::Conv,
        "sigmoid" => Nonlinearity::Sigmoid,
        "tanh" => Nonlinearity::Tanh,
        "relu" => Nonlinearity::Relu,
        "leaky_relu" => Nonlinearity::LeakyRelu(param.as_f64()),
        "selu" => Nonlinearity::Selu,
        other => panic!("fixture names an unknown nonlinearity {other:?}"),
    }
}

#[test]
fn every_gain_matches_pytorch() {
    let fx = load();
    let config = &fx.config;
    let gains = config["gains"].as_object().expect("config.gains");
    assert_eq!(gains.len(), 8, "the fixture has 8 gains");
    for (key, case) in gains {
        let nl = nonlinearity(case["nonlinearity"].as_str().expect("name"), &case["param"]);
        let got = calculate_gain(nl);
        let want_f32 = scalar(&fx, key);
        let want_f64 = case["value_f64"].as_f64().expect("value_f64");
        // The gain is an f64 hyperparameter, as PyTorch's Python float: the same formula in
        // f64 (a few operations, so a few ulps at most), and PyTorch's f32 rounding of it
        // within one f32 ulp.
        assert!(
            ((got as f32) - want_f32).abs() <= f32::EPSILON * want_f32,
            "{key} ({nl:?}): got {got}, PyTorch {want_f32}"
        );
        assert!(
            (got - want_f64).abs() <= 4.0 * f64::EPSILON * want_f64,
            "{key} ({nl:?}): got {got}, PyTorch f64 {want_f64}"
        );
    }
}

#[test]
fn every_fan_pair_matches_pytorch() {
    let fx = load();
    let config = &fx.config;
    let fans = config["fans"].as_object().expect("config.fans");
    assert_eq!(fans.len(), 4, "the fixture has 4 fan pairs");
    for (i, case) in fans {
        let shape: Vec<usize> = case["shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(|d| d.as_u64().expect("dim") as usize)
            .collect();
        let (fan_in, fan_out) = fan_in_and_fan_out(&shape);
        // Fans are small integers, exact in f32.
        assert_eq!(
            fan_in as f32,
            scalar(&fx, &format!("fan_in_{i}")),
            "fan_in of {shape:?}"
        );
        assert_eq!(
            fan_out as f32,
            scalar(&fx, &format!("fan_out_{i}")),
            "fan_out of {shape:?}"
        );
        assert_eq!(Some(fan_in as u64), case["fan_in"].as_u64(), "{shape:?}");
        assert_eq!(Some(fan_out as u64), case["fan_out"].as_u64(), "{shape:?}");
    }
}

/// Every tensor in the file is covered by one of the two tests above.
#[test]
fn every_tensor_is_checked() {
    let fx = load();
    let config = &fx.config;
    let mut expected: BTreeSet<String> = config["gains"]
        .as_object()
        .expect("gains")
        .keys()
        .cloned()
        .collect();
    for i in config["fans"].as_object().expect("fans").keys() {
        expected.insert(format!("fan_in_{i}"));
        expected.insert(format!("fan_out_{i}"));
    }
    let names: BTreeSet<String> = fx.keys_with_prefix("").into_iter().collect();
    assert_eq!(names, expected);
}
