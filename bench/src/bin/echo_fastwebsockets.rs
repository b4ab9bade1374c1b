//! Echo server on fastwebsockets: text and binary messages come back
//! unchanged. `echo_fastwebsockets [ADDR]`.
//!
//! The upgrade handshake is done here by hand on the raw socket and the
//! socket handed to `WebSocket::after_handshake`: the fastest way to use
//! fastwebsockets (no hyper `Upgraded` wrapper in between).

use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
use tidings_bench::handshake;

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
