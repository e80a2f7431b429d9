//! Replays every input the `checkpoint` fuzzer kept (`fuzz/corpus/checkpoint/`, committed)
//! through the entry point the fuzz target calls (`gradflow_layers::fuzzing::checkpoint`), so
//! that CI catches a regression on them without a fuzzer. None may panic.

#[test]
fn checkpoint_corpus_replays_without_panics() {
    let n = gradflow_test_support::replay_fuzz_corpus(
        "checkpoint",
        gradflow_layers::fuzzing::checkpoint,
    );
    println!("checkpoint: {n} inputs replayed");
}
