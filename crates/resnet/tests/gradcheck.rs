//! Central-difference gradient checks of a tiny BasicBlock and a tiny Bottleneck, with respect to
//! the input and every parameter (convolutions, BatchNorm γ and β, the projection shortcut),
//! in training mode (batch statistics), through `gradflow_tensor::gradcheck` and its
//! f32-derived tolerances.
//!
//! ReLU has a kink at 0 where central differences are meaningless; each check first asserts
//! that every ReLU input at the test point is at least `MARGIN` away from 0, far more than a
//! step of h ≈ 5e-3·max(1, |θ|) in one coordinate can move it (|∂z/∂θ| is O(1) here), so the
//! finite differences never straddle a kink. The test point is the first seed that satisfies
//! this (a pure function of the seed, so the test is deterministic).

use gradflow_layers::Conv2d;
use gradflow_normalization::{BatchNorm2d, BatchNormConfig};
use gradflow_resnet::{
    BasicBlock, BlockOptions, Bottleneck, Downsample, NormLayer, PadShortcut, Shortcut,
    ShortcutKind,
};
use gradflow_tensor::{GradCheck, Module, Tensor, gradcheck};
use rand::SeedableRng;
use rand::rngs::StdRng;

const MARGIN: f32 = 0.03;

/// A BatchNorm2d whose γ and β are the given tensors.
fn bn(gamma: &Tensor, beta: &Tensor) -> NormLayer {
    let c = gamma.numel();
    NormLayer::Batch(BatchNorm2d::from_tensors(
        BatchNormConfig::new(c),
        Some((gamma.clone(), beta.clone())),
        Some((Tensor::zeros(&[c]), Tensor::ones(&[c]))),
    ))
}

/// The conv `c` with its weight replaced by `w`.
fn conv_like(c: &Conv2d, w: &Tensor) -> Conv2d {
    Conv2d::from_tensors(w.clone(), None, c.params())
}

/// `(x, conv1, γ1, β1, conv2, γ2, β2, …)` in the block's parameter order, with γ, β random
/// (as in the fixtures) so that the affine backward is exercised.
fn inputs(block: &dyn Module, x: Tensor, rng: &mut StdRng) -> Vec<Tensor> {
    let mut out = vec![x];
    for (name, p) in block.named_parameters() {
        let v = if name.ends_with("bn1.weight")
            || name.ends_with("bn2.weight")
            || name.ends_with("bn3.weight")
            || name.ends_with("downsample.1.weight")
        {
            Tensor::rand(p.shape(), 0.5, 1.5, rng)
        } else if name.ends_with("bias") {
            Tensor::rand(p.shape(), -0.2, 0.2, rng)
        } else {
            p.detach()
        };
        out.push(v);
    }
    out
}

fn min_abs(t: &Tensor) -> f32 {
    t.to_vec().iter().fold(f32::INFINITY, |m, v| m.min(v.abs()))
}

fn basic_from(t: &[Tensor], template: &BasicBlock) -> BasicBlock {
    let shortcut = match &template.shortcut {
        Shortcut::Projection(d) => Shortcut::Projection(Downsample {
            conv: conv_like(&d.conv, &t[7]),
            norm: bn(&t[8], &t[9]),
        }),
        _ => unreachable!("the test block has a projection"),
    };
    BasicBlock {
        conv1: conv_like(&template.conv1, &t[1]),
        bn1: bn(&t[2], &t[3]),
        conv2: conv_like(&template.conv2, &t[4]),
        bn2: bn(&t[5], &t[6]),
        shortcut,
    }
}

/// The first seed whose test point keeps every ReLU input `MARGIN` away from its kink.
fn kink_free_point<T>(make: impl Fn(&mut StdRng) -> Option<T>) -> T {
    (0..1000u64)
        .find_map(|seed| make(&mut StdRng::seed_from_u64(seed)))
        .expect("no kink-free test point among 1000 seeds")
}

#[test]
fn basic_block_gradcheck() {
    let (template, t) = kink_free_point(|rng| {
        // 2 → 3 channels with stride 2: both convs, both BNs and the projection are used.
        let template = BasicBlock::new(2, 3, 2, &BlockOptions::default(), rng);
        let x = Tensor::randn(&[2, 2, 4, 4], 0.0, 1.0, rng);
        let t = inputs(&template, x, rng);
        let b = basic_from(&t, &template);
        let z1 = b.bn1.forward(&b.conv1.forward(&t[0]));
        let z2 = b.branch(&t[0]).add(&b.shortcut.apply(&t[0])?);
        (min_abs(&z1) > MARGIN && min_abs(&z2) > MARGIN).then_some((template, t))
    });
    assert_eq!(t.len(), 10);
    let report = gradcheck(
        |t| basic_from(t, &template).forward(&t[0]),
        &t,
        GradCheck::default(),
    );
    assert!(report.passed, "{report}");
}

fn bottleneck_from(t: &[Tensor], template: &Bottleneck) -> Bottleneck {
    let shortcut = match &template.shortcut {
        Shortcut::Projection(d) => Shortcut::Projection(Downsample {
            conv: conv_like(&d.conv, &t[10]),
            norm: bn(&t[11], &t[12]),
        }),
        _ => unreachable!("the test block has a projection"),
    };
    Bottleneck {
        conv1: conv_like(&template.conv1, &t[1]),
        bn1: bn(&t[2], &t[3]),
        conv2: conv_like(&template.conv2, &t[4]),
        bn2: bn(&t[5], &t[6]),
        conv3: conv_like(&template.conv3, &t[7]),
        bn3: bn(&t[8], &t[9]),
        shortcut,
    }
}

#[test]
fn bottleneck_gradcheck() {
    // 4 → 2 planes (width 2, out 8), stride 2 on the 3×3, projection shortcut.
    let options = BlockOptions {
        shortcut: ShortcutKind::Projection,
        ..BlockOptions::default()
    };
    let (template, t) = kink_free_point(|rng| {
        let template = Bottleneck::new(4, 2, 2, &options, rng);
        let x = Tensor::randn(&[2, 4, 4, 4], 0.0, 1.0, rng);
        let t = inputs(&template, x, rng);
        let b = bottleneck_from(&t, &template);
        let z1 = b.bn1.forward(&b.conv1.forward(&t[0]));
        let z2 = b
            .bn2
            .forward(&b.conv2.forward(&gradflow_activations::relu(&z1)));
        let z3 = b.branch(&t[0]).add(&b.shortcut.apply(&t[0])?);
        [z1, z2, z3]
            .iter()
            .all(|z| min_abs(z) > MARGIN)
            .then_some((template, t))
    });
    assert_eq!(t.len(), 13);
    let report = gradcheck(
        |t| bottleneck_from(t, &template).forward(&t[0]),
        &t,
        GradCheck::default(),
    );
    assert!(report.passed, "{report}");
}

/// Option A is linear (subsample, then concatenate zeros), so its backward must be the exact
/// transpose: the kept pixels' gradients scattered back, the padded channels' dropped.
#[test]
fn pad_shortcut_gradcheck() {
    let mut rng = StdRng::seed_from_u64(4);
    for (cin, cout, stride, h, w) in [(2, 5, 2, 5, 4), (3, 3, 2, 4, 4), (1, 4, 1, 3, 2)] {
        let a = PadShortcut::new(cin, cout, stride);
        let x = Tensor::randn(&[2, cin, h, w], 0.0, 1.0, &mut rng);
        let report = gradcheck(|t| a.forward(&t[0]), &[x], GradCheck::default());
        assert!(report.passed, "{cin}→{cout}/{stride}: {report}");
    }
}
