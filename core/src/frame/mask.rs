//! Payload masking (RFC 6455 §5.3): XOR with a repeating 4-byte key.
//!
//! The loop works on 8-byte words of safe code, which LLVM turns into 16-byte
//! vector XORs on x86-64 (and the like elsewhere). On x86-64 CPUs with AVX2
//! (detected at run time) the same loop is compiled a second time with AVX2
//! enabled, which makes it 32-byte vector XORs: about twice the throughput
//! on a 64 KiB payload. `benches/mask.rs` measures it against the bytewise
//! loop.

/// XORs `buf` with `key`, as if `buf` started at byte `offset` of the payload.
///
/// Masking is its own inverse, so the same call masks and unmasks. `offset`
/// lets a payload be unmasked in pieces as it arrives: unmasking
/// `payload[a..b]` with offset `a` for any split points gives the same bytes
/// as unmasking the whole payload with offset 0.
///
/// ```
/// use tidings_core::frame::apply_mask;
///
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut payload = *b"\x7f\x9f\x4d\x51\x58";
/// let (head, tail) = payload.split_at_mut(2);
/// apply_mask(head, key, 0);
/// apply_mask(tail, key, 2);
/// assert_eq!(&payload, b"Hello");
/// ```
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    #[cfg(target_arch = "x86_64")]
    if takes_avx2(buf.len()) {
        #[allow(
            unsafe_code,
            reason = "calls the AVX2 build of the masking loop (about 2x the throughput on 64 KiB, benches/mask.rs)"
        )]
        // SAFETY: `mask_words_avx2` only needs the CPU to support AVX2,
        // which was just checked.
        unsafe {
            mask_words_avx2(buf, key, offset)
        };
        return;
    }
    mask_words(buf, key, offset);
}

/// Below this length the feature check and the wider loop's set-up cost
/// more than they save.
#[cfg(target_arch = "x86_64")]
const AVX2_MIN_LEN: usize = 128;

/// Whether [`apply_mask`] masks `len` bytes with the AVX2 build of the loop:
/// long enough, and the CPU has AVX2 (checked at run time).
#[cfg(target_arch = "x86_64")]
fn takes_avx2(len: usize) -> bool {
    len >= AVX2_MIN_LEN && std::arch::is_x86_feature_detected!("avx2")
}

/// [`mask_words`] compiled with AVX2 enabled (LLVM then uses 32-byte XORs).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(
    unsafe_code,
    reason = "a `target_feature` function is unsafe to call on Rust 1.85 (the MSRV); its body is safe code"
)]
unsafe fn mask_words_avx2(buf: &mut [u8], key: [u8; 4], offset: usize) {
    mask_words(buf, key, offset);
}

/// Bytes masked per round of [`mask_words`]'s unrolled loop (a multiple
/// of 8, so that the words after the blocks keep the key's phase).
const BLOCK: usize = 256;

/// The masking loop, in safe code; inlined into each caller so that each
/// compiles it for its own target features.
#[inline(always)]
fn mask_words(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // Rotate the key so that its first byte is the one for buf[0]: a rotate
    // of the key as a word read in memory order (a handful of instructions,
    // where rotating its bytes one by one took some thirty, a sizeable part
    // of masking a small frame).
    let shift = 8 * (offset & 3) as u32;
    let key = u32::from_ne_bytes(key);
    let key = if cfg!(target_endian = "little") {
        key.rotate_right(shift)
    } else {
        key.rotate_left(shift)
    };
    // The key twice, in memory order: one word masks 8 bytes at any position
    // that is a multiple of 4 from buf[0], whatever the machine's endianness.
    let word = u64::from(key) | (u64::from(key) << 32);
    let pattern = word.to_ne_bytes();
    // Blocks of a fixed size first: LLVM unrolls the inner loop whole (eight
    // 32-byte XORs per round with AVX2, against four when it unrolls the
    // plain loop itself), which spares a third of the loop's instructions.
    let mut blocks = buf.chunks_exact_mut(BLOCK);
    for block in &mut blocks {
        let _ = xor_words(block, word);
    }
    let rest = xor_words(blocks.into_remainder(), word);
    // Fewer than 8 bytes are left; they start at a multiple of 8 from buf[0].
    for (b, m) in rest.iter_mut().zip(pattern) {
        *b ^= m;
    }
}

