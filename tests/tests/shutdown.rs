//! Graceful shutdown: queued messages are delivered before the 1001 close;
//! `Server::run_until` drains WebSocket and SSE clients when its stop
//! future completes (what the examples wire to SIGTERM / Ctrl-C);
//! dropping `Server::run`'s future stops accepting.

use std::pin::pin;
use std::time::{Duration, Instant};

use futures_util::future::{join, select};
use tidings_framework::close::CloseCode;
use tidings_framework::server::{Server, SseContext};
use tidings_framework::testing::SseClient;
use tidings_tests::{
    ClientConfig, Connection, Message, Router, ServerConfig, TestRuntime, all_runtimes, channel,
    client, expect_closed, sleep, start_server,
};

all_runtimes!(
    shutdown_delivers_queued_messages,
    shutdown_flushes_what_is_still_queued_inside_tidings,
    run_until_drains_websocket_and_sse_clients,
    dropping_run_stops_accepting,
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

async fn run_until_drains_websocket_and_sse_clients<N: TestRuntime>() {
    let router = Router::new()
        .websocket("/ws", |_ctx, conn: Connection| async move {
            for i in 0..10 {
                conn.write(format!("message {i}")).await?;
            }
            conn.closed().await;
            Ok(())
        })
        .sse("/events", |ctx: SseContext| async move {
            for i in 0..3 {
                ctx.send_event("tick", i.to_string()).await?;
            }
            ctx.closed().await;
            Ok(())
        });
    let server = Server::<N>::bind("127.0.0.1:0", router).await.unwrap();
    let addr = server.local_addr().unwrap();
    let (stop_tx, stop_rx) = channel::bounded::<()>(1);
    let (done_tx, done_rx) = channel::bounded::<bool>(1);
    N::default().spawn(async move {
        let stop = async move {
            let _ = stop_rx.recv().await;
        };
        let drained = server.run_until(stop, Duration::from_secs(5)).await;
        let _ = done_tx.send(drained).await;
    });
    let conn = client::<N>(&format!("ws://{addr}/ws"), ClientConfig::default()).await;
    assert_eq!(conn.read().await.unwrap(), Message::from("message 0"));
    let mut sse = SseClient::<N>::open(addr, "/events", &[]).await;
    sse.expect_event("tick", "0").await;

    stop_tx.send(()).await.unwrap();
    for i in 1..10 {
        assert_eq!(
            conn.read().await.unwrap(),
            Message::from(format!("message {i}"))
        );
    }
    let closed = expect_closed(conn.read().await);
    assert_eq!(
        closed.received.as_ref().map(|frame| frame.code),
        Some(CloseCode::GOING_AWAY)
    );
    sse.expect_event("tick", "1").await;
    sse.expect_event("tick", "2").await;
    sse.expect_end().await;
    assert!(
        done_rx.recv().await.unwrap(),
        "drained before the grace period"
    );
    assert!(
        tidings_framework::client::connect::<N>(
            &format!("ws://{addr}/ws"),
            ClientConfig::default()
        )
        .await
        .is_err(),
        "no longer accepting"
    );
}

/// `Server::run` accepts in a task of its own; dropping its future (with no
/// shutdown) still stops accepting and closes the listener, as when the
/// loop ran inside it, while the connections already accepted go on.
async fn dropping_run_stops_accepting<N: TestRuntime>() {
    let router = Router::new().websocket("/ws", tidings_framework::server::echo);
    let server = Server::<N>::bind("127.0.0.1:0", router).await.unwrap();
    let url = format!("ws://{}/ws", server.local_addr().unwrap());
    let (stop_tx, stop_rx) = channel::bounded::<()>(1);
    let (dropped_tx, dropped_rx) = channel::bounded::<()>(1);
    N::default().spawn(async move {
        let stop = async move {
            let _ = stop_rx.recv().await;
        };
        // Ends when `stop` does, dropping `run`'s future.
        select(pin!(server.run()), pin!(stop)).await;
        let _ = dropped_tx.send(()).await;
    });
    let conn = client::<N>(&url, ClientConfig::default()).await;
    stop_tx.send(()).await.unwrap();
    dropped_rx.recv().await.unwrap();
    let start = Instant::now();
    while tidings_framework::client::connect::<N>(&url, ClientConfig::default())
        .await
        .is_ok()
    {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still accepting 5 s after run's future was dropped"
        );
        sleep::<N>(Duration::from_millis(20)).await;
    }
    conn.write("still served").await.unwrap();
    assert_eq!(conn.read().await.unwrap(), Message::from("still served"));
}
