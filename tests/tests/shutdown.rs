//! Graceful shutdown: queued messages are delivered before the 1001 close.

use std::time::Duration;

use futures_util::future::join;
use tidings_core::close::CloseCode;
use tidings_tests::{
    ClientConfig, Connection, Message, Router, ServerConfig, TestRuntime, all_runtimes, channel,
    client, expect_closed, start_server,
};

all_runtimes!(shutdown_delivers_queued_messages);

const COUNT: usize = 100;

async fn shutdown_delivers_queued_messages<N: TestRuntime>() {
    let (tx, rx) = channel::bounded::<bool>(1);
    let router = Router::new().websocket("/ws", move |_ctx, conn: Connection| {
        let tx = tx.clone();
        async move {
            for i in 0..COUNT {
                conn.write(format!("message {i}")).await?;
            }
            conn.closed().await;
            let _ = tx.send(conn.is_closed()).await;
            Ok(())
        }
    });
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let conn = client::<N>(&server.url("/ws"), ClientConfig::default()).await;
    assert_eq!(conn.read().await.unwrap(), Message::from("message 0"));

    let reading = async {
        for i in 1..COUNT {
            assert_eq!(
                conn.read().await.unwrap(),
                Message::from(format!("message {i}"))
            );
        }
        expect_closed(conn.read().await)
    };
    let (finished, closed) = join(server.handle.shutdown(Duration::from_secs(5)), reading).await;
    assert!(finished, "every connection finished before the deadline");
    assert_eq!(
        closed.received.as_ref().map(|frame| frame.code),
        Some(CloseCode::GOING_AWAY)
    );
    assert!(closed.is_clean(), "{closed:?}");
    assert!(rx.recv().await.unwrap(), "the handler's closed() completed");
    assert_eq!(server.handle.active_connections(), 0);
    // No new connections after shutdown.
    assert!(
        tidings_core::client::connect::<N>(&server.url("/ws"), ClientConfig::default())
            .await
            .is_err()
    );
}
