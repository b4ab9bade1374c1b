//! The timers of one SSE stream on the server: when the next keep-alive
//! comment is due, and when a sender blocked on a full queue has waited too
//! long (the slow-client rule).

use std::time::{Duration, Instant};

/// The keep-alive and send-timeout schedule of one server-side SSE stream,
/// without I/O or a clock: the caller passes `now` in and arms its own timer
/// at [`poll_timeout`](Self::poll_timeout).
///
/// Two rules:
/// - **Keep-alive.** With an interval set, a [`KEEP_ALIVE`](super::KEEP_ALIVE)
///   comment is due once the stream has been idle (queue empty, stream not
///   ended) for the interval since the last write, so that proxies and
///   clients see the connection alive.
/// - **Send timeout.** A stream whose queue is full while a sender waits for
///   room, and from which nothing leaves for `send_timeout`, belongs to a
///   client too slow to keep: the caller ends it.
///
/// Call order, on each turn of the caller's loop (all with the same `now`):
/// 1. [`keep_alive_due`](Self::keep_alive_due) before writing: if it holds,
///    queue [`KEEP_ALIVE`](super::KEEP_ALIVE);
/// 2. [`handle_write`](Self::handle_write) when bytes were written,
///    [`handle_drained`](Self::handle_drained) when a queued entry was
///    written completely (a waiting sender has room);
/// 3. [`handle_blocked`](Self::handle_blocked) with whether the queue is
///    full with a sender waiting, then [`timed_out`](Self::timed_out): if it
///    holds, end the stream;
/// 4. arm a timer at [`poll_timeout`](Self::poll_timeout).
///
/// ```
/// use std::time::{Duration, Instant};
/// # use tidings_core::sse::StreamSchedule;
///
/// // `start` comes from the caller's clock (an adapter, a test's virtual clock).
/// fn keep_alive(start: Instant) {
///     let mut schedule = StreamSchedule::new(Some(Duration::from_secs(15)), Duration::from_secs(30), start);
///     assert!(!schedule.keep_alive_due(start, true));
///     assert_eq!(schedule.poll_timeout(true), Some(start + Duration::from_secs(15)));
///     let later = start + Duration::from_secs(15);
///     assert!(schedule.keep_alive_due(later, true));
///     schedule.handle_write(later);
///     assert_eq!(schedule.poll_timeout(true), Some(later + Duration::from_secs(15)));
/// }
/// # keep_alive(<Instant>::now());
/// ```
#[derive(Clone, Debug)]
pub struct StreamSchedule {
    keep_alive: Option<Duration>,
    send_timeout: Duration,
    last_write: Instant,
    /// Since when the queue has been full with a sender waiting and nothing
    /// leaving it.
    full_since: Option<Instant>,
}

impl StreamSchedule {
    /// A schedule for a stream opened at `now`: keep-alive comments every
    /// `keep_alive` of idleness (`None`: never), and the send timeout.
    pub fn new(keep_alive: Option<Duration>, send_timeout: Duration, now: Instant) -> Self {
        StreamSchedule {
            keep_alive,
            send_timeout,
            last_write: now,
            full_since: None,
        }
    }

    /// Whether a keep-alive comment is due at `now`. `idle`: the queue is
    /// empty and the stream has not ended.
    #[must_use]
    pub fn keep_alive_due(&self, now: Instant, idle: bool) -> bool {
        idle && self.keep_alive_deadline().is_some_and(|due| now >= due)
    }

    /// Bytes were written to the client at `now`: the keep-alive interval
    /// starts again.
    pub fn handle_write(&mut self, now: Instant) {
        self.last_write = now;
    }

    /// A queued entry left the queue completely: a sender waiting for room
    /// has it, so the send timeout no longer runs.
    pub fn handle_drained(&mut self) {
        self.full_since = None;
    }

    /// Whether, at `now`, the queue is full with a sender waiting for room.
    /// The send timeout runs from the first `now` this is reported `true`
    /// until it is reported `false` or [`handle_drained`](Self::handle_drained).
    pub fn handle_blocked(&mut self, now: Instant, blocked: bool) {
        if blocked {
            self.full_since.get_or_insert(now);
        } else {
            self.full_since = None;
        }
    }

    /// Whether the blocked sender has waited `send_timeout` at `now`: the
    /// client is too slow, and the caller ends the stream.
    #[must_use]
    pub fn timed_out(&self, now: Instant) -> bool {
        self.send_deadline().is_some_and(|deadline| now >= deadline)
    }

    /// When the caller must look again: the earlier of the send timeout (while
    /// blocked) and the next keep-alive (while `idle`, see
    /// [`keep_alive_due`](Self::keep_alive_due)). `None`: no timer needed.
    #[must_use]
    pub fn poll_timeout(&self, idle: bool) -> Option<Instant> {
        let keep_alive = self.keep_alive_deadline().filter(|_| idle);
        match (self.send_deadline(), keep_alive) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When the next keep-alive is due if the stream stays idle (an
    /// interval too large for `Instant` means never).
    fn keep_alive_deadline(&self) -> Option<Instant> {
        self.keep_alive
            .and_then(|interval| self.last_write.checked_add(interval))
    }

    fn send_deadline(&self) -> Option<Instant> {
        self.full_since
            .and_then(|since| since.checked_add(self.send_timeout))
    }
}

// Tests on a virtual clock: core/tests/sse_timers.rs.
