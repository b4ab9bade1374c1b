//! Masking keys for the client role, from a caller-supplied seed.
//!
//! RFC 6455 §5.3 asks for keys an attacker cannot predict from earlier frames.
//! The core has no entropy source of its own, so the caller seeds it once (the
//! adapters use the operating system's generator) and keys are derived as
//! SHA-1(seed ‖ counter): unpredictable without the seed, deterministic with it.

use sha1::{Digest, Sha1};

/// A deterministic stream of masking keys derived from a 32-byte seed.
#[derive(Clone)]
pub(crate) struct MaskKeys {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 20],
    used: usize,
}

impl MaskKeys {
    pub(crate) fn new(seed: [u8; 32]) -> Self {
        MaskKeys {
            seed,
            counter: 0,
            block: [0; 20],
            used: 20,
        }
    }

    /// The next key. Each SHA-1 block yields five keys.
    pub(crate) fn next_key(&mut self) -> [u8; 4] {
        if self.used == self.block.len() {
            let mut hasher = Sha1::new();
            hasher.update(self.seed);
            hasher.update(self.counter.to_le_bytes());
            self.block = hasher.finalize().into();
            self.counter = self.counter.wrapping_add(1);
            self.used = 0;
        }
        // `used` steps by 4 from 0 and the block (a SHA-1 digest) is 20 bytes,
        // a multiple of 4, so `used + 4 <= block.len()` here.
        let mut key = [0; 4];
        key.copy_from_slice(&self.block[self.used..self.used + 4]);
        self.used += 4;
        key
    }
}

impl std::fmt::Debug for MaskKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the seed.
        f.debug_struct("MaskKeys")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_keys_other_seed_other_keys() {
        let mut a = MaskKeys::new([7; 32]);
        let mut b = MaskKeys::new([7; 32]);
        let mut c = MaskKeys::new([8; 32]);
        let ka: Vec<_> = (0..12).map(|_| a.next_key()).collect();
        let kb: Vec<_> = (0..12).map(|_| b.next_key()).collect();
        let kc: Vec<_> = (0..12).map(|_| c.next_key()).collect();
        assert_eq!(ka, kb);
        assert_ne!(ka, kc);
        // Keys across block boundaries differ from each other.
        let distinct: std::collections::HashSet<_> = ka.iter().collect();
        assert_eq!(distinct.len(), ka.len());
    }
}
