//! Fuzzes the incremental response-head parser and ClientHandshake::verify.
//! The input layout and the properties checked are documented on
//! `tidings_core::fuzzing::http_response_head`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_core::fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::http_response_head(data));
