//! The token bucket of `RateLimit`, driven with explicit times.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use tidings_framework::server::RateLimit;

fn ip(n: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, n])
}

#[test]
fn burst_then_refill() {
    let limit = RateLimit::new(2.0, 3);
    let t0 = Instant::now();
    for _ in 0..3 {
        assert!(limit.take(ip(1), t0).is_ok());
    }
    let wait = limit.take(ip(1), t0).unwrap_err();
    assert_eq!(wait, Duration::from_millis(500));
    // Another address has its own bucket.
    assert!(limit.take(ip(2), t0).is_ok());
    // Half a second later one token is back, and only one.
    let t1 = t0 + Duration::from_millis(500);
    assert!(limit.take(ip(1), t1).is_ok());
    assert!(limit.take(ip(1), t1).is_err());
}

#[test]
fn table_is_bounded_and_evicts_refilled_buckets() {
    let limit = RateLimit::new(1.0, 2).max_clients(2);
    let t0 = Instant::now();
    assert!(limit.take(ip(1), t0).is_ok());
    assert!(limit.take(ip(2), t0).is_ok());
    // Full of buckets in use: a newcomer is refused, nothing evicted.
    assert!(limit.take(ip(3), t0).is_err());
    assert_eq!(limit.tracked(), 2);
    // One second later both refilled: the sweep drops them.
    let t1 = t0 + Duration::from_secs(1);
    assert!(limit.take(ip(3), t1).is_ok());
    assert_eq!(limit.tracked(), 1);
}
