//! The floor: the least work any WebSocket echo server can do, as a
//! reference for what the kernel alone costs per message. `echo_floor [ADDR]`.
//!
//! Per connection: one buffer, one read, then for each complete frame in it
//! the header is rewritten unmasked and the payload unmasked in place, and
//! everything is answered with one write. No validation (UTF-8, opcodes,
//! limits), no control frames, no close handshake: NOT a WebSocket server
//! anyone should use. It makes the same system calls per message as the
//! real servers (one read, one write), so its CPU time per message is what
//! the kernel and the runtime cost; no library can go much below it.

use tidings_bench::handshake;
use tidings_framework::frame::apply_mask;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A complete client frame at the start of `buf`: (header length, payload
/// length, mask key).
fn frame_at(buf: &[u8]) -> Option<(usize, usize, [u8; 4])> {
    let second = *buf.get(1)?;
    let (len_bytes, len) = match second & 0x7f {
        126 => (
            2,
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
        ),
        127 => (
            8,
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
        ),
        n => (0, n as usize),
    };
    let header = 2 + len_bytes + 4;
    let key: [u8; 4] = buf.get(header - 4..header)?.try_into().ok()?;
    (buf.len() >= header + len).then_some((header, len, key))
}

/// Echoes frames until the peer goes away.
async fn echo(mut stream: TcpStream) {
    if handshake(&mut stream).await.is_none() {
        return;
    }
    let mut input: Vec<u8> = Vec::with_capacity(8 << 10);
    let mut output: Vec<u8> = Vec::with_capacity(8 << 10);
    loop {
        if input.capacity() - input.len() < 4 << 10 {
            input.reserve(input.capacity());
        }
        match stream.read_buf(&mut input).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut at = 0;
        while let Some((header, len, key)) = frame_at(&input[at..]) {
            // tidings' masking loop: safe code, word-wide.
            apply_mask(&mut input[at + header..at + header + len], key, 0);
            output.push(input[at]);
            match len {
                0..=125 => output.push(len as u8),
                126..=0xffff => {
                    output.push(126);
                    output.extend_from_slice(&(len as u16).to_be_bytes());
                }
                _ => {
                    output.push(127);
                    output.extend_from_slice(&(len as u64).to_be_bytes());
                }
            }
            output.extend_from_slice(&input[at + header..at + header + len]);
            at += header + len;
        }
        input.drain(..at);
        if !output.is_empty() {
            if stream.write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tidings_bench::serve(&tidings_bench::addr_arg(), echo).await
}
