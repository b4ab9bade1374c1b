//! Fuzzes the WebTransport-over-HTTP/3 server state machine, driven by an operation list.
//! The input layout and the properties checked are documented on
//! `tidings_core::fuzzing::wt_connection`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_core::fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::wt_connection(data));
