//! The entry points the fuzz targets (`fuzz/fuzz_targets/*.rs`) drive, shared with the
//! corpus-replay test (`tests/fuzz_corpus.rs`) so that CI replays exactly what was fuzzed.
//!
//! Each takes arbitrary bytes and must return without panicking, whatever the bytes are;
//! errors are the expected outcome for almost every input.

use std::path::Path;

use crate::{
    CenterCrop, IdxImages, Image, RandomResizedCrop, SampleRng, Streams, TextCorpus, Transform,
    Vocabulary, parse_idx_raw,
};

/// The IDX reader on arbitrary bytes: plain or gzip (by magic bytes) through
/// [`parse_idx_raw`], the f32 conversion, and the image + label pair validation with the input
/// split in two at a position its first byte chooses.
pub fn idx(data: &[u8]) {
    let path = Path::new("fuzz.idx");
    if let Ok(raw) = parse_idx_raw(data, path) {
        let values = raw.to_f32();
        assert_eq!(values.len(), raw.numel(), "every announced value converts");
        assert_eq!(raw.numel(), raw.shape.iter().product::<usize>());
    }
    if let Some((&cut, rest)) = data.split_first() {
        let at = (usize::from(cut) * rest.len()) / 255;
        let (images, labels) = rest.split_at(at.min(rest.len()));
        if let Ok(set) = IdxImages::from_bytes(images, path, labels, path) {
            let set = set
                .with_channels(3)
                .unwrap_or_else(|e| panic!("3 channels: {e}"));
            if let Ok(first) = crate::VisionDataset::load(&set, 0) {
                assert_eq!(first.0.channels(), 3);
            }
        }
    }
}

/// The image decoder on arbitrary bytes (PNG/JPEG through the `image` crate with size
/// limits), then a center crop and a random resized crop of whatever decoded.
pub fn image_decode(data: &[u8]) {
    let path = Path::new("fuzz.img");
    for channels in [1, 3] {
        if let Ok(img) = Image::decode(data, path, channels) {
            assert_eq!(img.channels(), channels);
            if img.width() == 0 || img.height() == 0 || img.width() * img.height() > 1 << 20 {
                continue;
            }
            let mut rng = SampleRng::new(data.len() as u64);
            let c = CenterCrop::new(8, 8).apply(img.clone(), &mut rng);
            assert!(c.is_ok_and(|c| c.width() == 8 && c.height() == 8));
            let r = RandomResizedCrop::new(8).apply(img, &mut rng);
            assert!(r.is_ok_and(|r| r.width() == 8 && r.height() == 8));
        }
    }
}

/// The text reader on arbitrary bytes: UTF-8 or the byte fallback, the vocabulary's
/// encode/decode round trip and save/restore, and a split into streams whose shape the first
/// two bytes choose (batch 1–16, seq 1–16), every window of which is checked.
pub fn text(data: &[u8]) {
    let path = Path::new("fuzz.txt");
    let Ok(corpus) = TextCorpus::from_bytes(data, path) else {
        assert!(data.is_empty(), "only an empty text is refused");
        return;
    };
    let vocab = corpus.vocab();
    assert!(!vocab.is_empty() && !corpus.is_empty());
    let decoded = vocab.decode(corpus.ids());
    assert_eq!(vocab.encode(&decoded).as_deref(), Some(corpus.ids()));
    if corpus.unit() == crate::TextUnit::Char {
        assert_eq!(decoded.as_bytes(), data, "UTF-8 text round-trips");
    }
    let saved = Vocabulary::from_symbols(&vocab.symbols());
    assert!(saved.is_ok_and(|v| v == *vocab));
    let batch = usize::from(data[0] % 16) + 1;
    let seq = usize::from(data.get(1).copied().unwrap_or(0) % 16) + 1;
    if let Ok(split) = corpus.split(0.1, batch, seq) {
        for s in [&split.train, &split.valid] {
            check_streams(s, seq);
        }
        assert!(split.train.windows(seq) >= 1);
    }
}

fn check_streams(s: &Streams, seq: usize) {
    let mut rows = 0;
    for i in 0..s.windows(seq) {
        let w = s.window(i, seq);
        assert!(w.steps >= 1 && w.steps <= seq);
        assert_eq!(w.inputs.len(), w.steps * s.batch());
        assert_eq!(w.targets.len(), w.inputs.len());
        // Each target row is the next input row, within and across windows.
        for r in 1..w.steps {
            let b = s.batch();
            assert_eq!(w.inputs[r * b..(r + 1) * b], w.targets[(r - 1) * b..r * b]);
        }
        rows += w.steps;
    }
    assert_eq!(rows, s.rows().saturating_sub(1));
}
