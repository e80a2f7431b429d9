//! Fuzzes the safetensors state-dict loader (strict and non-strict) and its promise that a
//! failed load leaves the module unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gradflow_layers::fuzzing::checkpoint(data));
