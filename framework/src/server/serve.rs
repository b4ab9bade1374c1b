//! One socket's life on the server: request head, routing, middleware,
//! plain HTTP response, SSE stream or WebSocket upgrade, then the handler
//! joined with the socket pump in the same task.

use core::net::SocketAddr;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
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
use super::response::{
    IntoResponse, Response, add_headers, respond, respond_and_keep, respond_closing,
};
use super::router::{Endpoint, GetHandler};
use super::version::version_value;
use super::{Service, reject};
use crate::connection::{Connection, Info, Pump, Shared};
use crate::error::Error;
use crate::hub::{ConnectionInfo, Listing, Protocol, SlowConsumer};
use crate::io_util::{close, read_some, with_deadline, write_all};
use crate::runtime::{Runtime, Transport};
use crate::user_code::{BoxFuture, CatchPanic, catch_panic, drop_quietly};
use tidings_core::body::{self, BodyDecoder, Framing};
use tidings_core::close::CloseCode;
use tidings_core::handshake::{Accepted, Rejection};
use tidings_core::head::HeadReader;
use tidings_core::route::Query;
use tidings_core::ws::{self, Role};

/// The future of a task serving one socket.
///
/// The request, routing, middleware and handshake run in a boxed future
/// that is freed once they are done: the task then keeps only what a
/// WebSocket connection (or, boxed, an SSE stream) needs for its life (a future's size is that of its
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
    serve_version(
        service,
        io,
        remote_addr,
        local_addr,
        rt,
        http::Version::HTTP_11,
    )
}

/// [`serve`] for a request that arrived over HTTP `version` (an HTTP/2
/// stream is served as a socket of its own, one request long: see
/// `server::h2`); the version is one of the request's [`Context`] values,
/// and so of its WebSocket connection's.
pub(super) fn serve_version<R: Runtime, T: Transport>(
    service: Arc<Service>,
    io: T,
    remote_addr: Option<SocketAddr>,
    local_addr: Option<SocketAddr>,
    rt: R,
    version: http::Version,
) -> impl Future<Output = ()> + Send + 'static {
    let request = Box::pin({
        let service = service.clone();
        async move {
            let deadline = rt.now() + service.config.handshake_timeout;
            let mut upgraded = None;
            let addrs = (remote_addr, local_addr);
            handle_request(&service, io, addrs, &rt, deadline, &mut upgraded, version).await;
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
                #[cfg(feature = "http2")]
                if io.get_ref().1.alpn_protocol() == Some(super::h2::ALPN_H2) {
                    let stream = |io| {
                        let version = http::Version::HTTP_2;
                        serve_version(
                            service.clone(),
                            io,
                            remote_addr,
                            local_addr,
                            rt.clone(),
                            version,
                        )
                    };
                    super::h2::serve_connection(&service, io, remote_addr, (&rt, deadline), stream)
                        .await;
                    return None;
                }
                let version = http::Version::HTTP_11;
                handle_request(&service, io, addrs, &rt, deadline, &mut upgraded, version).await;
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
/// connection it may have upgraded to or the SSE stream it opened. Counted as one of the service's
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
    Sse(BoxFuture<()>),
    Done,
}

#[allow(
    clippy::large_enum_variant,
    reason = "moved once into the task's phase, where the connection lives inline"
)]
/// What the request phase hands the task when it is done with the socket
/// but the connection lives on (its box is freed then, see [`serve`]).
pub(super) enum Handoff<T, R: Runtime> {
    /// A WebSocket connection after its handshake.
    WebSocket(Upgraded<T, R>),
    /// An SSE stream after its response head: in a box of its own, the
    /// size of the stream's state, not of the request phase's largest.
    Sse(BoxFuture<()>),
}