/// XORs each whole 8-byte word of `buf` with `word`; returns the bytes
/// after the last whole word. Inlined, as [`mask_words`].
#[inline(always)]
fn xor_words(buf: &mut [u8], word: u64) -> &mut [u8] {
    let mut words = buf.chunks_exact_mut(8);
    for chunk in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    words.into_remainder()
}

#[cfg(test)]
mod tests {
    use super::apply_mask;
    use proptest::prelude::*;

    /// The obvious bytewise loop, the reference for the fast one.
    fn reference(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    /// Bytes that differ at every position, so a misplaced key byte shows.
    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    #[test]
    fn matches_reference_for_every_length_and_offset() {
        for len in 0..=300 {
            for offset in 0..=7 {
                let mut fast = sample(len);
                let mut slow = fast.clone();
                apply_mask(&mut fast, KEY, offset);
                reference(&mut slow, KEY, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn matches_reference_on_unaligned_sub_slices() {
        let original = sample(300 + 16);
        for start in 0..16 {
            for len in [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 255, 300] {
                for offset in 0..=3 {
                    let mut fast = original.clone();
                    let mut slow = original.clone();
                    apply_mask(&mut fast[start..start + len], KEY, offset);
                    reference(&mut slow[start..start + len], KEY, offset);
                    // Also proves nothing outside the sub-slice was touched.
                    assert_eq!(fast, slow, "start {start} len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn large_offsets_wrap_like_small_ones() {
        for offset in [usize::MAX - 3, usize::MAX - 2, usize::MAX - 1, usize::MAX] {
            let mut fast = sample(37);
            let mut slow = sample(37);
            apply_mask(&mut fast, KEY, offset);
            reference(&mut slow, KEY, offset % 4);
            assert_eq!(fast, slow, "offset {offset}");
        }
    }

    /// The dispatch decision, and both loops against the reference on
    /// lengths around the switch. Small enough for Miri (CI runs it there,
    /// with and without AVX2 enabled, so that both the scalar loop and the
    /// unsafe AVX2 call are executed by Miri: see `.ci/run`).
    #[test]
    fn dispatch_and_both_loops_around_the_switch() {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = std::arch::is_x86_feature_detected!("avx2");
            assert!(!super::takes_avx2(0));
            assert!(!super::takes_avx2(super::AVX2_MIN_LEN - 1));
            assert_eq!(super::takes_avx2(super::AVX2_MIN_LEN), avx2);
            assert_eq!(super::takes_avx2(usize::MAX), avx2);
            println!("avx2 detected: {avx2}");
        }
        for len in [0, 1, 7, 8, 9, 127, 128, 129, 200, 257] {
            for offset in 0..=3 {
                let mut fast = sample(len + 3);
                let mut slow = fast.clone();
                apply_mask(&mut fast[3..], KEY, offset);
                reference(&mut slow[3..], KEY, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn masking_twice_is_identity(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            key in any::<[u8; 4]>(),
            offset in any::<usize>(),
        ) {
            let mut buf = data.clone();
            apply_mask(&mut buf, key, offset);
            apply_mask(&mut buf, key, offset);
            prop_assert_eq!(buf, data);
        }

        #[test]
        fn unmasking_in_pieces_equals_unmasking_at_once(
            data in proptest::collection::vec(any::<u8>(), 0..2000),
            key in any::<[u8; 4]>(),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let mut whole = data.clone();
            apply_mask(&mut whole, key, 0);
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
            points.push(0);
            points.push(data.len());
            points.sort_unstable();
            let mut pieces = data.clone();
            for pair in points.windows(2) {
                apply_mask(&mut pieces[pair[0]..pair[1]], key, pair[0]);
            }
            prop_assert_eq!(&pieces, &whole);
            // And the fast loop agrees with the reference on the whole.
            let mut slow = data;
            reference(&mut slow, key, 0);
            prop_assert_eq!(pieces, slow);
        }
    }
}
