//! An accepted SSE request of an embedded server, and the response body its
//! stream is written to.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;

use super::pipe::{PipeReader, pipe};
use super::{Embedded, TaskCount};
use crate::error::Error;
use crate::hub::SlowConsumer;
use crate::runtime::Runtime;
use crate::server::admission::{Admission, SseStreams};
use crate::server::context::Context;
use crate::server::middleware::{Chain, End};
use crate::server::sse::{SseContext, SseHandler};
use crate::user_code::BoxFuture;
use tidings_core::sse::encode_retry;

/// An SSE request that tidings accepted (see the [module docs](super)):
/// the method was `GET`, the middleware passed, and it holds a slot of
/// [`SseConfig::max_connections`](crate::server::SseConfig::max_connections)
/// until its stream ends, or until it is dropped without running.
///
/// Send [`response`](Self::response) with the body that [`run`](Self::run)
/// or [`run_with`](Self::run_with) returns.
///
/// ```
/// use tidings_framework::http::{Request, Response};
/// use tidings_framework::runtime::Runtime;
/// use tidings_framework::server::embed::{Addrs, Embedded, SseBody};
///
/// /// The head and the body of a stream that says hello, or the refusal.
/// async fn hello<R: Runtime>(
///     tidings: &Embedded<R>,
///     request: &Request<()>,
/// ) -> Result<(Response<()>, SseBody), tidings_framework::server::Response> {
///     let accept = tidings.sse(request, Addrs::default(), "/hello").await?;
///     let head = accept.response();
///     let body = accept.run_with(|ctx| async move { ctx.send_event("hello", "world").await });
///     Ok((head, body))
/// }
/// ```
pub struct SseAccept<R: Runtime> {
    embedded: Embedded<R>,
    ctx: Context,
    chain: Chain,
    slot: Admission<SseStreams>,
    policy: SlowConsumer,
    /// The route's handler, for a request the router accepted.
    handler: Option<Arc<dyn SseHandler>>,
}

impl<R: Runtime> std::fmt::Debug for SseAccept<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseAccept")
            .field("path", &self.ctx.path())
            .field("route", &self.ctx.route().pattern)
            .finish()
    }
}

impl<R: Runtime> SseAccept<R> {
    pub(super) fn new(
        embedded: Embedded<R>,
        ctx: Context,
        chain: Chain,
        slot: Admission<SseStreams>,
        policy: SlowConsumer,
    ) -> Self {
        SseAccept {
            embedded,
            ctx,
            chain,
            slot,
            policy,
            handler: None,
        }
    }

    pub(super) fn with_handler(mut self, handler: Arc<dyn SseHandler>) -> Self {
        self.handler = Some(handler);
        self
    }

    /// The response head to send: `200 OK`, `Content-Type:
    /// text/event-stream`, `Cache-Control: no-cache` and
    /// `X-Accel-Buffering: no` (asking nginx-style proxies not to buffer).
    /// No `Content-Length`: the body is the stream. Do not compress it
    /// (a compressing layer buffers events).
    pub fn response(&self) -> http::Response<()> {
        let mut head = crate::server::sse::response_head();
        // The route's and the middleware's headers (never the stream's own).
        crate::server::response::add_headers(head.headers_mut(), &self.ctx.response_headers);
        head
    }

    /// The request's context, as the middleware left it.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The request's context, to attach values ([`Context::set`]) before
    /// the stream starts.
    pub fn context_mut(&mut self) -> &mut Context {
        &mut self.ctx
    }

    /// The `Last-Event-ID` request header (`None` if absent or empty): the
    /// id of the last event a reconnecting client received.
    pub fn last_event_id(&self) -> Option<&str> {
        self.ctx
            .headers()
            .get("last-event-id")
            .and_then(|value| std::str::from_utf8(value.as_bytes()).ok())
            .filter(|id| !id.is_empty())
    }

    /// Sets what happens to the stream when a broadcast overflows its
    /// queue (SSE streams are disconnected; see [`crate::hub`]).
    #[must_use]
    pub fn slow_consumer(mut self, policy: SlowConsumer) -> Self {
        self.policy = policy;
        self
    }

    /// Starts the route's handler in a task of its own (on the runtime)
    /// and returns the response body its events are written to. The
    /// stream ends when the handler returns (after its queued events), when
    /// the body is dropped (the client went away), when the client reads
    /// too slowly ([`SseConfig::send_timeout`](crate::server::SseConfig::send_timeout)),
    /// or at shutdown; keep-alive comments are sent while it is idle.
    ///
    /// A request accepted outside the router ([`Embedded::sse`]) has no
    /// route handler: its stream ends at once. Use
    /// [`run_with`](Self::run_with) for it.
    pub fn run(self) -> SseBody {
        match self.handler.clone() {
            Some(handler) => self.start(move |ctx| handler.call(ctx)),
            None => self.start(|_ctx| Box::pin(async { Ok(()) })),
        }
    }

    /// Starts `handler` like [`run`](Self::run).
    pub fn run_with<F, Fut>(self, handler: F) -> SseBody
    where
        F: FnOnce(SseContext) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.start(move |ctx| Box::pin(handler(ctx)))
    }

    fn start(
        self,
        handler: impl FnOnce(SseContext) -> BoxFuture<Result<(), Error>> + Send + 'static,
    ) -> SseBody {
        let SseAccept {
            embedded: Embedded { service, rt },
            ctx,
            mut chain,
            slot,
            policy,
            handler: _,
        } = self;
        let (writer, reader) = pipe(service.config.write_buffer_size);
        if let Some(retry) = service.config.sse.retry {
            let mut out = Vec::new();
            encode_retry(retry, &mut out);
            reader.preload(&out);
        }
        let count = TaskCount::new(&service);
        let spawn = rt.clone();
        spawn.spawn(async move {
            let _count = count;
            let _slot = slot;
            let end = crate::server::sse::run(&service, writer, ctx, handler, policy, &rt).await;
            if let Some(end) = end {
                chain.finish(End::SseEnded(end));
            }
        });
        SseBody { reader }
    }
}

/// The body of an embedded SSE response: a [`Stream`](futures_core::Stream)
/// of encoded events (`Bytes`, several events per chunk when they queued
/// up), ending with the stream. Dropping it ends the stream as if the
/// client went away.
pub struct SseBody {
    reader: PipeReader,
}

impl std::fmt::Debug for SseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseBody")
            .field("ended", &self.is_end())
            .finish()
    }
}

impl SseBody {
    /// The next chunk, or `None` at the end (the poll form of the
    /// [`Stream`](futures_core::Stream) implementation).
    pub fn poll_chunk(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<Bytes>> {
        self.reader.poll_chunk(cx)
    }

    /// Whether the stream has ended and every chunk was taken.
    pub fn is_end(&self) -> bool {
        self.reader.is_end()
    }
}

impl futures_core::Stream for SseBody {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Bytes>> {
        self.get_mut().reader.poll_chunk(cx)
    }
}