impl<T: Transport, R: Runtime, F> Future for Task<T, R, F>
where
    F: Future<Output = Option<Handoff<T, R>>>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            match &mut this.phase {
                TaskPhase::Request(request) => match request.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    // Frees the request phase's box.
                    Poll::Ready(Some(Handoff::WebSocket(upgraded))) => {
                        this.phase = TaskPhase::Upgraded(upgraded);
                    }
                    Poll::Ready(Some(Handoff::Sse(stream))) => this.phase = TaskPhase::Sse(stream),
                    Poll::Ready(None) => this.phase = TaskPhase::Done,
                },
                TaskPhase::Upgraded(upgraded) => {
                    if Pin::new(upgraded).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.phase = TaskPhase::Done;
                }
                TaskPhase::Sse(stream) => {
                    if stream.as_mut().poll(cx).is_pending() {
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
pub(super) struct Upgraded<T, R: Runtime> {
    // Dropped in this order, as locals of one function were before.
    /// Its connection handle also tells how the connection ended.
    session: Session<T, R>,
    /// In the hub, and counted towards the server's connection limit,
    /// until the connection ends.
    _admitted: Admitted,
    /// The middleware that ran and the connection's span, when there is
    /// middleware or a subscriber wants the span (else `None`: boxed, so
    /// the idle connection's task does not grow for them).
    after: Option<Box<After>>,
}

/// A WebSocket connection's registration in the hub and its slot of the
/// server's connection limit, given back in that order when dropped: one
/// pointer to the service (through which the hub is reached) where a
/// [`Registration`](crate::hub::Registration) and an [`Admission`] would
/// hold two, 8 bytes less in every connection's task.
struct Admitted {
    shared: Arc<Shared>,
    slot: Admission<WebSockets>,
}

impl Admitted {
    /// Registers `shared` in the hub for as long as `slot` is held.
    fn register(shared: Arc<Shared>, slot: Admission<WebSockets>) -> Self {
        slot.service().hub.insert_listed(shared.clone());
        Admitted { shared, slot }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        // Then the slot, when its field is dropped.
        self.slot.service().hub.remove_listed(&*self.shared);
    }
}

/// What a WebSocket connection keeps for its end: the middleware that ran
/// (their `after` hooks run when it is dropped) and the connection's span
/// (see [`connection_span`](super::connection_span)).
struct After {
    chain: Chain,
    span: tracing::Span,
}

impl<T: Transport, R: Runtime> Future for Upgraded<T, R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        {
            let _entered = this.after.as_ref().map(|after| after.span.enter());
            if Pin::new(&mut this.session).poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        if let (Some(closed), Some(after)) = (this.session.conn.close_info(), this.after.as_mut()) {
            after
                .span
                .record("close_code", u16::from(closed.code()))
                .record("end", tracing::field::debug(&closed.cause));
            after.chain.finish(End::Closed(closed));
        }
        Poll::Ready(())
    }
}

/// Serves the requests on `io`, the first one's head due by `deadline`:
/// plain requests one after the other while the connection is kept alive
/// (pipelined ones in order), until one is answered with `Connection:
/// close`, the peer leaves or stays idle, or a request opens an SSE stream
/// or a WebSocket connection. For a WebSocket upgrade, stops after the
/// handshake and leaves the connection in `upgraded`; for an SSE stream,
/// leaves the stream there (admitted, its head not written yet).
async fn handle_request<R: Runtime, T: Transport>(
    service: &Arc<Service>,
    mut io: T,
    (remote_addr, local_addr): (Option<SocketAddr>, Option<SocketAddr>),
    rt: &R,
    mut deadline: Instant,
    upgraded: &mut Option<Handoff<T, R>>,
    version: http::Version,
) {
    // What was read and not used yet: the rest of a head, a body, the
    // requests pipelined after it, the first WebSocket frames.
    let mut buf = Vec::with_capacity(1024);
    let mut served = 0;
    loop {
        if served > 0 {
            if !next_request(service, &mut io, &mut buf, rt).await {
                return close(&mut io).await;
            }
            deadline = rt.now() + service.config.handshake_timeout;
        }
        served += 1;
        let request =
            match with_deadline(rt, deadline, read_request(service, &mut io, &mut buf)).await {
                Ok(Ok(Some(request))) => request,
                // The peer went away before sending a whole head.
                Ok(Ok(None)) => return,
                Ok(Err(status)) => return respond(&mut io, status_response(status)).await,
                Err(_elapsed) => {
                    let timeout = (
                        StatusCode::REQUEST_TIMEOUT,
                        "request head not received in time",
                    );
                    return respond(&mut io, timeout.into_response()).await;
                }
            };
        let head_only = request.method() == Method::HEAD;
        let framing = body::request_framing(request.headers());
        // A plain response leaves the connection open for the next request
        // only if this one's end is known: it has no body, or (POST) its
        // body was read.
        let unread_body = !matches!(framing, Ok(framing) if !framing.has_body());
        // An HTTP/2 stream carries one request.
        let keep_alive = version != http::Version::HTTP_2 && keep_alive(service, &request, served);

        let found = service
            .router
            .find_for(request.method(), request.uri().path());
        let Some((route, params)) = found else {
            let response = (StatusCode::NOT_FOUND, "not found").into_response();
            if wants_stream(&request) {
                return reject(service, &mut io, response).await;
            }
            if answer(&mut io, &response, keep_alive && !unread_body, head_only).await {
                continue;
            }
            return;
        };
        let streaming = matches!(route.endpoint, Endpoint::WebSocket(_) | Endpoint::Sse(_));
        let mut ctx = Context {
            method: request.method().clone(),
            uri: request.uri().clone(),
            headers: request.headers().clone(),
            params,
            query: Query::parse(request.uri().query().unwrap_or("")),
            remote_addr,
            local_addr,
            route: route.info(),
            values: version_value(version),
            response_headers: route.options.response_headers.clone(),
            hub: service.hub.clone(),
            now: rt.now(),
        };
        let protocol = route.endpoint.protocol();
        // The middleware's `after` hooks run when `chain` is dropped.
        let started = Chain::start(
            &route.chain,
            &mut ctx,
            protocol,
            (rt, deadline),
            service.clock(rt),
        );
        let mut chain = match started.await {
            Ok(chain) => chain,
            Err(mut rejection) => {
                add_headers(rejection.headers_mut(), &ctx.response_headers);
                if streaming {
                    return reject(service, &mut io, rejection).await;
                }
                if answer(&mut io, &rejection, keep_alive && !unread_body, head_only).await {
                    continue;
                }
                return;
            }
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
                return reject(service, &mut io, response).await;
            }
            Endpoint::Get(handler) => {
                if !route.endpoint.accepts(request.method()) {
                    let response = method_not_allowed("GET, HEAD");
                    if answer(&mut io, &response, keep_alive && !unread_body, false).await {
                        continue;
                    }
                    return;
                }
                let (response, panicked) = get_response(handler.as_ref(), ctx, &mut chain).await;
                let keep = keep_alive && !unread_body && !panicked;
                if answer(&mut io, &response, keep, head_only).await {
                    continue;
                }
                return;
            }
            Endpoint::Post(handler) => {
                if !route.endpoint.accepts(request.method()) {
                    let response = method_not_allowed("POST");
                    if answer(&mut io, &response, keep_alive && !unread_body, head_only).await {
                        continue;
                    }
                    return;
                }
                let decoder = match framing {
                    Ok(Framing::None) => Err(StatusCode::LENGTH_REQUIRED),
                    Ok(framing) => BodyDecoder::new(framing, service.config.max_body_size)
                        .map_err(|error| error.status()),
                    Err(error) => Err(error.status()),
                };
                let decoder = match decoder {
                    Ok(decoder) => decoder,
                    Err(status) => {
                        chain.finish(End::Responded(status));
                        return respond(&mut io, status_response(status)).await;
                    }
                };
                if expects_continue(&request) && buf.is_empty() && !decoder.is_done() {
                    let sent = with_deadline(rt, deadline, write_all(&mut io, CONTINUE)).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        return;
                    }
                }
                let read = read_body(&mut io, &mut buf, decoder);
                let body = match with_deadline(rt, deadline, read).await {
                    Ok(Ok(body)) => body,
                    // The peer left mid-body.
                    Ok(Err(None)) => return,
                    Ok(Err(Some(status))) => {
                        chain.finish(End::Responded(status));
                        return respond(&mut io, status_response(status)).await;
                    }
                    Err(_elapsed) => {
                        let status = StatusCode::REQUEST_TIMEOUT;
                        chain.finish(End::Responded(status));
                        let timeout = (status, "request body not received in time");
                        return respond(&mut io, timeout.into_response()).await;
                    }
                };
                let extra_headers = std::mem::take(&mut ctx.response_headers);
                let call = catch_panic(|| handler.call(ctx, body));
                let (mut response, panicked) = plain_response(call).await;
                add_headers(response.headers_mut(), &extra_headers);
                chain.finish(End::Responded(response.status()));
                if answer(&mut io, &response, keep_alive && !panicked, false).await {
                    continue;
                }
                return;
            }
            Endpoint::Sse(handler) => {
                if request.method() != Method::GET {
                    return reject(service, &mut io, method_not_allowed("GET")).await;
                }
                // Whatever the client sent after the head is read and
                // discarded by the stream's pump; `buf` is dropped with it.
                drop(buf);
                let Some(slot) = super::sse::open(service, &mut io, &ctx, rt, deadline).await
                else {
                    return;
                };
                let policy = route.options.slow_consumer.clone();
                let running =
                    super::sse::run(service, io, ctx, |ctx| handler.call(ctx), policy, rt);
                // The stream runs after the request phase, in its own box.
                let served = super::sse::Served::new(running, slot, chain);
                *upgraded = Some(Handoff::Sse(Box::pin(served)));
                return;
            }
            Endpoint::WebSocket(handler) => {
                let subprotocols = route.options.subprotocols.as_deref();
                let (mut accepted, slot) = match admit_websocket(service, &request, subprotocols) {
                    Ok(admitted) => admitted,
                    Err(refusal @ WebSocketRefusal::Busy(_)) => {
                        return respond(&mut io, refusal.into_response()).await;
                    }
                    Err(WebSocketRefusal::Handshake(rejection)) => {
                        let mut out = Vec::new();
                        rejection.encode(&mut out);
                        let _ = write_all(&mut io, &out).await;
                        return close(&mut io).await;
                    }
                };
                add_headers(accepted.response.headers_mut(), &ctx.response_headers);
                let mut out = Vec::new();
                accepted.encode(&mut out);
                if with_deadline(rt, deadline, write_all(&mut io, &out))
                    .await
                    .is_err()
                {
                    return;
                }

                let opening = Opening {
                    accepted,
                    route: route.pattern.shared_str().clone(),
                    policy: route.options.slow_consumer.clone(),
                    ctx,
                    chain,
                    slot,
                };
                *upgraded = Some(Handoff::WebSocket(start_websocket(
                    service,
                    rt,
                    io,
                    &buf,
                    opening,
                    |ctx, conn| handler.call(ctx, conn),
                )));
                return;
            }
        }
    }
}

