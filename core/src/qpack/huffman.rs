//! The Huffman code of HPACK (RFC 7541 Appendix B), which QPACK reuses for
//! string literals (RFC 9204 §4.1.2).
//!
//! The code is canonical: codes of equal length are consecutive, in symbol
//! order, and each length starts where the shorter ones left off. So the
//! table here is only each symbol's code length (RFC 7541 Appendix B's
//! `len` column); the codes and the decoding tables are computed from it at
//! compile time, and the tests check them against the RFC's code column
//! and its Appendix C.4 examples.

/// Code length in bits of each symbol: bytes 0-255, then EOS (256).
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0-15
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 16-31
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // ' ' - '/'
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // '0' - '?'
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // '@' - 'O'
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 'P' - '_'
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // '`' - 'o'
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 'p' - 127
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128-143
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144-159
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160-175
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176-191
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192-207
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208-223
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224-239
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240-255
    30, // EOS
];

const MAX_LEN: usize = 30;
const EOS: u16 = 256;

/// Canonical decoding tables: per length, the first code and the index in
/// `SORTED` of its symbol, and how many codes have that length.
struct Canonical {
    /// Each symbol's code (right-aligned).
    codes: [u32; 257],
    first_code: [u32; MAX_LEN + 1],
    first_index: [u16; MAX_LEN + 1],
    count: [u16; MAX_LEN + 1],
    /// The symbols ordered by (length, symbol).
    sorted: [u16; 257],
}

const CANONICAL: Canonical = build();

const fn build() -> Canonical {
    let mut count = [0u16; MAX_LEN + 1];
    let mut sym = 0;
    while sym < 257 {
        count[LENGTHS[sym] as usize] += 1;
        sym += 1;
    }
    let mut first_code = [0u32; MAX_LEN + 1];
    let mut first_index = [0u16; MAX_LEN + 1];
    let mut code = 0u32;
    let mut index = 0u16;
    let mut len = 1;
    while len <= MAX_LEN {
        code = (code + count[len - 1] as u32) << 1;
        first_code[len] = code;
        first_index[len] = index;
        index += count[len];
        len += 1;
    }
    let mut next = first_code;
    let mut fill = first_index;
    let mut codes = [0u32; 257];
    let mut sorted = [0u16; 257];
    let mut len = 1;
    while len <= MAX_LEN {
        let mut sym = 0;
        while sym < 257 {
            if LENGTHS[sym] as usize == len {
                codes[sym] = next[len];
                next[len] += 1;
                sorted[fill[len] as usize] = sym as u16;
                fill[len] += 1;
            }
            sym += 1;
        }
        len += 1;
    }
    Canonical {
        codes,
        first_code,
        first_index,
        count,
        sorted,
    }
}

/// A Huffman-coded string is invalid (RFC 7541 §5.2): a QPACK
/// decompression failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HuffmanError {
    /// The EOS symbol appears in the string.
    #[error("EOS symbol inside a Huffman-coded string")]
    Eos,
    /// The padding is longer than 7 bits or is not a prefix of EOS (all
    /// ones).
    #[error("invalid Huffman padding")]
    Padding,
}

/// The length of the Huffman encoding of `data`, in bytes.
pub fn encoded_len(data: &[u8]) -> usize {
    let bits: usize = data
        .iter()
        .map(|&b| usize::from(LENGTHS[usize::from(b)]))
        .sum();
    bits.div_ceil(8)
}

/// Appends the Huffman encoding of `data` to `out`, padded with ones.
pub fn encode(data: &[u8], out: &mut Vec<u8>) {
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    for &byte in data {
        let len = u32::from(LENGTHS[usize::from(byte)]);
        acc = (acc << len) | u64::from(CANONICAL.codes[usize::from(byte)]);
        bits += len;
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(((acc << (8 - bits)) as u8) | (0xff >> bits));
    }
}

