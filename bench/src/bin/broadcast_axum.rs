//! Broadcast server on axum 0.8: `/sse` streams every message sent through
//! one `tokio::sync::broadcast` channel; `GET /publish/sse` sends one.
//! `broadcast_axum [ADDR]`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::routing::get;
use futures_util::Stream;
use tokio::sync::broadcast;

fn events(
    receiver: broadcast::Receiver<Arc<str>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(text) => return Some((Ok(Event::default().data(&*text)), receiver)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (sender, _) = broadcast::channel::<Arc<str>>(16);
    let app = axum::Router::new()
        .route(
            "/sse",
            get(
                |State(sender): State<broadcast::Sender<Arc<str>>>| async move {
                    Sse::new(events(sender.subscribe()))
                },
            ),
        )
        .route(
            "/publish/sse",
            get(
                |State(sender): State<broadcast::Sender<Arc<str>>>| async move {
                    let _ = sender.send(Arc::from(tidings_bench::broadcast_message()));
                    "ok"
                },
            ),
        )
        .with_state(sender);
    tidings_bench::serve_axum(app).await
}
