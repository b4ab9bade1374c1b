//! The close handshake from either side, and how a handler's return value
//! closes the connection.

use std::time::{Duration, Instant};
use tidings_framework::close::CloseCode;
use tidings_framework::ws::{CloseCause, CloseFrame, Closed};

use tidings_tests::{
    ClientConfig, Connection, Error, RawClient, Router, ServerConfig, TestRuntime, all_runtimes,
    channel, client, client_frame, expect_closed, start_server, timeout,
};

all_runtimes!(
    client_close_reaches_handler,
    server_close_reaches_client,
    handler_error_closes_1011,
    handler_ok_closes_1000,
    server_ends_tcp_after_close_handshake
);

fn frame(code: u16, reason: &str) -> Option<CloseFrame> {
    Some(CloseFrame {
        code: CloseCode(code),
        reason: reason.to_owned(),
    })
}

async fn client_close_reaches_handler<N: TestRuntime>() {
    let (tx, rx) = channel::bounded::<Result<Closed, String>>(1);
    let router = Router::new().websocket("/ws", move |_ctx, conn: Connection| {
        let tx = tx.clone();
        async move {
            let outcome = match conn.read().await {
                Err(Error::Closed(closed)) => Ok(*closed),
                other => Err(format!("{other:?}")),
            };
            let _ = tx.send(outcome).await;
            Ok(())
        }
    });
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let conn = client::<N>(&server.url("/ws"), ClientConfig::default()).await;

    conn.close_with(CloseCode(4321), "client done")
        .await
        .unwrap();
    let seen = rx
        .recv()
        .await
        .unwrap()
        .expect("the handler's read ends with Closed");
    assert_eq!(seen.cause, CloseCause::PeerClose);
    assert_eq!(seen.received, frame(4321, "client done"));
    assert_eq!(seen.code(), CloseCode(4321));

    let ours = conn.close_info().expect("closed after close_with");
    assert_eq!(ours.cause, CloseCause::LocalClose);
    assert_eq!(ours.sent, frame(4321, "client done"));
    assert!(ours.is_clean());
    // Writing after the close fails with Closed.
    assert!(conn.write("late").await.unwrap_err().is_closed());
}

async fn server_close_reaches_client<N: TestRuntime>() {
    let (tx, rx) = channel::bounded::<Option<Closed>>(1);
    let router = Router::new().websocket("/ws", move |_ctx, conn: Connection| {
        let tx = tx.clone();
        async move {
            conn.write("before close").await?;
            conn.close_with(CloseCode(4001), "bye").await?;
            let _ = tx.send(conn.close_info()).await;
            Ok(())
        }
    });
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let conn = client::<N>(&server.url("/ws"), ClientConfig::default()).await;

    assert_eq!(conn.read().await.unwrap(), "before close".into());
    let closed = expect_closed(conn.read().await);
    assert_eq!(closed.cause, CloseCause::PeerClose);
    assert_eq!(closed.received, frame(4001, "bye"));
    assert_eq!(closed.code(), CloseCode(4001));

    let server_side = rx.recv().await.unwrap().expect("closed after close_with");
    assert_eq!(server_side.cause, CloseCause::LocalClose);
    assert_eq!(server_side.sent, frame(4001, "bye"));
    assert!(server_side.is_clean());
}

async fn handler_error_closes_1011<N: TestRuntime>() {
    let router = Router::new().websocket("/ws", |_ctx, conn: Connection| async move {
        conn.write("working").await?;
        Err(Error::other("room is full"))
    });
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let conn = client::<N>(&server.url("/ws"), ClientConfig::default()).await;

    assert_eq!(conn.read().await.unwrap(), "working".into());
    let closed = expect_closed(conn.read().await);
    assert_eq!(closed.received, frame(1011, "room is full"));
    assert_eq!(closed.cause, CloseCause::PeerClose);
}

async fn handler_ok_closes_1000<N: TestRuntime>() {
    let router = Router::new().websocket("/ws", |_ctx, conn: Connection| async move {
        conn.write("done").await?;
        Ok(())
    });
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let conn = client::<N>(&server.url("/ws"), ClientConfig::default()).await;

    assert_eq!(conn.read().await.unwrap(), "done".into());
    let closed = expect_closed(conn.read().await);
    assert_eq!(closed.received, frame(1000, ""));
    assert_eq!(closed.cause, CloseCause::PeerClose);
    assert!(closed.is_clean());
}

async fn server_ends_tcp_after_close_handshake<N: TestRuntime>() {
    // The handler returns at once: the server sends close 1000; a raw client
    // answers it, and the server must then end the TCP stream promptly
    // (not only when its 2 s linger runs out).
    let router = Router::new().websocket("/ws", |_ctx, _conn: Connection| async { Ok(()) });
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let mut raw = RawClient::<N>::upgrade(server.addr, "/ws").await;
    let mut close = std::mem::take(&mut raw.buffered);
    while close.len() < 4 {
        close.extend(raw.read_some().await);
    }
    assert_eq!(close, [0x88, 0x02, 0x03, 0xe8], "a close frame with 1000");
    raw.send(&client_frame(0x8, &[0x03, 0xe8])).await;
    let start = Instant::now();
    let rest = timeout::<N, _>(Duration::from_secs(5), raw.read_to_end())
        .await
        .expect("EOF within 5 s");
    assert!(rest.is_empty(), "nothing after the close frame: {rest:?}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "EOF took {:?}",
        start.elapsed()
    );
}
