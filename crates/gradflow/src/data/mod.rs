//! Datasets for the experiments: real IDX files (MNIST, Fashion-MNIST) and an embedded,
//! generated default that needs nothing installed.

mod idx;
mod synthetic;

use std::path::{Path, PathBuf};

use gradflow_tensor::Tensor;

pub use idx::{IdxArray, encode_idx_u8, gunzip, parse_idx, read_idx};
pub use synthetic::{TeacherTask, teacher_task};

/// Where Debian's `dataset-fashion-mnist` package puts the files.
pub const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// What can go wrong reading data; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The data folder does not exist or lacks a file.
    #[error("{path}: not found ({why})")]
    Missing {
        /// The folder or file.
        path: PathBuf,
        /// What was looked for.
        why: String,
    },
    /// The first bytes are not an IDX magic number.
    #[error("{path}: not an IDX file (magic bytes {found:02x?})")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The bytes found where the magic number belongs.
        found: Vec<u8>,
    },
    /// The file ends before the data its header announces.
    #[error("{path}: truncated IDX file: header announces {expected} bytes, file has {found}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header implies.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// The contents are inconsistent (damaged gzip, mismatched counts, bad labels).
    #[error("{path}: corrupt data: {why}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

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

    /// Per-feature-set statistics of the inputs: the mean and standard deviation over every
    /// value (pixels share one mean and one std, as torchvision's `Normalize` on a
    /// one-channel image does), accumulated in f64.
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
fn find(dir: &Path, stem: &str) -> Result<PathBuf, DataError> {
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

fn load_split(dir: &Path, prefix: &str, name: &str) -> Result<Dataset, DataError> {
    let img_path = find(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let lbl_path = find(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let images = read_idx(&img_path)?;
    let labels = read_idx(&lbl_path)?;
    image_dataset(images, &img_path, labels, &lbl_path, name)
}

/// Pair an IDX image array `[n, rows, cols]` with its IDX label array `[n]`, pixels scaled to
/// [0, 1]; the paths only name the sources in errors.
fn image_dataset(
    images: IdxArray,
    img_path: &Path,
    labels: IdxArray,
    lbl_path: &Path,
    name: &str,
) -> Result<Dataset, DataError> {
    if images.shape.len() != 3 {
        return Err(DataError::Corrupt {
            path: img_path.to_path_buf(),
            why: format!(
                "images must be [n, rows, cols], header says {:?}",
                images.shape
            ),
        });
    }
    if labels.shape.len() != 1 || labels.shape[0] != images.shape[0] {
        return Err(DataError::Corrupt {
            path: lbl_path.to_path_buf(),
            why: format!(
                "{} labels for {} images",
                labels.shape.first().copied().unwrap_or(0),
                images.shape[0]
            ),
        });
    }
    let labels: Vec<usize> = labels.values.iter().map(|&v| v as usize).collect();
    let classes = labels.iter().max().map_or(0, |m| m + 1);
    if classes > 256 {
        return Err(DataError::Corrupt {
            path: lbl_path.to_path_buf(),
            why: format!("label {} is not a class index", classes - 1),
        });
    }
    Ok(Dataset {
        name: name.to_string(),
        features: images.values.iter().map(|&v| v / 255.0).collect(),
        labels,
        dim: images.shape[1] * images.shape[2],
        classes: classes.max(10),
    })
}

/// The embedded default data: a class-balanced 14×14 subset of Fashion-MNIST (6,000 training
/// and 1,500 test images; `assets/fashion-mnist-14/README.md` says how it was made), compiled
/// into the binary so the lab runs on real images with nothing installed.
pub fn embedded_fashion_mnist() -> (Dataset, Dataset) {
    const DIR: &str = "assets/fashion-mnist-14";
    const FILES: [(&str, &[u8]); 4] = [
        (
            "train-images-idx3-ubyte.gz",
            include_bytes!("../../assets/fashion-mnist-14/train-images-idx3-ubyte.gz"),
        ),
        (
            "train-labels-idx1-ubyte.gz",
            include_bytes!("../../assets/fashion-mnist-14/train-labels-idx1-ubyte.gz"),
        ),
        (
            "t10k-images-idx3-ubyte.gz",
            include_bytes!("../../assets/fashion-mnist-14/t10k-images-idx3-ubyte.gz"),
        ),
        (
            "t10k-labels-idx1-ubyte.gz",
            include_bytes!("../../assets/fashion-mnist-14/t10k-labels-idx1-ubyte.gz"),
        ),
    ];
    let read = |i: usize| -> Result<(IdxArray, PathBuf), DataError> {
        let path = Path::new(DIR).join(FILES[i].0);
        Ok((parse_idx(&gunzip(FILES[i].1, &path)?, &path)?, path))
    };
    let split = |i: usize| -> Result<Dataset, DataError> {
        let ((images, ip), (labels, lp)) = (read(i)?, read(i + 1)?);
        image_dataset(
            images,
            &ip,
            labels,
            &lp,
            "embedded Fashion-MNIST 14×14 subset",
        )
    };
    // The files are part of the binary and checked by a test: a failure here is a build error.
    match (split(0), split(2)) {
        (Ok(train), Ok(test)) => (train, test),
        (Err(e), _) | (_, Err(e)) => panic!("the embedded data set is damaged: {e}"),
    }
}

/// Load an MNIST-layout folder (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
/// `t10k-…`) as (train, test), pixels scaled to [0, 1].
///
/// # Errors
/// A [`DataError`] naming the missing or damaged file.
pub fn load_idx_folder(dir: &Path) -> Result<(Dataset, Dataset), DataError> {
    if !dir.is_dir() {
        return Err(DataError::Missing {
            path: dir.to_path_buf(),
            why: "no such folder".into(),
        });
    }
    let name = format!(
        "{} ({})",
        dir.file_name()
            .map_or("idx".into(), |n| n.to_string_lossy().into_owned()),
        dir.display()
    );
    Ok((
        load_split(dir, "train", &name)?,
        load_split(dir, "t10k", &name)?,
    ))
}
