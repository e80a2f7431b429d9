//! [`Bottleneck`]: 1×1 reduce, 3×3 (strided, grouped), 1×1 expand ×4: ResNet-50/101/152's block.

use gradflow_activations::relu;
use gradflow_layers::Conv2d;
use gradflow_tensor::{Module, Scope, Tensor};
use rand::Rng;

use crate::basic_block::zero_conv;
use crate::block::BlockOptions;
use crate::norm::NormLayer;
use crate::shortcut::{Shortcut, kaiming_conv};

/// torchvision's `Bottleneck` (expansion 4), He et al. 2016, Fig. 5 right, in the "ResNet
/// v1.5" form that puts the stride on the 3×3 convolution rather than the first 1×1:
///
/// F(x) = BN₃(W₃ ⋆ relu(BN₂(W₂ ⋆ relu(BN₁(W₁ ⋆ x))))),   y = relu(F(x) + S(x)),
///
/// with W₁: 1×1, C_in → w; W₂: 3×3, w → w, stride s, `groups` groups; W₃: 1×1, w → 4·planes;
/// and the inner width w = ⌊planes · width_per_group / 64⌋ · groups. ResNet-50 has
/// groups = 1, width_per_group = 64 (w = planes); ResNeXt-50 32×4d has groups = 32,
/// width_per_group = 4 (w = 2·planes, in 32 groups); Wide ResNet-50-2 has
/// width_per_group = 128 (w = 2·planes).
///
/// Why v1.5: a strided 1×1 convolution reads only one pixel in s² and discards the rest; a
/// strided 3×3 sees every input pixel (NVIDIA's ResNet-50 v1.5 notes report ≈ +0.5 % top-1
/// for it, at some extra compute).
///
/// Source: `torchvision/models/resnet.py`, class `Bottleneck`
/// (<https://github.com/pytorch/vision/blob/main/torchvision/models/resnet.py>).
///
/// # Names
/// `conv1`, `bn1`, `conv2`, `bn2`, `conv3`, `bn3`, `downsample.0`, `downsample.1`, as torchvision.
///
/// # Shapes
/// `[N, C_in, H, W] → [N, 4·planes, ⌈H/s⌉, ⌈W/s⌉]`.
///
/// # Panics
/// In `forward`, if the input's channel count is not `C_in` (the message names `conv2d`).
#[derive(Debug)]
pub struct Bottleneck {
    /// 1×1 convolution C_in → w.
    pub conv1: Conv2d,
    /// Normalization after `conv1`.
    pub bn1: NormLayer,
    /// 3×3 convolution w → w with the stride and the groups.
    pub conv2: Conv2d,
    /// Normalization after `conv2`.
    pub bn2: NormLayer,
    /// 1×1 convolution w → 4·planes.
    pub conv3: Conv2d,
    /// Normalization after `conv3`, the branch's last layer (zeroed by `zero_init_residual`).
    pub bn3: NormLayer,
    /// The skip path S.
    pub shortcut: Shortcut,
}

impl Bottleneck {
    /// Output channels per `planes` (torchvision's `Bottleneck.expansion`).
    pub const EXPANSION: usize = 4;

    /// The inner width w = ⌊planes · width_per_group / 64⌋ · groups.
    ///
    /// ```
    /// use gradflow_resnet::Bottleneck;
    /// assert_eq!(Bottleneck::width(64, 1, 64), 64);   // ResNet-50 layer1
    /// assert_eq!(Bottleneck::width(64, 32, 4), 128);  // ResNeXt-50 32×4d layer1
    /// assert_eq!(Bottleneck::width(64, 1, 128), 128); // Wide ResNet-50-2 layer1
    /// ```
    pub fn width(planes: usize, groups: usize, width_per_group: usize) -> usize {
        planes * width_per_group / 64 * groups
    }

    /// A block from `in_channels` to `4·planes` channels with `stride`, initialized as
    /// torchvision does (kaiming_normal fan_out convs, γ = 1, β = 0).
    ///
    /// # Panics
    /// If the inner width is 0 or not divisible by `options.groups` (the message names
    /// `Conv2d`); [`crate::ResNetConfig::init`] reports this as an error first.
    ///
    /// ```
    /// use gradflow_resnet::{BlockOptions, Bottleneck};
    /// use gradflow_tensor::{Module, Tensor};
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let block = Bottleneck::new(8, 2, 2, &BlockOptions::default(), &mut rng);
    /// assert_eq!(block.forward(&Tensor::ones(&[2, 8, 5, 5])).shape(), &[2, 8, 3, 3]);
    /// ```
    #[track_caller]
    pub fn new<R: Rng + ?Sized>(
        in_channels: usize,
        planes: usize,
        stride: usize,
        options: &BlockOptions,
        rng: &mut R,
    ) -> Self {
        let (groups, norm) = (options.groups, options.norm);
        let width = Self::width(planes, groups, options.width_per_group);
        let out = planes * Self::EXPANSION;
        let bias = norm.conv_bias();
        let conv1 = kaiming_conv(in_channels, width, 1, 1, 0, 1, bias, rng);
        let conv2 = kaiming_conv(width, width, 3, stride, 1, groups, bias, rng);
        let conv3 = kaiming_conv(width, out, 1, 1, 0, 1, bias, rng);
        let shortcut = Shortcut::new(
            in_channels,
            out,
            stride,
            options.shortcut,
            options.residual,
            norm,
            rng,
        );
        Bottleneck {
            conv1,
            bn1: norm.layer(width),
            conv2,
            bn2: norm.layer(width),
            conv3,
            bn3: norm.layer(out),
            shortcut,
        }
    }

    /// The residual branch F(x) alone (no shortcut, no final ReLU).
    pub fn branch(&self, x: &Tensor) -> Tensor {
        let h = relu(&self.bn1.after_conv(&self.conv1, x));
        let h = relu(&self.bn2.after_conv(&self.conv2, &h));
        self.bn3.after_conv(&self.conv3, &h)
    }

    /// Make F(x) = 0 at initialization: γ of `bn3` is set to 0, or without normalization the
    /// weight (and bias) of `conv3` (see [`crate::BasicBlock::zero_init_residual`]).
    pub fn zero_init_residual(&self) {
        if !self.bn3.zero_weight() {
            zero_conv(&self.conv3);
        }
    }
}

impl Module for Bottleneck {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.shortcut.join(&self.branch(x), x)
    }

    fn visit(&self, s: &mut Scope<'_>) {
        s.module("conv1", &self.conv1);
        s.module("bn1", &self.bn1);
        s.module("conv2", &self.conv2);
        s.module("bn2", &self.bn2);
        s.module("conv3", &self.conv3);
        s.module("bn3", &self.bn3);
        self.shortcut.visit(s);
    }

    fn set_training(&mut self, training: bool) {
        self.bn1.set_training(training);
        self.bn2.set_training(training);
        self.bn3.set_training(training);
        self.shortcut.set_training(training);
    }
}
