//! Echo server on tokio-websockets: text and binary messages come back
//! unchanged. `echo_tokio_websockets [ADDR]`.

use futures_util::{SinkExt, StreamExt};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tidings_bench::serve(&tidings_bench::addr_arg(), |stream| async move {
        let Ok((_request, mut ws)) = tokio_websockets::ServerBuilder::new().accept(stream).await
        else {
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
