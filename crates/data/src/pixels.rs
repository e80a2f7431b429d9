//! The 8-bit image that flows through the geometric transforms, as a PIL image does.
//!
//! Pixels are stored row-major, channels interleaved (`H × W × C`, "HWC"), one `u8` per
//! channel: exactly the layout of `numpy.asarray(pil_image)`. Only the final
//! [`crate::ToTensor`] turns it into planar `C × H × W` floats in [0, 1].

use std::path::Path;

use crate::DataError;

/// The most pixels a decoded image may have: PIL's `Image.MAX_IMAGE_PIXELS`
/// (⌊1024 · 1024 · 1024 / 4 / 3⌋ = 89 478 485), past which PIL warns of a decompression bomb.
/// Here it is an error, checked from the header before anything is decoded. Below it, a tiny
/// file may still decode to a large image, as in PIL: fuzzing found a 600-byte JPEG that
/// decodes to 11267 × 5376 pixels (60 MP, 180 MB of RGB, about 1 s).
pub const MAX_IMAGE_PIXELS: u64 = 89_478_485;

/// An 8-bit image with 1 (grey) or 3 (RGB) interleaved channels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    width: usize,
    height: usize,
    channels: usize,
    data: Vec<u8>,
}

impl Image {
    /// Wraps `data` laid out `height × width × channels`.
    ///
    /// # Errors
    /// [`DataError::Config`] when `channels` is not 1 or 3, or `data` has the wrong length.
    pub fn new(
        width: usize,
        height: usize,
        channels: usize,
        data: Vec<u8>,
    ) -> Result<Image, DataError> {
        if channels != 1 && channels != 3 {
            return Err(DataError::Config(format!(
                "an image has 1 or 3 channels, not {channels}"
            )));
        }
        let want = width
            .checked_mul(height)
            .and_then(|p| p.checked_mul(channels));
        if want != Some(data.len()) {
            return Err(DataError::Config(format!(
                "{width}×{height}×{channels} image needs {want:?} bytes, got {}",
                data.len()
            )));
        }
        Ok(Image {
            width,
            height,
            channels,
            data,
        })
    }

    /// Wraps bytes whose layout the caller has already checked (crate-internal fast path).
    pub(crate) fn from_parts(width: usize, height: usize, channels: usize, data: Vec<u8>) -> Image {
        debug_assert!(channels == 1 || channels == 3);
        debug_assert_eq!(data.len(), width * height * channels);
        Image {
            width,
            height,
            channels,
            data,
        }
    }

    /// A black image.
    ///
    /// # Panics
    /// When `channels` is not 1 or 3 or the size overflows (a programmer error).
    pub fn zeros(width: usize, height: usize, channels: usize) -> Image {
        assert!(
            channels == 1 || channels == 3,
            "Image::zeros: 1 or 3 channels, not {channels}"
        );
        Image {
            width,
            height,
            channels,
            data: vec![0; width * height * channels],
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Channels per pixel (1 or 3).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The interleaved `H × W × C` bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The interleaved bytes, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }

    /// The channel values of pixel (row `y`, column `x`).
    ///
    /// # Panics
    /// When the pixel is outside the image.
    pub fn pixel(&self, y: usize, x: usize) -> &[u8] {
        assert!(
            y < self.height && x < self.width,
            "Image::pixel: ({y}, {x}) outside {}×{}",
            self.height,
            self.width
        );
        let at = (y * self.width + x) * self.channels;
        &self.data[at..at + self.channels]
    }

    /// The same picture with `channels` channels: grey → RGB repeats the value (as PIL's
    /// `convert("RGB")`), RGB → grey uses ITU-R 601-2 luma `L = 0.299 R + 0.587 G + 0.114 B`
    /// in PIL's 16-bit fixed point, `(19595 R + 38470 G + 7471 B + 2¹⁵) >> 16`, as PIL's
    /// `convert("L")` does.
    ///
    /// # Errors
    /// [`DataError::Config`] when `channels` is not 1 or 3.
    pub fn to_channels(&self, channels: usize) -> Result<Image, DataError> {
        match (self.channels, channels) {
            (a, b) if a == b => Ok(self.clone()),
            (1, 3) => Ok(Image {
                width: self.width,
                height: self.height,
                channels: 3,
                data: self.data.iter().flat_map(|&v| [v, v, v]).collect(),
            }),
            (3, 1) => Ok(Image {
                width: self.width,
                height: self.height,
                channels: 1,
                data: self
                    .data
                    .chunks_exact(3)
                    .map(|p| {
                        let l = 19595 * u32::from(p[0])
                            + 38470 * u32::from(p[1])
                            + 7471 * u32::from(p[2]);
                        ((l + 0x8000) >> 16) as u8
                    })
                    .collect(),
            }),
            (_, c) => Err(DataError::Config(format!(
                "an image has 1 or 3 channels, not {c}"
            ))),
        }
    }

    /// Decodes a PNG or JPEG file's bytes into a grey (`channels = 1`) or RGB
    /// (`channels = 3`) image; `path` names the file in errors.
    ///
    /// # Errors
    /// [`DataError::Decode`] when the bytes are not a decodable PNG/JPEG,
    /// [`DataError::Config`] for a channel count other than 1 or 3.
    pub fn decode(bytes: &[u8], path: &Path, channels: usize) -> Result<Image, DataError> {
        if channels != 1 && channels != 3 {
            return Err(DataError::Config(format!(
                "an image has 1 or 3 channels, not {channels}"
            )));
        }
        let decode_err = |source| DataError::Decode {
            path: path.to_path_buf(),
            source,
        };
        let format = image::guess_format(bytes).map_err(decode_err)?;
        let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
        // Refuse absurd headers before the decoder allocates: 2¹⁴ pixels a side, 1 GiB.
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(1 << 14);
        limits.max_image_height = Some(1 << 14);
        limits.max_alloc = Some(1 << 30);
        reader.limits(limits);
        let decoder = reader.into_decoder().map_err(decode_err)?;
        let (w, h) = image::ImageDecoder::dimensions(&decoder);
        let pixels = u64::from(w) * u64::from(h);
        if pixels > MAX_IMAGE_PIXELS {
            return Err(DataError::Corrupt {
                path: path.to_path_buf(),
                why: format!(
                    "{w}×{h} = {pixels} pixels exceeds the decompression-bomb limit of \
                     {MAX_IMAGE_PIXELS} (PIL's MAX_IMAGE_PIXELS)"
                ),
            });
        }
        let img = image::DynamicImage::from_decoder(decoder).map_err(decode_err)?;
        let (w, h) = (img.width() as usize, img.height() as usize);
        if channels == 1 && img.color().has_color() {
            // PIL's luma weights, not the image crate's Rec. 709 ones.
            return Image::new(w, h, 3, img.into_rgb8().into_raw())?.to_channels(1);
        }
        let data = if channels == 3 {
            img.into_rgb8().into_raw()
        } else {
            img.into_luma8().into_raw()
        };
        Image::new(w, h, channels, data)
    }

    /// Reads and decodes an image file (see [`Image::decode`]).
    ///
    /// # Errors
    /// [`DataError::Io`] when the file cannot be read, else as [`Image::decode`].
    pub fn open(path: &Path, channels: usize) -> Result<Image, DataError> {
        let bytes = std::fs::read(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Image::decode(&bytes, path, channels)
    }
}
