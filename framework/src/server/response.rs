//! Plain HTTP responses for GET routes (the page that hosts a WebSocket
//! client, a health check, a stats endpoint), and writing a complete
//! response to a transport (also the refusals of WebSocket and SSE routes).

use std::task::Poll;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

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

/// Encodes a complete HTTP/1.1 response: head with `Content-Length` and
/// `Connection: close` (the server answers one request per plain HTTP
/// connection), then the body.
pub(crate) fn encode(response: &Response, out: &mut Vec<u8>) {
    let mut head = http::Response::new(());
    *head.status_mut() = response.status();
    *head.headers_mut() = response.headers().clone();
    head.headers_mut().insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(response.body().len()),
    );
    head.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    tidings_core::head::encode_response_head(&head, out);
    out.extend_from_slice(response.body());
}

/// Writes a complete response and closes the transport.
pub(super) async fn respond<T: Transport>(io: &mut T, response: Response) {
    let mut out = Vec::new();
    encode(&response, &mut out);
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
