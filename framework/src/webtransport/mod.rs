//! WebTransport over HTTP/3 (feature `webtransport`): routes of the
//! [`Router`] served over QUIC, each session run by
//! its handler as a [`Session`], registered in the [hub](crate::hub).
//!
//! QUIC is [quinn]'s; the HTTP/3 and WebTransport protocol is the sans-IO
//! [`tidings_core::webtransport`] state machine, driven by one task per
//! QUIC connection. That task reads the control, QPACK and CONNECT streams
//! and the first bytes of each data stream; once a data stream's header is
//! read, the stream is the session's and its bytes go from quinn straight
//! to the handler. The task never waits on a write: what it sends on its
//! control stream and on CONNECT streams goes through a small writer task
//! per stream.
//!
//! # Serving
//!
//! Two ways, one code path:
//!
//! - **Beside WebSocket and SSE**: add routes with
//!   [`Router::webtransport`](crate::server::Router::webtransport) and
//!   give the [`Server`](crate::server::Server) a UDP address and a TLS
//!   configuration with `Server::with_webtransport` (the adapters' runtimes
//!   implement [`QuicRuntime`]). WebSocket connections, SSE streams and
//!   WebTransport sessions then share one hub, one set of middleware and
//!   one shutdown.
//! - **Standalone**: [`WebTransportServer`] on a UDP socket of its own,
//!   with [`route`](WebTransportServer::route) (a handler taking only the
//!   session) or a whole [`Router`]
//!   ([`WebTransportServer::router`]).
//!
//! Either way the CONNECT request is routed like an HTTP request: path
//! parameters (`/rooms/:room`), the query, the router's layers, the route's
//! authentication and middleware; a rejection (401, 403, 429, …) answers
//! the CONNECT with that status and no session starts; a path with no
//! WebTransport route gets 404.
//!
//! # Messages
//!
//! [`Session::send_message`] and [`Session::receive_message`] carry one
//! message per unidirectional stream: the sender writes the whole message
//! and finishes the stream; the receiver reads one incoming
//! unidirectional stream to its end, at most
//! [`Config::max_message_size`] bytes (a longer one is stopped and is
//! [`Error::TooLong`]). `receive_message` takes the next stream from the
//! same queue as [`Session::accept_uni`]: on one session, use one or the
//! other for incoming unidirectional streams.
//!
//! # In the hub
//!
//! Each session is a connection of the hub (id `wt_N`, protocol
//! [`Protocol::WebTransport`](crate::Protocol::WebTransport)) from its
//! acceptance to its end: it can join rooms ([`Session::join`]), be looked
//! up ([`Hub::get_connection`](crate::hub::Hub::get_connection)), sent to
//! and closed (with a code) through the hub, and receive broadcasts, as
//! one datagram or one unidirectional stream per message as its route
//! says ([`BroadcastMode`]). [`Stats`](crate::hub::Stats) counts sessions
//! and dropped datagrams.
//!
//! # Limits ([`Config`])
//!
//! QUIC connections at once (`max_connections`; one more is refused),
//! streams the peer may open at once per connection and direction
//! (`max_streams`: more wait for QUIC flow control), the receive window of
//! each stream (`buffer_size`: a reader that does not keep up holds at
//! most this much unread per stream, the sender waits), the per-session
//! queue of streams not yet accepted and datagrams not yet read
//! (`session_queue`: datagrams beyond it are dropped and counted, streams
//! beyond it refused), the idle timeout, and the core's per-connection
//! limits (`core`: sessions per connection, streams per session, header
//! size, datagram size).
//!
//! ```no_run
//! # async fn doc(runtime: std::sync::Arc<dyn tidings_framework::webtransport::quinn::Runtime>,
//! #              chain: Vec<tidings_framework::tls::rustls::pki_types::CertificateDer<'static>>,
//! #              key: tidings_framework::tls::rustls::pki_types::PrivateKeyDer<'static>) -> Result<(), Box<dyn std::error::Error>> {
//! use tidings_framework::server::{Context, Router};
//! use tidings_framework::webtransport::{self, Config, Error, Session, WebTransportServer};
//!
//! async fn room(ctx: Context, session: Session) -> Result<(), Error> {
//!     session.join(ctx.param("room").unwrap_or("lobby"));
//!     while let Ok(message) = session.receive_message().await {
//!         session.send_message(message).await?;
//!     }
//!     Ok(())
//! }
//!
//! let tls = webtransport::server_config(chain, key)?;
//! let router = Router::new().webtransport("/rooms/:room", room);
//! let server = WebTransportServer::bind("127.0.0.1:4433".parse()?, tls, Config::default(), runtime)?
//!     .router(router);
//! server.run().await;
//! # Ok(()) }
//! ```

