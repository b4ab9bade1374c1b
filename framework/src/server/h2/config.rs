//! [`Http2Config`]: the HTTP/2 settings and limits of a server.

/// HTTP/2 settings and limits of a server; set them with
/// [`ServerConfig::http2`](crate::server::ServerConfig::http2). HTTP/2 is served
/// over TLS only (ALPN `h2`), when [`enabled`](Self::enabled).
///
/// ```
/// # use tidings_framework::server::{Http2Config, ServerConfig};
/// let config = ServerConfig::default().http2(Http2Config::default().max_concurrent_streams(50));
/// assert_eq!(config.http2.max_concurrent_streams, 50);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Http2Config {
    /// Offer `h2` in the TLS handshake's ALPN (before `http/1.1`), and
    /// serve the connections that choose it. Default `true`.
    pub enabled: bool,
    /// Streams a client may have open at once on one connection
    /// (`SETTINGS_MAX_CONCURRENT_STREAMS`); each open SSE stream or
    /// WebSocket counts. Default 100.
    pub max_concurrent_streams: u32,
    /// Each stream's receive window (`SETTINGS_INITIAL_WINDOW_SIZE`): the
    /// most unread bytes a client may send on one stream. Default 64 KiB.
    pub stream_window: u32,
    /// The connection's receive window: the most unread bytes a client may
    /// send on all its streams together. Default 1 MiB.
    pub connection_window: u32,
    /// The largest decoded request header list
    /// (`SETTINGS_MAX_HEADER_LIST_SIZE`); a larger one, however it is split
    /// into CONTINUATION frames, is refused. Default 16 KiB.
    pub max_header_list_size: u32,
    /// Streams a client may reset before the server has taken them up;
    /// beyond it the connection is closed (`ENHANCE_YOUR_CALM`), which
    /// bounds a rapid-reset flood. Default 20.
    pub max_pending_accept_reset_streams: usize,
    /// Streams the server may reset because of the client's errors on one
    /// connection before it closes the connection. Default 1,024.
    pub max_local_error_reset_streams: usize,
    /// Bytes queued to send on one stream before its writer waits.
    /// Default 64 KiB.
    pub max_send_buffer_size: usize,
}

impl Default for Http2Config {
    fn default() -> Self {
        Http2Config {
            enabled: true,
            max_concurrent_streams: 100,
            stream_window: 64 << 10,
            connection_window: 1 << 20,
            max_header_list_size: 16 << 10,
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: 1_024,
            max_send_buffer_size: 64 << 10,
        }
    }
}

macro_rules! setters {
    ($($field:ident: $ty:ty),* $(,)?) => {
        impl Http2Config {
            $(
                #[doc = concat!("Sets [`Http2Config::", stringify!($field), "`](#structfield.", stringify!($field), ").")]
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
    enabled: bool,
    max_concurrent_streams: u32,
    stream_window: u32,
    connection_window: u32,
    max_header_list_size: u32,
    max_pending_accept_reset_streams: usize,
    max_local_error_reset_streams: usize,
    max_send_buffer_size: usize,
}

impl Http2Config {
    /// The h2 server builder with these settings, extended CONNECT on.
    pub(super) fn builder(&self) -> h2::server::Builder {
        let mut builder = h2::server::Builder::new();
        builder
            .max_concurrent_streams(self.max_concurrent_streams)
            .initial_window_size(self.stream_window)
            .initial_connection_window_size(self.connection_window)
            .max_header_list_size(self.max_header_list_size)
            .max_pending_accept_reset_streams(self.max_pending_accept_reset_streams)
            .max_local_error_reset_streams(Some(self.max_local_error_reset_streams))
            .max_send_buffer_size(self.max_send_buffer_size)
            .enable_connect_protocol();
        builder
    }
}
