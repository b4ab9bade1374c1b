//! Echo server on axum 0.8 with tidings' `WsUpgrade` extractor
//! (tidings-axum): every path upgrades into a tidings `Connection`, text
//! and binary come back unchanged. `echo_axum_tidings [ADDR]`. Compared
//! with `echo_axum` (axum's own `WebSocketUpgrade`, same app and runtime).

use axum::response::IntoResponse;
use tidings_axum::{ServerConfig, Tidings, TidingsRouter, WsUpgrade};

async fn echo(upgrade: WsUpgrade) -> impl IntoResponse {
    upgrade.on_upgrade(|conn| async move {
        loop {
            let message = conn.read().await?;
            conn.write_message(&message).await?;
        }
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let tidings = Tidings::new(
        TidingsRouter::new(),
        ServerConfig::default(),
        tidings_tokio::Tokio,
    );
    let app = axum::Router::new().fallback(echo).with_state(tidings);
    tidings_bench::serve_axum(app).await
}
