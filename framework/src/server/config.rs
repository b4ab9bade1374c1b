//! Server configuration: the server as a whole, and its SSE routes.

use std::sync::Arc;
use std::time::Duration;

use crate::hub::BroadcastCompression;
use crate::hub::cluster::Engine;
use tidings_core::handshake::OriginPolicy;
use tidings_core::head::HeadLimits;
use tidings_core::ws;

/// Limits, timeouts and policies of a server. Defaults are safe for the open
/// internet; set fields with the chainable methods of the same name.
///
/// ```
/// use std::time::Duration;
/// # use tidings_framework::server::ServerConfig;
/// let config = ServerConfig::default()
///     .max_connections(1_000)
///     .handshake_timeout(Duration::from_secs(5));
/// assert_eq!(config.max_connections, 1_000);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Protocol limits and timers of each connection: max frame and message
    /// size, ping period (54 s), pong wait (60 s), close timeout, idle timeout.
    pub websocket: ws::Config,
    /// Bytes read from the socket per read call. Default 4 KiB.
    pub read_buffer_size: usize,
    /// Encoded outgoing bytes a connection may queue before writers wait
    /// Default 64 KiB.
    pub write_buffer_size: usize,
    /// Received message bytes queued for the handler before the server stops
    /// reading that socket (back-pressure). Default 1 MiB.
    pub read_queue_size: usize,
    /// Time allowed from accepting a socket to a complete request head,
    /// the TLS handshake included (one deadline for both), and for the
    /// middleware, a POST body and the 101 or SSE head that follow it; on a
    /// kept-alive connection, from the first byte of each later request.
    /// Default 10 s.
    pub handshake_timeout: Duration,
    /// WebSocket connections open at once; further upgrade requests get 503
    /// before the upgrade. Default 10,000.
    pub max_connections: usize,
    /// Limits on the HTTP request head (8 KiB, 64 headers by default).
    pub head_limits: HeadLimits,
    /// How long a connection whose plain HTTP response was sent with
    /// `Connection: keep-alive` may wait for the first byte of its next
    /// request; the head that follows then has
    /// [`handshake_timeout`](Self::handshake_timeout). HTTP/1.1 requests
    /// are kept alive unless they say `Connection: close` (HTTP/1.0 ones
    /// only with `Connection: keep-alive`); WebSocket upgrades and SSE
    /// streams end the HTTP exchange, and may follow plain requests on the
    /// same connection. Zero turns keep-alive off (every response is
    /// `Connection: close`). Default 5 s.
    pub keep_alive_idle: Duration,
    /// Requests served on one connection: the response to the last one is
    /// `Connection: close`. Default 1,000.
    pub max_requests_per_connection: usize,
    /// The largest request body a POST route ([`Router::post`](super::Router::post))
    /// reads: a larger `Content-Length` or chunked body gets `413 Content
    /// Too Large` and the connection is closed. Default 1 MiB.
    pub max_body_size: usize,
    /// Which `Origin`s may open WebSocket connections.
    /// Default: any.
    pub origin: OriginPolicy,
    /// Subprotocols the server speaks, in order of preference.
    pub subprotocols: Vec<String>,
    /// Server-Sent Events routes: retry hint, admission limit, per-client
    /// queue, keep-alive and slow-client timeout.
    pub sse: SseConfig,
    /// The most bytes a broadcast (or a [hub](crate::hub) send) may leave
    /// queued for one client, WebSocket or SSE, counting what is already
    /// queued. Beyond it the route's
    /// [`SlowConsumer`](crate::hub::SlowConsumer) policy drops the client.
    /// A client with nothing queued takes any one message, so a client's
    /// outbox holds at most this plus one message. Default 1 MiB.
    pub outbox_bytes: usize,
    /// The most broadcast messages queued for one WebSocket client (for SSE
    /// clients the bound is [`SseConfig::buffer_size`]). Beyond it the
    /// slow-consumer policy applies. Default 1,024.
    pub outbox_messages: usize,
    /// How broadcasts are compressed for WebSocket clients that negotiated
    /// permessage-deflate ([`websocket.deflate`](ws::Config::deflate)):
    /// once for all clients without context takeover, per client, or never.
    /// See [`BroadcastCompression`] for the trade-off (CPU, bandwidth,
    /// memory). Default [`BroadcastCompression::Shared`].
    pub broadcast_compression: BroadcastCompression,
    /// Serve TLS (`https://`, `wss://`) on every connection with this
    /// certificate or configuration; set with [`tls`](Self::tls). Default
    /// `None`: plain HTTP. Needs the `ring` or `aws-lc-rs` feature.
    ///
    /// Each connection's TLS handshake runs in its own task, after the
    /// accept, under [`handshake_timeout`](Self::handshake_timeout): the
    /// deadline set at the accept covers the TLS handshake and the request
    /// head together. At most [`max_tls_handshakes`](Self::max_tls_handshakes)
    /// run at once. Once through, a TLS connection counts against the same
    /// limits as a plain one ([`max_connections`](Self::max_connections),
    /// [`SseConfig::max_connections`]). Failed handshakes are counted by
    /// reason in [`Stats::tls_handshake_failures`](crate::hub::Stats::tls_handshake_failures)
    /// and logged at debug level.
    #[cfg(feature = "_tls")]
    pub tls: Option<crate::tls::ServerTls>,
    /// TLS handshakes in progress at once; a connection accepted beyond
    /// it is closed before its handshake starts (counted as
    /// [`busy`](crate::hub::TlsHandshakeFailures::busy)), so a flood of
    /// handshakes cannot take unbounded memory. Default 1,000.
    #[cfg(feature = "_tls")]
    pub max_tls_handshakes: usize,
    /// HTTP/2 over TLS (ALPN `h2`): on by default, with its limits; see
    /// [`Http2Config`](crate::server::Http2Config).
    #[cfg(feature = "http2")]
    pub http2: crate::server::h2::config::Http2Config,
    /// The cluster engine through which the hub reaches the other nodes of
    /// a multi-process deployment (broadcast, send and close by id): see
    /// [`hub::cluster`](crate::hub::cluster). Default `None`: one process,
    /// no cost. Set it with [`engine`](Self::engine).
    pub engine: Option<Arc<dyn Engine>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            websocket: ws::Config::default(),
            read_buffer_size: 4 << 10,
            write_buffer_size: 64 << 10,
            read_queue_size: 1 << 20,
            handshake_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            head_limits: HeadLimits::default(),
            keep_alive_idle: Duration::from_secs(5),
            max_requests_per_connection: 1_000,
            max_body_size: 1 << 20,
            origin: OriginPolicy::default(),
            subprotocols: Vec::new(),
            sse: SseConfig::default(),
            outbox_bytes: 1 << 20,
            outbox_messages: 1_024,
            broadcast_compression: BroadcastCompression::default(),
            #[cfg(feature = "_tls")]
            tls: None,
            #[cfg(feature = "_tls")]
            max_tls_handshakes: 1_000,
            #[cfg(feature = "http2")]
            http2: crate::server::h2::config::Http2Config::default(),
            engine: None,
        }
    }
}

