//! Fuzzes the text reader: UTF-8 or byte fallback, the vocabulary round trip, the split and
//! the truncated-BPTT windows.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gradflow_data::fuzzing::text(data));
