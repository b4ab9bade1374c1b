//! The runtime-agnostic server: routing, the upgrade, one task per
//! connection, admission limits and graceful shutdown.
//!
//! An adapter implements [`Net`](crate::runtime::Net) and exports
//! [`Server`] and [`ServerHandle`] for its runtime; everything after the
//! accept — reading the request
//! head under the handshake timeout, routing, middleware, the handshake, the
//! 503 beyond `max_connections`, running the handler joined with the socket
//! pump, Server-Sent Events streams ([`Router::sse`], [`SseContext`],
//! [`SseTopic`]), and shutdown — is here, written once.

mod admission;
#[cfg(feature = "asyncapi")]
mod asyncapi;
mod config;
mod context;
pub mod embed;
#[cfg(feature = "http2")]
mod h2;
pub mod middleware;
mod response;
mod router;
mod serve;
mod sse;
mod version;

use core::net::SocketAddr;
use std::any::TypeId;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

pub use crate::user_code::BoxFuture;
pub use config::{ServerConfig, SseConfig};
pub use context::{Context, RouteInfo};
#[cfg(feature = "http2")]
pub use h2::Http2Config;
pub use middleware::{Authenticator, Logging, Middleware, RateLimit};
pub use response::{Html, IntoResponse, Json, Response};
#[cfg(feature = "webtransport")]
pub(crate) use router::Endpoint;
pub use router::{GetHandler, PostHandler, RouteOptions, Router, RouterError, WebSocketHandler};
#[cfg(feature = "asyncapi")]
pub use router::{MessageType, MessageTypes};
pub use sse::{
    RESET_EVENT, Sse, SseClosed, SseContext, SseEnd, SseHandler, SseTopic, Subscription,
};

use crate::connection::{BufferLimits, Clock, Settings};
use crate::hub::{Hub, HubConfig, OutboxLimits};
use crate::io_util::with_deadline;
use crate::runtime::{Runtime, Transport};
use crate::signal::Signal;
use crate::wheel::Wheel;
use tidings_core::handshake::ServerHandshake;
use tidings_core::ws;

/// A router and its configuration, with the admission counters and the
/// shutdown signal. Shared (`Arc`) by the accept loop and every connection;
/// users reach it through [`ServerHandle`].
pub(crate) struct Service {
    router: Router,
    config: ServerConfig,
    handshake: ServerHandshake,
    /// Open WebSocket connections (admission control and shutdown).
    websockets: AtomicUsize,
    /// Open SSE streams (admission control).
    sse_connections: AtomicUsize,
    /// TLS handshakes in progress (admission control).
    #[cfg(feature = "_tls")]
    tls_handshakes: AtomicUsize,
    /// Connections, rooms, broadcast and statistics.
    hub: Arc<Hub>,
    /// Tasks serving a socket, in any phase.
    tasks: AtomicUsize,
    next_id: AtomicU64,
    /// `config.websocket` (zero timers disabled), shared by every
    /// connection's protocol state.
    websocket: Arc<ws::Config>,
    /// The buffer sizes and the clock of the runtime the service runs on,
    /// made once for every connection (see [`Service::connection_settings`]).
    settings: OnceLock<(TypeId, Arc<Settings>)>,
    shutdown: Arc<Signal>,
    /// Set when shutdown has begun and no task is left.
    drained: Signal,
}

impl Service {
    /// A service for `router` with `config`.
    ///
    /// # Panics
    ///
    /// If the router is misconfigured ([`Router::validate`]), like an
    /// invalid route pattern: check with `validate` first to handle it.
    pub(crate) fn new(router: Router, config: ServerConfig) -> Arc<Self> {
        let router = router
            .prepare()
            .unwrap_or_else(|error| panic!("invalid router: {error}"));
        let handshake = ServerHandshake::default()
            .with_subprotocols(config.subprotocols.iter().cloned())
            .with_origin(config.origin.clone())
            .with_deflate(config.websocket.deflate.clone());
        let hub = Hub::new(HubConfig {
            websocket: config.websocket.clone(),
            outbox: OutboxLimits {
                bytes: config.outbox_bytes,
                messages: config.outbox_messages,
            },
            broadcast_compression: config.broadcast_compression,
            engine: config.engine.clone(),
        });
        let websocket = ws::Config::disable_zero_timers(Arc::new(config.websocket.clone()));
        #[cfg(feature = "http2")]
        h2::withdraw_alpn_if_disabled(&config);
        Arc::new(Service {
            router,
            websocket,
            settings: OnceLock::new(),
            config,
            handshake,
            hub,
            websockets: AtomicUsize::new(0),
            sse_connections: AtomicUsize::new(0),
            #[cfg(feature = "_tls")]
            tls_handshakes: AtomicUsize::new(0),
            tasks: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            shutdown: Arc::new(Signal::new()),
            drained: Signal::new(),
        })
    }

