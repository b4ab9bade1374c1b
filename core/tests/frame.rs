//! The frame header codec and masking through the public API: the examples of
//! RFC 6455 §5.7 byte for byte, and round-trip properties of the codec.

use proptest::prelude::*;
use tidings_core::frame::{
    DecodeRules, FrameError, FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, MaskRule, OpCode,
    apply_mask,
};

/// Accepts everything RFC 6455 allows: all RSV bits, either masking, any length.
const PERMISSIVE: DecodeRules = DecodeRules {
    allowed_rsv: 0b111,
    mask: MaskRule::Any,
    max_payload: u64::MAX >> 1,
};

const ALL_OPCODES: [OpCode; 6] = [
    OpCode::Continuation,
    OpCode::Text,
    OpCode::Binary,
    OpCode::Close,
    OpCode::Ping,
    OpCode::Pong,
];

/// The rules of the receiving side for a frame: a server reads masked frames,
/// a client unmasked ones.
fn receiver_rules(masked: bool) -> DecodeRules {
    DecodeRules {
        mask: if masked {
            MaskRule::Required
        } else {
            MaskRule::Forbidden
        },
        ..PERMISSIVE
    }
}

/// Decodes `wire` as one whole frame and checks it against `expected` and
/// `payload`; then encodes `expected` (masking `payload` if it has a key) and
/// checks that this gives `wire` again.
fn check_frame(wire: &[u8], expected: FrameHeader, payload: &[u8]) {
    for rules in [PERMISSIVE, receiver_rules(expected.mask.is_some())] {
        let (header, n) = FrameHeader::decode(wire, &rules)
            .expect("valid header")
            .expect("complete header");
        assert_eq!(header, expected);
        assert_eq!(n, expected.encoded_len());
        assert_eq!(header.payload_len, (wire.len() - n) as u64);
        let mut body = wire[n..].to_vec();
        if let Some(key) = header.mask {
            apply_mask(&mut body, key, 0);
        }
        assert_eq!(body, payload);
    }

    let mut out = [0u8; MAX_HEADER_LEN];
    let n = expected.encode(&mut out);
    assert_eq!(n, expected.encoded_len());
    assert_eq!(&out[..n], &wire[..n]);
    let mut frame = Vec::new();
    expected.encode_into(&mut frame);
    assert_eq!(frame.len(), n);
    let start = frame.len();
    frame.extend_from_slice(payload);
    if let Some(key) = expected.mask {
        apply_mask(&mut frame[start..], key, 0);
    }
    assert_eq!(frame, wire);
}

fn header(fin: bool, opcode: OpCode, mask: Option<[u8; 4]>, payload_len: u64) -> FrameHeader {
    FrameHeader {
        fin,
        rsv: 0,
        opcode,
        mask,
        payload_len,
    }
}

const RFC_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

#[test]
fn rfc6455_single_frame_unmasked_text() {
    let wire = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    check_frame(&wire, header(true, OpCode::Text, None, 5), b"Hello");
}

#[test]
fn rfc6455_single_frame_masked_text() {
    let wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    check_frame(
        &wire,
        header(true, OpCode::Text, Some(RFC_KEY), 5),
        b"Hello",
    );
}

#[test]
fn rfc6455_fragmented_unmasked_text() {
    let first = [0x01, 0x03, 0x48, 0x65, 0x6c];
    let second = [0x80, 0x02, 0x6c, 0x6f];
    check_frame(&first, header(false, OpCode::Text, None, 3), b"Hel");
    check_frame(&second, header(true, OpCode::Continuation, None, 2), b"lo");

    // Both frames in one buffer: the first decode consumes exactly its header.
    let stream = [&first[..], &second[..]].concat();
    let (h, n) = FrameHeader::decode(&stream, &PERMISSIVE).unwrap().unwrap();
    assert_eq!((h.opcode, h.fin, n), (OpCode::Text, false, 2));
    let next = n + h.payload_len as usize;
    let (h, n) = FrameHeader::decode(&stream[next..], &PERMISSIVE)
        .unwrap()
        .unwrap();
    assert_eq!((h.opcode, h.fin, n), (OpCode::Continuation, true, 2));
}

#[test]
fn rfc6455_unmasked_ping() {
    let wire = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    check_frame(&wire, header(true, OpCode::Ping, None, 5), b"Hello");
}

#[test]
fn rfc6455_masked_pong() {
    let wire = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    check_frame(
        &wire,
        header(true, OpCode::Pong, Some(RFC_KEY), 5),
        b"Hello",
    );
}

