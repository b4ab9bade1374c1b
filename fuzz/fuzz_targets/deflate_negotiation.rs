//! Fuzzes the Sec-WebSocket-Extensions parser and the permessage-deflate
//! negotiation. The input layout and the properties checked are documented
//! on `tidings_core::fuzzing::deflate_negotiation`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_core::fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::deflate_negotiation(data));
