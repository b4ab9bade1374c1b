//! `Connection` as a futures `Stream` of messages and `Sink` of messages.

use futures_util::{SinkExt, StreamExt};
use tidings_framework::close::CloseCode;
use tidings_tests::{
    ClientConfig, Connection, Message, Router, ServerConfig, TestRuntime, all_runtimes, client,
    start_server,
};

all_runtimes!(stream_and_sink_echo, stream_ends_when_the_peer_closes);

/// The server echoes through `Stream` + `Sink` (`forward`-style), the client
/// sends with the `Sink` and receives with the `Stream`.
async fn stream_and_sink_echo<N: TestRuntime>() {
    let router = Router::new().websocket("/ws", |_ctx, conn: Connection| async move {
        let mut sink = conn.clone();
        let mut stream = conn;
        while let Some(message) = stream.next().await {
            sink.send(message?).await?;
        }
        Ok(())
    });
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let mut conn = client::<N>(&server.url("/ws"), ClientConfig::default()).await;

    let sent: Vec<Message> = (0..20)
        .map(|i| {
            if i % 2 == 0 {
                Message::from(format!("text {i}"))
            } else {
                Message::from(vec![i as u8; i])
            }
        })
        .collect();
    for message in &sent {
        conn.feed(message.clone()).await.unwrap();
    }
    conn.flush().await.unwrap();
    let mut received = Vec::new();
    while received.len() < sent.len() {
        received.push(conn.next().await.expect("stream open").unwrap());
    }
    assert_eq!(received, sent);

    // Sink::close runs the close handshake; the stream then ends.
    SinkExt::close(&mut conn).await.unwrap();
    assert!(conn.next().await.is_none());
    assert_eq!(conn.close_info().map(|c| c.code()), Some(CloseCode::NORMAL));
}

async fn stream_ends_when_the_peer_closes<N: TestRuntime>() {
    let router = Router::new().websocket("/ws", |_ctx, conn: Connection| async move {
        conn.write("last words").await?;
        conn.close_with(CloseCode(4000), "done").await?;
        Ok(())
    });
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let mut conn = client::<N>(&server.url("/ws"), ClientConfig::default()).await;
    assert_eq!(
        conn.next().await.unwrap().unwrap(),
        Message::from("last words")
    );
    assert!(conn.next().await.is_none());
    assert_eq!(conn.close_info().map(|c| c.code()), Some(CloseCode(4000)));
}
