//! QUIC variable-length integers (RFC 9000 §16), the integer encoding of
//! every HTTP/3 frame, setting, stream type and capsule.

/// The largest value a variable-length integer holds: 2^62 - 1.
pub const MAX: u64 = (1 << 62) - 1;

/// The longest encoding, in bytes.
pub const MAX_LEN: usize = 8;

/// Decodes the integer at the start of `buf`: its value and encoded length,
/// or `None` when `buf` holds only part of it (or nothing).
///
/// ```
/// # use tidings_core::h3::varint;
/// // RFC 9000 §A.1's examples.
/// assert_eq!(varint::decode(&[0x25]), Some((37, 1)));
/// assert_eq!(varint::decode(&[0x7b, 0xbd]), Some((15293, 2)));
/// assert_eq!(varint::decode(&[0x9d, 0x7f, 0x3e, 0x7d]), Some((494_878_333, 4)));
/// assert_eq!(varint::decode(&[0x7b]), None);
/// ```
pub fn decode(buf: &[u8]) -> Option<(u64, usize)> {
    let first = *buf.first()?;
    let len = 1usize << (first >> 6);
    let bytes = buf.get(..len)?;
    let mut value = u64::from(first & 0x3f);
    for &byte in &bytes[1..] {
        value = (value << 8) | u64::from(byte);
    }
    Some((value, len))
}

/// The length of the shortest encoding of `value` (at most [`MAX`]).
///
/// # Panics
///
/// When `value` is over [`MAX`].
pub fn encoded_len(value: u64) -> usize {
    match value {
        0..=0x3f => 1,
        0x40..=0x3fff => 2,
        0x4000..=0x3fff_ffff => 4,
        0x4000_0000..=MAX => 8,
        _ => panic!("{value} does not fit a QUIC variable-length integer"),
    }
}

/// Appends the shortest encoding of `value` to `out`.
///
/// # Panics
///
/// When `value` is over [`MAX`].
///
/// ```
/// # use tidings_core::h3::varint;
/// let mut out = Vec::new();
/// varint::encode(151_288_809_941_952_652, &mut out);
/// assert_eq!(out, [0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c]);
/// ```
pub fn encode(value: u64, out: &mut Vec<u8>) {
    let len = encoded_len(value);
    let tag = match len {
        1 => 0u64,
        2 => 1 << 14,
        4 => 2 << 30,
        _ => 3 << 62,
    };
    let bytes = (value | tag).to_be_bytes();
    out.extend_from_slice(&bytes[8 - len..]);
}

/// Collects one variable-length integer that may arrive split over several
/// reads (the type at the start of a stream, say).
#[derive(Clone, Debug, Default)]
pub struct VarIntReader {
    buf: [u8; MAX_LEN],
    len: u8,
}

impl VarIntReader {
    /// Takes bytes from the front of `input` until the integer is complete:
    /// its value then, `None` while more bytes are needed (all of `input`
    /// was taken). Takes nothing beyond the integer.
    pub fn read(&mut self, input: &mut &[u8]) -> Option<u64> {
        while let Some((&byte, rest)) = input.split_first() {
            self.buf[usize::from(self.len)] = byte;
            self.len += 1;
            *input = rest;
            if let Some((value, _)) = decode(&self.buf[..usize::from(self.len)]) {
                self.len = 0;
                return Some(value);
            }
        }
        None
    }

    /// Whether part of an integer has been taken.
    pub fn is_partial(&self) -> bool {
        self.len > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc9000_examples() {
        let cases: [(&[u8], u64); 4] = [
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c],
                151_288_809_941_952_652,
            ),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
        ];
        for (bytes, value) in cases {
            assert_eq!(decode(bytes), Some((value, bytes.len())));
            let mut out = Vec::new();
            encode(value, &mut out);
            assert_eq!(out, bytes);
        }
        // A non-minimal encoding decodes too (RFC 9000 §A.1: 0x40 0x25 is 37).
        assert_eq!(decode(&[0x40, 0x25]), Some((37, 2)));
    }

    #[test]
    fn length_edges() {
        for (value, len) in [
            (0, 1),
            (63, 1),
            (64, 2),
            (16_383, 2),
            (16_384, 4),
            ((1 << 30) - 1, 4),
            (1 << 30, 8),
            (MAX, 8),
        ] {
            assert_eq!(encoded_len(value), len, "{value}");
        }
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn too_large_panics() {
        encode(MAX + 1, &mut Vec::new());
    }

    proptest! {
        #[test]
        fn round_trip(value in 0..=MAX, split in 0usize..8) {
            let mut out = Vec::new();
            encode(value, &mut out);
            prop_assert_eq!(out.len(), encoded_len(value));
            prop_assert_eq!(decode(&out), Some((value, out.len())));
            for cut in 0..out.len() {
                prop_assert_eq!(decode(&out[..cut]), None);
            }
            // Split reads give the same value and take exactly its bytes.
            let mut reader = VarIntReader::default();
            let cut = split.min(out.len());
            let mut first = &out[..cut];
            let mut second_with_extra = out[cut..].to_vec();
            second_with_extra.push(0xaa);
            if cut < out.len() {
                prop_assert_eq!(reader.read(&mut first), None);
                prop_assert!(first.is_empty());
                let mut second = &second_with_extra[..];
                prop_assert_eq!(reader.read(&mut second), Some(value));
                prop_assert_eq!(second, &[0xaa][..]);
            }
        }
    }
}
