//! Admission and time limits: max connections, the handshake timeout, and
//! the keep-alive that detects a dead peer.

use std::time::{Duration, Instant};

use tidings_framework::ws::{self, CloseCause, Closed, TimeoutKind};
use tidings_tests::{
    ClientConfig, Connection, Error, RawClient, Router, ServerConfig, TestRuntime, all_runtimes,
    channel, client, sleep, start_server, status_line, timeout, upgrade_request, wait_until,
};

all_runtimes!(
    max_connections_refuses_with_503,
    handshake_timeout_answers_408,
    dead_peer_times_out,
    dead_peers_time_out_each_at_its_own_deadline
);

async fn max_connections_refuses_with_503<N: TestRuntime>() {
    let router = Router::new().websocket("/ws", tidings_framework::server::echo);
    let server = start_server::<N>(router, ServerConfig::default().max_connections(2)).await;
    let first = client::<N>(&server.url("/ws"), ClientConfig::default()).await;
    let second = client::<N>(&server.url("/ws"), ClientConfig::default()).await;
    assert_eq!(server.handle.active_connections(), 2);

    let mut raw = RawClient::<N>::connect(server.addr).await;
    raw.send(upgrade_request("/ws").as_bytes()).await;
    let response = raw.read_to_end().await;
    assert_eq!(status_line(&response), "HTTP/1.1 503 Service Unavailable");
    // The tidings client is refused too.
    assert!(matches!(
        tidings_framework::client::connect::<N>(&server.url("/ws"), ClientConfig::default()).await,
        Err(Error::Handshake(_))
    ));

    first.close().await.unwrap();
    assert!(
        wait_until::<N>(Duration::from_secs(5), || server
            .handle
            .active_connections()
            < 2)
        .await,
        "the closed connection's slot is released"
    );
    let third = client::<N>(&server.url("/ws"), ClientConfig::default()).await;
    third.write("third").await.unwrap();
    assert_eq!(third.read().await.unwrap(), "third".into());
    second.write("second").await.unwrap();
    assert_eq!(second.read().await.unwrap(), "second".into());
    assert_eq!(server.handle.active_connections(), 2);
}

async fn handshake_timeout_answers_408<N: TestRuntime>() {
    let router = Router::new().websocket("/ws", tidings_framework::server::echo);
    let config = ServerConfig::default().handshake_timeout(Duration::from_millis(300));
    let server = start_server::<N>(router, config).await;
    let mut raw = RawClient::<N>::connect(server.addr).await;
    let start = Instant::now();
    // Half a request head, then silence.
    raw.send(b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: webs")
        .await;
    let response = timeout::<N, _>(Duration::from_secs(5), raw.read_to_end())
        .await
        .expect("the server ends the stream");
    let elapsed = start.elapsed();
    assert_eq!(status_line(&response), "HTTP/1.1 408 Request Timeout");
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(2),
        "EOF after {elapsed:?}"
    );
}

async fn dead_peer_times_out<N: TestRuntime>() {
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
    let config = ServerConfig::default().websocket(
        ws::Config::default()
            .ping_period(Some(Duration::from_millis(200)))
            .pong_wait(Some(Duration::from_millis(500))),
    );
    let server = start_server::<N>(router, config).await;
    // Completes the handshake, then never reads nor answers the pings.
    let raw = RawClient::<N>::upgrade(server.addr, "/ws").await;
    let start = Instant::now();
    let closed = rx
        .recv()
        .await
        .unwrap()
        .expect("the handler's read ends with Closed");
    let elapsed = start.elapsed();
    assert_eq!(closed.cause, CloseCause::Timeout(TimeoutKind::PongWait));
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_millis(2500),
        "timed out after {elapsed:?}"
    );
    drop(raw);
}

/// A server's connections share one timer (its wheel): two silent peers
/// that connected at different times are each given up at their own pong
/// deadline, while a live peer (the tidings client answers the pings) keeps
/// its connection through both.
async fn dead_peers_time_out_each_at_its_own_deadline<N: TestRuntime>() {
    let (tx, rx) = channel::bounded::<Result<Closed, String>>(3);
    let router = Router::new().websocket("/ws", move |_ctx, conn: Connection| {
        let tx = tx.clone();
        async move {
            let outcome = loop {
                match conn.read().await {
                    Ok(message) => conn.write_message(&message).await?,
                    Err(Error::Closed(closed)) => break Ok(*closed),
                    Err(other) => break Err(format!("{other:?}")),
                }
            };
            let _ = tx.send(outcome).await;
            Ok(())
        }
    });
    let config = ServerConfig::default().websocket(
        ws::Config::default()
            .ping_period(Some(Duration::from_millis(100)))
            .pong_wait(Some(Duration::from_millis(400))),
    );
    let server = start_server::<N>(router, config).await;
    let live = client::<N>(&server.url("/ws"), ClientConfig::default()).await;
    let first = RawClient::<N>::upgrade(server.addr, "/ws").await;
    let started = Instant::now();
    sleep::<N>(Duration::from_millis(200)).await;
    let second = RawClient::<N>::upgrade(server.addr, "/ws").await;
    for _ in 0..2 {
        let closed = timeout::<N, _>(Duration::from_secs(10), rx.recv())
            .await
            .expect("a silent peer times out")
            .unwrap()
            .expect("the handler's read ends with Closed");
        assert_eq!(closed.cause, CloseCause::Timeout(TimeoutKind::PongWait));
    }
    assert!(
        started.elapsed() >= Duration::from_millis(550),
        "the second peer was given up before its own deadline"
    );
    live.write("alive").await.unwrap();
    assert_eq!(live.read().await.unwrap(), "alive".into());
    drop((first, second));
}