/// Payload bytes that differ from one position to the next.
fn binary_payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn rfc6455_256_bytes_binary_unmasked() {
    let payload = binary_payload(256);
    let wire = [&[0x82, 0x7e, 0x01, 0x00][..], &payload].concat();
    check_frame(&wire, header(true, OpCode::Binary, None, 256), &payload);
}

#[test]
fn rfc6455_64_kib_binary_unmasked() {
    let payload = binary_payload(65536);
    let prefix = [0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
    let wire = [&prefix[..], &payload].concat();
    check_frame(&wire, header(true, OpCode::Binary, None, 65536), &payload);
}

#[test]
fn masked_payload_unmasks_in_pieces() {
    // The masked "Hello" frame's payload arriving one byte at a time.
    let wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let (h, n) = FrameHeader::decode(&wire, &PERMISSIVE).unwrap().unwrap();
    let key = h.mask.unwrap();
    let mut body = wire[n..].to_vec();
    for (i, b) in body.iter_mut().enumerate() {
        apply_mask(std::slice::from_mut(b), key, i);
    }
    assert_eq!(body, b"Hello");
}

#[test]
fn length_with_top_bit_is_refused_even_without_a_size_limit() {
    let rules = DecodeRules {
        max_payload: u64::MAX,
        ..PERMISSIVE
    };
    for len in [1u64 << 63, u64::MAX] {
        let mut wire = vec![0x82, 0x7f];
        wire.extend_from_slice(&len.to_be_bytes());
        // Refused from the first length byte on, and the same with all of it.
        for end in 3..=wire.len() {
            assert_eq!(
                FrameHeader::decode(&wire[..end], &rules),
                Err(FrameError::LengthOverflow),
                "{len:#x}, {end} bytes"
            );
        }
    }
}

// Round-trip properties of the header codec.

/// The lengths at the edges of the three length encodings.
const BOUNDARY_LENGTHS: [u64; 8] = [0, 1, 125, 126, 127, 65535, 65536, u64::MAX >> 1];

/// Encodes `h`, checks the encoding decodes to `h` with the whole encoding
/// consumed, and that every strict prefix decodes to `Ok(None)`.
fn assert_round_trip(h: FrameHeader) -> Result<(), TestCaseError> {
    let mut out = [0u8; MAX_HEADER_LEN];
    let n = h.encode(&mut out);
    prop_assert_eq!(n, h.encoded_len());
    let expected_n = match h.payload_len {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    } + if h.mask.is_some() { 4 } else { 0 };
    prop_assert_eq!(n, expected_n);
    for rules in [PERMISSIVE, receiver_rules(h.mask.is_some())] {
        prop_assert_eq!(FrameHeader::decode(&out[..n], &rules), Ok(Some((h, n))));
        // Bytes after the header (the payload) do not change the result.
        prop_assert_eq!(FrameHeader::decode(&out, &rules), Ok(Some((h, n))));
        for cut in 0..n {
            prop_assert_eq!(
                FrameHeader::decode(&out[..cut], &rules),
                Ok(None),
                "prefix of {} bytes",
                cut
            );
        }
    }
    Ok(())
}

/// Every opcode, FIN, RSV combination and masking at every boundary length
/// its opcode allows: the exhaustive companion of the property below.
#[test]
fn round_trip_every_flag_combination_at_boundary_lengths() {
    let mut checked = 0;
    for opcode in ALL_OPCODES {
        for fin in [false, true] {
            if opcode.is_control() && !fin {
                continue;
            }
            for rsv in 0..=0b111 {
                for mask in [None, Some([1, 2, 3, 4])] {
                    for payload_len in BOUNDARY_LENGTHS {
                        if opcode.is_control() && payload_len > MAX_CONTROL_PAYLOAD as u64 {
                            continue;
                        }
                        let h = FrameHeader {
                            fin,
                            rsv,
                            opcode,
                            mask,
                            payload_len,
                        };
                        if let Err(e) = assert_round_trip(h) {
                            panic!("{h:?}: {e}");
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    // 3 data opcodes x 2 FIN x 8 RSV x 2 masks x 8 lengths, and
    // 3 control opcodes x 1 FIN x 8 RSV x 2 masks x 3 lengths.
    assert_eq!(checked, 3 * 2 * 8 * 2 * 8 + 3 * 8 * 2 * 3);
}

fn any_opcode() -> impl Strategy<Value = OpCode> {
    proptest::sample::select(ALL_OPCODES.to_vec())
}

/// A length from each encoding class with equal weight, boundaries included.
fn any_payload_len() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..=125,
        126u64..=65535,
        65536u64..=(u64::MAX >> 1),
        proptest::sample::select(BOUNDARY_LENGTHS.to_vec()),
    ]
}

/// A header that RFC 6455 allows: control frames are final and short.
fn valid_header() -> impl Strategy<Value = FrameHeader> {
    (
        any::<bool>(),
        0u8..=0b111,
        any_opcode(),
        any::<Option<[u8; 4]>>(),
        any_payload_len(),
    )
        .prop_map(|(fin, rsv, opcode, mask, payload_len)| {
            let control = opcode.is_control();
            FrameHeader {
                fin: fin || control,
                rsv,
                opcode,
                mask,
                payload_len: if control {
                    payload_len % (MAX_CONTROL_PAYLOAD as u64 + 1)
                } else {
                    payload_len
                },
            }
        })
}

fn any_rules() -> impl Strategy<Value = DecodeRules> {
    (
        0u8..=0b111,
        proptest::sample::select(vec![MaskRule::Required, MaskRule::Forbidden, MaskRule::Any]),
        prop_oneof![
            Just(u64::MAX),
            Just(u64::MAX >> 1),
            any::<u64>(),
            0u64..70_000
        ],
    )
        .prop_map(|(allowed_rsv, mask, max_payload)| DecodeRules {
            allowed_rsv,
            mask,
            max_payload,
        })
}

/// Header-like input: arbitrary bytes, or a valid encoding followed by some
/// payload with one bit flipped and cut somewhere, so that the length and
/// mask paths of the decoder are reached often, not once in 128 draws.
fn header_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    let mutated = (
        valid_header(),
        any::<[u8; 4]>(),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(h, payload, flip, cut)| {
            let mut bytes = Vec::new();
            h.encode_into(&mut bytes);
            bytes.extend_from_slice(&payload);
            let bit = flip.index(bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            bytes.truncate(cut.index(bytes.len() + 1));
            bytes
        });
    prop_oneof![proptest::collection::vec(any::<u8>(), 0..=16), mutated]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn header_round_trips(h in valid_header()) {
        assert_round_trip(h)?;
    }

    #[test]
    fn decode_never_panics_and_consumes_at_most_the_header(
        bytes in header_like_bytes(),
        rules in any_rules(),
    ) {
        match FrameHeader::decode(&bytes, &rules) {
            Ok(Some((h, n))) => {
                // Non-minimal extended lengths are accepted, so `n` may be
                // more than `encoded_len()`, but never more than the input.
                prop_assert!((2..=MAX_HEADER_LEN).contains(&n), "n = {}", n);
                prop_assert!(n <= bytes.len());
                prop_assert!(n >= h.encoded_len());
                prop_assert!(h.payload_len <= rules.max_payload);
                prop_assert!(h.payload_len <= u64::MAX >> 1, "63-bit limit");
                prop_assert_eq!(h.rsv & !rules.allowed_rsv, 0);
                prop_assert!(!h.opcode.is_control()
                    || (h.fin && h.payload_len <= MAX_CONTROL_PAYLOAD as u64));
                match rules.mask {
                    MaskRule::Required => prop_assert!(h.mask.is_some()),
                    MaskRule::Forbidden => prop_assert!(h.mask.is_none()),
                    MaskRule::Any => {}
                }
                // The header is decided by its own bytes alone, and none of
                // its prefixes is mistaken for a whole header or an error.
                prop_assert_eq!(FrameHeader::decode(&bytes[..n], &rules), Ok(Some((h, n))));
                for cut in 0..n {
                    prop_assert_eq!(FrameHeader::decode(&bytes[..cut], &rules), Ok(None));
                }
                // Re-encoding gives the minimal form of the same header.
                let mut out = [0u8; MAX_HEADER_LEN];
                let m = h.encode(&mut out);
                prop_assert_eq!(FrameHeader::decode(&out[..m], &rules), Ok(Some((h, m))));
            }
            Ok(None) => prop_assert!(bytes.len() < MAX_HEADER_LEN),
            Err(e) => {
                // The first violation is reported as soon as its bytes are
                // in: more bytes never change which error it is.
                for fill in [0x00, 0xff] {
                    let mut longer = bytes.clone();
                    longer.resize(bytes.len() + MAX_HEADER_LEN, fill);
                    prop_assert_eq!(FrameHeader::decode(&longer, &rules), Err(e));
                }
            }
        }
    }
}
