//! Incremental UTF-8 validation for text messages that arrive in pieces.
//!
//! A text message may be split anywhere: across fragments, and across the
//! reads that deliver one fragment. [`Utf8Validator`] is fed each piece as it
//! arrives and fails on the first byte that can never be part of valid UTF-8,
//! so a connection can be failed with 1007 before the rest of the message
//! arrives (Autobahn cases 6.*).

/// Validates a byte stream as UTF-8, piece by piece.
#[derive(Clone, Debug, Default)]
pub(crate) struct Utf8Validator {
    /// The start of a code point split across pieces (at most 3 bytes).
    partial: [u8; 4],
    /// `u8` (at most 3): the validator is 5 bytes, aligned to 1, and packs
    /// with the connection's flags instead of taking 16 bytes of its state.
    partial_len: u8,
}

/// The input can never become valid UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InvalidUtf8;

impl Utf8Validator {
    /// Validates the next piece. On error the validator must be reset before reuse.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            // `partial` only ever holds a valid, incomplete prefix of a code
            // point (1 to 3 bytes, see below), so its lead byte announces a
            // width of 2 to 4 that is larger than `partial_len`: `need >= 1`
            // and `partial_len + take <= width <= 4` keep the slices in bounds.
            let width = sequence_width(self.partial[0]);
            let len = usize::from(self.partial_len);
            let need = width - len;
            let take = need.min(bytes.len());
            let (head, rest) = bytes.split_at(take);
            let end = len + take;
            self.partial[len..end].copy_from_slice(head);
            // `end <= 4`: exact as a `u8`.
            self.partial_len = end as u8;
            match simdutf8::compat::from_utf8(&self.partial[..end]) {
                Ok(_) => self.partial_len = 0,
                // Still a valid prefix; `take < need`, so the piece is used up.
                Err(e) if e.error_len().is_none() => return Ok(()),
                Err(_) => return Err(InvalidUtf8),
            }
            bytes = rest;
        }
        // Whole blocks of ASCII are valid and end on a code point boundary:
        // only what follows them needs the validator (all of a non-ASCII
        // text from its first non-ASCII block, nothing of an ASCII one).
        bytes = bytes.get(ascii_blocks_len(bytes)..).unwrap_or_default();
        // Less than a block, ASCII in the common case: the word-wide ASCII
        // check costs less than the SIMD validator's set-up.
        if bytes.len() < ASCII_BLOCK && bytes.is_ascii() {
            return Ok(());
        }
        if simdutf8::basic::from_utf8(bytes).is_ok() {
            return Ok(());
        }
        match simdutf8::compat::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                // A valid prefix of a code point ends the piece (1 to 3 bytes,
                // since `error_len()` is `None` only for an incomplete code
                // point at the end), so it fits `partial`.
                let tail = &bytes[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                // 1 to 3: exact as a `u8`.
                self.partial_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Ends the message: fails if it stops in the middle of a code point.
    /// Resets the validator either way.
    pub(crate) fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.partial_len == 0;
        self.reset();
        if complete { Ok(()) } else { Err(InvalidUtf8) }
    }

    /// Forgets any partial code point.
    pub(crate) fn reset(&mut self) {
        self.partial_len = 0;
    }
}

/// Bytes checked per round of [`ascii_blocks_len`].
const ASCII_BLOCK: usize = 256;

/// The length of the longest prefix of `bytes` made of whole
/// [`ASCII_BLOCK`]-byte blocks of ASCII.
///
/// Text messages are mostly ASCII (JSON, logs, chat): for those this check,
/// eight 32-byte ORs and one test per block with AVX2, costs about a third
/// of the SIMD validator's per-block work (`bench/instructions`, 64 KiB
/// text). A text with non-ASCII bytes stops it at its first such block.
#[inline]
fn ascii_blocks_len(bytes: &[u8]) -> usize {
    if bytes.len() < ASCII_BLOCK {
        return 0;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[allow(
            unsafe_code,
            reason = "calls the AVX2 build of the ASCII check (a third of the validator's instructions on ASCII text)"
        )]
        // SAFETY: `ascii_blocks_len_avx2` only needs the CPU to support
        // AVX2, which was just checked.
        return unsafe { ascii_blocks_len_avx2(bytes) };
    }
    ascii_blocks(bytes)
}

/// [`ascii_blocks`] compiled with AVX2 enabled (LLVM then ORs 32 bytes at
/// a time).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(
    unsafe_code,
    reason = "a `target_feature` function is unsafe to call on Rust 1.85 (the MSRV); its body is safe code"
)]
unsafe fn ascii_blocks_len_avx2(bytes: &[u8]) -> usize {
    ascii_blocks(bytes)
}

/// The ASCII check over whole blocks, in safe code; inlined into each
/// caller so that each compiles it for its own target features.
#[inline(always)]
fn ascii_blocks(bytes: &[u8]) -> usize {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let mut len = 0;
    for block in bytes.chunks_exact(ASCII_BLOCK) {
        let mut any = 0u64;
        for word in block.chunks_exact(8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            any |= u64::from_ne_bytes(w);
        }
        if any & HIGH_BITS != 0 {
            break;
        }
        len += ASCII_BLOCK;
    }
    len
}

