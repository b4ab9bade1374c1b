//! Echo server on fastwebsockets: text and binary messages come back
//! unchanged. `echo_fastwebsockets [ADDR]`.
//!
//! The upgrade handshake is done here by hand on the raw socket and the
//! socket handed to `WebSocket::after_handshake`: the fastest way to use
//! fastwebsockets (no hyper `Upgraded` wrapper in between).

use base64::Engine;
use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Reads the request head and answers 101; `None` on anything unexpected.
async fn handshake(stream: &mut TcpStream) -> Option<()> {
    let mut head = Vec::with_capacity(1024);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 || stream.read_buf(&mut head).await.ok()? == 0 {
            return None;
        }
    }
    let text = std::str::from_utf8(&head).ok()?;
    let key = text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim())
    })?;
    let accept = base64::engine::general_purpose::STANDARD
        .encode(Sha1::digest(format!("{key}{GUID}").as_bytes()));
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(response.as_bytes()).await.ok()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tidings_bench::serve(&tidings_bench::addr_arg(), |mut stream| async move {
        if handshake(&mut stream).await.is_none() {
            return;
        }
        let mut ws = FragmentCollector::new(WebSocket::after_handshake(stream, Role::Server));
        while let Ok(frame) = ws.read_frame().await {
            let data = matches!(frame.opcode, OpCode::Text | OpCode::Binary);
            let closed = matches!(frame.opcode, OpCode::Close);
            if closed || (data && ws.write_frame(frame).await.is_err()) {
                return;
            }
        }
    })
    .await
}
