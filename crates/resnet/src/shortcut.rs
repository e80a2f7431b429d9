//! The shortcut path of a residual block: identity, projection (option B), zero-padded
//! subsampling (option A), or none at all (the plain twin).
//!
//! He et al. 2016 (§3.3, "Identity vs. projection shortcuts") compare three choices when a
//! block changes the shape (stride 2, more channels):
//! - **A**: parameter-free: take every s-th pixel and append zero channels,
//!   x ↦ pad_C(x\[:, :, ::s, ::s\]). The new channels carry no shortcut signal.
//! - **B**: a projection W_s·x (1×1 convolution with stride s, then BN) only where the shape
//!   changes, identity elsewhere. torchvision's `downsample`.
//! - **C**: projections everywhere (not offered: the paper found it marginally better for
//!   13 times the shortcut parameters).

use gradflow_activations::{add_relu, relu};
use gradflow_init::{FanMode, Nonlinearity, kaiming_normal};
use gradflow_layers::Conv2d;
use gradflow_tensor::{Conv2dParams, Module, Scope, Tensor};
use rand::Rng;

use crate::norm::{Norm, NormLayer};

/// Which shortcut a block uses where its input and output shapes differ; where they agree the
/// shortcut is always the identity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShortcutKind {
    /// Option B: 1×1 convolution with stride, then normalization (torchvision's `downsample`).
    #[default]
    Projection,
    /// Option A: stride-s subsampling with the new channels zero-padded (parameter-free, the
    /// paper's choice for its CIFAR-10 networks).
    PadZeros,
}

/// torchvision's `downsample = nn.Sequential(conv1x1(in, out, stride), norm_layer(out))`:
/// y = BN(W_s ⋆ x), with the convolution named `0` and the normalization `1`, so the tensors are
/// `downsample.0.weight`, `downsample.1.weight`, `downsample.1.running_mean`, ….
///
/// # Shapes
/// `[N, C_in, H, W] → [N, C_out, ⌈H/s⌉, ⌈W/s⌉]`.
#[derive(Debug)]
pub struct Downsample {
    /// The 1×1 strided convolution (`downsample.0`), bias-free unless there is no normalization.
    pub conv: Conv2d,
    /// Its normalization (`downsample.1`).
    pub norm: NormLayer,
}

impl Downsample {
    /// A projection from `in_channels` to `out_channels` with `stride`, its weight drawn from
    /// kaiming_normal(fan_out, ReLU) as torchvision's `ResNet.__init__` does for every conv.
    pub fn new<R: Rng + ?Sized>(
        in_channels: usize,
        out_channels: usize,
        stride: usize,
        norm: Norm,
        rng: &mut R,
    ) -> Self {
        Downsample {
            conv: kaiming_conv(
                in_channels,
                out_channels,
                1,
                stride,
                0,
                1,
                norm.conv_bias(),
                rng,
            ),
            norm: norm.layer(out_channels),
        }
    }
}

impl Module for Downsample {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.norm.after_conv(&self.conv, x)
    }

    fn visit(&self, s: &mut Scope<'_>) {
        s.module("0", &self.conv);
        s.module("1", &self.norm);
    }

    fn set_training(&mut self, training: bool) {
        self.norm.set_training(training);
    }
}

/// Option A: y = pad_C(x\[:, :, ::s, ::s\]), with the `out − in` new channels split as in
/// the reference `_CifarBlock` (`../shared/bench/pytorch_baseline.py`): ⌊(out − in)/2⌋ zero
/// channels before the input's, the rest after. No parameters.
///
/// The backward pass is the transpose: the gradient of the kept channels is scattered back to
/// every s-th pixel, the gradient of the zero channels is dropped.
///
/// # Shapes
/// `[N, C_in, H, W] → [N, C_out, ⌈H/s⌉, ⌈W/s⌉]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PadShortcut {
    /// The subsampling step s.
    pub stride: usize,
    /// Zero channels inserted before the input channels.
    pub pad_before: usize,
    /// Zero channels appended after them.
    pub pad_after: usize,
}

impl PadShortcut {
    /// From `in_channels` to `out_channels ≥ in_channels` with `stride`.
    ///
    /// # Panics
    /// If `out_channels < in_channels` (option A cannot drop channels) or `stride` is 0.
    ///
    /// ```
    /// use gradflow_resnet::PadShortcut;
    /// use gradflow_tensor::{Module, Tensor};
    /// let a = PadShortcut::new(1, 3, 2);
    /// let x = Tensor::arange(1.0, 17.0, 1.0).reshape(&[1, 1, 4, 4]);
    /// let y = a.forward(&x);
    /// assert_eq!(y.shape(), &[1, 3, 2, 2]);
    /// // One zero channel, then x[::2, ::2] = [1, 3, 9, 11], then one more zero channel.
    /// assert_eq!(y.to_vec(), vec![0., 0., 0., 0., 1., 3., 9., 11., 0., 0., 0., 0.]);
    /// ```
    #[track_caller]
    pub fn new(in_channels: usize, out_channels: usize, stride: usize) -> Self {
        assert!(
            out_channels >= in_channels && stride > 0,
            "PadShortcut: option A maps {in_channels} to {out_channels} channels with stride \
             {stride}; it needs out ≥ in and stride ≥ 1"
        );
        let pad = out_channels - in_channels;
        PadShortcut {
            stride,
            pad_before: pad / 2,
            pad_after: pad - pad / 2,
        }
    }
}

