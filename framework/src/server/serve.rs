//! One socket's life on the server: request head, routing, middleware,
//! plain HTTP response, SSE stream or WebSocket upgrade, then the handler
//! joined with the socket pump in the same task.

use core::net::SocketAddr;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, StatusCode};

#[cfg(feature = "_tls")]
use super::admission::TlsHandshakes;
use super::admission::{Admission, WebSockets};
use super::context::Context;
use super::middleware::{Chain, End};
use super::response::{IntoResponse, respond};
use super::router::Endpoint;
use super::{Service, reject};
use crate::connection::{Connection, Info, Pump, Shared};
use crate::error::Error;
use crate::hub::{ConnectionInfo, Protocol, Registration};
use crate::io_util::{close, read_some, with_deadline, write_all};
use crate::runtime::{Runtime, Transport};
use crate::user_code::{BoxFuture, CatchPanic, catch_panic, drop_quietly};
use tidings_core::close::CloseCode;
use tidings_core::head::HeadReader;
use tidings_core::route::Query;
use tidings_core::ws::{self, Role};

/// The future of a task serving one socket.
///
/// The request, routing, middleware and handshake run in a boxed future
/// that is freed once they are done: the task then keeps only what a
/// WebSocket connection needs for its life (a future's size is that of its
/// largest state, so an inline request phase would weigh on every idle
/// connection). The socket and the addresses go straight into that box, and
/// the task's future is written by hand: an `async fn` would keep its
/// by-value arguments, and an awaited output next to the local it is moved
/// to, in its state for its whole life.
pub(super) fn serve<R: Runtime, T: Transport>(
    service: Arc<Service>,
    io: T,
    remote_addr: Option<SocketAddr>,
    local_addr: Option<SocketAddr>,
    rt: R,
) -> impl Future<Output = ()> + Send + 'static {
    let request = Box::pin({
        let service = service.clone();
        async move {
            let deadline = rt.now() + service.config.handshake_timeout;
            let mut upgraded = None;
            let addrs = (remote_addr, local_addr);
            handle_request(&service, io, addrs, &rt, deadline, &mut upgraded).await;
            upgraded
        }
    });
    task(service, request)
}

/// [`serve`] over TLS: the task runs the TLS handshake (see
/// [`tls_handshake`]) before the request, in the same boxed request phase
/// and under the same deadline. A plain server never builds this future,
/// so its tasks are the same as without TLS.
#[cfg(feature = "_tls")]
pub(super) fn serve_tls<R: Runtime, T: Transport>(
    service: Arc<Service>,
    tls: Arc<rustls::ServerConfig>,
    io: T,
    remote_addr: Option<SocketAddr>,
    local_addr: Option<SocketAddr>,
    rt: R,
) -> impl Future<Output = ()> + Send + 'static {
    let request = Box::pin({
        let service = service.clone();
        async move {
            let deadline = rt.now() + service.config.handshake_timeout;
            let mut upgraded = None;
            if let Some(io) = tls_handshake(&service, tls, io, remote_addr, &rt, deadline).await {
                let addrs = (remote_addr, local_addr);
                handle_request(&service, io, addrs, &rt, deadline, &mut upgraded).await;
            }
            upgraded
        }
    });
    task(service, request)
}

/// The TLS handshake on an accepted socket, holding a slot of
/// [`ServerConfig::max_tls_handshakes`](super::ServerConfig::max_tls_handshakes)
/// and bounded by `deadline`; counted in the statistics, and a failure
/// logged (debug: failed handshakes from the internet are routine).
#[cfg(feature = "_tls")]
async fn tls_handshake<R: Runtime, T: Transport>(
    service: &Arc<Service>,
    tls: Arc<rustls::ServerConfig>,
    io: T,
    remote_addr: Option<SocketAddr>,
    rt: &R,
    deadline: Instant,
) -> Option<crate::tls::TlsStream<T>> {
    use crate::hub::TlsFailure;
    use crate::tls::HandshakeFailure;

    let counters = service.hub.counters();
    let result = match Admission::<TlsHandshakes>::acquire(service) {
        Some(_slot) => match with_deadline(rt, deadline, crate::tls::accept(tls, io)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(HandshakeFailure {
                reason: TlsFailure::Timeout,
                error: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "not finished within the handshake timeout",
                ),
            }),
        },
        // Dropping `io` closes the socket.
        None => Err(HandshakeFailure {
            reason: TlsFailure::Busy,
            error: std::io::Error::other("max_tls_handshakes handshakes already in progress"),
        }),
    };
    match result {
        Ok(stream) => {
            counters.tls_handshake();
            Some(stream)
        }
        Err(HandshakeFailure { reason, error }) => {
            counters.tls_failed(reason);
            tracing::debug!(
                remote_addr = ?remote_addr,
                reason = reason.as_str(),
                %error,
                "TLS handshake failed"
            );
            None
        }
    }
}

