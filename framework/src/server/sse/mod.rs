//! Server-Sent Events routes: the handler forms, the per-client
//! [`SseContext`], [`SseTopic`] fan-out with replay, and the per-connection
//! stream.
//!
//! An SSE route ([`Router::sse`](super::Router::sse)) answers `GET` with
//!
//! ```text
//! HTTP/1.1 200 OK
//! content-type: text/event-stream
//! cache-control: no-cache
//! x-accel-buffering: no
//! connection: close
//! ```
//!
//! (plus the headers of the route's [`RouteOptions::response_header`](super::RouteOptions::response_header)
//! and its middleware's [`Context::response_headers_mut`](super::Context::response_headers_mut),
//! e.g. CORS or `Set-Cookie`) and no `Content-Length` or chunked encoding:
//! the body is the event stream, and it ends when the connection closes
//! (so `Connection: close` says exactly that, even on a connection that
//! served kept-alive plain requests before). The body is never
//! compressed, and every event is written and flushed as soon as it is
//! queued; `X-Accel-Buffering: no` asks nginx-style proxies not to buffer
//! it. When [`SseConfig::retry`](super::SseConfig::retry) is set, the body
//! starts with a `retry:` field.
//!
//! Other methods get 405 (`Allow: GET`); beyond
//! [`SseConfig::max_connections`](super::SseConfig::max_connections) open
//! streams (counted apart from WebSocket connections) and during shutdown,
//! 503.
//!
//! The stream ends when the handler returns (after its queued events are
//! written), when the client goes away, when the client is too slow (see
//! [`SseConfig`](super::SseConfig)), or at server shutdown (after the queued
//! events are written). An error returned by the handler is not sent to the
//! client (it may hold internals); the stream just ends.

mod context;
mod stream;
mod topic;

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_core::Stream;
use http::{HeaderValue, Response, StatusCode, header};

pub use context::{SseClosed, SseContext};
use stream::Outbox;
pub use stream::SseEnd;
pub use topic::{RESET_EVENT, SseTopic, Subscription};

use super::admission::{Admission, SseStreams};
use super::middleware::{Chain, End};
use super::response::IntoResponse;
use super::{Context, Service, reject};
use crate::error::Error;
use crate::hub::{ConnectionInfo, Protocol, Registration, SlowConsumer};
use crate::io_util::{with_deadline, write_all};
use crate::runtime::{Runtime, Transport};
use crate::user_code::{BoxFuture, catch_panic};
use stream::{Pump, Session, Timings};
use tidings_core::sse::{Event, encode_retry};

/// An SSE handler: `async fn(SseContext) -> Result<(), Error>`, or a
/// stream of events made with [`Sse::from_stream`].
///
/// When it returns, the stream ends after what it queued is written.
pub trait SseHandler: Send + Sync + 'static {
    /// Runs the handler for one client.
    fn call(&self, ctx: SseContext) -> BoxFuture<Result<(), Error>>;
}

impl<F, Fut> SseHandler for F
where
    F: Fn(SseContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    fn call(&self, ctx: SseContext) -> BoxFuture<Result<(), Error>> {
        Box::pin(self(ctx))
    }
}

/// The stream form of an SSE handler: for each client, a function of its
/// [`SseContext`] makes a [`Stream`] of [`Event`]s, and every event it
/// yields is sent. The response ends when the stream ends; the stream is
/// dropped as soon as the client goes away.
///
/// ```
/// # use tidings_framework::server::{Router, Sse, SseContext};
/// # use tidings_framework::sse::Event;
/// // Any `futures_core::Stream<Item = Event>` works; here a fixed list.
/// struct Countdown(u32);
/// impl futures_core::Stream for Countdown {
///     type Item = Event;
///     fn poll_next(
///         mut self: std::pin::Pin<&mut Self>,
///         _cx: &mut std::task::Context<'_>,
///     ) -> std::task::Poll<Option<Event>> {
///         let n = self.0;
///         self.0 = n.saturating_sub(1);
///         std::task::Poll::Ready((n > 0).then(|| Event::new().event("tick").data(n.to_string())))
///     }
/// }
///
/// let router = Router::new().sse(
///     "/countdown",
///     Sse::from_stream(|ctx: &SseContext| {
///         Countdown(ctx.query("from").and_then(|n| n.parse().ok()).unwrap_or(3))
///     }),
/// );
/// # assert_eq!(router.len(), 1);
/// ```
pub struct Sse<F> {
    make: F,
}

