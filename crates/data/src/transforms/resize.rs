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
    pil_exact: bool,
}

impl Resize {
    /// `Resize(size)` with an int: the shorter side becomes `size`, the aspect ratio is kept
    /// (see [`shorter_side_size`]).
    pub fn shorter_side(size: usize) -> Resize {
        Resize {
            target: Target::Shorter(size),
            pil_exact: false,
        }
    }

    /// `Resize((height, width))`: exactly that size.
    pub fn exact(height: usize, width: usize) -> Resize {
        Resize {
            target: Target::Exact(height, width),
            pil_exact: false,
        }
    }

    /// Resample with [`resize_pil`] (bit-exact with PIL, 4–10× slower) instead of
    /// [`resize`] (SIMD, within ±1 of PIL).
    pub fn pil_exact(mut self, yes: bool) -> Resize {
        self.pil_exact = yes;
        self
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
        if self.pil_exact {
            resize_pil(img, h, w)
        } else {
            resize(img, h, w)
        }
    }
}

impl Transform for Resize {
    fn apply(&self, img: Image, _rng: &mut SampleRng) -> Result<Image, DataError> {
        self.resize(&img)
    }
}

/// PIL's fixed-point precision for 8-bit resampling: 32 − 8 − 2 bits.
const PRECISION_BITS: u32 = 22;

/// One output pixel's window: the first input index and its fixed-point weights.
struct Taps {
    start: usize,
    weights: Vec<i32>,
}

/// PIL's `precompute_coeffs` + `normalize_coeffs_8bpc` for the triangle filter along one
/// axis: output i is centred at `(i + 0.5)·s`, the filter is stretched by `max(s, 1)`, weights
/// are normalised in f64 and rounded to 22-bit fixed point.
fn pil_taps(in_size: usize, out_size: usize) -> Vec<Taps> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale; // bilinear support 1.0, stretched
    let ss = 1.0 / filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let w: Vec<f64> = (xmin..xmax)
                .map(|x| (1.0 - ((x as f64 - center + 0.5) * ss).abs()).max(0.0))
                .collect();
            let total: f64 = w.iter().sum();
            let weights = w
                .iter()
                .map(|&k| {
                    let k = if total != 0.0 { k / total } else { k };
                    let f = k * f64::from(1u32 << PRECISION_BITS);
                    (if f >= 0.0 { f + 0.5 } else { f - 0.5 }) as i32
                })
                .collect();
            Taps {
                start: xmin,
                weights,
            }
        })
        .collect()
}

/// PIL's `clip8`: round-half-up from the fixed-point sum, clamped to [0, 255].
fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// A scalar port of PIL's `ImagingResample` (bilinear, 8 bits per channel): horizontal pass
/// first into an 8-bit intermediate, then vertical, each a fixed-point convolution with the
/// taps of [`pil_taps`]. Kept as the reference that [`resize`] is measured against (and as a
/// fallback bit-exact with PIL); [`resize`] is the SIMD path.
///
/// # Errors
/// [`DataError::Config`] when a size is 0.
pub fn resize_pil(img: &Image, height: usize, width: usize) -> Result<Image, DataError> {
    let (iw, ih, c) = (img.width(), img.height(), img.channels());
    if width == 0 || height == 0 || iw == 0 || ih == 0 {
        return Err(DataError::Config(format!(
            "resize: {ih}×{iw} → {height}×{width}: sizes must be positive"
        )));
    }
    if (width, height) == (iw, ih) {
        return Ok(img.clone());
    }
    let src = img.as_bytes();
    let half = 1i64 << (PRECISION_BITS - 1);
    // Horizontal pass (skipped when the width is unchanged, as PIL does).
    let (mid, mw) = if width != iw {
        let taps = pil_taps(iw, width);
        let mut mid = vec![0u8; ih * width * c];
        for y in 0..ih {
            let row = &src[y * iw * c..(y + 1) * iw * c];
            for (x, t) in taps.iter().enumerate() {
                for ch in 0..c {
                    let mut acc = half;
                    for (k, &w) in t.weights.iter().enumerate() {
                        acc += i64::from(row[(t.start + k) * c + ch]) * i64::from(w);
                    }
                    mid[(y * width + x) * c + ch] = clip8(acc);
                }
            }
        }
        (mid, width)
    } else {
        (src.to_vec(), iw)
    };
    if height == ih {
        return Ok(Image::from_parts(mw, ih, c, mid));
    }
    let taps = pil_taps(ih, height);
    let stride = mw * c;
    let mut out = vec![0u8; height * stride];
    for (y, t) in taps.iter().enumerate() {
        for i in 0..stride {
            let mut acc = half;
            for (k, &w) in t.weights.iter().enumerate() {
                acc += i64::from(mid[(t.start + k) * stride + i]) * i64::from(w);
            }
            out[y * stride + i] = clip8(acc);
        }
    }
    Ok(Image::from_parts(mw, height, c, out))
}
