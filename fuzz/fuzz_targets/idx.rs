//! Fuzzes the IDX reader (plain and gzip) and the image + label pair validation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gradflow_data::fuzzing::idx(data));