    /// The hub: every connection, rooms, broadcast.
    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// The routes (prepared: each with its middleware chain).
    #[cfg_attr(not(feature = "webtransport"), allow(dead_code))]
    pub(crate) fn router(&self) -> &Router {
        &self.router
    }

    /// The time a request has from its start to passing its middleware.
    #[cfg_attr(not(feature = "webtransport"), allow(dead_code))]
    pub(crate) fn handshake_timeout(&self) -> Duration {
        self.config.handshake_timeout
    }

    /// The shutdown signal (set when shutdown begins).
    #[cfg_attr(not(feature = "webtransport"), allow(dead_code))]
    pub(crate) fn shutdown_signal(&self) -> &Signal {
        &self.shutdown
    }

    /// Accepts sockets with `accept` and serves each in its own task (over
    /// TLS if the configuration has [`tls`](ServerConfig::tls)), until
    /// [`shutdown`](Self::shutdown) is called or `stop` is set. Accept
    /// errors (e.g. too many open files) pause accepting for 100 ms rather
    /// than ending the loop.
    pub(crate) async fn accept_loop<R, T, F, Fut>(
        self: Arc<Self>,
        rt: R,
        local_addr: Option<SocketAddr>,
        stop: &Signal,
        mut accept: F,
    ) where
        R: Runtime,
        T: Transport,
        F: FnMut() -> Fut,
        Fut: Future<Output = io::Result<(T, Option<SocketAddr>)>>,
    {
        loop {
            let accepted = {
                let mut accepting = pin!(accept());
                let mut shutdown = pin!(self.shutdown.wait());
                let mut stop = pin!(stop.wait());
                poll_fn(|cx| {
                    if shutdown.as_mut().poll(cx).is_ready() || stop.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    accepting.as_mut().poll(cx).map(Some)
                })
                .await
            };
            match accepted {
                None => return,
                Some(Ok((io, remote_addr))) => {
                    #[cfg(feature = "_tls")]
                    if let Some(tls) = &self.config.tls {
                        rt.spawn(serve::serve_tls(
                            self.clone(),
                            tls.config(),
                            io,
                            remote_addr,
                            local_addr,
                            rt.clone(),
                        ));
                        continue;
                    }
                    rt.spawn(self.clone().serve_connection(
                        io,
                        remote_addr,
                        local_addr,
                        rt.clone(),
                    ));
                }
                Some(Err(_)) => {
                    let _ = with_deadline(
                        &rt,
                        rt.now() + Duration::from_millis(100),
                        self.shutdown.wait(),
                    )
                    .await;
                }
            }
        }
    }

