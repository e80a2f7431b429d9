//! Image + label IDX pairs: MNIST and Fashion-MNIST, validated.
//!
//! Two views of the same files:
//! - [`Dataset`], the flat `n × (rows·cols)` float matrix the MLP experiments train on
//!   (pixels scaled to [0, 1]), loaded by [`load_idx_folder`];
//! - [`IdxImages`], the same pairs as 8-bit 1- or 3-channel [`Image`]s for the image pipeline
//!   (transforms + [`crate::DataLoader`]), loaded by [`IdxImages::open`] or
//!   [`IdxImages::load_folder`].
//!
//! Both check what a damaged or mismatched pair would otherwise turn into a panic or silent
//! garbage, each as a [`DataError`] naming the offending file:
//! an empty set, zero-sized images, a label count different from the image count, a label
//! that is not an integer class index (NaN, −1, 1e30 in a float label file), non-finite pixels,
//! and a test split whose image size or classes differ from the training split.

use std::path::{Path, PathBuf};

use gradflow_tensor::Tensor;

use crate::idx::{IdxRaw, IdxType, parse_idx_raw, read_idx_raw};
use crate::{DataError, Image, VisionDataset};

/// Where Debian's `dataset-fashion-mnist` package puts the files.
pub const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// The largest number of classes an IDX label file may name (labels must lie in
/// `0..MAX_IDX_CLASSES`): the format's labels are bytes, and anything far larger is a damaged
/// file, not a classification task.
pub const MAX_IDX_CLASSES: usize = 1 << 16;

/// Fashion-MNIST's class names, in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// A labelled classification set held in memory: `n` rows of `dim` features.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Human-readable origin, e.g. `fashion-mnist (/usr/share/datasets/fashion-mnist)`.
    pub name: String,
    /// Row-major features, `n × dim`.
    pub features: Vec<f32>,
    /// Class index per row.
    pub labels: Vec<usize>,
    /// Features per row.
    pub dim: usize,
    /// Number of classes.
    pub classes: usize,
}

impl Dataset {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Rows `idx` as a `[idx.len(), dim]` tensor and their labels.
    ///
    /// # Panics
    /// When an index is out of range (a programmer error).
    pub fn batch(&self, idx: &[usize]) -> (Tensor, Vec<usize>) {
        let mut x = Vec::with_capacity(idx.len() * self.dim);
        for &i in idx {
            x.extend_from_slice(&self.features[i * self.dim..(i + 1) * self.dim]);
        }
        (
            Tensor::from_vec(x, &[idx.len(), self.dim]),
            idx.iter().map(|&i| self.labels[i]).collect(),
        )
    }

    /// The mean and standard deviation over every value (pixels share one mean and one std,
    /// as torchvision's `Normalize` on a one-channel image does), accumulated in f64.
    pub fn mean_std(&self) -> (f32, f32) {
        let n = self.features.len().max(1) as f64;
        let mean = self.features.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = self
            .features
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean as f32, var.sqrt() as f32)
    }

    /// x ← (x − mean)/std for every value, as every reference pipeline standardizes its inputs
    /// (use the *training* set's [`Dataset::mean_std`] for both splits). A std of 0 (constant
    /// inputs) only centres them.
    pub fn standardize(&mut self, mean: f32, std: f32) {
        let inv = if std > 0.0 { 1.0 / std } else { 1.0 };
        for v in &mut self.features {
            *v = (*v - mean) * inv;
        }
    }

    /// The first `n` rows (all if fewer).
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            name: self.name.clone(),
            features: self.features[..n * self.dim].to_vec(),
            labels: self.labels[..n].to_vec(),
            dim: self.dim,
            classes: self.classes,
        }
    }
}

