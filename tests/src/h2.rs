//! HTTP/2 clients for the server's h2 tests: the h2 crate's client over a
//! TLS stream that chose ALPN `h2` (through tokio-util's futures-io
//! compatibility layer, so on every runtime), a WebSocket over an extended
//! CONNECT stream (RFC 8441) as a [`RawClient`], and raw frames for the
//! flood tests.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use h2::client::SendRequest;
use h2::{RecvStream, SendStream};
use tokio_util::compat::FuturesAsyncReadCompatExt;

use crate::tls::{TestTls, connect};
use crate::{RawClient, TestRuntime};

/// A client configuration trusting the test CA that offers only `h2`.
pub fn h2_client_config(tls: &TestTls) -> Arc<rustls::ClientConfig> {
    let mut config = rustls::ClientConfig::clone(&tls.client);
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// An h2 client connection to `addr`; its connection task runs on `N`.
///
/// # Panics
/// If TLS does not choose `h2` or the HTTP/2 handshake fails.
pub async fn h2_connect<N: TestRuntime>(addr: SocketAddr, tls: &TestTls) -> SendRequest<Bytes> {
    let stream = connect::<N>(addr, &h2_client_config(tls)).await;
    assert_eq!(
        stream.get_ref().1.alpn_protocol(),
        Some(&b"h2"[..]),
        "the server chose HTTP/2"
    );
    let (client, connection) = h2::client::handshake(stream.compat())
        .await
        .expect("HTTP/2 handshake");
    N::default().spawn(async move {
        let _ = connection.await;
    });
    client
}

/// `GET https://127.0.0.1{path}` with `headers` on `client`: the response
/// head and its body.
pub async fn h2_get(
    client: &mut SendRequest<Bytes>,
    path: &str,
    headers: &[(&str, &str)],
) -> (http::response::Parts, RecvStream) {
    let mut request = http::Request::get(format!("https://127.0.0.1{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut ready = client.clone().ready().await.expect("connection ready");
    let (response, _) = ready
        .send_request(request.body(()).unwrap(), true)
        .expect("request sent");
    let response = response.await.expect("response");
    let (parts, body) = response.into_parts();
    (parts, body)
}

/// Reads `body` until it holds `count` SSE events (blank-line ends); the
/// text read.
pub async fn read_events(body: &mut RecvStream, count: usize) -> String {
    let mut text = String::new();
    while text.matches("\n\n").count() < count {
        let chunk = std::future::poll_fn(|cx| body.poll_data(cx))
            .await
            .expect("the stream ended early")
            .expect("DATA");
        let _ = body.flow_control().release_capacity(chunk.len());
        text.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
    }
    text
}

/// Opens a WebSocket on `path` by extended CONNECT: the response head and
/// the stream as a [`RawClient`] (write masked frames, read the server's).
pub async fn h2_websocket<N: TestRuntime>(
    client: &mut SendRequest<Bytes>,
    path: &str,
) -> (http::response::Parts, RawClient<N>) {
    let mut request = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("https://127.0.0.1{path}"))
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap();
    request
        .extensions_mut()
        .insert(h2::ext::Protocol::from_static("websocket"));
    let mut ready = client.clone().ready().await.expect("connection ready");
    let (response, send) = ready
        .send_request(request, false)
        .expect("extended CONNECT sent");
    let response = response.await.expect("response");
    let (parts, recv) = response.into_parts();
    let stream = Tunnel {
        send,
        recv,
        received: Bytes::new(),
    };
    (parts, RawClient::from_stream(stream))
}

/// A client's extended CONNECT stream as a byte stream.
struct Tunnel {
    send: SendStream<Bytes>,
    recv: RecvStream,
    received: Bytes,
}

impl futures_util::io::AsyncRead for Tunnel {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        while this.received.is_empty() {
            match this.recv.poll_data(cx) {
                Poll::Ready(Some(Ok(data))) => {
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    this.received = data;
                }
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Err(io::Error::other(error))),
                Poll::Ready(None) => return Poll::Ready(Ok(0)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = buf.len().min(this.received.len());
        buf[..n].copy_from_slice(&this.received[..n]);
        this.received.advance(n);
        Poll::Ready(Ok(n))
    }
}

impl futures_util::io::AsyncWrite for Tunnel {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let send = &mut self.get_mut().send;
        send.reserve_capacity(buf.len());
        while send.capacity() == 0 {
            match send.poll_capacity(cx) {
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Err(io::Error::other(error))),
                Poll::Ready(None) => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = send.capacity().min(buf.len());
        send.send_data(Bytes::copy_from_slice(&buf[..n]), false)
            .map_err(io::Error::other)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = self.get_mut().send.send_data(Bytes::new(), true);
        Poll::Ready(Ok(()))
    }
}

// --- Raw frames (RFC 9113, section 4) ---------------------------------------

/// The client connection preface and an empty SETTINGS frame.
pub fn preface() -> Vec<u8> {
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    out
}

/// Frame types used by the tests.
pub const HEADERS: u8 = 0x1;
/// RST_STREAM.
pub const RST_STREAM: u8 = 0x3;
/// SETTINGS.
pub const SETTINGS: u8 = 0x4;
/// GOAWAY.
pub const GOAWAY: u8 = 0x7;
/// CONTINUATION.
pub const CONTINUATION: u8 = 0x9;
/// Flag END_STREAM.
pub const END_STREAM: u8 = 0x1;
/// Flag END_HEADERS.
pub const END_HEADERS: u8 = 0x4;
/// Error code ENHANCE_YOUR_CALM.
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// One frame.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK "literal header field without indexing, new name" (RFC 7541,
/// 6.2.2), no Huffman coding.
pub fn literal(name: &str, value: &str) -> Vec<u8> {
    let mut out = vec![0x00];
    hpack_string(&mut out, name.as_bytes());
    hpack_string(&mut out, value.as_bytes());
    out
}

fn hpack_string(out: &mut Vec<u8>, bytes: &[u8]) {
    // A 7-bit prefix integer (RFC 7541, 5.1).
    let mut len = bytes.len();
    if len < 127 {
        out.push(len as u8);
    } else {
        out.push(127);
        len -= 127;
        while len >= 128 {
            out.push((len % 128) as u8 | 0x80);
            len /= 128;
        }
        out.push(len as u8);
    }
    out.extend_from_slice(bytes);
}

/// The header block of `GET https://127.0.0.1{path}`.
pub fn get_block(path: &str) -> Vec<u8> {
    let mut block = literal(":method", "GET");
    block.extend(literal(":scheme", "https"));
    block.extend(literal(":authority", "127.0.0.1"));
    block.extend(literal(":path", path));
    block
}

/// A raw frame reader: the next frame's type, flags, stream and payload;
/// `None` at the end of the connection (or an error).
pub async fn read_frame<R: futures_util::io::AsyncRead + Unpin>(
    io: &mut R,
) -> Option<(u8, u8, u32, Vec<u8>)> {
    let mut head = [0u8; 9];
    io.read_exact(&mut head).await.ok()?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0; len];
    io.read_exact(&mut payload).await.ok()?;
    Some((head[3], head[4], stream, payload))
}

/// Writes `bytes`; `false` if the connection refused them.
pub async fn write_raw<W: futures_util::io::AsyncWrite + Unpin>(io: &mut W, bytes: &[u8]) -> bool {
    io.write_all(bytes).await.is_ok() && io.flush().await.is_ok()
}
