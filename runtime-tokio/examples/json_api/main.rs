//! A JSON request/response API over WebSocket at `/ws/api` (the Forge
//! "JSON Messaging" example). See `app.rs` for the message types.
//!
//! `cargo run --release -p tidings-tokio --example json_api -- [ADDR]`
//! (default `127.0.0.1:8081`); prints `listening on ADDR` once bound.
//! Try it: send `{"type":"sum","payload":[1,2,3]}` to `ws://ADDR/ws/api`.

mod app;

use tidings_tokio::Server;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8081".to_owned());
    let server = Server::bind(&addr, app::router()).await?;
    println!("listening on {}", server.local_addr()?);
    server.run().await;
    Ok(())
}