/// The response of a plain GET route's handler (500 if it panicked, then
/// `true`), with the route's and middleware's extra headers; recorded in
/// `chain`. The caller checks the method and leaves out the body of a
/// `HEAD` answer.
pub(super) async fn get_response(
    handler: &dyn GetHandler,
    mut ctx: Context,
    chain: &mut Chain,
) -> (Response, bool) {
    let extra_headers = std::mem::take(&mut ctx.response_headers);
    // A plain handler's response is written only once complete, so a panic
    // always finds nothing written yet: 500.
    let call = catch_panic(|| handler.call(ctx));
    let (mut response, panicked) = plain_response(call).await;
    add_headers(response.headers_mut(), &extra_headers);
    chain.finish(End::Responded(response.status()));
    (response, panicked)
}

/// Why a WebSocket upgrade was refused (already counted as a rejected
/// handshake): shutting down or at the connection limit (503), or the
/// handshake itself (its rejection, sent as the core encodes it).
pub(super) enum WebSocketRefusal {
    /// 503, for this reason: shutting down, or too many connections.
    Busy(&'static str),
    /// The request is not an acceptable upgrade.
    Handshake(Rejection),
}

impl WebSocketRefusal {
    /// The response to send.
    pub(super) fn into_response(self) -> Response {
        match self {
            WebSocketRefusal::Busy(reason) => {
                (StatusCode::SERVICE_UNAVAILABLE, reason).into_response()
            }
            WebSocketRefusal::Handshake(rejection) => rejection.response().map(Bytes::from),
        }
    }
}

/// Admits a WebSocket upgrade, for the native server and an embedded one
/// alike: not during shutdown, within the connection limit, and the
/// handshake checked against `subprotocols` (a route's; `None`: the
/// server's). A refusal is counted as a rejected handshake.
pub(super) fn admit_websocket<B>(
    service: &Arc<Service>,
    request: &Request<B>,
    subprotocols: Option<&[String]>,
) -> Result<(Accepted, Admission<WebSockets>), WebSocketRefusal> {
    let busy = |reason: &'static str| {
        service
            .hub
            .counters()
            .rejected(StatusCode::SERVICE_UNAVAILABLE);
        WebSocketRefusal::Busy(reason)
    };
    if service.shutdown.is_set() {
        return Err(busy("server shutting down"));
    }
    let slot =
        Admission::<WebSockets>::acquire(service).ok_or_else(|| busy("too many connections"))?;
    let subprotocols = subprotocols.unwrap_or(&service.handshake.subprotocols);
    match service.handshake.accept_offering(request, subprotocols) {
        Ok(accepted) => Ok((accepted, slot)),
        Err(rejection) => {
            service.hub.counters().rejected(rejection.status());
            Err(WebSocketRefusal::Handshake(rejection))
        }
    }
}

