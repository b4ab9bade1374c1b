//! Plain HTTP responses for GET and POST routes (the page that hosts a
//! WebSocket client, a health check, a stats endpoint, a publish
//! endpoint), and writing a complete response to a transport, kept alive
//! or closing (also the refusals of WebSocket and SSE routes, which close).

use std::task::Poll;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use crate::io_util::{close, write_all};
use crate::runtime::Transport;

/// An HTTP response with a complete body.
pub type Response = http::Response<Bytes>;

/// Conversion into a [`Response`], for what GET handlers return.
pub trait IntoResponse {
    /// The response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        text(StatusCode::OK, Bytes::from_static(self.as_bytes()))
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        text(StatusCode::OK, Bytes::from(self))
    }
}

impl IntoResponse for (StatusCode, String) {
    fn into_response(self) -> Response {
        text(self.0, Bytes::from(self.1))
    }
}

impl IntoResponse for (StatusCode, &'static str) {
    fn into_response(self) -> Response {
        text(self.0, Bytes::from_static(self.1.as_bytes()))
    }
}

/// An HTML page (`text/html; charset=utf-8`).
#[derive(Clone, Debug)]
pub struct Html<T>(pub T);

impl<T: Into<Bytes>> IntoResponse for Html<T> {
    fn into_response(self) -> Response {
        with_type(StatusCode::OK, self.0.into(), "text/html; charset=utf-8")
    }
}

/// A JSON body (`application/json`), serialized when converted.
#[derive(Clone, Debug)]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => with_type(StatusCode::OK, Bytes::from(body), "application/json"),
            Err(error) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                Bytes::from(error.to_string()),
            ),
        }
    }
}

fn text(status: StatusCode, body: Bytes) -> Response {
    with_type(status, body, "text/plain; charset=utf-8")
}

fn with_type(status: StatusCode, body: Bytes, content_type: &'static str) -> Response {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Headers the server alone sets (framing, connection management, the
/// WebSocket handshake): never taken from [`Context::response_headers_mut`](super::Context::response_headers_mut).
fn is_server_owned(name: &HeaderName) -> bool {
    matches!(
        *name,
        header::CONNECTION
            | header::UPGRADE
            | header::CONTENT_LENGTH
            | header::TRANSFER_ENCODING
            | header::TE
            | header::TRAILER
            | header::SEC_WEBSOCKET_ACCEPT
            | header::SEC_WEBSOCKET_PROTOCOL
            | header::SEC_WEBSOCKET_EXTENSIONS
            | header::SEC_WEBSOCKET_VERSION
            | header::SEC_WEBSOCKET_KEY
    ) || name.as_str() == "keep-alive"
}

/// Adds `extra` (a route's and its middleware's response headers) to
/// `headers` (a response's own): every value of a name `headers` does not
/// have yet, except the server-owned names and values holding CR, LF or
/// NUL (possible only through the `http` crate's unchecked constructors),
/// which are dropped with a warning.
pub(crate) fn add_headers(headers: &mut HeaderMap, extra: &HeaderMap) {
    for name in extra.keys() {
        if headers.contains_key(name) {
            continue;
        }
        if is_server_owned(name) {
            tracing::warn!(
                header = name.as_str(),
                "response header ignored: the server sets it itself"
            );
            continue;
        }
        for value in extra.get_all(name) {
            if value
                .as_bytes()
                .iter()
                .any(|b| matches!(b, b'\r' | b'\n' | 0))
            {
                tracing::warn!(
                    header = name.as_str(),
                    "response header value with CR, LF or NUL dropped"
                );
                continue;
            }
            headers.append(name.clone(), value.clone());
        }
    }
}

/// How a plain response is framed on its connection.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Framing {
    /// The connection stays open for another request (`Connection:
    /// keep-alive`); else `Connection: close`.
    pub(crate) keep_alive: bool,
    /// The answer to a `HEAD`: the head the `GET` would have, without the
    /// body.
    pub(crate) head_only: bool,
}

/// Encodes a complete HTTP/1.1 response: head with `Content-Length` and
/// `Connection` (`keep-alive` or `close`, per `framing`), then the body
/// (none for a `HEAD`).
pub(crate) fn encode(response: &Response, framing: Framing, out: &mut Vec<u8>) {
    let mut head = http::Response::new(());
    *head.status_mut() = response.status();
    *head.headers_mut() = response.headers().clone();
    head.headers_mut().insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(response.body().len()),
    );
    let connection = if framing.keep_alive {
        "keep-alive"
    } else {
        "close"
    };
    head.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static(connection));
    tidings_core::head::encode_response_head(&head, out);
    if !framing.head_only {
        out.extend_from_slice(response.body());
    }
}

/// Writes a complete response and keeps the transport open for the next
/// request; `false` if writing failed.
pub(super) async fn respond_and_keep<T: Transport>(
    io: &mut T,
    response: &Response,
    head_only: bool,
) -> bool {
    let mut out = Vec::new();
    let framing = Framing {
        keep_alive: true,
        head_only,
    };
    encode(response, framing, &mut out);
    write_all(io, &out).await.is_ok()
}

/// Writes a complete response and closes the transport.
pub(super) async fn respond<T: Transport>(io: &mut T, response: Response) {
    respond_closing(io, &response, false).await;
}

/// Writes a complete response (only its head for a `HEAD`) with
/// `Connection: close`, and closes the transport.
pub(super) async fn respond_closing<T: Transport>(
    io: &mut T,
    response: &Response,
    head_only: bool,
) {
    let mut out = Vec::new();
    let framing = Framing {
        keep_alive: false,
        head_only,
    };
    encode(response, framing, &mut out);
    if write_all(io, &out).await.is_ok() {
        close(io).await;
        discard_pending_input(io).await;
    }
}

/// Reads and drops whatever the peer has already sent (without waiting for
/// more): closing a socket with unread input makes the kernel send a reset,
/// which can destroy the response still in flight (e.g. a 431 for a head
/// that was too large, most of it unread).
async fn discard_pending_input<T: Transport>(io: &mut T) {
    let mut scratch = [0u8; 1024];
    std::future::poll_fn(|cx| {
        loop {
            match std::pin::Pin::new(&mut *io).poll_read(cx, &mut scratch) {
                Poll::Ready(Ok(n)) if n > 0 => continue,
                // End of stream, an error, or nothing more yet: done either way.
                _ => return Poll::Ready(()),
            }
        }
    })
    .await;
}
