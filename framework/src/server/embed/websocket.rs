//! An accepted WebSocket upgrade of an embedded server, and the task that
//! runs its connection once the embedding server has switched protocols.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use super::{Embedded, TaskCount};
use crate::connection::Connection;
use crate::error::Error;
use crate::hub::SlowConsumer;
use crate::runtime::{Runtime, Transport};
use crate::server::context::Context;
use crate::server::router::WebSocketHandler;
use crate::server::serve::{Opening, Upgraded, start_websocket};

/// A WebSocket upgrade that tidings accepted (see the
/// [module docs](super)): the handshake was valid, the middleware passed,
/// and it holds a slot of [`ServerConfig::max_connections`](crate::server::ServerConfig::max_connections)
/// until its connection ends, or until it is dropped without running.
///
/// Send [`response`](Self::response) (`101 Switching Protocols`), then run
/// the connection on the upgraded transport with [`run`](Self::run) or
/// [`run_with`](Self::run_with). Dropping it instead runs the middleware's
/// `after` hooks with [`End::NotStarted`](crate::server::middleware::End::NotStarted).
///
/// ```
/// use tidings_framework::http::{Request, Response};
/// use tidings_framework::runtime::{Runtime, Transport};
/// use tidings_framework::server::embed::{Addrs, Embedded, WebSocketTask};
///
/// /// The 101 to send, and the task to spawn once `io` is the upgraded
/// /// stream; or the refusal to send.
/// async fn upgrade<R: Runtime, T: Transport>(
///     tidings: &Embedded<R>,
///     request: &Request<()>,
///     io: T,
/// ) -> Result<(Response<()>, WebSocketTask<T, R>), tidings_framework::server::Response> {
///     let accept = tidings.websocket(request, Addrs::default(), "/ws/hello").await?;
///     let head = accept.response();
///     let task = accept.run_with(io, &[], |_ctx, conn| async move { conn.write("hello").await });
///     Ok((head, task))
/// }
/// ```
pub struct WebSocketAccept<R: Runtime> {
    embedded: Embedded<R>,
    opening: Opening,
    /// The route's handler, for an upgrade the router accepted.
    handler: Option<Arc<dyn WebSocketHandler>>,
}

impl<R: Runtime> std::fmt::Debug for WebSocketAccept<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketAccept")
            .field("path", &self.opening.ctx.path())
            .field("route", &self.opening.route)
            .field("subprotocol", &self.subprotocol())
            .field("deflate", &self.opening.accepted.deflate.is_some())
            .finish()
    }
}

impl<R: Runtime> WebSocketAccept<R> {
    pub(super) fn new(embedded: Embedded<R>, opening: Opening) -> Self {
        WebSocketAccept {
            embedded,
            opening,
            handler: None,
        }
    }

    pub(super) fn with_handler(mut self, handler: Arc<dyn WebSocketHandler>) -> Self {
        self.handler = Some(handler);
        self
    }

    /// The response head to send: `101 Switching Protocols` with
    /// `Upgrade`, `Connection`, `Sec-WebSocket-Accept` and, when
    /// negotiated, `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions`
    /// (permessage-deflate). Headers may be added (say `Set-Cookie`); the
    /// handshake's must be left as they are.
    pub fn response(&self) -> http::Response<()> {
        let head = &self.opening.accepted.response;
        let mut response = http::Response::new(());
        *response.status_mut() = head.status();
        *response.headers_mut() = head.headers().clone();
        // The route's and the middleware's headers (never the handshake's).
        crate::server::response::add_headers(
            response.headers_mut(),
            &self.opening.ctx.response_headers,
        );
        response
    }

    /// The runtime the connection will run on (to spawn its task).
    pub fn runtime(&self) -> &R {
        &self.embedded.rt
    }

    /// The subprotocol chosen from the client's offer and
    /// [`ServerConfig::subprotocols`](crate::server::ServerConfig::subprotocols),
    /// if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.opening.accepted.subprotocol.as_deref()
    }

    /// The request's context, as the middleware left it; the handler gets
    /// it, and the connection its values.
    pub fn context(&self) -> &Context {
        &self.opening.ctx
    }

    /// The request's context, to attach values
    /// ([`Context::set`]) before the connection starts.
    pub fn context_mut(&mut self) -> &mut Context {
        &mut self.opening.ctx
    }

    /// Sets what happens to the connection when its outbox overflows
    /// (default: close with 1013; see [`crate::hub`]).
    #[must_use]
    pub fn slow_consumer(mut self, policy: SlowConsumer) -> Self {
        self.opening.policy = policy;
        self
    }

    /// Runs the route's handler over `io`, the upgraded transport;
    /// `leftover` is what the embedding server read past the request head
    /// (often nothing). The returned task ends with the connection; spawn
    /// it.
    ///
    /// An upgrade accepted outside the router ([`Embedded::websocket`])
    /// has no route handler: its connection is closed at once with 1011.
    /// Use [`run_with`](Self::run_with) for it.
    pub fn run<T: Transport>(self, io: T, leftover: &[u8]) -> WebSocketTask<T, R> {
        match self.handler.clone() {
            Some(handler) => self.start(io, leftover, move |ctx, conn| handler.call(ctx, conn)),
            None => self.start(io, leftover, |_ctx, _conn| {
                Box::pin(async { Err(Error::other("no WebSocket handler: use run_with")) })
            }),
        }
    }

    /// Runs `handler` over `io`, like [`run`](Self::run). When the
    /// handler returns, the connection is closed with 1000, or with 1011
    /// and the error's text if it returned an error (as a route's).
    pub fn run_with<T, F, Fut>(self, io: T, leftover: &[u8], handler: F) -> WebSocketTask<T, R>
    where
        T: Transport,
        F: FnOnce(Context, Connection) -> Fut,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.start(io, leftover, move |ctx, conn| Box::pin(handler(ctx, conn)))
    }

    fn start<T: Transport>(
        self,
        io: T,
        leftover: &[u8],
        handler: impl FnOnce(Context, Connection) -> crate::user_code::BoxFuture<Result<(), Error>>,
    ) -> WebSocketTask<T, R> {
        let Embedded { service, rt } = self.embedded;
        let count = TaskCount::new(&service);
        let upgraded = start_websocket(&service, &rt, io, leftover, self.opening, handler);
        WebSocketTask {
            upgraded,
            _count: count,
        }
    }
}

/// A WebSocket connection of an embedded server, from its upgrade to its
/// end: the handler joined with the socket pump, as on tidings' own server
/// (see [`WebSocketAccept::run`]). Spawn it; it is counted among the
/// connections [`Embedded::shutdown`] waits for.
pub struct WebSocketTask<T, R: Runtime> {
    // Dropped before the count, as the server's task ends its connection
    // before it stops counting.
    upgraded: Upgraded<T, R>,
    _count: TaskCount,
}

impl<T, R: Runtime> std::fmt::Debug for WebSocketTask<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketTask").finish_non_exhaustive()
    }
}

impl<T: Transport, R: Runtime> Future for WebSocketTask<T, R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().upgraded).poll(cx)
    }
}