/// A WebSocket handshake the server accepted, with what its connection
/// keeps: the request's context and middleware, its admission slot.
pub(super) struct Opening {
    /// The accepted handshake: deflate parameters, subprotocol.
    pub(super) accepted: Accepted,
    /// The route pattern the hub records (see [`ConnectionInfo::route`]).
    pub(super) route: Arc<str>,
    /// The route's slow-consumer policy.
    pub(super) policy: SlowConsumer,
    pub(super) ctx: Context,
    pub(super) chain: Chain,
    pub(super) slot: Admission<WebSockets>,
}

/// Starts the connection of an `opening` whose `101` has been sent: its
/// protocol state (fed `leftover`, the bytes read after the request head),
/// its hub registration, tracing span and pump on `io`, and the handler
/// `handler` makes. The server's task and an embedded one
/// ([`embed`](super::embed)) poll the returned future until the
/// connection ends.
pub(super) fn start_websocket<T: Transport, R: Runtime>(
    service: &Arc<Service>,
    rt: &R,
    io: T,
    leftover: &[u8],
    opening: Opening,
    handler: impl FnOnce(Context, Connection) -> BoxFuture<Result<(), Error>>,
) -> Upgraded<T, R> {
    let Opening {
        accepted,
        route,
        policy,
        ctx,
        chain,
        slot,
    } = opening;
    let (remote_addr, local_addr) = (ctx.remote_addr, ctx.local_addr);
    let now = rt.now();
    let mut protocol = ws::Connection::new(Role::Server, service.websocket.clone(), now)
        .with_deflate(accepted.deflate);
    protocol.handle_input(now, leftover);
    let id = service.next_stream_id("ws");
    let span = super::connection_span(&id, &route, remote_addr, "websocket");
    let info = ConnectionInfo {
        id: Arc::from(id),
        protocol: Protocol::WebSocket,
        route,
        remote_addr,
        started_at: now,
    };
    let encoding = service.hub.ws_encoding(&protocol);
    let info = Info {
        listing: Box::new(Listing::new(info, policy, encoding)),
        local_addr,
        subprotocol: accepted
            .subprotocol
            .as_deref()
            .map(|name| Box::new(Box::from(name))),
    };
    let shared = Arc::new(Shared::new(info, service.connection_settings(rt), protocol));
    // In the hub (lookup, rooms, broadcast, statistics) until the
    // connection's task ends; registered before the first input is
    // parsed, so every received message is counted.
    let admitted = Admitted::register(shared.clone(), slot);
    shared.lock().drain_events();
    let conn = Connection::from_shared(shared.clone());
    conn.set_values(ctx.values.clone());
    let pump = Pump::new(shared, io, rt.clone());
    let session = Session {
        pump: Some(pump),
        handler: None,
        conn: conn.clone(),
    };
    // The handler's synchronous part (before its first `.await`) runs in
    // `handler`; a panic there is caught like one in `poll`.
    let session = match span.in_scope(|| catch_panic(|| handler(ctx, conn))) {
        Some(handler) => Session {
            handler: Some(handler),
            ..session
        },
        None => {
            session.handler_panicked();
            session
        }
    };
    Upgraded {
        session,
        _admitted: admitted,
        after: (!chain.is_empty() || !span.is_disabled()).then(|| Box::new(After { chain, span })),
    }
}

