//! # tidings-tokio
//!
//! tidings on the [tokio] runtime: a WebSocket and SSE server with a
//! router, and WebSocket and SSE clients. Everything but binding, accepting,
//! connecting, sleeping and spawning lives in [`tidings_framework`] and is
//! re-exported here.
//!
//! ```no_run
//! use tidings_tokio::{Context, Connection, Error, Router, Server};
//!
//! async fn echo(_ctx: Context, conn: Connection) -> Result<(), Error> {
//!     loop {
//!         let message = conn.read().await?;
//!         conn.write_message(&message).await?;
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let server = Server::bind("127.0.0.1:9001", Router::new().websocket("/ws", echo)).await?;
//!     println!("listening on {}", server.local_addr()?);
//!     server.run().await;
//!     Ok(())
//! }
//! ```
//!
//! Requires a tokio runtime with the time and net drivers enabled (as
//! `#[tokio::main]` gives).

// No unsafe code (the policy of every tidings crate).
#![deny(unsafe_code)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::compat::TokioAsyncReadCompatExt;

use tidings_framework::runtime::{Net, Runtime};

mod signal;
mod stream;

pub use signal::shutdown_signal;
pub use stream::TokioStream;

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
    Connection, Error, Message, Protocol, Utf8Bytes, bytes, deflate, dial, http, hub, sse, ws,
};

/// A WebSocket and SSE server on tokio: bind, then `run` (see
/// [`tidings_framework::server::Server`]).
pub type Server = tidings_framework::server::Server<Tokio>;

/// Controls a running [`Server`]: graceful shutdown, connection count,
/// serving extra streams.
pub type ServerHandle = tidings_framework::server::ServerHandle<Tokio>;

/// A Server-Sent Events client on tokio (see
/// [`tidings_framework::event_source`]): `EventSource::connect(url, config)`,
/// then `next().await` or use it as a `Stream`.
pub type EventSource = tidings_framework::event_source::EventSource<Tokio>;

/// A WebSocket client on tokio that reconnects with backoff (see
/// [`tidings_framework::client::Reconnecting`]).
pub type Reconnecting = tidings_framework::client::Reconnecting<Tokio>;

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
    tidings_framework::client::connect::<Tokio>(request, config).await
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

/// Test helpers on tokio (see [`tidings_framework::testing`]): an app on
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
/// use tidings_tokio::testing::TestApp;
/// use tidings_tokio::{Authenticator, RouteOptions, Router, ServerConfig, echo};
///
/// #[tokio::test]
/// async fn echo_for_members_only() {
///     let router = Router::new()
///         .authenticator("bearer", Authenticator::bearer(|token| (token == "secret").then_some(())))
///         .websocket_with("/echo", echo, RouteOptions::new().auth("bearer"));
///     let app = TestApp::start(router, ServerConfig::default()).await;
///
///     app.ws_rejected("/echo", 401).await;
///     let client = app.ws_with("/echo", &[("authorization", "Bearer secret")]).await;
///     client.send_text("hello").await;
///     client.expect_text("hello").await;
///     client.expect_silence(Duration::from_millis(100)).await;
///     // The server stops when `app` is dropped.
/// }
/// ```
#[cfg(feature = "testing")]
pub mod testing {
    pub use tidings_framework::testing::DEFAULT_TIMEOUT;
    #[cfg(feature = "asyncapi")]
    pub use tidings_framework::testing::asyncapi_problems;

    /// An app served on `127.0.0.1` at an ephemeral port, stopped when
    /// dropped (see [`tidings_framework::testing::TestApp`]).
    pub type TestApp = tidings_framework::testing::TestApp<super::Tokio>;

    /// A WebSocket test client (see [`tidings_framework::testing::WsClient`]).
    pub type WsClient = tidings_framework::testing::WsClient<super::Tokio>;

    /// A Server-Sent Events test client (see
    /// [`tidings_framework::testing::SseClient`]).
    pub type SseClient = tidings_framework::testing::SseClient<super::Tokio>;
}

// The README's examples are written for tokio: compiled here as doctests
// (one needs the test helpers).
#[cfg(all(doctest, feature = "testing"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// The tokio runtime, for the framework.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    type Sleep = tokio::time::Sleep;

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        tokio::time::sleep_until(deadline.into())
    }

    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tokio::spawn(task));
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

