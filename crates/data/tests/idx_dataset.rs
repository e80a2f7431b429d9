//! Image + label IDX pairs (MNIST / Fashion-MNIST layout): every mismatch or impossible label
//! of issue #13 (items 5 and 6) is an error naming the file, built here as damaged files in a
//! temporary folder.

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use gradflow_data::{
    DataError, IdxImages, IdxType, VisionDataset, encode_idx, encode_idx_f32, encode_idx_u8,
    load_idx_folder,
};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// n images of rows × cols whose pixel values encode (image, position).
fn images(n: usize, rows: usize, cols: usize) -> Vec<u8> {
    let px: Vec<u8> = (0..n * rows * cols).map(|i| (i * 7 % 251) as u8).collect();
    encode_idx_u8(&[n, rows, cols], &px)
}

fn labels(values: &[u8]) -> Vec<u8> {
    encode_idx_u8(&[values.len()], values)
}

/// An MNIST-layout folder; `train_img` etc. are the files' bytes.
fn folder(dir: &Path, train_img: &[u8], train_lbl: &[u8], test_img: &[u8], test_lbl: &[u8]) {
    std::fs::write(dir.join("train-images-idx3-ubyte.gz"), gzip(train_img)).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), train_lbl).unwrap();
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), test_img).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte.gz"), gzip(test_lbl)).unwrap();
}

fn open_pair(img: &[u8], lbl: &[u8]) -> (tempfile::TempDir, Result<IdxImages, DataError>) {
    let dir = tempfile::tempdir().unwrap();
    let (pi, pl) = (
        dir.path().join("images-idx3"),
        dir.path().join("labels-idx1"),
    );
    std::fs::write(&pi, img).unwrap();
    std::fs::write(&pl, lbl).unwrap();
    let r = IdxImages::open(&pi, &pl);
    (dir, r)
}

/// Asserts a Corrupt error whose message names `file` and contains `needle`.
fn assert_corrupt(r: Result<IdxImages, DataError>, file: &str, needle: &str) {
    let e = r.expect_err(needle);
    let msg = e.to_string();
    assert!(matches!(e, DataError::Corrupt { .. }), "{msg}");
    assert!(msg.contains(file), "{msg} does not name {file}");
    assert!(msg.contains(needle), "{msg} does not say {needle:?}");
}

#[test]
fn a_valid_pair_reads_as_one_or_three_channel_images() {
    let (_d, r) = open_pair(&images(4, 3, 5), &labels(&[3, 1, 4, 1]));
    let set = r.unwrap();
    assert_eq!(set.len(), 4);
    assert_eq!(set.image_size(), (3, 5));
    assert_eq!(set.classes().len(), 10, "at least MNIST's 10 classes");
    let (grey, class) = set.load(2).unwrap();
    assert_eq!(
        (grey.width(), grey.height(), grey.channels(), class),
        (5, 3, 1, 4)
    );
    let rgb = set.clone().with_channels(3).unwrap();
    let (img, _) = rgb.load(2).unwrap();
    assert_eq!(img.channels(), 3);
    for (g, p) in grey.as_bytes().iter().zip(img.as_bytes().chunks(3)) {
        assert_eq!(p, [*g, *g, *g]);
    }
    assert!(matches!(set.with_channels(2), Err(DataError::Config(_))));
}

#[test]
fn an_empty_set_is_an_error_naming_the_image_file() {
    let (_d, r) = open_pair(&images(0, 28, 28), &labels(&[]));
    assert_corrupt(r, "images-idx3", "empty set");
}

#[test]
fn zero_sized_images_are_an_error_naming_the_image_file() {
    let (_d, r) = open_pair(&encode_idx_u8(&[64, 0, 0], &[]), &labels(&[0; 64]));
    assert_corrupt(r, "images-idx3", "zero-sized images");
}

#[test]
fn a_label_count_different_from_the_image_count_names_the_label_file() {
    let (_d, r) = open_pair(&images(5, 2, 2), &labels(&[0, 1, 2]));
    assert_corrupt(r, "labels-idx1", "for 5 images");
}

