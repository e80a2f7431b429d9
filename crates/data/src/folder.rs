//! `ImageFolder`: one sub-folder per class, as `torchvision.datasets.ImageFolder`.
//!
//! ```text
//! root/dog/xxx.png
//! root/dog/nested/xxy.jpeg
//! root/cat/123.jpg
//! ```
//!
//! Classes are the sub-folders of `root`, sorted by name (byte order, which is Python's
//! code-point order for UTF-8 names), so `class_to_idx` is `{"cat": 0, "dog": 1}` exactly as
//! torchvision's `find_classes` gives. Samples are found as torchvision's `make_dataset` finds
//! them: for each class in order, every file below its folder (symlinks followed), visiting
//! folders in sorted path order and files in sorted name order, whose lower-cased name ends in
//! `.jpg`, `.jpeg` or `.png`. A class folder without any such file is an error, as in
//! torchvision.
//!
//! Decoding happens on [`VisionDataset::load`], through the `image` crate (PNG and JPEG only),
//! into grey or RGB as PIL's `convert("L")` / `convert("RGB")`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::{DataError, Image, VisionDataset};

/// The file extensions ImageFolder accepts (compared case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// How deep below a class folder files are searched (a guard against symlink loops).
const MAX_DEPTH: usize = 32;

/// A folder-per-class image dataset; see the module docs for the layout and ordering.
#[derive(Clone, Debug)]
pub struct ImageFolder {
    root: PathBuf,
    classes: Vec<String>,
    class_to_idx: BTreeMap<String, usize>,
    samples: Vec<(PathBuf, usize)>,
    channels: usize,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The sorted sub-folder names of `dir` (symlinks to folders included).
fn sorted_subdirs(dir: &Path) -> Result<Vec<OsString>, DataError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        if entry.path().is_dir() {
            names.push(entry.file_name());
        }
    }
    names.sort();
    Ok(names)
}

fn has_image_extension(name: &Path) -> bool {
    name.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Every image file below `dir`, in `sorted(os.walk(dir))` order.
fn walk_images(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    // (folder, its sorted image files), then sorted by folder path as Python sorts the
    // (root, dirs, files) tuples of os.walk.
    let mut folders: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    while let Some((folder, depth)) = stack.pop() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&folder).map_err(io_err(&folder))? {
            let path = entry.map_err(io_err(&folder))?.path();
            if path.is_dir() {
                if depth < MAX_DEPTH {
                    stack.push((path, depth + 1));
                }
            } else if has_image_extension(&path) {
                files.push(path);
            }
        }
        files.sort();
        folders.push((folder, files));
    }
    folders.sort_by(|a, b| a.0.as_os_str().cmp(b.0.as_os_str()));
    Ok(folders.into_iter().flat_map(|(_, f)| f).collect())
}

impl ImageFolder {
    /// Scans `root` (no image is decoded yet); samples are delivered as RGB.
    ///
    /// # Errors
    /// [`DataError::Missing`] when `root` is not a folder, has no class folders, or a class
    /// folder holds no `.jpg/.jpeg/.png` file; [`DataError::Io`] when a folder cannot be
    /// listed.
    pub fn new(root: &Path) -> Result<ImageFolder, DataError> {
        if !root.is_dir() {
            return Err(DataError::Missing {
                path: root.to_path_buf(),
                why: "no such folder".into(),
            });
        }
        let names = sorted_subdirs(root)?;
        if names.is_empty() {
            return Err(DataError::Missing {
                path: root.to_path_buf(),
                why: "no class folders (expected root/<class>/<image>)".into(),
            });
        }
        let mut classes = Vec::with_capacity(names.len());
        let mut samples = Vec::new();
        for (idx, name) in names.iter().enumerate() {
            let dir = root.join(name);
            let files = walk_images(&dir)?;
            if files.is_empty() {
                return Err(DataError::Missing {
                    path: dir,
                    why: format!(
                        "class folder holds no image (extensions {})",
                        IMAGE_EXTENSIONS.join(", ")
                    ),
                });
            }
            samples.extend(files.into_iter().map(|f| (f, idx)));
            classes.push(name.to_string_lossy().into_owned());
        }
        let class_to_idx = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        Ok(ImageFolder {
            root: root.to_path_buf(),
            classes,
            class_to_idx,
            samples,
            channels: 3,
        })
    }

