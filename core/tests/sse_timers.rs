//! The SSE timers of the core on a virtual clock: the server stream's
//! keep-alive and send-timeout schedule ([`StreamSchedule`]) and the
//! client's reconnection policy ([`Reconnect`]). Every instant is an origin
//! plus whole seconds; the types never read the clock themselves.

// The core is sans-IO (core/clippy.toml disallows the clock); the test reads
// it once per test, for the virtual clock's arbitrary origin.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use tidings_core::sse::{Decoder, Reconnect, ReconnectConfig, Retry, StreamSchedule};

const SECOND: Duration = Duration::from_secs(1);

/// A virtual clock: every instant is `start` plus whole seconds.
struct Clock(Instant);

impl Clock {
    fn at(&self, seconds: u64) -> Instant {
        self.0 + Duration::from_secs(seconds)
    }
}

fn clock() -> Clock {
    Clock(Instant::now())
}

#[test]
fn keep_alive_is_due_after_the_interval_of_idleness() {
    let t = clock();
    let schedule = StreamSchedule::new(Some(15 * SECOND), 30 * SECOND, t.at(0));
    assert!(!schedule.keep_alive_due(t.at(14), true));
    assert!(schedule.keep_alive_due(t.at(15), true));
    assert!(schedule.keep_alive_due(t.at(100), true));
    assert_eq!(schedule.poll_timeout(true), Some(t.at(15)));
}

#[test]
fn keep_alive_waits_while_the_stream_is_busy() {
    let t = clock();
    let schedule = StreamSchedule::new(Some(15 * SECOND), 30 * SECOND, t.at(0));
    assert!(!schedule.keep_alive_due(t.at(20), false));
    assert_eq!(schedule.poll_timeout(false), None);
}

#[test]
fn a_write_restarts_the_keep_alive_interval() {
    let t = clock();
    let mut schedule = StreamSchedule::new(Some(15 * SECOND), 30 * SECOND, t.at(0));
    schedule.handle_write(t.at(10));
    assert!(!schedule.keep_alive_due(t.at(15), true));
    assert!(!schedule.keep_alive_due(t.at(24), true));
    assert!(schedule.keep_alive_due(t.at(25), true));
    assert_eq!(schedule.poll_timeout(true), Some(t.at(25)));
}

#[test]
fn no_keep_alive_without_an_interval() {
    let t = clock();
    let schedule = StreamSchedule::new(None, 30 * SECOND, t.at(0));
    assert!(!schedule.keep_alive_due(t.at(1_000_000), true));
    assert_eq!(schedule.poll_timeout(true), None);
}

#[test]
fn a_blocked_sender_times_out_after_send_timeout() {
    let t = clock();
    let mut schedule = StreamSchedule::new(None, 30 * SECOND, t.at(0));
    schedule.handle_blocked(t.at(5), true);
    assert_eq!(schedule.poll_timeout(false), Some(t.at(35)));
    // Still blocked later: the wait counts from the first report.
    schedule.handle_blocked(t.at(20), true);
    assert!(!schedule.timed_out(t.at(34)));
    assert!(schedule.timed_out(t.at(35)));
}

#[test]
fn draining_or_unblocking_stops_the_send_timeout() {
    let t = clock();
    let mut schedule = StreamSchedule::new(None, 30 * SECOND, t.at(0));
    schedule.handle_blocked(t.at(0), true);
    schedule.handle_drained();
    assert!(!schedule.timed_out(t.at(40)));
    assert_eq!(schedule.poll_timeout(false), None);
    // Blocked again: a fresh wait.
    schedule.handle_blocked(t.at(40), true);
    assert!(!schedule.timed_out(t.at(69)));
    assert!(schedule.timed_out(t.at(70)));
    schedule.handle_blocked(t.at(70), false);
    assert!(!schedule.timed_out(t.at(1000)));
}

#[test]
fn the_timer_is_the_earlier_deadline() {
    let t = clock();
    let mut schedule = StreamSchedule::new(Some(15 * SECOND), 10 * SECOND, t.at(0));
    schedule.handle_blocked(t.at(0), true);
    // Blocked means a full queue, so not idle: only the send timeout.
    assert_eq!(schedule.poll_timeout(false), Some(t.at(10)));
    // Both (as a caller could ask): the earlier one.
    assert_eq!(schedule.poll_timeout(true), Some(t.at(10)));
    schedule.handle_blocked(t.at(8), true);
    schedule.handle_write(t.at(8));
    schedule.handle_blocked(t.at(1), false);
    assert_eq!(schedule.poll_timeout(true), Some(t.at(23)));
}

#[test]
fn huge_durations_mean_never() {
    let t = clock();
    let mut schedule = StreamSchedule::new(Some(Duration::MAX), Duration::MAX, t.at(0));
    schedule.handle_blocked(t.at(0), true);
    assert!(!schedule.keep_alive_due(t.at(1 << 40), true));
    assert!(!schedule.timed_out(t.at(1 << 40)));
    assert_eq!(schedule.poll_timeout(true), None);
}

// ---- Reconnect -------------------------------------------------------------

fn policy(max_retries: Option<u32>) -> Reconnect {
    Reconnect::new(ReconnectConfig::default().max_retries(max_retries))
}

