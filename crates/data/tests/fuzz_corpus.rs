//! Replays every input the fuzzers kept (`fuzz/corpus/<target>/`, committed) through the same
//! entry points the fuzz targets call (`gradflow_data::fuzzing`), so that CI catches a
//! regression on them without a fuzzer. None may panic.

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: empty corpus", dir.display());
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    let files = corpus(target);
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        // A panic names the input that caused it.
        let r = std::panic::catch_unwind(|| run(&bytes));
        assert!(r.is_ok(), "{target}: {} panics", f.display());
    }
    println!("{target}: {} inputs replayed", files.len());
}

#[test]
fn idx_corpus_replays_without_panics() {
    replay("idx", gradflow_data::fuzzing::idx);
}

#[test]
fn image_decode_corpus_replays_without_panics() {
    replay("image_decode", gradflow_data::fuzzing::image_decode);
}
