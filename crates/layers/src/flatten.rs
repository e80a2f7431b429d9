//! [`Flatten`]: merge a range of dimensions into one.

use gradflow_tensor::{Module, Scope, Tensor};

/// Merge dimensions `start_dim..=end_dim` into one: `[N, C, H, W] → [N, C·H·W]` with the
/// defaults `start_dim = 1`, `end_dim = last` (PyTorch's `nn.Flatten()`, which keeps the
/// batch dimension; `torch.flatten` starts at 0 instead). Values are not moved: it is a
/// reshape, a view when the input is contiguous, and its gradient is reshaped back.
///
/// # Panics
/// If the input has fewer than `start_dim + 1` dimensions, or `end_dim < start_dim`.
///
/// ```
/// use gradflow_layers::{Flatten, Module};
/// use gradflow_tensor::Tensor;
/// let x = Tensor::zeros(&[2, 3, 4, 5]);
/// assert_eq!(Flatten::new().forward(&x).shape(), &[2, 60]);
/// assert_eq!(Flatten::new().with_end_dim(2).forward(&x).shape(), &[2, 12, 5]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flatten {
    start_dim: usize,
    end_dim: Option<usize>,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten::new()
    }
}

impl Flatten {
    /// Flatten everything after the batch dimension.
    pub fn new() -> Self {
        Flatten {
            start_dim: 1,
            end_dim: None,
        }
    }

    /// First dimension to merge (default 1).
    pub fn with_start_dim(self, start_dim: usize) -> Self {
        Flatten { start_dim, ..self }
    }

    /// Last dimension to merge, inclusive (default: the last one).
    pub fn with_end_dim(self, end_dim: usize) -> Self {
        Flatten {
            end_dim: Some(end_dim),
            ..self
        }
    }
}

impl Module for Flatten {
    #[track_caller]
    fn forward(&self, x: &Tensor) -> Tensor {
        assert!(
            self.start_dim < x.rank(),
            "Flatten: start_dim {} out of range for input {:?}",
            self.start_dim,
            x.shape()
        );
        let end = self.end_dim.unwrap_or(x.rank() - 1);
        x.flatten(self.start_dim, end)
    }

    fn visit(&self, _s: &mut Scope<'_>) {}
}
