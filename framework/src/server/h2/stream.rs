//! One HTTP/2 stream as the byte stream the HTTP/1.1 request path serves.
//!
//! The request's HEADERS are handed to that path as an HTTP/1.1 request
//! head (an extended CONNECT with `:protocol websocket`, RFC 8441, as the
//! equivalent `GET` with `Upgrade: websocket`), so routing, middleware, the
//! WebSocket handshake decisions (origin, subprotocol, permessage-deflate),
//! admission and the SSE and WebSocket pumps are the very code HTTP/1.1
//! runs. What that path writes back starts with an HTTP/1.1 response head:
//! it is parsed here and sent as the stream's HEADERS (a `101` to an
//! extended CONNECT as `200`, RFC 8441 section 5; the connection-specific
//! headers HTTP/2 forbids dropped); every byte after it goes out as DATA.
//!
//! Flow control keeps memory bounded both ways: received DATA is handed
//! out one frame at a time and its window released only as the reader
//! consumes it, and a write sends no more than the capacity the peer's
//! windows grant (it waits for more), so a slow peer back-pressures the
//! writer exactly as a full socket would.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tidings_core::head::{HeadLimits, HeadReader};

/// The most bytes of one DATA frame payload handed to `send_data` at once.
const MAX_CHUNK: usize = 16 << 10;

/// The largest response head the request path may write (its own heads
/// are a few hundred bytes).
const MAX_RESPONSE_HEAD: usize = 16 << 10;

/// A WebSocket key for the synthesized upgrade request. RFC 8441 drops
/// `Sec-WebSocket-Key` (the stream is already the client's own); the
/// handshake code wants one, and its answer (`Sec-WebSocket-Accept`) is
/// dropped from the HTTP/2 response, so any well-formed value does: this
/// is RFC 6455's sample nonce.
const PLACEHOLDER_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// How the request's own stream was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// An ordinary request: the peer's half of the stream ends with its
    /// request (usually with the HEADERS), so its end is not the peer
    /// leaving; only a reset (or the connection's end) is.
    Request,
    /// An extended CONNECT for a WebSocket: the stream is a tunnel, and the
    /// peer's end of stream is its side closing.
    WebSocket,
}

