//! Fuzzes the capsule reader of WebTransport CONNECT streams.
//! The input layout and the properties checked are documented on
//! `tidings_core::fuzzing::wt_capsules`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_core::fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::wt_capsules(data));
