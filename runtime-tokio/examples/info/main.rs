//! Connection information at `/ws/info`: one JSON message
//! `{connectionId, remoteAddr, localAddr}`, then a normal close (the Forge
//! "Connection Information" example). See `app.rs`.
//!
//! `cargo run --release -p tidings-tokio --example info -- [ADDR]`
//! (default `127.0.0.1:8083`); prints `listening on ADDR` once bound.

mod app;

use tidings_tokio::Server;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8083".to_owned());
    let server = Server::bind(&addr, app::router()).await?;
    println!("listening on {}", server.local_addr()?);
    server.run().await;
    Ok(())
}
