//! The images of a run and how they are prepared: the three sources (an ImageNet-layout
//! folder, Fashion-MNIST IDX files, the embedded subset), the training and evaluation
//! transforms, and the [`Preprocess`] settings a checkpoint carries so that `predict` prepares
//! a new image exactly as evaluation did.
//!
//! | source | train transform (`--augment standard`) | eval transform | mean / std |
//! |---|---|---|---|
//! | folder | RandomResizedCrop(s) + flip | Resize(⌊s·256/224⌋) + CenterCrop(s) | ImageNet's |
//! | IDX / embedded | [Resize(s)] + RandomCrop(s, padding 2) + flip | [Resize(s)] | Fashion-MNIST's 0.2860 / 0.3530 |
//!
//! (Resize only when `--image-size` differs from the data's own size.)

use std::path::Path;

use gradflow_data::{
    CenterCrop, Compose, DataError, FASHION_MNIST_CLASSES, IdxImages, Image, ImageFolder,
    Normalize, RandomCrop, RandomHorizontalFlip, RandomResizedCrop, Resize, VisionDataset,
    imagenet_splits,
};
use serde::{Deserialize, Serialize};

use super::ImageError;
use super::config::{AugmentKind, DataSource, TrainConfig};

/// Fashion-MNIST's training-set mean and standard deviation of x/255 (the values every
/// reference pipeline uses; the embedded 14×14 subset is within 0.01 of them).
pub const FASHION_MNIST_MEAN_STD: (f32, f32) = (0.2860, 0.3530);

/// How an image becomes the network's input at evaluation: what `predict` needs besides the
/// weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// The square side the network sees.
    pub image_size: usize,
    /// `true`: Resize the shorter side to ⌊s·256/224⌋ and CenterCrop s (folders);
    /// `false`: Resize to s × s (IDX images, which are square already).
    pub center_crop: bool,
    /// Per-channel mean of x/255.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation of x/255.
    pub std: Vec<f32>,
}

impl Preprocess {
    /// The evaluation pipeline; `native` is the data's own square side when known (no resize
    /// is needed at that size).
    ///
    /// # Errors
    /// [`ImageError::Data`] for an invalid mean/std.
    pub fn eval_transform(&self, native: Option<usize>) -> Result<Compose, ImageError> {
        let s = self.image_size;
        let mut t = Compose::new();
        if self.center_crop {
            t = t
                .then(Resize::shorter_side(s * 256 / 224))
                .then(CenterCrop::new(s, s));
        } else if native != Some(s) {
            t = t.then(Resize::exact(s, s));
        }
        Ok(t.normalize(self.normalize()?))
    }

    /// The training pipeline for `augment`.
    ///
    /// # Errors
    /// [`ImageError::Data`] for an invalid mean/std.
    pub fn train_transform(
        &self,
        augment: AugmentKind,
        native: Option<usize>,
    ) -> Result<Compose, ImageError> {
        let s = self.image_size;
        if augment == AugmentKind::None {
            return self.eval_transform(native);
        }
        let mut t = Compose::new();
        if self.center_crop {
            t = t.then(RandomResizedCrop::new(s));
        } else {
            if native != Some(s) {
                t = t.then(Resize::exact(s, s));
            }
            t = t.then(RandomCrop::new(s, s).padding(2));
        }
        Ok(t.then(RandomHorizontalFlip::new(0.5))
            .normalize(self.normalize()?))
    }

    fn normalize(&self) -> Result<Normalize, ImageError> {
        Ok(Normalize::new(self.mean.clone(), self.std.clone())?)
    }
}

/// A dataset of any source behind one type, with its class names, optionally cut to its first
/// `n` samples, and optionally with its labels renumbered (a validation folder read against
/// the class list of a checkpoint).
pub struct Images {
    inner: Box<dyn VisionDataset>,
    classes: Vec<String>,
    len: usize,
    relabel: Option<Vec<usize>>,
}

impl Images {
    /// Wraps `inner` under the class names `classes`.
    pub fn new(inner: Box<dyn VisionDataset>, classes: Vec<String>) -> Images {
        let len = inner.len();
        Images {
            inner,
            classes,
            len,
            relabel: None,
        }
    }

