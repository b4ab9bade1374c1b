//! # tidings-async-std
//!
//! tidings on the [async-std] runtime: a WebSocket and SSE server with a
//! router, and WebSocket and SSE clients. Everything but binding, accepting,
//! connecting, sleeping and spawning lives in [`tidings_framework`] and is
//! re-exported here.
//!
//! [async-std]: https://docs.rs/async-std
//!
//! ```no_run
//! use tidings_async_std::{Context, Connection, Error, Router, Server};
//!
//! async fn echo(_ctx: Context, conn: Connection) -> Result<(), Error> {
//!     loop {
//!         let message = conn.read().await?;
//!         conn.write_message(&message).await?;
//!     }
//! }
//!
//! fn main() -> std::io::Result<()> {
//!     async_std::task::block_on(async {
//!         let server = Server::bind("127.0.0.1:9001", Router::new().websocket("/ws", echo)).await?;
//!         println!("listening on {}", server.local_addr()?);
//!         server.run().await;
//!         Ok(())
//!     })
//! }
//! ```
//!
//! Connections run as tasks on async-std's global executor
//! (`async_std::task::spawn`); timers are [`async_io::Timer`]s, the reactor
//! async-std itself runs on. Sockets are async-io sockets (async-std's
//! own), wrapped in [`TcpStream`], whose close shuts down the write half
//! (async-std's own close only flushes), whose reads wait for readiness
//! after a read that drained the socket instead of failing first, and which
//! on Linux waits without re-arming its registration (see
//! [`tidings_async_io`]).

// No unsafe code (the policy of every tidings crate).
#![deny(unsafe_code)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use async_io::Async;
use async_std::net::ToSocketAddrs;

use tidings_framework::runtime::{Net, Runtime, Transport};

// The framework's API, re-exported: everything but the runtime lives in
// `tidings-framework` (and the protocol modules in `tidings-core`).
pub use tidings_framework::client::{
    ClientConfig, IntoClientRequest, ReconnectingConfig, StopRule,
};
pub use tidings_framework::close::CloseCode;
pub use tidings_framework::deflate::DeflateConfig;
pub use tidings_framework::dial::{Proxy, ProxyConfig, ProxyError, TlsError, TlsErrorKind};
pub use tidings_framework::event_source::{
    EventSourceConfig, EventSourceError, IntoEventSourceRequest,
};
pub use tidings_framework::http::StatusCode;
/// HTTP/2 settings and limits (feature `http2`, default): see
/// [`ServerConfig::http2`].
#[cfg(feature = "http2")]
pub use tidings_framework::server::Http2Config;
pub use tidings_framework::server::{
    Authenticator, Context, Html, IntoResponse, Json, Logging, Middleware, RateLimit, Response,
    RouteOptions, Router, ServerConfig, Sse, SseConfig, SseContext, SseTopic, echo, middleware,
};
pub use tidings_framework::sse::DecodedEvent;
/// TLS with rustls (features `ring`, default, or `aws-lc-rs`): see
/// [`tidings_framework::tls`].
#[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
pub use tidings_framework::tls;
pub use tidings_framework::{
    Connection, Error, Message, Protocol, Utf8Bytes, deflate, dial, http, hub, sse, ws,
};

/// A WebSocket and SSE server on async-std: bind, then `run` (see
/// [`tidings_framework::server::Server`]).
pub type Server = tidings_framework::server::Server<AsyncStd>;

/// Controls a running [`Server`]: graceful shutdown, connection count,
/// serving extra streams.
pub type ServerHandle = tidings_framework::server::ServerHandle<AsyncStd>;

/// A Server-Sent Events client on async-std (see
/// [`tidings_framework::event_source`]): `EventSource::connect(url, config)`,
/// then `next().await` or use it as a `Stream`.
pub type EventSource = tidings_framework::event_source::EventSource<AsyncStd>;

/// A WebSocket client on async-std that reconnects with backoff (see
/// [`tidings_framework::client::Reconnecting`]).
pub type Reconnecting = tidings_framework::client::Reconnecting<AsyncStd>;

/// Connects to a `ws://` or `wss://` URL, or an `http::Request` with
/// headers ([`IntoClientRequest`]), with the default client configuration
/// and performs the opening handshake.
pub async fn connect(request: impl IntoClientRequest) -> Result<Connection, Error> {
    connect_with(request, ClientConfig::default()).await
}

/// Connects to a URL or request with `config` (timeouts, proxy, TLS
/// configuration: see [`ClientConfig`]).
pub async fn connect_with(
    request: impl IntoClientRequest,
    config: ClientConfig,
) -> Result<Connection, Error> {
    tidings_framework::client::connect::<AsyncStd>(request, config).await
}

/// Connects a Server-Sent Events client to an `http://` or `https://` URL,
/// or an `http::Request` with method, headers and body
/// ([`IntoEventSourceRequest`]), with the default configuration
/// (reconnects forever, 3 s delay until the server sends `retry:`).
pub async fn connect_events(
    request: impl IntoEventSourceRequest,
) -> Result<EventSource, EventSourceError> {
    EventSource::connect(request, EventSourceConfig::default()).await
}

/// Connects a Server-Sent Events client to a URL or request with `config`.
pub async fn connect_events_with(
    request: impl IntoEventSourceRequest,
    config: EventSourceConfig,
) -> Result<EventSource, EventSourceError> {
    EventSource::connect(request, config).await
}

