//! Echo server on axum 0.8's own WebSocket (`WebSocketUpgrade`, on
//! tokio-tungstenite): every path upgrades, text and binary come back
//! unchanged. `echo_axum [ADDR]`. The reference for `echo_axum_tidings`
//! (same app, same runtime, tidings' extractor instead).

use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::response::Response;

async fn echo(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(|mut socket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Text(_) | Message::Binary(_))
                && socket.send(message).await.is_err()
            {
                return;
            }
        }
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app = axum::Router::new().fallback(echo);
    tidings_bench::serve_axum(app).await
}
