//! The reconnection policy of an SSE client (WHATWG HTML, "reestablish the
//! connection"): how long to wait, what `Last-Event-ID` to send, and when to
//! give up.

use std::time::{Duration, Instant};

use http::HeaderValue;

use crate::backoff::{Backoff, between};

/// [`Reconnect`] settings.
///
/// ```
/// use std::time::Duration;
/// # use tidings_core::sse::ReconnectConfig;
///
/// let config = ReconnectConfig::default().delay(Duration::from_millis(500)).max_retries(Some(5));
/// assert_eq!(config.max_delay, Duration::from_secs(60));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconnectConfig {
    /// The delay until the server sends a `retry:` field. Default 3 s (the
    /// WHATWG suggestion, and what browsers use).
    pub delay: Duration,
    /// The longest delay, whatever `retry:` asks for. Default 60 s.
    pub max_delay: Duration,
    /// How many reconnection attempts in a row may fail before the client
    /// gives up. `None`: never give up, as browsers do (the default).
    /// `Some(0)`: never reconnect; the end of the stream is the end of the
    /// client. The count restarts after each successful reconnection.
    pub max_retries: Option<u32>,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        ReconnectConfig {
            delay: Duration::from_secs(3),
            max_delay: Duration::from_secs(60),
            max_retries: None,
        }
    }
}

