//! WebSocket echo server on every path: text and binary messages come back
//! unchanged. Used by the Autobahn TestSuite and the benchmarks.
//!
//! `cargo run --release -p tidings-tokio --example echo -- [ADDR]`
//! (default `127.0.0.1:9001`); prints `listening on ADDR` once bound.

use tidings_tokio::{Connection, Context, Error, Router, Server, ServerConfig};

async fn echo(_ctx: Context, conn: Connection) -> Result<(), Error> {
    loop {
        let message = conn.read().await?;
        conn.send(&message).await?;
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let router = Router::new().websocket("/*path", echo);
    let server = Server::bind_with(&addr, router, ServerConfig::default()).await?;
    println!("listening on {}", server.local_addr()?);
    server.run().await;
    Ok(())
}
