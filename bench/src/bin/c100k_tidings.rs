//! The tidings-tokio server of `bench/c100k`: `/ws` echoes every message
//! (the framework's `echo` handler) and every WebSocket connection is in the
//! hub, so `GET /publish/ws` reaches all of them with one `Hub::broadcast`
//! (the frame encoded once); `/sse` subscribes to one `SseTopic` and `GET
//! /publish/sse` publishes one event to it. Both send
//! `tidings_bench::broadcast_message()` (128 bytes ending in `~END`).
//!
//! `c100k_tidings [ADDR] [MAX_CONNECTIONS]`: the WebSocket and the SSE
//! admission limits are both MAX_CONNECTIONS (default 100,000), every other
//! setting is the default.

use tidings_framework::hub::{Filter, Payload, Protocol};
use tidings_framework::sse::Event;
use tidings_tokio::{Context, Router, Server, ServerConfig, SseConfig, SseContext, SseTopic};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let max: usize = std::env::args()
        .nth(2)
        .map_or(Ok(100_000), |text| text.parse())
        .expect("MAX_CONNECTIONS: a number");
    let topic = SseTopic::new(16);
    let subscribe = topic.clone();
    let router = Router::new()
        .websocket("/ws", tidings_framework::server::echo)
        .sse("/sse", move |ctx: SseContext| {
            let topic = subscribe.clone();
            async move {
                ctx.subscribe(&topic).await;
                Ok(())
            }
        })
        .get("/publish/ws", |ctx: Context| {
            let only_websocket = Filter::all().protocol(Protocol::WebSocket);
            ctx.hub().broadcast(
                Payload::text(tidings_bench::broadcast_message()),
                only_websocket,
            );
            async { "ok" }
        })
        .get("/publish/sse", move |_ctx: Context| {
            let event = Event::new().data(tidings_bench::broadcast_message());
            let answer = match topic.publish(event) {
                Ok(_) => "ok",
                Err(_) => "encode error",
            };
            async move { answer }
        });
    let config = ServerConfig::default()
        .max_connections(max)
        .sse(SseConfig::default().max_connections(max));
    let server = Server::bind_with(&tidings_bench::addr_arg(), router, config).await?;
    println!("listening on {}", server.local_addr()?);
    server.run().await;
    Ok(())
}
