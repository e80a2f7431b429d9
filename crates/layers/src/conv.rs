//! 2-D convolution layer (cross-correlation, as PyTorch's `nn.Conv2d`).

use gradflow_tensor::{Conv2dParams, Module, Scope, Tensor};
use rand::Rng;

use crate::IntoPair;
use gradflow_init::{default_bias, default_weight};

/// Hyperparameters of a [`Conv2d`] layer (PyTorch's `nn.Conv2d(in_channels, out_channels,
/// kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True)`, zero padding only).
///
/// ```
/// use gradflow_layers::{Conv2dConfig, Module};
/// use gradflow_tensor::Tensor;
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let conv = Conv2dConfig::new(4, 8, 3).with_stride(2).with_padding(1).with_groups(2).init(&mut rng);
/// assert_eq!(conv.weight().shape(), &[8, 2, 3, 3]); // [O, C/groups, KH, KW]
/// assert_eq!(conv.forward(&Tensor::zeros(&[1, 4, 9, 9])).shape(), &[1, 8, 5, 5]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conv2dConfig {
    /// Input channels C.
    pub in_channels: usize,
    /// Output channels O.
    pub out_channels: usize,
    /// Kernel (KH, KW).
    pub kernel_size: (usize, usize),
    /// Step between receptive fields (default 1).
    pub stride: (usize, usize),
    /// Zeros added on each side (default 0).
    pub padding: (usize, usize),
    /// Spacing between kernel taps (default 1).
    pub dilation: (usize, usize),
    /// Channel groups; C and O must both divide by it (default 1).
    pub groups: usize,
    /// Whether to learn a per-output-channel bias (default `true`).
    pub bias: bool,
}

impl Conv2dConfig {
    /// `in_channels → out_channels` with a `kernel_size` kernel (`3` or `(3, 5)`), stride 1,
    /// no padding, no dilation, one group, with bias: PyTorch's defaults.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: impl IntoPair) -> Self {
        Conv2dConfig {
            in_channels,
            out_channels,
            kernel_size: kernel_size.into_pair(),
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
            bias: true,
        }
    }

    /// Set the stride.
    pub fn with_stride(self, stride: impl IntoPair) -> Self {
        Conv2dConfig {
            stride: stride.into_pair(),
            ..self
        }
    }

    /// Set the zero padding.
    pub fn with_padding(self, padding: impl IntoPair) -> Self {
        Conv2dConfig {
            padding: padding.into_pair(),
            ..self
        }
    }

    /// Set the dilation.
    pub fn with_dilation(self, dilation: impl IntoPair) -> Self {
        Conv2dConfig {
            dilation: dilation.into_pair(),
            ..self
        }
    }

    /// Set the number of channel groups (`groups = C` is a depthwise convolution).
    pub fn with_groups(self, groups: usize) -> Self {
        Conv2dConfig { groups, ..self }
    }

    /// With or without bias.
    pub fn with_bias(self, bias: bool) -> Self {
        Conv2dConfig { bias, ..self }
    }

    /// The geometry as the tensor op takes it.
    pub fn params(&self) -> Conv2dParams {
        Conv2dParams {
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
            groups: self.groups,
        }
    }

    /// Build the layer with PyTorch's default initialization: W ~ U(±1/√fan_in) and
    /// b ~ U(±1/√fan_in), fan_in = C/groups·KH·KW.
    ///
    /// # Panics
    /// If `groups` is 0 or does not divide both channel counts, or a kernel side, stride or
    /// dilation is 0.
    #[track_caller]
    pub fn init<R: Rng + ?Sized>(&self, rng: &mut R) -> Conv2d {
        let g = self.groups;
        assert!(
            g > 0 && self.in_channels.is_multiple_of(g) && self.out_channels.is_multiple_of(g),
            "Conv2d: groups = {g} must divide in_channels = {} and out_channels = {}",
            self.in_channels,
            self.out_channels
        );
        let (kh, kw) = self.kernel_size;
        assert!(
            kh > 0
                && kw > 0
                && self.stride.0 > 0
                && self.stride.1 > 0
                && self.dilation.0 > 0
                && self.dilation.1 > 0,
            "Conv2d: kernel {:?}, stride {:?} and dilation {:?} must be positive",
            self.kernel_size,
            self.stride,
            self.dilation
        );
        let shape = [self.out_channels, self.in_channels / g, kh, kw];
        let fan_in = shape[1] * kh * kw;
        let weight = default_weight(&shape, rng).requires_grad_();
        let bias = self
            .bias
            .then(|| default_bias(self.out_channels, fan_in, rng).requires_grad_());
        Conv2d {
            weight,
            bias,
            params: self.params(),
        }
    }
}