impl Net for Tokio {
    type Stream = TokioStream;
    type Listener = TcpListener;

    async fn bind(addr: &str) -> io::Result<TcpListener> {
        TcpListener::bind(addr).await
    }

    fn listener_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &TcpListener) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok((TokioStream::new(stream), peer))
    }

    async fn connect(host: &str, port: u16) -> io::Result<Self::Stream> {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(TokioStream::new(stream))
    }

    fn addrs(stream: &Self::Stream) -> (Option<SocketAddr>, Option<SocketAddr>) {
        (
            stream.get_ref().peer_addr().ok(),
            stream.get_ref().local_addr().ok(),
        )
    }
}

/// Performs the client handshake over an already-connected tokio stream
/// (e.g. TLS).
pub async fn connect_stream<S>(
    stream: S,
    request: impl IntoClientRequest,
    config: ClientConfig,
) -> Result<Connection, Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    tidings_framework::client::connect_over(stream.compat(), request, config, Tokio, (None, None))
        .await
}

/// WebTransport over HTTP/3 on tokio (feature `webtransport`): the
/// framework's [`webtransport`](tidings_framework::webtransport) module,
/// with [`bind`](webtransport::bind) on quinn's tokio runtime; and
/// `Server::with_webtransport` to serve a router's WebTransport routes
/// beside its WebSocket and SSE ones, sharing their hub and middleware:
///
/// ```no_run
/// # async fn doc(tls: tidings_tokio::tls::rustls::ServerConfig) -> Result<(), Box<dyn std::error::Error>> {
/// use tidings_tokio::webtransport::{Config, Error, Session};
/// use tidings_tokio::{Context, Router, Server, echo};
///
/// async fn room(ctx: Context, session: Session) -> Result<(), Error> {
///     session.join(ctx.param("room").unwrap_or("lobby"));
///     while let Ok(message) = session.receive_message().await {
///         session.send_message(message).await?;
///     }
///     Ok(())
/// }
///
/// let router = Router::new().websocket("/ws", echo).webtransport("/wt/:room", room);
/// let server = Server::bind("127.0.0.1:8080", router)
///     .await?
///     .with_webtransport("127.0.0.1:4433".parse()?, tls, Config::default())?;
/// server.run().await;
/// # Ok(()) }
/// ```
#[cfg(feature = "webtransport")]
pub mod webtransport {
    pub use tidings_framework::webtransport::*;

    impl QuicRuntime for super::Tokio {
        fn quinn_runtime(&self) -> std::sync::Arc<dyn quinn::Runtime> {
            std::sync::Arc::new(quinn::TokioRuntime)
        }
    }

    use std::net::SocketAddr;
    use std::sync::Arc;

    /// Binds a [`WebTransportServer`] on `addr` (UDP) with `tls` (see
    /// [`server_config`]), on tokio. Call it inside a tokio runtime.
    ///
    /// ```no_run
    /// # async fn doc(chain: Vec<tidings_tokio::tls::rustls::pki_types::CertificateDer<'static>>,
    /// #              key: tidings_tokio::tls::rustls::pki_types::PrivateKeyDer<'static>) -> Result<(), Box<dyn std::error::Error>> {
    /// use tidings_tokio::webtransport::{self, Config, Session};
    ///
    /// let tls = webtransport::server_config(chain, key)?;
    /// let server = webtransport::bind("127.0.0.1:4433".parse()?, tls, Config::default())?
    ///     .route("/echo", |session: Session| async move {
    ///         while let Ok((mut send, mut recv)) = session.accept_bi().await {
    ///             while let Ok(Some(bytes)) = recv.read().await {
    ///                 let _ = send.write(bytes).await;
    ///             }
    ///         }
    ///     });
    /// server.run().await;
    /// # Ok(()) }
    /// ```
    pub fn bind(
        addr: SocketAddr,
        tls: tidings_framework::tls::rustls::ServerConfig,
        config: Config,
    ) -> std::io::Result<WebTransportServer> {
        WebTransportServer::bind(addr, tls, config, Arc::new(quinn::TokioRuntime))
    }
}
