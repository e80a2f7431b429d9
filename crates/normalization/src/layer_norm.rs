//! Layer normalization (Ba, Kiros & Hinton, 2016): normalize each sample over its features.
//!
//! With `normalized_shape` = the last k dimensions of x (D elements in all), every leading
//! index ("row") r is normalized on its own:
//!
//! μ_r = (1/D) Σ_d x_rd,   σ²_r = (1/D) Σ_d (x_rd − μ_r)²  (biased),
//! y_rd = γ_d·(x_rd − μ_r)/√(σ²_r + ε) + β_d,
//!
//! with γ and β of shape `normalized_shape` (elementwise affine). The statistics never mix
//! samples, so there are no running statistics and training and evaluation behave the same:
//! the layer of choice for transformers and RNNs, and for batch size 1.
//!
//! Backward, per row, with g = γ·dy: dx = (1/σ_r)·(g − mean(g) − x̂·mean(g·x̂));
//! dγ = Σ_rows dy·x̂, dβ = Σ_rows dy.

use gradflow_tensor::{Module, Scope, Tensor};

use crate::kernel::{self, Grouping, Spec};

/// Functional layer normalization over the trailing `normalized_shape` dimensions
/// (PyTorch's `F.layer_norm`).
///
/// # Shapes
/// `x`: `[*, normalized_shape…]`; `weight`, `bias`: `normalized_shape`. Output: `x`'s shape.
///
/// # Panics
/// If `x`'s trailing dimensions are not `normalized_shape`, `normalized_shape` is empty, or
/// `weight`/`bias` do not have shape `normalized_shape`.
///
/// ```
/// use gradflow_normalization::layer_norm;
/// use gradflow_tensor::Tensor;
/// let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 10.0, 20.0, 30.0], &[2, 3]);
/// let y = layer_norm(&x, &[3], None, None, 1e-5);
/// // Both rows are {μ − δ, μ, μ + δ}: the same output, (−1.2247, 0, 1.2247).
/// assert!((y.get(&[0, 2]) - 1.2247).abs() < 1e-3);
/// assert!((y.get(&[1, 2]) - y.get(&[0, 2])).abs() < 1e-5);
/// ```
#[track_caller]
pub fn layer_norm(
    x: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Tensor {
    // Hyperparameters are f64 (as PyTorch's Python floats); the kernels run in f32.
    let eps = eps as f32;
    let k = normalized_shape.len();
    assert!(
        k >= 1 && x.rank() >= k && &x.shape()[x.rank() - k..] == normalized_shape,
        "layer_norm: input of shape {:?} does not end with normalized_shape {:?}",
        x.shape(),
        normalized_shape
    );
    for (what, t) in [("weight", weight), ("bias", bias)] {
        if let Some(t) = t {
            assert!(
                t.shape() == normalized_shape,
                "layer_norm: {what} of shape {:?} is not normalized_shape {:?}",
                t.shape(),
                normalized_shape
            );
        }
    }
    let spec = Spec {
        outer: x.shape()[..x.rank() - k].iter().product(),
        mid: normalized_shape.iter().product(),
        inner: 1,
        grouping: Grouping::PerSample { groups: 1 },
    };
    let stats = x.with_data(|xs| kernel::set_stats(xs, &spec));
    kernel::normalize(
        "layer_norm",
        x,
        weight,
        bias,
        &stats,
        eps as f64,
        spec,
        true,
    )
}

/// Hyperparameters of a layer-norm layer (PyTorch's defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerNormConfig {
    /// The trailing dimensions to normalize over.
    pub normalized_shape: Vec<usize>,
    /// ε added to the variance (default 1e-5).
    pub eps: f64,
    /// Learnable γ (init 1) and β (init 0) of shape `normalized_shape` (default true).
    pub elementwise_affine: bool,
}

impl LayerNormConfig {
    /// Normalize over `normalized_shape` with eps 1e-5 and elementwise affine.
    pub fn new(normalized_shape: &[usize]) -> Self {
        LayerNormConfig {
            normalized_shape: normalized_shape.to_vec(),
            eps: 1e-5,
            elementwise_affine: true,
        }
    }

    /// Set ε.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Enable or disable γ and β.
    pub fn with_elementwise_affine(mut self, affine: bool) -> Self {
        self.elementwise_affine = affine;
        self
    }

