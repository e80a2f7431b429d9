//! The dataset abstraction of the image pipeline, as `torch.utils.data.Dataset`: a length and
//! random access to `(image, class)` samples.

use crate::{DataError, Image};

/// A map-style dataset of labelled 8-bit images: `len()` samples, each loadable by index.
///
/// Loading may fail for one sample (a corrupt JPEG) without the dataset being unusable; the
/// [`crate::DataLoader`] skips such samples, counts them and stops only past a threshold.
/// Implementations must be shareable between the loader's worker threads.
pub trait VisionDataset: Send + Sync {
    /// Number of samples.
    fn len(&self) -> usize;

    /// True when there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sample `index` as an image and its class index (`< self.classes().len()`).
    ///
    /// # Errors
    /// A [`DataError`] naming the file when the sample cannot be read or decoded.
    fn load(&self, index: usize) -> Result<(Image, usize), DataError>;

    /// A human-readable name of sample `index` for logs (its file, or `file #index`).
    fn describe(&self, index: usize) -> String;

    /// The class names, in class-index order.
    fn classes(&self) -> &[String];
}