#[test]
fn nan_negative_huge_and_fractional_float_labels_are_errors() {
    for (bad, shown) in [
        (f32::NAN, "NaN"),
        (-1.0, "-1.0"),
        (1e30, "1e30"),
        (2.5, "2.5"),
    ] {
        let lbl = encode_idx_f32(&[3], &[0.0, bad, 1.0]);
        let (_d, r) = open_pair(&images(3, 2, 2), &lbl);
        assert_corrupt(r, "labels-idx1", &format!("label {shown} at index 1"));
    }
    // Integer label types: a negative i8 is not a class either.
    let lbl = encode_idx(IdxType::I8, &[2], &[0, 0xFF]);
    let (_d, r) = open_pair(&images(2, 2, 2), &lbl);
    assert_corrupt(r, "labels-idx1", "label -1.0 at index 1");
    // Integral float labels are fine.
    let lbl = encode_idx_f32(&[2], &[0.0, 9.0]);
    let (_d, r) = open_pair(&images(2, 2, 2), &lbl);
    assert_eq!(r.unwrap().labels(), &[0, 9]);
}

#[test]
fn images_that_are_not_bytes_are_refused_by_the_image_pipeline() {
    let img = encode_idx_f32(&[1, 2, 2], &[0.0, 1.0, 2.0, 3.0]);
    let (_d, r) = open_pair(&img, &labels(&[1]));
    assert_corrupt(r, "images-idx3", "unsigned bytes");
}

#[test]
fn load_idx_folder_reads_plain_and_gzip_and_scales_pixels() {
    let dir = tempfile::tempdir().unwrap();
    folder(
        dir.path(),
        &images(6, 2, 3),
        &labels(&[0, 1, 2, 3, 4, 5]),
        &images(2, 2, 3),
        &labels(&[5, 0]),
    );
    let (train, test) = load_idx_folder(dir.path()).unwrap();
    assert_eq!((train.len(), train.dim, train.classes), (6, 6, 10));
    assert_eq!((test.len(), test.classes), (2, 10));
    assert_eq!(train.features[1], 7.0 / 255.0);
    let (x, y) = train.batch(&[1, 4]);
    assert_eq!(x.shape(), &[2, 6]);
    assert_eq!(y, vec![1, 4]);
    assert_eq!(train.take(3).len(), 3);
    // The same folder as images, with Fashion-MNIST's class names.
    let (tr, te) = IdxImages::load_folder(dir.path(), true).unwrap();
    assert_eq!(tr.classes()[9], "Ankle boot");
    assert_eq!(te.classes(), tr.classes());
}

#[test]
fn a_test_split_of_another_image_size_names_the_test_images() {
    let dir = tempfile::tempdir().unwrap();
    folder(
        dir.path(),
        &images(4, 4, 4),
        &labels(&[0, 1, 2, 3]),
        &images(2, 5, 4),
        &labels(&[0, 1]),
    );
    let e = load_idx_folder(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("t10k-images-idx3-ubyte") && e.contains("5×4") && e.contains("4×4"),
        "{e}"
    );
    let e = IdxImages::load_folder(dir.path(), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("t10k-images-idx3-ubyte"), "{e}");
}

#[test]
fn test_labels_outside_the_training_classes_name_the_test_labels() {
    let dir = tempfile::tempdir().unwrap();
    folder(
        dir.path(),
        &images(3, 2, 2),
        &labels(&[0, 1, 2]),
        &images(2, 2, 2),
        &labels(&[1, 12]),
    );
    let e = load_idx_folder(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("t10k-labels-idx1-ubyte") && e.contains("label 12"),
        "{e}"
    );
}

#[test]
fn nan_pixels_in_a_float_image_file_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let img = encode_idx_f32(&[2, 1, 2], &[0.0, 1.0, f32::NAN, 3.0]);
    folder(
        dir.path(),
        &img,
        &labels(&[0, 1]),
        &images(1, 1, 2),
        &labels(&[0]),
    );
    let e = load_idx_folder(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("NaN"),
        "{e}"
    );
}

#[test]
fn a_missing_folder_or_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let e = load_idx_folder(&dir.path().join("nope")).unwrap_err();
    assert!(matches!(e, DataError::Missing { .. }), "{e:?}");
    let e = load_idx_folder(dir.path()).unwrap_err().to_string();
    assert!(e.contains("train-images-idx3-ubyte"), "{e}");
}