/// Reads the next request head from `buf` and then `io`, leaving what
/// follows it in `buf`: `Ok(None)` if the peer closed first, `Err(status)`
/// for a head that breaks a limit or is malformed.
async fn read_request<T: Transport>(
    service: &Service,
    io: &mut T,
    buf: &mut Vec<u8>,
) -> Result<Option<Request<()>>, StatusCode> {
    let mut reader = HeadReader::new(service.config.head_limits.clone());
    loop {
        match reader.read_request(buf) {
            Ok(Some((request, n))) => {
                buf.drain(..n);
                return Ok(Some(request));
            }
            Ok(None) => {}
            Err(error) => return Err(error.status()),
        }
        match read_some(io, buf, 4096).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
    }
}

/// Waits for the first bytes of the next request on a kept-alive
/// connection (there already when it was pipelined): at most
/// [`keep_alive_idle`](super::ServerConfig::keep_alive_idle), and not past
/// the start of a shutdown. Returns whether some came.
async fn next_request<R: Runtime, T: Transport>(
    service: &Service,
    io: &mut T,
    buf: &mut Vec<u8>,
    rt: &R,
) -> bool {
    if !buf.is_empty() {
        return true;
    }
    let idle = rt.now() + service.config.keep_alive_idle;
    let mut read = pin!(read_some(io, buf, 4096));
    let mut stop = pin!(service.shutdown.wait());
    let more = poll_fn(|cx| {
        if stop.as_mut().poll(cx).is_ready() {
            return Poll::Ready(false);
        }
        read.as_mut()
            .poll(cx)
            .map(|read| matches!(read, Ok(n) if n > 0))
    });
    with_deadline(rt, idle, more).await == Ok(true)
}

