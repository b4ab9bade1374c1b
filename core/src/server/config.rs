//! Server configuration, mirroring the Forge `WebSocketConfig`.

use std::time::Duration;

use crate::handshake::OriginPolicy;
use crate::head::HeadLimits;
use crate::ws;

/// Limits, timeouts and policies of a server. Defaults are safe for the open
/// internet; set fields with the chainable methods of the same name.
///
/// ```
/// use std::time::Duration;
/// use tidings_core::server::ServerConfig;
///
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
    /// Bytes read from the socket per read call (Forge `ReadBufferSize`). Default 4 KiB.
    pub read_buffer_size: usize,
    /// Encoded outgoing bytes a connection may queue before writers wait
    /// (Forge `WriteBufferSize`). Default 64 KiB.
    pub write_buffer_size: usize,
    /// Received message bytes queued for the handler before the server stops
    /// reading that socket (back-pressure). Default 1 MiB.
    pub read_queue_size: usize,
    /// Time allowed from accepting a socket to a complete request head.
    /// Default 10 s.
    pub handshake_timeout: Duration,
    /// WebSocket connections open at once; further upgrade requests get 503
    /// before the upgrade. Default 10,000.
    pub max_connections: usize,
    /// Limits on the HTTP request head (8 KiB, 64 headers by default).
    pub head_limits: HeadLimits,
    /// Which `Origin`s may open WebSocket connections (Forge `CheckOrigin`).
    /// Default: any.
    pub origin: OriginPolicy,
    /// Subprotocols the server speaks, in order of preference.
    pub subprotocols: Vec<String>,
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
            origin: OriginPolicy::default(),
            subprotocols: Vec::new(),
        }
    }
}

macro_rules! setters {
    ($($field:ident: $ty:ty),* $(,)?) => {
        impl ServerConfig {
            $(
                #[doc = concat!("Sets [`ServerConfig::", stringify!($field), "`](#structfield.", stringify!($field), ").")]
                #[must_use]
                pub fn $field(mut self, value: $ty) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

setters! {
    websocket: ws::Config,
    read_buffer_size: usize,
    write_buffer_size: usize,
    read_queue_size: usize,
    handshake_timeout: Duration,
    max_connections: usize,
    head_limits: HeadLimits,
    origin: OriginPolicy,
    subprotocols: Vec<String>,
}
