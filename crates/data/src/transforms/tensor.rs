//! The float end of a pipeline: `ToTensor` and `Normalize`.
//!
//! ToTensor: `x[c, h, w] = u8[h, w, c] / 255` (f32, planar). Normalize:
//! `y[c] = (x[c] − mean[c]) / std[c]`, computed in f32 as torchvision does (`sub_` then
//! `div_`), so both agree with torchvision to the last bit.

use gradflow_tensor::Tensor;

use crate::{DataError, Image};

/// A planar `C × H × W` float image.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorImage {
    /// Channels.
    pub channels: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// `C × H × W` values, row-major.
    pub data: Vec<f32>,
}

impl TensorImage {
    /// As a `[C, H, W]` tensor.
    pub fn to_tensor(&self) -> Tensor {
        Tensor::from_vec(self.data.clone(), &[self.channels, self.height, self.width])
    }
}

/// torchvision's `ToTensor` on a PIL image: HWC u8 → CHW f32 in [0, 1].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ToTensor;

impl ToTensor {
    /// Converts `img`.
    pub fn apply(&self, img: &Image) -> TensorImage {
        let (w, h, c) = (img.width(), img.height(), img.channels());
        let src = img.as_bytes();
        let mut data = vec![0f32; src.len()];
        for (p, px) in src.chunks_exact(c).enumerate() {
            for (ch, &v) in px.iter().enumerate() {
                // torch: img.float().div(255) — an f32 division, as here.
                data[ch * h * w + p] = f32::from(v) / 255.0;
            }
        }
        TensorImage {
            channels: c,
            height: h,
            width: w,
            data,
        }
    }
}

/// torchvision's `Normalize(mean, std)`: `(x − mean[c]) / std[c]` per channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalize {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Normalize {
    /// The ImageNet statistics torchvision's models use: mean (0.485, 0.456, 0.406),
    /// std (0.229, 0.224, 0.225).
    pub fn imagenet() -> Normalize {
        Normalize {
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
        }
    }

    /// Per-channel statistics.
    ///
    /// # Errors
    /// [`DataError::Config`] when the lengths differ, are empty, or a std is not a positive
    /// finite number (a zero std would divide by zero, as torchvision also refuses).
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Result<Normalize, DataError> {
        if mean.is_empty() || mean.len() != std.len() {
            return Err(DataError::Config(format!(
                "Normalize needs one mean and one std per channel, got {} and {}",
                mean.len(),
                std.len()
            )));
        }
        if let Some(s) = std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(DataError::Config(format!(
                "Normalize: std {s} is not a positive finite number"
            )));
        }
        if let Some(m) = mean.iter().find(|m| !m.is_finite()) {
            return Err(DataError::Config(format!(
                "Normalize: mean {m} is not finite"
            )));
        }
        Ok(Normalize { mean, std })
    }

    /// Normalizes `t`. A single mean/std pair applies to every channel; three pairs applied
    /// to a 1-channel image use the first (grey images through an RGB recipe).
    pub fn apply(&self, mut t: TensorImage) -> TensorImage {
        let plane = t.height * t.width;
        for c in 0..t.channels {
            let k = if self.mean.len() == t.channels { c } else { 0 };
            let (m, s) = (self.mean[k], self.std[k]);
            for v in &mut t.data[c * plane..(c + 1) * plane] {
                *v = (*v - m) / s;
            }
        }
        t
    }
}