/// Find `stem` or `stem.gz` in `dir`.
///
/// # Errors
/// [`DataError::Missing`] naming the folder and both names looked for.
pub fn find_idx_file(dir: &Path, stem: &str) -> Result<PathBuf, DataError> {
    for name in [stem.to_string(), format!("{stem}.gz")] {
        let p = dir.join(&name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(DataError::Missing {
        path: dir.to_path_buf(),
        why: format!("expected {stem} or {stem}.gz"),
    })
}

/// A validated image + label pair, pixels still raw.
struct Pair {
    images: IdxRaw,
    labels: Vec<usize>,
    n: usize,
    rows: usize,
    cols: usize,
    /// 1 + the largest label.
    used_classes: usize,
}

fn corrupt(path: &Path, why: String) -> DataError {
    DataError::Corrupt {
        path: path.to_path_buf(),
        why,
    }
}

/// Checks an image file `[n, rows, cols]` against a label file `[n]` of integer classes.
fn check_pair(
    images: IdxRaw,
    img_path: &Path,
    labels: &IdxRaw,
    lbl_path: &Path,
) -> Result<Pair, DataError> {
    let [n, rows, cols] = images.shape[..] else {
        return Err(corrupt(
            img_path,
            format!(
                "images must be [n, rows, cols], header says {:?}",
                images.shape
            ),
        ));
    };
    if n == 0 {
        return Err(corrupt(
            img_path,
            "empty set: the header announces 0 images".into(),
        ));
    }
    if rows == 0 || cols == 0 {
        return Err(corrupt(
            img_path,
            format!("zero-sized images: {n} images of {rows}×{cols} pixels"),
        ));
    }
    if images.dtype.is_float() {
        for i in 0..images.numel() {
            let v = images.value_f64(i);
            if !v.is_finite() {
                return Err(corrupt(
                    img_path,
                    format!(
                        "pixel {i} (image {}) is {}",
                        i / (rows * cols),
                        images.value_string(i)
                    ),
                ));
            }
        }
    }
    if labels.shape.len() != 1 || labels.shape[0] != n {
        return Err(corrupt(
            lbl_path,
            format!(
                "label file of shape {:?} for {n} images in {}: expected [{n}]",
                labels.shape,
                img_path.display()
            ),
        ));
    }
    let mut out = Vec::with_capacity(n);
    let mut max = 0;
    for i in 0..n {
        let v = labels.value_f64(i);
        if !(v.is_finite() && v.fract() == 0.0 && v >= 0.0 && v < MAX_IDX_CLASSES as f64) {
            return Err(corrupt(
                lbl_path,
                format!(
                    "label {} at index {i} is not a class index \
                     (an integer in 0..{MAX_IDX_CLASSES})",
                    labels.value_string(i)
                ),
            ));
        }
        let c = v as usize;
        max = max.max(c);
        out.push(c);
    }
    Ok(Pair {
        images,
        labels: out,
        n,
        rows,
        cols,
        used_classes: max + 1,
    })
}

fn read_pair(img_path: &Path, lbl_path: &Path) -> Result<Pair, DataError> {
    let images = read_idx_raw(img_path)?;
    let labels = read_idx_raw(lbl_path)?;
    check_pair(images, img_path, &labels, lbl_path)
}

/// Checks that a test split matches its training split: same image size, and no class the
/// training split does not have (a model trained on 10 classes cannot score an 11th).
fn check_test_against_train(
    train: (usize, usize, usize),
    test: (usize, usize, usize),
    test_images: &Path,
    test_labels: &Path,
) -> Result<(), DataError> {
    let ((tr_rows, tr_cols, tr_classes), (te_rows, te_cols, te_classes)) = (train, test);
    if (tr_rows, tr_cols) != (te_rows, te_cols) {
        return Err(corrupt(
            test_images,
            format!("test images are {te_rows}×{te_cols}, training images {tr_rows}×{tr_cols}"),
        ));
    }
    if te_classes > tr_classes {
        return Err(corrupt(
            test_labels,
            format!(
                "test label {} is outside the training set's {tr_classes} classes",
                te_classes - 1
            ),
        ));
    }
    Ok(())
}

fn split_paths(dir: &Path, prefix: &str) -> Result<(PathBuf, PathBuf), DataError> {
    Ok((
        find_idx_file(dir, &format!("{prefix}-images-idx3-ubyte"))?,
        find_idx_file(dir, &format!("{prefix}-labels-idx1-ubyte"))?,
    ))
}

fn check_dir(dir: &Path) -> Result<(), DataError> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(DataError::Missing {
            path: dir.to_path_buf(),
            why: "no such folder".into(),
        })
    }
}

