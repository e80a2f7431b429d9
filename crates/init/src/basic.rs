//! The plain distributions every other initializer is built from: U(low, high),
//! N(mean, std²) and constants (`torch.nn.init.uniform_`, `normal_`, `constant_`, `zeros_`,
//! `ones_`).
//!
//! Notation: N(μ, σ) in the literature sometimes names the variance; here, as in
//! `rand_distr::Normal::new(mean, std)` and `torch.nn.init.normal_(mean, std)`, the second
//! argument is always the **standard deviation**.

use gradflow_tensor::Tensor;
use rand::Rng;

/// Samples of U(low, high), each element independent.
///
/// Mean (low + high)/2, variance (high − low)²/12. `low == high` gives the constant `low`
/// (as `torch.nn.init.uniform_`); a zero-element shape gives an empty tensor and draws nothing.
///
/// ```
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let w = gradflow_init::uniform(&[3, 4], -0.5, 0.5, &mut rng);
/// assert_eq!(w.shape(), &[3, 4]);
/// assert!(w.to_vec().iter().all(|v| (-0.5..=0.5).contains(v)));
/// ```
///
/// # Panics
/// If `low > high` or either bound is not finite.
#[track_caller]
pub fn uniform<R: Rng + ?Sized>(shape: &[usize], low: f64, high: f64, rng: &mut R) -> Tensor {
    uniform_checked("uniform", shape, low, high, rng)
}

/// [`uniform`] with the calling op's name in the panic message.
#[track_caller]
pub(crate) fn uniform_checked<R: Rng + ?Sized>(
    op: &str,
    shape: &[usize],
    low: f64,
    high: f64,
    rng: &mut R,
) -> Tensor {
    assert!(
        low.is_finite() && high.is_finite() && low <= high,
        "{op}: bad range [{low}, {high}] for shape {shape:?}: need finite low <= high"
    );
    // Hyperparameters are f64 (as PyTorch's Python floats); the samples are f32.
    let (low, high) = (low as f32, high as f32);
    if low == high || numel(shape) == 0 {
        return Tensor::full(shape, low);
    }
    Tensor::rand(shape, low, high, rng)
}

/// Samples of N(mean, std²): `std` is the standard deviation, not the variance.
///
/// `std == 0` gives the constant `mean`; a zero-element shape gives an empty tensor.
///
/// ```
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let w = gradflow_init::normal(&[1000], 1.0, 0.0, &mut rng);
/// assert!(w.to_vec().iter().all(|&v| v == 1.0));
/// ```
///
/// # Panics
/// If `std` is negative or either parameter is not finite.
#[track_caller]
pub fn normal<R: Rng + ?Sized>(shape: &[usize], mean: f64, std: f64, rng: &mut R) -> Tensor {
    normal_checked("normal", shape, mean, std, rng)
}

/// [`normal`] with the calling op's name in the panic message.
#[track_caller]
pub(crate) fn normal_checked<R: Rng + ?Sized>(
    op: &str,
    shape: &[usize],
    mean: f64,
    std: f64,
    rng: &mut R,
) -> Tensor {
    assert!(
        mean.is_finite() && std.is_finite() && std >= 0.0,
        "{op}: bad N(mean = {mean}, std = {std}) for shape {shape:?}: need finite mean and \
         finite std >= 0"
    );
    // Hyperparameters are f64 (as PyTorch's Python floats); the samples are f32.
    let (mean, std) = (mean as f32, std as f32);
    if std == 0.0 || numel(shape) == 0 {
        return Tensor::full(shape, mean);
    }
    Tensor::randn(shape, mean, std, rng)
}

/// A tensor filled with `value` (`torch.nn.init.constant_`).
///
/// ```
/// assert_eq!(gradflow_init::constant(&[2], 0.1).to_vec(), vec![0.1, 0.1]);
/// ```
pub fn constant(shape: &[usize], value: f32) -> Tensor {
    Tensor::full(shape, value)
}

/// All zeros (`torch.nn.init.zeros_`), the usual bias initialization.
///
/// ```
/// assert_eq!(gradflow_init::zeros(&[3]).to_vec(), vec![0.0; 3]);
/// ```
pub fn zeros(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape)
}

/// All ones (`torch.nn.init.ones_`), the usual normalization scale γ.
///
/// ```
/// assert_eq!(gradflow_init::ones(&[2, 2]).to_vec(), vec![1.0; 4]);
/// ```
pub fn ones(shape: &[usize]) -> Tensor {
    Tensor::ones(shape)
}

/// Number of elements of `shape` (1 for a scalar `[]`).
pub(crate) fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn shapes_and_leaves() {
        let mut rng = StdRng::seed_from_u64(1);
        for t in [
            uniform(&[2, 3], -1.0, 1.0, &mut rng),
            normal(&[2, 3], 0.0, 1.0, &mut rng),
            constant(&[2, 3], 4.0),
            zeros(&[2, 3]),
            ones(&[2, 3]),
        ] {
            assert_eq!(t.shape(), &[2, 3]);
            assert!(!t.requires_grad());
            assert!(t.is_leaf());
        }
    }

    #[test]
    fn degenerate_ranges() {
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(uniform(&[3], 2.0, 2.0, &mut rng).to_vec(), vec![2.0; 3]);
        assert_eq!(normal(&[3], -1.0, 0.0, &mut rng).to_vec(), vec![-1.0; 3]);
        assert_eq!(uniform(&[0, 4], -1.0, 1.0, &mut rng).shape(), &[0, 4]);
        assert_eq!(normal(&[4, 0], 0.0, 1.0, &mut rng).numel(), 0);
    }

    #[test]
    #[should_panic(expected = "uniform: bad range [1, -1] for shape [2]")]
    fn reversed_range_panics() {
        uniform(&[2], 1.0, -1.0, &mut StdRng::seed_from_u64(0));
    }

    #[test]
    #[should_panic(expected = "normal: bad N(mean = 0, std = -1)")]
    fn negative_std_panics() {
        normal(&[2], 0.0, -1.0, &mut StdRng::seed_from_u64(0));
    }
}