/// Appends the decoding of the Huffman-coded `data` to `out`.
pub fn decode(data: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    let c = &CANONICAL;
    let mut code = 0u32;
    let mut len = 0usize;
    for &byte in data {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            len += 1;
            let offset = code.wrapping_sub(c.first_code[len]);
            if offset < u32::from(c.count[len]) {
                let sym = c.sorted[usize::from(c.first_index[len]) + offset as usize];
                if sym == EOS {
                    return Err(HuffmanError::Eos);
                }
                out.push(sym as u8);
                code = 0;
                len = 0;
            } else if len == MAX_LEN {
                // Every 30-bit string is a code or has a code as a prefix,
                // so this is unreachable for a complete code; kept as a
                // guard against a table error.
                return Err(HuffmanError::Eos);
            }
        }
    }
    // At most 7 bits of padding, all ones (the most significant bits of EOS).
    if len > 7 || code != (1 << len) - 1 {
        return Err(HuffmanError::Padding);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn codes_match_rfc7541_appendix_b() {
        // (symbol, code as hex, len) from the RFC's table, across its range.
        let rows: [(usize, u32, u8); 16] = [
            (0, 0x1ff8, 13),
            (1, 0x7f_ffd8, 23),
            (10, 0x3fff_fffc, 30),
            (32, 0x14, 6),
            (48, 0x0, 5),
            (92, 0x7_fff0, 19),
            (116, 0x9, 5),
            (127, 0xfff_fffc, 28),
            (128, 0xf_ffe6, 20),
            (153, 0x1f_ffdc, 21),
            (192, 0x3ff_ffe0, 26),
            (203, 0x7ff_ffde, 27),
            (220, 0xfff_fffd, 28),
            (249, 0xfff_fffe, 28),
            (255, 0x3ff_ffee, 26),
            (256, 0x3fff_ffff, 30),
        ];
        for (sym, code, len) in rows {
            assert_eq!(LENGTHS[sym], len, "length of {sym}");
            assert_eq!(CANONICAL.codes[sym], code, "code of {sym}");
        }
        // The code is complete: the Kraft sum is exactly 1.
        let kraft: u64 = LENGTHS.iter().map(|&len| 1u64 << (30 - len)).sum();
        assert_eq!(kraft, 1 << 30);
    }

    #[test]
    fn rfc7541_appendix_c4_vectors() {
        let vectors = [
            ("www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"),
            ("no-cache", "a8eb 1064 9cbf"),
            ("custom-key", "25a8 49e9 5ba9 7d7f"),
            ("custom-value", "25a8 49e9 5bb8 e8b4 bf"),
            // C.6.1 (response examples).
            ("302", "6402"),
            ("private", "aec3 771a 4b"),
            (
                "Mon, 21 Oct 2013 20:13:21 GMT",
                "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
            ),
            (
                "https://www.example.com",
                "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3",
            ),
            (
                "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
                "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
            ),
        ];
        for (text, wire) in vectors {
            let wire = hex(wire);
            let mut out = Vec::new();
            encode(text.as_bytes(), &mut out);
            assert_eq!(out, wire, "encoding {text}");
            assert_eq!(encoded_len(text.as_bytes()), wire.len());
            let mut back = Vec::new();
            decode(&wire, &mut back).unwrap();
            assert_eq!(back, text.as_bytes());
        }
    }

    #[test]
    fn invalid_strings() {
        // EOS (30 ones) inside the string.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff], &mut Vec::new()),
            Err(HuffmanError::Eos)
        );
        // A whole byte of padding.
        let mut wire = Vec::new();
        encode(b"a", &mut wire);
        wire.push(0xff);
        assert_eq!(decode(&wire, &mut Vec::new()), Err(HuffmanError::Padding));
        // Padding with a zero bit: 'a' is 00011, then 000 instead of 111.
        assert_eq!(
            decode(&[0b0001_1000], &mut Vec::new()),
            Err(HuffmanError::Padding)
        );
        assert_eq!(decode(&[], &mut Vec::new()), Ok(()));
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut wire = Vec::new();
            encode(&data, &mut wire);
            prop_assert_eq!(wire.len(), encoded_len(&data));
            let mut back = Vec::new();
            decode(&wire, &mut back).unwrap();
            prop_assert_eq!(back, data);
        }

        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&data, &mut Vec::new());
        }
    }
}