macro_rules! setters {
    ($config:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        impl $config {
            $(
                #[doc = concat!("Sets [`", stringify!($config), "::", stringify!($field), "`](#structfield.", stringify!($field), ").")]
                #[must_use]
                pub fn $field(mut self, value: $ty) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

setters! { ServerConfig {
    websocket: ws::Config,
    read_buffer_size: usize,
    write_buffer_size: usize,
    read_queue_size: usize,
    handshake_timeout: Duration,
    max_connections: usize,
    head_limits: HeadLimits,
    keep_alive_idle: Duration,
    max_requests_per_connection: usize,
    max_body_size: usize,
    origin: OriginPolicy,
    subprotocols: Vec<String>,
    sse: SseConfig,
    outbox_bytes: usize,
    outbox_messages: usize,
    broadcast_compression: BroadcastCompression,
}}

#[cfg(feature = "_tls")]
setters! { ServerConfig {
    max_tls_handshakes: usize,
}}

#[cfg(feature = "_tls")]
impl ServerConfig {
    /// Serves TLS with `tls` (sets [`ServerConfig::tls`](#structfield.tls)).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), tidings_framework::tls::ServerTlsError> {
    /// use tidings_framework::server::ServerConfig;
    /// use tidings_framework::tls::ServerTls;
    ///
    /// let config = ServerConfig::default().tls(ServerTls::from_pem_files("cert.pem", "key.pem")?);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn tls(mut self, tls: crate::tls::ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }
}

impl ServerConfig {
    /// Sets [`ServerConfig::http2`](#structfield.http2).
    #[cfg(feature = "http2")]
    #[must_use]
    pub fn http2(mut self, http2: crate::server::h2::config::Http2Config) -> Self {
        self.http2 = http2;
        self
    }

    /// Sets [`ServerConfig::engine`](#structfield.engine): this server is one
    /// node of a cluster that `engine` connects.
    #[must_use]
    pub fn engine(mut self, engine: Arc<dyn Engine>) -> Self {
        self.engine = Some(engine);
        self
    }
}

/// Configuration of Server-Sent Events routes.
///
/// A client's events wait in a bounded queue of `buffer_size` events until
/// the socket takes them. When the queue is full, [`send`] waits for room;
/// if no event leaves the queue for `send_timeout`, the client is too slow:
/// it is disconnected, counted in
/// [`Stats::sse_send_timeouts`](crate::hub::Stats::sse_send_timeouts),
/// and `send` returns [`Error::Closed`](crate::Error::Closed). Memory per
/// client is therefore bounded by `buffer_size` events.
///
/// [`send`]: super::SseContext::send
///
/// ```
/// use std::time::Duration;
/// # use tidings_framework::server::{ServerConfig, SseConfig};
/// let config = ServerConfig::default().sse(
///     SseConfig::default()
///         .retry(Some(Duration::from_secs(3)))
///         .max_connections(1_000)
///         .buffer_size(1_024),
/// );
/// assert_eq!(config.sse.keep_alive, Some(Duration::from_secs(15)));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SseConfig {
    /// The reconnection delay sent as a `retry:` field at the start of every
    /// stream. Default `None`: the client's own
    /// default applies (3 s in browsers).
    pub retry: Option<Duration>,
    /// SSE streams open at once, counted apart from WebSocket connections;
    /// further requests get 503. Default 10,000.
    pub max_connections: usize,
    /// Events queued per client before `send` waits.
    /// Default 1,024.
    pub buffer_size: usize,
    /// When nothing was written for this long, a `: keep-alive` comment is
    /// sent, so proxies keep the stream open and a dead client is noticed.
    /// Default 15 s; `None` (or zero) sends none.
    pub keep_alive: Option<Duration>,
    /// How long a full queue may make no progress while a `send` waits
    /// before the client is disconnected as too slow. Default 5 s.
    pub send_timeout: Duration,
}

impl Default for SseConfig {
    fn default() -> Self {
        SseConfig {
            retry: None,
            max_connections: 10_000,
            buffer_size: 1_024,
            keep_alive: Some(Duration::from_secs(15)),
            send_timeout: Duration::from_secs(5),
        }
    }
}

setters! { SseConfig {
    retry: Option<Duration>,
    max_connections: usize,
    buffer_size: usize,
    keep_alive: Option<Duration>,
    send_timeout: Duration,
}}
