//! The adding problem (Hochreiter & Schmidhuber 1997, §5.4; the form of Le et al. 2015 and
//! Arjovsky et al. 2016): a test of memory over T steps.
//!
//! Each step's input has two features: a value u_t ~ U[0, 1] and a marker m_t ∈ {0, 1}. Exactly
//! two markers are 1, one at a uniform position in the first half [0, T/2) and one in the
//! second half [T/2, T). The target is the sum of the two marked values, y = u_a + u_b.
//!
//! **The baseline.** y is the sum of two independent U[0, 1], so E[y] = 1 and
//! Var[y] = 2·(1/12) = 1/6: a network that ignores its input does best by predicting the
//! constant 1, with MSE 1/6 ≈ 0.167. Anything clearly below 0.167 has learnt to look at the
//! markers; MSE < 0.01 means it stores the first marked value for up to T steps.
//!
//! The first marker can be as early as step 0 while the loss is read at step T − 1, so the
//! gradient that teaches the network to store u_a must travel back up to T − 1 steps: exactly
//! the path on which a tanh RNN's gradient vanishes.

use gradflow_tensor::Tensor;
use rand::{Rng, RngExt};

/// One batch: x `[T, B, 2]` (value, marker) and the targets `[B, 1]`.
#[derive(Clone, Debug)]
pub struct AddingBatch {
    /// Steps T.
    pub steps: usize,
    /// Sequences B.
    pub batch: usize,
    /// x in `[T, B, 2]` order, row-major.
    pub x: Vec<f32>,
    /// y, one per sequence.
    pub y: Vec<f32>,
}

/// The MSE of the best constant predictor, Var[u_a + u_b] = 1/6.
pub const CONSTANT_MSE: f64 = 1.0 / 6.0;

impl AddingBatch {
    /// Draw `batch` sequences of `steps` steps.
    ///
    /// # Panics
    /// If `steps < 2` (each half needs a marker).
    pub fn sample<R: Rng + ?Sized>(steps: usize, batch: usize, rng: &mut R) -> Self {
        assert!(
            steps >= 2,
            "adding problem: T = {steps}, need at least 2 steps"
        );
        let half = steps / 2;
        let mut x = vec![0.0f32; steps * batch * 2];
        let mut y = Vec::with_capacity(batch);
        for b in 0..batch {
            for t in 0..steps {
                x[(t * batch + b) * 2] = rng.random::<f32>();
            }
            let a = rng.random_range(0..half);
            let c = rng.random_range(half..steps);
            x[(a * batch + b) * 2 + 1] = 1.0;
            x[(c * batch + b) * 2 + 1] = 1.0;
            y.push(x[(a * batch + b) * 2] + x[(c * batch + b) * 2]);
        }
        AddingBatch { steps, batch, x, y }
    }

    /// The whole sequence as one tensor `[T, B, 2]`.
    pub fn inputs(&self) -> Tensor {
        Tensor::from_vec(self.x.clone(), &[self.steps, self.batch, 2])
    }

    /// Step t's inputs `[B, 2]`.
    pub fn step(&self, t: usize) -> Tensor {
        let row = self.batch * 2;
        Tensor::from_vec(self.x[t * row..(t + 1) * row].to_vec(), &[self.batch, 2])
    }

    /// The targets `[B, 1]`.
    pub fn targets(&self) -> Tensor {
        Tensor::from_vec(self.y.clone(), &[self.batch, 1])
    }

    /// The MSE of predicting `c` for every sequence.
    pub fn constant_mse(&self, c: f32) -> f64 {
        let n = self.y.len().max(1) as f64;
        self.y
            .iter()
            .map(|&y| f64::from(y - c).powi(2))
            .sum::<f64>()
            / n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn one_marker_in_each_half_and_the_target_is_their_sum() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let d = AddingBatch::sample(10, 7, &mut rng);
        for b in 0..7 {
            let marks: Vec<usize> = (0..10)
                .filter(|&t| d.x[(t * 7 + b) * 2 + 1] == 1.0)
                .collect();
            assert_eq!(marks.len(), 2, "sequence {b}");
            assert!(marks[0] < 5 && marks[1] >= 5, "{marks:?}");
            let sum = d.x[(marks[0] * 7 + b) * 2] + d.x[(marks[1] * 7 + b) * 2];
            assert_eq!(d.y[b], sum);
            assert!((0.0..=2.0).contains(&d.y[b]));
        }
        assert_eq!(d.step(3).to_vec(), d.x[3 * 14..4 * 14].to_vec());
    }
}