/// Whether the connection may serve another request after `request`, the
/// `served`th on it: keep-alive is on, the request asks for it (HTTP/1.1
/// unless `Connection: close`; HTTP/1.0 only with `Connection:
/// keep-alive`), the per-connection limit is not reached, and the server
/// is not shutting down.
fn keep_alive(service: &Service, request: &Request<()>, served: usize) -> bool {
    let config = &service.config;
    if config.keep_alive_idle.is_zero()
        || served >= config.max_requests_per_connection
        || service.shutdown.is_set()
    {
        return false;
    }
    let says = |token: &str| {
        request
            .headers()
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    };
    match request.version() {
        _ if says("close") => false,
        http::Version::HTTP_11 => true,
        http::Version::HTTP_10 => says("keep-alive"),
        _ => false,
    }
}

/// Writes a plain response, keeping the connection (`keep_alive`) or
/// closing it; returns whether the connection serves another request.
async fn answer<T: Transport>(
    io: &mut T,
    response: &super::Response,
    keep_alive: bool,
    head_only: bool,
) -> bool {
    if keep_alive {
        return respond_and_keep(io, response, head_only).await;
    }
    respond_closing(io, response, head_only).await;
    false
}

/// The response of a plain handler, `call` being `None` if calling it
/// panicked: a panic (when called or polled) answers 500, and `true` says
/// so (the connection is then closed).
async fn plain_response(call: Option<BoxFuture<super::Response>>) -> (super::Response, bool) {
    let response = match call {
        Some(future) => CatchPanic(future).await,
        None => None,
    };
    match response {
        Some(response) => (response, false),
        None => {
            let panicked = (StatusCode::INTERNAL_SERVER_ERROR, "handler panicked");
            (panicked.into_response(), true)
        }
    }
}