impl<F> std::fmt::Debug for Sse<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sse")
    }
}

impl<F> Sse<F> {
    /// A handler that sends the events of the stream `make` returns for
    /// each client. An event that cannot be encoded (a line break in its
    /// name or id) ends the response with that error.
    pub fn from_stream<S>(make: F) -> Self
    where
        F: Fn(&SseContext) -> S + Send + Sync + 'static,
        S: Stream<Item = Event> + Send + 'static,
    {
        Sse { make }
    }
}

impl<F, S> SseHandler for Sse<F>
where
    F: Fn(&SseContext) -> S + Send + Sync + 'static,
    S: Stream<Item = Event> + Send + 'static,
{
    fn call(&self, ctx: SseContext) -> BoxFuture<Result<(), Error>> {
        let events = (self.make)(&ctx);
        Box::pin(async move {
            let mut events = pin!(events);
            loop {
                let next = poll_fn(|cx| {
                    if ctx.poll_closed(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    events.as_mut().poll_next(cx)
                })
                .await;
                let Some(event) = next else { return Ok(()) };
                match ctx.send(event).await {
                    Ok(()) => {}
                    Err(error) if error.is_closed() => return Ok(()),
                    Err(error) => return Err(error),
                }
            }
        })
    }
}

/// The response head of an SSE stream, served by tidings or embedded:
/// `200`, the event-stream type, no caching, no proxy buffering.
pub(super) fn response_head() -> Response<()> {
    let mut head = Response::new(());
    *head.status_mut() = StatusCode::OK;
    let headers = head.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    head
}

/// The response head of an SSE stream on tidings' server (with the route's
/// and its middleware's `extra` headers), and the `retry:` field if
/// configured.
fn stream_head(service: &Service, extra: &http::HeaderMap) -> Vec<u8> {
    let mut head = response_head();
    let headers = head.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    super::response::add_headers(headers, extra);
    let mut out = Vec::with_capacity(160);
    tidings_core::head::encode_response_head(&head, &mut out);
    if let Some(retry) = service.config.sse.retry {
        encode_retry(retry, &mut out);
    }
    out
}

/// Opens the stream of an SSE route once the request is routed and the
/// middleware has run: its admission, then its response head. Returns the
/// stream's slot, or `None` when it was refused (answered here) or the head
/// could not be written. Runs in the request phase; the stream itself
/// ([`run`]) runs after it.
pub(super) async fn open<R: Runtime, T: Transport>(
    service: &Arc<Service>,
    io: &mut T,
    ctx: &Context,
    rt: &R,
    deadline: Instant,
) -> Option<Admission<SseStreams>> {
    let slot = match admit(service) {
        Ok(slot) => slot,
        Err(response) => {
            reject(service, io, response).await;
            return None;
        }
    };
    let head = stream_head(service, &ctx.response_headers);
    if !matches!(
        with_deadline(rt, deadline, write_all(io, &head)).await,
        Ok(Ok(()))
    ) {
        return None;
    }
    Some(slot)
}

/// An SSE stream on tidings' server after its response head ([`open`]):
/// the stream ([`run`]), its slot, and the middleware that ran, told how
/// it ended. A future of its own rather than an `async` block, so that it
/// holds each of them once: the idle stream's box is its size.
pub(super) struct Served<T, R: Runtime> {
    // Dropped in this order, as they were when an `async` block held them.
    running: Option<Running<T, R>>,
    slot: Option<Admission<SseStreams>>,
    /// `None` when no middleware ran (dropping it would do nothing).
    chain: Option<Box<Chain>>,
}

impl<T: Transport, R: Runtime> Served<T, R> {
    /// `running` with its `slot`, and the `chain` to tell how it ended.
    pub(super) fn new(running: Running<T, R>, slot: Admission<SseStreams>, chain: Chain) -> Self {
        Served {
            running: Some(running),
            slot: Some(slot),
            chain: (!chain.is_empty()).then(|| Box::new(chain)),
        }
    }
}

impl<T: Transport, R: Runtime> Future for Served<T, R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(running) = this.running.as_mut() else {
            return Poll::Ready(());
        };
        let Poll::Ready(end) = Pin::new(running).poll(cx) else {
            return Poll::Pending;
        };
        this.running = None;
        this.slot = None;
        if let (Some(end), Some(chain)) = (end, this.chain.as_mut()) {
            chain.finish(End::SseEnded(end));
        }
        this.chain = None;
        Poll::Ready(())
    }
}

