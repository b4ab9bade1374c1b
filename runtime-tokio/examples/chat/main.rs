//! The Forge chat room server: a page at `/` where you pick a name and a
//! room, and WebSocket rooms at `/ws/chat/:room?user=NAME`. See `app.rs`.
//!
//! `cargo run --release -p tidings-tokio --example chat -- [ADDR] [--tls-cert CERT.pem --tls-key KEY.pem] [--redis redis://HOST:PORT [--node NAME]]`
//! (default `127.0.0.1:8080`); prints `listening on ADDR` once bound, then
//! open `http://ADDR/` in two browser tabs. The chat is also served over
//! WebTransport (HTTP/3) on the UDP port of the same number, with a fresh
//! self-signed certificate the page accepts by its hash (printed as
//! `webtransport on ADDR, certificate sha256 HEX`); the page uses it when
//! the browser can, else WebSocket. With
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
#[path = "../common/wt_cert.rs"]
mod wt_cert;

use std::sync::Arc;
use std::time::Duration;

use tidings_redis::{RedisConfig, RedisEngine};
use tidings_tokio::{DeflateConfig, Server, ServerConfig, Tokio, webtransport, ws};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // permessage-deflate for browsers that offer it (all do): chat messages
    // are small and alike, so context takeover pays off. Room for 20,000
    // WebSocket connections (the default is 10,000): the fan-out benchmark
    // puts 10,000 members and a publisher in one room. Messages and
    // `/publish` bodies up to app::MAX_MESSAGE (the feed keeps the last
    // app::FEED_REPLAY of them).
    let (addr, mut config, cluster) = args::parse(
        "127.0.0.1:8080",
        ServerConfig::default()
            .max_connections(20_000)
            .max_body_size(app::MAX_MESSAGE)
            .websocket(
                ws::Config::default()
                    .deflate(Some(DeflateConfig::default()))
                    .max_message_size(app::MAX_MESSAGE),
            ),
        &["--redis", "--node"],
    );
    let rooms = match &cluster[..] {
        [Some(url), node] => {
            let node = node
                .clone()
                .unwrap_or_else(|| format!("node-{}", std::process::id()));
            let engine = RedisEngine::connect(Tokio, url, &node, RedisConfig::default()).await?;
            // `/events` on a topic every node shares: replay across nodes.
            let feed = engine.topic("chat-events", app::FEED_REPLAY).await?;
            println!("node {node} on {url}");
            config = config.engine(engine);
            Arc::new(app::Rooms::clustered(feed))
        }
        [None, Some(_)] => {
            eprintln!("--node needs --redis");
            std::process::exit(2)
        }
        _ => Arc::new(app::Rooms::default()),
    };
    let server = Server::bind_with(&addr, app::router_with(rooms.clone()), config).await?;
    let tcp = server.local_addr()?;
    println!("listening on {tcp}");
    // The chat over WebTransport on the UDP port of the same number, with a
    // fresh self-signed certificate the page accepts by its hash.
    let (cert, key) = wt_cert::certificate()?;
    let hash = wt_cert::sha256(&cert);
    let tls = webtransport::server_config(vec![cert], key)?;
    let mut wt_config = webtransport::Config::default();
    wt_config.max_message_size = app::MAX_MESSAGE;
    let server = server.with_webtransport(tcp, tls, wt_config)?;
    if let Some(udp) = server.webtransport_addr() {
        println!("webtransport on {udp}, certificate sha256 {hash}");
        let _ = rooms.webtransport.set(app::WebTransportInfo {
            port: Some(udp.port()),
            certificate_sha256: Some(hash),
        });
    }
    // SIGTERM or Ctrl-C: drain (WebSocket clients get 1001 after what was
    // queued, SSE streams end), wait up to 10 s, exit 0.
    let grace = Duration::from_secs(10);
    server
        .run_until(tidings_tokio::shutdown_signal()?, grace)
        .await;
    Ok(())
}