/// A plain-text response with `status` and its reason phrase.
fn status_response(status: StatusCode) -> super::Response {
    (status, status.canonical_reason().unwrap_or("bad request")).into_response()
}

/// 405 with `Allow: allow`.
pub(super) fn method_not_allowed(allow: &'static str) -> super::Response {
    let mut response = (StatusCode::METHOD_NOT_ALLOWED, "method not allowed").into_response();
    response
        .headers_mut()
        .insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
    response
}

/// The interim response to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Whether the request waits for `100 Continue` before sending its body.
fn expects_continue(request: &Request<()>) -> bool {
    request
        .headers()
        .get(http::header::EXPECT)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Reads a request body with `decoder` from `buf` and then `io`, leaving
/// what follows it in `buf`: `Err(Some(status))` for a body too large (413)
/// or malformed (400), `Err(None)` if the peer left first.
async fn read_body<T: Transport>(
    io: &mut T,
    buf: &mut Vec<u8>,
    mut decoder: BodyDecoder,
) -> Result<Bytes, Option<StatusCode>> {
    let mut body = Vec::new();
    loop {
        let used = decoder
            .decode(buf, &mut body)
            .map_err(|error| Some(error.status()))?;
        buf.drain(..used);
        if decoder.is_done() {
            return Ok(Bytes::from(body));
        }
        match read_some(io, buf, 16 << 10).await {
            Ok(0) | Err(_) => return Err(None),
            Ok(_) => {}
        }
    }
}

/// Whether the request asks for a stream: a WebSocket upgrade or an event
/// stream (for counting a 404 as a rejected handshake).
pub(super) fn wants_stream<B>(request: &Request<B>) -> bool {
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

    /// A stream the size of tidings-tokio's `TokioStream` (a tokio
    /// `TcpStream`, 32 bytes; 40 while it was wrapped in tokio-util's
    /// `Compat`), whose peer sends `request` and then nothing (its reads
    /// wait).
    struct Socket {
        request: &'static [u8],
        _size: [u64; 2],
    }

    impl Socket {
        fn sending(request: &'static [u8]) -> Self {
            Socket {
                request,
                _size: [0; 2],
            }
        }
    }

    impl futures_io::AsyncRead for Socket {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            if self.request.is_empty() {
                return Poll::Pending;
            }
            let n = buf.len().min(self.request.len());
            buf[..n].copy_from_slice(&self.request[..n]);
            self.request = &self.request[n..];
            Poll::Ready(Ok(n))
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
    /// state: TLS support must not add to it (280 bytes with a 40-byte
    /// socket before TLS came; 312 once the pump kept a buffer of its own to
    /// swap with the protocol's; 280 again since its deadline is a key in
    /// the server's timer wheel; 272 with tokio's 32-byte socket; 152 since
    /// the pump's write state is boxed at the first write, its phase and
    /// shutdown slot share the flags' word and the hub registration shares
    /// the admission's pointer). tokio (1.54, x86-64) allocates a task as
    /// one cell, its header, scheduler handle, id, stage tag and trailer
    /// (104 bytes) around the future, aligned to and rounded up to 128
    /// bytes: a future of up to 152 bytes takes 256, one byte more 384
    /// (measured: the cell's layout for futures of 152, 160, 280 and 288
    /// bytes). 384 instead of 256 cost 127 bytes per idle connection in
    /// bench/run's memory part (issue #20, point 6): the limit is that
    /// step, with no byte to spare.
    #[test]
    fn a_plain_connection_task_stays_small() {
        let service = Service::new(Router::new(), ServerConfig::default());
        let task = serve(service, Socket::sending(b""), None, None, Inert);
        println!("plain connection task: {} bytes", size_of_val(&task));
        assert!(size_of_val(&task) <= 152, "{} bytes", size_of_val(&task));
    }

    /// An open SSE stream leaves the request phase's box (the size of its
    /// largest state, several kilobytes) like a WebSocket connection does,
    /// and lives in a box of its own, the size of what it holds.
    #[test]
    fn an_sse_stream_runs_after_the_request_phase() {
        let router = Router::new().sse("/feed", |ctx: crate::server::SseContext| async move {
            ctx.closed().await;
            Ok(())
        });
        let service = Service::new(router, ServerConfig::default());
        let io =
            Socket::sending(b"GET /feed HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n");
        let request = Box::pin({
            let service = service.clone();
            async move {
                let mut upgraded = None;
                let deadline = Inert.now() + service.config.handshake_timeout;
                let version = http::Version::HTTP_11;
                handle_request(
                    &service,
                    io,
                    (None, None),
                    &Inert,
                    deadline,
                    &mut upgraded,
                    version,
                )
                .await;
                upgraded
            }
        });
        let mut task = task(service.clone(), request);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(Pin::new(&mut task).poll(&mut cx).is_pending());
        assert!(matches!(task.phase, TaskPhase::Sse(_)));
        assert_eq!(service.hub.stats().sse.active, 1);
        // The idle stream's box: its pump (socket, timer; no read buffer,
        // 512 bytes more on the heap while it had one), handler, hub
        // registration, span, slot, and the boxed middleware chain, each
        // once. 4,512 bytes while it was an `async`
        // block awaiting `async fn`s that each kept the request `Context`
        // (544 bytes), the middleware `Chain` (696, a second `Context`) and
        // the socket alive across their `.await`s.
        let TaskPhase::Sse(stream) = &task.phase else {
            unreachable!()
        };
        println!("idle SSE stream: {} bytes", size_of_val(&**stream));
        assert!(
            size_of_val(&**stream) <= 328,
            "{} bytes",
            size_of_val(&**stream)
        );
    }

    /// A TLS connection's task holds rustls' connection state inline.
    #[cfg(feature = "_tls")]
    #[test]
    fn a_tls_connection_task_holds_the_rustls_state() {
        let service = Service::new(Router::new(), ServerConfig::default());
        let plain = size_of_val(&serve(
            service.clone(),
            Socket::sending(b""),
            None,
            None,
            Inert,
        ));
        let config = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(rustls::server::ResolvesServerCertUsingSni::new()));
        let task = serve_tls(
            service,
            Arc::new(config),
            Socket::sending(b""),
            None,
            None,
            Inert,
        );
        let tls = size_of_val(&task);
        println!("task: plain {plain} bytes, TLS {tls} bytes");
        assert!(tls > plain);
    }
}
