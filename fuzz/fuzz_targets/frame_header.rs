//! Fuzzes the WebSocket frame header codec, `FrameHeader::decode` and
//! `FrameHeader::encode`.
//!
//! Input layout: the first byte picks the [`DecodeRules`], the rest is the
//! buffer handed to the decoder.
//!
//! ```text
//!  bits 0-2  allowed_rsv (RSV1 = 0b100 .. RSV3 = 0b001)
//!  bits 3-4  mask rule: 0 Any, 1 Required, 2 Forbidden, 3 Any
//!  bits 5-7  max_payload, an index into MAX_PAYLOADS
//! ```
//!
//! Properties checked:
//! - decoding never panics;
//! - a decoded header obeys the rules it was decoded under, and its length is
//!   within the buffer and between 2 and 14 bytes;
//! - every strict prefix of a decoded header decodes to `Ok(None)`;
//! - re-encoding a decoded header and decoding that gives the same header
//!   (headers are compared, not bytes: decode accepts non-minimal lengths);
//! - `Ok(None)` only for buffers shorter than the longest header;
//! - an error's close code is 1009 for `TooLarge` and 1002 otherwise.
//!
//! The seeds in `fuzz/corpus/frame_header/` are the RFC 6455 §5.7 example
//! frames and a few edge cases, each after a rules byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_core::close::CloseCode;
use tidings_core::frame::{
    DecodeRules, FrameError, FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, MaskRule,
};

/// The frame size limits the rules byte chooses from: the edges of each
/// length encoding, a typical limit, and none.
const MAX_PAYLOADS: [u64; 8] = [
    0,
    125,
    126,
    0xffff,
    0x1_0000,
    1 << 20,
    u64::MAX >> 1,
    u64::MAX,
];

fn rules_from(byte: u8) -> DecodeRules {
    DecodeRules {
        allowed_rsv: byte & 0b111,
        mask: match (byte >> 3) & 0b11 {
            1 => MaskRule::Required,
            2 => MaskRule::Forbidden,
            _ => MaskRule::Any,
        },
        max_payload: MAX_PAYLOADS[usize::from(byte >> 5)],
    }
}

fn check_obeys_rules(header: &FrameHeader, rules: &DecodeRules) {
    assert_eq!(header.rsv & !rules.allowed_rsv, 0, "rsv not allowed");
    assert!(header.rsv <= 0b111);
    match rules.mask {
        MaskRule::Required => assert!(header.mask.is_some(), "unmasked under Required"),
        MaskRule::Forbidden => assert!(header.mask.is_none(), "masked under Forbidden"),
        MaskRule::Any => {}
    }
    assert!(header.payload_len <= rules.max_payload, "over max_payload");
    assert_eq!(header.payload_len >> 63, 0, "64-bit length with top bit");
    if header.opcode.is_control() {
        assert!(header.fin, "fragmented control frame");
        assert!(header.payload_len <= MAX_CONTROL_PAYLOAD as u64);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&rules_byte, buf)) = data.split_first() else {
        return;
    };
    let rules = rules_from(rules_byte);

    match FrameHeader::decode(buf, &rules) {
        Ok(Some((header, len))) => {
            assert!((2..=MAX_HEADER_LEN).contains(&len), "header length {len}");
            assert!(len <= buf.len());
            check_obeys_rules(&header, &rules);

            // Only the header's own bytes matter, and all of them are needed.
            assert_eq!(
                FrameHeader::decode(&buf[..len], &rules),
                Ok(Some((header, len)))
            );
            for cut in 0..len {
                assert_eq!(
                    FrameHeader::decode(&buf[..cut], &rules),
                    Ok(None),
                    "prefix of {cut} bytes"
                );
            }

            // Round trip through the minimal encoding.
            let mut out = [0u8; MAX_HEADER_LEN];
            let written = header.encode(&mut out);
            assert_eq!(written, header.encoded_len());
            assert!(written <= len, "minimal encoding longer than the input");
            assert_eq!(
                FrameHeader::decode(&out[..written], &rules),
                Ok(Some((header, written))),
                "re-encoded header decodes differently"
            );
            let mut appended = Vec::new();
            header.encode_into(&mut appended);
            assert_eq!(appended, out[..written]);
        }
        Ok(None) => {
            assert!(
                buf.len() < MAX_HEADER_LEN,
                "complete header reported as partial"
            );
        }
        Err(err) => {
            let expected = match err {
                FrameError::TooLarge { len, max } => {
                    assert!(len > max);
                    assert_eq!(max, rules.max_payload);
                    CloseCode::MESSAGE_TOO_BIG
                }
                _ => CloseCode::PROTOCOL_ERROR,
            };
            assert_eq!(err.close_code(), expected);
            // The error is a property of the bytes seen, not of what follows.
            let mut longer = buf.to_vec();
            longer.extend_from_slice(&[0xff; MAX_HEADER_LEN]);
            assert_eq!(FrameHeader::decode(&longer, &rules), Err(err));
        }
    }
});