mod driver;
mod echo;
mod error;
mod input;
mod outbox;
mod queue;
mod route;
mod session;
mod socket;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

pub use crate::hub::BroadcastMode;
pub use echo::{echo, echo_until_closed};
pub use error::{Error, SessionEnd};
pub use quinn;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
pub use session::{RecvStream, SendStream, Session};
pub use tidings_core::webtransport::ConnectRequest;

use crate::server::{Context, Router, ServerConfig, Service};
use crate::tls::{ServerTlsError, provider};
use crate::user_code::BoxFuture;

/// The ALPN protocol of HTTP/3.
pub const ALPN_H3: &[u8] = b"h3";

/// The application error code a session is closed with when its handler
/// returns an error (the error's text is the reason) or panics.
pub const HANDLER_ERROR: u32 = 1;

/// A WebTransport route's handler: `async fn(Context, Session) ->
/// Result<(), Error>`.
///
/// When it returns (and no clone of the session is left, e.g. in a task it
/// spawned with an `Arc<Session>`), the session is closed with code 0; if
/// it returned an error, or panicked, with [`HANDLER_ERROR`] and the
/// error's text.
pub trait WebTransportHandler: Send + Sync + 'static {
    /// Runs the handler for one session.
    fn call(&self, ctx: Context, session: Session) -> BoxFuture<Result<(), Error>>;
}

impl<F, Fut> WebTransportHandler for F
where
    F: Fn(Context, Session) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    fn call(&self, ctx: Context, session: Session) -> BoxFuture<Result<(), Error>> {
        Box::pin(self(ctx, session))
    }
}

