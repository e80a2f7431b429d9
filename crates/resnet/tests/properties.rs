//! Properties the math promises, on tiny networks so that the suite stays fast.

use gradflow_activations::relu;
use gradflow_resnet::{
    BasicBlock, Block, BlockKind, BlockOptions, Bottleneck, Norm, NormLayer, ResNet, ResNetConfig,
    Shortcut, ShortcutKind, Stem,
};
use gradflow_tensor::{Module, Tensor};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Every named network's layout (block kind, blocks per stage, groups, width per group, stem,
/// shortcut kind, skips), shrunk to tiny widths so that a forward pass takes milliseconds.
fn tiny_zoo() -> Vec<(&'static str, ResNetConfig)> {
    let imagenet_tiny = [4, 8, 8, 16];
    // ResNeXt needs bottleneck widths that its 32 groups divide: ⌊16·4/64⌋·32 = 32.
    let resnext_tiny = [16, 16, 16, 16];
    let cifar_tiny = [4, 8, 8];
    let named: Vec<(&str, ResNetConfig)> = vec![
        ("resnet18", ResNetConfig::resnet18(5)),
        ("resnet34", ResNetConfig::resnet34(5)),
        ("resnet50", ResNetConfig::resnet50(5)),
        ("resnet101", ResNetConfig::resnet101(5)),
        ("resnet152", ResNetConfig::resnet152(5)),
        ("resnext50_32x4d", ResNetConfig::resnext50_32x4d(5)),
        ("wide_resnet50_2", ResNetConfig::wide_resnet50_2(5)),
        ("plain34", ResNetConfig::plain34(5)),
        ("plain152", ResNetConfig::plain152(5)),
        ("resnet20", ResNetConfig::resnet20(5)),
        ("resnet56", ResNetConfig::resnet56(5)),
        ("resnet110", ResNetConfig::resnet110(5)),
        ("plain20", ResNetConfig::plain20(5)),
        ("plain56", ResNetConfig::plain56(5)),
        (
            "resnet20_projection",
            ResNetConfig::resnet20(5).with_shortcut(ShortcutKind::Projection),
        ),
        (
            "resnet34_groupnorm",
            ResNetConfig::resnet34(5).with_norm(Norm::Group),
        ),
        (
            "resnet20_no_norm",
            ResNetConfig::resnet20(5).with_norm(Norm::None),
        ),
    ];
    named
        .into_iter()
        .map(|(name, mut c)| {
            c.widths = match (c.stem, c.options.groups) {
                (Stem::Cifar, _) => cifar_tiny.to_vec(),
                (Stem::ImageNet, 1) => imagenet_tiny.to_vec(),
                _ => resnext_tiny.to_vec(),
            };
            (name, c)
        })
        .collect()
}