/// A slot of [`SseConfig::max_connections`](super::SseConfig::max_connections)
/// for a new stream, or the 503 to answer: beyond the limit, or during
/// shutdown.
#[allow(
    clippy::result_large_err,
    reason = "the refusal is the response to send, on the cold path"
)]
pub(super) fn admit(service: &Arc<Service>) -> Result<Admission<SseStreams>, Response<Bytes>> {
    if service.shutdown.is_set() {
        return Err((StatusCode::SERVICE_UNAVAILABLE, "server shutting down").into_response());
    }
    Admission::<SseStreams>::acquire(service)
        .ok_or_else(|| (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response())
}

/// Starts a stream whose response head is sent (by [`open`], or by the
/// HTTP server of an embedded one, see [`embed`](super::embed)): its hub
/// registration, the handler `handler` makes, joined with the pump that
/// writes its events to `io`. The future runs them until both are done and
/// tells why the stream ended.
pub(super) fn run<R: Runtime, T: Transport>(
    service: &Arc<Service>,
    io: T,
    ctx: Context,
    handler: impl FnOnce(SseContext) -> BoxFuture<Result<(), Error>>,
    policy: SlowConsumer,
    rt: &R,
) -> Running<T, R> {
    let outbox = Arc::new(Outbox::new(service.config.sse.buffer_size));
    let id = service.next_stream_id("sse");
    let info = ConnectionInfo {
        id: Arc::from(id.as_str()),
        protocol: Protocol::Sse,
        route: Arc::from(ctx.route.pattern.as_str()),
        remote_addr: ctx.remote_addr,
        started_at: rt.now(),
    };
    let span = super::connection_span(&id, &ctx.route.pattern, ctx.remote_addr, "sse");
    let sse_ctx = SseContext::new(id, ctx, outbox.clone());
    // In the hub (lookup, rooms, broadcast, statistics) until the stream's
    // task ends.
    let registration = service.hub.register(info, sse_ctx.recipient(), policy);
    let timings = Timings {
        // Zero would write keep-alive comments in a loop: treat it as off.
        keep_alive: service
            .config
            .sse
            .keep_alive
            .filter(|interval| !interval.is_zero()),
        send_timeout: service.config.sse.send_timeout,
    };
    let pump = Pump::new(
        outbox.clone(),
        io,
        rt.clone(),
        timings,
        service.hub.counters().clone(),
        service.shutdown.clone(),
    );
    // The handler's synchronous part runs in `handler`; a panic there ends
    // the stream like one in `poll` (see `catch_panic`).
    let handler = span.in_scope(|| catch_panic(|| handler(sse_ctx)));
    if handler.is_none() {
        outbox.end(SseEnd::HandlerPanicked);
    }
    Running {
        session: Session {
            pump: Some(pump),
            handler,
            outbox,
        },
        _registration: registration,
        span,
    }
}

/// A running SSE stream ([`run`]): its session, polled and dropped in its
/// span, and its hub registration. Ready with why it ended (`None` if it
/// never started).
pub(super) struct Running<T, R: Runtime> {
    // Dropped in this order, as `run`'s locals were when it was an `async
    // fn` (the session in its span, as `Instrumented` drops it).
    session: Session<T, R>,
    _registration: Registration,
    span: tracing::Span,
}

impl<T: Transport, R: Runtime> Future for Running<T, R> {
    type Output = Option<SseEnd>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<SseEnd>> {
        let this = self.get_mut();
        let entered = this.span.enter();
        if Pin::new(&mut this.session).poll(cx).is_pending() {
            return Poll::Pending;
        }
        drop(entered);
        let end = this.session.outbox.end_reason();
        if let Some(end) = &end {
            this.span.record("end", tracing::field::debug(end));
        }
        Poll::Ready(end)
    }
}

impl<T, R: Runtime> Drop for Running<T, R> {
    fn drop(&mut self) {
        // What is left of the session (nothing once it is done) goes in
        // the stream's span, in the order of its fields.
        let _entered = self.span.enter();
        self.session.pump = None;
        self.session.handler = None;
    }
}
