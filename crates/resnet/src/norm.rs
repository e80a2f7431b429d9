//! The normalization a ResNet puts after each convolution: BatchNorm (torchvision's), GroupNorm
//! (batch-independent), or none (the seed's bare block).

use gradflow_normalization::{BatchNorm2d, GroupNorm};
use gradflow_tensor::{Module, Scope, Tensor, no_grad};

/// Which normalization follows each convolution.
///
/// - [`Norm::Batch`]: `nn.BatchNorm2d` (torchvision's default). In training mode each channel
///   is standardized over (N, H, W) with the batch's statistics, so the forward signal and the
///   backward signal through the layer are rescaled by 1/σ whatever the weights' scale.
/// - [`Norm::Group`]: `nn.GroupNorm(G, C)` with G = 32 groups, or the largest divisor of C
///   below 32 when C has fewer or is not a multiple (see [`group_count`]). Each sample is
///   normalized on its own, so it behaves the same at batch 1 and in evaluation; the seed
///   recommends residual + GroupNorm beyond 100 layers.
/// - [`Norm::None`]: no normalization. The convolutions then carry a bias (initialized to 0),
///   as a PyTorch conv does when no normalization follows; this is the seed's block
///   Input → Conv → ReLU → Conv → Add(Input) → ReLU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Norm {
    /// Batch normalization (the default, torchvision's).
    #[default]
    Batch,
    /// Group normalization with up to 32 groups.
    Group,
    /// No normalization; convolutions get a bias.
    None,
}

impl Norm {
    /// The layer for `channels` channels.
    ///
    /// ```
    /// use gradflow_resnet::{Norm, NormLayer};
    /// use gradflow_tensor::Module;
    /// assert_eq!(Norm::Batch.layer(8).num_parameters(), 16); // γ and β
    /// assert!(matches!(Norm::None.layer(8), NormLayer::Identity));
    /// ```
    pub fn layer(self, channels: usize) -> NormLayer {
        match self {
            Norm::Batch => NormLayer::Batch(BatchNorm2d::new(channels)),
            Norm::Group => NormLayer::Group(GroupNorm::new(group_count(channels), channels)),
            Norm::None => NormLayer::Identity,
        }
    }

    /// Whether a convolution followed by this normalization should carry its own bias: only
    /// without normalization (BatchNorm's and GroupNorm's β would make a bias redundant,
    /// since y = γ·x̂ + β subtracts any per-channel constant in x̂).
    pub fn conv_bias(self) -> bool {
        self == Norm::None
    }
}

/// G for [`Norm::Group`]: the largest divisor of `channels` that is at most 32 (32 for 64,
/// 16 for 16, 8 for 24, 1 for 1). `nn.GroupNorm` needs G to divide C.
///
/// ```
/// use gradflow_resnet::group_count;
/// assert_eq!(group_count(256), 32);
/// assert_eq!(group_count(16), 16);
/// assert_eq!(group_count(48), 24);
/// ```
pub fn group_count(channels: usize) -> usize {
    (1..=channels.min(32))
        .rev()
        .find(|g| channels.is_multiple_of(*g))
        .unwrap_or(1)
}

/// A normalization layer or the identity, as chosen by [`Norm`].
///
/// Its tensors are named as the wrapped PyTorch layer's (`weight`, `bias`, and for BatchNorm
/// `running_mean`, `running_var`, `num_batches_tracked`); the identity has none.
#[derive(Debug)]
pub enum NormLayer {
    /// `nn.BatchNorm2d`.
    Batch(BatchNorm2d),
    /// `nn.GroupNorm`.
    Group(GroupNorm),
    /// No normalization, y = x.
    Identity,
}

impl NormLayer {
    /// γ, the per-channel scale, if the layer has one.
    pub fn weight(&self) -> Option<&Tensor> {
        match self {
            NormLayer::Batch(bn) => bn.weight(),
            NormLayer::Group(gn) => gn.weight(),
            NormLayer::Identity => None,
        }
    }

    /// Set γ to 0, so that the layer outputs β = 0 at initialization: the last normalization
    /// of a residual branch then makes the branch output 0 (`zero_init_residual`). Returns
    /// `false` for the identity, which has no γ.
    pub fn zero_weight(&self) -> bool {
        match self.weight() {
            Some(w) => {
                no_grad(|| w.update_data(|d| d.fill(0.0)));
                true
            }
            None => false,
        }
    }

    /// The training mode of a BatchNorm (`None` for the mode-free GroupNorm and identity).
    pub fn is_training(&self) -> Option<bool> {
        match self {
            NormLayer::Batch(bn) => Some(bn.is_training()),
            _ => None,
        }
    }
}

impl Module for NormLayer {
    fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            NormLayer::Batch(bn) => bn.forward(x),
            NormLayer::Group(gn) => gn.forward(x),
            NormLayer::Identity => x.clone(),
        }
    }

    fn visit(&self, s: &mut Scope<'_>) {
        match self {
            NormLayer::Batch(bn) => bn.visit(s),
            NormLayer::Group(gn) => gn.visit(s),
            NormLayer::Identity => {}
        }
    }

    fn set_training(&mut self, training: bool) {
        if let NormLayer::Batch(bn) = self {
            bn.set_training(training);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_count_divides_and_is_capped() {
        for c in 1..=600 {
            let g = group_count(c);
            assert!((1..=32).contains(&g) && c % g == 0, "C = {c}, G = {g}");
            // No larger divisor ≤ 32 was skipped.
            assert!((g + 1..=c.min(32)).all(|h| c % h != 0), "C = {c}, G = {g}");
        }
    }

    #[test]
    fn zero_weight_zeroes_gamma() {
        let n = Norm::Group.layer(64);
        assert!(n.zero_weight());
        assert!(n.weight().map(|w| w.to_vec().iter().all(|&v| v == 0.0)) == Some(true));
        assert!(!Norm::None.layer(4).zero_weight());
    }
}
