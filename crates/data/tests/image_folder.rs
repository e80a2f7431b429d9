//! ImageFolder on generated PNG and JPEG files: torchvision's class order and sample order,
//! decoding to 1 or 3 channels, the ImageNet layout, and the errors (empty class folder, no
//! classes, corrupt file).

use std::path::Path;

use gradflow_data::{DataError, ImageFolder, VisionDataset, imagenet_splits};
use image::{GrayImage, Luma, Rgb, RgbImage};

fn rgb(w: u32, h: u32, seed: u8) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| Rgb([seed, (x * 20) as u8, (y * 30) as u8]))
}

fn mkdir(p: &Path) {
    std::fs::create_dir_all(p).unwrap();
}

#[test]
fn classes_are_sorted_as_torchvision_and_files_walked_in_sorted_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for c in ["dog", "cat", "Zebra", "cat/nested"] {
        mkdir(&root.join(c));
    }
    rgb(4, 3, 1).save(root.join("dog/b.png")).unwrap();
    rgb(4, 3, 2).save(root.join("dog/a.JPG")).unwrap();
    rgb(4, 3, 3).save(root.join("cat/z.jpeg")).unwrap();
    rgb(4, 3, 4).save(root.join("cat/nested/a.png")).unwrap();
    rgb(4, 3, 5).save(root.join("Zebra/1.png")).unwrap();
    std::fs::write(root.join("dog/notes.txt"), "not an image").unwrap();
    std::fs::write(root.join("stray.png"), "files at the root are not samples").unwrap();

    let set = ImageFolder::new(root).unwrap();
    // Python's sorted(): upper case before lower case (code-point order).
    assert_eq!(set.classes(), &["Zebra", "cat", "dog"]);
    assert_eq!(set.class_to_idx()["cat"], 1);
    let names: Vec<String> = set
        .samples()
        .iter()
        .map(|(p, c)| format!("{}:{c}", p.strip_prefix(root).unwrap().display()))
        .collect();
    // sorted(os.walk(cat)): cat/ (z.jpeg) comes before cat/nested/ (a.png).
    assert_eq!(
        names,
        [
            "Zebra/1.png:0",
            "cat/z.jpeg:1",
            "cat/nested/a.png:1",
            "dog/a.JPG:2",
            "dog/b.png:2"
        ]
    );
    assert_eq!(set.len(), 5);
    let (img, class) = set.load(4).unwrap();
    assert_eq!(
        (img.width(), img.height(), img.channels(), class),
        (4, 3, 3, 2)
    );
    // PNG is lossless: the pixels come back exactly.
    assert_eq!(img.as_bytes(), rgb(4, 3, 1).as_raw().as_slice());
    // JPEG decodes to the right size (lossy, so no exact pixels).
    let (jpg, _) = set.load(3).unwrap();
    assert_eq!((jpg.width(), jpg.height()), (4, 3));
}

#[test]
fn grey_decoding_uses_pil_luma_and_grey_files_stay_exact() {
    let dir = tempfile::tempdir().unwrap();
    mkdir(&dir.path().join("a"));
    let color = RgbImage::from_pixel(2, 2, Rgb([200, 100, 50]));
    color.save(dir.path().join("a/c.png")).unwrap();
    GrayImage::from_pixel(2, 2, Luma([77]))
        .save(dir.path().join("a/g.png"))
        .unwrap();
    let set = ImageFolder::new(dir.path())
        .unwrap()
        .with_channels(1)
        .unwrap();
    let (c, _) = set.load(0).unwrap();
    // PIL convert("L"): (19595·200 + 38470·100 + 7471·50 + 32768) >> 16 = 124.
    assert_eq!(c.as_bytes(), &[124; 4]);
    let (g, _) = set.load(1).unwrap();
    assert_eq!(g.as_bytes(), &[77; 4]);
    let (g3, _) = ImageFolder::new(dir.path()).unwrap().load(1).unwrap();
    assert_eq!(g3.as_bytes(), &[77; 12]);
}

#[test]
fn a_corrupt_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    mkdir(&dir.path().join("a"));
    rgb(2, 2, 0).save(dir.path().join("a/good.png")).unwrap();
    std::fs::write(
        dir.path().join("a/torn.jpg"),
        b"\xFF\xD8\xFF\xE0 only a jpeg header",
    )
    .unwrap();
    let mut png = Vec::new();
    rgb(8, 8, 9)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    std::fs::write(dir.path().join("a/zcut.png"), &png[..png.len() / 2]).unwrap();
    let set = ImageFolder::new(dir.path()).unwrap();
    assert!(set.load(0).is_ok());
    for i in [1, 2] {
        let e = set.load(i).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, DataError::Decode { .. }), "{msg}");
        assert!(msg.contains(&set.describe(i)), "{msg}");
    }
}

#[test]
fn an_empty_class_folder_a_missing_root_and_no_classes_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = ImageFolder::new(&dir.path().join("absent")).unwrap_err();
    assert!(matches!(e, DataError::Missing { .. }), "{e}");
    let e = ImageFolder::new(dir.path()).unwrap_err();
    assert!(e.to_string().contains("no class folders"), "{e}");
    mkdir(&dir.path().join("full"));
    mkdir(&dir.path().join("empty"));
    rgb(2, 2, 0).save(dir.path().join("full/x.png")).unwrap();
    std::fs::write(dir.path().join("empty/readme.txt"), "").unwrap();
    let e = ImageFolder::new(dir.path()).unwrap_err().to_string();
    assert!(e.contains("empty") && e.contains("holds no image"), "{e}");
}

#[test]
fn imagenet_layout_indexes_val_with_train_classes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for c in ["train/ant", "train/bee", "train/cow", "val/bee", "val/cow"] {
        mkdir(&root.join(c));
        rgb(2, 2, 0).save(root.join(c).join("0.png")).unwrap();
    }
    let (train, val) = imagenet_splits(root).unwrap();
    assert_eq!(train.classes(), val.classes());
    // val's own order would give bee = 0; aligned to train, bee = 1 and cow = 2.
    assert_eq!(
        val.samples().iter().map(|s| s.1).collect::<Vec<_>>(),
        [1, 2]
    );

    mkdir(&root.join("val/dog"));
    rgb(2, 2, 0).save(root.join("val/dog/0.png")).unwrap();
    let e = imagenet_splits(root).unwrap_err().to_string();
    assert!(e.contains("dog"), "{e}");
    let e = imagenet_splits(&root.join("train"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("train/<class>"), "{e}");
}

/// A PNG that is only a signature, an IHDR chunk announcing `w × h` grey pixels, and IEND.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        c.extend_from_slice(&crc.sum().to_be_bytes());
        c
    };
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(chunk(b"IHDR", &ihdr));
    // The decoder reads the header up to the first IDAT; its content is never reached.
    out.extend(chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    out.extend(chunk(b"IEND", &[]));
    out
}

#[test]
fn a_decompression_bomb_header_is_refused_before_decoding() {
    // 10 000 × 9 000 = 90 M pixels > PIL's MAX_IMAGE_PIXELS (89 478 485), each side < 2¹⁴.
    let bytes = png_header_only(10_000, 9_000);
    let e = gradflow_data::Image::decode(&bytes, Path::new("bomb.png"), 3).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("bomb.png") && msg.contains("89478485"),
        "{msg}"
    );
    // Past 2¹⁴ a side the decoder's own limits refuse it.
    let e = gradflow_data::Image::decode(&png_header_only(20_000, 2), Path::new("wide.png"), 1);
    assert!(matches!(e, Err(DataError::Decode { .. })), "{e:?}");
}
