//! The Forge chat room server: a page at `/` where you pick a name and a
//! room, and WebSocket rooms at `/ws/chat/:room?user=NAME`. See `app.rs`.
//!
//! `cargo run --release -p tidings-tokio --example chat -- [ADDR]`
//! (default `127.0.0.1:8080`); prints `listening on ADDR` once bound, then
//! open `http://ADDR/` in two browser tabs. With
//! `-- ADDR --tls-cert CERT.pem --tls-key KEY.pem` the chat is served over
//! TLS: the page at `https://ADDR/`, its WebSocket at `wss://` and its
//! event stream over `https://` (the page picks the scheme it was loaded
//! with).

mod app;
#[path = "../common/args.rs"]
mod args;
#[path = "../common/rfc3339.rs"]
mod rfc3339;

use tidings_tokio::{DeflateConfig, Server, ServerConfig, ws};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // permessage-deflate for browsers that offer it (all do): chat messages
    // are small and alike, so context takeover pays off.
    let (addr, config) = args::server_config(
        "127.0.0.1:8080",
        ServerConfig::default()
            .websocket(ws::Config::default().deflate(Some(DeflateConfig::default()))),
    );
    let server = Server::bind_with(&addr, app::router(), config).await?;
    println!("listening on {}", server.local_addr()?);
    server.run().await;
    Ok(())
}
