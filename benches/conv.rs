//! 3×3 convolution, stride 1, padding 1, 64→64 channels on a 16×64×56×56 input (the PyTorch
//! baseline's `conv` workload): forward alone, and forward + backward with gradients for the
//! input, the weight and the bias.
//!
//! A second group, `conv2d_small`, times forward + backward of the deep layers of ResNet-18
//! on 64² images at batch 64 (the `resnet18/b64_64` workload), where the planes are 4×4 and
//! 2×2 and the work around the GEMMs (im2col, col2im) is per tap rather than per pixel; a
//! third, `conv2d_resnet_layers`, each distinct layer of ResNet-18 at batch 16 on 224² and
//! the CIFAR ResNets' 3×3 layers at batch 128.

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

/// (name, batch, input channels, output channels, plane side, kernel, stride, padding, the
/// input's gradient too): one layer, forward + backward.
type Layer = (
    &'static str,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    bool,
);

/// Forward + backward (weight gradient, and the input's where the network needs it; no bias,
/// as in a ResNet) of each layer in `cases`, each step on a rayon worker as in the `resnet`
/// bench.
fn layers(c: &mut Criterion, group_name: &str, samples: usize, cases: &[Layer]) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut group = c.benchmark_group(group_name);
    group.sample_size(samples).sampling_mode(SamplingMode::Flat);
    for &(name, n, ci, co, side, k, stride, pad, dx) in cases {
        let x = Tensor::randn(&[n, ci, side, side], 0.0, 1.0, &mut rng);
        let x = if dx { x.requires_grad_() } else { x };
        let w = Tensor::randn(&[co, ci, k, k], 0.0, 0.05, &mut rng).requires_grad_();
        let p = Conv2dParams::new(stride, pad, 1);
        let oside = (side + 2 * pad - k) / stride + 1;
        let gy = Tensor::randn(&[n, co, oside, oside], 0.0, 1.0, &mut rng);
        let products = if dx { 3 } else { 2 };
        group.throughput(Throughput::Elements(
            (products * 2 * n * co * ci * k * k * oside * oside) as u64,
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

/// ResNet-18's deep layers at batch 64 on 64² images (the `resnet18/b64_64` workload), where
/// the planes are 4×4 and 2×2 and the work around the GEMMs is per tap rather than per pixel.
fn conv_small(c: &mut Criterion) {
    layers(
        c,
        "conv2d_small",
        20,
        &[
            ("layer3_3x3_256_4x4", 64, 256, 256, 4, 3, 1, 1, true),
            ("layer4_3x3_512_2x2", 64, 512, 512, 2, 3, 1, 1, true),
            ("layer4_down_3x3_256_4x4_s2", 64, 256, 512, 4, 3, 2, 1, true),
            (
                "layer4_shortcut_1x1_256_4x4_s2",
                64,
                256,
                512,
                4,
                1,
                2,
                0,
                true,
            ),
        ],
    );
}

/// Every distinct convolution of ResNet-18 at batch 16 on 224² (the `resnet18/b16_224`
/// workload; the stem needs no input gradient) and the 3×3 convolutions of the CIFAR
/// ResNets' three stages at batch 128 (`resnet20/b128_32`): which layers the time goes to.
fn conv_resnet_layers(c: &mut Criterion) {
    layers(
        c,
        "conv2d_resnet_layers",
        10,
        &[
            ("r18_stem_7x7_3_224_s2", 16, 3, 64, 224, 7, 2, 3, false),
            ("r18_layer1_3x3_64_56", 16, 64, 64, 56, 3, 1, 1, true),
            (
                "r18_layer2_down_3x3_64_56_s2",
                16,
                64,
                128,
                56,
                3,
                2,
                1,
                true,
            ),
            (
                "r18_layer2_shortcut_1x1_64_56_s2",
                16,
                64,
                128,
                56,
                1,
                2,
                0,
                true,
            ),
            ("r18_layer2_3x3_128_28", 16, 128, 128, 28, 3, 1, 1, true),
            (
                "r18_layer3_down_3x3_128_28_s2",
                16,
                128,
                256,
                28,
                3,
                2,
                1,
                true,
            ),
            ("r18_layer3_3x3_256_14", 16, 256, 256, 14, 3, 1, 1, true),
            (
                "r18_layer4_down_3x3_256_14_s2",
                16,
                256,
                512,
                14,
                3,
                2,
                1,
                true,
            ),
            ("r18_layer4_3x3_512_7", 16, 512, 512, 7, 3, 1, 1, true),
            ("cifar_3x3_16_32", 128, 16, 16, 32, 3, 1, 1, true),
            ("cifar_3x3_32_16", 128, 32, 32, 16, 3, 1, 1, true),
            ("cifar_3x3_64_8", 128, 64, 64, 8, 3, 1, 1, true),
        ],
    );
}

criterion_group! {
    name = benches;
    config = {
        allocator::keep_freed_memory();
        Criterion::default()
    };
    targets = conv, conv_small, conv_resnet_layers
}
criterion_main!(benches);
