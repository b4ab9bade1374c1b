//! The client side of the wire: upgrade handshake, pre-masked frames, and
//! finding complete (unmasked) server frames in a byte buffer.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connects to `addr`, sets TCP_NODELAY and sends `request` (a complete
/// request head); returns the socket and any bytes read after the answer's
/// head. Fails unless the status is `expected_status`.
pub async fn connect(
    addr: &str,
    request: &[u8],
    expected_status: &str,
) -> io::Result<(TcpStream, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    stream.write_all(request).await?;
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
    let key = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81];
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
    (buf.len() >= header + len).then_some(header + len)
}
