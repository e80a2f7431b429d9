//! Orthogonal initialization (Saxe et al., 2014), `torch.nn.init.orthogonal_`.
//!
//! An orthogonal W preserves every vector's norm, ‖W·x‖ = ‖x‖, not just the average
//! variance, so all singular values of a deep linear network's Jacobian stay at 1
//! ("dynamical isometry"). Construction: G with i.i.d. N(0, 1) entries, G = Q·R (QR), and
//! Q·diag(sign(diag R)) — the sign correction makes the result Haar-distributed (uniform
//! over the orthogonal group) rather than biased by the QR convention.

use crate::basic::numel;
use gradflow_tensor::Tensor;
use nalgebra::DMatrix;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// A (semi-)orthogonal matrix times `gain`, reshaped to `shape`.
///
/// The weight is viewed as `rows = shape[0]` by `cols = ∏ shape[1..]` (a conv weight
/// `[out, in, kh, kw]` becomes `[out, in·kh·kw]`, as PyTorch flattens it). If rows ≤ cols
/// the rows are orthonormal, W·Wᵀ = gain²·I; if rows > cols the columns are,
/// Wᵀ·W = gain²·I. The QR runs in `f64` (nalgebra's Householder QR) on `f32` Gaussian
/// samples, then rounds to `f32`. Where PyTorch's `sign(0) = 0` would zero a column we use
/// +1 (a zero diagonal has probability 0 anyway).
///
/// ```
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let w = gradflow_init::orthogonal(&[3, 5], 1.0, &mut rng);
/// let wwt = w.matmul(&w.t()).to_vec();
/// for i in 0..3 {
///     for j in 0..3 {
///         let want = if i == j { 1.0 } else { 0.0 };
///         assert!((wwt[i * 3 + j] - want).abs() < 1e-5);
///     }
/// }
/// ```
///
/// # Panics
/// If `shape` has fewer than 2 dimensions or `gain` is not finite.
#[track_caller]
pub fn orthogonal<R: Rng + ?Sized>(shape: &[usize], gain: f64, rng: &mut R) -> Tensor {
    assert!(
        shape.len() >= 2,
        "orthogonal: only weights with 2 or more dimensions are supported, got shape {shape:?}"
    );
    assert!(
        gain.is_finite(),
        "orthogonal: gain {gain} is not finite for shape {shape:?}"
    );
    if numel(shape) == 0 {
        return Tensor::zeros(shape);
    }
    let rows = shape[0];
    let cols = numel(shape) / rows;
    let samples: Vec<f64> = (0..rows * cols)
        .map(|_| {
            let z: f32 = StandardNormal.sample(rng);
            f64::from(z)
        })
        .collect();
    let g = DMatrix::from_row_slice(rows, cols, &samples);
    // QR needs a tall matrix so that Q has orthonormal columns spanning the short side.
    let wide = rows < cols;
    let tall = if wide { g.transpose() } else { g };
    let qr = tall.qr();
    let mut q = qr.q();
    let r = qr.r();
    // nalgebra already returns R with a non-negative diagonal (and Q adjusted to match), so
    // this is a no-op today; it keeps the result independent of the QR's sign convention
    // (LAPACK's, which PyTorch uses, does not normalize).
    for j in 0..q.ncols() {
        if r[(j, j)] < 0.0 {
            q.column_mut(j).neg_mut();
        }
    }
    let w = if wide { q.transpose() } else { q };
    let mut data = Vec::with_capacity(rows * cols);
    for i in 0..rows {
        for j in 0..cols {
            data.push((gain * w[(i, j)]) as f32);
        }
    }
    Tensor::from_vec(data, shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn conv_weight_rows_are_orthonormal() {
        let mut rng = StdRng::seed_from_u64(9);
        let w = orthogonal(&[4, 2, 3, 3], 2.0, &mut rng);
        assert_eq!(w.shape(), &[4, 2, 3, 3]);
        let m = w.reshape(&[4, 18]);
        let g = m.matmul(&m.t()).to_vec();
        for i in 0..4 {
            for j in 0..4 {
                let want = if i == j { 4.0 } else { 0.0 };
                assert!(
                    (g[i * 4 + j] - want).abs() < 1e-5,
                    "({i},{j}): {}",
                    g[i * 4 + j]
                );
            }
        }
    }

    /// The sign correction makes W Haar-distributed: every entry has mean 0 and E\[W_ij²\] = 1/n.
    /// (A QR whose diag(R) signs follow the data rather than a fixed rule would bias Q.) A 1×1
    /// weight is then ±gain with probability ½ each.
    #[test]
    fn sign_correction_gives_haar_entries() {
        let mut rng = StdRng::seed_from_u64(4);
        let draws = 2000;
        let (mut sum00, mut sum_sq, mut positive) = (0.0f64, 0.0f64, 0);
        for _ in 0..draws {
            let w = orthogonal(&[3, 3], 1.0, &mut rng).to_vec();
            sum00 += f64::from(w[0]);
            sum_sq += f64::from(w[4]).powi(2);
            let one = orthogonal(&[1, 1], 2.0, &mut rng).to_vec();
            assert!((one[0].abs() - 2.0).abs() < 1e-6, "1×1: {one:?}");
            positive += usize::from(one[0] > 0.0);
        }
        let n = f64::from(draws);
        // W_00 has variance 1/3: 5 standard errors of its mean is 5·√(1/(3n)) ≈ 0.065.
        let mean00 = sum00 / n;
        assert!(
            mean00.abs() < 5.0 * (1.0 / (3.0 * n)).sqrt(),
            "mean W_00 = {mean00}"
        );
        // W_11² has mean 1/3 and variance ≤ 1/9 (it lies in [0, 1]).
        let ms = sum_sq / n;
        assert!(
            (ms - 1.0 / 3.0).abs() < 5.0 * (1.0 / (9.0 * n)).sqrt(),
            "E[W_11²] = {ms}"
        );
        // Binomial(n, ½): sd √n/2 ≈ 22.
        let pos = positive as f64;
        assert!(
            (pos - n / 2.0).abs() < 5.0 * n.sqrt() / 2.0,
            "{positive} of {draws} positive"
        );
    }

    #[test]
    #[should_panic(
        expected = "orthogonal: only weights with 2 or more dimensions are supported, got shape [3]"
    )]
    fn rank_one_panics() {
        orthogonal(&[3], 1.0, &mut StdRng::seed_from_u64(0));
    }
}
