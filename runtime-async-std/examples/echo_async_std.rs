//! WebSocket echo server on every path: text and binary messages come back
//! unchanged, compressed with permessage-deflate when the client offers it.
//! Used by the Autobahn TestSuite and the benchmarks.
//!
//! `cargo run --release -p tidings-async-std --example echo_async_std -- [ADDR]`
//! (default `127.0.0.1:9001`); prints `listening on ADDR` once bound.
//! With `-- ADDR --tls-cert CERT.pem --tls-key KEY.pem`, the same echo over
//! TLS (`wss://`).

#[path = "../../runtime-tokio/examples/common/args.rs"]
mod args;

use tidings_async_std::{DeflateConfig, Router, Server, ServerConfig, ws};

fn main() -> std::io::Result<()> {
    let (addr, config) = args::server_config(
        "127.0.0.1:9001",
        ServerConfig::default()
            .websocket(ws::Config::default().deflate(Some(DeflateConfig::default()))),
    );
    async_std::task::block_on(async {
        let server = Server::bind_with(
            &addr,
            Router::new().websocket("/*path", tidings_framework::server::echo),
            config,
        )
        .await?;
        println!("listening on {}", server.local_addr()?);
        // SIGTERM or Ctrl-C: drain (WebSocket clients get 1001 after what was
        // queued, SSE streams end), wait up to 10 s, exit 0.
        let grace = std::time::Duration::from_secs(10);
        server
            .run_until(tidings_async_std::shutdown_signal()?, grace)
            .await;
        Ok(())
    })
}
