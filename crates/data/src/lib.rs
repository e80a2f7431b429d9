//! # gradflow-data: datasets, torchvision-style transforms and a deterministic loader
//!
//! The input side of an ImageNet-style training run, built the way a PyTorch user expects:
//!
//! - **Datasets** ([`VisionDataset`]: a length and `load(i) → (image, class)`):
//!   [`ImageFolder`] (`root/<class>/<file>.{jpg,jpeg,png}`, classes sorted by name as
//!   torchvision's), [`imagenet_splits`] (`train/` + `val/`), and [`IdxImages`]
//!   (MNIST / Fashion-MNIST IDX pairs as 1- or 3-channel images). The flat [`Dataset`] matrix
//!   of the MLP experiments is loaded from the same validated IDX files by
//!   [`load_idx_folder`].
//! - **Transforms** with torchvision's semantics on 8-bit images ([`Image`], as PIL):
//!   [`RandomResizedCrop`], [`RandomHorizontalFlip`], [`Resize`], [`CenterCrop`],
//!   [`RandomCrop`], then [`ToTensor`] and [`Normalize`], chained by [`Compose`].
//! - **Loader** ([`DataLoader`]): shuffled batches per epoch from a seed, N worker threads
//!   decoding and augmenting ahead through a bounded queue, sample i of epoch e augmented with
//!   the stream [`SampleRng::for_sample`]`(seed, e, i)` so that results do not depend on the
//!   number of workers, `drop_last`, unreadable images skipped, counted and named once, and a
//!   clear error past 1 % of unreadable samples.
//!
//! - **Text** ([`text`]): a UTF-8 corpus ([`TextCorpus`]) with its sorted character
//!   [`Vocabulary`], a held-out split from the end, and contiguous [`Streams`] cut into windows
//!   for truncated BPTT, as PyTorch's `word_language_model`.
//!
//! The IDX reader ([`idx`]) trusts nothing in a header: sizes are computed with checked
//! arithmetic and compared with the real file length before anything is allocated, and
//! trailing data is rejected. Every error is a [`DataError`] naming the file.

mod dataset;
mod error;
mod folder;
pub mod fuzzing;
pub mod idx;
mod loader;
mod mnist;
mod pixels;
mod rng;
pub mod text;
mod transforms;

pub use dataset::VisionDataset;
pub use error::DataError;
pub use folder::{IMAGE_EXTENSIONS, ImageFolder, imagenet_splits};
pub use idx::{
    IdxArray, IdxRaw, IdxType, encode_idx, encode_idx_f32, encode_idx_u8, parse_idx, parse_idx_raw,
    read_idx, read_idx_raw,
};
pub use loader::{Batch, DataLoader, Epoch, LoaderConfig, LoaderStats, MAX_PREFETCH, MAX_WORKERS};
pub use mnist::{
    DEBIAN_FASHION_MNIST, Dataset, FASHION_MNIST_CLASSES, IdxImages, MAX_IDX_CLASSES,
    find_idx_file, idx_splits_from_bytes, load_idx_folder,
};
pub use pixels::{Image, MAX_IMAGE_PIXELS};
pub use rng::SampleRng;
pub use text::{Streams, TextCorpus, TextSplit, TextUnit, Vocabulary, Window};
pub use transforms::{
    CenterCrop, Compose, Normalize, RandomCrop, RandomHorizontalFlip, RandomResizedCrop, Resize,
    TensorImage, ToTensor, Transform, crop, hflip, pad, resize, resize_pil, resized_crop,
    shorter_side_size,
};
