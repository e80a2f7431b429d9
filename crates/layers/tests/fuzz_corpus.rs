//! Replays every input the `checkpoint` fuzzer kept (`fuzz/corpus/checkpoint/`, committed)
//! through the entry point the fuzz target calls (`gradflow_layers::fuzzing::checkpoint`), so
//! that CI catches a regression on them without a fuzzer. None may panic.

use std::path::Path;

#[test]
fn checkpoint_corpus_replays_without_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/checkpoint");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: empty corpus", dir.display());
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let r = std::panic::catch_unwind(|| gradflow_layers::fuzzing::checkpoint(&bytes));
        assert!(r.is_ok(), "checkpoint: {} panics", f.display());
    }
}
