//! The deterministic transforms against torchvision on a PIL image
//! (`tests/fixtures/image_transforms.safetensors`, from `make_model_fixtures.py --seed 4321`):
//!
//! ```python
//! img = Image.fromarray(img_t.numpy(), mode="RGB")           # 37×53 RGB, smooth + noise
//! TF.resize(img, 24, interpolation=BILINEAR, antialias=True)  # shorter side 24 → 24×34
//! TF.resized_crop(img, 5, 9, 25, 31, [16, 16], interpolation=BILINEAR, antialias=True)
//! TF.center_crop(img, [20, 20]); TF.hflip(img)
//! TF.crop(TF.pad(img, 4, fill=0), 2, 7, 32, 32)
//! TF.normalize(TF.to_tensor(img), mean, std)                  # ImageNet mean/std
//! ```
//!
//! Tolerances: the 8-bit results may differ by 1 (PIL resamples in fixed point and rounds;
//! a different but equally exact summation order can land on the other side of .5). Pure
//! copies (crop, flip, pad) must be exact. ToTensor + Normalize is the same f32 arithmetic
//! as torch's (`div(255)`, `sub_(mean)`, `div_(std)`), so it is held to 1 ulp-scale (1e-6).

use gradflow_data::{
    CenterCrop, Image, Normalize, RandomCrop, Resize, SampleRng, ToTensor, Transform, crop, hflip,
    pad, resize, resize_pil, resized_crop, shorter_side_size,
};
use gradflow_test_support::{Fixture, fixture};

fn image(fx: &Fixture, key: &str) -> Image {
    let shape = fx.shape(key);
    let data = fx
        .ints(key)
        .iter()
        .map(|&v| u8::try_from(v).unwrap())
        .collect();
    Image::new(shape[1], shape[0], shape[2], data).unwrap()
}

