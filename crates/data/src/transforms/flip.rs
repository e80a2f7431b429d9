//! Horizontal flip: `y[r, c] = x[r, W − 1 − c]`.

use crate::{DataError, Image, SampleRng, Transform};

/// Mirrors the image left–right (torchvision `hflip`, PIL `FLIP_LEFT_RIGHT`).
pub fn hflip(img: &Image) -> Image {
    let (w, h, c) = (img.width(), img.height(), img.channels());
    let src = img.as_bytes();
    let mut out = Vec::with_capacity(src.len());
    for row in src.chunks_exact(w * c).take(h) {
        for px in row.chunks_exact(c).rev() {
            out.extend_from_slice(px);
        }
    }
    Image::from_parts(w, h, c, out)
}

/// Flips with probability `p` (torchvision `RandomHorizontalFlip(p)`: flip when
/// `rand() < p`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomHorizontalFlip {
    p: f64,
}

impl RandomHorizontalFlip {
    /// Flip with probability `p` (torchvision's default is 0.5). Values outside [0, 1] act
    /// as 0 (never) or 1 (always).
    pub fn new(p: f64) -> RandomHorizontalFlip {
        RandomHorizontalFlip { p }
    }
}

impl Transform for RandomHorizontalFlip {
    fn apply(&self, img: Image, rng: &mut SampleRng) -> Result<Image, DataError> {
        Ok(if rng.uniform() < self.p {
            hflip(&img)
        } else {
            img
        })
    }
}