    /// Only the first `n` samples (all when `n` is larger).
    pub fn first(mut self, n: usize) -> Images {
        self.len = self.len.min(n);
        self
    }

    /// Renumbers the labels to positions in `classes` by name.
    ///
    /// # Errors
    /// [`ImageError::Usage`] when a class of this dataset is not among `classes`.
    pub fn relabel_to(mut self, classes: &[String]) -> Result<Images, ImageError> {
        let mut map = Vec::with_capacity(self.classes.len());
        for c in &self.classes {
            match classes.iter().position(|k| k == c) {
                Some(i) => map.push(i),
                None => {
                    return Err(ImageError::Usage(format!(
                        "class `{c}` of the evaluation data is not one the model was trained on ({})",
                        classes.join(", ")
                    )));
                }
            }
        }
        self.relabel = Some(map);
        self.classes = classes.to_vec();
        Ok(self)
    }
}

impl VisionDataset for Images {
    fn len(&self) -> usize {
        self.len
    }

    fn load(&self, index: usize) -> Result<(Image, usize), DataError> {
        let (img, label) = self.inner.load(index)?;
        Ok(match &self.relabel {
            Some(map) => (img, map[label]),
            None => (img, label),
        })
    }

    fn describe(&self, index: usize) -> String {
        self.inner.describe(index)
    }

    fn classes(&self) -> &[String] {
        &self.classes
    }
}

/// A run's data: the two splits, the class names, the data's own square side (when it has
/// one) and the preprocessing.
pub struct RunData {
    /// Training split.
    pub train: Images,
    /// Validation / test split.
    pub val: Images,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// The images' own side for IDX data.
    pub native: Option<usize>,
    /// The evaluation preprocessing.
    pub preprocess: Preprocess,
}

