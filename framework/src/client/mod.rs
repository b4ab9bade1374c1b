//! The WebSocket client, runtime-agnostic: dialing (TCP, proxy, TLS for
//! `wss://`; see [`dial`](crate::dial)), the opening handshake, then the
//! same [`Connection`] handle the server gives its handlers. The adapters
//! export it as `connect` / `connect_with` for their runtime.
//!
//! [`connect`] takes a URL or an [`http::Request`] ([`IntoClientRequest`]),
//! so headers, cookies, an `Origin` and subprotocols are set the way the
//! `http` crate sets them. Two timeouts bound it, both 10 s by default:
//! [`ClientConfig::connect_timeout`](ClientConfig#structfield.connect_timeout)
//! (TCP connect, proxy tunnel and TLS handshake together) and
//! [`ClientConfig::handshake_timeout`](ClientConfig#structfield.handshake_timeout)
//! (the HTTP upgrade request and the server's response).
//!
//! [`Reconnecting`] keeps a connection up: it reconnects with exponential
//! backoff and full jitter, and runs a hook after each reconnection.

mod reconnect;
mod request;

pub use reconnect::{Reconnecting, ReconnectingConfig, StopRule};
pub use request::IntoClientRequest;

use core::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::connection::{BufferLimits, Connection, Info, Pump, Settings, Shared};
use crate::dial::{Dial, ProxyConfig};
use crate::error::Error;
use crate::hub::{ConnectionInfo, Listing, Protocol, SlowConsumer, WsEncoding};
use crate::io_util::{read_some, with_deadline, write_all};
use crate::runtime::{Net, Runtime, Transport};
use crate::wheel::Wheel;
use http::header::SEC_WEBSOCKET_PROTOCOL;
use tidings_core::handshake::{ClientConfigError, ClientHandshake};
use tidings_core::head::{HeadLimits, HeadReader};
use tidings_core::ws::{self, Role};

/// Client settings.
///
/// ```
/// use std::time::Duration;
/// # use tidings_framework::client::ClientConfig;
/// let config = ClientConfig::default().handshake_timeout(Duration::from_secs(3));
/// assert_eq!(config.handshake_timeout, Duration::from_secs(3));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Protocol limits and timers (keep-alive pings are off by default for
    /// clients: the server usually pings).
    pub websocket: ws::Config,
    /// Subprotocols to offer, in order of preference, unless the request
    /// given to [`connect`] has its own `Sec-WebSocket-Protocol` header
    /// (which then wins).
    pub subprotocols: Vec<String>,
    /// Time allowed to reach the server: TCP connect, the proxy tunnel and
    /// the TLS handshake together. Default 10 s.
    pub connect_timeout: Duration,
    /// Time allowed for the opening handshake once connected (the upgrade
    /// request and the server's response head). Default 10 s.
    pub handshake_timeout: Duration,
    /// The proxies to go through ([`ProxyConfig::all`],
    /// [`ProxyConfig::from_env`]). Default: none, whatever the environment
    /// says.
    pub proxy: Option<ProxyConfig>,
    /// The TLS configuration for `wss://`; `None` (the default):
    /// [`tls::default_client_config`](crate::tls::default_client_config),
    /// the roots of the enabled features with ALPN `http/1.1`.
    #[cfg(feature = "_tls")]
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Limits on the server's response head.
    pub head_limits: HeadLimits,
    /// Bytes read from the socket per read call. Default 4 KiB.
    pub read_buffer_size: usize,
    /// Encoded outgoing bytes queued before writers wait. Default 64 KiB.
    pub write_buffer_size: usize,
    /// Received message bytes queued before reading pauses. Default 1 MiB.
    pub read_queue_size: usize,
    /// Extra request headers (`Authorization`, `Cookie`, `Origin`, …), sent
    /// before those of the request given to [`connect`]; the handshake's
    /// own headers are refused when connecting
    /// ([`ClientConfigError::ReservedHeader`]).
    pub headers: http::HeaderMap,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            websocket: ws::Config::default().ping_period(None).pong_wait(None),
            subprotocols: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            proxy: None,
            #[cfg(feature = "_tls")]
            tls: None,
            head_limits: HeadLimits::default(),
            read_buffer_size: 4 << 10,
            write_buffer_size: 64 << 10,
            read_queue_size: 1 << 20,
            headers: http::HeaderMap::new(),
        }
    }
}

