//! WebSocket echo server on every path: text and binary messages come back
//! unchanged. Used by the Autobahn TestSuite and the benchmarks.
//!
//! `cargo run --release -p tidings-smol --example echo -- [ADDR]`
//! (default `127.0.0.1:9001`); prints `listening on ADDR` once bound.

use tidings_smol::{Router, Server};

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    smol::block_on(async {
        let server = Server::bind(
            &addr,
            Router::new().websocket("/*path", tidings_core::server::echo),
        )
        .await?;
        println!("listening on {}", server.local_addr()?);
        server.run().await;
        Ok(())
    })
}
