//! QPACK field compression (RFC 9204) with the static table and Huffman
//! coding only: the dynamic table's capacity is 0 in both directions, so
//! there is no encoder state to keep and no stream can block.
//!
//! - [`decode_field_section`] decodes a HEADERS frame's payload; any
//!   reference to the dynamic table is [`QPACK_DECOMPRESSION_FAILED`].
//! - [`encode_field_section`] encodes one with static references and
//!   literals, Huffman-coding a string when that is shorter.
//! - [`EncoderStreamReader`] and [`DecoderStreamReader`] check the peer's
//!   QPACK streams: with a capacity of 0, an insertion is
//!   [`QPACK_ENCODER_STREAM_ERROR`], and only stream cancellations may come
//!   on the decoder stream.
//!
//! ```
//! # use tidings_core::qpack::{decode_field_section, encode_field_section};
//! let mut wire = Vec::new();
//! encode_field_section([(&b":status"[..], &b"200"[..]), (b"server", b"tidings")], &mut wire);
//! let fields = decode_field_section(&wire, 1 << 14).unwrap();
//! assert_eq!(fields[0].name, ":status");
//! assert_eq!(fields[1].value, "tidings");
//! ```
//!
//! [`QPACK_DECOMPRESSION_FAILED`]: crate::h3::ErrorCode::QPACK_DECOMPRESSION_FAILED
//! [`QPACK_ENCODER_STREAM_ERROR`]: crate::h3::ErrorCode::QPACK_ENCODER_STREAM_ERROR

pub mod huffman;
mod static_table;

use bytes::Bytes;

use crate::h3::ErrorCode;
pub use huffman::HuffmanError;
use static_table::Match;
pub use static_table::STATIC_TABLE;

/// The size a field line adds to a field section (RFC 9114 §4.2.2, RFC
/// 9204 §3.2.1): its name and value lengths plus 32.
pub fn field_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + 32
}

/// One decoded field line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The name (pseudo-header names start with `:`).
    pub name: Bytes,
    /// The value.
    pub value: Bytes,
}

/// A field section that cannot be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The section ends inside a field line or its prefix.
    #[error("field section truncated")]
    Truncated,
    /// An integer does not fit 62 bits.
    #[error("integer overflow in a field section")]
    IntegerOverflow,
    /// The section refers to the dynamic table (a non-zero Required Insert
    /// Count, or a dynamic or post-base reference), whose capacity is 0.
    #[error("reference to the QPACK dynamic table, whose capacity is 0")]
    DynamicReference,
    /// A static reference beyond the table's 99 entries.
    #[error("static table index {0} out of range")]
    InvalidStaticIndex(u64),
    /// A Huffman-coded string is invalid.
    #[error(transparent)]
    Huffman(#[from] HuffmanError),
    /// The decoded section is larger than the limit (counted as in RFC
    /// 9114 §4.2.2). Not a decompression failure: the request is refused,
    /// not the connection.
    #[error("field section of at least {size} bytes exceeds the limit of {max}")]
    TooLarge {
        /// The size reached when the limit was crossed.
        size: usize,
        /// The limit.
        max: usize,
    },
}

impl DecodeError {
    /// The HTTP/3 error code: [`ErrorCode::EXCESSIVE_LOAD`] for
    /// [`DecodeError::TooLarge`], [`ErrorCode::QPACK_DECOMPRESSION_FAILED`]
    /// otherwise (a connection error, RFC 9204 §2.2.3).
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::TooLarge { .. } => ErrorCode::EXCESSIVE_LOAD,
            _ => ErrorCode::QPACK_DECOMPRESSION_FAILED,
        }
    }
}

