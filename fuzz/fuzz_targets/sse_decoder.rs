//! Fuzzes sse::Decoder, in chunks, against the WHATWG reference model.
//! The input layout and the properties checked are documented on
//! `tidings_core::fuzzing::sse_decoder`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_core::fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::sse_decoder(data));