/// The task of a connection whose request phase is `request`, counted as
/// one of the service's tasks until it ends.
fn task<T, R: Runtime, F>(service: Arc<Service>, request: Pin<Box<F>>) -> Task<T, R, F> {
    service.task_started();
    Task {
        service,
        phase: TaskPhase::Request(request),
    }
}

/// A task serving one socket: the request phase, then the WebSocket
/// connection it may have upgraded to. Counted as one of the service's
/// tasks for as long as it lives.
struct Task<T, R: Runtime, F> {
    service: Arc<Service>,
    phase: TaskPhase<T, R, F>,
}

#[allow(
    clippy::large_enum_variant,
    reason = "the connection lives inline in the task: boxing it would add an allocation"
)]
enum TaskPhase<T, R: Runtime, F> {
    Request(Pin<Box<F>>),
    Upgraded(Upgraded<T, R>),
    Done,
}

impl<T: Transport, R: Runtime, F> Future for Task<T, R, F>
where
    F: Future<Output = Option<Upgraded<T, R>>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            match &mut this.phase {
                TaskPhase::Request(request) => match request.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    // Frees the request phase's box.
                    Poll::Ready(Some(upgraded)) => this.phase = TaskPhase::Upgraded(upgraded),
                    Poll::Ready(None) => this.phase = TaskPhase::Done,
                },
                TaskPhase::Upgraded(upgraded) => {
                    if Pin::new(upgraded).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.phase = TaskPhase::Done;
                }
                TaskPhase::Done => return Poll::Ready(()),
            }
        }
    }
}

impl<T, R: Runtime, F> Drop for Task<T, R, F> {
    fn drop(&mut self) {
        // The connection is gone before the task stops counting.
        self.phase = TaskPhase::Done;
        self.service.task_ended();
    }
}

/// A WebSocket connection after its handshake: the handler and the pump,
/// and what must live as long as they run.
struct Upgraded<T, R: Runtime> {
    // Dropped in this order, as locals of one function were before.
    session: Session<T, R>,
    observer: Connection,
    /// In the hub until the connection ends.
    _registration: Registration,
    /// Counts towards the server's connection limit.
    _slot: Admission<WebSockets>,
    /// The middleware that ran, if any; their `after` hooks run when it is
    /// dropped. (Boxed: most routes have none, and it is large.)
    chain: Option<Box<Chain>>,
}

impl<T: Transport, R: Runtime> Future for Upgraded<T, R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Pin::new(&mut this.session).poll(cx).is_pending() {
            return Poll::Pending;
        }
        if let (Some(closed), Some(chain)) = (this.observer.close_info(), this.chain.as_mut()) {
            chain.finish(End::Closed(closed));
        }
        Poll::Ready(())
    }
}

