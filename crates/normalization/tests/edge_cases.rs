//! Edge cases: large offsets, constant sets, NaN propagation, empty batches.

use gradflow_normalization::{BatchNorm1d, batch_norm, group_norm, layer_norm};
use gradflow_tensor::{Module, Tensor};

/// x = 1000 + 0.01·k: a naive one-pass Σx² − (Σx)²/n in f32 would return garbage (the
/// variance is 10⁻⁴ of a 10⁶ mean square), and even a correct μ rounded to f32 (½ulp = 3·10⁻⁵)
/// would shift x̂ by 1.3·10⁻³. Shifted f64 sums plus a two-float μ recover x̂ to a few ulps.
#[test]
fn large_offset_small_spread() {
    let v: Vec<f32> = (0..8).map(|k| 1000.0 + 0.01 * k as f32).collect();
    let x = Tensor::from_vec(v.clone(), &[8, 1]);
    let y = batch_norm(&x, None, None, None, None, true, 0.1, 0.0).to_vec();
    let vd: Vec<f64> = v.iter().map(|&a| a as f64).collect();
    let m = vd.iter().sum::<f64>() / 8.0;
    let s = (vd.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / 8.0).sqrt();
    for (k, (&yk, &xk)) in y.iter().zip(&vd).enumerate() {
        let want = (xk - m) / s;
        assert!(
            (yk as f64 - want).abs() < 4e-6,
            "element {k}: {yk} vs {want}"
        );
    }
}

#[test]
fn constant_channel_normalizes_to_beta_and_gets_zero_variance() {
    let bn = BatchNorm1d::new(2);
    let x = Tensor::from_vec(vec![5.0, 1.0, 5.0, 2.0, 5.0, 4.0], &[3, 2]);
    let y = bn.forward(&x);
    for i in 0..3 {
        assert_eq!(y.get(&[i, 0]), 0.0, "x̂ = 0/√ε must be exactly 0");
    }
    let rv = bn.running_var().map(Tensor::to_vec).unwrap_or_default();
    // 0.9·1 + 0.1·0.
    assert!((rv[0] - 0.9).abs() < 1e-6, "{rv:?}");
}

#[test]
fn nan_poisons_only_its_own_set() {
    let mut v: Vec<f32> = (0..12).map(|k| k as f32 * 0.3).collect();
    v[1] = f32::NAN; // sample 0, channel 0 of [2, 2, 3]
    let x = Tensor::from_vec(v, &[2, 2, 3]);
    // GroupNorm with G = C: sets are (sample, channel) rows of 3.
    let y = group_norm(&x, 2, None, None, 1e-5).to_vec();
    assert!(y[..3].iter().all(|v| v.is_nan()), "{y:?}");
    assert!(y[3..].iter().all(|v| v.is_finite()), "{y:?}");
    // BatchNorm: channel 0's outputs and running statistics are NaN, channel 1's are not.
    let bn = BatchNorm1d::new(2);
    let y = bn.forward(&x).to_vec();
    assert!(y[..3].iter().chain(&y[6..9]).all(|v| v.is_nan()));
    assert!(y[3..6].iter().chain(&y[9..]).all(|v| v.is_finite()));
    let rv = bn.running_var().map(Tensor::to_vec).unwrap_or_default();
    assert!(rv[0].is_nan() && rv[1].is_finite(), "{rv:?}");
}

#[test]
fn empty_batch_layer_and_group_norm() {
    let x = Tensor::zeros(&[0, 4]);
    assert_eq!(layer_norm(&x, &[4], None, None, 1e-5).shape(), &[0, 4]);
    let x = Tensor::zeros(&[0, 4, 3]);
    assert_eq!(group_norm(&x, 2, None, None, 1e-5).shape(), &[0, 4, 3]);
}

#[test]
#[should_panic(expected = "batch_norm: expected more than 1 value per channel")]
fn empty_batch_batch_norm_training_panics() {
    batch_norm(
        &Tensor::zeros(&[0, 3]),
        None,
        None,
        None,
        None,
        true,
        0.1,
        1e-5,
    );
}

#[test]
#[should_panic(expected = "batch_norm: evaluation mode (training = false) needs running_mean")]
fn eval_without_running_stats_panics() {
    batch_norm(
        &Tensor::ones(&[2, 3]),
        None,
        None,
        None,
        None,
        false,
        0.1,
        1e-5,
    );
}

#[test]
#[should_panic(expected = "batch_norm: weight of shape [2] does not have C = 3 elements")]
fn weight_size_mismatch_panics() {
    let w = Tensor::ones(&[2]);
    batch_norm(
        &Tensor::ones(&[2, 3]),
        None,
        None,
        Some(&w),
        None,
        true,
        0.1,
        1e-5,
    );
}
