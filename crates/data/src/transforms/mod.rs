//! Image transforms with torchvision's semantics, composed by [`Compose`].
//!
//! As in torchvision on PIL images, the geometric transforms work on 8-bit images
//! ([`crate::Image`], `H × W × C` bytes) and only the end of the pipeline turns the result into
//! floats: [`ToTensor`] (`x / 255` as planar `C × H × W` f32) and then [`Normalize`]
//! (`(x − mean_c) / std_c`). A standard ImageNet training pipeline reads
//!
//! ```
//! use gradflow_data::{Compose, Normalize, RandomHorizontalFlip, RandomResizedCrop};
//! let train = Compose::new()
//!     .then(RandomResizedCrop::new(224))
//!     .then(RandomHorizontalFlip::new(0.5))
//!     .normalize(Normalize::imagenet());
//! # let _ = train;
//! ```
//!
//! Randomness comes from the [`crate::SampleRng`] handed to [`Transform::apply`]; the loader
//! derives it from (seed, epoch, sample index), so augmentation does not depend on how many
//! workers run.

mod crop;
mod flip;
mod random_resized_crop;
mod resize;
mod tensor;

use std::fmt;

pub use crop::{CenterCrop, RandomCrop, crop, pad};
pub use flip::{RandomHorizontalFlip, hflip};
pub use random_resized_crop::{RandomResizedCrop, resized_crop};
pub use resize::{Resize, resize, resize_pil, shorter_side_size};
pub use tensor::{Normalize, TensorImage, ToTensor};

use crate::{DataError, Image, SampleRng};

/// A step of the 8-bit part of a pipeline: image in, image out.
pub trait Transform: Send + Sync + fmt::Debug {
    /// Applies the transform, drawing any randomness from `rng`.
    ///
    /// # Errors
    /// [`DataError::Transform`] (or [`DataError::Config`]) when the image cannot be
    /// transformed, for example a fixed crop larger than the padded image.
    fn apply(&self, img: Image, rng: &mut SampleRng) -> Result<Image, DataError>;
}

/// A pipeline: 8-bit [`Transform`]s in order, then [`ToTensor`], then an optional
/// [`Normalize`] — torchvision's `Compose([..., ToTensor(), Normalize(mean, std)])`.
#[derive(Debug, Default)]
pub struct Compose {
    steps: Vec<Box<dyn Transform>>,
    normalize: Option<Normalize>,
}

impl Compose {
    /// An empty pipeline (only [`ToTensor`]).
    pub fn new() -> Compose {
        Compose::default()
    }

    /// Appends an 8-bit step.
    pub fn then(mut self, t: impl Transform + 'static) -> Compose {
        self.steps.push(Box::new(t));
        self
    }

    /// Appends an already boxed 8-bit step.
    pub fn then_boxed(mut self, t: Box<dyn Transform>) -> Compose {
        self.steps.push(t);
        self
    }

    /// Normalizes the tensor after [`ToTensor`].
    pub fn normalize(mut self, n: Normalize) -> Compose {
        self.normalize = Some(n);
        self
    }

    /// torchvision's ImageNet training recipe: `RandomResizedCrop(size)`,
    /// `RandomHorizontalFlip()`, `ToTensor()`, `Normalize(imagenet)`.
    pub fn imagenet_train(size: usize) -> Compose {
        Compose::new()
            .then(RandomResizedCrop::new(size))
            .then(RandomHorizontalFlip::new(0.5))
            .normalize(Normalize::imagenet())
    }

    /// torchvision's ImageNet evaluation recipe: `Resize(⌊size · 256 / 224⌋)` (256 for 224),
    /// `CenterCrop(size)`, `ToTensor()`, `Normalize(imagenet)`.
    pub fn imagenet_eval(size: usize) -> Compose {
        Compose::new()
            .then(Resize::shorter_side(size * 256 / 224))
            .then(CenterCrop::new(size, size))
            .normalize(Normalize::imagenet())
    }

    /// The CIFAR-style recipe: `RandomCrop(size, padding)`, `RandomHorizontalFlip()`,
    /// `ToTensor()` (no normalization: add one with [`Compose::normalize`]).
    pub fn cifar_train(size: usize, padding: usize) -> Compose {
        Compose::new()
            .then(RandomCrop::new(size, size).padding(padding))
            .then(RandomHorizontalFlip::new(0.5))
    }

    /// Runs only the 8-bit steps.
    ///
    /// # Errors
    /// The first step's error.
    pub fn apply_image(&self, mut img: Image, rng: &mut SampleRng) -> Result<Image, DataError> {
        for step in &self.steps {
            img = step.apply(img, rng)?;
        }
        Ok(img)
    }

    /// Runs the whole pipeline: 8-bit steps, [`ToTensor`], [`Normalize`].
    ///
    /// # Errors
    /// The first step's error.
    pub fn apply(&self, img: Image, rng: &mut SampleRng) -> Result<TensorImage, DataError> {
        let t = ToTensor.apply(&self.apply_image(img, rng)?);
        Ok(match &self.normalize {
            Some(n) => n.apply(t),
            None => t,
        })
    }
}