/// Settings of WebTransport serving (standalone or beside a
/// [`Server`](crate::server::Server)). Fields can be read directly and set
/// with the chainable methods of the same name:
///
/// ```
/// # use tidings_framework::webtransport::Config;
/// let config = Config::default().max_connections(100).buffer_size(64 << 10);
/// assert_eq!(config.buffer_size, 64 << 10);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// QUIC connections served at once; one more is refused (QUIC
    /// CONNECTION_REFUSED) before its handshake. Default 1,024.
    pub max_connections: usize,
    /// Streams the peer may open at once per connection, in each direction
    /// (QUIC's MAX_STREAMS): a client that opens more waits, by QUIC flow
    /// control, until earlier ones are over. Default 100.
    pub max_streams: u32,
    /// The receive window of each stream, in bytes: what quinn buffers for
    /// a stream that the application has not read yet. A slow reader holds
    /// at most this much per stream, and the sender waits. The
    /// connection's window is `buffer_size × max_streams`. Default 1 MiB.
    pub buffer_size: usize,
    /// Per session: incoming streams not yet accepted, and datagrams not
    /// yet read. One more datagram is dropped (and counted in
    /// [`Stats::webtransport_datagrams_dropped`](crate::hub::Stats::webtransport_datagrams_dropped));
    /// one more stream is refused (reset with
    /// WEBTRANSPORT_BUFFERED_STREAM_REJECTED). Also the depth of each
    /// connection's command queue. Default 64.
    pub session_queue: usize,
    /// The longest message [`Session::receive_message`] accepts; a longer
    /// one is stopped and is [`Error::TooLong`]. Default 1 MiB.
    pub max_message_size: usize,
    /// A connection with no traffic for this long is closed. Default 30 s.
    pub idle_timeout: Duration,
    /// The receive buffer of the endpoint's UDP socket (`SO_RCVBUF`), in
    /// bytes: the datagrams of every connection that wait while the
    /// server is busy. A full buffer drops them, and QUIC takes a drop for
    /// congestion (the peer retransmits and slows down). Linux caps it at
    /// `net.core.rmem_max` (often 208 KiB, the usual default, in which case
    /// this changes nothing; raise that sysctl for a busy server); 0 leaves
    /// the system's default. Default 4 MiB, as QUIC servers commonly ask
    /// for (quic-go asks for 7 MiB).
    pub udp_receive_buffer: usize,
    /// The longest the server asks a client to wait before acknowledging
    /// a packet (QUIC's `max_ack_delay`, 25 ms unless asked), through
    /// QUIC's ACK frequency extension (draft-ietf-quic-ack-frequency),
    /// with clients that support it (quinn-based ones do; browsers at
    /// present do not, and are not asked). Only the delay changes: a client
    /// still acknowledges every second packet, and out-of-order ones at
    /// once. Values under 1 ms count as 1 ms (QUIC's timer granularity).
    ///
    /// When the last packets of a burst are lost, the sender resends them
    /// after a probe timeout that includes the peer's `max_ack_delay`
    /// (RFC 9002): on a path of a millisecond (a LAN, loopback) a lost last
    /// packet holds its stream ~28 ms with the default 25 ms, ~10 ms with
    /// 5 ms (bench/'s 64 KiB echo, a quinn client whose socket drops
    /// packets under load: 99th percentile 29 ms against 10 ms). The cost:
    /// a client acknowledges a lone packet sooner, i.e. one acknowledgement
    /// per packet rather than per two when packets come a few milliseconds
    /// apart, and a late acknowledgement sends a probe more often; in that
    /// benchmark, which keeps both cores busy, the rate and the median
    /// latency did not improve (more sessions wait for the CPU instead of
    /// a timer). Default `None` (not asked), as quinn, which never asks
    /// for less than 25 ms by itself.
    pub peer_max_ack_delay: Option<Duration>,
    /// The HTTP/3 and WebTransport limits of the core (sessions per
    /// connection, streams per session, header and datagram sizes).
    pub core: tidings_core::webtransport::Config,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_connections: 1024,
            max_streams: 100,
            buffer_size: 1 << 20,
            session_queue: 64,
            max_message_size: 1 << 20,
            idle_timeout: Duration::from_secs(30),
            udp_receive_buffer: 4 << 20,
            peer_max_ack_delay: None,
            core: tidings_core::webtransport::Config::default(),
        }
    }
}