fn fashion_names() -> Vec<String> {
    FASHION_MNIST_CLASSES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The embedded 14×14 Fashion-MNIST subset as images (train, test), with Fashion-MNIST's
/// class names. The same files as [`crate::data::embedded_fashion_mnist`].
///
/// # Errors
/// Only in a damaged build (the files are compiled in and checked by a test).
pub fn embedded_images(channels: usize) -> Result<(IdxImages, IdxImages), ImageError> {
    const DIR: &str = "assets/fashion-mnist-14/";
    macro_rules! bytes {
        ($name:literal) => {
            &include_bytes!(concat!("../../assets/fashion-mnist-14/", $name))[..]
        };
    }
    let p = |n: &str| Path::new(DIR).join(n);
    let train = IdxImages::from_bytes(
        bytes!("train-images-idx3-ubyte.gz"),
        &p("train-images-idx3-ubyte.gz"),
        bytes!("train-labels-idx1-ubyte.gz"),
        &p("train-labels-idx1-ubyte.gz"),
    )?
    .with_channels(channels)?;
    let test = IdxImages::from_bytes(
        bytes!("t10k-images-idx3-ubyte.gz"),
        &p("t10k-images-idx3-ubyte.gz"),
        bytes!("t10k-labels-idx1-ubyte.gz"),
        &p("t10k-labels-idx1-ubyte.gz"),
    )?
    .with_channels(channels)?;
    Ok((train, test))
}

/// The preprocessing of a configuration.
pub fn preprocess_for(cfg: &TrainConfig) -> Preprocess {
    let c = cfg.channels;
    match cfg.data {
        // torchvision's ImageNet statistics (`Normalize::imagenet()`).
        DataSource::Folder(_) => Preprocess {
            channels: 3,
            image_size: cfg.image_size,
            center_crop: true,
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
        },
        _ => Preprocess {
            channels: c,
            image_size: cfg.image_size,
            center_crop: false,
            mean: vec![FASHION_MNIST_MEAN_STD.0; c],
            std: vec![FASHION_MNIST_MEAN_STD.1; c],
        },
    }
}

/// Opens the source of `cfg`: both splits, checked (a missing folder, an empty class folder,
/// damaged IDX files are errors naming the path).
///
/// # Errors
/// [`ImageError::Data`] naming the path.
pub fn open(cfg: &TrainConfig) -> Result<RunData, ImageError> {
    let preprocess = preprocess_for(cfg);
    let (train, val, native) = match &cfg.data {
        DataSource::Folder(root) => {
            let (train, val) = imagenet_splits(root)?;
            let classes = train.classes().to_vec();
            (
                Images::new(Box::new(train), classes.clone()),
                Images::new(Box::new(val), classes),
                None,
            )
        }
        DataSource::FashionMnist(dir) => {
            let (train, test) = IdxImages::load_folder(dir, true)?;
            let (train, test) = (
                train.with_channels(cfg.channels)?,
                test.with_channels(cfg.channels)?,
            );
            let (h, w) = train.image_size();
            let classes = train.classes().to_vec();
            (
                Images::new(Box::new(train), classes.clone()),
                Images::new(Box::new(test), classes),
                (h == w).then_some(h),
            )
        }
        DataSource::Embedded => {
            let (train, test) = embedded_images(cfg.channels)?;
            let (h, w) = train.image_size();
            (
                Images::new(Box::new(train), fashion_names()),
                Images::new(Box::new(test), fashion_names()),
                (h == w).then_some(h),
            )
        }
    };
    let train = match cfg.train_subset {
        Some(n) => train.first(n),
        None => train,
    };
    let classes = train.classes().to_vec();
    Ok(RunData {
        train,
        val,
        classes,
        native,
        preprocess,
    })
}

/// The evaluation split for `eval-image`: `dir/val` when it exists (ImageNet layout), else
/// `dir` itself as `<class>/<image>`, with labels renumbered to `classes`.
///
/// # Errors
/// [`ImageError::Data`] for a missing or empty folder; [`ImageError::Usage`] for a class the
/// model does not know.
pub fn eval_folder(dir: &Path, classes: &[String], channels: usize) -> Result<Images, ImageError> {
    let root = if dir.join("val").is_dir() {
        dir.join("val")
    } else {
        dir.to_path_buf()
    };
    let folder = ImageFolder::new(&root)?.with_channels(channels)?;
    let own = folder.classes().to_vec();
    Images::new(Box::new(folder), own).relabel_to(classes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gradflow_data::SampleRng;

    #[test]
    fn the_embedded_images_are_the_balanced_14x14_subset_with_names() {
        let (train, test) = embedded_images(3).unwrap();
        assert_eq!(
            (train.len(), test.len(), train.image_size()),
            (6000, 1500, (14, 14))
        );
        let (img, label) = train.load(0).unwrap();
        assert_eq!((img.width(), img.height(), img.channels()), (14, 14, 3));
        assert!(label < 10);
        assert_eq!(fashion_names()[9], FASHION_MNIST_CLASSES[9]);
    }

    #[test]
    fn idx_preprocessing_keeps_the_size_and_standardizes() {
        let p = Preprocess {
            channels: 1,
            image_size: 14,
            center_crop: false,
            mean: vec![0.5],
            std: vec![0.25],
        };
        let (train, _) = embedded_images(1).unwrap();
        let img = train.image(0);
        let first = img.as_bytes()[0];
        let t = p
            .eval_transform(Some(14))
            .unwrap()
            .apply(img.clone(), &mut SampleRng::new(0))
            .unwrap();
        assert_eq!((t.channels, t.height, t.width), (1, 14, 14));
        // (x/255 − 0.5)/0.25, in f32 as torchvision computes it.
        let want = (f32::from(first) / 255.0 - 0.5) / 0.25;
        assert!((t.data[0] - want).abs() <= 1e-6, "{} vs {want}", t.data[0]);
        // Training with augmentation: same shape (RandomCrop with padding back to 14×14).
        let a = p
            .train_transform(AugmentKind::Standard, Some(14))
            .unwrap()
            .apply(img, &mut SampleRng::new(1))
            .unwrap();
        assert_eq!((a.channels, a.height, a.width), (1, 14, 14));
    }
}
