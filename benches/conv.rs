//! 3×3 convolution, stride 1, padding 1, 64→64 channels on a 16×64×56×56 input (the PyTorch
//! baseline's `conv` workload): forward alone, and forward + backward with gradients for the
//! input, the weight and the bias.
//!
//! A second group, `conv2d_small`, times forward + backward of the deep layers of ResNet-18
//! on 64² images at batch 64 (the `resnet18/b64_64` workload), where the planes are 4×4 and
//! 2×2 and the work around the GEMMs (im2col, col2im) is per tap rather than per pixel.

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use gradflow_tensor::{Conv2dParams, Tensor, no_grad, on_pool};
use rand::SeedableRng;

/// mimalloc, set up as in the `gradflow` binary (see `docs/benchmarks.md`, "The allocator").
#[path = "../crates/gradflow/src/allocator.rs"]
#[allow(unsafe_code)] // two calls into mimalloc's option table; see the module.
mod allocator;

fn conv(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let x = Tensor::randn(&[16, 64, 56, 56], 0.0, 1.0, &mut rng);
    let w = Tensor::randn(&[64, 64, 3, 3], 0.0, 0.05, &mut rng);
    let b = Tensor::zeros(&[64]);
    let p = Conv2dParams::new(1, 1, 1);
    let mut group = c.benchmark_group("conv2d_3x3_64_16x56x56");
    // Flat sampling: 10 samples of equal iteration counts (at least 10 iterations in all),
    // where linear sampling needs 55 at these hundreds of milliseconds each.
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    // 2 FLOP per multiply–add; forward + backward computes three products of that size.
    let fwd_flop = 2 * 16 * 64 * 64 * 9 * 56 * 56;
    group.throughput(Throughput::Elements(fwd_flop));
    group.bench_function("forward", |bench| {
        bench.iter(|| no_grad(|| x.conv2d(&w, Some(&b), p)))
    });
    let (xg, wg, bg) = (
        x.detach().requires_grad_(),
        w.detach().requires_grad_(),
        b.detach().requires_grad_(),
    );
    let gy = Tensor::randn(&[16, 64, 56, 56], 0.0, 1.0, &mut rng);
    group.throughput(Throughput::Elements(3 * fwd_flop));
    group.bench_function("forward_backward", |bench| {
        bench.iter(|| {
            let y = xg.conv2d(&wg, Some(&bg), p);
            y.backward_with(&gy);
            for t in [&xg, &wg, &bg] {
                t.zero_grad();
            }
        })
    });
    group.finish();
}

/// Forward + backward (input and weight gradients, no bias, as in a ResNet) of ResNet-18's
/// deep layers at batch 64 on 64² images, each step on a rayon worker as in the `resnet` bench.
fn conv_small(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut group = c.benchmark_group("conv2d_small");
    group.sample_size(20);
    // (name, input channels, output channels, plane side, kernel, stride, padding)
    let cases = [
        ("layer3_3x3_256_4x4", 256, 256, 4, 3, 1, 1),
        ("layer4_3x3_512_2x2", 512, 512, 2, 3, 1, 1),
        ("layer4_down_3x3_256_4x4_s2", 256, 512, 4, 3, 2, 1),
        ("layer4_shortcut_1x1_256_4x4_s2", 256, 512, 4, 1, 2, 0),
    ];
    for (name, ci, co, side, k, stride, pad) in cases {
        let x = Tensor::randn(&[64, ci, side, side], 0.0, 1.0, &mut rng).requires_grad_();
        let w = Tensor::randn(&[co, ci, k, k], 0.0, 0.05, &mut rng).requires_grad_();
        let p = Conv2dParams::new(stride, pad, 1);
        let oside = (side + 2 * pad - k) / stride + 1;
        let gy = Tensor::randn(&[64, co, oside, oside], 0.0, 1.0, &mut rng);
        group.throughput(Throughput::Elements(
            (3 * 2 * 64 * co * ci * k * k * oside * oside) as u64,
        ));
        group.bench_function(name, |bench| {
            bench.iter(|| {
                on_pool(|| {
                    x.conv2d(&w, None, p).backward_with(&gy);
                    x.zero_grad();
                    w.zero_grad();
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
    targets = conv, conv_small
}
criterion_main!(benches);
