//! Bilinear, antialiased resizing with PIL's semantics, through `fast_image_resize`.
//!
//! PIL's `Image.resize(size, BILINEAR)` (what torchvision's `resize` calls on a PIL image) is
//! a separable convolution with the triangle filter `k(t) = max(0, 1 − |t|)`, stretched by the
//! scale `s = in / out` when shrinking (support `max(s, 1)`: that stretch is the antialiasing),
//! output pixel `i` centred at `(i + 0.5)·s` in input coordinates, weights normalised to sum 1,
//! computed in fixed point on 8-bit data and rounded. `fast_image_resize`'s convolution
//! resizer implements the same filters the same way (its SIMD kernels are ported from
//! Pillow-SIMD); the fixture test measures the agreement with torchvision + PIL.

use fast_image_resize as fr;

use crate::{DataError, Image, SampleRng, Transform};

/// Resizes `img` to `height × width` with PIL's antialiased bilinear filter.
///
/// # Errors
/// [`DataError::Config`] when a size is 0 or exceeds 2³² − 1, or the image is empty.
pub fn resize(img: &Image, height: usize, width: usize) -> Result<Image, DataError> {
    let too_big = |v: usize| {
        u32::try_from(v).map_err(|_| DataError::Config(format!("resize: {v} pixels exceeds u32")))
    };
    let (ow, oh) = (too_big(width)?, too_big(height)?);
    let (iw, ih) = (too_big(img.width())?, too_big(img.height())?);
    if ow == 0 || oh == 0 || iw == 0 || ih == 0 {
        return Err(DataError::Config(format!(
            "resize: {}×{} → {height}×{width}: sizes must be positive",
            img.height(),
            img.width()
        )));
    }
    if (ow, oh) == (iw, ih) {
        return Ok(img.clone());
    }
    let pixel_type = if img.channels() == 3 {
        fr::PixelType::U8x3
    } else {
        fr::PixelType::U8
    };
    let fr_err = |e: &dyn std::fmt::Display| DataError::Config(format!("resize: {e}"));
    let src =
        fr::images::ImageRef::new(iw, ih, img.as_bytes(), pixel_type).map_err(|e| fr_err(&e))?;
    let mut dst = fr::images::Image::new(ow, oh, pixel_type);
    let options =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear));
    fr::Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| fr_err(&e))?;
    Ok(Image::from_parts(
        width,
        height,
        img.channels(),
        dst.into_vec(),
    ))
}

/// The output size of torchvision's `Resize(size)` for an `h × w` image: the shorter side
/// becomes `size`, the longer `int(size · long / short)` (truncated, as Python's `int`).
pub fn shorter_side_size(h: usize, w: usize, size: usize) -> (usize, usize) {
    let (short, long) = if w <= h { (w, h) } else { (h, w) };
    let new_long = (size as f64 * long as f64 / short.max(1) as f64) as usize;
    if w <= h {
        (new_long, size)
    } else {
        (size, new_long)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Shorter(usize),
    Exact(usize, usize),
}

/// torchvision's `Resize` with `interpolation=BILINEAR, antialias=True`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resize {
    target: Target,
}

impl Resize {
    /// `Resize(size)` with an int: the shorter side becomes `size`, the aspect ratio is kept
    /// (see [`shorter_side_size`]).
    pub fn shorter_side(size: usize) -> Resize {
        Resize {
            target: Target::Shorter(size),
        }
    }

    /// `Resize((height, width))`: exactly that size.
    pub fn exact(height: usize, width: usize) -> Resize {
        Resize {
            target: Target::Exact(height, width),
        }
    }

    /// Resizes `img`.
    ///
    /// # Errors
    /// As [`resize`].
    pub fn resize(&self, img: &Image) -> Result<Image, DataError> {
        let (h, w) = match self.target {
            Target::Shorter(s) => shorter_side_size(img.height(), img.width(), s),
            Target::Exact(h, w) => (h, w),
        };
        resize(img, h, w)
    }
}

impl Transform for Resize {
    fn apply(&self, img: Image, _rng: &mut SampleRng) -> Result<Image, DataError> {
        self.resize(&img)
    }
}
