//! One training step of a 20-layer, 256-wide MLP at batch 128 (the PyTorch baseline's `mlp`
//! workload): 784→256, 18 × 256→256, 256→10, the activation after every layer but the last,
//! cross-entropy, plain SGD with lr 0.01. Built from the library as a user would:
//! `Sequential` of `Linear` (PyTorch default init) and activation modules, `Sgd`.
//!
//! Each step runs through `gradflow_tensor::on_pool`, on one of rayon's workers, as the
//! `gradflow` binary runs its training: the parallel splits inside the step are then hot
//! `join`s instead of hand-overs from criterion's thread (docs/benchmarks.md).

use criterion::{Criterion, criterion_group, criterion_main};
use gradflow::activations::{Relu, Sigmoid};
use gradflow::layers::{LinearConfig, Module, Sequential};
use gradflow::optimizers::{Optimizer, Sgd, SgdConfig};
use gradflow::tensor::{Reduction, Tensor, on_pool};
use rand::SeedableRng;

/// mimalloc, set up as in the `gradflow` binary (see `docs/benchmarks.md`, "The allocator").
#[path = "../crates/gradflow/src/allocator.rs"]
#[allow(unsafe_code)] // two calls into mimalloc's option table; see the module.
mod allocator;

fn mlp(sigmoid: bool, rng: &mut rand::rngs::StdRng) -> Sequential {
    let mut dims = vec![784];
    dims.extend([256; 19]);
    dims.push(10);
    let mut net = Sequential::new();
    for (i, d) in dims.windows(2).enumerate() {
        net.push(LinearConfig::new(d[0], d[1]).init(rng));
        if i + 2 < dims.len() {
            if sigmoid {
                net.push(Sigmoid);
            } else {
                net.push(Relu);
            }
        }
    }
    net
}

fn bench(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let x = Tensor::randn(&[128, 784], 0.0, 1.0, &mut rng);
    let y: Vec<usize> = (0..128).map(|i| i % 10).collect();
    let mut group = c.benchmark_group("mlp20x256_b128_step");
    for (name, sigmoid) in [("relu", false), ("sigmoid", true)] {
        let net = mlp(sigmoid, &mut rng);
        let cfg = SgdConfig {
            lr: 0.01,
            ..SgdConfig::default()
        };
        let mut opt = Sgd::new(&net.parameters(), cfg).expect("valid SGD settings");
        group.bench_function(name, |b| {
            b.iter(|| {
                on_pool(|| {
                    opt.zero_grad();
                    let loss = net.forward(&x).cross_entropy(&y, Reduction::Mean, 0.0);
                    loss.backward();
                    opt.step();
                })
            })
        });
    }
    group.finish();
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