impl ReconnectConfig {
    /// Sets [`ReconnectConfig::delay`](#structfield.delay).
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sets [`ReconnectConfig::max_delay`](#structfield.max_delay).
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets [`ReconnectConfig::max_retries`](#structfield.max_retries).
    #[must_use]
    pub fn max_retries(mut self, retries: Option<u32>) -> Self {
        self.max_retries = retries;
        self
    }
}

/// What a client does after its stream ended or an attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retry {
    /// Reconnect at this instant.
    At(Instant),
    /// Stop: reconnection is off, or too many attempts failed in a row.
    GiveUp,
}

/// A Server-Sent Events client's reconnection policy, without I/O or a
/// clock: the caller reports what happened with `now`, and connects again
/// at the instant it is given.
///
/// The rules (those of a browser's `EventSource`, plus a retry limit):
/// - The delay is the latest `retry:` value the stream set
///   ([`Decoder::retry`](super::Decoder::retry)), or
///   [`ReconnectConfig::delay`] before any, capped by
///   [`ReconnectConfig::max_delay`]. After a clean end of stream it is
///   exactly that; after failed attempts in a row,
///   [`handle_failure_with_jitter`](Self::handle_failure_with_jitter) adds
///   exponential backoff with jitter above it.
/// - A stream that ends (end of body, connection closed or failed) is
///   reconnected after the delay, unless `max_retries` is `Some(0)`.
/// - An attempt that fails with a network error counts; after
///   `max_retries` failures in a row the client gives up. A successful
///   reconnection resets the count. (Errors that are not the network's,
///   such as a wrong status, are the caller's to treat as final.)
/// - Each request carries the decoder's last event id in `Last-Event-ID`
///   when it is not empty ([`last_event_id_header`](Self::last_event_id_header)).
///
/// Call order: after the first connection, on each end of a stream
/// [`handle_stream_end`](Self::handle_stream_end), on each failed attempt
/// [`handle_failure`](Self::handle_failure); on [`Retry::At`] wait until
/// then and connect; on success
/// [`handle_reconnected`](Self::handle_reconnected).
///
/// ```
/// use std::time::{Duration, Instant};
/// # use tidings_core::sse::{Reconnect, ReconnectConfig, Retry};
///
/// // `now` comes from the caller's clock (an adapter, a test's virtual clock).
/// fn reconnect(now: Instant) {
///     let mut policy = Reconnect::new(ReconnectConfig::default().max_retries(Some(2)));
///     // The stream ended; the server had sent `retry: 500`.
///     let retry = Some(Duration::from_millis(500));
///     assert_eq!(policy.handle_stream_end(now, retry), Retry::At(now + Duration::from_millis(500)));
///     assert!(matches!(policy.handle_failure(now, retry), Retry::At(_)));
///     assert_eq!(policy.handle_failure(now, retry), Retry::GiveUp);
/// }
/// # reconnect(<Instant>::now());
/// ```
#[derive(Clone, Debug)]
pub struct Reconnect {
    config: ReconnectConfig,
    /// Reconnection attempts that failed in a row.
    failures: u32,
    /// Successful reconnections so far.
    reconnects: u64,
}

impl Reconnect {
    /// A policy for a client whose first connection succeeded.
    pub fn new(config: ReconnectConfig) -> Self {
        Reconnect {
            config,
            failures: 0,
            reconnects: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &ReconnectConfig {
        &self.config
    }

    /// The delay before a reconnection, given the stream's latest `retry:`
    /// value ([`Decoder::retry`](super::Decoder::retry)).
    #[must_use]
    pub fn delay(&self, retry: Option<Duration>) -> Duration {
        retry
            .unwrap_or(self.config.delay)
            .min(self.config.max_delay)
    }

    /// The stream ended at `now` (end of body, connection closed, I/O or
    /// framing error); `retry` as for [`delay`](Self::delay).
    pub fn handle_stream_end(&mut self, now: Instant, retry: Option<Duration>) -> Retry {
        if self.config.max_retries == Some(0) {
            return Retry::GiveUp;
        }
        self.schedule(now, retry)
    }

    /// A reconnection attempt failed at `now` with a network error (no
    /// connection, I/O error, timeout, EOF before the response head). The
    /// next attempt waits the plain [`delay`](Self::delay): no backoff (see
    /// [`handle_failure_with_jitter`](Self::handle_failure_with_jitter)).
    pub fn handle_failure(&mut self, now: Instant, retry: Option<Duration>) -> Retry {
        self.handle_failure_with_jitter(now, retry, 0)
    }

    /// [`handle_failure`](Self::handle_failure) with exponential backoff:
    /// after the `n`th failure in a row the client waits a delay drawn by
    /// `random` (from the caller's random generator) between the plain
    /// delay `d` (the server's `retry:`, never shortened) and
    /// `d × 2ⁿ`, capped by [`ReconnectConfig::max_delay`]. The WHATWG
    /// algorithm allows this ("if the previous attempt failed, user agents
    /// might introduce an exponential backoff delay"); a clean end of
    /// stream still waits exactly `d`. `random` 0 gives `d`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// # use tidings_core::sse::{Reconnect, ReconnectConfig, Retry};
    /// fn backoff(now: Instant) {
    ///     let mut policy = Reconnect::new(ReconnectConfig::default());
    ///     let retry = Some(Duration::from_secs(1));
    ///     // First failure: between 1 s and 2 s; the largest draw gives 2 s.
    ///     assert_eq!(policy.handle_failure_with_jitter(now, retry, u64::MAX), Retry::At(now + Duration::from_secs(2)));
    ///     // Second failure: up to 4 s.
    ///     assert_eq!(policy.handle_failure_with_jitter(now, retry, u64::MAX), Retry::At(now + Duration::from_secs(4)));
    /// }
    /// # backoff(<Instant>::now());
    /// ```
    pub fn handle_failure_with_jitter(
        &mut self,
        now: Instant,
        retry: Option<Duration>,
        random: u64,
    ) -> Retry {
        self.failures = self.failures.saturating_add(1);
        if self
            .config
            .max_retries
            .is_some_and(|max| self.failures >= max)
        {
            return Retry::GiveUp;
        }
        let base = self.delay(retry);
        let ceiling = Backoff::new(base, self.config.max_delay.max(base)).ceiling(self.failures);
        at_or_far(now, between(base, ceiling, random))
    }

    /// A reconnection succeeded: the failure count restarts.
    pub fn handle_reconnected(&mut self) {
        self.failures = 0;
        self.reconnects += 1;
    }

    /// Successful reconnections so far.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// Attempts that failed in a row since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The `Last-Event-ID` header value for a request, given the decoder's
    /// [`last_event_id`](super::Decoder::last_event_id): none when it is
    /// empty, or when it holds control bytes a header cannot carry (an id is
    /// decoded text without CR, LF or NUL, sent as UTF-8 as a browser does).
    #[must_use]
    pub fn last_event_id_header(last_event_id: &str) -> Option<HeaderValue> {
        if last_event_id.is_empty() {
            return None;
        }
        HeaderValue::from_bytes(last_event_id.as_bytes()).ok()
    }

    fn schedule(&self, now: Instant, retry: Option<Duration>) -> Retry {
        at_or_far(now, self.delay(retry))
    }
}

/// `now + delay`, or as late as `Instant` can hold when that overflows (a
/// delay too large waits as long as it can).
fn at_or_far(now: Instant, delay: Duration) -> Retry {
    Retry::At(
        now.checked_add(delay)
            .unwrap_or_else(|| far_future(now, delay)),
    )
}

/// The latest instant after `now` within `delay` that `Instant` can hold.
fn far_future(now: Instant, delay: Duration) -> Instant {
    let mut step = delay;
    let mut at = now;
    while !step.is_zero() {
        match at.checked_add(step) {
            Some(later) => at = later,
            None => step /= 2,
        }
    }
    at
}
