//! Property tests: each layer computes what its doc formula says, on random shapes and values.

use gradflow_layers::{
    AdaptiveAvgPool2d, AvgPool2d, Conv2d, Conv2dConfig, DropoutConfig, Embedding, Flatten, Linear,
    LinearConfig, MaxPool2d, Module, Residual, Sequential,
};
use gradflow_tensor::{Conv2dParams, Tensor};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, 0.0, 1.0, &mut StdRng::seed_from_u64(seed))
}

fn close(a: &[f32], b: &[f32], tol: f32) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        prop_assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "element {}: {} vs {}",
            i,
            x,
            y
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// y[n, o] = Σ_i x[n, i]·W[o, i] + b[o], computed naively in f64.
    #[test]
    fn linear_is_x_wt_plus_b(n in 1usize..5, i in 1usize..7, o in 1usize..6, seed in 0u64..1000, bias in any::<bool>()) {
        let (x, w, b) = (randn(&[n, i], seed), randn(&[o, i], seed + 1), randn(&[o], seed + 2));
        let fc = Linear::from_tensors(w.clone(), bias.then(|| b.clone()));
        let y = fc.forward(&x).to_vec();
        let (xv, wv, bv) = (x.to_vec(), w.to_vec(), b.to_vec());
        let mut want = vec![0f32; n * o];
        for r in 0..n {
            for c in 0..o {
                let mut s = if bias { bv[c] as f64 } else { 0.0 };
                for k in 0..i {
                    s += xv[r * i + k] as f64 * wv[c * i + k] as f64;
                }
                want[r * o + c] = s as f32;
            }
        }
        close(&y, &want, 1e-5)?;
    }

    /// Leading dimensions are batch dimensions: Linear on [a, b, in] = Linear on [a·b, in].
    #[test]
    fn linear_maps_rows_independently(a in 1usize..4, bdim in 1usize..4, i in 1usize..5, seed in 0u64..1000) {
        let mut rng = StdRng::seed_from_u64(seed);
        let fc = LinearConfig::new(i, 3).init(&mut rng);
        let x = randn(&[a, bdim, i], seed + 7);
        let y3 = fc.forward(&x);
        prop_assert_eq!(y3.shape(), &[a, bdim, 3]);
        let y2 = fc.forward(&x.reshape(&[a * bdim, i]));
        close(&y3.to_vec(), &y2.to_vec(), 1e-6)?;
    }

    /// A 1×1 convolution is a Linear layer over channels at every pixel.
    #[test]
    fn conv_1x1_is_linear_over_channels(c in 1usize..4, o in 1usize..4, h in 1usize..4, w in 1usize..4, seed in 0u64..1000) {
        let (x, wt, b) = (randn(&[2, c, h, w], seed), randn(&[o, c, 1, 1], seed + 1), randn(&[o], seed + 2));
        let conv = Conv2d::from_tensors(wt.clone(), Some(b.clone()), Conv2dParams::default());
        let fc = Linear::from_tensors(wt.reshape(&[o, c]), Some(b));
        let via_conv = conv.forward(&x).permute(&[0, 2, 3, 1]).contiguous();
        let via_linear = fc.forward(&x.permute(&[0, 2, 3, 1]));
        close(&via_conv.to_vec(), &via_linear.to_vec(), 1e-5)?;
    }

    /// Groups = G is G independent convolutions on channel slices, concatenated.
    #[test]
    fn grouped_conv_is_concatenated_convs(g in 1usize..4, cpg in 1usize..3, opg in 1usize..3, seed in 0u64..1000) {
        let (c, o) = (g * cpg, g * opg);
        let x = randn(&[1, c, 5, 4], seed);
        let w = randn(&[o, cpg, 3, 3], seed + 1);
        let p = Conv2dParams::new(1, 1, 1);
        let whole = Conv2d::from_tensors(w.clone(), None, p.with_groups(g)).forward(&x);
        let parts: Vec<Tensor> = (0..g)
            .map(|k| Conv2d::from_tensors(w.narrow(0, k * opg, opg), None, p).forward(&x.narrow(1, k * cpg, cpg)))
            .collect();
        let refs: Vec<&Tensor> = parts.iter().collect();
        close(&whole.to_vec(), &Tensor::concat(&refs, 1).to_vec(), 1e-5)?;
    }

    /// Output sizes follow ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1.
    #[test]
    fn conv_output_shape(h in 3usize..10, k in 1usize..4, s in 1usize..3, p in 0usize..2, d in 1usize..3) {
        prop_assume!(h + 2 * p > d * (k - 1));
        let mut rng = StdRng::seed_from_u64(0);
        let conv = Conv2dConfig::new(2, 3, k).with_stride(s).with_padding(p).with_dilation(d).init(&mut rng);
        let oh = (h + 2 * p - d * (k - 1) - 1) / s + 1;
        let y = conv.forward(&Tensor::zeros(&[1, 2, h, h]));
        prop_assert_eq!(y.shape(), &[1, 3, oh, oh]);
    }

    /// Global adaptive pooling is the mean over H and W; max pooling bounds average pooling.
    #[test]
    fn pools_agree_with_reductions(h in 2usize..7, w in 2usize..7, seed in 0u64..1000) {
        let x = randn(&[2, 3, h, w], seed);
        let gap = AdaptiveAvgPool2d::new(1).forward(&x);
        close(&gap.to_vec(), &x.mean(&[2, 3], true).to_vec(), 1e-5)?;
        let mx = MaxPool2d::new(2).forward(&x).to_vec();
        let av = AvgPool2d::new(2).forward(&x).to_vec();
        for (m, a) in mx.iter().zip(&av) {
            prop_assert!(m + 1e-6 >= *a);
        }
    }

    /// Flatten keeps the values and the batch dimension.
    #[test]
    fn flatten_keeps_values(dims in proptest::collection::vec(1usize..4, 2..5), seed in 0u64..1000) {
        let x = randn(&dims, seed);
        let y = Flatten::new().forward(&x);
        prop_assert_eq!(y.shape(), &[dims[0], dims[1..].iter().product::<usize>()]);
        prop_assert_eq!(y.to_vec(), x.to_vec());
    }

    /// Inverted dropout: each output is 0 or x/(1 − p); eval mode is the identity.
    #[test]
    fn dropout_outputs_are_zero_or_scaled(p in 0.0f32..0.95, seed in 0u64..1000) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut drop = DropoutConfig::new(f64::from(p)).init(&mut rng);
        let x = randn(&[50], seed + 1);
        let y = drop.forward(&x).to_vec();
        for (yi, xi) in y.iter().zip(x.to_vec()) {
            prop_assert!(*yi == 0.0 || (yi - xi / (1.0 - p)).abs() <= 1e-5 * (1.0 + yi.abs()));
        }
        drop.eval();
        prop_assert_eq!(drop.forward(&x).to_vec(), x.to_vec());
    }

    /// Embedding lookup returns the table's rows.
    #[test]
    fn embedding_returns_rows(ids in proptest::collection::vec(0usize..6, 0..10), seed in 0u64..1000) {
        let table = randn(&[6, 3], seed);
        let emb = Embedding::from_tensor(table.clone());
        let y = emb.lookup(&ids);
        prop_assert_eq!(y.shape(), &[ids.len(), 3]);
        for (r, &id) in ids.iter().enumerate() {
            for c in 0..3 {
                prop_assert_eq!(y.get(&[r, c]), table.get(&[id, c]));
            }
        }
    }

    /// Residual: α = 0 is the identity; in general y − x = α·f(x).
    #[test]
    fn residual_adds_scaled_branch(alpha in -2.0f32..2.0, seed in 0u64..1000) {
        let mut rng = StdRng::seed_from_u64(seed);
        let f = LinearConfig::new(4, 4).init(&mut rng);
        let x = randn(&[3, 4], seed + 1);
        let fx = f.forward(&x).to_vec();
        let y = Residual::new(f.clone()).with_scale(f64::from(alpha)).forward(&x).to_vec();
        let want: Vec<f32> = x.to_vec().iter().zip(&fx).map(|(a, b)| a + alpha * b).collect();
        close(&y, &want, 1e-5)?;
        let id = Residual::new(f).with_learned_scale(0.0).forward(&x).to_vec();
        prop_assert_eq!(id, x.to_vec());
    }
}

