//! Group normalization (Wu & He, 2018), and instance normalization as its G = C case.
//!
//! The C channels of x `[N, C, *]` are split into G groups of C/G consecutive channels; each
//! (sample n, group g) is one normalization set over its C/G channels × all spatial positions:
//!
//! μ_ng = mean, σ²_ng = biased variance over the set,
//! y_nc… = γ_c·(x_nc… − μ_ng)/√(σ²_ng + ε) + β_c   (γ, β per channel).
//!
//! No statistic mixes samples, so the output for one sample does not depend on the rest of
//! the batch, there are no running statistics, and training equals evaluation. That is why
//! GroupNorm works at batch sizes where BatchNorm's estimates are noise (detection,
//! segmentation, 1–2 images per device). G = 1 is LayerNorm over (C, H, W); G = C is
//! InstanceNorm.
//!
//! Backward per set, with g = γ_c·dy: dx = (1/σ)·(g − mean(g) − x̂·mean(g·x̂));
//! dγ_c = Σ dy·x̂ and dβ_c = Σ dy over (n, spatial).

use gradflow_tensor::{Module, Scope, Tensor};

use crate::kernel::{self, Grouping, Spec};

/// Functional group normalization (PyTorch's `F.group_norm`).
///
/// # Shapes
/// `x`: `[N, C, *]`; `weight`, `bias`: C elements. Output: `x`'s shape.
///
/// # Panics
/// If `x` has rank < 2, `num_groups` is 0 or does not divide C, or `weight`/`bias` do not
/// have C elements.
///
/// ```
/// use gradflow_normalization::group_norm;
/// use gradflow_tensor::Tensor;
/// // Two groups of one channel each: every channel is normalized on its own.
/// let x = Tensor::from_vec(vec![1.0, 3.0, 10.0, 30.0], &[1, 2, 2]);
/// let y = group_norm(&x, 2, None, None, 1e-5);
/// assert!((y.get(&[0, 1, 1]) - 1.0).abs() < 1e-4);
/// ```
#[track_caller]
pub fn group_norm(
    x: &Tensor,
    num_groups: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Tensor {
    // Hyperparameters are f64 (as PyTorch's Python floats); the kernels run in f32.
    let eps = eps as f32;
    assert!(
        x.rank() >= 2,
        "group_norm: input of shape {:?} needs rank ≥ 2 ([N, C, *])",
        x.shape()
    );
    let c = x.dim(1);
    assert!(
        num_groups > 0 && c.is_multiple_of(num_groups),
        "group_norm: num_groups = {num_groups} does not divide C = {c} (input shape {:?})",
        x.shape()
    );
    for (what, t) in [("weight", weight), ("bias", bias)] {
        if let Some(t) = t {
            assert!(
                t.numel() == c,
                "group_norm: {what} of shape {:?} does not have C = {c} elements for input of \
                 shape {:?}",
                t.shape(),
                x.shape()
            );
        }
    }
    let spec = Spec {
        outer: x.dim(0),
        mid: c,
        inner: x.shape()[2..].iter().product(),
        grouping: Grouping::PerSample { groups: num_groups },
    };
    let stats = x.with_data(|xs| kernel::set_stats(xs, &spec));
    kernel::normalize(
        "group_norm",
        x,
        weight,
        bias,
        &stats,
        eps as f64,
        spec,
        true,
    )
}

/// Functional instance normalization without running statistics: [`group_norm`] with one
/// group per channel (PyTorch's `F.instance_norm(x, weight=…, bias=…, use_input_stats=True)`).
///
/// # Shapes and panics
/// As [`group_norm`]; `x` must be batched (`[N, C, *]`).
#[track_caller]
pub fn instance_norm(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Tensor {
    assert!(
        x.rank() >= 2,
        "instance_norm: input of shape {:?} needs rank ≥ 2 ([N, C, *])",
        x.shape()
    );
    group_norm(x, x.dim(1), weight, bias, eps)
}

/// Hyperparameters of a group-norm layer (PyTorch's constructor arguments and defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct GroupNormConfig {
    /// G, the number of groups (must divide `num_channels`).
    pub num_groups: usize,
    /// C, the number of channels.
    pub num_channels: usize,
    /// ε added to the variance (default 1e-5).
    pub eps: f64,
    /// Learnable per-channel γ (init 1) and β (init 0) (default true).
    pub affine: bool,
}

impl GroupNormConfig {
    /// G groups over C channels, eps 1e-5, affine.
    pub fn new(num_groups: usize, num_channels: usize) -> Self {
        GroupNormConfig {
            num_groups,
            num_channels,
            eps: 1e-5,
            affine: true,
        }
    }

    /// Set ε.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Enable or disable γ and β.
    pub fn with_affine(mut self, affine: bool) -> Self {
        self.affine = affine;
        self
    }

    /// Build the layer.
    ///
    /// # Panics
    /// If `num_groups` is 0 or does not divide `num_channels` (PyTorch raises there too).
    pub fn init(&self) -> GroupNorm {
        assert!(
            self.num_groups > 0 && self.num_channels.is_multiple_of(self.num_groups),
            "GroupNorm: num_groups = {} does not divide num_channels = {}",
            self.num_groups,
            self.num_channels
        );
        let c = self.num_channels;
        GroupNorm {
            weight: self.affine.then(|| Tensor::ones(&[c]).requires_grad_()),
            bias: self.affine.then(|| Tensor::zeros(&[c]).requires_grad_()),
            config: self.clone(),
        }
    }
}

/// Group normalization (PyTorch's `nn.GroupNorm`); parameters `weight` (γ) and `bias` (β).
///
/// # Shapes
/// Input `[N, C, *]`, output the same.
///
/// # Panics
/// In `forward`, if the input's channel dimension is not C.
///
/// ```
/// use gradflow_normalization::GroupNorm;
/// use gradflow_tensor::{Module, Tensor};
/// let gn = GroupNorm::new(2, 4);
/// let x = Tensor::from_vec((0..16).map(|v| (v * v) as f32).collect(), &[2, 4, 2]);
/// let y = gn.forward(&x);
/// // Sample 0, group 0 (channels 0-1) has mean 0 after normalization.
/// assert!(y.narrow(0, 0, 1).narrow(1, 0, 2).mean_all().item().abs() < 1e-5);
/// ```
#[derive(Debug)]
pub struct GroupNorm {
    /// γ, shape `[C]` (when affine).
    weight: Option<Tensor>,
    /// β, shape `[C]` (when affine).
    bias: Option<Tensor>,
    config: GroupNormConfig,
}

impl GroupNorm {
    /// G = `num_groups` groups over C = `num_channels` channels, PyTorch's defaults.
    ///
    /// # Panics
    /// If `num_groups` is 0 or does not divide `num_channels`.
    pub fn new(num_groups: usize, num_channels: usize) -> Self {
        GroupNormConfig::new(num_groups, num_channels).init()
    }

    /// A layer around existing γ and β (each `[C]`), used as given (call
    /// `requires_grad_()` first if they should train); `None` for a layer without affine
    /// parameters.
    ///
    /// # Panics
    /// If `affine` does not match `config.affine` or a shape is not `[num_channels]`.
    #[track_caller]
    pub fn from_tensors(config: GroupNormConfig, affine: Option<(Tensor, Tensor)>) -> Self {
        assert_eq!(
            affine.is_some(),
            config.affine,
            "GroupNorm::from_tensors: γ, β given = {}, but config.affine = {}",
            affine.is_some(),
            config.affine
        );
        let c = config.num_channels;
        if let Some((w, b)) = &affine {
            assert!(
                w.shape() == [c] && b.shape() == [c],
                "GroupNorm::from_tensors: γ and β must be [{c}], got {:?} and {:?}",
                w.shape(),
                b.shape()
            );
        }
        let (weight, bias) = affine.map_or((None, None), |(w, b)| (Some(w), Some(b)));
        GroupNorm {
            weight,
            bias,
            config,
        }
    }

    /// The hyperparameters.
    pub fn config(&self) -> &GroupNormConfig {
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

impl Module for GroupNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        assert!(
            x.rank() >= 2 && x.dim(1) == self.config.num_channels,
            "GroupNorm: input of shape {:?} does not match [N, C = {}, *]",
            x.shape(),
            self.config.num_channels
        );
        group_norm(
            x,
            self.config.num_groups,
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

/// Instance normalization of `[N, C, H, W]` (PyTorch's `nn.InstanceNorm2d` with its default
/// `track_running_stats = False`): each (sample, channel) plane is normalized on its own,
/// i.e. [`GroupNorm`] with G = C. Used in style transfer, where per-image contrast is noise.
///
/// PyTorch's defaults differ from GroupNorm's: `affine = false`. Running statistics
/// (`track_running_stats = True`) and unbatched `[C, H, W]` input are not supported.
///
/// ```
/// use gradflow_normalization::InstanceNorm2d;
/// use gradflow_tensor::{Module, Tensor};
/// let inorm = InstanceNorm2d::new(3);
/// assert_eq!(inorm.num_parameters(), 0);
/// let y = inorm.forward(&Tensor::from_vec((0..24).map(|v| v as f32).collect(), &[2, 3, 2, 2]));
/// assert!((y.get(&[1, 2, 1, 1]) - 1.3416).abs() < 1e-3); // (3 − 1.5)/√1.25
/// ```
#[derive(Debug)]
pub struct InstanceNorm2d {
    inner: GroupNorm,
}

impl InstanceNorm2d {
    /// `num_features` channels, eps 1e-5, no affine (PyTorch's defaults).
    pub fn new(num_features: usize) -> Self {
        Self::with_options(num_features, 1e-5, false)
    }

    /// Choose ε and whether γ, β are learned.
    pub fn with_options(num_features: usize, eps: f64, affine: bool) -> Self {
        InstanceNorm2d {
            inner: GroupNormConfig::new(num_features, num_features)
                .with_eps(eps)
                .with_affine(affine)
                .init(),
        }
    }

    /// The equivalent group-norm layer (G = C).
    pub fn as_group_norm(&self) -> &GroupNorm {
        &self.inner
    }
}

impl Module for InstanceNorm2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        assert!(
            x.rank() == 4,
            "InstanceNorm2d: input of shape {:?} is not [N, C, H, W]",
            x.shape()
        );
        self.inner.forward(x)
    }

    fn visit(&self, s: &mut Scope<'_>) {
        self.inner.visit(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "num_groups = 4 does not divide num_channels = 6")]
    fn groups_must_divide_channels() {
        GroupNorm::new(4, 6);
    }

    #[test]
    fn one_group_is_layer_norm_over_chw() {
        let x = Tensor::from_vec((0..24).map(|v| ((v * 7) % 11) as f32).collect(), &[2, 3, 4]);
        let a = group_norm(&x, 1, None, None, 1e-5).to_vec();
        let b = crate::layer_norm(&x, &[3, 4], None, None, 1e-5).to_vec();
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 1e-6, "{p} vs {q}");
        }
    }
}
