//! Cropping and padding: `crop`, `pad`, `CenterCrop`, `RandomCrop` (CIFAR-style, with
//! padding).
//!
//! A crop box may reach outside the image; the outside reads as 0, as PIL's `Image.crop`
//! does (torchvision's `crop` on a PIL image is `img.crop((left, top, left + w, top + h))`).

use crate::{DataError, Image, SampleRng, Transform};

/// The `height × width` window whose top-left corner is (`top`, `left`); pixels outside the
/// image are 0.
pub fn crop(img: &Image, top: i64, left: i64, height: usize, width: usize) -> Image {
    let c = img.channels();
    let (iw, ih) = (img.width() as i64, img.height() as i64);
    let src = img.as_bytes();
    let mut out = vec![0u8; height * width * c];
    // The columns of the window that fall inside the image.
    let x0 = left.clamp(0, iw);
    let x1 = (left + width as i64).clamp(0, iw);
    for r in 0..height {
        let y = top + r as i64;
        if y < 0 || y >= ih || x1 <= x0 {
            continue;
        }
        let src_at = ((y * iw + x0) as usize) * c;
        let dst_at = (r * width + (x0 - left) as usize) * c;
        let n = (x1 - x0) as usize * c;
        out[dst_at..dst_at + n].copy_from_slice(&src[src_at..src_at + n]);
    }
    Image::from_parts(width, height, c, out)
}

/// Adds `left`, `top`, `right`, `bottom` pixels of 0 around the image (torchvision `pad`
/// with `fill=0`, `padding_mode="constant"`).
pub fn pad(img: &Image, left: usize, top: usize, right: usize, bottom: usize) -> Image {
    crop(
        img,
        -(top as i64),
        -(left as i64),
        img.height() + top + bottom,
        img.width() + left + right,
    )
}

fn check_size(what: &str, height: usize, width: usize) -> Result<(), DataError> {
    if height == 0 || width == 0 {
        return Err(DataError::Config(format!(
            "{what}: output size {height}×{width} must be positive"
        )));
    }
    Ok(())
}

/// The central `height × width` window (torchvision `CenterCrop`).
///
/// The offset is `round((H − h) / 2)` with Python's round-half-to-even, so a 37-pixel side
/// cropped to 20 starts at 8, not 9. A crop larger than the image first pads it with zeros,
/// `⌊(h − H) / 2⌋` before and `⌈(h − H) / 2⌉` after, as torchvision does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CenterCrop {
    height: usize,
    width: usize,
}

impl CenterCrop {
    /// A `height × width` center crop.
    pub fn new(height: usize, width: usize) -> CenterCrop {
        CenterCrop { height, width }
    }

    /// Crops `img`.
    pub fn crop(&self, img: &Image) -> Image {
        let (ih, iw) = (img.height(), img.width());
        let (h, w) = (self.height, self.width);
        if h > ih || w > iw {
            let (pl, pt) = (w.saturating_sub(iw) / 2, h.saturating_sub(ih) / 2);
            let (pr, pb) = (
                w.saturating_sub(iw).div_ceil(2),
                h.saturating_sub(ih).div_ceil(2),
            );
            let padded = pad(img, pl, pt, pr, pb);
            if padded.height() == h && padded.width() == w {
                return padded;
            }
            return self.crop(&padded);
        }
        let top = ((ih - h) as f64 / 2.0).round_ties_even() as i64;
        let left = ((iw - w) as f64 / 2.0).round_ties_even() as i64;
        crop(img, top, left, h, w)
    }
}

impl Transform for CenterCrop {
    fn apply(&self, img: Image, _rng: &mut SampleRng) -> Result<Image, DataError> {
        check_size("CenterCrop", self.height, self.width)?;
        Ok(self.crop(&img))
    }
}

/// A uniformly placed `height × width` window after zero padding (torchvision
/// `RandomCrop(size, padding, pad_if_needed)`): the CIFAR recipe is
/// `RandomCrop(32, padding=4)`.
///
/// With padded size H × W, the top-left corner is `(randint(0, H − h + 1),
/// randint(0, W − w + 1))`, and exactly (0, 0) when the sizes are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomCrop {
    height: usize,
    width: usize,
    padding: [usize; 4],
    pad_if_needed: bool,
}

impl RandomCrop {
    /// A `height × width` random crop with no padding.
    pub fn new(height: usize, width: usize) -> RandomCrop {
        RandomCrop {
            height,
            width,
            padding: [0; 4],
            pad_if_needed: false,
        }
    }

    /// Pads every side by `p` first.
    pub fn padding(mut self, p: usize) -> RandomCrop {
        self.padding = [p; 4];
        self
    }

    /// Pads left, top, right, bottom by different amounts first.
    pub fn padding_ltrb(
        mut self,
        left: usize,
        top: usize,
        right: usize,
        bottom: usize,
    ) -> RandomCrop {
        self.padding = [left, top, right, bottom];
        self
    }

    /// Pads an image smaller than the crop (after `padding`) so the crop fits, as
    /// torchvision's `pad_if_needed=True` (the missing amount on both sides).
    pub fn pad_if_needed(mut self, yes: bool) -> RandomCrop {
        self.pad_if_needed = yes;
        self
    }
}

impl Transform for RandomCrop {
    fn apply(&self, img: Image, rng: &mut SampleRng) -> Result<Image, DataError> {
        check_size("RandomCrop", self.height, self.width)?;
        let [l, t, r, b] = self.padding;
        let mut img = if self.padding == [0; 4] {
            img
        } else {
            pad(&img, l, t, r, b)
        };
        if self.pad_if_needed && img.width() < self.width {
            let d = self.width - img.width();
            img = pad(&img, d, 0, d, 0);
        }
        if self.pad_if_needed && img.height() < self.height {
            let d = self.height - img.height();
            img = pad(&img, 0, d, 0, d);
        }
        let (ih, iw) = (img.height(), img.width());
        if ih < self.height || iw < self.width {
            return Err(DataError::Transform {
                what: "RandomCrop".into(),
                why: format!(
                    "crop {}×{} is larger than the (padded) image {ih}×{iw}",
                    self.height, self.width
                ),
            });
        }
        if ih == self.height && iw == self.width {
            return Ok(img);
        }
        let top = rng.below((ih - self.height + 1) as u64) as i64;
        let left = rng.below((iw - self.width + 1) as u64) as i64;
        Ok(crop(&img, top, left, self.height, self.width))
    }
}
