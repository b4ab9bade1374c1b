//! Middleware around routes: code that runs before the handler (and before
//! the WebSocket upgrade), may reject the request or attach values, and is
//! told how the request ended.
//!
//! A [`Middleware`] has two hooks:
//!
//! - [`before`](Middleware::before) runs once the request is routed, in
//!   order: the router's layers ([`Router::layer`](super::Router::layer)),
//!   then the route's authentication ([`RouteOptions::auth`](super::RouteOptions::auth)),
//!   then the route's own middleware. It may attach values to the
//!   [`Context`] (WebSocket handlers read them with
//!   [`Connection::get`](crate::Connection::get), SSE handlers with
//!   [`SseContext::get`](super::SseContext::get)) or reject the request with
//!   a response, in which case nothing after it runs and no upgrade happens.
//! - [`after`](Middleware::after) runs once the request is over, for every
//!   middleware whose `before` ran (the rejecting one included), in reverse
//!   order, with an [`Outcome`]: the rejection, the status of a plain
//!   response, how the WebSocket connection closed, or why the SSE stream
//!   ended, and how long it lasted.
//!
//! Any `Fn(&mut Context) -> Result<(), Response>` closure is a middleware
//! with a no-op `after`, so the closures given to
//! [`RouteOptions::middleware`](super::RouteOptions::middleware) keep working.
//!
//! Three are provided: [`Logging`] (one `tracing` event per request),
//! [`RateLimit`] (token bucket per remote address, 429 with `Retry-After`)
//! and [`Authenticator`] (bearer token, cookie or query token checked by a
//! user function; 401 or the user's value attached to the context).

// A rejection is a whole `Response` (144 bytes) by design: the signature is
// the one the router's closures always had, and rejections are the cold path.
#![allow(clippy::result_large_err)]

pub(crate) mod auth;
mod chain;
mod logging;
mod rate_limit;

use std::time::Duration;

use http::StatusCode;

pub use auth::Authenticator;
pub(crate) use chain::Chain;
pub use logging::{ACCESS_TARGET, Logging};
pub use rate_limit::RateLimit;

use super::context::Context;
use super::response::Response;
use super::sse::SseEnd;
use crate::protocol::Protocol;
use tidings_core::ws::Closed;

/// Code run around a route's handler (see the [module docs](self)).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// # use tidings_framework::server::middleware::{End, Middleware, Outcome};
/// # use tidings_framework::server::{Context, Response, Router, echo};
/// /// Counts WebSocket connections that ended uncleanly.
/// #[derive(Default)]
/// struct UncleanCloses(AtomicUsize);
///
/// impl Middleware for UncleanCloses {
///     fn before(&self, _ctx: &mut Context) -> Result<(), Response> {
///         Ok(())
///     }
///
///     fn after(&self, _ctx: &Context, outcome: &Outcome) {
///         if let End::Closed(closed) = &outcome.end {
///             if !closed.is_clean() {
///                 self.0.fetch_add(1, Ordering::Relaxed);
///             }
///         }
///     }
/// }
///
/// let router = Router::new().layer(UncleanCloses::default()).websocket("/ws", echo);
/// # assert_eq!(router.len(), 1);
/// ```
pub trait Middleware: Send + Sync + 'static {
    /// Runs before the handler and before any upgrade: `Err(response)`
    /// rejects the request with `response`.
    fn before(&self, ctx: &mut Context) -> Result<(), Response>;

    /// Runs once the request is over (after a rejection too). The default
    /// does nothing.
    fn after(&self, ctx: &Context, outcome: &Outcome) {
        let _ = (ctx, outcome);
    }
}

impl<F> Middleware for F
where
    F: Fn(&mut Context) -> Result<(), Response> + Send + Sync + 'static,
{
    fn before(&self, ctx: &mut Context) -> Result<(), Response> {
        self(ctx)
    }
}

/// How a request that passed through middleware ended.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Outcome {
    /// The kind of route.
    pub protocol: Protocol,
    /// From routing to the end (the runtime's clock).
    pub duration: Duration,
    /// What happened.
    pub end: End,
}

/// What happened to a request (see [`Outcome`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum End {
    /// A middleware rejected it with this status; no handler ran.
    Rejected(StatusCode),
    /// A plain GET route answered with this status.
    Responded(StatusCode),
    /// The WebSocket connection closed (code, reason, cleanness).
    Closed(Closed),
    /// The SSE stream ended, for this reason.
    SseEnded(SseEnd),
    /// The WebTransport session ended, this way.
    #[cfg(feature = "webtransport")]
    SessionEnded(tidings_core::webtransport::SessionEnd),
    /// The middleware passed but the stream never started: admission refused
    /// it (503), the upgrade request was invalid, or the peer left or was
    /// too slow during the handshake.
    NotStarted,
}