    /// Serves one already-accepted transport (a TCP socket, a TLS stream):
    /// reads the request, routes it, and runs the handler until the
    /// connection ends.
    ///
    /// The returned future owns everything it needs (`'static`), so it can
    /// be spawned as it is.
    pub(crate) fn serve_connection<R: Runtime, T: Transport>(
        self: Arc<Self>,
        io: T,
        remote_addr: Option<SocketAddr>,
        local_addr: Option<SocketAddr>,
        rt: R,
    ) -> impl Future<Output = ()> + Send + 'static {
        serve::serve(self, io, remote_addr, local_addr, rt)
    }

    /// Starts a graceful shutdown: stop accepting, close every open
    /// WebSocket connection with 1001 after what was already queued for it,
    /// and end every SSE stream after its queued events are written.
    pub(crate) fn shutdown(&self) {
        self.shutdown.set();
        if self.tasks.load(Ordering::SeqCst) == 0 {
            self.drained.set();
        }
    }

    /// [`shutdown`](Self::shutdown), then waits until every connection has
    /// finished or `deadline` passes. Returns whether all finished.
    pub(crate) async fn shutdown_and_wait<R: Runtime>(&self, rt: &R, deadline: Instant) -> bool {
        self.shutdown();
        with_deadline(rt, deadline, self.drained.wait())
            .await
            .is_ok()
    }

    /// The whole graceful shutdown ([`ServerHandle::shutdown`]):
    /// [`shutdown_and_wait`](Self::shutdown_and_wait) until `timeout`,
    /// then a cluster engine's flush until the same deadline.
    pub(crate) async fn drain<R: Runtime>(&self, rt: &R, timeout: Duration) -> bool {
        let deadline = rt.now() + timeout;
        let drained = self.shutdown_and_wait(rt, deadline).await;
        if let Some(flush) = self.hub.flush_engine() {
            let _ = with_deadline(rt, deadline, flush).await;
        }
        drained
    }

    /// `rt`'s clock as a closure (see [`connection_settings`](Self::connection_settings)).
    pub(crate) fn clock<R: Runtime>(&self, rt: &R) -> Clock {
        self.connection_settings(rt).clock.clone()
    }

    /// The configuration's buffer sizes and `rt`'s clock as a closure. A
    /// runtime without state (every adapter's) reads the same clock through
    /// any of its values, so they are made once and shared by every
    /// connection; any other runtime gets them for each connection.
    pub(crate) fn connection_settings<R: Runtime>(&self, rt: &R) -> Arc<Settings> {
        let make = || {
            let rt = rt.clone();
            let epoch = rt.now();
            let clock: Clock = Arc::new(move || rt.now());
            Arc::new(Settings {
                limits: BufferLimits {
                    read_buffer_size: self.config.read_buffer_size,
                    inbox_bytes: self.config.read_queue_size,
                    write_buffer_size: self.config.write_buffer_size,
                },
                clock,
                wheel: Arc::new(Wheel::new(epoch)),
                hub: Some(self.hub.clone()),
                shutdown: Some(self.shutdown.clone()),
            })
        };
        if size_of::<R>() == 0 {
            let (runtime, settings) = self.settings.get_or_init(|| (TypeId::of::<R>(), make()));
            if *runtime == TypeId::of::<R>() {
                return settings.clone();
            }
        }
        make()
    }

    /// Counts a task serving a socket, until [`task_ended`](Self::task_ended).
    fn task_started(&self) {
        self.tasks.fetch_add(1, Ordering::SeqCst);
    }

    /// Ends a task counted by [`task_started`](Self::task_started); the last
    /// one to end after shutdown began sets `drained`.
    fn task_ended(&self) {
        if self.tasks.fetch_sub(1, Ordering::SeqCst) == 1 && self.shutdown.is_set() {
            self.drained.set();
        }
    }

    /// A new connection id, `{prefix}_{n}` (`ws_1`, `sse_2`, …), or
    /// `{node}.{prefix}_{n}` on a node of a cluster.
    pub(crate) fn next_stream_id(&self, prefix: &str) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        match self.hub.node() {
            Some(node) => format!("{node}.{prefix}_{n}"),
            None => format!("{prefix}_{n}"),
        }
    }
}

/// The span of one WebSocket connection or SSE stream, entered around its
/// handler and its pump: `id` (`ws_1`, `sse_2`), `route` (the pattern),
/// `peer` (the client's address), `protocol`, and when it ends,
/// `close_code` and `end` (WebSocket: the close code and its cause; SSE:
/// why the stream ended).
pub(crate) fn connection_span(
    id: &str,
    route: &str,
    peer: Option<SocketAddr>,
    protocol: &'static str,
) -> tracing::Span {
    let peer = peer.map(tracing::field::display);
    tracing::info_span!(
        "connection",
        id,
        route,
        peer,
        protocol,
        close_code = tracing::field::Empty,
        end = tracing::field::Empty,
    )
}

/// Answers a request for a WebSocket or SSE route with a refusal, counted
/// in the statistics' rejected handshakes.
async fn reject<T: Transport>(service: &Service, io: &mut T, response: Response) {
    service.hub.counters().rejected(response.status());
    response::respond(io, response).await;
}

/// A handler that echoes every message back unchanged, text as text and
/// binary as binary, until the peer closes (the echo examples and the
/// Autobahn runs use it).
///
/// The returned future holds only the connection, not the [`Context`] (an
/// `async fn` would keep its arguments for its whole life): less memory per
/// connection.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would keep the Context in its future"
)]
pub fn echo(
    _ctx: Context,
    conn: crate::Connection,
) -> impl Future<Output = Result<(), crate::Error>> + Send + 'static {
    async move {
        loop {
            let message = conn.read().await?;
            conn.write_message(&message).await?;
        }
    }
}

