//! Echo server on tokio-tungstenite: text and binary messages come back
//! unchanged. `echo_tungstenite [ADDR] [--tls-cert CERT.pem --tls-key KEY.pem]`
//! (over TLS with tokio-rustls, the way its users add TLS).

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(stream: S) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    while let Some(Ok(message)) = ws.next().await {
        if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
            return;
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let tls = tidings_bench::tls_acceptor_arg();
    tidings_bench::serve(&tidings_bench::addr_arg(), move |stream| {
        let tls = tls.clone();
        async move {
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        echo(stream).await;
                    }
                }
                None => echo(stream).await,
            }
        }
    })
    .await
}