/// 2-D convolution layer:
/// y\[n, o, i, j\] = b\[o\] + Σ_{c, p, q} W\[o, c, p, q\] · x\[n, g·C/G + c, i·s + p·d − pad, j·s + q·d − pad\],
/// where g is the group of output channel o.
///
/// Forward and backward run through [`Tensor::conv2d`] (im2col + GEMM).
///
/// # Shapes
/// `[N, C, H, W] → [N, O, OH, OW]`, OH = ⌊(H + 2·pad − dil·(KH − 1) − 1) / stride⌋ + 1.
///
/// # Panics
/// On a wrong input rank or channel count (the message names `conv2d` and the shapes).
#[derive(Clone, Debug)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    params: Conv2dParams,
}

impl Conv2d {
    /// A layer around existing tensors: weight `[O, C/groups, KH, KW]`, bias `[O]`.
    ///
    /// # Panics
    /// If the weight is not 4-D, its output channels do not divide by `groups`, or the bias is
    /// not `[O]`.
    #[track_caller]
    pub fn from_tensors(weight: Tensor, bias: Option<Tensor>, params: Conv2dParams) -> Self {
        assert!(
            weight.rank() == 4 && params.groups > 0 && weight.dim(0).is_multiple_of(params.groups),
            "Conv2d: weight must be [O, C/groups, KH, KW] with O divisible by groups = {}, got {:?}",
            params.groups,
            weight.shape()
        );
        if let Some(b) = &bias {
            assert!(
                b.shape() == [weight.dim(0)],
                "Conv2d: bias must be [{}] to match weight {:?}, got {:?}",
                weight.dim(0),
                weight.shape(),
                b.shape()
            );
        }
        Conv2d {
            weight,
            bias,
            params,
        }
    }

    /// W, shape `[O, C/groups, KH, KW]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// b, shape `[O]`, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// Stride, padding, dilation and groups.
    pub fn params(&self) -> Conv2dParams {
        self.params
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.conv2d(&self.weight, self.bias.as_ref(), self.params)
    }

    fn visit(&self, s: &mut Scope<'_>) {
        s.param("weight", &self.weight);
        if let Some(b) = &self.bias {
            s.param("bias", b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn default_init_uses_grouped_fan_in() {
        let mut rng = StdRng::seed_from_u64(3);
        let conv = Conv2dConfig::new(8, 16, 3).with_groups(4).init(&mut rng);
        // fan_in = 8/4·3·3 = 18.
        let bound = 1.0 / 18f32.sqrt();
        let w = conv.weight().to_vec();
        assert!(w.iter().all(|v| v.abs() <= bound));
        assert!(w.iter().any(|v| v.abs() > 0.8 * bound));
        assert!(
            conv.bias()
                .unwrap()
                .to_vec()
                .iter()
                .all(|v| v.abs() <= bound)
        );
    }

    #[test]
    #[should_panic(expected = "Conv2d: groups = 3 must divide")]
    fn bad_groups_panic() {
        let mut rng = StdRng::seed_from_u64(3);
        Conv2dConfig::new(4, 6, 3).with_groups(3).init(&mut rng);
    }
}
