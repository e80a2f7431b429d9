//! `RandomResizedCrop`: the Inception-style crop of ImageNet training.
//!
//! A box of area `A · s` (s ~ U(scale), A = H · W) and aspect ratio `r = w / h`
//! (log r ~ U(log ratio)) is drawn, `w = round(√(A s r))`, `h = round(√(A s / r))`; if it fits,
//! its corner is uniform over the valid positions. torchvision tries 10 times, then falls back
//! to a central crop of the whole image with the ratio clamped into `ratio`. The box is
//! resized to the output size with the antialiased bilinear filter.

use crate::{DataError, Image, SampleRng, Transform};

use super::crop::crop;
use super::resize::resize;

/// Crops the box (`top`, `left`, `height`, `width`) and resizes it to `size = (h, w)`
/// (torchvision `resized_crop` on a PIL image: crop, then bilinear antialiased resize).
///
/// # Errors
/// As [`resize`].
pub fn resized_crop(
    img: &Image,
    top: i64,
    left: i64,
    height: usize,
    width: usize,
    size: (usize, usize),
) -> Result<Image, DataError> {
    resize(&crop(img, top, left, height, width), size.0, size.1)
}

/// torchvision's `RandomResizedCrop(size, scale=(0.08, 1.0), ratio=(3/4, 4/3))`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomResizedCrop {
    height: usize,
    width: usize,
    scale: (f64, f64),
    ratio: (f64, f64),
}

impl RandomResizedCrop {
    /// A square `size × size` output with torchvision's default scale and ratio.
    pub fn new(size: usize) -> RandomResizedCrop {
        RandomResizedCrop {
            height: size,
            width: size,
            scale: (0.08, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
        }
    }

    /// An `height × width` output.
    pub fn with_size(mut self, height: usize, width: usize) -> RandomResizedCrop {
        self.height = height;
        self.width = width;
        self
    }

    /// The range of the box's area as a fraction of the image's.
    pub fn scale(mut self, lo: f64, hi: f64) -> RandomResizedCrop {
        self.scale = (lo, hi);
        self
    }

    /// The range of the box's aspect ratio `w / h`.
    pub fn ratio(mut self, lo: f64, hi: f64) -> RandomResizedCrop {
        self.ratio = (lo, hi);
        self
    }

    fn check(&self) -> Result<(), DataError> {
        let (s0, s1) = self.scale;
        let (r0, r1) = self.ratio;
        if self.height == 0 || self.width == 0 {
            return Err(DataError::Config(format!(
                "RandomResizedCrop: output size {}×{} must be positive",
                self.height, self.width
            )));
        }
        if !(s0.is_finite() && s1.is_finite() && 0.0 < s0 && s0 <= s1) {
            return Err(DataError::Config(format!(
                "RandomResizedCrop: scale ({s0}, {s1}) must satisfy 0 < lo ≤ hi"
            )));
        }
        if !(r0.is_finite() && r1.is_finite() && 0.0 < r0 && r0 <= r1) {
            return Err(DataError::Config(format!(
                "RandomResizedCrop: ratio ({r0}, {r1}) must satisfy 0 < lo ≤ hi"
            )));
        }
        Ok(())
    }

    /// torchvision's `get_params`: the box (top, left, height, width) for an
    /// `img_h × img_w` image.
    pub fn params(
        &self,
        img_h: usize,
        img_w: usize,
        rng: &mut SampleRng,
    ) -> (usize, usize, usize, usize) {
        let area = (img_h * img_w) as f64;
        let (log_lo, log_hi) = (self.ratio.0.ln(), self.ratio.1.ln());
        for _ in 0..10 {
            let target_area = area * rng.uniform_range(self.scale.0, self.scale.1);
            let aspect = rng.uniform_range(log_lo, log_hi).exp();
            let w = (target_area * aspect).sqrt().round_ties_even();
            let h = (target_area / aspect).sqrt().round_ties_even();
            if 0.0 < w && w <= img_w as f64 && 0.0 < h && h <= img_h as f64 {
                let (w, h) = (w as usize, h as usize);
                let top = rng.below((img_h - h + 1) as u64) as usize;
                let left = rng.below((img_w - w + 1) as u64) as usize;
                return (top, left, h, w);
            }
        }
        // Fallback: the whole image, its ratio clamped into `ratio`, centred.
        let in_ratio = img_w as f64 / img_h as f64;
        let (w, h) = if in_ratio < self.ratio.0 {
            (
                img_w,
                (img_w as f64 / self.ratio.0).round_ties_even() as usize,
            )
        } else if in_ratio > self.ratio.1 {
            (
                (img_h as f64 * self.ratio.1).round_ties_even() as usize,
                img_h,
            )
        } else {
            (img_w, img_h)
        };
        ((img_h - h) / 2, (img_w - w) / 2, h, w)
    }
}

impl Transform for RandomResizedCrop {
    fn apply(&self, img: Image, rng: &mut SampleRng) -> Result<Image, DataError> {
        self.check()?;
        if img.width() == 0 || img.height() == 0 {
            return Err(DataError::Transform {
                what: "RandomResizedCrop".into(),
                why: "empty image".into(),
            });
        }
        let (top, left, h, w) = self.params(img.height(), img.width(), rng);
        resized_crop(
            &img,
            top as i64,
            left as i64,
            h.max(1),
            w.max(1),
            (self.height, self.width),
        )
    }
}
