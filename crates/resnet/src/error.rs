//! [`ResNetError`]: what a configuration or a checkpoint can get wrong.

use gradflow_layers::CheckpointError;

/// A configuration that cannot be built, or a checkpoint that does not fit.
#[derive(Debug, thiserror::Error)]
pub enum ResNetError {
    /// `layers` and `widths` must name the same number of stages, at least one.
    #[error(
        "ResNetConfig: {layers} stage depths but {widths} stage widths (need the same number, at least 1)"
    )]
    StageCount {
        /// Length of `layers`.
        layers: usize,
        /// Length of `widths`.
        widths: usize,
    },
    /// A size that must be positive is 0.
    #[error("ResNetConfig: {what} must be positive")]
    Zero {
        /// Which size (`in_channels`, `num_classes`, `widths[2]`, `layers[0]`, `groups`).
        what: String,
    },
    /// torchvision's BasicBlock supports only groups = 1 and width_per_group = 64.
    #[error(
        "ResNetConfig: BasicBlock only supports groups = 1 and width_per_group = 64, got groups = {groups}, width_per_group = {width_per_group}"
    )]
    BasicBlockGroups {
        /// The configured groups.
        groups: usize,
        /// The configured width per group.
        width_per_group: usize,
    },
    /// The bottleneck width ⌊planes·width_per_group/64⌋·groups is 0.
    #[error(
        "ResNetConfig: bottleneck width ⌊{planes}·{width_per_group}/64⌋·{groups} is 0 (widen the stage or width_per_group)"
    )]
    BottleneckWidth {
        /// The stage's planes.
        planes: usize,
        /// The configured groups.
        groups: usize,
        /// The configured width per group.
        width_per_group: usize,
    },
    /// Option A (zero padding) cannot reduce the channel count.
    #[error(
        "ResNetConfig: the zero-padding shortcut (option A) cannot go from {from} to {to} channels at stage {stage}"
    )]
    PadShortcutShrinks {
        /// Stage index (0-based).
        stage: usize,
        /// Channels entering the stage.
        from: usize,
        /// Channels leaving its first block.
        to: usize,
    },
    /// The CIFAR family needs depth = 6n + 2.
    #[error("CIFAR ResNet depth {depth} is not 6n + 2 with n ≥ 1 (20, 32, 44, 56, 110, …)")]
    CifarDepth {
        /// The requested depth.
        depth: usize,
    },
    /// A checkpoint could not be read or does not match the model (the report names every
    /// missing, unexpected and mis-shaped tensor).
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}
