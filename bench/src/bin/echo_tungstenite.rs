//! Echo server on tokio-tungstenite: text and binary messages come back
//! unchanged. `echo_tungstenite [ADDR]`.

use futures_util::{SinkExt, StreamExt};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tidings_bench::serve(&tidings_bench::addr_arg(), |stream| async move {
        let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        while let Some(Ok(message)) = ws.next().await {
            if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                return;
            }
        }
    })
    .await
}
