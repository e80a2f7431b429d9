//! Named networks: torchvision's ImageNet ResNets, the CIFAR family of He et al. 2016 §4.2, and
//! the plain twins of both (the same layers without skip connections).
//!
//! | network | block | layers | params (1000 classes) |
//! |---|---|---|---|
//! | resnet18 | basic | 2, 2, 2, 2 | 11,689,512 |
//! | resnet34 | basic | 3, 4, 6, 3 | 21,797,672 |
//! | resnet50 | bottleneck | 3, 4, 6, 3 | 25,557,032 |
//! | resnet101 | bottleneck | 3, 4, 23, 3 | 44,549,160 |
//! | resnet152 | bottleneck | 3, 8, 36, 3 | 60,192,808 |
//! | resnext50_32x4d | bottleneck, 32 groups × 4 | 3, 4, 6, 3 | 25,028,904 |
//! | wide_resnet50_2 | bottleneck, width × 2 | 3, 4, 6, 3 | 68,883,240 |
//!
//! CIFAR (10 classes, option A): resnet20 269,722; resnet32 464,154; resnet44 658,586;
//! resnet56 853,018; resnet110 1,727,962.

use crate::block::BlockKind;
use crate::config::{ResNetConfig, Stem};
use crate::error::ResNetError;
use crate::shortcut::ShortcutKind;

/// torchvision's ImageNet stage widths.
const IMAGENET_WIDTHS: [usize; 4] = [64, 128, 256, 512];
/// The CIFAR family's stage widths (He et al. 2016, §4.2).
const CIFAR_WIDTHS: [usize; 3] = [16, 32, 64];

impl ResNetConfig {
    /// An ImageNet-layout network (torchvision's `_resnet(block, layers, …)`): 7×7/2 stem,
    /// max-pool, four stages at 64/128/256/512 planes.
    pub fn imagenet(block: BlockKind, layers: [usize; 4], num_classes: usize) -> Self {
        ResNetConfig::new(block, &layers, &IMAGENET_WIDTHS, num_classes)
    }

    /// ResNet-18 (torchvision `resnet18`): BasicBlock × [2, 2, 2, 2].
    pub fn resnet18(num_classes: usize) -> Self {
        Self::imagenet(BlockKind::Basic, [2, 2, 2, 2], num_classes)
    }

    /// ResNet-34 (torchvision `resnet34`): BasicBlock × [3, 4, 6, 3].
    pub fn resnet34(num_classes: usize) -> Self {
        Self::imagenet(BlockKind::Basic, [3, 4, 6, 3], num_classes)
    }

    /// ResNet-50 (torchvision `resnet50`, v1.5): Bottleneck × [3, 4, 6, 3].
    pub fn resnet50(num_classes: usize) -> Self {
        Self::imagenet(BlockKind::Bottleneck, [3, 4, 6, 3], num_classes)
    }

    /// ResNet-101 (torchvision `resnet101`): Bottleneck × [3, 4, 23, 3].
    pub fn resnet101(num_classes: usize) -> Self {
        Self::imagenet(BlockKind::Bottleneck, [3, 4, 23, 3], num_classes)
    }

    /// ResNet-152 (torchvision `resnet152`): Bottleneck × [3, 8, 36, 3].
    pub fn resnet152(num_classes: usize) -> Self {
        Self::imagenet(BlockKind::Bottleneck, [3, 8, 36, 3], num_classes)
    }

    /// ResNeXt-50 32×4d (Xie et al. 2017; torchvision `resnext50_32x4d`): ResNet-50 with the
    /// 3×3 convolutions split into 32 groups of width 4 per 64 planes.
    pub fn resnext50_32x4d(num_classes: usize) -> Self {
        Self::resnet50(num_classes)
            .with_groups(32)
            .with_width_per_group(4)
    }

    /// ResNeXt-101 32×8d (torchvision `resnext101_32x8d`).
    pub fn resnext101_32x8d(num_classes: usize) -> Self {
        Self::resnet101(num_classes)
            .with_groups(32)
            .with_width_per_group(8)
    }

    /// Wide ResNet-50-2 (Zagoruyko & Komodakis 2016; torchvision `wide_resnet50_2`): ResNet-50
    /// with bottlenecks twice as wide (width_per_group 128).
    pub fn wide_resnet50_2(num_classes: usize) -> Self {
        Self::resnet50(num_classes).with_width_per_group(128)
    }

