//! Elementwise and reduction throughput: where the single-thread/parallel threshold pays
//! (`PAR_MIN_ELEMS`), and what the vectorizable `exp` buys over the C library's.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gradflow_tensor::{Tensor, math, no_grad};
use rand::SeedableRng;

/// mimalloc, set up as in the `gradflow` binary (see `docs/benchmarks.md`, "The allocator").
#[path = "../crates/gradflow/src/allocator.rs"]
#[allow(unsafe_code)] // two calls into mimalloc's option table; see the module.
mod allocator;

fn elementwise(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut group = c.benchmark_group("elementwise");
    for n in [4096usize, 16384, 32768, 65536, 262144, 1 << 20] {
        let x = Tensor::randn(&[n / 256, 256], 0.0, 1.0, &mut rng);
        let b = Tensor::randn(&[256], 0.0, 1.0, &mut rng);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("exp", n), &n, |bench, _| {
            bench.iter(|| no_grad(|| x.exp()))
        });
        group.bench_with_input(BenchmarkId::new("add_bias_broadcast", n), &n, |bench, _| {
            bench.iter(|| no_grad(|| x.add(&b)))
        });
        group.bench_with_input(BenchmarkId::new("mul_same_shape", n), &n, |bench, _| {
            bench.iter(|| no_grad(|| x.mul(&x)))
        });
        group.bench_with_input(BenchmarkId::new("sum_rows", n), &n, |bench, _| {
            bench.iter(|| no_grad(|| x.sum(&[0], false)))
        });
    }
    group.finish();
    let v: Vec<f32> = (0..65536).map(|i| (i as f32) * 1e-3 - 30.0).collect();
    let mut group = c.benchmark_group("exp_scalar_loop_64k");
    group.throughput(Throughput::Elements(v.len() as u64));
    group.bench_function("gradflow_math_exp", |bench| {
        bench.iter(|| v.iter().map(|&x| math::exp(x)).collect::<Vec<f32>>())
    });
    group.bench_function("std_f32_exp", |bench| {
        bench.iter(|| v.iter().map(|&x| x.exp()).collect::<Vec<f32>>())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = {
        allocator::keep_freed_memory();
        Criterion::default()
    };
    targets = elementwise
}
criterion_main!(benches);