    /// Build the layer.
    ///
    /// # Panics
    /// If `normalized_shape` is empty.
    pub fn init(&self) -> LayerNorm {
        assert!(
            !self.normalized_shape.is_empty(),
            "LayerNorm: normalized_shape must name at least one dimension"
        );
        let shape = &self.normalized_shape;
        LayerNorm {
            weight: self
                .elementwise_affine
                .then(|| Tensor::ones(shape).requires_grad_()),
            bias: self
                .elementwise_affine
                .then(|| Tensor::zeros(shape).requires_grad_()),
            config: self.clone(),
        }
    }
}

/// Layer normalization (PyTorch's `nn.LayerNorm`); parameters `weight` (γ) and `bias` (β).
///
/// # Shapes
/// Input `[*, normalized_shape…]`, output the same.
///
/// # Panics
/// In `forward`, if the input does not end with `normalized_shape`.
///
/// ```
/// use gradflow_normalization::LayerNorm;
/// use gradflow_tensor::{Module, Tensor};
/// let ln = LayerNorm::new(&[4]);
/// let y = ln.forward(&Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 4]));
/// assert!(y.mean_all().item().abs() < 1e-6);
/// ```
#[derive(Debug)]
pub struct LayerNorm {
    /// γ, shape `normalized_shape` (when elementwise affine).
    weight: Option<Tensor>,
    /// β, shape `normalized_shape` (when elementwise affine).
    bias: Option<Tensor>,
    config: LayerNormConfig,
}

impl LayerNorm {
    /// A layer with PyTorch's defaults over `normalized_shape`.
    pub fn new(normalized_shape: &[usize]) -> Self {
        LayerNormConfig::new(normalized_shape).init()
    }

    /// A layer around existing γ and β (each of shape `normalized_shape`), used as given
    /// (call `requires_grad_()` first if they should train); `None` for a layer without
    /// elementwise affine parameters.
    ///
    /// # Panics
    /// If `affine` does not match `config.elementwise_affine` or a shape differs from
    /// `normalized_shape`.
    #[track_caller]
    pub fn from_tensors(config: LayerNormConfig, affine: Option<(Tensor, Tensor)>) -> Self {
        assert_eq!(
            affine.is_some(),
            config.elementwise_affine,
            "LayerNorm::from_tensors: γ, β given = {}, but config.elementwise_affine = {}",
            affine.is_some(),
            config.elementwise_affine
        );
        if let Some((w, b)) = &affine {
            assert!(
                w.shape() == config.normalized_shape.as_slice()
                    && b.shape() == config.normalized_shape.as_slice(),
                "LayerNorm::from_tensors: γ and β must be {:?}, got {:?} and {:?}",
                config.normalized_shape,
                w.shape(),
                b.shape()
            );
        }
        let (weight, bias) = affine.map_or((None, None), |(w, b)| (Some(w), Some(b)));
        LayerNorm {
            weight,
            bias,
            config,
        }
    }

    /// The hyperparameters.
    pub fn config(&self) -> &LayerNormConfig {
        &self.config
    }

    /// γ (when affine).
    pub fn weight(&self) -> Option<&Tensor> {
        self.weight.as_ref()
    }

    /// β (when affine).
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        layer_norm(
            x,
            &self.config.normalized_shape,
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.config.eps,
        )
    }

    fn visit(&self, s: &mut Scope<'_>) {
        if let Some(w) = &self.weight {
            s.param("weight", w);
        }
        if let Some(b) = &self.bias {
            s.param("bias", b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_row_maps_to_beta() {
        // σ² = 0: x̂ = 0/√ε = 0 exactly, so y = β.
        let ln = LayerNorm::new(&[3]);
        let y = ln.forward(&Tensor::full(&[2, 3], 7.5));
        assert!(
            y.to_vec().iter().all(|v| v.abs() < 1e-6),
            "{:?}",
            y.to_vec()
        );
    }

    #[test]
    #[should_panic(
        expected = "layer_norm: input of shape [2, 3] does not end with normalized_shape [4]"
    )]
    fn wrong_trailing_shape_panics() {
        LayerNorm::new(&[4]).forward(&Tensor::ones(&[2, 3]));
    }

    #[test]
    fn no_affine_has_no_parameters() {
        let ln = LayerNormConfig::new(&[2, 2])
            .with_elementwise_affine(false)
            .init();
        assert_eq!(ln.num_parameters(), 0);
    }
}
