//! Writes the seed inputs of the fuzz targets into `fuzz/corpus/<target>/`: valid and
//! damaged IDX files (plain and gzip), and small PNG / JPEG images (grey and RGB).
//!
//! ```text
//! cargo run -p gradflow-data --example fuzz_seeds
//! cargo +nightly fuzz run idx -- -max_total_time=600     # from fuzz/, grows the corpus
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use gradflow_data::{IdxType, encode_idx, encode_idx_f32, encode_idx_u8};
use image::{GrayImage, ImageFormat, Luma, Rgb, RgbImage};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).expect("in-memory gzip");
    e.finish().expect("in-memory gzip")
}

fn save(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
}

fn header(code: u8, dims: &[u32]) -> Vec<u8> {
    let mut out = vec![0, 0, code, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out
}

fn encoded(img: &image::DynamicImage, f: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), f)
        .expect("in-memory encode");
    out
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let (idx, img) = (root.join("idx"), root.join("image_decode"));
    std::fs::create_dir_all(&idx).expect("corpus folder");
    std::fs::create_dir_all(&img).expect("corpus folder");

    // IDX: the first byte of each input chooses where the pair splits (see fuzzing::idx).
    let images = encode_idx_u8(
        &[2, 2, 3],
        &[0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110],
    );
    let labels = encode_idx_u8(&[2], &[3, 7]);
    let cut = ((images.len() * 255) / (images.len() + labels.len())) as u8 + 1;
    let mut pair = vec![cut];
    pair.extend_from_slice(&images);
    pair.extend_from_slice(&labels);
    save(&idx, "seed-pair", &pair);
    save(&idx, "seed-images", &images);
    save(&idx, "seed-images-gz", &gzip(&images));
    save(
        &idx,
        "seed-f32-labels",
        &encode_idx_f32(&[3], &[0.0, f32::NAN, 1e30]),
    );
    save(
        &idx,
        "seed-f64",
        &encode_idx(IdxType::F64, &[1], &2.5f64.to_be_bytes()),
    );
    save(
        &idx,
        "seed-i16",
        &encode_idx(IdxType::I16, &[2], &[0xff, 0xfe, 0, 1]),
    );
    save(
        &idx,
        "seed-wrap",
        &header(0x08, &[1, (1 << 31) - 1, (1 << 31) + 1]),
    );
    save(
        &idx,
        "seed-f64-overflow",
        &header(0x0E, &[1, 1 << 31, 1 << 30]),
    );
    let mut trailing = images.clone();
    trailing.extend_from_slice(&[0; 64]);
    save(&idx, "seed-trailing-gz", &gzip(&trailing));

    // Images: RGB and grey PNG, RGB and grey JPEG, tiny and odd sizes.
    let rgb = image::DynamicImage::ImageRgb8(RgbImage::from_fn(5, 3, |x, y| {
        Rgb([(x * 40) as u8, (y * 80) as u8, 128])
    }));
    let grey = image::DynamicImage::ImageLuma8(GrayImage::from_fn(3, 7, |x, y| {
        Luma([(x * 30 + y * 10) as u8])
    }));
    save(&img, "seed-rgb.png", &encoded(&rgb, ImageFormat::Png));
    save(&img, "seed-grey.png", &encoded(&grey, ImageFormat::Png));
    save(&img, "seed-rgb.jpg", &encoded(&rgb, ImageFormat::Jpeg));
    save(&img, "seed-grey.jpg", &encoded(&grey, ImageFormat::Jpeg));
    let one = image::DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, Rgb([1, 2, 3])));
    save(&img, "seed-1x1.png", &encoded(&one, ImageFormat::Png));
    println!("seeds written under {}", root.display());
}
