//! Replays every input the fuzzers kept (`fuzz/corpus/<target>/`, committed) through the same
//! entry points the fuzz targets call (`gradflow_data::fuzzing`), so that CI catches a
//! regression on them without a fuzzer. None may panic.

use gradflow_test_support::replay_fuzz_corpus;

#[test]
fn idx_corpus_replays_without_panics() {
    let n = replay_fuzz_corpus("idx", gradflow_data::fuzzing::idx);
    println!("idx: {n} inputs replayed");
}

#[test]
fn image_decode_corpus_replays_without_panics() {
    let n = replay_fuzz_corpus("image_decode", gradflow_data::fuzzing::image_decode);
    println!("image_decode: {n} inputs replayed");
}

#[test]
fn text_corpus_replays_without_panics() {
    let n = replay_fuzz_corpus("text", gradflow_data::fuzzing::text);
    println!("text: {n} inputs replayed");
}
