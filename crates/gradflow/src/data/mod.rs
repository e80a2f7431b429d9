//! Datasets: everything of `gradflow-data` (IDX files, ImageFolder, transforms, the loader),
//! plus the embedded Fashion-MNIST subset that the default run uses and a generated teacher
//! task for fast tests.

mod synthetic;

use std::path::Path;

// Everything of `gradflow-data` (IDX, ImageFolder, transforms, the loader) under one name.
pub use gradflow_data::*;
pub use synthetic::{TeacherTask, teacher_task};

/// The embedded default data: a class-balanced 14×14 subset of Fashion-MNIST (6,000 training
/// and 1,500 test images; `assets/fashion-mnist-14/README.md` says how it was made), compiled
/// into the binary so the lab runs on real images with nothing installed. The files go
/// through the same checks as files on disk ([`gradflow_data::idx_splits_from_bytes`]).
pub fn embedded_fashion_mnist() -> (Dataset, Dataset) {
    macro_rules! file {
        ($name:literal) => {
            (
                Path::new(concat!("assets/fashion-mnist-14/", $name)),
                &include_bytes!(concat!("../../assets/fashion-mnist-14/", $name))[..],
            )
        };
    }
    let files = [
        file!("train-images-idx3-ubyte.gz"),
        file!("train-labels-idx1-ubyte.gz"),
        file!("t10k-images-idx3-ubyte.gz"),
        file!("t10k-labels-idx1-ubyte.gz"),
    ];
    // The files are part of the binary and checked by a test: a failure here is a build error.
    gradflow_data::idx_splits_from_bytes("embedded Fashion-MNIST 14×14 subset", files)
        .unwrap_or_else(|e| panic!("the embedded data set is damaged: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_subset_is_balanced_fashion_mnist() {
        let (train, test) = embedded_fashion_mnist();
        assert_eq!(
            (train.len(), test.len(), train.dim, train.classes),
            (6000, 1500, 196, 10)
        );
        for c in 0..10 {
            assert_eq!(train.labels.iter().filter(|&&l| l == c).count(), 600);
            assert_eq!(test.labels.iter().filter(|&&l| l == c).count(), 150);
        }
        assert!(train.features.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn standardized_inputs_have_mean_zero_and_unit_variance() {
        let (mut train, _) = embedded_fashion_mnist();
        let (m, s) = train.mean_std();
        train.standardize(m, s);
        let (m2, s2) = train.mean_std();
        // f32 rounding of 1.2M standardized values: the f64 mean of the rounded values is
        // within a few ulps of 0 and the std within 1e-5 of 1.
        assert!(m2.abs() < 1e-5 && (s2 - 1.0).abs() < 1e-5, "{m2} {s2}");
    }
}