/// The HTTP/1.1 request head standing for `request`, or `None` for a
/// CONNECT that is not an RFC 8441 WebSocket (answered by the caller).
pub(super) fn request_head<B>(request: &Request<B>) -> Option<(Vec<u8>, Kind)> {
    let kind = if request.method() == Method::CONNECT {
        let protocol = request.extensions().get::<h2::ext::Protocol>()?;
        if !protocol.as_str().eq_ignore_ascii_case("websocket") {
            return None;
        }
        Kind::WebSocket
    } else {
        Kind::Request
    };
    let mut out = Vec::with_capacity(256);
    let method = match kind {
        Kind::WebSocket => "GET",
        Kind::Request => request.method().as_str(),
    };
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let headers = request.headers();
    if !headers.contains_key(header::HOST) {
        if let Some(authority) = request.uri().authority() {
            push_header(&mut out, "host", authority.as_str().as_bytes());
        }
    }
    for (name, value) in headers {
        // HTTP/2 forbids the connection-specific headers (h2 refuses a
        // request with them), so a plain request can never pose as an
        // upgrade; an extended CONNECT gets the RFC 6455 ones below.
        if kind == Kind::WebSocket && name == header::SEC_WEBSOCKET_KEY {
            continue;
        }
        push_header(&mut out, name.as_str(), value.as_bytes());
    }
    if kind == Kind::WebSocket {
        push_header(&mut out, "upgrade", b"websocket");
        push_header(&mut out, "connection", b"upgrade");
        push_header(&mut out, "sec-websocket-key", PLACEHOLDER_KEY.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    Some((out, kind))
}

/// One `name: value` line. `http` header values hold no CR or LF, so a
/// value cannot inject a line.
fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The HTTP/2 response for the HTTP/1.1 response head `head`.
fn translate_response(head: Response<()>, kind: Kind) -> Response<()> {
    let (mut parts, ()) = head.into_parts();
    if kind == Kind::WebSocket && parts.status == StatusCode::SWITCHING_PROTOCOLS {
        parts.status = StatusCode::OK;
        parts.headers.remove(header::SEC_WEBSOCKET_ACCEPT);
    }
    for name in [
        header::CONNECTION,
        header::UPGRADE,
        header::TRANSFER_ENCODING,
        header::HeaderName::from_static("keep-alive"),
        header::HeaderName::from_static("proxy-connection"),
    ] {
        parts.headers.remove(name);
    }
    parts.version = http::Version::HTTP_2;
    Response::from_parts(parts, ())
}

/// The answer to a request the request path cannot take (a CONNECT that
/// is not a WebSocket): `501`.
pub(super) fn refuse(mut respond: SendResponse<Bytes>) {
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::NOT_IMPLEMENTED;
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    let _ = respond.send_response(response, true);
}

/// The writing half's state.
enum Out {
    /// The response head is still being written (and parsed).
    Head {
        respond: SendResponse<Bytes>,
        buf: Vec<u8>,
    },
    /// Sending DATA; `unsent` holds bytes already accepted from the writer
    /// (those that followed the head in its write).
    Body {
        send: SendStream<Bytes>,
        unsent: Bytes,
    },
    /// Ended or reset.
    Closed,
}

/// One HTTP/2 stream as a futures-io byte stream (see the module docs).
pub(crate) struct H2Stream {
    kind: Kind,
    /// The synthesized request head, handed out first.
    head: Bytes,
    recv: RecvStream,
    /// Received DATA not yet read; its window is released as it is read.
    received: Bytes,
    recv_ended: bool,
    out: Out,
}

impl H2Stream {
    pub(super) fn new(
        head: Vec<u8>,
        kind: Kind,
        recv: RecvStream,
        respond: SendResponse<Bytes>,
    ) -> Self {
        H2Stream {
            kind,
            head: Bytes::from(head),
            recv,
            received: Bytes::new(),
            recv_ended: false,
            out: Out::Head {
                respond,
                buf: Vec::new(),
            },
        }
    }

    /// Resolves once the peer has reset the stream (or the connection is
    /// gone).
    fn poll_peer_reset(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let reset = match &mut self.out {
            Out::Head { respond, .. } => respond.poll_reset(cx),
            Out::Body { send, .. } => send.poll_reset(cx),
            Out::Closed => return Poll::Ready(()),
        };
        reset.map(|_| ())
    }

    /// Takes what the writer wrote into the response head; once the head
    /// is complete, sends it and turns to DATA.
    fn write_head(&mut self, data: &[u8]) -> io::Result<()> {
        let Out::Head { buf, .. } = &mut self.out else {
            return Ok(());
        };
        buf.extend_from_slice(data);
        let mut limits = HeadLimits::default();
        limits.max_head_bytes = MAX_RESPONSE_HEAD;
        let mut reader = HeadReader::new(limits);
        let (head, n) = match reader.read_response(buf) {
            Ok(Some(parsed)) => parsed,
            Ok(None) if buf.len() <= MAX_RESPONSE_HEAD => return Ok(()),
            Ok(None) => return Err(invalid("response head too large")),
            Err(error) => return Err(invalid(&format!("response head: {error}"))),
        };
        let Out::Head { mut respond, buf } = std::mem::replace(&mut self.out, Out::Closed) else {
            unreachable!("matched above");
        };
        let body = Bytes::from(buf).slice(n..);
        let send = respond
            .send_response(translate_response(head, self.kind), false)
            .map_err(h2_error)?;
        self.out = Out::Body { send, unsent: body };
        Ok(())
    }

    /// Sends what is left of `unsent`, as far as capacity allows.
    fn poll_unsent(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Out::Body { send, unsent } = &mut self.out else {
            return Poll::Ready(Ok(()));
        };
        while !unsent.is_empty() {
            let n = match poll_send_capacity(send, unsent.len(), cx) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            };
            let chunk = unsent.split_to(n);
            send.send_data(chunk, false).map_err(h2_error)?;
        }
        Poll::Ready(Ok(()))
    }
}

/// Waits for send capacity and returns how much of `wanted` bytes may be
/// sent now (at least one).
fn poll_send_capacity(
    send: &mut SendStream<Bytes>,
    wanted: usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    let wanted = wanted.min(MAX_CHUNK);
    loop {
        let capacity = send.capacity();
        if capacity > 0 {
            return Poll::Ready(Ok(capacity.min(wanted)));
        }
        send.reserve_capacity(wanted);
        match send.poll_capacity(cx) {
            Poll::Ready(Some(Ok(_))) => {}
            Poll::Ready(Some(Err(error))) => return Poll::Ready(Err(h2_error(error))),
            Poll::Ready(None) => {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "HTTP/2 stream closed",
                )));
            }
            Poll::Pending => return Poll::Pending,
        }
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

fn h2_error(error: h2::Error) -> io::Error {
    if error.is_io() {
        return error
            .into_io()
            .unwrap_or_else(|| io::ErrorKind::Other.into());
    }
    io::Error::new(io::ErrorKind::ConnectionReset, error)
}

