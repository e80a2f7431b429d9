//! The entry point the `checkpoint` fuzz target (`fuzz/fuzz_targets/checkpoint.rs`) drives,
//! shared with the corpus-replay test (`tests/fuzz_corpus.rs`) so that CI replays exactly
//! what was fuzzed.
//!
//! It takes arbitrary bytes and must return without panicking, whatever they are; an error
//! is the expected outcome for almost every input.

use gradflow_tensor::{Module, Scope, Tensor};

use crate::checkpoint::{self, LoadMode};
use crate::{Linear, Sequential};

/// A module with a weight, a bias, a buffer and a step counter, like a Linear + BatchNorm.
struct Target {
    net: Sequential,
    running: Tensor,
    steps: Tensor,
}

impl Module for Target {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.net.forward(x)
    }
    fn visit(&self, s: &mut Scope<'_>) {
        s.module("net", &self.net);
        s.buffer("bn.running_mean", &self.running);
        s.buffer("bn.num_batches_tracked", &self.steps);
    }
}

/// The safetensors state-dict loader on arbitrary bytes: strict and non-strict loads into a
/// small module, and [`checkpoint::load_from_bytes`]'s promise that a failed load changes
/// nothing.
pub fn checkpoint(data: &[u8]) {
    let target = Target {
        net: Sequential::new().with(Linear::from_tensors(
            Tensor::full(&[2, 3], 0.5),
            Some(Tensor::full(&[2], -1.0)),
        )),
        running: Tensor::zeros(&[2]),
        steps: Tensor::zeros(&[]),
    };
    // Bit patterns, so that a NaN written by a failed load would not compare equal.
    let snapshot = |m: &Target| -> Vec<Vec<u32>> {
        m.state_dict()
            .iter()
            .map(|(_, t)| t.to_vec().iter().map(|v| v.to_bits()).collect())
            .collect()
    };
    let before = snapshot(&target);
    for mode in [LoadMode::Strict, LoadMode::NonStrict] {
        if checkpoint::load_from_bytes(&target, data, mode).is_err() {
            assert!(
                snapshot(&target) == before,
                "a failed load changed the module"
            );
        }
    }
}