/// The length of the sequence a lead byte starts. Only called on the first
/// byte of a stored partial sequence, which validation has shown to be a
/// multi-byte lead (0xC2..=0xF4).
fn sequence_width(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate_in_pieces(bytes: &[u8], cuts: &[usize]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::default();
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
            let cut = cut.clamp(start, bytes.len());
            v.feed(&bytes[start..cut])?;
            start = cut;
        }
        v.finish()
    }

    #[test]
    fn every_split_of_valid_text_is_accepted() {
        let text = "κόσμε 𝄞 €uro ascii".as_bytes();
        for a in 0..=text.len() {
            for b in a..=text.len() {
                assert_eq!(validate_in_pieces(text, &[a, b]), Ok(()), "cuts {a} {b}");
            }
        }
    }

    #[test]
    fn fails_at_the_first_impossible_byte_without_waiting() {
        // "κόσμε" followed by 0xED 0xA0 (a UTF-16 surrogate): already invalid
        // after 0xA0, whatever follows.
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed("κόσμε".as_bytes()), Ok(()));
        assert_eq!(v.feed(&[0xED]), Ok(()));
        assert_eq!(v.feed(&[0xA0]), Err(InvalidUtf8));

        let mut v = Utf8Validator::default();
        assert_eq!(
            v.feed(&[b'a', 0xF4, 0x90]),
            Err(InvalidUtf8),
            "above U+10FFFF"
        );
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(&[0xC0]), Err(InvalidUtf8), "overlong lead");
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(&[0xF0]), Ok(()));
        assert_eq!(
            v.feed(&[0x28]),
            Err(InvalidUtf8),
            "bad continuation after split"
        );
    }

    #[test]
    fn incomplete_end_of_message_is_invalid() {
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(&[0xE2, 0x82]), Ok(()));
        assert_eq!(v.finish(), Err(InvalidUtf8));
        // finish resets: the next message starts clean.
        assert_eq!(v.feed(b"ok"), Ok(()));
        assert_eq!(v.finish(), Ok(()));
    }

    /// The block check alone (its AVX2 build where the CPU has it, and
    /// under Miri with `-C target-feature=+avx2`): whole ASCII blocks up to
    /// the first block with a byte over 0x7F, counted as a bytewise loop
    /// would.
    #[test]
    fn ascii_blocks_stop_at_the_first_non_ascii_block() {
        let reference = |bytes: &[u8]| {
            bytes
                .chunks_exact(ASCII_BLOCK)
                .take_while(|block| block.is_ascii())
                .count()
                * ASCII_BLOCK
        };
        for len in [0, 1, 255, 256, 257, 511, 512, 1000, 1024, 1100] {
            let ascii = vec![b'a'; len];
            assert_eq!(
                ascii_blocks_len(&ascii),
                reference(&ascii),
                "{len} ASCII bytes"
            );
            for at in [0, 1, 7, 8, 255, 256, 300, 511, 512, 767, 768, 1023] {
                if at >= len {
                    continue;
                }
                let mut bytes = ascii.clone();
                bytes[at] = 0x80;
                assert_eq!(
                    ascii_blocks_len(&bytes),
                    reference(&bytes),
                    "{len} bytes, 0x80 at {at}"
                );
            }
        }
    }

    /// Long texts go through the ASCII block check first: whatever comes
    /// after whole ASCII blocks, inside one or in the last partial block
    /// (valid, invalid, a code point cut at the end), the verdict is std's.
    #[test]
    fn agrees_with_std_after_ascii_blocks() {
        let tails: [&[u8]; 6] = [
            "κόσμε".as_bytes(),
            &[0xED, 0xA0, 0x80],
            &[0xF0, 0x9F, 0x98],
            &[0xC0, 0x80],
            &[0x80],
            b"",
        ];
        for ascii in [0, 1, 255, 256, 257, 511, 512, 700, 1024, 1030] {
            for tail in tails {
                for after in [0, 1, 300] {
                    let mut input = vec![b'a'; ascii];
                    input.extend_from_slice(tail);
                    input.resize(input.len() + after, b'z');
                    let expected = std::str::from_utf8(&input).is_ok();
                    assert_eq!(
                        validate_in_pieces(&input, &[]).is_ok(),
                        expected,
                        "{ascii} ASCII bytes, then {tail:x?}, then {after}"
                    );
                    let cut = ascii + tail.len() / 2;
                    assert_eq!(
                        validate_in_pieces(&input, &[cut]).is_ok(),
                        expected,
                        "{ascii} ASCII bytes, then {tail:x?}, then {after}, cut at {cut}"
                    );
                }
            }
        }
    }

    #[test]
    fn agrees_with_std_on_every_split_of_tricky_inputs() {
        let inputs: [&[u8]; 6] = [
            &[0xF0, 0x9F, 0x98, 0x80, 0x41],
            &[0xE0, 0x80, 0x80],
            &[0xED, 0x9F, 0xBF, 0xEE, 0x80, 0x80],
            &[0xF4, 0x8F, 0xBF, 0xBF],
            &[0xC2, 0x80, 0xDF],
            &[0x80],
        ];
        for input in inputs {
            let expected = std::str::from_utf8(input).is_ok();
            for a in 0..=input.len() {
                for b in a..=input.len() {
                    assert_eq!(
                        validate_in_pieces(input, &[a, b]).is_ok(),
                        expected,
                        "{input:x?} cuts {a} {b}"
                    );
                }
            }
        }
    }
}