impl Module for PadShortcut {
    fn forward(&self, x: &Tensor) -> Tensor {
        let s = self.stride;
        // x[:, :, ::s, ::s] is a 1×1 average pool with stride s (each window is one pixel).
        let sub = if s == 1 {
            x.clone()
        } else {
            x.avg_pool2d((1, 1), (s, s), (0, 0))
        };
        if self.pad_before == 0 && self.pad_after == 0 {
            return sub;
        }
        let (n, h, w) = (sub.dim(0), sub.dim(2), sub.dim(3));
        let before = Tensor::zeros(&[n, self.pad_before, h, w]);
        let after = Tensor::zeros(&[n, self.pad_after, h, w]);
        Tensor::concat(&[&before, &sub, &after], 1)
    }

    fn visit(&self, _s: &mut Scope<'_>) {}
}

/// The shortcut of one block.
#[derive(Debug)]
pub enum Shortcut {
    /// y = x (shapes agree).
    Identity,
    /// Option B, torchvision's `downsample` (named `downsample`).
    Projection(Downsample),
    /// Option A, zero-padded subsampling (no tensors).
    PadZeros(PadShortcut),
    /// No skip connection at all: the block is the plain twin's y = relu(F(x)).
    None,
}

impl Shortcut {
    /// The shortcut from `in_channels` to `out_channels` with `stride` under `kind`, or
    /// [`Shortcut::None`] when `residual` is false.
    pub fn new<R: Rng + ?Sized>(
        in_channels: usize,
        out_channels: usize,
        stride: usize,
        kind: ShortcutKind,
        residual: bool,
        norm: Norm,
        rng: &mut R,
    ) -> Self {
        if !residual {
            Shortcut::None
        } else if stride == 1 && in_channels == out_channels {
            Shortcut::Identity
        } else {
            match kind {
                ShortcutKind::Projection => Shortcut::Projection(Downsample::new(
                    in_channels,
                    out_channels,
                    stride,
                    norm,
                    rng,
                )),
                ShortcutKind::PadZeros => {
                    Shortcut::PadZeros(PadShortcut::new(in_channels, out_channels, stride))
                }
            }
        }
    }

    /// The shortcut's output for input `x`, or `None` for a plain block.
    pub fn apply(&self, x: &Tensor) -> Option<Tensor> {
        match self {
            Shortcut::Identity => Some(x.clone()),
            Shortcut::Projection(d) => Some(d.forward(x)),
            Shortcut::PadZeros(p) => Some(p.forward(x)),
            Shortcut::None => None,
        }
    }

    /// A block's output from its branch output `f` and input `x`: relu(f + shortcut(x)), or
    /// relu(f) for a plain block (He et al. 2016, eq. 1: the addition, then the ReLU).
    pub fn join(&self, f: &Tensor, x: &Tensor) -> Tensor {
        match self.apply(x) {
            Some(s) => add_relu(f, &s),
            None => relu(f),
        }
    }

    /// Visit the projection's tensors under `downsample` (the others have none).
    pub fn visit(&self, s: &mut Scope<'_>) {
        if let Shortcut::Projection(d) = self {
            s.module("downsample", d);
        }
    }

    /// Pass the mode on to the projection's normalization.
    pub fn set_training(&mut self, training: bool) {
        if let Shortcut::Projection(d) = self {
            d.set_training(training);
        }
    }
}

/// A convolution with torchvision's initialization: W ~ kaiming_normal(mode = fan_out,
/// nonlinearity = relu), i.e. N(0, √(2 / (O·KH·KW))), and (when present) a zero bias.
///
/// fan_out rather than fan_in preserves the variance of the *backward* signal through the
/// conv: Var\[∂L/∂x\] = O·KH·KW·Var\[W\]·Var\[∂L/∂y\]/2 after the ReLU's halving, so each
/// conv multiplies the gradient's second moment by 1 at initialization.
pub(crate) fn kaiming_conv<R: Rng + ?Sized>(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    groups: usize,
    bias: bool,
    rng: &mut R,
) -> Conv2d {
    let shape = [out_channels, in_channels / groups, kernel, kernel];
    let weight =
        kaiming_normal(&shape, 0.0, FanMode::FanOut, Nonlinearity::Relu, rng).requires_grad_();
    let bias = bias.then(|| Tensor::zeros(&[out_channels]).requires_grad_());
    Conv2d::from_tensors(
        weight,
        bias,
        Conv2dParams::new(stride, padding, 1).with_groups(groups),
    )
}