/// Serves the request on `io` (its head due by `deadline`); for a
/// WebSocket upgrade, stops after the handshake and leaves the connection
/// in `upgraded`.
async fn handle_request<R: Runtime, T: Transport>(
    service: &Arc<Service>,
    mut io: T,
    (remote_addr, local_addr): (Option<SocketAddr>, Option<SocketAddr>),
    rt: &R,
    deadline: Instant,
    upgraded: &mut Option<Upgraded<T, R>>,
) {
    let (request, leftover) =
        match with_deadline(rt, deadline, read_request(service, &mut io)).await {
            Ok(Ok(Some(head))) => head,
            // The peer went away before sending a whole head.
            Ok(Ok(None)) => return,
            Ok(Err(status)) => {
                return respond(
                    &mut io,
                    (status, status.canonical_reason().unwrap_or("bad request")).into_response(),
                )
                .await;
            }
            Err(_elapsed) => {
                return respond(
                    &mut io,
                    (
                        StatusCode::REQUEST_TIMEOUT,
                        "request head not received in time",
                    )
                        .into_response(),
                )
                .await;
            }
        };

    let Some((route, params)) = service.router.find(request.uri().path()) else {
        let response = (StatusCode::NOT_FOUND, "not found").into_response();
        if wants_stream(&request) {
            return reject(service, &mut io, response).await;
        }
        return respond(&mut io, response).await;
    };
    let streaming = !matches!(route.endpoint, Endpoint::Get(_));
    let mut ctx = Context {
        method: request.method().clone(),
        uri: request.uri().clone(),
        headers: request.headers().clone(),
        params,
        query: Query::parse(request.uri().query().unwrap_or("")),
        remote_addr,
        local_addr,
        route: route.info(),
        values: http::Extensions::new(),
        hub: service.hub.clone(),
        now: rt.now(),
    };
    let protocol = route.endpoint.protocol();
    // The middleware's `after` hooks run when `chain` is dropped.
    let mut chain = match Chain::start(&route.chain, &mut ctx, protocol, service.clock(rt)) {
        Ok(chain) => chain,
        Err(rejection) if streaming => return reject(service, &mut io, rejection).await,
        Err(rejection) => return respond(&mut io, rejection).await,
    };

    match &route.endpoint {
        #[cfg(feature = "webtransport")]
        Endpoint::WebTransport(_) => {
            let response = (
                StatusCode::BAD_REQUEST,
                "a WebTransport route: open it with an HTTP/3 extended CONNECT",
            )
                .into_response();
            chain.finish(End::Rejected(response.status()));
            reject(service, &mut io, response).await
        }
        Endpoint::Get(handler) => {
            if request.method() != Method::GET && request.method() != Method::HEAD {
                let mut response =
                    (StatusCode::METHOD_NOT_ALLOWED, "method not allowed").into_response();
                response.headers_mut().insert(
                    http::header::ALLOW,
                    http::HeaderValue::from_static("GET, HEAD"),
                );
                return respond(&mut io, response).await;
            }
            let head_only = request.method() == Method::HEAD;
            // A GET handler's response is written only once complete, so a
            // panic always finds nothing written yet: 500.
            let response = match catch_panic(|| handler.call(ctx)) {
                Some(future) => CatchPanic(future).await,
                None => None,
            };
            let mut response = response.unwrap_or_else(|| {
                (StatusCode::INTERNAL_SERVER_ERROR, "handler panicked").into_response()
            });
            chain.finish(End::Responded(response.status()));
            if head_only {
                let length = response.body().len();
                *response.body_mut() = Bytes::new();
                response.headers_mut().insert(
                    http::header::CONTENT_LENGTH,
                    http::HeaderValue::from(length),
                );
            }
            respond(&mut io, response).await;
        }
        Endpoint::Sse(handler) => {
            if request.method() != Method::GET {
                let mut response =
                    (StatusCode::METHOD_NOT_ALLOWED, "method not allowed").into_response();
                response
                    .headers_mut()
                    .insert(http::header::ALLOW, http::HeaderValue::from_static("GET"));
                return reject(service, &mut io, response).await;
            }
            // Whatever the client sent after the head is read and discarded
            // by the stream's pump; `leftover` is dropped with it.
            drop(leftover);
            let policy = route.options.slow_consumer.clone();
            if let Some(end) =
                super::sse::serve(service, io, ctx, handler.as_ref(), policy, rt, deadline).await
            {
                chain.finish(End::SseEnded(end));
            }
        }
        Endpoint::WebSocket(handler) => {
            if service.shutdown.is_set() {
                return reject(
                    service,
                    &mut io,
                    (StatusCode::SERVICE_UNAVAILABLE, "server shutting down").into_response(),
                )
                .await;
            }
            let Some(slot) = Admission::<WebSockets>::acquire(service) else {
                return reject(
                    service,
                    &mut io,
                    (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response(),
                )
                .await;
            };
            let accepted = match service.handshake.accept(&request) {
                Ok(accepted) => accepted,
                Err(rejection) => {
                    service.hub.counters().rejected(rejection.status());
                    let mut out = Vec::new();
                    rejection.encode(&mut out);
                    let _ = write_all(&mut io, &out).await;
                    return close(&mut io).await;
                }
            };
            let mut out = Vec::new();
            accepted.encode(&mut out);
            if with_deadline(rt, deadline, write_all(&mut io, &out))
                .await
                .is_err()
            {
                return;
            }

            let now = rt.now();
            let mut protocol = ws::Connection::new(Role::Server, service.websocket.clone(), now)
                .with_deflate(accepted.deflate);
            protocol.handle_input(now, &leftover);
            let id = service.next_stream_id("ws");
            let id: Arc<str> = Arc::from(id);
            let info = Info {
                id: id.clone(),
                remote_addr,
                local_addr,
                subprotocol: accepted.subprotocol.as_deref().map(Box::from),
            };
            let shared = Arc::new(Shared::new(
                info,
                service.connection_settings(rt),
                protocol,
                Some(service.hub.clone()),
            ));
            // In the hub (lookup, rooms, broadcast, statistics) until the
            // connection's task ends; registered before the first input is
            // parsed, so every received message is counted.
            let registration = service.hub.register(
                ConnectionInfo {
                    id,
                    protocol: Protocol::WebSocket,
                    route: route.pattern.shared_str().clone(),
                    remote_addr,
                    started_at: now,
                },
                shared.clone(),
                route.options.slow_consumer.clone(),
            );
            shared.lock().drain_events();
            let conn = Connection::from_shared(shared.clone());
            conn.set_values(ctx.values.clone());
            let observer = conn.clone();
            let pump = Pump::new(shared, io, rt.clone(), Some(service.shutdown.clone()));
            let session = Session {
                pump: Some(pump),
                handler: None,
                conn: conn.clone(),
            };
            // The handler's synchronous part (before its first `.await`) runs
            // in `call`; a panic there is caught like one in `poll`.
            let session = match catch_panic(|| handler.call(ctx, conn)) {
                Some(handler) => Session {
                    handler: Some(handler),
                    ..session
                },
                None => {
                    session.handler_panicked();
                    session
                }
            };
            *upgraded = Some(Upgraded {
                session,
                observer,
                _registration: registration,
                _slot: slot,
                chain: (!chain.is_empty()).then(|| Box::new(chain)),
            });
        }
    }
}

/// Reads the request head: `Ok(None)` if the peer closed first, `Err(status)`
/// for a head that breaks a limit or is malformed.
async fn read_request<T: Transport>(
    service: &Service,
    io: &mut T,
) -> Result<Option<(Request<()>, Bytes)>, StatusCode> {
    let mut reader = HeadReader::new(service.config.head_limits.clone());
    let mut buf = Vec::with_capacity(1024);
    loop {
        match reader.read_request(&buf) {
            Ok(Some((request, n))) => {
                let leftover = Bytes::copy_from_slice(buf.get(n..).unwrap_or_default());
                return Ok(Some((request, leftover)));
            }
            Ok(None) => {}
            Err(error) => return Err(error.status()),
        }
        match read_some(io, &mut buf, 4096).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
    }
}

/// Whether the request asks for a stream: a WebSocket upgrade or an event
/// stream (for counting a 404 as a rejected handshake).
fn wants_stream(request: &Request<()>) -> bool {
    let has = |name: http::header::HeaderName, token: &str| {
        request.headers().get_all(name).iter().any(|value| {
            value
                .to_str()
                .is_ok_and(|value| value.to_ascii_lowercase().contains(token))
        })
    };
    has(http::header::UPGRADE, "websocket") || has(http::header::ACCEPT, "text/event-stream")
}

/// The handler and the socket pump of one connection, polled together in
/// one task so a message goes socket → protocol → handler without a
/// cross-thread hand-off.
struct Session<T, R: Runtime> {
    pump: Option<Pump<T, R>>,
    handler: Option<BoxFuture<Result<(), Error>>>,
    conn: Connection,
}

impl<T: Transport, R: Runtime> Session<T, R> {
    /// Polls the pump; `after_handler` right after the handler ran, when
    /// only its output needs writing (see [`Pump::poll_output`]); else
    /// before the handler, if it still runs (see [`Pump::poll_before_handler`]).
    fn poll_pump(&mut self, cx: &mut TaskContext<'_>, after_handler: bool) {
        if let Some(pump) = self.pump.as_mut() {
            let done = if after_handler {
                pump.poll_output(cx)
            } else if self.handler.is_some() {
                pump.poll_before_handler(cx)
            } else {
                Pin::new(pump).poll(cx)
            };
            if done.is_ready() {
                self.pump = None;
            }
        }
    }

    /// Closes the connection after the handler panicked: 1011.
    fn handler_panicked(&self) {
        self.conn
            .start_close(CloseCode::INTERNAL_ERROR, HANDLER_PANICKED);
    }

    /// Closes the connection once the handler has returned: 1000, or 1011
    /// with the error as reason.
    fn handler_returned(&self, result: Result<(), Error>) {
        let (code, reason) = match &result {
            Ok(()) | Err(Error::Closed(_)) => (CloseCode::NORMAL, String::new()),
            Err(error) => (CloseCode::INTERNAL_ERROR, error.to_string()),
        };
        self.conn.start_close(code, ws::fit_close_reason(&reason));
    }
}

impl<T: Transport, R: Runtime> Future for Session<T, R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.poll_pump(cx, false);
        if let Some(handler) = this.handler.as_mut() {
            match catch_panic(|| handler.as_mut().poll(cx)) {
                Some(Poll::Ready(result)) => {
                    this.handler = None;
                    this.handler_returned(result);
                }
                Some(Poll::Pending) => {}
                None => {
                    drop_quietly(this.handler.take());
                    this.handler_panicked();
                }
            }
            // What the handler queued is written in this same poll.
            this.poll_pump(cx, true);
        }
        if this.pump.is_none() && this.handler.is_none() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// The close reason sent (with 1011) when a WebSocket handler panics.
pub(super) const HANDLER_PANICKED: &str = "handler panicked";

#[cfg(test)]
mod tests {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Instant;

    use super::*;
    use crate::server::{Router, ServerConfig};

    /// A runtime that is never run: only the futures' sizes are looked at.
    #[derive(Clone, Copy, Default)]
    struct Inert;

    impl Runtime for Inert {
        type Sleep = std::future::Pending<()>;
        fn sleep_until(&self, _deadline: Instant) -> Self::Sleep {
            std::future::pending()
        }
        fn spawn<F: Future<Output = ()> + Send + 'static>(&self, _task: F) {}
        fn now(&self) -> Instant {
            Instant::now()
        }
        fn fill_random(&self, buf: &mut [u8]) {
            buf.fill(4);
        }
    }

    /// A stream the size of a tokio TCP stream in its compatibility
    /// wrapper (40 bytes).
    #[allow(dead_code, reason = "only its size matters")]
    struct Socket([u64; 5]);

    impl futures_io::AsyncRead for Socket {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(0))
        }
    }

    impl futures_io::AsyncWrite for Socket {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// What an idle plain connection's task weighs besides its shared
    /// state: TLS support must not add to it (280 bytes before TLS came).
    #[test]
    fn a_plain_connection_task_stays_small() {
        let service = Service::new(Router::new(), ServerConfig::default());
        let task = serve(service, Socket([0; 5]), None, None, Inert);
        assert!(size_of_val(&task) <= 280, "{} bytes", size_of_val(&task));
    }

    /// A TLS connection's task holds rustls' connection state inline.
    #[cfg(feature = "_tls")]
    #[test]
    fn a_tls_connection_task_holds_the_rustls_state() {
        let service = Service::new(Router::new(), ServerConfig::default());
        let plain = size_of_val(&serve(service.clone(), Socket([0; 5]), None, None, Inert));
        let config = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(rustls::server::ResolvesServerCertUsingSni::new()));
        let task = serve_tls(service, Arc::new(config), Socket([0; 5]), None, None, Inert);
        let tls = size_of_val(&task);
        println!("task: plain {plain} bytes, TLS {tls} bytes");
        assert!(tls > plain);
    }
}