fn to_flat(p: Pair, name: &str, classes: usize) -> Dataset {
    Dataset {
        name: name.to_string(),
        features: p.images.to_f32().iter().map(|&v| v / 255.0).collect(),
        labels: p.labels,
        dim: p.rows * p.cols,
        classes,
    }
}

/// Load an MNIST-layout folder (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
/// `t10k-…`) as (train, test), pixels scaled to [0, 1] (divided by 255). Both splits get the
/// training split's class count, at least 10.
///
/// # Errors
/// A [`DataError`] naming the missing or damaged file: see the module docs for every check.
pub fn load_idx_folder(dir: &Path) -> Result<(Dataset, Dataset), DataError> {
    check_dir(dir)?;
    let name = format!(
        "{} ({})",
        dir.file_name()
            .map_or("idx".into(), |n| n.to_string_lossy().into_owned()),
        dir.display()
    );
    let (tr_img, tr_lbl) = split_paths(dir, "train")?;
    let (te_img, te_lbl) = split_paths(dir, "t10k")?;
    let train = read_pair(&tr_img, &tr_lbl)?;
    let test = read_pair(&te_img, &te_lbl)?;
    flat_splits(&name, train, test, &te_img, &te_lbl)
}

/// [`load_idx_folder`] from the four files' bytes (plain or gzip), for data compiled into a
/// binary: `files` are (name, bytes) of the training images, training labels, test images and
/// test labels, in that order; the names only identify the files in errors. Every check of
/// [`load_idx_folder`] applies.
///
/// # Errors
/// A [`DataError`] naming the damaged file.
pub fn idx_splits_from_bytes(
    name: &str,
    files: [(&Path, &[u8]); 4],
) -> Result<(Dataset, Dataset), DataError> {
    let parse = |i: usize| parse_idx_raw(files[i].1, files[i].0);
    let train = check_pair(parse(0)?, files[0].0, &parse(1)?, files[1].0)?;
    let test = check_pair(parse(2)?, files[2].0, &parse(3)?, files[3].0)?;
    flat_splits(name, train, test, files[2].0, files[3].0)
}

fn flat_splits(
    name: &str,
    train: Pair,
    test: Pair,
    te_img: &Path,
    te_lbl: &Path,
) -> Result<(Dataset, Dataset), DataError> {
    let classes = train.used_classes.max(10);
    check_test_against_train(
        (train.rows, train.cols, classes),
        (test.rows, test.cols, test.used_classes),
        te_img,
        te_lbl,
    )?;
    Ok((to_flat(train, name, classes), to_flat(test, name, classes)))
}

/// An IDX image + label pair as 8-bit images with 1 (grey) or 3 (grey repeated as RGB)
/// channels, for the image pipeline. Pixels stay in memory as the file's bytes.
#[derive(Clone, Debug)]
pub struct IdxImages {
    path: PathBuf,
    pixels: Vec<u8>,
    labels: Vec<usize>,
    rows: usize,
    cols: usize,
    channels: usize,
    classes: Vec<String>,
}

impl IdxImages {
    /// Reads and validates an image file (`[n, rows, cols]`, unsigned bytes) and its label
    /// file (`[n]`, any IDX type holding integer class indices). Class names are `"0"`,
    /// `"1"`, … up to the largest label, at least 10.
    ///
    /// # Errors
    /// A [`DataError`] naming the damaged file (see the module docs).
    pub fn open(images: &Path, labels: &Path) -> Result<IdxImages, DataError> {
        let pair = read_pair(images, labels)?;
        IdxImages::from_pair(pair, images)
    }