#[test]
fn the_delay_is_the_default_until_retry_then_retry_capped() {
    let p = Reconnect::new(
        ReconnectConfig::default()
            .delay(3 * SECOND)
            .max_delay(60 * SECOND),
    );
    assert_eq!(p.delay(None), 3 * SECOND);
    assert_eq!(
        p.delay(Some(Duration::from_millis(500))),
        Duration::from_millis(500)
    );
    assert_eq!(p.delay(Some(Duration::ZERO)), Duration::ZERO);
    assert_eq!(p.delay(Some(3600 * SECOND)), 60 * SECOND);
    // The cap applies to the default too.
    let capped = Reconnect::new(
        ReconnectConfig::default()
            .delay(90 * SECOND)
            .max_delay(60 * SECOND),
    );
    assert_eq!(capped.delay(None), 60 * SECOND);
}

#[test]
fn a_retry_field_from_the_stream_sets_the_next_delay() {
    let t = clock();
    let mut decoder = Decoder::new();
    decoder.feed(b"retry: 1500\nid: 7\ndata: x\n\n").unwrap();
    let mut p = policy(None);
    assert_eq!(
        p.handle_stream_end(t.at(10), decoder.retry()),
        Retry::At(t.at(10) + Duration::from_millis(1500))
    );
    assert_eq!(
        Reconnect::last_event_id_header(decoder.last_event_id()).unwrap(),
        "7"
    );
}

#[test]
fn a_stream_end_reconnects_unless_reconnection_is_off() {
    let t = clock();
    let mut p = policy(None);
    assert_eq!(p.handle_stream_end(t.at(0), None), Retry::At(t.at(3)));
    let mut off = policy(Some(0));
    assert_eq!(off.handle_stream_end(t.at(0), None), Retry::GiveUp);
    // A stream end does not count as a failure.
    let mut one = policy(Some(1));
    for i in 0..5 {
        assert_eq!(one.handle_stream_end(t.at(i), None), Retry::At(t.at(i + 3)));
    }
    assert_eq!(one.failures(), 0);
}

#[test]
fn failures_in_a_row_give_up_at_max_retries() {
    let t = clock();
    let mut p = policy(Some(3));
    assert_eq!(p.handle_stream_end(t.at(0), None), Retry::At(t.at(3)));
    assert_eq!(p.handle_failure(t.at(3), None), Retry::At(t.at(6)));
    assert_eq!(p.handle_failure(t.at(6), None), Retry::At(t.at(9)));
    assert_eq!(p.handle_failure(t.at(9), None), Retry::GiveUp);
    assert_eq!(p.failures(), 3);
}

#[test]
fn a_success_resets_the_failure_count() {
    let t = clock();
    let mut p = policy(Some(2));
    assert_eq!(p.handle_failure(t.at(0), None), Retry::At(t.at(3)));
    p.handle_reconnected();
    assert_eq!((p.failures(), p.reconnects()), (0, 1));
    assert_eq!(p.handle_stream_end(t.at(50), None), Retry::At(t.at(53)));
    assert_eq!(p.handle_failure(t.at(53), None), Retry::At(t.at(56)));
    assert_eq!(p.handle_failure(t.at(56), None), Retry::GiveUp);
}

#[test]
fn never_giving_up_by_default() {
    let t = clock();
    let mut p = policy(None);
    for i in 0..1000 {
        assert_eq!(p.handle_failure(t.at(i), None), Retry::At(t.at(i + 3)));
    }
    assert_eq!(p.failures(), 1000);
}

#[test]
fn the_last_event_id_header_is_sent_only_when_it_can_be() {
    assert_eq!(Reconnect::last_event_id_header(""), None);
    assert_eq!(Reconnect::last_event_id_header("42").unwrap(), "42");
    assert_eq!(
        Reconnect::last_event_id_header("é").unwrap().as_bytes(),
        "é".as_bytes()
    );
    assert_eq!(Reconnect::last_event_id_header("a\u{7}b"), None);
}

#[test]
fn a_delay_beyond_instant_waits_as_long_as_it_can() {
    let t = clock();
    let mut p = Reconnect::new(ReconnectConfig::default().max_delay(Duration::MAX));
    let Retry::At(at) = p.handle_stream_end(t.at(0), Some(Duration::MAX)) else {
        panic!("gave up");
    };
    assert!(at > t.at(1 << 40));
}

#[test]
fn backoff_grows_from_the_retry_delay_and_stops_at_the_maximum() {
    let t = clock();
    let mut p = Reconnect::new(ReconnectConfig::default().max_delay(20 * SECOND));
    let retry = Some(2 * SECOND);
    // The largest draw: the ceiling, 2 s × 2ⁿ, capped at 20 s.
    let ceilings: Vec<Retry> = (0..5)
        .map(|_| p.handle_failure_with_jitter(t.at(0), retry, u64::MAX))
        .collect();
    let expected: Vec<Retry> = [4, 8, 16, 20, 20].map(|s| Retry::At(t.at(s))).to_vec();
    assert_eq!(ceilings, expected);
    // The smallest draw: never below the server's `retry:`.
    assert_eq!(
        p.handle_failure_with_jitter(t.at(0), retry, 0),
        Retry::At(t.at(2))
    );
    // A middle draw lands in between.
    let Retry::At(at) = p.handle_failure_with_jitter(t.at(0), retry, u64::MAX / 2) else {
        panic!("expected a reconnection")
    };
    assert!(at > t.at(2) && at < t.at(20), "{:?}", at - t.at(0));
    // A stream that ended cleanly still waits exactly `retry:`, and a
    // success restarts the backoff.
    p.handle_reconnected();
    assert_eq!(p.handle_stream_end(t.at(0), retry), Retry::At(t.at(2)));
    assert_eq!(
        p.handle_failure_with_jitter(t.at(0), retry, u64::MAX),
        Retry::At(t.at(4))
    );
}