/// An integer of RFC 7541 §5.1 with a `prefix`-bit prefix (the other bits
/// of the first byte are ignored): its value and encoded length, `Ok(None)`
/// when `buf` ends inside it.
pub fn decode_int(buf: &[u8], prefix: u8) -> Result<Option<(u64, usize)>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let mask = (1u16 << prefix) - 1;
    let mut value = u64::from(first) & u64::from(mask);
    if value < u64::from(mask) {
        return Ok(Some((value, 1)));
    }
    let mut shift = 0u32;
    for (i, &byte) in buf.iter().enumerate().skip(1) {
        let bits = u64::from(byte & 0x7f);
        if shift > 56 || (bits << shift) >> shift != bits {
            return Err(DecodeError::IntegerOverflow);
        }
        value = value
            .checked_add(bits << shift)
            .ok_or(DecodeError::IntegerOverflow)?;
        if value >= 1 << 62 {
            return Err(DecodeError::IntegerOverflow);
        }
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
        shift += 7;
    }
    Ok(None)
}

/// Appends `value` as an RFC 7541 §5.1 integer with a `prefix`-bit prefix;
/// `flags` fills the first byte's other (high) bits.
pub fn encode_int(value: u64, prefix: u8, flags: u8, out: &mut Vec<u8>) {
    let mask = (1u64 << prefix) - 1;
    if value < mask {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        out.push((rest & 0x7f) as u8 | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Reads a string literal whose length has a `prefix`-bit prefix with the
/// Huffman flag just above it; returns the string and the bytes taken.
fn decode_string(buf: &[u8], prefix: u8) -> Result<(Bytes, usize), DecodeError> {
    let huffman = buf.first().is_some_and(|&b| b & (1 << prefix) != 0);
    let (len, int_len) = decode_int(buf, prefix)?.ok_or(DecodeError::Truncated)?;
    let end = usize::try_from(len)
        .ok()
        .and_then(|len| len.checked_add(int_len))
        .ok_or(DecodeError::Truncated)?;
    let raw = buf.get(int_len..end).ok_or(DecodeError::Truncated)?;
    let text = if huffman {
        let mut out = Vec::with_capacity(raw.len() * 8 / 5);
        huffman::decode(raw, &mut out)?;
        Bytes::from(out)
    } else {
        Bytes::copy_from_slice(raw)
    };
    Ok((text, end))
}

/// Appends a string literal: the Huffman flag at bit `prefix` of the first
/// byte (over `flags`), the length with a `prefix`-bit prefix, the bytes.
fn encode_string(text: &[u8], prefix: u8, flags: u8, out: &mut Vec<u8>) {
    let huffman_len = huffman::encoded_len(text);
    if huffman_len < text.len() {
        encode_int(huffman_len as u64, prefix, flags | (1 << prefix), out);
        huffman::encode(text, out);
    } else {
        encode_int(text.len() as u64, prefix, flags, out);
        out.extend_from_slice(text);
    }
}

fn static_entry(index: u64) -> Result<(&'static str, &'static str), DecodeError> {
    usize::try_from(index)
        .ok()
        .and_then(|i| STATIC_TABLE.get(i).copied())
        .ok_or(DecodeError::InvalidStaticIndex(index))
}

/// Decodes a whole field section (a HEADERS frame's payload) that uses only
/// the static table, stopping with [`DecodeError::TooLarge`] as soon as the
/// decoded size passes `max_size`.
pub fn decode_field_section(mut buf: &[u8], max_size: usize) -> Result<Vec<Field>, DecodeError> {
    // Prefix: Required Insert Count (8-bit prefix), then Sign and Delta
    // Base (7-bit prefix). Without a dynamic table both must be 0 (a sign
    // bit with a zero count would make the base negative).
    let (required_insert_count, len) = decode_int(buf, 8)?.ok_or(DecodeError::Truncated)?;
    buf = &buf[len..];
    if required_insert_count != 0 {
        return Err(DecodeError::DynamicReference);
    }
    let sign = buf.first().is_some_and(|&b| b & 0x80 != 0);
    let (_delta_base, len) = decode_int(buf, 7)?.ok_or(DecodeError::Truncated)?;
    buf = &buf[len..];
    if sign {
        return Err(DecodeError::DynamicReference);
    }
    let mut fields = Vec::new();
    let mut size = 0usize;
    while let Some(&first) = buf.first() {
        let field = if first & 0x80 != 0 {
            // Indexed field line: 1 T index(6+).
            if first & 0x40 == 0 {
                return Err(DecodeError::DynamicReference);
            }
            let (index, len) = decode_int(buf, 6)?.ok_or(DecodeError::Truncated)?;
            buf = &buf[len..];
            let (name, value) = static_entry(index)?;
            Field {
                name: Bytes::from_static(name.as_bytes()),
                value: Bytes::from_static(value.as_bytes()),
            }
        } else if first & 0x40 != 0 {
            // Literal with name reference: 01 N T index(4+), value.
            if first & 0x10 == 0 {
                return Err(DecodeError::DynamicReference);
            }
            let (index, len) = decode_int(buf, 4)?.ok_or(DecodeError::Truncated)?;
            let (name, _) = static_entry(index)?;
            let (value, value_len) = decode_string(&buf[len..], 7)?;
            buf = &buf[len + value_len..];
            Field {
                name: Bytes::from_static(name.as_bytes()),
                value,
            }
        } else if first & 0x20 != 0 {
            // Literal with literal name: 001 N H len(3+), name, value.
            let (name, name_len) = decode_string(buf, 3)?;
            let (value, value_len) = decode_string(&buf[name_len..], 7)?;
            buf = &buf[name_len + value_len..];
            Field { name, value }
        } else {
            // 0001: indexed post-base; 0000: literal with post-base name
            // reference. Both refer to the dynamic table.
            return Err(DecodeError::DynamicReference);
        };
        size = size.saturating_add(field_size(&field.name, &field.value));
        if size > max_size {
            return Err(DecodeError::TooLarge {
                size,
                max: max_size,
            });
        }
        fields.push(field);
    }
    Ok(fields)
}

/// Appends a field section (a HEADERS frame's payload) encoding `fields` in
/// order: an exact static-table match as an index, a static name with a
/// literal value, or a literal name and value; a string is Huffman-coded
/// when that is shorter. Names go as given: HTTP/3 wants them lowercase.
pub fn encode_field_section<'a>(
    fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    out: &mut Vec<u8>,
) {
    // Required Insert Count 0, Delta Base 0.
    out.extend_from_slice(&[0x00, 0x00]);
    for (name, value) in fields {
        match static_table::find(name, value) {
            Some(Match::Full(index)) => encode_int(index as u64, 6, 0xc0, out),
            Some(Match::Name(index)) => {
                encode_int(index as u64, 4, 0x50, out);
                encode_string(value, 7, 0x00, out);
            }
            None => {
                encode_string(name, 3, 0x20, out);
                encode_string(value, 7, 0x00, out);
            }
        }
    }
}

/// Checks the peer's QPACK encoder stream (RFC 9204 §4.3) against a
/// dynamic table capacity of 0: "Set Dynamic Table Capacity" to 0 is the
/// only instruction allowed; every other is a connection error of type
/// [`ErrorCode::QPACK_ENCODER_STREAM_ERROR`].
#[derive(Clone, Debug, Default)]
pub struct EncoderStreamReader {
    pending: Vec<u8>,
}

/// Checks the peer's QPACK decoder stream (RFC 9204 §4.4) for an encoder
/// that never refers to the dynamic table: stream cancellations are
/// allowed, section acknowledgments and insert count increments are a
/// connection error of type [`ErrorCode::QPACK_DECODER_STREAM_ERROR`].
#[derive(Clone, Debug, Default)]
pub struct DecoderStreamReader {
    pending: Vec<u8>,
}

/// An instruction on a QPACK stream that a capacity of 0 does not allow,
/// or that does not parse; carries its connection error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid QPACK stream instruction ({code})")]
pub struct InstructionError {
    /// [`ErrorCode::QPACK_ENCODER_STREAM_ERROR`] or
    /// [`ErrorCode::QPACK_DECODER_STREAM_ERROR`].
    pub code: ErrorCode,
}

/// Takes whole instructions, each an integer with the prefix `classify`
/// gives for its first byte (or an error), keeping a partial one.
fn read_instructions(
    pending: &mut Vec<u8>,
    input: &[u8],
    code: ErrorCode,
    classify: impl Fn(u8) -> Option<u8>,
    check: impl Fn(u8, u64) -> bool,
) -> Result<(), InstructionError> {
    let error = InstructionError { code };
    for &byte in input {
        pending.push(byte);
        let first = pending[0];
        let prefix = classify(first).ok_or(error)?;
        match decode_int(pending, prefix) {
            Ok(Some((value, _))) => {
                if !check(first, value) {
                    return Err(error);
                }
                pending.clear();
            }
            Ok(None) => {}
            Err(_) => return Err(error),
        }
    }
    Ok(())
}

impl EncoderStreamReader {
    /// Checks the next bytes of the stream (any split).
    pub fn read(&mut self, input: &[u8]) -> Result<(), InstructionError> {
        read_instructions(
            &mut self.pending,
            input,
            ErrorCode::QPACK_ENCODER_STREAM_ERROR,
            // 001xxxxx: Set Dynamic Table Capacity; inserts and duplicates
            // (1xxxxxxx, 01xxxxxx, 000xxxxx) are refused at their first byte.
            |first| (first & 0xe0 == 0x20).then_some(5),
            |_, capacity| capacity == 0,
        )
    }
}

impl DecoderStreamReader {
    /// Checks the next bytes of the stream (any split).
    pub fn read(&mut self, input: &[u8]) -> Result<(), InstructionError> {
        read_instructions(
            &mut self.pending,
            input,
            ErrorCode::QPACK_DECODER_STREAM_ERROR,
            // 01xxxxxx: Stream Cancellation. Section Acknowledgment
            // (1xxxxxxx) and Insert Count Increment (00xxxxxx) acknowledge
            // dynamic state this encoder never creates.
            |first| (first & 0xc0 == 0x40).then_some(6),
            |_, _| true,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(section: &[Field]) -> Vec<(&[u8], &[u8])> {
        section
            .iter()
            .map(|f| (&f.name[..], &f.value[..]))
            .collect()
    }

    #[test]
    fn rfc7541_c1_integers() {
        let mut out = Vec::new();
        encode_int(10, 5, 0, &mut out);
        assert_eq!(out, [0x0a]);
        out.clear();
        encode_int(1337, 5, 0, &mut out);
        assert_eq!(out, [0x1f, 0x9a, 0x0a]);
        assert_eq!(decode_int(&out, 5), Ok(Some((1337, 3))));
        assert_eq!(decode_int(&out[..2], 5), Ok(None));
        out.clear();
        encode_int(42, 8, 0, &mut out);
        assert_eq!(out, [0x2a]);
        // Flags above the prefix are ignored when decoding.
        assert_eq!(decode_int(&[0xea], 5), Ok(Some((10, 1))));
        // 2^62 does not fit.
        let mut big = Vec::new();
        encode_int(1 << 62, 7, 0, &mut big);
        assert_eq!(decode_int(&big, 7), Err(DecodeError::IntegerOverflow));
        assert_eq!(
            decode_int(
                &[
                    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
                ],
                8
            ),
            Err(DecodeError::IntegerOverflow)
        );
    }

    #[test]
    fn rfc9204_b1_static_literal() {
        // RFC 9204 Appendix B.1: a section with one field line, `:path
        // /index.html`, a literal with a static name reference (index 1).
        let wire = [
            0x00, 0x00, 0x51, 0x0b, 0x2f, 0x69, 0x6e, 0x64, 0x65, 0x78, 0x2e, 0x68, 0x74, 0x6d,
            0x6c,
        ];
        let section = decode_field_section(&wire, 1 << 14).unwrap();
        assert_eq!(fields(&section), [(&b":path"[..], &b"/index.html"[..])]);
        // Our encoder Huffman-codes the value (8 bytes instead of 11) and
        // otherwise writes the same representation.
        let mut ours = Vec::new();
        encode_field_section([(&b":path"[..], &b"/index.html"[..])], &mut ours);
        assert_eq!(ours[..4], [0x00, 0x00, 0x51, 0x80 | 8]);
        assert_eq!(decode_field_section(&ours, 1 << 14).unwrap(), section);
    }

    #[test]
    fn chromium_like_connect() {
        // An extended CONNECT as Chromium encodes it: static indexes for
        // :method CONNECT (15) and :scheme https (23), static names for
        // :authority (0), :path (1) and origin (90), literal names for
        // :protocol and sec-webtransport-http3-draft02.
        let mut wire = vec![0x00, 0x00, 0xc0 | 15, 0xc0 | 23];
        wire.push(0x50);
        wire.push(14);
        wire.extend_from_slice(b"localhost:4433");
        wire.push(0x51);
        wire.push(5);
        wire.extend_from_slice(b"/echo");
        wire.push(0x20 | 7); // literal name ":protocol" has 9 bytes: 7 + 2
        wire.push(2);
        wire.extend_from_slice(b":protocol");
        wire.push(12);
        wire.extend_from_slice(b"webtransport");
        wire.push(0x27); // "sec-webtransport-http3-draft02": 30 bytes
        wire.push(30 - 7);
        wire.extend_from_slice(b"sec-webtransport-http3-draft02");
        wire.push(1);
        wire.push(b'1');
        wire.extend_from_slice(&[0x5f, 90 - 15]);
        wire.push(21);
        wire.extend_from_slice(b"http://localhost:8000");
        let section = decode_field_section(&wire, 1 << 14).unwrap();
        assert_eq!(
            fields(&section),
            [
                (&b":method"[..], &b"CONNECT"[..]),
                (b":scheme", b"https"),
                (b":authority", b"localhost:4433"),
                (b":path", b"/echo"),
                (b":protocol", b"webtransport"),
                (b"sec-webtransport-http3-draft02", b"1"),
                (b"origin", b"http://localhost:8000"),
            ]
        );
    }

    #[test]
    fn response_encoding_is_exact() {
        let mut wire = Vec::new();
        encode_field_section([(&b":status"[..], &b"200"[..])], &mut wire);
        assert_eq!(wire, [0x00, 0x00, 0xd9]);
        wire.clear();
        // `:status 101` is not in the table: a name reference to 24 (:status
        // 103) with 4-bit prefix (0x5f, 24 - 15) and the literal "101"
        // Huffman-coded in 2 bytes: 00001 00000 00001 and one bit of padding.
        encode_field_section([(&b":status"[..], &b"101"[..])], &mut wire);
        assert_eq!(wire, [0x00, 0x00, 0x5f, 0x09, 0x82, 0x08, 0x03]);
    }

    #[test]
    fn dynamic_references_fail() {
        let cases: [&[u8]; 6] = [
            &[0x01, 0x00],             // Required Insert Count 1
            &[0x00, 0x80],             // sign bit: negative base
            &[0x00, 0x00, 0x80],       // indexed, dynamic (T=0)
            &[0x00, 0x00, 0x10],       // indexed post-base
            &[0x00, 0x00, 0x40, 0x00], // literal with dynamic name reference
            &[0x00, 0x00, 0x00, 0x00], // literal with post-base name reference
        ];
        for wire in cases {
            let err = decode_field_section(wire, 1 << 14).unwrap_err();
            assert_eq!(err, DecodeError::DynamicReference, "{wire:02x?}");
            assert_eq!(err.code(), ErrorCode::QPACK_DECOMPRESSION_FAILED);
        }
    }

    #[test]
    fn malformed_sections() {
        assert_eq!(decode_field_section(&[], 100), Err(DecodeError::Truncated));
        assert_eq!(
            decode_field_section(&[0x00], 100),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            decode_field_section(&[0x00, 0x00, 0xff, 0x24], 100),
            Err(DecodeError::InvalidStaticIndex(99))
        );
        assert_eq!(
            decode_field_section(&[0x00, 0x00, 0x51, 0x05, b'/'], 100),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            decode_field_section(&[0x00, 0x00, 0x23, b'a', b'b'], 100),
            Err(DecodeError::Truncated)
        );
        // Huffman string with a whole byte of padding.
        assert_eq!(
            decode_field_section(&[0x00, 0x00, 0x51, 0x81, 0xff], 100),
            Err(DecodeError::Huffman(HuffmanError::Padding))
        );
        let err = decode_field_section(&[0x00, 0x00, 0xd9, 0xd9], 70).unwrap_err();
        assert_eq!(
            err,
            DecodeError::TooLarge {
                size: 2 * (7 + 3 + 32),
                max: 70
            }
        );
        assert_eq!(err.code(), ErrorCode::EXCESSIVE_LOAD);
    }

    #[test]
    fn encoder_stream() {
        let mut reader = EncoderStreamReader::default();
        assert_eq!(reader.read(&[0x20]), Ok(()), "capacity 0");
        assert_eq!(reader.read(&[0x3f]), Ok(()), "a capacity that continues");
        let err = reader.read(&[0x01]).unwrap_err();
        assert_eq!(err.code, ErrorCode::QPACK_ENCODER_STREAM_ERROR);
        for first in [0x80, 0xc0, 0x40, 0x00] {
            let mut reader = EncoderStreamReader::default();
            assert!(reader.read(&[first]).is_err(), "{first:#x}");
        }
    }

    #[test]
    fn decoder_stream() {
        let mut reader = DecoderStreamReader::default();
        assert_eq!(
            reader.read(&[0x44, 0x7f]),
            Ok(()),
            "cancellations of streams 4 and then a partial one"
        );
        assert_eq!(reader.read(&[0x05]), Ok(()));
        for first in [0x80, 0x01, 0x00] {
            let mut reader = DecoderStreamReader::default();
            let err = reader.read(&[first]).unwrap_err();
            assert_eq!(err.code, ErrorCode::QPACK_DECODER_STREAM_ERROR);
        }
    }

    proptest! {
        #[test]
        fn field_sections_round_trip(
            lines in proptest::collection::vec(
                (
                    prop_oneof![
                        Just(b":status".to_vec()),
                        Just(b":path".to_vec()),
                        Just(b"origin".to_vec()),
                        proptest::collection::vec(any::<u8>(), 0..20),
                    ],
                    prop_oneof![Just(b"200".to_vec()), Just(b"/".to_vec()), proptest::collection::vec(any::<u8>(), 0..40)],
                ),
                0..8,
            )
        ) {
            let mut wire = Vec::new();
            encode_field_section(lines.iter().map(|(n, v)| (&n[..], &v[..])), &mut wire);
            let section = decode_field_section(&wire, usize::MAX).unwrap();
            let decoded: Vec<(Vec<u8>, Vec<u8>)> = section.iter().map(|f| (f.name.to_vec(), f.value.to_vec())).collect();
            prop_assert_eq!(decoded, lines);
        }

        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_field_section(&data, 1000);
        }

        #[test]
        fn integers_round_trip(value in 0u64..(1 << 62), prefix in 1u8..=8) {
            let mut out = Vec::new();
            encode_int(value, prefix, 0, &mut out);
            prop_assert_eq!(decode_int(&out, prefix), Ok(Some((value, out.len()))));
        }
    }
}
