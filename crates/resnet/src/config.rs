//! [`ResNetConfig`]: every hyperparameter of a ResNet, validated, and a parameter count that
//! needs no allocation.

use rand::Rng;

use crate::block::{BlockKind, BlockOptions};
use crate::bottleneck::Bottleneck;
use crate::error::ResNetError;
use crate::norm::Norm;
use crate::resnet::ResNet;
use crate::shortcut::ShortcutKind;

/// The network's input stem.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stem {
    /// ImageNet: 7×7 convolution with stride 2 and padding 3, normalization, ReLU, then a 3×3
    /// max-pool with stride 2 and padding 1 (224² → 56²). torchvision's stem.
    #[default]
    ImageNet,
    /// CIFAR (He et al. 2016, §4.2): 3×3 convolution with stride 1 and padding 1,
    /// normalization, ReLU, no pooling (32² stays 32²).
    Cifar,
}

/// Hyperparameters of a [`ResNet`] (torchvision's `ResNet(block, layers, num_classes,
/// zero_init_residual, groups, width_per_group, norm_layer)` plus free stage widths, the CIFAR
/// stem, option-A shortcuts and the plain twin).
///
/// Stage i has `layers[i]` blocks of `planes = widths[i]`; its first block carries stride 1
/// for i = 0 and 2 otherwise, as torchvision's `_make_layer`. The stem has `widths[0]` channels
/// (torchvision's `inplanes = 64`).
///
/// Start from a named network and adjust it:
///
/// ```
/// use gradflow_resnet::{Norm, ResNetConfig};
/// let plain = ResNetConfig::resnet34(10).with_residual(false).with_norm(Norm::Group);
/// assert_eq!(plain, ResNetConfig::plain34(10).with_norm(Norm::Group));
/// assert_eq!(ResNetConfig::resnet18(1000).num_parameters(), 11_689_512);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResNetConfig {
    /// Basic or bottleneck blocks.
    pub block: BlockKind,
    /// Blocks per stage (ResNet-50: `[3, 4, 6, 3]`).
    pub layers: Vec<usize>,
    /// Planes per stage (ImageNet: `[64, 128, 256, 512]`; CIFAR: `[16, 32, 64]`).
    pub widths: Vec<usize>,
    /// ImageNet or CIFAR stem.
    pub stem: Stem,
    /// Input channels (3 for RGB).
    pub in_channels: usize,
    /// Outputs of the final `fc` layer.
    pub num_classes: usize,
    /// Normalization, shortcut kind, skip connections on or off, groups, width per group.
    pub options: BlockOptions,
    /// Zero the last normalization's γ of every block so that each residual branch starts at
    /// F = 0 (Goyal et al. 2017; torchvision's `zero_init_residual`, default `false`).
    pub zero_init_residual: bool,
}

impl ResNetConfig {
    /// A network of `block`s with `layers[i]` blocks of `widths[i]` planes per stage and
    /// `num_classes` outputs; ImageNet stem, 3 input channels, BatchNorm, projection
    /// shortcuts, groups 1, width per group 64, no zero init.
    pub fn new(block: BlockKind, layers: &[usize], widths: &[usize], num_classes: usize) -> Self {
        ResNetConfig {
            block,
            layers: layers.to_vec(),
            widths: widths.to_vec(),
            stem: Stem::ImageNet,
            in_channels: 3,
            num_classes,
            options: BlockOptions::default(),
            zero_init_residual: false,
        }
    }

    /// Set the stem.
    pub fn with_stem(mut self, stem: Stem) -> Self {
        self.stem = stem;
        self
    }

    /// Set the number of input channels.
    pub fn with_in_channels(mut self, in_channels: usize) -> Self {
        self.in_channels = in_channels;
        self
    }

    /// Set the normalization.
    pub fn with_norm(mut self, norm: Norm) -> Self {
        self.options.norm = norm;
        self
    }

    /// Set the shortcut used where the shape changes.
    pub fn with_shortcut(mut self, shortcut: ShortcutKind) -> Self {
        self.options.shortcut = shortcut;
        self
    }

    /// With (`true`) or without (`false`: the plain twin) skip connections.
    pub fn with_residual(mut self, residual: bool) -> Self {
        self.options.residual = residual;
        self
    }

