//! The networks against PyTorch, on the fixtures of `../shared/fixtures/make_model_fixtures.py`
//! (copied to `tests/fixtures/`): torchvision's BasicBlock/Bottleneck/ResNet code at small widths,
//! under torchvision's state-dict names, PyTorch 2.15 on CPU in float32.
//!
//! - `resnet_basic`: CIFAR stem, BasicBlock × [2, 2, 2] at widths 8/16/32, projection shortcuts,
//!   10 classes, x: [4, 3, 12, 12].
//! - `resnet_bottleneck`: ImageNet stem (7×7/2 + max-pool), Bottleneck × [1, 2, 1, 1] at
//!   widths 4/8/16/32, 7 classes, x: [2, 3, 40, 40].
//! - `resnet_sgd_steps`: `resnet_basic`'s network, 4 SGD steps (lr 0.05, momentum 0.9,
//!   weight decay 5e-4) in training mode.
//!
//! The weights enter through the public checkpoint path: the fixture's state-dict entries,
//! `num_batches_tracked` still I64 as PyTorch saves it, are re-serialized as a safetensors file
//! and loaded strictly, exactly as a converted torchvision checkpoint would be.
//!
//! Tolerances. Both sides compute in f32 with different summation orders (im2col + GEMM here,
//! oneDNN there), so each dot product of length K carries a relative error of order √K·ε,
//! ε = 6e-8; the deepest chain here is 14 convolutions with K ≤ 9·32 = 288, then BatchNorm's
//! division by σ amplifies absolute errors by 1/σ. That predicts ≈ 1e-6..1e-5 on O(1)
//! logits; we assert |a − e| ≤ 1e-4 + 1e-4·|e| (the "about 1e-4") for logits, loss and
//! running statistics. Gradients of the early convolutions are sums over the whole batch of
//! products of those logits' errors and grow like the weight count they sum; they get the
//! same relative 1e-4 with an absolute floor of 1e-4 times the gradient tensor's largest
//! magnitude (gradients near zero carry cancellation error relative to that scale, not to
//! themselves). The printed worst errors are what the README records.

use std::collections::HashSet;

use gradflow_layers::LoadMode;
use gradflow_optimizers::{Optimizer, Sgd, SgdConfig};
use gradflow_resnet::{BlockKind, ResNet, ResNetConfig, Stem};
use gradflow_tensor::{Module, Reduction, Tensor};
use gradflow_test_support::{Fixture, assert_close, assert_slice_close, fixture};
use rand::SeedableRng;
use safetensors::SafeTensors;

const RTOL: f64 = 1e-4;
const ATOL: f64 = 1e-4;

/// `build_resnet(spec)`'s spec, from a fixture's `config` JSON.
struct Spec {
    block: String,
    layers: Vec<usize>,
    widths: Vec<usize>,
    num_classes: usize,
    cifar_stem: bool,
}

fn spec(v: &serde_json::Value) -> Spec {
    let list = |k: &str| -> Vec<usize> {
        v[k].as_array()
            .unwrap_or_else(|| panic!("config.{k} is not a list"))
            .iter()
            .map(|x| x.as_u64().expect("integer") as usize)
            .collect()
    };
    Spec {
        block: v["block"].as_str().expect("block").to_string(),
        layers: list("layers"),
        widths: list("widths"),
        num_classes: v["num_classes"].as_u64().expect("num_classes") as usize,
        cifar_stem: v["cifar_stem"].as_bool().expect("cifar_stem"),
    }
}

/// The fixture's architecture: the same network `build_resnet(spec)` makes in the script.
fn config_of(spec: &Spec) -> ResNetConfig {
    let block = match spec.block.as_str() {
        "basic" => BlockKind::Basic,
        "bottleneck" => BlockKind::Bottleneck,
        other => panic!("unknown block {other}"),
    };
    let stem = if spec.cifar_stem {
        Stem::Cifar
    } else {
        Stem::ImageNet
    };
    ResNetConfig::new(block, &spec.layers, &spec.widths, spec.num_classes).with_stem(stem)
}

fn fixture_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.safetensors"))
}