    /// The same dataset delivering 1-channel (grey, PIL `convert("L")`) or 3-channel images.
    ///
    /// # Errors
    /// [`DataError::Config`] when `channels` is not 1 or 3.
    pub fn with_channels(mut self, channels: usize) -> Result<ImageFolder, DataError> {
        if channels != 1 && channels != 3 {
            return Err(DataError::Config(format!(
                "ImageFolder delivers 1 or 3 channels, not {channels}"
            )));
        }
        self.channels = channels;
        Ok(self)
    }

    /// The folder scanned.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Class name → class index, as torchvision's `class_to_idx`.
    pub fn class_to_idx(&self) -> &BTreeMap<String, usize> {
        &self.class_to_idx
    }

    /// `(file, class index)` of every sample, as torchvision's `samples`.
    pub fn samples(&self) -> &[(PathBuf, usize)] {
        &self.samples
    }

    /// Re-indexes this folder's samples to `reference`'s classes (a validation split must use
    /// the training split's indices).
    ///
    /// # Errors
    /// [`DataError::Corrupt`] naming this folder when it has a class `reference` lacks.
    pub fn align_classes_to(mut self, reference: &ImageFolder) -> Result<ImageFolder, DataError> {
        let mut map = Vec::with_capacity(self.classes.len());
        for c in &self.classes {
            let Some(&i) = reference.class_to_idx.get(c) else {
                return Err(DataError::Corrupt {
                    path: self.root.join(c),
                    why: format!(
                        "class {c:?} is not among the {} classes of {}",
                        reference.classes.len(),
                        reference.root.display()
                    ),
                });
            };
            map.push(i);
        }
        for s in &mut self.samples {
            s.1 = map[s.1];
        }
        self.classes = reference.classes.clone();
        self.class_to_idx = reference.class_to_idx.clone();
        Ok(self)
    }
}

impl VisionDataset for ImageFolder {
    fn len(&self) -> usize {
        self.samples.len()
    }

    fn load(&self, index: usize) -> Result<(Image, usize), DataError> {
        let Some((path, class)) = self.samples.get(index) else {
            return Err(DataError::Config(format!(
                "{}: index {index} outside {} samples",
                self.root.display(),
                self.samples.len()
            )));
        };
        Ok((Image::open(path, self.channels)?, *class))
    }

    fn describe(&self, index: usize) -> String {
        self.samples
            .get(index)
            .map_or_else(|| format!("#{index}"), |(p, _)| p.display().to_string())
    }

    fn classes(&self) -> &[String] {
        &self.classes
    }
}

/// The ImageNet layout: `root/train/<class>/…` and `root/val/<class>/…`, the default the CLI
/// expects. The validation split is indexed with the training split's classes.
///
/// # Errors
/// As [`ImageFolder::new`] for either split, [`DataError::Missing`] naming `root` when `train/`
/// or `val/` is absent, and [`DataError::Corrupt`] when `val/` has a class `train/` lacks.
pub fn imagenet_splits(root: &Path) -> Result<(ImageFolder, ImageFolder), DataError> {
    for split in ["train", "val"] {
        if !root.join(split).is_dir() {
            return Err(DataError::Missing {
                path: root.to_path_buf(),
                why: format!("expected the ImageNet layout {split}/<class>/<image> under it"),
            });
        }
    }
    let train = ImageFolder::new(&root.join("train"))?;
    let val = ImageFolder::new(&root.join("val"))?.align_classes_to(&train)?;
    Ok((train, val))
}