/// A bound server on runtime `N`: the adapters export it as `Server`.
///
/// ```no_run
/// # async fn demo<N: tidings_framework::runtime::Net + Default>() -> std::io::Result<()> {
/// use tidings_framework::server::{Router, Server};
///
/// let router = Router::new().websocket("/ws", |_ctx, conn: tidings_framework::Connection| async move {
///     while let Ok(message) = conn.read().await {
///         conn.write_message(&message).await?;
///     }
///     Ok(())
/// });
/// let server = Server::<N>::bind("127.0.0.1:9001", router).await?;
/// println!("listening on {}", server.local_addr()?);
/// server.run().await;
/// # Ok(()) }
/// ```
pub struct Server<N: crate::runtime::Net> {
    listener: N::Listener,
    service: Arc<Service>,
    pub(crate) rt: N,
    /// What serves beside the TCP listener: the QUIC endpoint of the
    /// WebTransport routes (`Server::with_webtransport`, feature
    /// `webtransport`), if any.
    #[cfg(feature = "webtransport")]
    pub(crate) beside: Option<Beside>,
}

/// A listener that serves the same [`Service`] beside a [`Server`]'s TCP
/// listener (the QUIC endpoint of WebTransport routes): its address, and
/// its accept loop, started by [`Server::run`].
#[cfg(feature = "webtransport")]
pub(crate) struct Beside {
    pub(crate) addr: SocketAddr,
    pub(crate) run: Box<dyn FnOnce(Arc<Service>) -> BoxFuture<()> + Send>,
}

impl<N: crate::runtime::Net + Default> Server<N> {
    /// Binds `addr` (`"host:port"`) with the default configuration.
    pub async fn bind(addr: &str, router: Router) -> io::Result<Self> {
        Self::bind_with(addr, router, ServerConfig::default()).await
    }

    /// Binds `addr` with `config`. A misconfigured router
    /// ([`Router::validate`]) is an [`io::ErrorKind::InvalidInput`] error.
    pub async fn bind_with(addr: &str, router: Router, config: ServerConfig) -> io::Result<Self> {
        router
            .validate()
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        let listener = N::bind(addr).await?;
        Ok(Server {
            listener,
            service: Service::new(router, config),
            rt: N::default(),
            #[cfg(feature = "webtransport")]
            beside: None,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        N::listener_addr(&self.listener)
    }

    /// A handle to shut the server down or to serve extra streams.
    pub fn handle(&self) -> ServerHandle<N> {
        ServerHandle {
            service: self.service.clone(),
            rt: self.rt.clone(),
        }
    }

    /// Accepts and serves connections until the server is shut down through
    /// a [`ServerHandle`] (WebTransport sessions too, when the server
    /// has them: `with_webtransport`, feature `webtransport`).
    #[cfg_attr(not(feature = "webtransport"), allow(unused_mut))]
    pub async fn run(mut self) {
        #[cfg(feature = "webtransport")]
        if let Some(beside) = self.beside.take() {
            self.rt.spawn((beside.run)(self.service.clone()));
        }
        let local = N::listener_addr(&self.listener).ok();
        // The accept loop runs in a task of its own on the runtime rather
        // than in the caller's (often `block_on`'s thread, with
        // `#[tokio::main]`): what accepting allocates for a connection (its
        // socket's registration, its task) then comes from the same
        // thread's malloc arena as the rest of the connection's state,
        // which fills the padding tokio's 128-byte-aligned allocations
        // leave there (in another arena nothing reuses it). Memory part of
        // `bench/run`, 10,000 connections, tokio: 1,942 -> 1,768 bytes per
        // idle connection, 2,043 -> 1,774 after an echo.
        let stop = Arc::new(Signal::new());
        let ended = Arc::new(Signal::new());
        let (listener, service, rt) = (self.listener, self.service, self.rt);
        let (stop_loop, end) = (stop.clone(), SetOnDrop(ended.clone()));
        rt.clone().spawn(async move {
            let _end = end;
            service
                .accept_loop(rt, local, &stop_loop, || async {
                    N::accept(&listener)
                        .await
                        .map(|(stream, peer)| (stream, Some(peer)))
                })
                .await;
        });
        // Dropping this future stops accepting (the loop's task ends and
        // closes the listener), as when the loop ran in it.
        let _stop = SetOnDrop(stop);
        ended.wait().await;
    }
}

impl<N: crate::runtime::Net + Default> Server<N> {
    /// Serves until `stop` completes (e.g. the adapter's
    /// `shutdown_signal()`: SIGTERM or Ctrl-C), then drains: stops
    /// accepting, closes every WebSocket connection with 1001 (going away)
    /// after what was queued for it, ends every SSE stream after its queued
    /// events (so EventSource clients reconnect, through the load balancer,
    /// to another node, and resume by `Last-Event-ID`), and waits until all
    /// connections are done or `grace` has passed. Returns whether all
    /// finished in time.
    ///
    /// ```no_run
    /// # async fn demo<N: tidings_framework::runtime::Net + Default>(
    /// #     server: tidings_framework::server::Server<N>,
    /// #     signal: impl std::future::Future<Output = ()>,
    /// # ) {
    /// use std::time::Duration;
    /// // With tidings-tokio: server.run_until(tidings_tokio::shutdown_signal(), …)
    /// let drained = server.run_until(signal, Duration::from_secs(10)).await;
    /// std::process::exit(if drained { 0 } else { 1 });
    /// # }
    /// ```
    pub async fn run_until(self, stop: impl Future<Output = ()>, grace: Duration) -> bool {
        let handle = self.handle();
        {
            let mut run = pin!(self.run());
            let mut stop = pin!(stop);
            poll_fn(|cx| {
                if run.as_mut().poll(cx).is_ready() || stop.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(());
                }
                Poll::Pending
            })
            .await;
        }
        handle.shutdown(grace).await
    }
}

/// Controls a running [`Server`]: shutdown, statistics, extra streams.
pub struct ServerHandle<N: crate::runtime::Net> {
    service: Arc<Service>,
    rt: N,
}

impl<N: crate::runtime::Net> Clone for ServerHandle<N> {
    fn clone(&self) -> Self {
        ServerHandle {
            service: self.service.clone(),
            rt: self.rt.clone(),
        }
    }
}

impl<N: crate::runtime::Net> ServerHandle<N> {
    /// Graceful shutdown: stop accepting, close every WebSocket connection
    /// with 1001 after what was already queued for it, end every SSE stream
    /// after its queued events, and wait until all
    /// connections are done or `timeout` has passed. Returns whether all
    /// finished in time.
    ///
    /// With a cluster engine, then flushes what it queued for the other
    /// nodes (their leaves among it, so that the other nodes see this
    /// node's members leave now rather than when presence expires), until
    /// the same deadline.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.service.drain(&self.rt, timeout).await
    }

