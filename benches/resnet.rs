//! Whole-network ResNet workloads, the ones `../shared/bench/pytorch_baseline.py` (sections
//! `resnet` and `cifar`) times for PyTorch:
//! - resnet18 training step (forward, cross-entropy, backward, SGD momentum 0.9 + weight decay
//!   5e-4), batch 16 at 224² and batch 64 at 64²;
//! - resnet18 evaluation forward, batch 16 at 224², no tape;
//! - CIFAR resnet20 training step, batch 128 at 32².
//!
//! Throughput is images per second. The 224² workloads take seconds per iteration on two
//! cores, so they run 10 samples in a short measurement window.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gradflow_optimizers::{Optimizer, Sgd, SgdConfig};
use gradflow_resnet::{ResNet, ResNetConfig};
use gradflow_tensor::{Module, Reduction, Tensor, no_grad};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn sgd(net: &ResNet) -> Sgd {
    Sgd::new(
        &net.parameters(),
        SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            ..SgdConfig::default()
        },
    )
    .expect("valid SGD config")
}

/// One training step: zero_grad, forward, loss, backward, update.
fn train_step(net: &ResNet, opt: &mut Sgd, x: &Tensor, y: &[usize]) -> f32 {
    opt.zero_grad();
    let loss = net.forward(x).cross_entropy(y, Reduction::Mean, 0.0);
    loss.backward();
    opt.step();
    loss.item()
}

fn train(
    c: &mut Criterion,
    name: &str,
    cfg: ResNetConfig,
    batch: usize,
    hw: usize,
    samples: usize,
) {
    let mut rng = StdRng::seed_from_u64(0);
    let classes = cfg.num_classes;
    let net = cfg.init(&mut rng).expect("valid config");
    let mut opt = sgd(&net);
    let x = Tensor::randn(&[batch, 3, hw, hw], 0.0, 1.0, &mut rng);
    let y: Vec<usize> = (0..batch).map(|i| (i * 7) % classes).collect();
    let mut group = c.benchmark_group("resnet_train_step");
    group
        .sample_size(samples)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(batch as u64));
    group.bench_function(BenchmarkId::new(name, format!("b{batch}_{hw}")), |b| {
        b.iter(|| train_step(&net, &mut opt, &x, &y))
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    train(c, "resnet18", ResNetConfig::resnet18(1000), 16, 224, 10);
    train(c, "resnet18", ResNetConfig::resnet18(1000), 64, 64, 10);
    train(c, "resnet20", ResNetConfig::resnet20(10), 128, 32, 10);

    let mut rng = StdRng::seed_from_u64(1);
    let mut net = ResNetConfig::resnet18(1000)
        .init(&mut rng)
        .expect("valid config");
    net.eval();
    let x = Tensor::randn(&[16, 3, 224, 224], 0.0, 1.0, &mut rng);
    let mut group = c.benchmark_group("resnet_eval");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(16));
    group.bench_function("resnet18/b16_224", |b| {
        b.iter(|| no_grad(|| net.forward(&x)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