    /// Set the groups of the bottleneck's 3×3 convolution.
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.options.groups = groups;
        self
    }

    /// Set the bottleneck width per group.
    pub fn with_width_per_group(mut self, width_per_group: usize) -> Self {
        self.options.width_per_group = width_per_group;
        self
    }

    /// Enable or disable `zero_init_residual`.
    pub fn with_zero_init_residual(mut self, zero_init_residual: bool) -> Self {
        self.zero_init_residual = zero_init_residual;
        self
    }

    /// Set the number of classes.
    pub fn with_num_classes(mut self, num_classes: usize) -> Self {
        self.num_classes = num_classes;
        self
    }

    /// Stride of the first block of stage `i`: 1 for the first stage, 2 after.
    pub fn stage_stride(i: usize) -> usize {
        if i == 0 { 1 } else { 2 }
    }

    /// Channels leaving the last stage (the `fc` layer's input): `widths.last() · expansion`.
    pub fn out_channels(&self) -> usize {
        self.widths.last().copied().unwrap_or(0) * self.block.expansion()
    }

    /// The number of weighted layers the paper counts: the stem convolution, every
    /// convolution of every block's branch, and `fc` (ResNet-34: 1 + 2·16 + 1 = 34).
    pub fn depth(&self) -> usize {
        let per_block = match self.block {
            BlockKind::Basic => 2,
            BlockKind::Bottleneck => 3,
        };
        2 + per_block * self.layers.iter().sum::<usize>()
    }

    /// Check that the network can be built.
    ///
    /// # Errors
    /// [`ResNetError`] naming the first problem: stage counts that differ or are 0, a zero
    /// size, BasicBlock with groups ≠ 1 or width_per_group ≠ 64, a bottleneck width of 0 or
    /// not divisible by the groups, option A asked to reduce channels.
    pub fn validate(&self) -> Result<(), ResNetError> {
        if self.layers.len() != self.widths.len() || self.layers.is_empty() {
            return Err(ResNetError::StageCount {
                layers: self.layers.len(),
                widths: self.widths.len(),
            });
        }
        let zero = |what: String| Err(ResNetError::Zero { what });
        if self.in_channels == 0 {
            return zero("in_channels".into());
        }
        if self.num_classes == 0 {
            return zero("num_classes".into());
        }
        let o = &self.options;
        if o.groups == 0 {
            return zero("groups".into());
        }
        for (i, (&n, &w)) in self.layers.iter().zip(&self.widths).enumerate() {
            if n == 0 {
                return zero(format!("layers[{i}]"));
            }
            if w == 0 {
                return zero(format!("widths[{i}]"));
            }
            if self.block == BlockKind::Bottleneck
                && Bottleneck::width(w, o.groups, o.width_per_group) == 0
            {
                return Err(ResNetError::BottleneckWidth {
                    planes: w,
                    groups: o.groups,
                    width_per_group: o.width_per_group,
                });
            }
        }
        if self.block == BlockKind::Basic && (o.groups != 1 || o.width_per_group != 64) {
            return Err(ResNetError::BasicBlockGroups {
                groups: o.groups,
                width_per_group: o.width_per_group,
            });
        }
        if o.residual && o.shortcut == ShortcutKind::PadZeros {
            let e = self.block.expansion();
            let mut from = self.widths[0];
            for (stage, &w) in self.widths.iter().enumerate() {
                if w * e < from {
                    return Err(ResNetError::PadShortcutShrinks {
                        stage,
                        from,
                        to: w * e,
                    });
                }
                from = w * e;
            }
        }
        Ok(())
    }

    /// Build the network with torchvision's initialization: every convolution
    /// kaiming_normal(fan_out, ReLU), every normalization γ = 1 and β = 0, `fc` PyTorch's
    /// default U(±1/√fan_in), then `zero_init_residual` if asked. Parameters are drawn in
    /// module order from `rng`, so a seed fixes the network.
    ///
    /// # Errors
    /// As [`ResNetConfig::validate`].
    pub fn init<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<ResNet, ResNetError> {
        self.validate()?;
        Ok(ResNet::build(self.clone(), rng))
    }

    /// The number of trainable scalars the network will have, computed from the shapes alone
    /// (no allocation): what [`gradflow_tensor::Module::num_parameters`] of the built network
    /// returns, and what `sum(p.numel() for p in model.parameters())` gives in PyTorch.
    ///
    /// Meaningful only for a configuration that [`validates`](Self::validate).
    pub fn num_parameters(&self) -> usize {
        let o = &self.options;
        let bias = o.norm.conv_bias();
        let conv = |cin: usize, cout: usize, k: usize, groups: usize| {
            cout * (cin / groups) * k * k + if bias { cout } else { 0 }
        };
        let norm = |c: usize| if o.norm == Norm::None { 0 } else { 2 * c };
        let stem_k = match self.stem {
            Stem::ImageNet => 7,
            Stem::Cifar => 3,
        };
        let mut inplanes = self.widths.first().copied().unwrap_or(0);
        let mut total = conv(self.in_channels, inplanes, stem_k, 1) + norm(inplanes);
        let e = self.block.expansion();
        for (i, (&n, &planes)) in self.layers.iter().zip(&self.widths).enumerate() {
            for j in 0..n {
                let stride = if j == 0 { Self::stage_stride(i) } else { 1 };
                let out = planes * e;
                total += match self.block {
                    BlockKind::Basic => {
                        conv(inplanes, planes, 3, 1) + conv(planes, planes, 3, 1) + 2 * norm(planes)
                    }
                    BlockKind::Bottleneck => {
                        let w = Bottleneck::width(planes, o.groups, o.width_per_group);
                        conv(inplanes, w, 1, 1)
                            + conv(w, w, 3, o.groups)
                            + conv(w, out, 1, 1)
                            + 2 * norm(w)
                            + norm(out)
                    }
                };
                let reshapes = stride != 1 || inplanes != out;
                if o.residual && reshapes && o.shortcut == ShortcutKind::Projection {
                    total += conv(inplanes, out, 1, 1) + norm(out);
                }
                inplanes = out;
            }
        }
        total + inplanes * self.num_classes + self.num_classes
    }
}
