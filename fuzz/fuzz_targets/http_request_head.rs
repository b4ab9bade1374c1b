//! Fuzzes the incremental request-head parser and ServerHandshake::accept.
//! The input layout and the properties checked are documented on
//! `tidings_core::fuzzing::http_request_head`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_core::fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::http_request_head(data));