/// The fixture's entries that form a PyTorch state dict (names kept, dtypes kept: I64
/// counters stay I64), re-serialized as a standalone safetensors file. `select` maps a
/// fixture key to its state-dict name, or `None` to leave it out.
fn state_dict_bytes(name: &str, select: impl Fn(&str) -> Option<String>) -> Vec<u8> {
    let bytes = std::fs::read(fixture_path(name)).expect("fixture file");
    let st = SafeTensors::deserialize(&bytes).expect("fixture parses");
    let entries: Vec<(String, safetensors::tensor::TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .filter_map(|(k, v)| select(&k).map(|n| (n, v)))
        .collect();
    safetensors::serialize(entries, None).expect("serialize")
}

/// Keys of `resnet_basic`/`resnet_bottleneck` that are not part of the state dict.
fn is_state_key(k: &str) -> bool {
    !(k.starts_with("d.")
        || k.starts_with("after.")
        || ["x", "target", "logits", "loss", "x_eval", "logits_eval"].contains(&k))
}

fn build(fx: &Fixture, name: &str) -> ResNet {
    let cfg = config_of(&spec(&fx.config));
    assert_eq!(
        cfg.num_parameters(),
        fx.cfg_usize("num_parameters"),
        "{name}: parameter count"
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let net = cfg.init(&mut rng).expect("valid config");
    assert_eq!(net.num_parameters(), fx.cfg_usize("num_parameters"));
    let sd = state_dict_bytes(name, |k| is_state_key(k).then(|| k.to_string()));
    let report = net
        .load_state_dict_from_bytes(&sd, LoadMode::Strict)
        .unwrap_or_else(|e| panic!("{name}: strict load failed: {e}"));
    assert!(report.is_exact(), "{name}: {report}");
    net
}

fn targets(fx: &Fixture, key: &str) -> Vec<usize> {
    fx.ints(key).iter().map(|&t| t as usize).collect()
}

/// |a − e| ≤ ATOL·max|e| + RTOL·|e| for a gradient (see the module docs).
fn assert_grad_close(what: &str, actual: &Tensor, expected: &Tensor) -> f64 {
    let scale = expected
        .to_vec()
        .iter()
        .fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
    let w = assert_close(what, actual, expected, RTOL, ATOL * scale.max(1e-3));
    w.abs / scale.max(1e-12)
}

/// One training-mode forward/backward and one eval forward, every tensor checked.
fn check_training_step(name: &str) {
    let fx = fixture!(name);
    let mut net = build(&fx, name);
    net.train();
    let x = fx.tensor("x");
    let logits = net.forward(&x);
    let wl = assert_close(
        &format!("{name} logits"),
        &logits,
        &fx.tensor("logits"),
        RTOL,
        ATOL,
    );
    let loss = logits.cross_entropy(&targets(&fx, "target"), Reduction::Mean, 0.0);
    let wloss = assert_slice_close(
        &format!("{name} loss"),
        &[loss.item()],
        fx.values("loss"),
        RTOL,
        ATOL,
    );
    loss.backward();

    let mut seen = HashSet::new();
    let mut worst_grad = 0.0f64;
    for (pn, p) in net.named_parameters() {
        let g = p
            .grad()
            .unwrap_or_else(|| panic!("{name}: no gradient for {pn}"));
        let key = format!("d.{pn}");
        worst_grad = worst_grad.max(assert_grad_close(
            &format!("{name} {key}"),
            &g,
            &fx.tensor(&key),
        ));
        seen.insert(key);
    }
    // Every parameter PyTorch differentiated is one of ours.
    assert_eq!(
        seen,
        fx.keys_with_prefix("d.")
            .into_iter()
            .collect::<HashSet<_>>(),
        "{name}: parameter names"
    );

    let mut worst_stat = 0.0f64;
    let mut counters = 0;
    for (bn, b) in net.named_buffers() {
        let key = format!("after.{bn}");
        if bn.ends_with("num_batches_tracked") {
            assert_eq!(b.item() as i64, fx.ints(&key)[0], "{name}: {key}");
            counters += 1;
        } else {
            let w = assert_close(&format!("{name} {key}"), &b, &fx.tensor(&key), RTOL, ATOL);
            worst_stat = worst_stat.max(w.abs);
        }
    }
    assert!(counters > 0);

    net.eval();
    let y = net.forward(&fx.tensor("x_eval"));
    let we = assert_close(
        &format!("{name} logits_eval"),
        &y,
        &fx.tensor("logits_eval"),
        RTOL,
        ATOL,
    );
    println!(
        "{name}: max |Δ| logits {:.2e}, loss {:.2e}, running stats {:.2e}, eval logits {:.2e}; \
         worst gradient error / max|grad| {:.2e}",
        wl.abs, wloss.abs, worst_stat, we.abs, worst_grad
    );
}

#[test]
fn resnet_basic_matches_torchvision() {
    check_training_step("resnet_basic");
}

#[test]
fn resnet_bottleneck_matches_torchvision() {
    check_training_step("resnet_bottleneck");
}

#[test]
fn resnet_sgd_trajectory_matches_torch() {
    let fx = fixture!("resnet_sgd_steps");
    let spec = spec(&fx.config["model"]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut net = config_of(&spec).init(&mut rng).expect("valid config");
    let sd = state_dict_bytes("resnet_sgd_steps", |k| {
        k.strip_prefix("init.").map(str::to_string)
    });
    net.load_state_dict_from_bytes(&sd, LoadMode::Strict)
        .expect("strict load of init.*");
    net.train();
    let mut opt = Sgd::new(
        &net.parameters(),
        SgdConfig {
            lr: fx.cfg_f64("lr"),
            momentum: fx.cfg_f64("momentum"),
            weight_decay: fx.cfg_f64("weight_decay"),
            ..SgdConfig::default()
        },
    )
    .expect("valid SGD config");
    let steps = fx.cfg_usize("steps");
    let xs = fx.tensor("xs");
    let ys = fx.ints("ys");
    let batch = ys.len() / steps;
    let mut losses = Vec::new();
    for s in 0..steps {
        opt.zero_grad();
        let y: Vec<usize> = ys[s * batch..(s + 1) * batch]
            .iter()
            .map(|&t| t as usize)
            .collect();
        let loss =
            net.forward(&xs.select(0, s).contiguous())
                .cross_entropy(&y, Reduction::Mean, 0.0);
        loss.backward();
        opt.step();
        losses.push(loss.item());
    }
    // Errors could compound over the steps (each update moves weights by lr·g with g
    // carrying the previous steps' error); four steps stay within the one-step tolerance.
    let wl = assert_slice_close("losses", &losses, fx.values("losses"), RTOL, ATOL);
    let mut worst = 0.0f64;
    for (n, t) in net.state_dict() {
        let key = format!("final.{n}");
        if n.ends_with("num_batches_tracked") {
            assert_eq!(t.item() as i64, fx.ints(&key)[0], "{key}");
        } else {
            let w = assert_close(&key, &t, &fx.tensor(&key), RTOL, ATOL);
            worst = worst.max(w.abs);
        }
    }
    println!(
        "resnet_sgd_steps: max |Δ| losses {:.2e}, final state {:.2e}",
        wl.abs, worst
    );
}

#[test]
fn strict_load_names_missing_unexpected_and_misshaped_tensors() {
    let fx = fixture!("resnet_basic");
    let net = build(&fx, "resnet_basic");

    let missing = state_dict_bytes("resnet_basic", |k| {
        (is_state_key(k) && k != "layer2.0.downsample.0.weight").then(|| k.to_string())
    });
    let err = net
        .load_state_dict_from_bytes(&missing, LoadMode::Strict)
        .expect_err("missing key must fail")
        .to_string();
    assert!(
        err.contains("missing layer2.0.downsample.0.weight"),
        "{err}"
    );

    let unexpected = state_dict_bytes("resnet_basic", |k| {
        if k == "logits" {
            Some("layer9.0.conv1.weight".into())
        } else {
            is_state_key(k).then(|| k.to_string())
        }
    });
    let err = net
        .load_state_dict_from_bytes(&unexpected, LoadMode::Strict)
        .expect_err("unexpected key must fail")
        .to_string();
    assert!(err.contains("unexpected layer9.0.conv1.weight"), "{err}");
    // NonStrict accepts it and reports the extra name.
    let report = net
        .load_state_dict_from_bytes(&unexpected, LoadMode::NonStrict)
        .expect("non-strict load");
    assert_eq!(report.unexpected, ["layer9.0.conv1.weight"]);

    // Swap two tensors of different shapes: conv1.weight [8, 3, 3, 3] ↔ fc.weight [10, 32].
    let swapped = state_dict_bytes("resnet_basic", |k| match k {
        "conv1.weight" => Some("fc.weight".into()),
        "fc.weight" => Some("conv1.weight".into()),
        k => is_state_key(k).then(|| k.to_string()),
    });
    let before = net.conv1.weight().to_vec();
    let err = net
        .load_state_dict_from_bytes(&swapped, LoadMode::Strict)
        .expect_err("wrong shapes must fail")
        .to_string();
    assert!(
        err.contains("conv1.weight (module [8, 3, 3, 3], file [10, 32])"),
        "{err}"
    );
    assert_eq!(
        net.conv1.weight().to_vec(),
        before,
        "a failed load changes nothing"
    );
}

#[test]
fn save_then_load_round_trips() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let a = ResNetConfig::resnet20(10).init(&mut rng).expect("config");
    let b = ResNetConfig::resnet20(10).init(&mut rng).expect("config");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("r20.safetensors");
    a.save_state_dict(&path).expect("save");
    b.load_state_dict(&path).expect("strict load");
    for ((na, ta), (nb, tb)) in a.state_dict().into_iter().zip(b.state_dict()) {
        assert_eq!(na, nb);
        assert_eq!(ta.to_vec(), tb.to_vec(), "{na}");
    }
    // A different architecture does not load strictly.
    let c = ResNetConfig::resnet32(10).init(&mut rng).expect("config");
    let err = c.load_state_dict(&path).expect_err("resnet20 ≠ resnet32");
    assert!(
        err.to_string().contains("missing layer1.3.conv1.weight"),
        "{err}"
    );
}
