//! Fuzzes WebSocket encode then decode between the two roles, and the close
//! handshake after it.
//! The input layout and the properties checked are documented on
//! `tidings_core::fuzzing::ws_roundtrip`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::Instant;

use tidings_core::fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::ws_roundtrip(data, Instant::now()));