macro_rules! setters {
    ($($name:ident: $ty:ty),* $(,)?) => {
        impl Config {
            $(
                #[doc = concat!("Sets [`Config::", stringify!($name), "`].")]
                #[must_use]
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}

setters! {
    max_connections: usize,
    max_streams: u32,
    buffer_size: usize,
    session_queue: usize,
    max_message_size: usize,
    idle_timeout: Duration,
    udp_receive_buffer: usize,
    peer_max_ack_delay: Option<Duration>,
    core: tidings_core::webtransport::Config,
}

impl Config {
    /// quinn's transport settings for these limits.
    fn transport(&self) -> io::Result<quinn::TransportConfig> {
        let invalid =
            |e: quinn::VarIntBoundsExceeded| io::Error::new(io::ErrorKind::InvalidInput, e);
        let window = quinn::VarInt::try_from(self.buffer_size as u64).map_err(invalid)?;
        let connection_window = quinn::VarInt::try_from(
            (self.buffer_size as u64).saturating_mul(u64::from(self.max_streams.max(1))),
        )
        .unwrap_or(quinn::VarInt::MAX);
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_concurrent_bidi_streams(self.max_streams.into())
            .max_concurrent_uni_streams(self.max_streams.into())
            .stream_receive_window(window)
            .receive_window(connection_window)
            // Datagrams on: peers (aioquic) refuse H3_DATAGRAM unless the
            // QUIC transport parameter max_datagram_frame_size is there.
            .datagram_receive_buffer_size(Some(64 * 1024))
            .max_idle_timeout(Some(
                quinn::IdleTimeout::try_from(self.idle_timeout)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
            ));
        if let Some(delay) = self.peer_max_ack_delay {
            let mut ack = quinn::AckFrequencyConfig::default();
            // Only the delay: every second packet and any out-of-order one
            // are still acknowledged at once, as without the extension.
            ack.ack_eliciting_threshold(quinn::VarInt::from_u32(1))
                .reordering_threshold(quinn::VarInt::from_u32(1))
                .max_ack_delay(Some(delay.max(Duration::from_millis(1))));
            transport.ack_frequency_config(Some(ack));
        }
        Ok(transport)
    }
}

/// The runtime a server's QUIC endpoint runs on: each adapter's runtime
/// implements it (with its `webtransport` feature) by handing over quinn's
/// runtime for it, which is what `Server::with_webtransport` needs.
pub trait QuicRuntime {
    /// quinn's runtime for this one.
    fn quinn_runtime(&self) -> Arc<dyn quinn::Runtime>;
}

/// A bound QUIC endpoint, with what its connections need; serves the
/// WebTransport routes of a [`Service`].
pub(crate) struct Listener {
    endpoint: quinn::Endpoint,
    config: Config,
    runtime: Arc<dyn quinn::Runtime>,
}

impl Listener {
    /// Binds a UDP socket on `addr` and a QUIC endpoint on it.
    pub(crate) fn bind(
        addr: SocketAddr,
        tls: rustls::ServerConfig,
        config: Config,
        runtime: Arc<dyn quinn::Runtime>,
    ) -> io::Result<Self> {
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        server.transport_config(Arc::new(config.transport()?));
        let socket = socket::bind(addr, config.udp_receive_buffer)?;
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(server),
            socket,
            runtime.clone(),
        )?;
        Ok(Listener {
            endpoint,
            config,
            runtime,
        })
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    pub(crate) fn closer(&self) -> Closer {
        Closer(self.endpoint.clone())
    }

    /// Accepts QUIC connections and serves them until the endpoint is
    /// closed or the service shuts down (then every connection is closed
    /// with H3_NO_ERROR).
    pub(crate) async fn run(self, service: Arc<Service>) {
        let shared = Arc::new(driver::Shared {
            local_addr: self.endpoint.local_addr().ok(),
            service,
            config: self.config,
            runtime: self.runtime,
            connections: AtomicUsize::new(0),
        });
        loop {
            let incoming = {
                let mut accept = pin!(self.endpoint.accept());
                let mut stop = pin!(shared.service.shutdown_signal().wait());
                std::future::poll_fn(|cx| {
                    if stop.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    accept.as_mut().poll(cx)
                })
                .await
            };
            let Some(incoming) = incoming else { break };
            let admitted = shared
                .connections
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |open| {
                    (open < shared.config.max_connections).then_some(open + 1)
                })
                .is_ok();
            if !admitted {
                incoming.refuse();
                continue;
            }
            let task_shared = shared.clone();
            shared.runtime.spawn(Box::pin(async move {
                if let Ok(conn) = incoming.await {
                    driver::run(task_shared.clone(), conn).await;
                }
                task_shared.connections.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        Closer(self.endpoint.clone()).close();
    }
}

/// A WebTransport server on one UDP socket of its own: bind, add routes
/// (or a [`Router`]), run. To serve WebTransport beside WebSocket and SSE
/// with one hub, use `Server::with_webtransport` instead (see the
/// [module docs](self)).
pub struct WebTransportServer {
    listener: Listener,
    router: Router,
    server_config: ServerConfig,
}

impl std::fmt::Debug for WebTransportServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebTransportServer")
            .field("addr", &self.listener.local_addr().ok())
            .field("routes", &self.router.len())
            .finish_non_exhaustive()
    }
}

impl WebTransportServer {
    /// Binds a UDP socket on `addr` and a QUIC endpoint on it, with `tls`
    /// (TLS 1.3 with ALPN `h3`: see [`server_config`]), on quinn's
    /// `runtime`. Not serving until [`run`](Self::run).
    pub fn bind(
        addr: SocketAddr,
        tls: rustls::ServerConfig,
        config: Config,
        runtime: Arc<dyn quinn::Runtime>,
    ) -> io::Result<Self> {
        Ok(WebTransportServer {
            listener: Listener::bind(addr, tls, config, runtime)?,
            router: Router::new(),
            server_config: ServerConfig::default(),
        })
    }

    /// Serves sessions whose CONNECT path (query excluded) matches the
    /// route pattern `path` with `handler`; other paths are answered 404.
    /// The session closes when the handler returns (code 0) unless it was
    /// closed before. For path parameters, middleware and the request's
    /// [`Context`], give a whole [`router`](Self::router) instead.
    ///
    /// # Panics
    ///
    /// If `path` is not a valid route pattern.
    #[must_use]
    pub fn route<H, F>(mut self, path: &str, handler: H) -> Self
    where
        H: Fn(Session) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        self.router = self.router.webtransport(path, move |_ctx, session| {
            let run = handler(session);
            async move {
                run.await;
                Ok(())
            }
        });
        self
    }

    /// Serves `router`'s WebTransport routes (its other routes are not
    /// reachable over HTTP/3: their CONNECTs get 404), replacing the routes
    /// given before. The router is checked when the server
    /// [runs](Self::run), which panics if it is misconfigured
    /// ([`Router::validate`]).
    #[must_use]
    pub fn router(mut self, router: Router) -> Self {
        self.router = router;
        self
    }

    /// The hub's outbox bounds and the other server-wide settings the
    /// sessions use ([`ServerConfig::outbox_messages`],
    /// [`ServerConfig::outbox_bytes`], [`ServerConfig::engine`]).
    #[must_use]
    pub fn server_config(mut self, config: ServerConfig) -> Self {
        self.server_config = config;
        self
    }

    /// The bound UDP address (with the actual port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle that stops the server.
    pub fn closer(&self) -> Closer {
        self.listener.closer()
    }

    /// Accepts QUIC connections and serves them until [`Closer::close`].
    ///
    /// # Panics
    ///
    /// If the router is misconfigured ([`Router::validate`]).
    pub async fn run(self) {
        let service = Service::new(self.router, self.server_config);
        self.listener.run(service).await;
    }
}

/// Stops WebTransport serving: every connection is closed (H3_NO_ERROR)
/// and the accept loop ends.
#[derive(Clone, Debug)]
pub struct Closer(quinn::Endpoint);

impl Closer {
    /// Closes every connection and the endpoint.
    pub fn close(&self) {
        // H3_NO_ERROR.
        self.0.close(quinn::VarInt::from_u32(0x100), b"");
    }
}

/// A TLS configuration for WebTransport: the certificate chain (leaf
/// first) and key, tidings' [crypto provider](crate::tls::provider),
/// TLS 1.3 only (QUIC needs it), ALPN `h3`.
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, ServerTlsError> {
    let provider = provider();
    let certified = crate::tls::server::certified_key(cert_chain, key, &provider)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    config.alpn_protocols = vec![ALPN_H3.to_vec()];
    Ok(config)
}
