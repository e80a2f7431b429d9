//! PyTorch's default parameter initialization for `nn.Linear` and `nn.ConvNd`
//! (`reset_parameters`).
//!
//! weight: `kaiming_uniform_(w, a = √5)`, i.e. gain = √(2/(1 + 5)) = 1/√3 and
//! bound = √3·gain/√fan_in = 1/√fan_in, so W ~ U(−1/√fan_in, 1/√fan_in) and
//! Var\[W\] = 1/(3·fan_in): a third of LeCun's variance. With ReLU after it this *shrinks*
//! the second moment by 6× per layer (n·Var\[W\]·½ = 1/6), which is harmless for shallow
//! networks and one reason deep plain networks need normalization or He init.
//!
//! bias: U(−1/√fan_in, 1/√fan_in), zeros when fan_in = 0.

use crate::basic::uniform_checked;
use crate::fan::FanMode;
use crate::gain::Nonlinearity;
use crate::kaiming::kaiming_uniform;
use gradflow_tensor::Tensor;
use rand::Rng;

/// PyTorch's default Linear/Conv weight: `kaiming_uniform(a = √5, FanIn, LeakyRelu)`,
/// which is U(−1/√fan_in, 1/√fan_in).
///
/// ```
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let w = gradflow_init::default_weight(&[8, 25], &mut rng); // Linear(25 → 8)
/// assert!(w.to_vec().iter().all(|v| v.abs() <= 0.2));
/// ```
///
/// # Panics
/// If `shape` has rank < 2.
#[track_caller]
pub fn default_weight<R: Rng + ?Sized>(shape: &[usize], rng: &mut R) -> Tensor {
    let a = 5f64.sqrt();
    kaiming_uniform(shape, a, FanMode::FanIn, Nonlinearity::LeakyRelu(None), rng)
}

/// PyTorch's default bias of length `len` for a weight with `fan_in` inputs per output:
/// U(−1/√fan_in, 1/√fan_in), or zeros when `fan_in == 0`.
///
/// Pass `fan_in_and_fan_out(weight_shape).0`; for a grouped convolution that is
/// `in/groups·kh·kw`, as in PyTorch.
///
/// ```
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let b = gradflow_init::default_bias(8, 16, &mut rng);
/// assert_eq!(b.shape(), &[8]);
/// assert!(b.to_vec().iter().all(|v| v.abs() <= 0.25));
/// ```
pub fn default_bias<R: Rng + ?Sized>(len: usize, fan_in: usize, rng: &mut R) -> Tensor {
    let bound = if fan_in > 0 {
        1.0 / (fan_in as f64).sqrt()
    } else {
        0.0
    };
    uniform_checked("default_bias", &[len], -bound, bound, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn weight_bound_is_one_over_sqrt_fan_in() {
        let mut rng = StdRng::seed_from_u64(2);
        // Conv2d(4 → 6, 3×3): fan_in = 36, bound = 1/6.
        let w = default_weight(&[6, 4, 3, 3], &mut rng).to_vec();
        let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(max <= 1.0 / 6.0 + 1e-7 && max > 0.95 / 6.0, "max {max}");
    }

    #[test]
    fn zero_fan_in_bias_is_zero() {
        let mut rng = StdRng::seed_from_u64(2);
        assert_eq!(default_bias(3, 0, &mut rng).to_vec(), vec![0.0; 3]);
    }
}
