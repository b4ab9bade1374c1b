//! The Forge chat room server: a page at `/` where you pick a name and a
//! room, and WebSocket rooms at `/ws/chat/:room?user=NAME`. See `app.rs`.
//!
//! `cargo run --release -p tidings-tokio --example chat -- [ADDR] [--tls-cert CERT.pem --tls-key KEY.pem] [--redis redis://HOST:PORT [--node NAME]]`
//! (default `127.0.0.1:8080`); prints `listening on ADDR` once bound, then
//! open `http://ADDR/` in two browser tabs. With
//! `-- ADDR --tls-cert CERT.pem --tls-key KEY.pem` the chat is served over
//! TLS: the page at `https://ADDR/`, its WebSocket at `wss://` and its
//! event stream over `https://` (the page picks the scheme it was loaded
//! with).
//!
//! With `--redis`, the server is one node of a multi-process chat: its
//! rooms and broadcasts span every node on that Redis (node name: `--node`,
//! default `node-PID`), `/events` is a topic every node shares (an
//! `EventSource` that reconnects to another node resumes exactly by
//! `Last-Event-ID`), and `/stats` shows the engine's state. SIGTERM or
//! Ctrl-C drains the node (WebSocket clients get 1001, SSE streams end so
//! that browsers reconnect elsewhere) and exits 0.

mod app;
#[path = "../common/args.rs"]
mod args;
#[path = "../common/rfc3339.rs"]
mod rfc3339;

use std::sync::Arc;
use std::time::Duration;

use tidings_redis::{RedisConfig, RedisEngine};
use tidings_tokio::{DeflateConfig, Server, ServerConfig, Tokio, ws};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // permessage-deflate for browsers that offer it (all do): chat messages
    // are small and alike, so context takeover pays off.
    let (addr, mut config, cluster) = args::parse(
        "127.0.0.1:8080",
        ServerConfig::default()
            .websocket(ws::Config::default().deflate(Some(DeflateConfig::default()))),
        &["--redis", "--node"],
    );
    let router = match &cluster[..] {
        [Some(url), node] => {
            let node = node
                .clone()
                .unwrap_or_else(|| format!("node-{}", std::process::id()));
            let engine = RedisEngine::connect(Tokio, url, &node, RedisConfig::default()).await?;
            // `/events` on a topic every node shares: replay across nodes.
            let feed = engine.topic("chat-events", app::FEED_REPLAY).await?;
            println!("node {node} on {url}");
            config = config.engine(engine);
            app::router_with(Arc::new(app::Rooms::clustered(feed)))
        }
        [None, Some(_)] => {
            eprintln!("--node needs --redis");
            std::process::exit(2)
        }
        _ => app::router(),
    };
    let server = Server::bind_with(&addr, router, config).await?;
    println!("listening on {}", server.local_addr()?);
    // SIGTERM or Ctrl-C: drain (WebSocket clients get 1001 after what was
    // queued, SSE streams end), wait up to 10 s, exit 0.
    let grace = Duration::from_secs(10);
    server
        .run_until(tidings_tokio::shutdown_signal()?, grace)
        .await;
    Ok(())
}
