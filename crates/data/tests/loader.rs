//! The loader: batches do not depend on the worker count, every sample is visited once per
//! epoch, drop_last, skipped unreadable images and the 1 % stop.

use std::collections::BTreeSet;
use std::path::Path;

use gradflow_data::{
    Batch, Compose, DataError, DataLoader, IdxImages, ImageFolder, LoaderConfig, Normalize,
    RandomCrop, RandomHorizontalFlip, RandomResizedCrop, encode_idx_u8,
};
use image::{Rgb, RgbImage};

/// 53 distinct 6×7 grey images with labels 0..9, viewed as RGB.
fn idx_set() -> IdxImages {
    let n = 53;
    let px: Vec<u8> = (0..n * 42).map(|i| (i * 13 % 256) as u8).collect();
    let lbl: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    IdxImages::from_bytes(
        &encode_idx_u8(&[n, 6, 7], &px),
        Path::new("img"),
        &encode_idx_u8(&[n], &lbl),
        Path::new("lbl"),
    )
    .unwrap()
    .with_channels(3)
    .unwrap()
}

fn augment() -> Compose {
    Compose::new()
        .then(RandomCrop::new(6, 6).padding(2))
        .then(RandomHorizontalFlip::new(0.5))
        .then(RandomResizedCrop::new(5).scale(0.3, 1.0))
        .normalize(Normalize::imagenet())
}

fn cfg(workers: usize, batch: usize) -> LoaderConfig {
    LoaderConfig {
        batch_size: batch,
        seed: 42,
        workers,
        log_skips: false,
        ..LoaderConfig::default()
    }
}

fn collect(loader: &DataLoader<IdxImages>, epoch: u64) -> Vec<Batch> {
    loader.epoch(epoch).map(Result::unwrap).collect()
}

#[test]
fn batches_are_bit_identical_for_any_number_of_workers() {
    let reference: Vec<Vec<Batch>> = {
        let l = DataLoader::new(idx_set(), augment(), cfg(0, 8)).unwrap();
        (0..2).map(|e| collect(&l, e)).collect()
    };
    for workers in [1, 2, 3, 5] {
        let l = DataLoader::new(
            idx_set(),
            augment(),
            LoaderConfig {
                prefetch: 1,
                ..cfg(workers, 8)
            },
        )
        .unwrap();
        for (e, want) in reference.iter().enumerate() {
            assert_eq!(&collect(&l, e as u64), want, "workers {workers}, epoch {e}");
        }
    }
    // The two epochs differ in order and augmentation.
    assert_ne!(reference[0], reference[1]);
}

#[test]
fn each_epoch_visits_every_sample_once_and_drop_last_drops_the_tail() {
    let l = DataLoader::new(idx_set(), augment(), cfg(2, 8)).unwrap();
    assert_eq!(l.batches_per_epoch(), 7);
    let batches = collect(&l, 3);
    let sizes: Vec<usize> = batches.iter().map(Batch::len).collect();
    assert_eq!(sizes, [8, 8, 8, 8, 8, 8, 5]);
    let seen: BTreeSet<usize> = batches.iter().flat_map(|b| b.indices.clone()).collect();
    assert_eq!(seen.len(), 53);
    assert_eq!(batches[0].shape, [8, 3, 5, 5]);
    assert_eq!(batches[0].to_tensor().shape(), &[8, 3, 5, 5]);
    for b in &batches {
        for (i, y) in b.indices.iter().zip(&b.labels) {
            assert_eq!(*y, i % 10, "labels travel with their samples");
        }
    }
    let l = DataLoader::new(
        idx_set(),
        augment(),
        LoaderConfig {
            drop_last: true,
            ..cfg(2, 8)
        },
    )
    .unwrap();
    assert_eq!(l.batches_per_epoch(), 6);
    assert!(collect(&l, 3).iter().all(|b| b.len() == 8));
    let stats = l.measure_throughput(0, 100).unwrap();
    assert_eq!((stats.batches, stats.images), (6, 48));
    assert!(stats.images_per_second() > 0.0);
}

#[test]
fn without_shuffle_the_order_is_the_dataset_order() {
    let l = DataLoader::new(
        idx_set(),
        Compose::new(),
        LoaderConfig {
            shuffle: false,
            ..cfg(1, 10)
        },
    )
    .unwrap();
    assert_eq!(l.order(5), (0..53).collect::<Vec<_>>());
    let first = collect(&l, 0).remove(0);
    assert_eq!(first.indices, (0..10).collect::<Vec<_>>());
    // Without transforms the batch is the image itself, / 255.
    assert_eq!(first.shape, [10, 3, 6, 7]);
    assert_eq!(first.images[1], 13.0 / 255.0);
}

