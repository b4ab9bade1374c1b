//! Fuzzes the WebSocket connection state machine, both roles, with peer bytes,
//! local operations, EOF and a virtual clock.
//! The input layout and the properties checked are documented on
//! `tidings_core::fuzzing::ws_connection`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::Instant;

use tidings_core::fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::ws_connection(data, Instant::now()));
