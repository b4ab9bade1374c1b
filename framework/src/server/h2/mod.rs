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

pub(crate) mod config;
mod io;
mod stream;

use core::net::SocketAddr;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;

use super::Service;
use crate::io_util::with_deadline;
use crate::runtime::{Runtime, Transport};
pub use config::Http2Config;
use io::TokioIo;
pub(crate) use stream::H2Stream;

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
/// connection, stays idle without streams (see below), or the server shuts
/// down (then `GOAWAY`, and the streams still open end as their
/// connections are closed by the shutdown).
///
/// `serve_stream` makes the task of one request stream (the HTTP/1.1
/// request path over the stream, see [`H2Stream`]); it is spawned on `rt`.
pub(crate) async fn serve_connection<R, T, F, S>(
    service: &Arc<Service>,
    io: T,
    remote_addr: Option<SocketAddr>,
    (rt, deadline): (&R, Instant),
    serve_stream: S,
) where
    R: Runtime,
    T: Transport,
    F: Future<Output = ()> + Send + 'static,
    S: Fn(H2Stream) -> F,
{
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
    // A connection without streams is closed (GOAWAY) once it is found
    // idle at the end of a period: HTTP/1.1's keep-alive idle time (the
    // handshake timeout when keep-alive is off), so an idle HTTP/2
    // connection is held no longer than an idle HTTP/1.1 one (at most two
    // periods).
    let idle = Some(service.config.keep_alive_idle)
        .filter(|idle| !idle.is_zero())
        .unwrap_or(service.config.handshake_timeout);
    let mut idle_check = Box::pin(rt.sleep_until(rt.now() + idle));
    loop {
        let next = std::future::poll_fn(|cx| {
            if !stopping && stop.as_mut().poll(cx).is_ready() {
                stopping = true;
                connection.graceful_shutdown();
            }
            while !stopping && idle_check.as_mut().poll(cx).is_ready() {
                if connection.has_streams() {
                    idle_check = Box::pin(rt.sleep_until(rt.now() + idle));
                } else {
                    stopping = true;
                    connection.graceful_shutdown();
                }
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
        rt.spawn(serve_stream(io));
    }
    // Whatever is queued (GOAWAY, the last frames) goes out.
    let _ = std::future::poll_fn(|cx| connection.poll_closed(cx)).await;
}