fn cfg_list(fx: &Fixture, key: &str) -> Vec<f64> {
    fx.config[key]
        .as_array()
        .unwrap_or_else(|| panic!("config {key} is not a list"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

/// The largest |a − b| over all bytes, after checking the shapes agree.
fn max_u8_diff(what: &str, ours: &Image, theirs: &Image) -> u8 {
    assert_eq!(
        (ours.height(), ours.width(), ours.channels()),
        (theirs.height(), theirs.width(), theirs.channels()),
        "{what}: shape"
    );
    let d = ours
        .as_bytes()
        .iter()
        .zip(theirs.as_bytes())
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap_or(0);
    let off = ours
        .as_bytes()
        .iter()
        .zip(theirs.as_bytes())
        .filter(|(a, b)| a != b)
        .count();
    println!(
        "{what}: max |Δ| = {d}, {off} of {} bytes differ",
        ours.as_bytes().len()
    );
    d
}

#[test]
fn resize_shorter_side_bilinear_antialias_matches_pil_within_one() {
    let fx = fixture!("image_transforms");
    let img = image(&fx, "image");
    let size = fx.cfg_usize("resize");
    let ours = Resize::shorter_side(size).resize(&img).unwrap();
    assert!(max_u8_diff("resize", &ours, &image(&fx, "resize")) <= 1);
}

#[test]
fn resized_crop_matches_pil_within_one() {
    let fx = fixture!("image_transforms");
    let img = image(&fx, "image");
    let b = cfg_list(&fx, "crop_box");
    let s = cfg_list(&fx, "crop_size");
    let ours = resized_crop(
        &img,
        b[0] as i64,
        b[1] as i64,
        b[2] as usize,
        b[3] as usize,
        (s[0] as usize, s[1] as usize),
    )
    .unwrap();
    assert!(max_u8_diff("resized_crop", &ours, &image(&fx, "resized_crop")) <= 1);
}

#[test]
fn center_crop_flip_and_pad_crop_are_exact() {
    let fx = fixture!("image_transforms");
    let img = image(&fx, "image");
    let mut rng = SampleRng::new(0);
    let cc = cfg_list(&fx, "center_crop");
    let ours = CenterCrop::new(cc[0] as usize, cc[1] as usize)
        .apply(img.clone(), &mut rng)
        .unwrap();
    assert_eq!(
        max_u8_diff("center_crop", &ours, &image(&fx, "center_crop")),
        0
    );
    assert_eq!(max_u8_diff("hflip", &hflip(&img), &image(&fx, "hflip")), 0);
    let p = fx.cfg_usize("pad");
    let at = cfg_list(&fx, "pad_crop_at");
    let size = fx.cfg_usize("pad_crop_size");
    let ours = crop(
        &pad(&img, p, p, p, p),
        at[0] as i64,
        at[1] as i64,
        size,
        size,
    );
    assert_eq!(max_u8_diff("pad_crop", &ours, &image(&fx, "pad_crop")), 0);
}

#[test]
fn random_crop_with_padding_lands_on_one_of_the_pad_crop_windows() {
    // RandomCrop(32, padding=4) draws its corner; whichever it is, the result must be that
    // window of the padded image. The fixture's window (2, 7) is checked exactly above; here
    // every draw is compared with the explicit crop at the corner found by search.
    let fx = fixture!("image_transforms");
    let img = image(&fx, "image");
    let padded = pad(&img, 4, 4, 4, 4);
    for seed in 0..20 {
        let out = RandomCrop::new(32, 32)
            .padding(4)
            .apply(img.clone(), &mut SampleRng::new(seed))
            .unwrap();
        let found = (0..=padded.height() - 32)
            .flat_map(|t| (0..=padded.width() - 32).map(move |l| (t, l)))
            .any(|(t, l)| crop(&padded, t as i64, l as i64, 32, 32) == out);
        assert!(found, "seed {seed}: not a window of the padded image");
    }
}

#[test]
fn to_tensor_normalize_matches_torchvision() {
    let fx = fixture!("image_transforms");
    let img = image(&fx, "image");
    let (mean, std) = (cfg_list(&fx, "mean"), cfg_list(&fx, "std"));
    let n = Normalize::new(
        mean.iter().map(|&v| v as f32).collect(),
        std.iter().map(|&v| v as f32).collect(),
    )
    .unwrap();
    let ours = n.apply(ToTensor.apply(&img));
    assert_eq!(Normalize::imagenet(), n);
    assert_eq!(
        fx.shape("to_tensor_normalize"),
        &[ours.channels, ours.height, ours.width]
    );
    let want = fx.values("to_tensor_normalize");
    let worst = ours
        .data
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    println!("to_tensor_normalize: max |Δ| = {worst:e}");
    assert!(worst <= 1e-6, "max |Δ| = {worst}");
}

#[test]
fn the_scalar_pil_port_reproduces_pil_exactly() {
    // resize_pil is PIL's ImagingResample transcribed (22-bit fixed point, horizontal pass
    // first, round half up): it should land on PIL's bytes exactly.
    let fx = fixture!("image_transforms");
    let img = image(&fx, "image");
    let (h, w) = shorter_side_size(img.height(), img.width(), fx.cfg_usize("resize"));
    let ours = resize_pil(&img, h, w).unwrap();
    assert_eq!(max_u8_diff("resize_pil", &ours, &image(&fx, "resize")), 0);
    let exact = Resize::shorter_side(fx.cfg_usize("resize")).pil_exact(true);
    assert_eq!(exact.resize(&img).unwrap(), ours);
    let b = cfg_list(&fx, "crop_box");
    let boxed = crop(&img, b[0] as i64, b[1] as i64, b[2] as usize, b[3] as usize);
    let ours = resize_pil(&boxed, 16, 16).unwrap();
    assert_eq!(
        max_u8_diff("resized_crop_pil", &ours, &image(&fx, "resized_crop")),
        0
    );
}

#[test]
fn fast_image_resize_stays_within_one_of_the_pil_port_on_many_sizes() {
    // Down- and up-scaling, grey and RGB, odd sizes: the SIMD resizer and the PIL port may
    // round differently (different fixed-point precision) but never by more than 1.
    let mut rng = SampleRng::new(3);
    let mut worst = 0u8;
    let (mut differ, mut total) = (0usize, 0usize);
    for case in 0..40 {
        let c = if case % 2 == 0 { 3 } else { 1 };
        let (ih, iw) = (1 + rng.below(90) as usize, 1 + rng.below(90) as usize);
        let (oh, ow) = (1 + rng.below(70) as usize, 1 + rng.below(70) as usize);
        let data = (0..ih * iw * c).map(|_| rng.below(256) as u8).collect();
        let img = Image::new(iw, ih, c, data).unwrap();
        let a = resize(&img, oh, ow).unwrap();
        let b = resize_pil(&img, oh, ow).unwrap();
        for (x, y) in a.as_bytes().iter().zip(b.as_bytes()) {
            worst = worst.max(x.abs_diff(*y));
            differ += usize::from(x != y);
            total += 1;
        }
    }
    println!("fast_image_resize vs PIL port: max |Δ| = {worst}, {differ} of {total} bytes differ");
    assert!(worst <= 1);
}
