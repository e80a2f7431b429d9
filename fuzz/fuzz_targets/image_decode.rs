//! Fuzzes the PNG/JPEG decoding path of ImageFolder and the crops applied after it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gradflow_data::fuzzing::image_decode(data));
