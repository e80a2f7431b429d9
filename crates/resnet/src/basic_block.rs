//! [`BasicBlock`]: two 3×3 convolutions and a skip, ResNet-18/34's and the CIFAR family's block.

use gradflow_activations::relu;
use gradflow_layers::Conv2d;
use gradflow_tensor::{Module, Scope, Tensor, no_grad};
use rand::Rng;

use crate::block::BlockOptions;
use crate::norm::NormLayer;
use crate::shortcut::{Shortcut, kaiming_conv};

/// torchvision's `BasicBlock` (expansion 1), He et al. 2016, Fig. 2 / Fig. 5 left:
///
/// F(x) = BN₂(W₂ ⋆ relu(BN₁(W₁ ⋆ x))),   y = relu(F(x) + S(x)),
///
/// with W₁ a 3×3 convolution carrying the stride, W₂ a 3×3 convolution, and S the shortcut
/// (identity, projection or zero-padding; none for the plain twin, where y = relu(F(x))).
///
/// Source: `torchvision/models/resnet.py`, class `BasicBlock`
/// (<https://github.com/pytorch/vision/blob/main/torchvision/models/resnet.py>).
///
/// # Names
/// `conv1.weight`, `bn1.{weight, bias, running_mean, running_var, num_batches_tracked}`,
/// `conv2.weight`, `bn2.*`, and `downsample.0.weight`, `downsample.1.*` for a projection,
/// as in a torchvision state dict.
///
/// # Shapes
/// `[N, C_in, H, W] → [N, planes, ⌈H/s⌉, ⌈W/s⌉]`.
///
/// # Panics
/// In `forward`, if the input's channel count is not `C_in` (the message names `conv2d`).
#[derive(Debug)]
pub struct BasicBlock {
    /// 3×3 convolution C_in → planes with the block's stride.
    pub conv1: Conv2d,
    /// Normalization after `conv1`.
    pub bn1: NormLayer,
    /// 3×3 convolution planes → planes.
    pub conv2: Conv2d,
    /// Normalization after `conv2`, the branch's last layer (zeroed by `zero_init_residual`).
    pub bn2: NormLayer,
    /// The skip path S.
    pub shortcut: Shortcut,
}

impl BasicBlock {
    /// Output channels per `planes` (torchvision's `BasicBlock.expansion`).
    pub const EXPANSION: usize = 1;

    /// A block from `in_channels` to `planes` channels with `stride`, initialized as
    /// torchvision does (kaiming_normal fan_out convs, γ = 1, β = 0).
    ///
    /// # Panics
    /// If `options.groups != 1` or `options.width_per_group != 64`: like torchvision ("BasicBlock
    /// only supports groups=1 and base_width=64"); [`crate::ResNetConfig::init`] reports this as
    /// an error before getting here.
    ///
    /// ```
    /// use gradflow_resnet::{BasicBlock, BlockOptions};
    /// use gradflow_tensor::{Module, Tensor};
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let block = BasicBlock::new(4, 8, 2, &BlockOptions::default(), &mut rng);
    /// assert_eq!(block.forward(&Tensor::ones(&[2, 4, 6, 6])).shape(), &[2, 8, 3, 3]);
    /// // conv1 4·8·9 + bn1 16 + conv2 8·8·9 + bn2 16 + downsample (4·8 + 16)
    /// assert_eq!(block.num_parameters(), 288 + 16 + 576 + 16 + 48);
    /// ```
    #[track_caller]
    pub fn new<R: Rng + ?Sized>(
        in_channels: usize,
        planes: usize,
        stride: usize,
        options: &BlockOptions,
        rng: &mut R,
    ) -> Self {
        assert!(
            options.groups == 1 && options.width_per_group == 64,
            "BasicBlock: only groups = 1 and width_per_group = 64 are supported, got {} and {}",
            options.groups,
            options.width_per_group
        );
        let bias = options.norm.conv_bias();
        let conv1 = kaiming_conv(in_channels, planes, 3, stride, 1, 1, bias, rng);
        let conv2 = kaiming_conv(planes, planes, 3, 1, 1, 1, bias, rng);
        let shortcut = Shortcut::new(
            in_channels,
            planes * Self::EXPANSION,
            stride,
            options.shortcut,
            options.residual,
            options.norm,
            rng,
        );
        BasicBlock {
            conv1,
            bn1: options.norm.layer(planes),
            conv2,
            bn2: options.norm.layer(planes),
            shortcut,
        }
    }

    /// The residual branch F(x) alone (no shortcut, no final ReLU).
    pub fn branch(&self, x: &Tensor) -> Tensor {
        let h = relu(&self.bn1.after_conv(&self.conv1, x));
        self.bn2.after_conv(&self.conv2, &h)
    }

    /// Make F(x) = 0 at initialization (Goyal et al. 2017; torchvision's
    /// `zero_init_residual`): γ of `bn2` is set to 0, or without normalization the weight
    /// (and bias) of `conv2`. With an identity shortcut the block is then y = relu(x), the
    /// identity on the non-negative outputs of the previous block.
    pub fn zero_init_residual(&self) {
        if !self.bn2.zero_weight() {
            zero_conv(&self.conv2);
        }
    }
}

/// Set a convolution's weight and bias to 0.
pub(crate) fn zero_conv(conv: &Conv2d) {
    no_grad(|| {
        conv.weight().update_data(|d| d.fill(0.0));
        if let Some(b) = conv.bias() {
            b.update_data(|d| d.fill(0.0));
        }
    });
}

impl Module for BasicBlock {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.shortcut.join(&self.branch(x), x)
    }

    fn visit(&self, s: &mut Scope<'_>) {
        s.module("conv1", &self.conv1);
        s.module("bn1", &self.bn1);
        s.module("conv2", &self.conv2);
        s.module("bn2", &self.bn2);
        self.shortcut.visit(s);
    }

    fn set_training(&mut self, training: bool) {
        self.bn1.set_training(training);
        self.bn2.set_training(training);
        self.shortcut.set_training(training);
    }
}
