//! Kaiming/He initialization (He et al., 2015), `torch.nn.init.kaiming_*_`.
//!
//! With z_l = W_l·a_{l−1} and a_l = f(z_l), zero-mean i.i.d. weights give
//! Var\[z_l\] = n·Var\[W\]·E\[f(z_{l−1})²\]. For ReLU, E\[relu(z)²\] = Var\[z\]/2, so the variance is
//! preserved through any depth exactly when n·Var\[W\] = 2:
//!
//! std = gain / √fan, gain = √2 for ReLU, √(2/(1 + a²)) for leaky ReLU with slope a.
//!
//! `fan = fan_in` preserves the forward activations, `fan = fan_out` the backward gradients.
//! The uniform variant uses U(−√3·std, √3·std), which has the same variance.

use crate::basic::{normal_checked, numel, uniform_checked};
use crate::fan::{FanMode, fan};
use crate::gain::{Nonlinearity, gain_f64};
use gradflow_tensor::Tensor;
use rand::Rng;

/// std = gain / √fan with PyTorch's rule for `a`, or 0 for a zero-element shape.
#[track_caller]
fn kaiming_std(op: &str, shape: &[usize], a: f64, mode: FanMode, nl: Nonlinearity) -> f64 {
    assert!(
        a.is_finite(),
        "{op}: negative slope a = {a} is not finite for shape {shape:?}"
    );
    let fan = fan(op, shape, mode);
    if numel(shape) == 0 {
        return 0.0;
    }
    let gain = match nl {
        Nonlinearity::LeakyRelu(slope) => {
            if let Some(s) = slope {
                assert!(
                    s == a,
                    "{op}: LeakyRelu(Some({s})) disagrees with a = {a} for shape {shape:?}; \
                     kaiming takes the slope from `a` (pass LeakyRelu(None))"
                );
            }
            gain_f64(Nonlinearity::LeakyRelu(Some(a)))
        }
        other => gain_f64(other),
    };
    gain / (fan as f64).sqrt()
}

/// He uniform: U(−bound, bound) with bound = √3·gain/√fan.
///
/// As in PyTorch, `a` is the negative slope of a leaky ReLU and is used only when `nl` is
/// [`Nonlinearity::LeakyRelu`]; then gain = √(2/(1 + a²)), so `a = 0` gives ReLU's √2
/// (PyTorch's defaults are `a = 0, FanIn, LeakyRelu`). For any other `nl`, gain =
/// [`crate::calculate_gain`]`(nl)` and `a` is ignored.
///
/// ```
/// use gradflow_init::{kaiming_uniform, FanMode, Nonlinearity};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// // Conv2d(16 → 32, 3×3) followed by ReLU: fan_in = 16·9 = 144, bound = √3·√2/12.
/// let w = kaiming_uniform(&[32, 16, 3, 3], 0.0, FanMode::FanIn, Nonlinearity::Relu, &mut rng);
/// assert!(w.to_vec().iter().all(|v| v.abs() <= 6f32.sqrt() / 12.0));
/// ```
///
/// # Panics
/// If `shape` has rank < 2, `a` is not finite, or `nl` is `LeakyRelu(Some(s))` with `s != a`
/// (the slope would be ambiguous).
#[track_caller]
pub fn kaiming_uniform<R: Rng + ?Sized>(
    shape: &[usize],
    a: f64,
    mode: FanMode,
    nl: Nonlinearity,
    rng: &mut R,
) -> Tensor {
    let std = kaiming_std("kaiming_uniform", shape, a, mode, nl);
    let bound = 3f64.sqrt() * std;
    uniform_checked("kaiming_uniform", shape, -bound, bound, rng)
}

/// He normal: N(0, std) with std = gain/√fan (a standard deviation); same rule for `a` as
/// [`kaiming_uniform`].
///
/// ```
/// use gradflow_init::{kaiming_normal, FanMode, Nonlinearity};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let w = kaiming_normal(&[400, 100], 0.0, FanMode::FanIn, Nonlinearity::Relu, &mut rng);
/// let var = w.var(&[0, 1], 1, false).item();
/// assert!((var / (2.0 / 100.0) - 1.0).abs() < 0.05);
/// ```
///
/// # Panics
/// As [`kaiming_uniform`].
#[track_caller]
pub fn kaiming_normal<R: Rng + ?Sized>(
    shape: &[usize],
    a: f64,
    mode: FanMode,
    nl: Nonlinearity,
    rng: &mut R,
) -> Tensor {
    kaiming_normal_checked("kaiming_normal", shape, a, mode, nl, rng)
}

/// [`kaiming_normal`] with the calling op's name in the panic messages.
#[track_caller]
pub(crate) fn kaiming_normal_checked<R: Rng + ?Sized>(
    op: &str,
    shape: &[usize],
    a: f64,
    mode: FanMode,
    nl: Nonlinearity,
    rng: &mut R,
) -> Tensor {
    let std = kaiming_std(op, shape, a, mode, nl);
    normal_checked(op, shape, 0.0, std, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn std_follows_pytorch_rule() {
        let s = [10, 5, 2, 2]; // fan_in 20, fan_out 40
        // `a` arrives as f32 (0.2f32 = 0.2000000030), so compare to ~1e-8 relative.
        let close = |x: f64, y: f64| (x - y).abs() < 1e-8 * y;
        let relu = kaiming_std("t", &s, 0.0, FanMode::FanIn, Nonlinearity::Relu);
        assert!(close(relu, (2.0f64 / 20.0).sqrt()));
        // LeakyRelu takes its slope from `a`; a = 0 is ReLU's gain, not 0.01's.
        let leaky0 = kaiming_std("t", &s, 0.0, FanMode::FanIn, Nonlinearity::LeakyRelu(None));
        assert!(close(leaky0, relu));
        let leaky = kaiming_std("t", &s, 0.2, FanMode::FanOut, Nonlinearity::LeakyRelu(None));
        assert!(close(leaky, (2.0f64 / 1.04 / 40.0).sqrt()));
        let same = kaiming_std(
            "t",
            &s,
            0.2,
            FanMode::FanOut,
            Nonlinearity::LeakyRelu(Some(0.2)),
        );
        assert!(close(same, leaky));
        // `a` is ignored for other nonlinearities.
        let tanh = kaiming_std("t", &s, 3.0, FanMode::FanIn, Nonlinearity::Tanh);
        assert!(close(tanh, 5.0 / 3.0 / 20f64.sqrt()));
    }

    #[test]
    #[should_panic(expected = "kaiming_normal: LeakyRelu(Some(0.1)) disagrees with a = 0")]
    fn ambiguous_slope_panics() {
        let nl = Nonlinearity::LeakyRelu(Some(0.1));
        kaiming_normal(
            &[2, 2],
            0.0,
            FanMode::FanIn,
            nl,
            &mut StdRng::seed_from_u64(0),
        );
    }

    #[test]
    fn empty_shape_is_a_no_op() {
        let mut rng = StdRng::seed_from_u64(0);
        let w = kaiming_uniform(
            &[0, 4, 3],
            0.0,
            FanMode::FanOut,
            Nonlinearity::Relu,
            &mut rng,
        );
        assert_eq!(w.shape(), &[0, 4, 3]);
    }
}
