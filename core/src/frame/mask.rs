//! Payload masking (RFC 6455 §5.3): XOR with a repeating 4-byte key.
//!
//! Reference implementation; to be replaced by a word-at-a-time loop.

/// XORs `buf` with `key`, as if `buf` started at byte `offset` of the payload.
///
/// Masking is its own inverse, so the same call masks and unmasks. `offset`
/// lets a payload be unmasked in pieces as it arrives.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(offset + i) & 3];
    }
}
