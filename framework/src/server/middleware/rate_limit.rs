//! Rate limiting per remote address: a token bucket for each client IP.

use core::net::IpAddr;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{HeaderValue, StatusCode, header};

use super::Middleware;
use crate::server::context::Context;
use crate::server::response::{IntoResponse, Response};

/// Limits how often each client IP address may open a connection (or make
/// any request on the routes it guards): a token bucket per address holding
/// at most `burst` tokens, refilled at `rate` tokens per second; each
/// request takes one. A request finding the bucket empty gets
/// `429 Too Many Requests` with `Retry-After` (whole seconds until a token
/// is back), before any upgrade.
///
/// Memory is bounded: at most [`max_clients`](Self::max_clients) buckets
/// (default 10,000) are kept. A full bucket is the same as no bucket, so
/// when the table is full, the buckets that have refilled completely are
/// dropped (at most one such sweep per second); if every remaining bucket
/// is still in use, requests from new addresses are refused with 429 until
/// one refills (failing closed: a flood from many addresses cannot reset
/// the buckets of the others). Requests without a known remote address are
/// not limited.
///
/// Time is the request's [`Context::now`], from the server's runtime.
///
/// ```
/// # use tidings_framework::server::{RateLimit, Router, echo};
/// // 2 connections per second per address, bursts of 5.
/// let router = Router::new()
///     .layer(RateLimit::new(2.0, 5))
///     .websocket("/ws", echo);
/// # assert_eq!(router.len(), 1);
/// ```
#[derive(Debug)]
pub struct RateLimit {
    rate: f64,
    burst: f64,
    max_clients: usize,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    buckets: HashMap<IpAddr, Bucket>,
    last_sweep: Option<Instant>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimit {
    /// `rate` tokens per second (must be positive and finite; a smaller
    /// value is taken as one token per hour), at most `burst` at once (at
    /// least 1).
    pub fn new(rate: f64, burst: u32) -> Self {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            1.0 / 3600.0
        };
        RateLimit {
            rate: rate.max(1.0 / 3600.0),
            burst: f64::from(burst.max(1)),
            max_clients: 10_000,
            table: Mutex::new(Table::default()),
        }
    }

    /// Sets the number of addresses tracked at once (at least 1).
    #[must_use]
    pub fn max_clients(mut self, max_clients: usize) -> Self {
        self.max_clients = max_clients.max(1);
        self
    }

    /// The number of addresses tracked now.
    pub fn tracked(&self) -> usize {
        self.lock().buckets.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a token for `ip` at `now` (what the middleware does for each
    /// request; call it directly to limit something else, e.g. messages on
    /// a connection): `Err(wait)` when none is left, with the time until
    /// one is back.
    pub fn take(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut table = self.lock();
        if !table.buckets.contains_key(&ip) && table.buckets.len() >= self.max_clients {
            self.sweep(&mut table, now);
            if table.buckets.len() >= self.max_clients {
                // The table is full of buckets in use: refuse newcomers for
                // the time one token takes to refill.
                return Err(Duration::from_secs_f64(1.0 / self.rate));
            }
        }
        let bucket = table.buckets.entry(ip).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        bucket.tokens = self.refilled(bucket, now);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }

    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        (bucket.tokens + elapsed * self.rate).min(self.burst)
    }

    /// Drops the buckets that are full again, at most once per second.
    fn sweep(&self, table: &mut Table, now: Instant) {
        if table
            .last_sweep
            .is_some_and(|last| now.saturating_duration_since(last) < Duration::from_secs(1))
        {
            return;
        }
        table.last_sweep = Some(now);
        table
            .buckets
            .retain(|_, bucket| self.refilled(bucket, now) < self.burst);
    }
}

impl Middleware for RateLimit {
    fn before(&self, ctx: &mut Context) -> Result<(), Response> {
        let Some(remote) = ctx.remote_addr() else {
            return Ok(());
        };
        self.take(remote.ip(), ctx.now()).map_err(|wait| {
            let mut response = (StatusCode::TOO_MANY_REQUESTS, "too many requests").into_response();
            // Whole seconds, rounded up, at least 1 (RFC 9110 §10.2.3).
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            response
        })
    }
}
