//! Fuzzes the QPACK field section decoder, Huffman code and QPACK stream readers.
//! The input layout and the properties checked are documented on
//! `tidings_core::fuzzing::qpack_field_section`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_core::fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::qpack_field_section(data));
