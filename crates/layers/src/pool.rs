//! Pooling layers: [`MaxPool2d`], [`AvgPool2d`], [`AdaptiveAvgPool2d`]. They own no tensors
//! and need no randomness, so they are built with `new` and `with_*` (no config, no rng).

use gradflow_tensor::{Module, Scope, Tensor};

use crate::IntoPair;

/// A pooling window: `kernel_size`, `stride` (default: the kernel size, like PyTorch's
/// `stride=None`) and `padding` (default 0, at most half the kernel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Window (KH, KW).
    pub kernel_size: (usize, usize),
    /// Step between windows.
    pub stride: (usize, usize),
    /// Implicit padding on each side (−∞ for max, 0 for average).
    pub padding: (usize, usize),
}

impl Window {
    fn new(kernel_size: (usize, usize)) -> Self {
        Window {
            kernel_size,
            stride: kernel_size,
            padding: (0, 0),
        }
    }
}

/// Max pooling, y\[n, c, i, j\] = max over the window at (i·s − pad, j·s − pad) of x\[n, c, ·, ·\],
/// padding counted as −∞ (PyTorch's `nn.MaxPool2d` without dilation or ceil mode).
///
/// The gradient flows only to the arg-max of each window (the first one on ties).
///
/// # Shapes
/// `[N, C, H, W] → [N, C, OH, OW]`, OH = ⌊(H + 2·pad − KH) / stride⌋ + 1.
///
/// # Panics
/// If the input is not 4-D or the window does not fit (message names `max_pool2d`).
///
/// ```
/// use gradflow_layers::{MaxPool2d, Module};
/// use gradflow_tensor::Tensor;
/// let pool = MaxPool2d::new(2);
/// let x = Tensor::arange(0.0, 16.0, 1.0).reshape(&[1, 1, 4, 4]);
/// assert_eq!(pool.forward(&x).to_vec(), vec![5.0, 7.0, 13.0, 15.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2d {
    window: Window,
}

impl MaxPool2d {
    /// A `kernel_size` window (`2` or `(2, 3)`) moved by its own size, no padding.
    pub fn new(kernel_size: impl IntoPair) -> Self {
        MaxPool2d {
            window: Window::new(kernel_size.into_pair()),
        }
    }

    /// Set the stride.
    pub fn with_stride(mut self, stride: impl IntoPair) -> Self {
        self.window.stride = stride.into_pair();
        self
    }

    /// Set the padding.
    pub fn with_padding(mut self, padding: impl IntoPair) -> Self {
        self.window.padding = padding.into_pair();
        self
    }

    /// Kernel, stride and padding.
    pub fn window(&self) -> &Window {
        &self.window
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        let c = &self.window;
        x.max_pool2d(c.kernel_size, c.stride, c.padding)
    }

    fn visit(&self, _s: &mut Scope<'_>) {}
}

/// Average pooling, y\[n, c, i, j\] = (1 / (KH·KW)) Σ over the window of x\[n, c, ·, ·\], with zero
/// padding counted in the divisor (PyTorch's default `count_include_pad=True`; no ceil mode).
///
/// # Shapes
/// `[N, C, H, W] → [N, C, OH, OW]`, OH = ⌊(H + 2·pad − KH) / stride⌋ + 1.
///
/// # Panics
/// If the input is not 4-D or the window does not fit (message names `avg_pool2d`).
///
/// ```
/// use gradflow_layers::{AvgPool2d, Module};
/// use gradflow_tensor::Tensor;
/// let pool = AvgPool2d::new(2).with_stride(2);
/// let x = Tensor::arange(0.0, 16.0, 1.0).reshape(&[1, 1, 4, 4]);
/// assert_eq!(pool.forward(&x).to_vec(), vec![2.5, 4.5, 10.5, 12.5]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2d {
    window: Window,
}

impl AvgPool2d {
    /// A `kernel_size` window (`2` or `(2, 3)`) moved by its own size, no padding.
    pub fn new(kernel_size: impl IntoPair) -> Self {
        AvgPool2d {
            window: Window::new(kernel_size.into_pair()),
        }
    }

    /// Set the stride.
    pub fn with_stride(mut self, stride: impl IntoPair) -> Self {
        self.window.stride = stride.into_pair();
        self
    }

    /// Set the padding.
    pub fn with_padding(mut self, padding: impl IntoPair) -> Self {
        self.window.padding = padding.into_pair();
        self
    }

    /// Kernel, stride and padding.
    pub fn window(&self) -> &Window {
        &self.window
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        let c = &self.window;
        x.avg_pool2d(c.kernel_size, c.stride, c.padding)
    }

    fn visit(&self, _s: &mut Scope<'_>) {}
}

/// Adaptive average pooling to a fixed `(OH, OW)` whatever the input size: output cell
/// (i, j) averages rows ⌊i·H/OH⌋..⌈(i+1)·H/OH⌉ and the matching columns (PyTorch's
/// `nn.AdaptiveAvgPool2d`). `(1, 1)` is global average pooling.
///
/// # Shapes
/// `[N, C, H, W] → [N, C, OH, OW]`.
///
/// ```
/// use gradflow_layers::{AdaptiveAvgPool2d, Module};
/// use gradflow_tensor::Tensor;
/// let gap = AdaptiveAvgPool2d::new(1);
/// let x = Tensor::arange(0.0, 8.0, 1.0).reshape(&[1, 2, 2, 2]);
/// assert_eq!(gap.forward(&x).to_vec(), vec![1.5, 5.5]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptiveAvgPool2d {
    output_size: (usize, usize),
}

impl AdaptiveAvgPool2d {
    /// Pool to `output_size` (`1` or `(2, 3)`).
    pub fn new(output_size: impl IntoPair) -> Self {
        AdaptiveAvgPool2d {
            output_size: output_size.into_pair(),
        }
    }

    /// (OH, OW).
    pub fn output_size(&self) -> (usize, usize) {
        self.output_size
    }
}

impl Module for AdaptiveAvgPool2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.adaptive_avg_pool2d(self.output_size)
    }

    fn visit(&self, _s: &mut Scope<'_>) {}
}