/// Test helpers on async-std (see [`tidings_framework::testing`]): an app on
/// an ephemeral port, WebSocket and SSE test clients whose expectations
/// time out, say what arrived instead and name the test's line, and an
/// AsyncAPI document check. Needs the `testing` feature (enable it in
/// `[dev-dependencies]`).
///
/// Headers are given as `&[(name, value)]` to every client (`ws_with`,
/// `ws_rejected_with`, `sse_with`, `get_with`); a refused handshake is
/// an expectation (`ws_rejected`), and so is silence (`expect_silence`).
///
/// ```no_run
/// use std::time::Duration;
///
/// use tidings_async_std::testing::TestApp;
/// use tidings_async_std::{Authenticator, RouteOptions, Router, ServerConfig, echo};
///
/// #[test]
/// fn echo_for_members_only() {
///     async_std::task::block_on(async {
///         let router = Router::new()
///             .authenticator("bearer", Authenticator::bearer(|token| (token == "secret").then_some(())))
///             .websocket_with("/echo", echo, RouteOptions::new().auth("bearer"));
///         let app = TestApp::start(router, ServerConfig::default()).await;
///
///         app.ws_rejected("/echo", 401).await;
///         let client = app.ws_with("/echo", &[("authorization", "Bearer secret")]).await;
///         client.send_text("hello").await;
///         client.expect_text("hello").await;
///         client.expect_silence(Duration::from_millis(100)).await;
///         // The server stops when `app` is dropped.
///     })
/// }
/// ```
#[cfg(feature = "testing")]
pub mod testing {
    pub use tidings_framework::testing::DEFAULT_TIMEOUT;
    #[cfg(feature = "asyncapi")]
    pub use tidings_framework::testing::asyncapi_problems;

    /// An app served on `127.0.0.1` at an ephemeral port, stopped when
    /// dropped (see [`tidings_framework::testing::TestApp`]).
    pub type TestApp = tidings_framework::testing::TestApp<super::AsyncStd>;

    /// A WebSocket test client (see [`tidings_framework::testing::WsClient`]).
    pub type WsClient = tidings_framework::testing::WsClient<super::AsyncStd>;

    /// A Server-Sent Events test client (see
    /// [`tidings_framework::testing::SseClient`]).
    pub type SseClient = tidings_framework::testing::SseClient<super::AsyncStd>;
}

/// The async-std runtime, for the framework.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStd;

/// The future of [`Runtime::sleep_until`] on async-std: an [`async_io::Timer`]
/// that completes with `()` (see [`tidings_async_io::Sleep`]).
pub use tidings_async_io::Sleep;

/// A connected TCP stream (see [`tidings_async_io::TcpStream`]): its
/// `poll_close` shuts down the write half, so the peer sees the end of the
/// stream when a connection closes (async-std's own close only flushes), and
/// a read that drained the socket makes the next one wait for readiness
/// instead of failing first (on Linux without a system call to re-arm).
pub use tidings_async_io::TcpStream;

/// A future that completes on the process's first SIGTERM or SIGINT
/// (Ctrl-C), for `Server::run_until` (see
/// [`tidings_async_io::shutdown_signal`]).
pub use tidings_async_io::shutdown_signal;

impl Runtime for AsyncStd {
    type Sleep = Sleep;

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep::until(deadline)
    }

    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Dropping an async-std JoinHandle detaches the task.
        drop(async_std::task::spawn(task));
    }

    #[inline]
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn fill_random(&self, buf: &mut [u8]) {
        // The OS generator failing leaves nothing secure to fall back on.
        if let Err(error) = getrandom::fill(buf) {
            panic!("the operating system's random generator failed: {error}");
        }
    }
}

impl Net for AsyncStd {
    type Stream = TcpStream;
    type Listener = Async<std::net::TcpListener>;

    async fn bind(addr: &str) -> io::Result<Self::Listener> {
        tidings_async_io::bind(addr.to_socket_addrs().await?)
    }

    fn listener_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.get_ref().local_addr()
    }

    async fn accept(listener: &Self::Listener) -> io::Result<(TcpStream, SocketAddr)> {
        tidings_async_io::accept(listener).await
    }

    async fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
        tidings_async_io::connect((host, port).to_socket_addrs().await?).await
    }

    fn addrs(stream: &TcpStream) -> (Option<SocketAddr>, Option<SocketAddr>) {
        stream.addrs()
    }
}

/// Performs the client handshake over an already-connected `futures-io`
/// stream (e.g. TLS). The connection's end calls the stream's `poll_close`,
/// which should shut the stream down (see [`TcpStream`]).
pub async fn connect_stream<S: Transport>(
    stream: S,
    request: impl IntoClientRequest,
    config: ClientConfig,
) -> Result<Connection, Error> {
    tidings_framework::client::connect_over(stream, request, config, AsyncStd, (None, None)).await
}

/// WebTransport over HTTP/3 on async-std (feature `webtransport`): the
/// framework's [`webtransport`](tidings_framework::webtransport) module,
/// with [`bind`](webtransport::bind) on quinn's async-std runtime; and
/// `Server::with_webtransport` to serve a router's WebTransport routes
/// beside its WebSocket and SSE ones.
#[cfg(feature = "webtransport")]
pub mod webtransport {
    pub use tidings_framework::webtransport::*;

    impl QuicRuntime for super::AsyncStd {
        fn quinn_runtime(&self) -> std::sync::Arc<dyn quinn::Runtime> {
            std::sync::Arc::new(quinn::AsyncStdRuntime)
        }
    }

    /// Binds a [`WebTransportServer`] on `addr` (UDP) with `tls` (see
    /// [`server_config`]), on async-std.
    pub fn bind(
        addr: std::net::SocketAddr,
        tls: tidings_framework::tls::rustls::ServerConfig,
        config: Config,
    ) -> std::io::Result<WebTransportServer> {
        WebTransportServer::bind(
            addr,
            tls,
            config,
            std::sync::Arc::new(quinn::AsyncStdRuntime),
        )
    }
}