/// ⌊(h + 2p − k)/s⌋ + 1.
fn out_size(h: usize, k: usize, s: usize, p: usize) -> usize {
    (h + 2 * p - k) / s + 1
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// For every layout and any input size, logits are `[N, classes]`, and the last stage's
    /// map has the size the strides predict: stem (7×7/2 + 3×3/2 pool, or 3×3/1), then
    /// ⌈h/2⌉ per later stage.
    #[test]
    fn output_shapes(which in 0usize..17, n in 1usize..3, h in 1usize..40, w in 1usize..40) {
        let (name, cfg) = tiny_zoo().swap_remove(which);
        let mut net = cfg.init(&mut StdRng::seed_from_u64(7)).expect("valid config");
        net.eval();
        let x = Tensor::ones(&[n, 3, h, w]);
        let logits = net.forward(&x);
        prop_assert_eq!(logits.shape(), &[n, 5], "{}", name);
        let size = |mut h: usize| {
            if cfg.stem == Stem::ImageNet {
                h = out_size(out_size(h, 7, 2, 3), 3, 2, 1);
            }
            for _ in 1..cfg.layers.len() {
                h = h.div_ceil(2);
            }
            h
        };
        let mut y = net.stem(&x);
        for (_, b) in net.blocks() {
            y = b.forward(&y);
        }
        let expected = [n, cfg.out_channels(), size(h), size(w)];
        prop_assert_eq!(y.shape(), &expected, "{}", name);
    }

    /// A block is relu(F(x) + S(x)) with F and S recomputed from tensor ops (convolution,
    /// BatchNorm written as (x − mean)/√(var + ε)·γ + β, option A as index selection and
    /// concatenation): the block's fused kernels and wiring agree with the formula.
    #[test]
    fn block_is_relu_of_branch_plus_shortcut(
        bottleneck in any::<bool>(),
        stride in 1usize..3,
        cin in 1usize..4,
        grow in 0usize..3,
        pad_zeros in any::<bool>(),
        residual in any::<bool>(),
        seed in 0u64..1000,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let options = BlockOptions {
            shortcut: if pad_zeros { ShortcutKind::PadZeros } else { ShortcutKind::Projection },
            residual,
            ..BlockOptions::default()
        };
        let (kind, in_ch, planes) = if bottleneck {
            // Option A cannot shrink: keep 4·planes ≥ C_in.
            (BlockKind::Bottleneck, 4 * cin, cin + grow)
        } else {
            (BlockKind::Basic, cin, cin + grow)
        };
        let block = Block::new(kind, in_ch, planes, stride, &options, &mut rng);
        randomize_affine(&block, &mut rng);
        let x = Tensor::randn(&[2, in_ch, 5, 4], 0.0, 1.0, &mut rng);
        let y = block.forward(&x);
        let expected = composed_block(&block, &x);
        let diff = max_abs_diff(&y, &expected);
        // Both are O(1) f32 results of the same sums in different orders: a few ulps each.
        prop_assert!(diff < 1e-4, "max |Δ| = {diff:e}");
    }
}

