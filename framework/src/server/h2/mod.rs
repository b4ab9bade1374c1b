//! HTTP/2 on the server (feature `http2`): a TLS connection whose client
//! chose ALPN `h2` is served here, by the [h2] crate (hyperium's HTTP/2,
//! the one under hyper), with every request stream served by the same
//! request path as an HTTP/1.1 connection (see [`stream`]): SSE responses
//! are h2 streams, many on one connection, and WebSocket arrives by
//! extended CONNECT (RFC 8441; the server's SETTINGS announce
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL`), its frames carried by the stream
//! and run by tidings' own WebSocket connection.
//!
//! Limits ([`Http2Config`]) bound each connection: streams open at once,
//! the flow-control windows (so the memory one stream or connection may
//! make the server buffer), the decoded header list (and so a CONTINUATION
//! flood, CVE-2024-27316: h2 ≥ 0.4.4 stops one at this size), streams the
//! peer resets before they are served (rapid reset, CVE-2023-44487) and
//! streams the peer makes the server reset by its errors (CVE-2025-8671):
//! beyond either the connection is closed with `ENHANCE_YOUR_CALM`.

mod io;
mod stream;

use core::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;

use super::Service;
use crate::io_util::with_deadline;
use crate::runtime::{Runtime, Transport};
use io::TokioIo;
pub(crate) use stream::H2Stream;

/// HTTP/2 settings and limits of a server; set them with
/// [`ServerConfig::http2`](super::ServerConfig::http2). HTTP/2 is served
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
    fn builder(&self) -> h2::server::Builder {
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

pub(crate) use crate::tls::ALPN_H2;

/// With HTTP/2 off ([`Http2Config::enabled`]), takes `h2` out of the TLS
/// configuration's ALPN list, so no client chooses it.
pub(super) fn withdraw_alpn_if_disabled(config: &super::ServerConfig) {
    let Some(tls) = config.tls.as_ref().filter(|_| !config.http2.enabled) else {
        return;
    };
    let current = tls.config();
    if current.alpn_protocols.iter().any(|p| p == ALPN_H2) {
        let mut stripped = rustls::ServerConfig::clone(&current);
        stripped.alpn_protocols.retain(|p| p != ALPN_H2);
        tls.set_config(Arc::new(stripped));
    }
}

/// Serves an HTTP/2 connection (the TLS handshake done, `h2` chosen): the
/// connection preface and SETTINGS exchange under `deadline`, then every
/// request stream in a task of its own, until the client closes the
/// connection or the server shuts down (then `GOAWAY`, and the streams
/// still open end as their connections are closed by the shutdown).
pub(crate) async fn serve_connection<R: Runtime, T: Transport>(
    service: &Arc<Service>,
    io: T,
    (remote_addr, local_addr): (Option<SocketAddr>, Option<SocketAddr>),
    rt: &R,
    deadline: Instant,
) {
    let handshake = service
        .config
        .http2
        .builder()
        .handshake::<_, Bytes>(TokioIo(io));
    let mut connection = match with_deadline(rt, deadline, handshake).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => {
            tracing::debug!(remote_addr = ?remote_addr, %error, "HTTP/2 handshake failed");
            return;
        }
        Err(_elapsed) => return,
    };
    let counters = service.hub.counters();
    counters.http2_connections.fetch_add(1, Ordering::Relaxed);
    let mut stop = std::pin::pin!(service.shutdown.wait());
    let mut stopping = false;
    loop {
        let next = std::future::poll_fn(|cx| {
            if !stopping && stop.as_mut().poll(cx).is_ready() {
                stopping = true;
                connection.graceful_shutdown();
            }
            connection.poll_accept(cx)
        })
        .await;
        let (request, respond) = match next {
            Some(Ok(stream)) => stream,
            Some(Err(error)) => {
                tracing::debug!(remote_addr = ?remote_addr, %error, "HTTP/2 connection ended");
                break;
            }
            None => break,
        };
        counters.http2_streams.fetch_add(1, Ordering::Relaxed);
        let Some((head, kind)) = stream::request_head(&request) else {
            stream::refuse(respond);
            continue;
        };
        let io = H2Stream::new(head, kind, request.into_body(), respond);
        rt.spawn(super::serve::serve_version(
            service.clone(),
            io,
            remote_addr,
            local_addr,
            rt.clone(),
            http::Version::HTTP_2,
        ));
    }
    // Whatever is queued (GOAWAY, the last frames) goes out.
    let _ = std::future::poll_fn(|cx| connection.poll_closed(cx)).await;
}
