//! Parameter counts equal torchvision's (`sum(p.numel() for p in model.parameters())`) and the
//! CIFAR family's of He et al. 2016 §4.2 (option A, 10 classes), both from the shape-only
//! count and from the built networks.

use gradflow_resnet::{Norm, ResNetConfig, ShortcutKind};
use gradflow_tensor::Module;
use rand::SeedableRng;

/// A named constructor and the parameter count it must give.
type Case = (&'static str, fn(usize) -> ResNetConfig, usize);

/// torchvision 0.2x, `num_classes = 1000`.
const IMAGENET: [Case; 7] = [
    ("resnet18", ResNetConfig::resnet18, 11_689_512),
    ("resnet34", ResNetConfig::resnet34, 21_797_672),
    ("resnet50", ResNetConfig::resnet50, 25_557_032),
    ("resnet101", ResNetConfig::resnet101, 44_549_160),
    ("resnet152", ResNetConfig::resnet152, 60_192_808),
    ("resnext50_32x4d", ResNetConfig::resnext50_32x4d, 25_028_904),
    ("wide_resnet50_2", ResNetConfig::wide_resnet50_2, 68_883_240),
];

/// Option A shortcuts, `num_classes = 10` (the table; `cifar_resnet(depth)` in
/// `../shared/bench/pytorch_baseline.py`).
const CIFAR: [Case; 5] = [
    ("resnet20", ResNetConfig::resnet20, 269_722),
    ("resnet32", ResNetConfig::resnet32, 464_154),
    ("resnet44", ResNetConfig::resnet44, 658_586),
    ("resnet56", ResNetConfig::resnet56, 853_018),
    ("resnet110", ResNetConfig::resnet110, 1_727_962),
];

#[test]
fn shape_only_counts_match_the_tables() {
    for (name, make, expected) in IMAGENET {
        assert_eq!(make(1000).num_parameters(), expected, "{name}");
    }
    for (name, make, expected) in CIFAR {
        assert_eq!(make(10).num_parameters(), expected, "{name}");
    }
}

/// Building the networks (60–69 M kaiming draws for the largest, well under a second each at
/// the test profile's opt-level 2) gives the same counts as the shape-only formula. One test,
/// sequential, so that at most one large network is alive at a time.
#[test]
fn built_networks_have_the_table_counts() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    for (name, make, expected) in IMAGENET {
        let net = make(1000).init(&mut rng).expect("valid config");
        assert_eq!(net.num_parameters(), expected, "{name}");
    }
    for (name, make, expected) in CIFAR {
        let net = make(10).init(&mut rng).expect("valid config");
        assert_eq!(net.num_parameters(), expected, "{name}");
    }
}

#[test]
fn variants_count_what_they_add_or_remove() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    // Option B adds two projections to ResNet-20: 16→32 (1×1 conv 512 + BN 64) and 32→64
    // (2048 + 128).
    let b = ResNetConfig::resnet20(10).with_shortcut(ShortcutKind::Projection);
    assert_eq!(b.num_parameters(), 269_722 + 576 + 2_176);
    // Plain twins drop the projections: ResNet-34 has three (64→128, 128→256, 256→512),
    // 8,192 + 256, 32,768 + 512, 131,072 + 1,024 parameters.
    let plain = ResNetConfig::plain34(1000);
    assert_eq!(
        plain.num_parameters(),
        21_797_672 - (8_448 + 33_280 + 132_096)
    );
    // Option A ResNets and their plain twins have the same parameters.
    assert_eq!(
        ResNetConfig::plain56(10).num_parameters(),
        ResNetConfig::resnet56(10).num_parameters()
    );
    // GroupNorm has the same γ, β as BatchNorm; no normalization drops them and adds biases.
    let gn = ResNetConfig::resnet18(1000).with_norm(Norm::Group);
    assert_eq!(gn.num_parameters(), 11_689_512);
    for cfg in [
        plain,
        b,
        ResNetConfig::resnet20(10).with_norm(Norm::None),
        ResNetConfig::plain20(10).with_norm(Norm::None),
        ResNetConfig::resnet20(10).with_norm(Norm::Group),
    ] {
        let net = cfg.init(&mut rng).expect("valid config");
        assert_eq!(net.num_parameters(), cfg.num_parameters(), "{cfg:?}");
    }
    // Without normalization each conv has a bias instead of γ and β: ResNet-20 has 19 convs
    // + per conv (bias C) vs per norm (2C), so exactly the total norm width is removed.
    let with_bn = ResNetConfig::resnet20(10).num_parameters();
    let without = ResNetConfig::resnet20(10)
        .with_norm(Norm::None)
        .num_parameters();
    let norm_channels = 16 + 6 * 16 + 6 * 32 + 6 * 64;
    assert_eq!(with_bn - without, norm_channels);
}

#[test]
fn invalid_configs_are_errors() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut err = |c: ResNetConfig| c.init(&mut rng).err().map(|e| e.to_string());
    assert!(
        err(ResNetConfig::resnet18(10).with_groups(32))
            .is_some_and(|e| e.contains("BasicBlock only supports groups = 1"))
    );
    assert!(
        err(ResNetConfig::resnet50(10).with_width_per_group(0))
            .is_some_and(|e| e.contains("bottleneck width"))
    );
    assert!(err(ResNetConfig::resnet50(0)).is_some_and(|e| e.contains("num_classes")));
    let mut c = ResNetConfig::resnet20(10);
    c.widths = vec![16, 8, 4];
    assert!(err(c).is_some_and(|e| e.contains("option A")));
    let mut c = ResNetConfig::resnet20(10);
    c.layers.pop();
    assert!(err(c).is_some_and(|e| e.contains("2 stage depths but 3 stage widths")));
    assert!(ResNetConfig::cifar(110, 10).is_ok_and(|c| c == ResNetConfig::resnet110(10)));
    assert!(ResNetConfig::cifar(2, 10).is_err());
}

#[test]
fn depth_counts_weighted_layers() {
    assert_eq!(ResNetConfig::resnet18(10).depth(), 18);
    assert_eq!(ResNetConfig::resnet34(10).depth(), 34);
    assert_eq!(ResNetConfig::resnet50(10).depth(), 50);
    assert_eq!(ResNetConfig::resnet152(10).depth(), 152);
    assert_eq!(ResNetConfig::resnet110(10).depth(), 110);
    assert_eq!(ResNetConfig::plain56(10).depth(), 56);
}