/// γ ~ U(0.5, 1.5), β ~ U(−0.2, 0.2) in every BatchNorm, as the fixtures do, so that the
/// affine part is exercised (it starts at 1 and 0).
fn randomize_affine(m: &dyn Module, rng: &mut StdRng) {
    for (name, p) in m.named_parameters() {
        let is_norm = name.contains("bn") || name.contains("downsample.1");
        if is_norm && name.ends_with("weight") {
            p.assign(&Tensor::rand(p.shape(), 0.5, 1.5, rng));
        } else if is_norm && name.ends_with("bias") {
            p.assign(&Tensor::rand(p.shape(), -0.2, 0.2, rng));
        }
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.to_vec()
        .iter()
        .zip(b.to_vec())
        .fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// BatchNorm in training mode from reductions: per channel over (N, H, W), biased variance.
fn composed_norm(n: &NormLayer, x: &Tensor) -> Tensor {
    match n {
        NormLayer::Batch(bn) => {
            let c = x.dim(1);
            let mean = x.mean(&[0, 2, 3], true);
            let var = x.var(&[0, 2, 3], 0, true);
            let xhat = x
                .sub(&mean)
                .div(&var.add_scalar(bn.config().eps as f32).sqrt());
            let g = bn.weight().expect("affine").reshape(&[1, c, 1, 1]);
            let b = bn.bias().expect("affine").reshape(&[1, c, 1, 1]);
            xhat.mul(&g).add(&b)
        }
        _ => panic!("these tests use BatchNorm"),
    }
}

fn conv(c: &gradflow_layers::Conv2d, x: &Tensor) -> Tensor {
    x.conv2d(c.weight(), c.bias(), c.params())
}

/// Option A from index selection and concatenation.
fn composed_pad(x: &Tensor, stride: usize, before: usize, after: usize) -> Tensor {
    let rows: Vec<usize> = (0..x.dim(2)).step_by(stride).collect();
    let cols: Vec<usize> = (0..x.dim(3)).step_by(stride).collect();
    let sub = x.index_select(2, &rows).index_select(3, &cols);
    let (n, h, w) = (sub.dim(0), sub.dim(2), sub.dim(3));
    Tensor::concat(
        &[
            &Tensor::zeros(&[n, before, h, w]),
            &sub,
            &Tensor::zeros(&[n, after, h, w]),
        ],
        1,
    )
}

fn composed_block(block: &Block, x: &Tensor) -> Tensor {
    let f = match block {
        Block::Basic(b) => {
            let h = relu(&composed_norm(&b.bn1, &conv(&b.conv1, x)));
            composed_norm(&b.bn2, &conv(&b.conv2, &h))
        }
        Block::Bottleneck(b) => {
            let h = relu(&composed_norm(&b.bn1, &conv(&b.conv1, x)));
            let h = relu(&composed_norm(&b.bn2, &conv(&b.conv2, &h)));
            composed_norm(&b.bn3, &conv(&b.conv3, &h))
        }
    };
    let s = match block.shortcut() {
        Shortcut::Identity => Some(x.clone()),
        Shortcut::Projection(d) => Some(composed_norm(&d.norm, &conv(&d.conv, x))),
        Shortcut::PadZeros(p) => Some(composed_pad(x, p.stride, p.pad_before, p.pad_after)),
        Shortcut::None => None,
    };
    match s {
        Some(s) => relu(&f.add(&s)),
        None => relu(&f),
    }
}

/// With `zero_init_residual` every identity-shortcut block maps its non-negative input
/// (the output of the previous block's ReLU) to itself exactly: F(x) = γ·x̂ + β with γ = 0 and
/// β = 0 is 0, so y = relu(x) = x. Checked in training mode (batch statistics), for each
/// block kind and normalization, inside a whole network.
#[test]
fn zero_init_residual_makes_identity_blocks_identities() {
    let mut rng = StdRng::seed_from_u64(3);
    for (cfg, what) in [
        (ResNetConfig::resnet20(4), "resnet20 BN"),
        (
            ResNetConfig::resnet20(4).with_norm(Norm::Group),
            "resnet20 GN",
        ),
        (
            ResNetConfig::resnet20(4).with_norm(Norm::None),
            "resnet20 no norm",
        ),
        (
            ResNetConfig::new(BlockKind::Bottleneck, &[2, 2], &[4, 8], 4),
            "bottleneck BN",
        ),
    ] {
        let net = cfg
            .with_zero_init_residual(true)
            .init(&mut rng)
            .expect("valid config");
        let mut h = net.stem(&Tensor::randn(&[2, 3, 16, 16], 0.0, 1.0, &mut rng));
        let mut identities = 0;
        for (name, b) in net.blocks() {
            let y = b.forward(&h);
            if matches!(b.shortcut(), Shortcut::Identity) {
                assert!(h.to_vec().iter().all(|&v| v >= 0.0));
                assert_eq!(y.to_vec(), h.to_vec(), "{what} {name}");
                identities += 1;
            }
            h = y;
        }
        assert!(identities >= 2, "{what}");
    }
    // Without the option the same blocks are not identities.
    let net = ResNetConfig::resnet20(4)
        .init(&mut rng)
        .expect("valid config");
    let h = relu(&Tensor::randn(&[2, 16, 8, 8], 0.0, 1.0, &mut rng));
    assert!(max_abs_diff(&net.layers[0][0].forward(&h), &h) > 0.1);
}

/// Mode changes reach every BatchNorm, including the projections': in training mode one
/// forward advances every `num_batches_tracked` by 1; in evaluation mode nothing changes and
/// each sample's output is independent of the rest of the batch.
#[test]
fn train_and_eval_reach_every_batch_norm() {
    let mut rng = StdRng::seed_from_u64(5);
    for cfg in [
        ResNetConfig::new(BlockKind::Bottleneck, &[1, 2], &[2, 4], 3),
        ResNetConfig::resnet20(3).with_shortcut(ShortcutKind::Projection),
    ] {
        let mut net = cfg.init(&mut rng).expect("valid config");
        let x = Tensor::randn(&[3, 3, 12, 12], 0.0, 1.0, &mut rng);
        let counters = |net: &ResNet| -> Vec<(String, f32)> {
            net.named_buffers()
                .into_iter()
                .filter(|(n, _)| n.ends_with("num_batches_tracked"))
                .map(|(n, t)| (n, t.item()))
                .collect()
        };
        assert!(
            counters(&net)
                .iter()
                .any(|(n, _)| n.contains("downsample.1"))
        );
        net.forward(&x);
        assert!(
            counters(&net).iter().all(|(_, c)| *c == 1.0),
            "{:?}",
            counters(&net)
        );

        net.eval();
        let buffers: Vec<Vec<f32>> = net
            .named_buffers()
            .iter()
            .map(|(_, t)| t.to_vec())
            .collect();
        let y = net.forward(&x);
        let after: Vec<Vec<f32>> = net
            .named_buffers()
            .iter()
            .map(|(_, t)| t.to_vec())
            .collect();
        assert_eq!(
            buffers, after,
            "eval mode must not touch running statistics"
        );
        let y0 = net.forward(&x.narrow(0, 0, 1).contiguous());
        assert!(max_abs_diff(&y0, &y.narrow(0, 0, 1).contiguous()) < 1e-5);

        net.train();
        net.forward(&x);
        assert!(counters(&net).iter().all(|(_, c)| *c == 2.0));
    }
}

/// The plain twin has no skip: no `downsample` tensors, and every block is relu(F(x)).
#[test]
fn plain_twins_have_no_shortcuts() {
    let mut rng = StdRng::seed_from_u64(9);
    let mut cfg = ResNetConfig::plain34(4);
    cfg.widths = vec![4, 8, 8, 16];
    let net = cfg.init(&mut rng).expect("valid config");
    assert!(
        net.named_parameters()
            .iter()
            .all(|(n, _)| !n.contains("downsample"))
    );
    assert!(
        net.blocks()
            .iter()
            .all(|(_, b)| matches!(b.shortcut(), Shortcut::None))
    );
    let h = relu(&Tensor::randn(&[2, 4, 6, 6], 0.0, 1.0, &mut rng));
    let b = &net.layers[0][0];
    assert_eq!(b.forward(&h).to_vec(), relu(&b.branch(&h)).to_vec());
}

/// torchvision's initialization: conv weights with std √(2/fan_out), BN γ = 1 and β = 0,
/// `fc` inside ±1/√fan_in, and `zero_init_residual` zeroing exactly the last BN of each block.
#[test]
fn torchvision_initialization() {
    let mut rng = StdRng::seed_from_u64(11);
    let net = ResNetConfig::resnet50(10)
        .with_zero_init_residual(true)
        .init(&mut rng)
        .expect("valid config");
    for (name, p) in net.named_parameters() {
        let v = p.to_vec();
        if name.ends_with("conv2.weight") && name.starts_with("layer3") {
            // 256 × 256 × 3 × 3 weights: the sample std is within 1 % of √(2/(256·9)) (its
            // relative standard error is 1/√(2·589,824) ≈ 0.1 %).
            let std = (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
            let want = (2.0f32 / (256.0 * 9.0)).sqrt();
            assert!(
                (std / want - 1.0).abs() < 0.01,
                "{name}: std {std} vs {want}"
            );
        } else if name.ends_with("bn3.weight") {
            assert!(v.iter().all(|&x| x == 0.0), "{name}");
        } else if name.contains("bn") || name.contains("downsample.1") {
            let want = if name.ends_with("weight") { 1.0 } else { 0.0 };
            assert!(v.iter().all(|&x| x == want), "{name}");
        } else if name.starts_with("fc.") {
            let bound = 1.0 / 2048f32.sqrt();
            assert!(v.iter().all(|x| x.abs() <= bound), "{name}");
        }
    }
}

/// Sanity for the typed blocks' constructors (the enum above wraps them).
#[test]
fn block_constructors_match_the_enum() {
    let mut rng = StdRng::seed_from_u64(1);
    let o = BlockOptions::default();
    assert_eq!(
        BasicBlock::new(4, 4, 1, &o, &mut rng).num_parameters(),
        2 * (4 * 4 * 9 + 8)
    );
    let b = Bottleneck::new(4, 2, 1, &o, &mut rng);
    let names: Vec<String> = b.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "conv1.weight",
            "bn1.weight",
            "bn1.bias",
            "conv2.weight",
            "bn2.weight",
            "bn2.bias",
            "conv3.weight",
            "bn3.weight",
            "bn3.bias",
            "downsample.0.weight",
            "downsample.1.weight",
            "downsample.1.bias"
        ]
    );
}
