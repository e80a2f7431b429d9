//! Whole-network ResNet workloads, the ones `../shared/bench/pytorch_baseline.py` (sections
//! `resnet` and `cifar`) times for PyTorch:
//! - torchvision resnet18 and resnet34 (1000 classes), training step (forward,
//!   cross-entropy, backward, SGD lr 0.01 momentum 0.9): resnet18 at batch 16 × 224² and
//!   batch 64 × 64², resnet34 at batch 16 × 224²;
//! - resnet18 evaluation forward, batch 16 × 224², no tape;
//! - CIFAR resnet20 and resnet56 (option-A shortcuts), training step at batch 128 × 32², SGD
//!   lr 0.1 momentum 0.9 weight decay 5e-4; resnet20 evaluation at batch 256.
//!
//! Each step runs through `gradflow_tensor::on_pool`, on one of rayon's workers, as the
//! `gradflow` binary runs its training: the parallel splits inside the step are then hot
//! `join`s instead of hand-overs from criterion's thread (docs/benchmarks.md).
//!
//! Throughput is images per second. Each network is built inside its benchmark's closure,
//! which criterion only calls when the name matches the filter, so that a filtered run
//! (`cargo bench -p gradflow-resnet --bench resnet -- resnet34/`) holds only that network and
//! its peak RSS is the workload's own. The steps take up to seconds on two cores, so they run
//! in flat sampling mode: 10 samples of the same iteration count, at least one each.

use std::time::Duration;

use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main, measurement::WallTime,
};
use gradflow_optimizers::{Optimizer, Sgd, SgdConfig};
use gradflow_resnet::{ResNet, ResNetConfig};
use gradflow_tensor::{Module, Reduction, Tensor, no_grad, on_pool};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// mimalloc, set up as in the `gradflow` binary (see `docs/benchmarks.md`, "The allocator").
#[path = "../crates/gradflow/src/allocator.rs"]
#[allow(unsafe_code)] // two calls into mimalloc's option table; see the module.
mod allocator;

/// One training step: zero_grad, forward, loss, backward, update.
fn train_step(net: &ResNet, opt: &mut Sgd, x: &Tensor, y: &[usize]) -> f32 {
    opt.zero_grad();
    let loss = net.forward(x).cross_entropy(y, Reduction::Mean, 0.0);
    loss.backward();
    opt.step();
    loss.item()
}

fn group<'a>(c: &'a mut Criterion, name: &str, batch: usize) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(batch as u64));
    group
}

/// A training-step benchmark `resnet_train_step/<name>/b<batch>_<hw>`.
fn train(
    c: &mut Criterion,
    name: &str,
    cfg: ResNetConfig,
    batch: usize,
    hw: usize,
    sgd: SgdConfig,
) {
    let mut group = group(c, "resnet_train_step", batch);
    group.bench_function(BenchmarkId::new(name, format!("b{batch}_{hw}")), |b| {
        let mut rng = StdRng::seed_from_u64(0);
        let classes = cfg.num_classes;
        let net = cfg.clone().init(&mut rng).expect("valid config");
        let mut opt = Sgd::new(&net.parameters(), sgd).expect("valid SGD config");
        let x = Tensor::randn(&[batch, 3, hw, hw], 0.0, 1.0, &mut rng);
        let y: Vec<usize> = (0..batch).map(|i| (i * 7) % classes).collect();
        b.iter(|| on_pool(|| train_step(&net, &mut opt, &x, &y)))
    });
    group.finish();
}

/// An evaluation benchmark `resnet_eval/<name>/b<batch>_<hw>`.
fn eval(c: &mut Criterion, name: &str, cfg: ResNetConfig, batch: usize, hw: usize) {
    let mut group = group(c, "resnet_eval", batch);
    group.bench_function(BenchmarkId::new(name, format!("b{batch}_{hw}")), |b| {
        let mut rng = StdRng::seed_from_u64(1);
        let mut net = cfg.clone().init(&mut rng).expect("valid config");
        net.eval();
        let x = Tensor::randn(&[batch, 3, hw, hw], 0.0, 1.0, &mut rng);
        b.iter(|| no_grad(|| on_pool(|| net.forward(&x))))
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    // torchvision's workloads: lr 0.01, momentum 0.9, no weight decay.
    let imagenet = SgdConfig {
        lr: 0.01,
        momentum: 0.9,
        ..SgdConfig::default()
    };
    // He et al.'s CIFAR recipe: lr 0.1, momentum 0.9, weight decay 5e-4.
    let cifar = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 5e-4,
        ..SgdConfig::default()
    };
    train(
        c,
        "resnet18",
        ResNetConfig::resnet18(1000),
        16,
        224,
        imagenet,
    );
    train(
        c,
        "resnet18",
        ResNetConfig::resnet18(1000),
        64,
        64,
        imagenet,
    );
    train(
        c,
        "resnet34",
        ResNetConfig::resnet34(1000),
        16,
        224,
        imagenet,
    );
    train(c, "resnet20", ResNetConfig::resnet20(10), 128, 32, cifar);
    train(c, "resnet56", ResNetConfig::resnet56(10), 128, 32, cifar);
    eval(c, "resnet18", ResNetConfig::resnet18(1000), 16, 224);
    eval(c, "resnet20", ResNetConfig::resnet20(10), 256, 32);
}

criterion_group! {
    name = benches;
    config = {
        allocator::keep_freed_memory();
        Criterion::default()
    };
    targets = bench
}
criterion_main!(benches);
