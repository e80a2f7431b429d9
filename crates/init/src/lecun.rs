//! LeCun initialization (LeCun et al., 1998, "Efficient BackProp"): Var\[W\] = 1/fan_in.
//!
//! The variance-preserving choice for a layer whose activation keeps E\[f(z)²\] ≈ Var\[z\],
//! which is what SELU's self-normalizing fixed point (mean 0, variance 1) assumes
//! (Klambauer et al., 2017). It equals `kaiming_normal(a, FanIn, Linear)`, PyTorch's
//! recommendation for SELU networks.

use crate::fan::FanMode;
use crate::gain::Nonlinearity;
use crate::kaiming::kaiming_normal_checked;
use gradflow_tensor::Tensor;
use rand::Rng;

/// LeCun normal: N(0, std) with std = 1/√fan_in.
///
/// Keras and JAX's `lecun_normal` draw the same variance from a normal truncated at ±2σ
/// (rescaled by 1/0.8796); this is the untruncated form, as PyTorch's
/// `kaiming_normal_(w, nonlinearity="linear")`.
///
/// ```
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let w = gradflow_init::lecun_normal(&[500, 50], &mut rng);
/// let var = w.var(&[0, 1], 1, false).item();
/// assert!((var * 50.0 - 1.0).abs() < 0.05);
/// ```
///
/// # Panics
/// If `shape` has rank < 2.
#[track_caller]
pub fn lecun_normal<R: Rng + ?Sized>(shape: &[usize], rng: &mut R) -> Tensor {
    kaiming_normal_checked(
        "lecun_normal",
        shape,
        0.0,
        FanMode::FanIn,
        Nonlinearity::Linear,
        rng,
    )
}