#[test]
fn dropout_preserves_the_mean_and_drops_at_rate_p() {
    let mut rng = StdRng::seed_from_u64(11);
    let drop = DropoutConfig::new(0.3).init(&mut rng);
    let y = drop.forward(&Tensor::ones(&[20_000])).to_vec();
    let zeros = y.iter().filter(|&&v| v == 0.0).count() as f32 / y.len() as f32;
    let mean = y.iter().sum::<f32>() / y.len() as f32;
    // Binomial std of the rate: √(0.3·0.7/20000) ≈ 0.0032; allow 5σ.
    assert!((zeros - 0.3).abs() < 0.016, "drop rate {zeros}");
    assert!((mean - 1.0).abs() < 0.025, "mean {mean}");
}

#[test]
fn dropout_layers_from_one_rng_draw_different_masks_and_seeds_reproduce() {
    let x = Tensor::ones(&[64]);
    let mut rng = StdRng::seed_from_u64(3);
    let (a, b) = (
        DropoutConfig::new(0.5).init(&mut rng),
        DropoutConfig::new(0.5).init(&mut rng),
    );
    assert_ne!(a.forward(&x).to_vec(), b.forward(&x).to_vec());
    let again = DropoutConfig::new(0.5).init(&mut StdRng::seed_from_u64(3));
    let first = DropoutConfig::new(0.5).init(&mut StdRng::seed_from_u64(3));
    assert_eq!(first.forward(&x).to_vec(), again.forward(&x).to_vec());
    // Each call draws a fresh mask.
    assert_ne!(first.forward(&x).to_vec(), first.forward(&x).to_vec());
}

