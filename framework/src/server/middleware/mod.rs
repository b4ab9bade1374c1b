//! Middleware around routes: code that runs before the handler (and before
//! the WebSocket upgrade), may reject the request or attach values, and is
//! told how the request ended.
//!
//! A [`Middleware`] has two hooks:
//!
//! - [`before`](Middleware::before) (or its asynchronous form,
//!   [`before_async`](Middleware::before_async)) runs once the request is
//!   routed, in order: the router's layers ([`Router::layer`](super::Router::layer)),
//!   then the route's authentication ([`RouteOptions::auth`](super::RouteOptions::auth)),
//!   then the route's own middleware. It may attach values to the
//!   [`Context`] (WebSocket handlers read them with
//!   [`Connection::get`](crate::Connection::get), SSE handlers with
//!   [`SseContext::get`](super::SseContext::get)), add response headers
//!   ([`Context::response_headers_mut`]: `Set-Cookie`, CORS) or reject the
//!   request with a response, in which case nothing after it runs and no
//!   upgrade happens.
//! - [`before_async`](Middleware::before_async) may await (a database,
//!   Redis or JWKS lookup before the upgrade). The server's
//!   [`handshake_timeout`](super::ServerConfig::handshake_timeout), counted
//!   from the accept (from the first byte of the request on a kept-alive
//!   connection), bounds the whole chain: a `before` still pending then is
//!   dropped and the request answered `503 Service Unavailable`.
//! - [`after`](Middleware::after) runs once the request is over, for every
//!   middleware whose `before` ran (the rejecting one included), in reverse
//!   order, with an [`Outcome`]: the rejection, the status of a plain
//!   response, how the WebSocket connection closed, or why the SSE stream
//!   ended, and how long it lasted.
//!
//! Any `Fn(&mut Context) -> Result<(), Response>` closure is a middleware
//! with a no-op `after`, so the closures given to
//! [`RouteOptions::middleware`](super::RouteOptions::middleware) keep working;
//! an asynchronous closure is one through [`async_before`] (or
//! [`RouteOptions::middleware_async`](super::RouteOptions::middleware_async)).
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

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
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
    /// rejects the request with `response`. The default passes every
    /// request. Not called by the server when
    /// [`before_async`](Self::before_async) is overridden (unless that calls
    /// it).
    fn before(&self, ctx: &mut Context) -> Result<(), Response> {
        let _ = ctx;
        Ok(())
    }

    /// The asynchronous form of [`before`](Self::before), which the server
    /// calls: override it to await before the upgrade (the default returns
    /// `before`'s result at once, without allocating).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// # use tidings_framework::server::middleware::{Before, Middleware};
    /// # use tidings_framework::server::{Context, IntoResponse, Router, echo};
    /// use http::StatusCode;
    ///
    /// /// Looks the session cookie up in a store that answers asynchronously.
    /// struct Sessions(HashMap<String, u64>);
    ///
    /// impl Sessions {
    ///     async fn lookup(&self, id: &str) -> Option<u64> {
    ///         self.0.get(id).copied() // e.g. a Redis GET
    ///     }
    /// }
    ///
    /// impl Middleware for Sessions {
    ///     fn before_async<'a>(&'a self, ctx: &'a mut Context) -> Before<'a> {
    ///         Before::new(async move {
    ///             let id = ctx.header("x-session").unwrap_or_default().to_owned();
    ///             match self.lookup(&id).await {
    ///                 Some(user) => {
    ///                     ctx.set(user);
    ///                     Ok(())
    ///                 }
    ///                 None => Err((StatusCode::UNAUTHORIZED, "no session").into_response()),
    ///             }
    ///         })
    ///     }
    /// }
    ///
    /// let router = Router::new().layer(Sessions(HashMap::new())).websocket("/ws", echo);
    /// # assert_eq!(router.len(), 1);
    /// ```
    fn before_async<'a>(&'a self, ctx: &'a mut Context) -> Before<'a> {
        Before::ready(self.before(ctx))
    }

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

/// What [`Middleware::before_async`] returns: a result at hand
/// ([`ready`](Self::ready), no allocation) or a boxed future
/// ([`new`](Self::new)) that may borrow the middleware and the context.
#[must_use = "a middleware's verdict does nothing unless awaited"]
pub struct Before<'a>(Inner<'a>);

enum Inner<'a> {
    Ready(Option<Result<(), Response>>),
    Future(Pin<Box<dyn Future<Output = Result<(), Response>> + Send + 'a>>),
}

impl<'a> Before<'a> {
    /// A verdict reached without waiting.
    pub fn ready(result: Result<(), Response>) -> Self {
        Before(Inner::Ready(Some(result)))
    }

    /// A verdict `future` reaches (boxed).
    pub fn new(future: impl Future<Output = Result<(), Response>> + Send + 'a) -> Self {
        Before(Inner::Future(Box::pin(future)))
    }
}

impl Future for Before<'_> {
    type Output = Result<(), Response>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            Inner::Ready(result) => match result.take() {
                Some(result) => Poll::Ready(result),
                None => panic!("Before polled after completion"),
            },
            Inner::Future(future) => future.as_mut().poll(cx),
        }
    }
}

impl std::fmt::Debug for Before<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::Ready(result) => f.debug_tuple("Before::Ready").field(result).finish(),
            Inner::Future(_) => f.write_str("Before::Future"),
        }
    }
}

/// A middleware made of an asynchronous `before` closure (no `after`):
/// what [`async_before`] returns.
pub struct AsyncBefore<F>(F);

impl<F> std::fmt::Debug for AsyncBefore<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AsyncBefore")
    }
}

/// Makes a middleware of a closure that returns a [`Before`], i.e. that
/// may await: `|ctx| Before::new(async move { … })`.
///
/// ```
/// # use std::time::Duration;
/// # use tidings_framework::server::middleware::{Before, async_before};
/// # use tidings_framework::server::{Context, Router, echo};
/// async fn user_of(token: String) -> Option<u64> {
///     // e.g. a JWKS fetch, a database query
///     token.parse().ok()
/// }
///
/// let router = Router::new()
///     .layer(async_before(|ctx: &mut Context| {
///         Before::new(async move {
///             let token = ctx.query("token").unwrap_or_default().to_owned();
///             if let Some(user) = user_of(token).await {
///                 ctx.set(user);
///             }
///             Ok(())
///         })
///     }))
///     .websocket("/ws", echo);
/// # assert_eq!(router.len(), 1);
/// ```
pub fn async_before<F>(before: F) -> AsyncBefore<F>
where
    F: for<'a> Fn(&'a mut Context) -> Before<'a> + Send + Sync + 'static,
{
    AsyncBefore(before)
}

impl<F> Middleware for AsyncBefore<F>
where
    F: for<'a> Fn(&'a mut Context) -> Before<'a> + Send + Sync + 'static,
{
    fn before_async<'a>(&'a self, ctx: &'a mut Context) -> Before<'a> {
        (self.0)(ctx)
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
    /// A middleware rejected it with this status (503 for one that did not
    /// finish within the handshake timeout, 500 for one that panicked); no
    /// handler ran.
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
