//! [`Block`]: either kind of residual block, and the options every block of a network shares.

use gradflow_tensor::{Module, Scope, Tensor};
use rand::Rng;

use crate::basic_block::BasicBlock;
use crate::bottleneck::Bottleneck;
use crate::norm::Norm;
use crate::shortcut::{Shortcut, ShortcutKind};

/// Which block a network stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// [`BasicBlock`]: two 3×3 convolutions (ResNet-18/34, CIFAR ResNets).
    Basic,
    /// [`Bottleneck`]: 1×1, 3×3, 1×1 with expansion 4 (ResNet-50/101/152, ResNeXt, Wide ResNet).
    Bottleneck,
}

impl BlockKind {
    /// Output channels per `planes`: 1 for [`BlockKind::Basic`], 4 for
    /// [`BlockKind::Bottleneck`].
    pub fn expansion(self) -> usize {
        match self {
            BlockKind::Basic => BasicBlock::EXPANSION,
            BlockKind::Bottleneck => Bottleneck::EXPANSION,
        }
    }
}

/// What every block of a network shares (torchvision passes `groups`, `base_width` and
/// `norm_layer` to each block the same way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockOptions {
    /// Normalization after each convolution (default [`Norm::Batch`]).
    pub norm: Norm,
    /// Shortcut where the shape changes (default [`ShortcutKind::Projection`]).
    pub shortcut: ShortcutKind,
    /// Whether blocks have a skip connection at all (default `true`; `false` builds the
    /// plain twin).
    pub residual: bool,
    /// Groups of the bottleneck's 3×3 convolution (default 1; ResNeXt: 32).
    pub groups: usize,
    /// Bottleneck width per group at 64 planes (default 64; ResNeXt 32×4d: 4; Wide: 128).
    pub width_per_group: usize,
}

impl Default for BlockOptions {
    fn default() -> Self {
        BlockOptions {
            norm: Norm::Batch,
            shortcut: ShortcutKind::Projection,
            residual: true,
            groups: 1,
            width_per_group: 64,
        }
    }
}

/// One block of a stage: a [`BasicBlock`] or a [`Bottleneck`].
#[derive(Debug)]
pub enum Block {
    /// Two 3×3 convolutions.
    Basic(BasicBlock),
    /// 1×1, 3×3, 1×1.
    Bottleneck(Bottleneck),
}

impl Block {
    /// A block of `kind` from `in_channels` to `planes·expansion` channels with `stride`.
    ///
    /// # Panics
    /// As [`BasicBlock::new`] and [`Bottleneck::new`].
    #[track_caller]
    pub fn new<R: Rng + ?Sized>(
        kind: BlockKind,
        in_channels: usize,
        planes: usize,
        stride: usize,
        options: &BlockOptions,
        rng: &mut R,
    ) -> Self {
        match kind {
            BlockKind::Basic => {
                Block::Basic(BasicBlock::new(in_channels, planes, stride, options, rng))
            }
            BlockKind::Bottleneck => {
                Block::Bottleneck(Bottleneck::new(in_channels, planes, stride, options, rng))
            }
        }
    }

    /// The residual branch F(x) alone.
    pub fn branch(&self, x: &Tensor) -> Tensor {
        match self {
            Block::Basic(b) => b.branch(x),
            Block::Bottleneck(b) => b.branch(x),
        }
    }

    /// The skip path.
    pub fn shortcut(&self) -> &Shortcut {
        match self {
            Block::Basic(b) => &b.shortcut,
            Block::Bottleneck(b) => &b.shortcut,
        }
    }

    /// Zero the branch's last normalization (or convolution): see
    /// [`BasicBlock::zero_init_residual`].
    pub fn zero_init_residual(&self) {
        match self {
            Block::Basic(b) => b.zero_init_residual(),
            Block::Bottleneck(b) => b.zero_init_residual(),
        }
    }
}

impl Module for Block {
    fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Block::Basic(b) => b.forward(x),
            Block::Bottleneck(b) => b.forward(x),
        }
    }

    fn visit(&self, s: &mut Scope<'_>) {
        match self {
            Block::Basic(b) => b.visit(s),
            Block::Bottleneck(b) => b.visit(s),
        }
    }

    fn set_training(&mut self, training: bool) {
        match self {
            Block::Basic(b) => b.set_training(training),
            Block::Bottleneck(b) => b.set_training(training),
        }
    }
}
