//! Fuzzes SSE encode then decode: events come back as built.
//! The input layout and the properties checked are documented on
//! `tidings_core::fuzzing::sse_roundtrip`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_core::fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::sse_roundtrip(data));
