//! What the gradient-flow recorder costs: one training step (forward, backward) of the lab's
//! 20-layer, 256-wide ReLU MLP at batch 64, without and with recording (`retain_grad` on
//! every hidden layer plus the per-layer statistics).

use criterion::{Criterion, criterion_group, criterion_main};
use gradflow::diagnostics::layer_stats;
use gradflow::tensor::{Module, Reduction, Tensor};
use gradflow::vanishing::model::{Activation, InitScheme, LadderNet, MlpSpec, Norm};
use rand::SeedableRng;

/// mimalloc, set up as in the `gradflow` binary (see `docs/benchmarks.md`, "The allocator").
#[path = "../crates/gradflow/src/allocator.rs"]
#[allow(unsafe_code)] // two calls into mimalloc's option table; see the module.
mod allocator;

fn recorder(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let spec = MlpSpec {
        depth: 20,
        width: 256,
        input: 784,
        classes: 10,
        activation: Activation::Relu,
        init: InitScheme::He,
        norm: Norm::None,
        residual: false,
    };
    let net = LadderNet::new(spec, &mut rng);
    let x = Tensor::randn(&[64, 784], 0.0, 1.0, &mut rng);
    let y: Vec<usize> = (0..64).map(|i| i % 10).collect();
    let mut group = c.benchmark_group("mlp20x256_b64_forward_backward");
    for record in [false, true] {
        let name = if record {
            "with_recorder"
        } else {
            "without_recorder"
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let (logits, traces) = net.forward_traced(&x);
                if record {
                    traces.iter().for_each(|t| t.watch());
                }
                logits.cross_entropy(&y, Reduction::Mean, 0.0).backward();
                let stats =
                    record.then(|| layer_stats(&traces, spec.activation.derivative_from_output()));
                net.zero_grad();
                stats
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
    targets = recorder
}
criterion_main!(benches);
