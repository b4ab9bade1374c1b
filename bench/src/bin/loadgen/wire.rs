//! The client side of the wire: upgrade handshake, pre-masked frames, and
//! finding complete (unmasked) server frames in a byte buffer.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A connection to the server under test: TCP, or TLS over it (`--tls`).
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Conn::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Conn::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Conn::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Conn::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The client side of the TLS runs: trusts the CA in `ca_pem` only, TLS 1.3
/// with one cipher suite (TLS13_AES_128_GCM_SHA256), so that every server
/// is measured with the same suite; rustls' *ring* provider; ALPN
/// `http/1.1`.
pub fn tls_connector(ca_pem: &str) -> io::Result<TlsConnector> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem).map_err(io::Error::other)? {
        roots
            .add(cert.map_err(io::Error::other)?)
            .map_err(io::Error::other)?;
    }
    // The provider tidings builds its configurations with (*ring* here).
    let mut provider = rustls::crypto::CryptoProvider::clone(&tidings_framework::tls::provider());
    provider
        .cipher_suites
        .retain(|suite| suite.suite() == rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Connects to `addr` (over TLS with `tls`), sets TCP_NODELAY and sends
/// `request` (a complete request head); returns the connection and any
/// bytes read after the answer's head. Fails unless the status is
/// `expected_status`.
pub async fn connect(
    addr: &str,
    request: &[u8],
    expected_status: &str,
    tls: Option<&TlsConnector>,
) -> io::Result<(Conn, Vec<u8>)> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut stream = match tls {
        None => Conn::Plain(tcp),
        Some(connector) => {
            let ip = tcp.peer_addr()?.ip();
            let tls = connector.connect(ip.into(), tcp).await?;
            Conn::Tls(Box::new(tls))
        }
    };
    stream.write_all(request).await?;
    // A TLS stream may keep what the socket did not take until flushed.
    stream.flush().await?;
    let mut head = Vec::with_capacity(512);
    loop {
        if stream.read_buf(&mut head).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed during the handshake",
            ));
        }
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let status = head.split(|&b| b == b' ').nth(1).unwrap_or_default();
            if status != expected_status.as_bytes() {
                let text = String::from_utf8_lossy(&head[..end]).into_owned();
                return Err(io::Error::other(format!("unexpected answer: {text}")));
            }
            return Ok((stream, head.split_off(end + 4)));
        }
        if head.len() > 16 * 1024 {
            return Err(io::Error::other("answer head too long"));
        }
    }
}

/// The WebSocket upgrade request for `path` on `addr`.
pub fn upgrade_request(addr: &str, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// A complete masked text frame carrying `payload`.
pub fn masked_text_frame(payload: &[u8]) -> Vec<u8> {
    masked_frame(0x1, payload)
}

/// A complete (FIN) masked frame of `opcode` carrying `payload`.
pub fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
    frame
}

/// The length of the complete server frame at the start of `buf`, if all
/// of it is there. Server frames are unmasked.
pub fn complete_frame(buf: &[u8]) -> Option<usize> {
    complete_frame_parts(buf).map(|(header, len)| header + len)
}

/// The header length and payload length of the complete server frame at
/// the start of `buf`, if all of it is there.
pub fn complete_frame_parts(buf: &[u8]) -> Option<(usize, usize)> {
    let second = *buf.get(1)?;
    let (header, len) = match second & 0x7f {
        126 => (
            4,
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
        ),
        127 => (
            10,
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
        ),
        n => (2, n as usize),
    };
    (buf.len() >= header + len).then_some((header, len))
}
