//! The axum 0.8 anchor of `bench/c100k`, written as an axum user would:
//! one `tokio::sync::broadcast` channel per protocol. `/ws` (axum's
//! `WebSocketUpgrade`) echoes text and binary messages and forwards every
//! message of the WebSocket channel; `/sse` streams the SSE channel; `GET
//! /publish/ws` and `GET /publish/sse` send
//! `tidings_bench::broadcast_message()` on one of them.
//! `c100k_axum [ADDR]`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::response::sse::{Event, Sse};
use axum::routing::get;
use futures_util::Stream;
use tokio::sync::broadcast::{self, error::RecvError};

#[derive(Clone)]
struct Channels {
    ws: broadcast::Sender<Utf8Bytes>,
    sse: broadcast::Sender<Arc<str>>,
}

/// Echoes the client's messages and forwards the broadcasts until either
/// side ends.
async fn member(mut socket: WebSocket, mut broadcasts: broadcast::Receiver<Utf8Bytes>) {
    loop {
        let outgoing = tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => message,
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return,
            },
            broadcast = broadcasts.recv() => match broadcast {
                Ok(text) => Message::Text(text),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
        };
        if socket.send(outgoing).await.is_err() {
            return;
        }
    }
}

/// The SSE channel as a stream of events (a lagging client skips ahead).
fn events(
    receiver: broadcast::Receiver<Arc<str>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        let text = loop {
            match receiver.recv().await {
                Ok(text) => break text,
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
        };
        Some((Ok(Event::default().data(&*text)), receiver))
    })
}

async fn ws(State(channels): State<Channels>, upgrade: WebSocketUpgrade) -> Response {
    let broadcasts = channels.ws.subscribe();
    upgrade.on_upgrade(move |socket| member(socket, broadcasts))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let channels = Channels {
        ws: broadcast::channel(16).0,
        sse: broadcast::channel(16).0,
    };
    let app = axum::Router::new()
        .route("/ws", get(ws))
        .route(
            "/sse",
            get(|State(channels): State<Channels>| async move {
                Sse::new(events(channels.sse.subscribe()))
            }),
        )
        .route(
            "/publish/ws",
            get(|State(channels): State<Channels>| async move {
                let _ = channels.ws.send(tidings_bench::broadcast_message().into());
                "ok"
            }),
        )
        .route(
            "/publish/sse",
            get(|State(channels): State<Channels>| async move {
                let _ = channels.sse.send(tidings_bench::broadcast_message().into());
                "ok"
            }),
        )
        .with_state(channels);
    tidings_bench::serve_axum(app).await
}
