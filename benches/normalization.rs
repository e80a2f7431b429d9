//! Fused normalization kernels against the same math composed from tensor ops (mean, var,
//! sub, div, sqrt, mul, add — one graph node each), forward + backward, in training mode.
//! Shapes: BatchNorm2d on a ResNet-stage activation [32, 64, 28, 28]; BatchNorm1d and
//! GroupNorm(8) on MLP features [128, 256].

use criterion::{Criterion, criterion_group, criterion_main};
use gradflow_normalization::{batch_norm, group_norm};
use gradflow_tensor::Tensor;
use rand::SeedableRng;

/// mimalloc, set up as in the `gradflow` binary (see `docs/benchmarks.md`, "The allocator").
#[path = "../crates/gradflow/src/allocator.rs"]
#[allow(unsafe_code)] // two calls into mimalloc's option table; see the module.
mod allocator;

/// BatchNorm over all dims but 1, written with tensor ops.
fn batch_norm_composed(x: &Tensor, g: &Tensor, b: &Tensor) -> Tensor {
    let dims: Vec<usize> = (0..x.rank()).filter(|&d| d != 1).collect();
    let mut shape = vec![1; x.rank()];
    shape[1] = x.dim(1);
    let mean = x.mean(&dims, true);
    let var = x.var(&dims, 0, true);
    x.sub(&mean)
        .div(&var.add_scalar(1e-5).sqrt())
        .mul(&g.reshape(&shape))
        .add(&b.reshape(&shape))
}

/// GroupNorm on [N, C] features, written with tensor ops.
fn group_norm_composed(x: &Tensor, groups: usize, g: &Tensor, b: &Tensor) -> Tensor {
    let (n, c) = (x.dim(0), x.dim(1));
    let xg = x.reshape(&[n, groups, c / groups]);
    let mean = xg.mean(&[2], true);
    let var = xg.var(&[2], 0, true);
    xg.sub(&mean)
        .div(&var.add_scalar(1e-5).sqrt())
        .reshape(&[n, c])
        .mul(g)
        .add(b)
}

fn bench(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut group = c.benchmark_group("normalization_forward_backward");
    for (name, shape) in [
        ("batch_norm2d_32x64x28x28", vec![32, 64, 28, 28]),
        ("batch_norm1d_128x256", vec![128, 256]),
    ] {
        let ch = shape[1];
        let x = Tensor::randn(&shape, 0.5, 2.0, &mut rng).requires_grad_();
        let g = Tensor::ones(&[ch]).requires_grad_();
        let b = Tensor::zeros(&[ch]).requires_grad_();
        let gy = Tensor::randn(&shape, 0.0, 1.0, &mut rng);
        group.bench_function(format!("{name}/fused"), |bench| {
            bench.iter(|| {
                batch_norm(&x, None, None, Some(&g), Some(&b), true, 0.1, 1e-5).backward_with(&gy);
                [&x, &g, &b].iter().for_each(|t| t.zero_grad());
            })
        });
        group.bench_function(format!("{name}/composed"), |bench| {
            bench.iter(|| {
                batch_norm_composed(&x, &g, &b).backward_with(&gy);
                [&x, &g, &b].iter().for_each(|t| t.zero_grad());
            })
        });
    }
    let x = Tensor::randn(&[128, 256], 0.5, 2.0, &mut rng).requires_grad_();
    let g = Tensor::ones(&[256]).requires_grad_();
    let b = Tensor::zeros(&[256]).requires_grad_();
    let gy = Tensor::randn(&[128, 256], 0.0, 1.0, &mut rng);
    group.bench_function("group_norm8_128x256/fused", |bench| {
        bench.iter(|| {
            group_norm(&x, 8, Some(&g), Some(&b), 1e-5).backward_with(&gy);
            [&x, &g, &b].iter().for_each(|t| t.zero_grad());
        })
    });
    group.bench_function("group_norm8_128x256/composed", |bench| {
        bench.iter(|| {
            group_norm_composed(&x, 8, &g, &b).backward_with(&gy);
            [&x, &g, &b].iter().for_each(|t| t.zero_grad());
        })
    });
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
