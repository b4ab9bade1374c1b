//! Heartbeats from a background task, tied to the connection's life (the
//! Forge "Using Context for Lifecycle" example): while the handler's read
//! loop runs, a spawned task writes `{"type":"heartbeat","time":...}` every
//! period, and ends as soon as [`Connection::closed`] completes (Go's
//! `<-conn.Context().Done()`).
//!
//! [`Heartbeats`] counts the background tasks that are running and the
//! heartbeats sent, so the tests can see that the task has stopped after the
//! close. The example's `main.rs` serves [`router`] at `/ws/live`; the tests
//! include this file with `#[path]`. The including crate declares
//! `mod rfc3339` (`examples/common/rfc3339.rs`) at its root.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tidings_tokio::{Connection, Context, Error, RouteOptions, Router};
use tokio::time::{Instant, MissedTickBehavior};

use crate::rfc3339;

/// What the background task writes: `{"type":"heartbeat","time":"..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Heartbeat {
    /// Always `heartbeat`.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// When it was sent, RFC 3339 UTC.
    pub(crate) time: String,
}

/// Counters shared by every connection of one router.
#[derive(Debug, Default)]
pub(crate) struct Heartbeats {
    running: AtomicUsize,
    sent: AtomicU64,
}

#[allow(dead_code, reason = "read by the tests, not by the example")]
impl Heartbeats {
    /// Background heartbeat tasks alive now.
    pub(crate) fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Heartbeats written so far, over all connections.
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

/// Counts one background task as running for as long as it lives.
struct Running(Arc<Heartbeats>);

impl Running {
    fn new(stats: Arc<Heartbeats>) -> Self {
        stats.running.fetch_add(1, Ordering::SeqCst);
        Running(stats)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The heartbeat router at `/ws/live`, one heartbeat every `period`.
pub(crate) fn router(period: Duration) -> Router {
    router_with(period, Arc::default())
}

/// [`router`], counting into `stats`.
pub(crate) fn router_with(period: Duration, stats: Arc<Heartbeats>) -> Router {
    Router::new().websocket_with(
        "/ws/live",
        move |ctx: Context, conn: Connection| live(period, stats.clone(), ctx, conn),
        RouteOptions::new()
            .summary("Live connection with heartbeats")
            .tags(["streaming"])
            .messages::<(), Heartbeat>(),
    )
}

async fn live(
    period: Duration,
    stats: Arc<Heartbeats>,
    _ctx: Context,
    conn: Connection,
) -> Result<(), Error> {
    // Counted before the spawn, so it is never missed by a test that looks
    // right after connecting.
    let running = Running::new(stats);
    tokio::spawn(heartbeat(conn.clone(), period, running));

    // The read loop: the connection closing ends it (and the handler, which
    // closes the connection with 1000 if the peer has not already).
    loop {
        match conn.read().await {
            Ok(_message) => {} // Process message.
            Err(_) => return Ok(()),
        }
    }
}

/// Writes a heartbeat every `period` until the connection closes.
async fn heartbeat(conn: Connection, period: Duration, running: Running) {
    // Like Go's ticker: the first tick is one period from now.
    let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut closed = conn.closed();
    loop {
        tokio::select! {
            biased;
            () = &mut closed => return,
            _ = ticks.tick() => {
                let beat = Heartbeat {
                    kind: "heartbeat".to_owned(),
                    time: rfc3339::now(),
                };
                if conn.write_json(&beat).await.is_err() {
                    return; // Closed meanwhile.
                }
                running.0.sent.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}