impl futures_io::AsyncRead for H2Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.head.is_empty() {
            let n = this.head.len().min(buf.len());
            buf[..n].copy_from_slice(&this.head[..n]);
            this.head.advance(n);
            return Poll::Ready(Ok(n));
        }
        loop {
            if !this.received.is_empty() {
                let n = this.received.len().min(buf.len());
                buf[..n].copy_from_slice(&this.received[..n]);
                this.received.advance(n);
                // Consumed: the peer may send that much more.
                let _ = this.recv.flow_control().release_capacity(n);
                return Poll::Ready(Ok(n));
            }
            if this.recv_ended {
                break;
            }
            match this.recv.poll_data(cx) {
                Poll::Ready(Some(Ok(data))) => this.received = data,
                Poll::Ready(Some(Err(error))) => {
                    this.recv_ended = true;
                    if this.kind == Kind::WebSocket || !error.is_reset() {
                        return Poll::Ready(Err(h2_error(error)));
                    }
                }
                Poll::Ready(None) => this.recv_ended = true,
                Poll::Pending => return Poll::Pending,
            }
        }
        match this.kind {
            Kind::WebSocket => Poll::Ready(Ok(0)),
            // The request is complete; the peer leaves by resetting.
            Kind::Request => this.poll_peer_reset(cx).map(|()| Ok(0)),
        }
    }
}

impl futures_io::AsyncWrite for H2Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match &mut this.out {
            Out::Head { .. } => {
                this.write_head(buf)?;
                Poll::Ready(Ok(buf.len()))
            }
            Out::Closed => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            Out::Body { .. } => {
                if this.poll_unsent(cx)?.is_pending() {
                    return Poll::Pending;
                }
                let Out::Body { send, .. } = &mut this.out else {
                    return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
                };
                if buf.is_empty() {
                    return Poll::Ready(Ok(0));
                }
                let n = match poll_send_capacity(send, buf.len(), cx) {
                    Poll::Ready(result) => result?,
                    Poll::Pending => return Poll::Pending,
                };
                send.send_data(Bytes::copy_from_slice(&buf[..n]), false)
                    .map_err(h2_error)?;
                Poll::Ready(Ok(n))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Queued DATA goes out as the connection's task writes it.
        self.get_mut().poll_unsent(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.poll_unsent(cx)?.is_pending() {
            return Poll::Pending;
        }
        match std::mem::replace(&mut this.out, Out::Closed) {
            // Closed before a whole response: nothing valid to end with.
            Out::Head { mut respond, .. } => respond.send_reset(h2::Reason::INTERNAL_ERROR),
            Out::Body { mut send, .. } => {
                let _ = send.send_data(Bytes::new(), true);
            }
            Out::Closed => {}
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for H2Stream {
    fn drop(&mut self) {
        // A stream dropped without its end (the connection's task ended
        // mid-response) is cancelled, not left open.
        match &mut self.out {
            Out::Head { respond, .. } => respond.send_reset(h2::Reason::CANCEL),
            Out::Body { send, .. } => send.send_reset(h2::Reason::CANCEL),
            Out::Closed => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extended_connect_becomes_a_websocket_upgrade() {
        let mut request = Request::builder()
            .method(Method::CONNECT)
            .uri("https://example.com/chat?room=a")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-protocol", "chat")
            .body(())
            .unwrap();
        request
            .extensions_mut()
            .insert(h2::ext::Protocol::from_static("websocket"));
        let (head, kind) = request_head(&request).unwrap();
        assert_eq!(kind, Kind::WebSocket);
        let (parsed, n) = HeadReader::new(HeadLimits::default())
            .read_request(&head)
            .unwrap()
            .unwrap();
        assert_eq!(n, head.len());
        assert_eq!(parsed.method(), Method::GET);
        assert_eq!(parsed.uri().path(), "/chat");
        assert_eq!(parsed.uri().query(), Some("room=a"));
        assert_eq!(parsed.headers()["host"], "example.com");
        assert_eq!(parsed.headers()["upgrade"], "websocket");
        assert_eq!(parsed.headers()["sec-websocket-protocol"], "chat");
        assert_eq!(parsed.headers()["sec-websocket-key"], PLACEHOLDER_KEY);
    }

    #[test]
    fn other_connects_are_refused_and_requests_pass_as_they_are() {
        let connect = Request::builder()
            .method(Method::CONNECT)
            .uri("https://example.com/")
            .body(())
            .unwrap();
        assert!(request_head(&connect).is_none());
        let get = Request::builder()
            .uri("https://example.com/events")
            .header("accept", "text/event-stream")
            .body(())
            .unwrap();
        let (head, kind) = request_head(&get).unwrap();
        assert_eq!(kind, Kind::Request);
        assert_eq!(
            std::str::from_utf8(&head).unwrap(),
            "GET /events HTTP/1.1\r\nhost: example.com\r\naccept: text/event-stream\r\n\r\n"
        );
    }

    #[test]
    fn a_101_becomes_200_without_connection_headers() {
        let head = Response::builder()
            .status(101)
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-accept", "x")
            .header("sec-websocket-protocol", "chat")
            .body(())
            .unwrap();
        let response = translate_response(head, Kind::WebSocket);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers().len(), 1);
        assert_eq!(response.headers()["sec-websocket-protocol"], "chat");
        // A 101 to anything but an extended CONNECT is not turned into 200.
        let head = Response::builder()
            .status(200)
            .header("connection", "close")
            .body(())
            .unwrap();
        let response = translate_response(head, Kind::Request);
        assert!(response.headers().is_empty());
    }
}
