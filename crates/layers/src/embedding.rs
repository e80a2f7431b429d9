//! [`Embedding`]: a learnable lookup table.

use gradflow_tensor::{Module, Scope, Tensor};
use rand::Rng;

/// Hyperparameters of an [`Embedding`] (PyTorch's `nn.Embedding(num_embeddings,
/// embedding_dim)`, without `padding_idx`, `max_norm` or sparse gradients).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbeddingConfig {
    /// Vocabulary size V: valid ids are 0..V.
    pub num_embeddings: usize,
    /// Length D of each vector.
    pub embedding_dim: usize,
}

impl EmbeddingConfig {
    /// A `num_embeddings × embedding_dim` table.
    pub fn new(num_embeddings: usize, embedding_dim: usize) -> Self {
        EmbeddingConfig {
            num_embeddings,
            embedding_dim,
        }
    }

    /// Build the table with PyTorch's initialization, E ~ N(0, 1), trainable.
    pub fn init<R: Rng + ?Sized>(&self, rng: &mut R) -> Embedding {
        let weight = Tensor::randn(&[self.num_embeddings, self.embedding_dim], 0.0, 1.0, rng);
        Embedding {
            weight: weight.requires_grad_(),
        }
    }
}

/// Embedding lookup: row i of the output is E\[idsᵢ\], with E the `[V, D]` table (`weight`).
///
/// It is `E.index_select(0, ids)`, so ∂L/∂E scatter-adds: an id used k times receives the
/// sum of its k upstream gradients, and rows never looked up get 0.
///
/// Ids are integers but [`Module::forward`] takes a [`Tensor`], so there are two entry points:
/// - [`Embedding::lookup`]`(&[usize])` → `[ids.len(), D]`, the natural one;
/// - `forward(x)` reads `x` as **integer-valued f32 ids** of any shape S and returns
///   `S + [D]` (exact for ids below 2²⁴); `x` itself gets no gradient.
///
/// # Panics
/// If an id is out of range, or (in `forward`) not a non-negative integer.
///
/// ```
/// use gradflow_layers::{Embedding, Module};
/// use gradflow_tensor::Tensor;
/// let table = Tensor::from_vec(vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5], &[3, 2]);
/// let emb = Embedding::from_tensor(table);
/// assert_eq!(emb.lookup(&[2, 0]).to_vec(), vec![2.0, 2.5, 0.0, 0.5]);
/// let ids = Tensor::from_vec(vec![1.0, 1.0, 2.0, 0.0], &[2, 2]);
/// assert_eq!(emb.forward(&ids).shape(), &[2, 2, 2]);
/// ```
#[derive(Clone, Debug)]
pub struct Embedding {
    weight: Tensor,
}

impl Embedding {
    /// A lookup around an existing `[V, D]` table.
    ///
    /// # Panics
    /// If `weight` is not 2-D.
    #[track_caller]
    pub fn from_tensor(weight: Tensor) -> Self {
        assert!(
            weight.rank() == 2,
            "Embedding: weight must be [num_embeddings, embedding_dim], got {:?}",
            weight.shape()
        );
        Embedding { weight }
    }

    /// The table E, `[V, D]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// Vocabulary size V.
    pub fn num_embeddings(&self) -> usize {
        self.weight.dim(0)
    }

    /// Vector length D.
    pub fn embedding_dim(&self) -> usize {
        self.weight.dim(1)
    }

    /// Rows `ids` of the table: `[ids.len(), D]`.
    ///
    /// # Panics
    /// If an id is ≥ V.
    #[track_caller]
    pub fn lookup(&self, ids: &[usize]) -> Tensor {
        if let Some(&bad) = ids.iter().find(|&&i| i >= self.num_embeddings()) {
            panic!(
                "Embedding: id {bad} out of range for a table of {} rows",
                self.num_embeddings()
            );
        }
        self.weight.index_select(0, ids)
    }
}

impl Module for Embedding {
    /// `x` holds integer-valued f32 ids of any shape S; the result is `S + [D]`.
    #[track_caller]
    fn forward(&self, x: &Tensor) -> Tensor {
        let ids: Vec<usize> = x
            .to_vec()
            .into_iter()
            .map(|v| {
                assert!(
                    v >= 0.0 && v.fract() == 0.0,
                    "Embedding: forward takes integer-valued f32 ids, got {v} in input {:?}",
                    x.shape()
                );
                v as usize
            })
            .collect();
        let mut shape = x.shape().to_vec();
        shape.push(self.embedding_dim());
        self.lookup(&ids).reshape(&shape)
    }

    fn visit(&self, s: &mut Scope<'_>) {
        s.param("weight", &self.weight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn repeated_ids_accumulate_gradient() {
        let emb = Embedding::from_tensor(Tensor::zeros(&[4, 2]).requires_grad_());
        emb.lookup(&[1, 3, 1]).sum_all().backward();
        let g = emb.weight().grad().unwrap().to_vec();
        assert_eq!(g, vec![0.0, 0.0, 2.0, 2.0, 0.0, 0.0, 1.0, 1.0]);
    }

    #[test]
    fn init_is_standard_normal() {
        let mut rng = StdRng::seed_from_u64(5);
        let emb = EmbeddingConfig::new(200, 50).init(&mut rng);
        let w = emb.weight().to_vec();
        let n = w.len() as f32;
        let mean = w.iter().sum::<f32>() / n;
        let var = w.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
            "mean {mean} var {var}"
        );
    }

    #[test]
    #[should_panic(expected = "Embedding: forward takes integer-valued f32 ids, got 1.5")]
    fn fractional_ids_panic() {
        Embedding::from_tensor(Tensor::zeros(&[4, 2])).forward(&Tensor::from_vec(vec![1.5], &[1]));
    }

    #[test]
    #[should_panic(expected = "Embedding: id 4 out of range for a table of 4 rows")]
    fn out_of_range_ids_panic() {
        Embedding::from_tensor(Tensor::zeros(&[4, 2])).lookup(&[4]);
    }
}