impl ClientConfig {
    /// Sets [`ClientConfig::websocket`](#structfield.websocket).
    #[must_use]
    pub fn websocket(mut self, config: ws::Config) -> Self {
        self.websocket = config;
        self
    }

    /// Sets [`ClientConfig::subprotocols`](#structfield.subprotocols).
    #[must_use]
    pub fn subprotocols<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        protocols: I,
    ) -> Self {
        self.subprotocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a request header (see [`ClientConfig::headers`](#structfield.headers)).
    #[must_use]
    pub fn header(mut self, name: http::HeaderName, value: http::HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Sets [`ClientConfig::handshake_timeout`](#structfield.handshake_timeout).
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`ClientConfig::connect_timeout`](#structfield.connect_timeout).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`ClientConfig::proxy`](#structfield.proxy).
    #[must_use]
    pub fn proxy(mut self, proxy: ProxyConfig) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Sets [`ClientConfig::tls`](#structfield.tls): a rustls configuration
    /// of your own (private CA, client certificate), used as is (its ALPN
    /// list included; [`tls::client_config`](crate::tls::client_config)
    /// builds one offering `http/1.1`).
    #[cfg(feature = "_tls")]
    #[must_use]
    pub fn tls(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }
}

static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(1);

/// Performs the opening handshake for `request` (a URL or an
/// [`http::Request`], see [`IntoClientRequest`]) over `io`, already
/// connected to the server (TLS included for `wss://`), and returns the
/// connection. The socket pump is spawned on `rt`; the returned handle
/// reads and writes through it.
pub async fn connect_over<T: Transport, R: Runtime>(
    io: T,
    request: impl IntoClientRequest,
    config: ClientConfig,
    rt: R,
    addrs: (Option<SocketAddr>, Option<SocketAddr>),
) -> Result<Connection, Error> {
    let handshake = prepare(request.into_client_request()?, &config, &rt)?;
    finish(io, handshake, config, rt, addrs).await
}

/// The handshake for `request`: its URI, its subprotocols
/// (`Sec-WebSocket-Protocol` of the request, else the configuration's),
/// the configuration's headers then the request's.
fn prepare<R: Runtime>(
    request: http::Request<()>,
    config: &ClientConfig,
    rt: &R,
) -> Result<ClientHandshake, Error> {
    let mut key = [0u8; 16];
    rt.fill_random(&mut key);
    let (parts, ()) = request.into_parts();
    let mut handshake = ClientHandshake::new(&parts.uri.to_string(), key)?;
    let requested: Vec<String> = parts
        .headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .map(|value| {
            value
                .to_str()
                .map_err(|_| ClientConfigError::InvalidSubprotocol {
                    name: String::from_utf8_lossy(value.as_bytes()).into_owned(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?
        .iter()
        .flat_map(|list| list.split(','))
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect();
    handshake = if requested.is_empty() {
        handshake.with_subprotocols(config.subprotocols.iter().cloned())?
    } else {
        handshake.with_subprotocols(requested)?
    };
    handshake = handshake.with_deflate(config.websocket.deflate.clone());
    let request_headers = parts
        .headers
        .iter()
        .filter(|(name, _)| **name != SEC_WEBSOCKET_PROTOCOL);
    for (name, value) in config.headers.iter().chain(request_headers) {
        handshake = handshake.with_header(name.clone(), value.clone())?;
    }
    Ok(handshake)
}

/// Sends the handshake over `io`, checks the response, starts the pump.
async fn finish<T: Transport, R: Runtime>(
    mut io: T,
    handshake: ClientHandshake,
    config: ClientConfig,
    rt: R,
    addrs: (Option<SocketAddr>, Option<SocketAddr>),
) -> Result<Connection, Error> {
    let deadline = rt.now() + config.handshake_timeout;
    let exchange = async {
        let mut out = Vec::new();
        handshake.encode(&mut out);
        write_all(&mut io, &out).await?;
        let mut reader = HeadReader::new(config.head_limits.clone());
        let mut buf = Vec::with_capacity(512);
        loop {
            if let Some((response, n)) = reader.read_response(&buf)? {
                // `n` is the length of a head parsed from `buf`, so
                // `n <= buf.len()` and `split_off` cannot panic.
                let leftover = buf.split_off(n);
                return Ok::<_, Error>((response, leftover));
            }
            if read_some(&mut io, &mut buf, 4096).await? == 0 {
                return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
    };
    let (response, leftover) = with_deadline(&rt, deadline, exchange)
        .await
        .map_err(|_| Error::Timeout)??;
    let negotiated = handshake.verify(&response)?;

    let mut mask_seed = [0u8; 32];
    rt.fill_random(&mut mask_seed);
    let now = rt.now();
    let mut protocol =
        ws::Connection::new(Role::Client { mask_seed }, config.websocket.clone(), now)
            .with_deflate(negotiated.deflate);
    protocol.handle_input(now, &leftover);
    let info = ConnectionInfo {
        id: Arc::from(format!(
            "client_{}",
            NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed)
        )),
        protocol: Protocol::WebSocket,
        // Never registered with a hub, so through no route.
        route: Arc::from(""),
        remote_addr: addrs.0,
        started_at: now,
    };
    let info = Info {
        listing: Box::new(Listing::new(
            info,
            SlowConsumer::default(),
            WsEncoding::Plain,
        )),
        local_addr: addrs.1,
        subprotocol: negotiated
            .subprotocol
            .map(|name| Box::new(name.into_boxed_str())),
    };
    let clock_rt = rt.clone();
    let settings = Arc::new(Settings {
        limits: BufferLimits {
            read_buffer_size: config.read_buffer_size,
            inbox_bytes: config.read_queue_size,
            write_buffer_size: config.write_buffer_size,
        },
        clock: Arc::new(move || clock_rt.now()),
        wheel: Arc::new(Wheel::new(rt.now())),
        hub: None,
        shutdown: None,
    });
    let shared = Arc::new(Shared::new(info, settings, protocol));
    shared.lock().drain_events();
    rt.spawn(Pump::new(shared.clone(), io, rt.clone()));
    Ok(Connection::from_shared(shared))
}

/// Connects to `request` (a `ws://` or `wss://` URL, or an
/// [`http::Request`]; see [`IntoClientRequest`]) on runtime `N`: TCP, the
/// proxy tunnel if [`ClientConfig::proxy`](ClientConfig#structfield.proxy)
/// names one for this host, TLS for `wss://` (within
/// [`connect_timeout`](ClientConfig#structfield.connect_timeout)), then the
/// opening handshake (within
/// [`handshake_timeout`](ClientConfig#structfield.handshake_timeout)).
///
/// # Errors
/// [`Error::Url`] for a URL or header the handshake cannot use,
/// [`Error::Io`] / [`Error::Timeout`] when the server cannot be reached,
/// [`Error::Proxy`], [`Error::Tls`] (its text names the certificate
/// problem; a build without TLS says so), [`Error::Handshake`] when the
/// server refuses the upgrade (e.g. its status).
pub async fn connect<N: Net + Default>(
    request: impl IntoClientRequest,
    config: ClientConfig,
) -> Result<Connection, Error> {
    let rt = N::default();
    let handshake = prepare(request.into_client_request()?, &config, &rt)?;
    let target = handshake.target();
    let dial = Dial {
        host: &target.host,
        port: target.port,
        tls: target.scheme.is_tls(),
        proxy: config.proxy.as_ref(),
        #[cfg(feature = "_tls")]
        tls_config: config.tls.as_ref(),
        timeout: config.connect_timeout,
    };
    // Boxed: TCP, proxy and TLS states together are large, and callers
    // await `connect` inside their own futures.
    let (stream, addrs) = Box::pin(dial.connect::<N>()).await?;
    finish(stream, handshake, config, rt, addrs).await
}
