//! Graceful shutdown: queued messages are delivered before the 1001 close.

use std::time::Duration;

use futures_util::future::join;
use tidings_framework::close::CloseCode;
use tidings_tests::{
    ClientConfig, Connection, Message, Router, ServerConfig, TestRuntime, all_runtimes, channel,
    client, expect_closed, start_server,
};

all_runtimes!(
    shutdown_delivers_queued_messages,
    shutdown_flushes_what_is_still_queued_inside_tidings
);

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
        tidings_framework::client::connect::<N>(&server.url("/ws"), ClientConfig::default())
            .await
            .is_err()
    );
}

/// 32 MiB queued while the client does not read: far more than the kernel's
/// socket buffers hold, so most of it is still in tidings' write queue when
/// shutdown starts. All of it must arrive, then the 1001 close.
async fn shutdown_flushes_what_is_still_queued_inside_tidings<N: TestRuntime>() {
    const BIG: usize = 256;
    const SIZE: usize = 128 << 10;
    let (queued_tx, queued_rx) = channel::bounded::<()>(1);
    let router = Router::new().websocket("/ws", move |_ctx, conn: Connection| {
        let queued_tx = queued_tx.clone();
        async move {
            for i in 0..BIG {
                conn.write_binary(vec![i as u8; SIZE]).await?;
            }
            let _ = queued_tx.send(()).await;
            conn.closed().await;
            Ok(())
        }
    });
    let config = ServerConfig::default().write_buffer_size(64 << 20);
    let server = start_server::<N>(router, config).await;
    let conn = client::<N>(&server.url("/ws"), ClientConfig::default()).await;
    queued_rx
        .recv()
        .await
        .expect("the handler queued everything");

    let reading = async {
        for i in 0..BIG {
            let message = conn.read().await.unwrap();
            assert_eq!(message, Message::from(vec![i as u8; SIZE]), "message {i}");
        }
        expect_closed(conn.read().await)
    };
    let (finished, closed) = join(server.handle.shutdown(Duration::from_secs(15)), reading).await;
    assert!(finished, "every connection finished before the deadline");
    assert_eq!(
        closed.received.as_ref().map(|frame| frame.code),
        Some(CloseCode::GOING_AWAY)
    );
    assert!(closed.is_clean(), "{closed:?}");
}
