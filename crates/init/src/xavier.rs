//! Xavier/Glorot initialization (Glorot & Bengio, 2010), `torch.nn.init.xavier_*_`.
//!
//! For a linear (or tanh-near-zero) network, the forward pass keeps Var\[a\] when
//! fan_in·Var\[W\] = 1 and the backward pass keeps Var\[∂L/∂a\] when fan_out·Var\[W\] = 1.
//! Glorot's compromise is the harmonic mean:
//!
//! Var\[W\] = gain² · 2 / (fan_in + fan_out),
//!
//! i.e. std = gain·√(2/(fan_in + fan_out)) for N(0, std) (std, not the variance), and
//! U(−√3·std, +√3·std) for the uniform variant, since U(−r, r) has variance r²/3.

use crate::basic::{normal_checked, numel, uniform_checked};
use crate::fan::fans;
use gradflow_tensor::Tensor;
use rand::Rng;

/// std = gain·√(2 / (fan_in + fan_out)) for `shape`, or 0 for a zero-element shape.
#[track_caller]
fn xavier_std(op: &str, shape: &[usize], gain: f64) -> f64 {
    assert!(
        gain.is_finite(),
        "{op}: gain {gain} is not finite for shape {shape:?}"
    );
    let (fan_in, fan_out) = fans(op, shape);
    if numel(shape) == 0 {
        return 0.0;
    }
    gain * (2.0 / (fan_in + fan_out) as f64).sqrt()
}

/// Glorot uniform: U(−r, r) with r = gain·√(6 / (fan_in + fan_out)).
///
/// Use with tanh (`gain = calculate_gain(Tanh)` = 5/3 in PyTorch's convention, 1 in the
/// paper), sigmoid or linear layers. See [`crate::fan_in_and_fan_out`] for the fans.
///
/// ```
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let w = gradflow_init::xavier_uniform(&[30, 20], 1.0, &mut rng);
/// let r = (6.0f32 / 50.0).sqrt();
/// assert!(w.to_vec().iter().all(|v| v.abs() <= r));
/// ```
///
/// # Panics
/// If `shape` has rank < 2 or `gain` is not finite (a negative gain mirrors the range).
#[track_caller]
pub fn xavier_uniform<R: Rng + ?Sized>(shape: &[usize], gain: f64, rng: &mut R) -> Tensor {
    let bound = (3f64.sqrt() * xavier_std("xavier_uniform", shape, gain)).abs();
    uniform_checked("xavier_uniform", shape, -bound, bound, rng)
}

/// Glorot normal: N(0, std) with std = gain·√(2 / (fan_in + fan_out)) — the second argument
/// of N is the standard deviation, as in `rand_distr::Normal`.
///
/// ```
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let w = gradflow_init::xavier_normal(&[200, 300], 1.0, &mut rng);
/// let var = w.var(&[0, 1], 1, false).item();
/// assert!((var / (2.0 / 500.0) - 1.0).abs() < 0.05);
/// ```
///
/// # Panics
/// If `shape` has rank < 2 or `gain` is not finite.
#[track_caller]
pub fn xavier_normal<R: Rng + ?Sized>(shape: &[usize], gain: f64, rng: &mut R) -> Tensor {
    let std = xavier_std("xavier_normal", shape, gain).abs();
    normal_checked("xavier_normal", shape, 0.0, std, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn bound_is_reached_and_respected() {
        let mut rng = StdRng::seed_from_u64(5);
        let w = xavier_uniform(&[64, 32, 3, 3], 2.0, &mut rng).to_vec();
        let r = 2.0 * (6.0f32 / ((32 + 64) * 9) as f32).sqrt();
        let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(max <= r && max > 0.99 * r, "max |w| = {max}, bound {r}");
    }

    #[test]
    fn empty_shape_is_a_no_op() {
        let mut rng = StdRng::seed_from_u64(5);
        assert_eq!(xavier_normal(&[0, 3], 1.0, &mut rng).shape(), &[0, 3]);
    }

    #[test]
    #[should_panic(
        expected = "xavier_uniform: fan in and fan out can not be computed for a weight of shape [7]"
    )]
    fn rank_one_panics() {
        xavier_uniform(&[7], 1.0, &mut StdRng::seed_from_u64(0));
    }
}