    /// As [`IdxImages::open`], from bytes already in memory (plain or gzip IDX); the paths
    /// only name the sources in errors. This is the fuzzed entry point.
    ///
    /// # Errors
    /// As [`IdxImages::open`].
    pub fn from_bytes(
        images: &[u8],
        images_path: &Path,
        labels: &[u8],
        labels_path: &Path,
    ) -> Result<IdxImages, DataError> {
        let img = crate::idx::parse_idx_raw(images, images_path)?;
        let lbl = crate::idx::parse_idx_raw(labels, labels_path)?;
        let pair = check_pair(img, images_path, &lbl, labels_path)?;
        IdxImages::from_pair(pair, images_path)
    }

    fn from_pair(p: Pair, path: &Path) -> Result<IdxImages, DataError> {
        if p.images.dtype != IdxType::U8 {
            return Err(corrupt(
                path,
                format!(
                    "image pixels must be unsigned bytes (type 0x08), the file holds {:?}",
                    p.images.dtype
                ),
            ));
        }
        debug_assert_eq!(p.images.body.len(), p.n * p.rows * p.cols);
        let classes = (0..p.used_classes.max(10)).map(|c| c.to_string()).collect();
        Ok(IdxImages {
            path: path.to_path_buf(),
            pixels: p.images.body,
            labels: p.labels,
            rows: p.rows,
            cols: p.cols,
            channels: 1,
            classes,
        })
    }

    /// Loads an MNIST-layout folder's `train-*` and `t10k-*` pairs, checking that the test
    /// images have the training size and no class outside the training classes. When the
    /// folder holds 10 classes, they are named after Fashion-MNIST's when `fashion` is true.
    ///
    /// # Errors
    /// A [`DataError`] naming the missing or damaged file.
    pub fn load_folder(dir: &Path, fashion: bool) -> Result<(IdxImages, IdxImages), DataError> {
        check_dir(dir)?;
        let (tr_img, tr_lbl) = split_paths(dir, "train")?;
        let (te_img, te_lbl) = split_paths(dir, "t10k")?;
        let mut train = IdxImages::open(&tr_img, &tr_lbl)?;
        let mut test = IdxImages::open(&te_img, &te_lbl)?;
        check_test_against_train(
            (train.rows, train.cols, train.classes.len()),
            (test.rows, test.cols, test.classes.len()),
            &te_img,
            &te_lbl,
        )?;
        if fashion && train.classes.len() == 10 {
            train.classes = FASHION_MNIST_CLASSES
                .iter()
                .map(|s| s.to_string())
                .collect();
        }
        test.classes = train.classes.clone();
        Ok((train, test))
    }

    /// The same samples delivered with `channels` channels (1, or 3 for an RGB pipeline).
    ///
    /// # Errors
    /// [`DataError::Config`] when `channels` is not 1 or 3.
    pub fn with_channels(mut self, channels: usize) -> Result<IdxImages, DataError> {
        if channels != 1 && channels != 3 {
            return Err(DataError::Config(format!(
                "IDX images can be read with 1 or 3 channels, not {channels}"
            )));
        }
        self.channels = channels;
        Ok(self)
    }

    /// Image height and width, `(rows, cols)`.
    pub fn image_size(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The class index of every sample.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Sample `i` as an image.
    ///
    /// # Panics
    /// When `i >= self.len()`.
    pub fn image(&self, i: usize) -> Image {
        let px = self.rows * self.cols;
        let grey = self.pixels[i * px..(i + 1) * px].to_vec();
        let data = if self.channels == 3 {
            grey.iter().flat_map(|&v| [v, v, v]).collect()
        } else {
            grey
        };
        Image::from_parts(self.cols, self.rows, self.channels, data)
    }
}

impl VisionDataset for IdxImages {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn load(&self, index: usize) -> Result<(Image, usize), DataError> {
        if index >= self.labels.len() {
            return Err(DataError::Config(format!(
                "{}: index {index} outside {} images",
                self.path.display(),
                self.labels.len()
            )));
        }
        Ok((self.image(index), self.labels[index]))
    }

    fn describe(&self, index: usize) -> String {
        format!("{} #{index}", self.path.display())
    }

    fn classes(&self) -> &[String] {
        &self.classes
    }
}
