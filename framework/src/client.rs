//! The WebSocket client, runtime-agnostic: the opening handshake over an
//! already-connected transport, then the same [`Connection`] handle the
//! server gives its handlers. Adapters add the TCP connect.

use core::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::connection::{BufferLimits, Connection, Info, Pump, Settings, Shared};
use crate::error::Error;
use crate::io_util::{read_some, with_deadline, write_all};
use crate::runtime::{Net, Runtime, Transport};
use tidings_core::handshake::ClientHandshake;
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
    /// Subprotocols to offer, in order of preference.
    pub subprotocols: Vec<String>,
    /// Time allowed for the whole opening handshake. Default 10 s.
    pub handshake_timeout: Duration,
    /// Limits on the server's response head.
    pub head_limits: HeadLimits,
    /// Bytes read from the socket per read call. Default 4 KiB.
    pub read_buffer_size: usize,
    /// Encoded outgoing bytes queued before writers wait. Default 64 KiB.
    pub write_buffer_size: usize,
    /// Received message bytes queued before reading pauses. Default 1 MiB.
    pub read_queue_size: usize,
    /// Extra request headers (`Authorization`, `Cookie`, `Origin`, …); the
    /// handshake's own headers are refused when connecting
    /// ([`ClientConfigError::ReservedHeader`](tidings_core::handshake::ClientConfigError::ReservedHeader)).
    pub headers: http::HeaderMap,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            websocket: ws::Config::default().ping_period(None).pong_wait(None),
            subprotocols: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
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
}

static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(1);

/// Performs the opening handshake for `url` over `io` (already connected to
/// the server) and returns the connection. The socket pump is spawned on
/// `rt`; the returned handle reads and writes through it.
pub async fn connect_over<T: Transport, R: Runtime>(
    mut io: T,
    url: &str,
    config: ClientConfig,
    rt: R,
    addrs: (Option<SocketAddr>, Option<SocketAddr>),
) -> Result<Connection, Error> {
    let mut key = [0u8; 16];
    rt.fill_random(&mut key);
    let mut handshake = ClientHandshake::new(url, key)?
        .with_subprotocols(config.subprotocols.iter().cloned())?
        .with_deflate(config.websocket.deflate.clone());
    for (name, value) in &config.headers {
        handshake = handshake.with_header(name.clone(), value.clone())?;
    }
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
    let info = Info {
        id: Arc::from(format!(
            "client_{}",
            NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed)
        )),
        remote_addr: addrs.0,
        local_addr: addrs.1,
        subprotocol: negotiated.subprotocol.map(String::into_boxed_str),
    };
    let clock_rt = rt.clone();
    let settings = Arc::new(Settings {
        limits: BufferLimits {
            read_buffer_size: config.read_buffer_size,
            inbox_bytes: config.read_queue_size,
            write_buffer_size: config.write_buffer_size,
        },
        clock: Arc::new(move || clock_rt.now()),
    });
    let shared = Arc::new(Shared::new(info, settings, protocol, None));
    shared.lock().drain_events();
    rt.spawn(Pump::new(shared.clone(), io, rt.clone(), None));
    Ok(Connection::from_shared(shared))
}

/// Connects to `url` (`ws://host[:port]/path?query`) over TCP on runtime
/// `N` and performs the opening handshake. `wss://` needs TLS, which tidings
/// does not provide yet: connect the TLS stream yourself and use
/// [`connect_over`].
pub async fn connect<N: Net + Default>(
    url: &str,
    config: ClientConfig,
) -> Result<Connection, Error> {
    let target = ClientHandshake::new(url, [0; 16])?;
    let target = target.target();
    if target.scheme.is_tls() {
        return Err(Error::other(
            "wss:// needs TLS: connect a TLS stream and use connect_over",
        ));
    }
    let rt = N::default();
    let deadline = rt.now() + config.handshake_timeout;
    let stream = with_deadline(&rt, deadline, N::connect(&target.host, target.port))
        .await
        .map_err(|_| Error::Timeout)??;
    let addrs = N::addrs(&stream);
    connect_over(stream, url, config, rt, addrs).await
}