#[test]
fn sequential_propagates_mode_and_names_children_by_position() {
    let mut rng = StdRng::seed_from_u64(4);
    let mut model = Sequential::new()
        .with(LinearConfig::new(8, 8).init(&mut rng))
        .with(DropoutConfig::new(0.9).init(&mut rng))
        .with(Residual::new(
            Sequential::new().with(DropoutConfig::new(0.9).init(&mut rng)),
        ));
    let x = Tensor::ones(&[4, 8]);
    model.eval();
    let y1 = model.forward(&x).to_vec();
    assert_eq!(
        y1,
        model.forward(&x).to_vec(),
        "eval mode must be deterministic"
    );
    model.train();
    assert_ne!(model.forward(&x).to_vec(), model.forward(&x).to_vec());
    let names: Vec<String> = model.state_dict().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["0.weight", "0.bias"]);
    assert!(Sequential::new().forward(&x).to_vec() == x.to_vec());
}

/// The variance argument in `Residual`'s docs, measured: with a variance-preserving branch,
/// α = 1 doubles the signal's second moment per block, α = 1/√L keeps it bounded by e.
#[test]
fn residual_scaling_controls_forward_variance_growth() {
    let depth = 12;
    let width = 256;
    let second_moment = |alpha: f32| {
        let mut rng = StdRng::seed_from_u64(5);
        let mut model = Sequential::new();
        for _ in 0..depth {
            // A linear branch with Var(W) = 1/width preserves variance: Var(Wx) ≈ Var(x).
            let w = Tensor::randn(&[width, width], 0.0, 1.0 / (width as f32).sqrt(), &mut rng);
            model.push(Residual::new(Linear::from_tensors(w, None)).with_scale(f64::from(alpha)));
        }
        let y = model
            .forward(&Tensor::randn(&[64, width], 0.0, 1.0, &mut rng))
            .to_vec();
        y.iter().map(|v| v * v).sum::<f32>() / y.len() as f32
    };
    let plain = second_moment(1.0);
    let scaled = second_moment(1.0 / (depth as f32).sqrt());
    // Theory: 2^12 = 4096 and (1 + 1/12)^12 ≈ 2.61.
    assert!(plain > 2000.0 && plain < 8000.0, "α = 1: {plain}");
    assert!(scaled > 1.8 && scaled < 3.6, "α = 1/√L: {scaled}");
}
