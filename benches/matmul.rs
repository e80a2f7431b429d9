//! Matrix product throughput, square f32 sizes 64–2048 (the PyTorch baseline's `matmul`
//! workload). Criterion reports elements as FLOP: 2·n³ per product.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gradflow_tensor::{Tensor, no_grad};
use rand::SeedableRng;

/// mimalloc, set up as in the `gradflow` binary (see `docs/benchmarks.md`, "The allocator").
#[path = "../crates/gradflow/src/allocator.rs"]
#[allow(unsafe_code)] // two calls into mimalloc's option table; see the module.
mod allocator;

fn matmul(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut group = c.benchmark_group("matmul");
    for n in [64usize, 128, 256, 512, 1024, 2048] {
        let a = Tensor::randn(&[n, n], 0.0, 1.0, &mut rng);
        let b = Tensor::randn(&[n, n], 0.0, 1.0, &mut rng);
        group.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
        if n >= 1024 {
            group.sample_size(10);
        }
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |bench, _| {
            bench.iter(|| no_grad(|| a.matmul(&b)))
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
    targets = matmul
}
criterion_main!(benches);
