//! Broadcast server on tidings (tokio): `GET /publish/ws` sends one message
//! to every client of `/ws`, `GET /publish/sse` one event to every client of
//! `/sse`; the body of the publish request's answer is `ok`.
//! `broadcast_tidings [ADDR]`.
//!
//! WebSocket clients are reached through the server's hub
//! (`Hub::broadcast`): the frame is encoded once and the same bytes are
//! queued on every connection, which is the library's broadcast path. SSE
//! clients subscribe to an `SseTopic` (encoded once as well).

use tidings_framework::hub::{Filter, Payload, Protocol};
use tidings_framework::sse::Event;
use tidings_tokio::{
    Connection, Context, Router, Server, ServerConfig, SseConfig, SseContext, SseTopic,
};

/// Keeps a WebSocket client registered (and so reached by broadcasts)
/// until it leaves.
async fn subscriber(_ctx: Context, conn: Connection) -> Result<(), tidings_tokio::Error> {
    while conn.read().await.is_ok() {}
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let topic = SseTopic::new(16);
    let router = Router::new()
        .websocket("/ws", subscriber)
        .sse("/sse", {
            let topic = topic.clone();
            move |ctx: SseContext| {
                let topic = topic.clone();
                async move {
                    ctx.subscribe(&topic).await;
                    Ok(())
                }
            }
        })
        .get("/publish/ws", |ctx: Context| {
            let message = Payload::text(tidings_bench::broadcast_message());
            ctx.hub()
                .broadcast(message, Filter::all().protocol(Protocol::WebSocket));
            async { "ok" }
        })
        .get("/publish/sse", move |_ctx: Context| {
            let published = topic
                .publish(Event::new().data(tidings_bench::broadcast_message()))
                .is_ok();
            async move { if published { "ok" } else { "encode error" } }
        });
    let config = ServerConfig::default()
        .max_connections(20_000)
        .sse(SseConfig::default().max_connections(20_000));
    let server = Server::bind_with(&tidings_bench::addr_arg(), router, config).await?;
    println!("listening on {}", server.local_addr()?);
    server.run().await;
    Ok(())
}
