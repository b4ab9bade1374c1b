//! Broadcast server on tidings (tokio): `GET /publish/ws` sends one message
//! to every client of `/ws`, `GET /publish/sse` one event to every client of
//! `/sse`; the body of the publish request's answer is `ok`.
//! `broadcast_tidings [ADDR]`.
//!
//! The WebSocket fan-out lives in [`WsFanout`] alone: today every connection
//! task waits on a `tokio::sync::broadcast` receiver and writes the message
//! itself (one frame encoding per client). When the core gets a hub with
//! encode-once broadcast, only `WsFanout` changes.

use std::sync::Arc;

use tidings_core::sse::Event;
use tidings_tokio::{
    Connection, Context, Router, Server, ServerConfig, SseConfig, SseContext, SseTopic,
};
use tokio::sync::broadcast;

/// WebSocket fan-out: one `broadcast` channel, one receiver per connection.
#[derive(Clone)]
struct WsFanout {
    sender: broadcast::Sender<Arc<str>>,
}

impl WsFanout {
    fn new() -> Self {
        WsFanout {
            sender: broadcast::channel(16).0,
        }
    }

    /// Sends `text` to every connection in [`serve`](Self::serve).
    fn publish(&self, text: &str) {
        let _ = self.sender.send(Arc::from(text));
    }

    /// Forwards every published message to `conn` until it closes.
    async fn serve(&self, conn: Connection) -> Result<(), tidings_tokio::Error> {
        let mut receiver = self.sender.subscribe();
        loop {
            match receiver.recv().await {
                Ok(text) => conn.write(&*text).await?,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            }
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let ws = WsFanout::new();
    let topic = SseTopic::new(16);
    let router = Router::new()
        .websocket("/ws", {
            let ws = ws.clone();
            move |_ctx: Context, conn: Connection| {
                let ws = ws.clone();
                async move { ws.serve(conn).await }
            }
        })
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
        .get("/publish/ws", move |_ctx: Context| {
            ws.publish(&tidings_bench::broadcast_message());
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
