//! Fuzzes the HTTP/3 frame reader and SETTINGS codec.
//! The input layout and the properties checked are documented on
//! `tidings_core::fuzzing::h3_frames`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_core::fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::h3_frames(data));
