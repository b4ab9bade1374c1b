//! Exponential backoff with jitter, without a clock or a random source: the
//! caller gives the attempt number and a random value (from its runtime's
//! generator) and gets a delay.
//!
//! Used by the reconnecting WebSocket client (full jitter: a delay drawn
//! uniformly from zero to the attempt's ceiling, so that clients dropped
//! together do not come back together) and by the SSE reconnection policy
//! ([`sse::Reconnect`](crate::sse::Reconnect): jitter above the server's
//! `retry:` delay, never below it).

use std::time::Duration;

/// An exponential backoff schedule: attempt `n` (from 0) may wait up to
/// `initial × 2ⁿ`, never more than `max`.
///
/// ```
/// use std::time::Duration;
/// # use tidings_core::backoff::Backoff;
///
/// let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
/// assert_eq!(backoff.ceiling(0), Duration::from_millis(100));
/// assert_eq!(backoff.ceiling(3), Duration::from_millis(800));
/// assert_eq!(backoff.ceiling(4), Duration::from_secs(1));
/// // Full jitter: anywhere from zero to the ceiling.
/// assert_eq!(backoff.full_jitter(3, 0), Duration::ZERO);
/// assert_eq!(backoff.full_jitter(3, u64::MAX), Duration::from_millis(800));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first attempt.
    pub initial: Duration,
    /// The largest ceiling.
    pub max: Duration,
}

impl Backoff {
    /// A schedule starting at `initial` and capped at `max`.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max }
    }

    /// The longest wait before attempt `attempt` (0 for the first retry):
    /// `initial × 2^attempt`, capped at `max` (and never below `initial`
    /// when `max` is smaller: `max` wins).
    #[must_use]
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.max)
    }

    /// A delay drawn uniformly from `[0, ceiling(attempt)]` with `random`
    /// (any `u64`: 0 gives zero, `u64::MAX` the ceiling).
    #[must_use]
    pub fn full_jitter(&self, attempt: u32, random: u64) -> Duration {
        between(Duration::ZERO, self.ceiling(attempt), random)
    }
}

/// A duration in `[low, high]` picked by `random` (0 gives `low`,
/// `u64::MAX` gives `high`); `low` when `high < low`.
///
/// ```
/// use std::time::Duration;
/// # use tidings_core::backoff::between;
/// let (low, high) = (Duration::from_secs(1), Duration::from_secs(3));
/// assert_eq!(between(low, high, 0), low);
/// let middle = between(low, high, u64::MAX / 2);
/// assert!(middle > Duration::from_millis(1999) && middle <= Duration::from_secs(2));
/// assert_eq!(between(low, high, u64::MAX), high);
/// ```
#[must_use]
pub fn between(low: Duration, high: Duration, random: u64) -> Duration {
    let Some(span) = high.checked_sub(low) else {
        return low;
    };
    // Nanoseconds as u128: span × random / u64::MAX fits easily.
    let nanos = span.as_nanos() * u128::from(random) / u128::from(u64::MAX);
    let extra = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
    low.saturating_add(extra.min(span))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_then_stop_at_the_maximum() {
        let b = Backoff::new(Duration::from_millis(250), Duration::from_secs(30));
        let ceilings: Vec<u128> = (0..10).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(
            ceilings,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        // Huge attempt numbers neither overflow nor panic.
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(30));
        let huge = Backoff::new(Duration::MAX, Duration::MAX);
        assert_eq!(huge.ceiling(40), Duration::MAX);
    }

    #[test]
    fn full_jitter_covers_zero_to_the_ceiling() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(b.full_jitter(2, 0), Duration::ZERO);
        assert_eq!(b.full_jitter(2, u64::MAX), Duration::from_secs(4));
        let mid = b.full_jitter(2, u64::MAX / 4);
        assert!(mid > Duration::from_millis(999) && mid < Duration::from_millis(1001));
    }

    #[test]
    fn between_is_low_when_the_range_is_empty() {
        let (a, b) = (Duration::from_secs(5), Duration::from_secs(2));
        assert_eq!(between(a, b, u64::MAX), a);
        assert_eq!(between(a, a, u64::MAX), a);
    }
}