    /// Wide ResNet-101-2 (torchvision `wide_resnet101_2`).
    pub fn wide_resnet101_2(num_classes: usize) -> Self {
        Self::resnet101(num_classes).with_width_per_group(128)
    }

    /// A CIFAR ResNet of `depth` = 6n + 2 layers (He et al. 2016, §4.2): 3×3 stem with 16
    /// channels, three stages of n BasicBlocks at 16/32/64 channels, option-A shortcuts
    /// (parameter-free), global average pool, `fc`. Same network as `cifar_resnet(depth)` in
    /// `../shared/bench/pytorch_baseline.py`, under torchvision's names.
    ///
    /// # Errors
    /// [`ResNetError::CifarDepth`] unless depth = 6n + 2 with n ≥ 1.
    ///
    /// ```
    /// use gradflow_resnet::ResNetConfig;
    /// assert_eq!(ResNetConfig::cifar(56, 10).unwrap().layers, [9, 9, 9]);
    /// assert!(ResNetConfig::cifar(21, 10).is_err());
    /// ```
    pub fn cifar(depth: usize, num_classes: usize) -> Result<Self, ResNetError> {
        if depth < 8 || !(depth - 2).is_multiple_of(6) {
            return Err(ResNetError::CifarDepth { depth });
        }
        Ok(Self::cifar_n((depth - 2) / 6, num_classes))
    }

    fn cifar_n(n: usize, num_classes: usize) -> Self {
        ResNetConfig::new(BlockKind::Basic, &[n; 3], &CIFAR_WIDTHS, num_classes)
            .with_stem(Stem::Cifar)
            .with_shortcut(ShortcutKind::PadZeros)
    }

    /// CIFAR ResNet-20 (n = 3).
    pub fn resnet20(num_classes: usize) -> Self {
        Self::cifar_n(3, num_classes)
    }

    /// CIFAR ResNet-32 (n = 5).
    pub fn resnet32(num_classes: usize) -> Self {
        Self::cifar_n(5, num_classes)
    }

    /// CIFAR ResNet-44 (n = 7).
    pub fn resnet44(num_classes: usize) -> Self {
        Self::cifar_n(7, num_classes)
    }

    /// CIFAR ResNet-56 (n = 9).
    pub fn resnet56(num_classes: usize) -> Self {
        Self::cifar_n(9, num_classes)
    }

    /// CIFAR ResNet-110 (n = 18).
    pub fn resnet110(num_classes: usize) -> Self {
        Self::cifar_n(18, num_classes)
    }

    /// Plain-18: [`ResNetConfig::resnet18`] without skip connections.
    pub fn plain18(num_classes: usize) -> Self {
        Self::resnet18(num_classes).with_residual(false)
    }

    /// Plain-34 (He et al. 2016, Fig. 3 middle): [`ResNetConfig::resnet34`] without skips.
    pub fn plain34(num_classes: usize) -> Self {
        Self::resnet34(num_classes).with_residual(false)
    }

    /// Plain-50: [`ResNetConfig::resnet50`] without skips.
    pub fn plain50(num_classes: usize) -> Self {
        Self::resnet50(num_classes).with_residual(false)
    }

    /// Plain-101: [`ResNetConfig::resnet101`] without skips.
    pub fn plain101(num_classes: usize) -> Self {
        Self::resnet101(num_classes).with_residual(false)
    }

    /// Plain-152: [`ResNetConfig::resnet152`] without skips (the seed's vanishing case).
    pub fn plain152(num_classes: usize) -> Self {
        Self::resnet152(num_classes).with_residual(false)
    }

    /// CIFAR Plain-20 (He et al. 2016, Fig. 6 left).
    pub fn plain20(num_classes: usize) -> Self {
        Self::resnet20(num_classes).with_residual(false)
    }

    /// CIFAR Plain-32.
    pub fn plain32(num_classes: usize) -> Self {
        Self::resnet32(num_classes).with_residual(false)
    }

    /// CIFAR Plain-44.
    pub fn plain44(num_classes: usize) -> Self {
        Self::resnet44(num_classes).with_residual(false)
    }

    /// CIFAR Plain-56 (the paper's degradation example: higher training error than Plain-20).
    pub fn plain56(num_classes: usize) -> Self {
        Self::resnet56(num_classes).with_residual(false)
    }

    /// CIFAR Plain-110.
    pub fn plain110(num_classes: usize) -> Self {
        Self::resnet110(num_classes).with_residual(false)
    }
}