    /// Starts the same graceful shutdown without waiting for it (e.g. from
    /// a `Drop` implementation); [`shutdown`](Self::shutdown) waits.
    pub fn begin_shutdown(&self) {
        self.service.shutdown();
    }

    /// WebSocket connections holding a slot of
    /// [`ServerConfig::max_connections`] now: from before their handshake
    /// until their task ends. (The hub's [`Stats`](crate::hub::Stats) count connections from
    /// their registration, after the handshake, to their end.)
    pub fn active_connections(&self) -> usize {
        self.service.websockets.load(Ordering::SeqCst)
    }

    /// Server-Sent Events streams holding a slot of
    /// [`SseConfig::max_connections`] now (see
    /// [`active_connections`](Self::active_connections)).
    pub fn active_sse_connections(&self) -> usize {
        self.service.sse_connections.load(Ordering::SeqCst)
    }

    /// The hub: every connection, rooms, broadcast, and the statistics
    /// ([`Hub::stats`]).
    pub fn hub(&self) -> &Arc<Hub> {
        self.service.hub()
    }

    /// The server's TLS certificate or configuration, if it serves TLS
    /// ([`ServerConfig::tls`]): replace the certificate through it while
    /// the server runs ([`ServerTls::reload_pem_files`](crate::tls::ServerTls::reload_pem_files)).
    #[cfg(feature = "_tls")]
    pub fn tls(&self) -> Option<&crate::tls::ServerTls> {
        self.service.config.tls.as_ref()
    }

    /// TLS handshakes in progress now (at most
    /// [`ServerConfig::max_tls_handshakes`]).
    #[cfg(feature = "_tls")]
    pub fn active_tls_handshakes(&self) -> usize {
        self.service.tls_handshakes.load(Ordering::SeqCst)
    }

    /// Serves an already-connected stream (e.g. TLS the application set up
    /// itself) as if accepted by the server, without the server's own
    /// [`tls`](ServerConfig::tls); completes when that connection ends.
    ///
    /// The stream must still hold the request: the server reads the head
    /// itself. For a connection whose request another HTTP server (hyper,
    /// axum) has already read, see [`embed`] (and the `tidings-axum`
    /// crate).
    pub async fn serve_stream<T: Transport>(
        &self,
        stream: T,
        remote: Option<SocketAddr>,
        local: Option<SocketAddr>,
    ) {
        self.service
            .clone()
            .serve_connection(stream, remote, local, self.rt.clone())
            .await;
    }
}

/// Sets its signal when dropped: the end of [`Server::run`]'s future or of
/// its accept loop's task, however it ends.
struct SetOnDrop(Arc<Signal>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set();
    }
}