#[test]
fn invalid_settings_are_errors() {
    for bad in [
        LoaderConfig {
            batch_size: 0,
            ..cfg(0, 1)
        },
        LoaderConfig {
            prefetch: 0,
            ..cfg(1, 1)
        },
        LoaderConfig {
            max_unreadable_fraction: 2.0,
            ..cfg(1, 1)
        },
        // Unbounded thread and queue counts would exhaust the process, not fail cleanly.
        LoaderConfig {
            workers: 100_000,
            ..cfg(1, 1)
        },
        LoaderConfig {
            prefetch: usize::MAX,
            ..cfg(1, 1)
        },
    ] {
        assert!(matches!(
            DataLoader::new(idx_set(), Compose::new(), bad),
            Err(DataError::Config(_))
        ));
    }
    // A crop the images cannot provide stops the epoch with the sample's name.
    let l = DataLoader::new(
        idx_set(),
        Compose::new().then(RandomCrop::new(9, 9)),
        cfg(2, 4),
    )
    .unwrap();
    let e = l.epoch(0).next().unwrap().unwrap_err().to_string();
    assert!(e.contains("img #") && e.contains("larger than"), "{e}");
}

/// An ImageFolder of `good` 4×4 PNGs and `bad` corrupt files in two classes.
fn folder_with_corrupt(root: &Path, good: usize, bad: usize) {
    for c in ["a", "b"] {
        std::fs::create_dir_all(root.join(c)).unwrap();
    }
    for i in 0..good {
        let img = RgbImage::from_pixel(4, 4, Rgb([i as u8, 0, 0]));
        img.save(root.join(["a", "b"][i % 2]).join(format!("{i:04}.png")))
            .unwrap();
    }
    for i in 0..bad {
        std::fs::write(
            root.join("a").join(format!("bad{i}.png")),
            b"\x89PNG\r\n\x1a\n torn",
        )
        .unwrap();
    }
}

#[test]
fn an_unreadable_image_is_skipped_counted_and_named_once() {
    let dir = tempfile::tempdir().unwrap();
    folder_with_corrupt(dir.path(), 199, 1); // 1 of 200 = 0.5 % ≤ 1 %
    let set = ImageFolder::new(dir.path()).unwrap();
    let l = DataLoader::new(set, Compose::new(), cfg(3, 16)).unwrap();
    for epoch in 0..2 {
        let mut it = l.epoch(epoch);
        let images: usize = it.by_ref().map(|b| b.unwrap().len()).sum();
        assert_eq!(images, 199, "epoch {epoch}");
        assert_eq!(it.stats().skipped, 1);
    }
    let bad = l.unreadable();
    assert_eq!(bad.len(), 1, "named once across epochs: {bad:?}");
    assert!(bad[0].1.contains("bad0.png"), "{}", bad[0].1);
}

#[test]
fn more_than_one_percent_unreadable_stops_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    folder_with_corrupt(dir.path(), 97, 3); // 3 of 100 = 3 % > 1 %
    let set = ImageFolder::new(dir.path()).unwrap();
    let l = DataLoader::new(
        set,
        Compose::new(),
        LoaderConfig {
            shuffle: false,
            ..cfg(2, 10)
        },
    )
    .unwrap();
    let results: Vec<_> = l.epoch(0).collect();
    let e = results.last().unwrap().as_ref().unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            DataError::TooManyUnreadable {
                bad: 3,
                total: 100,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("bad0.png") && msg.contains("1%"), "{msg}");
    assert!(results[..results.len() - 1].iter().all(Result::is_ok));
}

#[test]
fn dropping_an_epoch_early_stops_its_workers() {
    // Workers blocked on a full queue must see the queue close and end; the drop joins them.
    let l = DataLoader::new(
        idx_set(),
        augment(),
        LoaderConfig {
            prefetch: 1,
            ..cfg(3, 2)
        },
    )
    .unwrap();
    for epoch in 0..3 {
        let mut it = l.epoch(epoch);
        assert_eq!(it.next().unwrap().unwrap().len(), 2);
        drop(it);
    }
    let stats = l.measure_throughput(0, 2).unwrap();
    assert_eq!(stats.batches, 2);
}
