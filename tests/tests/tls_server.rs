//! The server over TLS on every runtime: WebSocket, SSE and plain routes;
//! a certificate replaced while connections stay open; the handshake
//! timeout, plaintext on the TLS port and refused handshakes, each counted
//! in the statistics by reason; the connection limits.
//!
//! The clients are futures-rustls over the runtime's TCP stream, trusting
//! the test CA ([`tidings_tests::tls`]); WebSocket clients then run the
//! tidings client handshake over that stream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tidings_framework::hub::TlsHandshakeFailures;
use tidings_framework::server::{Context, SseContext};
use tidings_framework::tls::{ServerTls, ServerTlsError};
use tidings_tests::certs::TestCa;
use tidings_tests::tls::{TestTls, client_config, connect, peer_leaf, try_connect, ws_over};
use tidings_tests::{
    ClientConfig, Message, RawClient, Router, ServerConfig, SseClient, TestRuntime, TestServer,
    Wire, all_runtimes, has_header, start_server_on, status_line, timeout, upgrade_request,
    wait_until,
};

all_runtimes!(
    wss_echo,
    large_output_to_a_slow_reader_arrives_whole,
    sse_over_https,
    get_route_over_https,
    certificate_swap_leaves_open_connections_alone,
    stalled_handshake_is_closed_at_the_timeout,
    plaintext_is_answered_and_closed_at_once,
    untrusting_client_is_counted_as_peer_alert,
    connection_limits_count_tls_connections,
    handshakes_beyond_the_limit_are_refused,
);

/// A server on TLS with an echo on `/ws`, an SSE route and a GET route.
async fn server<N: TestRuntime>(config: ServerConfig) -> TestServer<N> {
    let router = Router::new()
        .websocket("/ws", tidings_framework::server::echo)
        .sse("/events", |ctx: SseContext| async move {
            for n in 1..=3 {
                ctx.send_event("tick", &n.to_string()).await?;
            }
            Ok(())
        })
        .get("/hello", |_ctx: Context| async { "hello over TLS" })
        .websocket(
            "/push",
            |_ctx: Context, conn: tidings_framework::Connection| async move {
                for n in 0..PUSHED {
                    conn.write_binary(vec![n as u8; PUSHED_SIZE]).await?;
                }
                // Nothing more is written: what the socket did not take must
                // still leave the TLS stream's buffer.
                let _ = conn.read().await;
                Ok(())
            },
        );
    start_server_on::<N>(Wire::Tls, router, config).await
}

/// Messages `/push` writes, and their size: 8 MiB in all, far more than
/// the socket buffers hold.
const PUSHED: usize = 32;
const PUSHED_SIZE: usize = 256 << 10;

fn tls_of<N: TestRuntime>(server: &TestServer<N>) -> &TestTls {
    server.tls.as_ref().expect("a TLS server")
}

/// The server's TLS failure counters.
fn failures<N: TestRuntime>(server: &TestServer<N>) -> TlsHandshakeFailures {
    server.handle.hub().stats().tls_handshake_failures
}

/// An echo round trip of `text` on `conn`.
async fn echoes(conn: &tidings_framework::Connection, text: &str) {
    conn.write(text).await.expect("write");
    assert_eq!(conn.read().await.expect("echo"), Message::from(text));
}

async fn wss_echo<N: TestRuntime>() {
    let server = server::<N>(ServerConfig::default()).await;
    let tls = tls_of(&server);
    let stream = connect::<N>(server.addr, &tls.client).await;
    let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(peer_leaf(&stream), tls.leaf.cert_der);
    let conn = ws_over::<N>(stream, server.addr, "/ws", ClientConfig::default()).await;
    echoes(&conn, "hello over TLS").await;
    // Larger than a TLS record (16 KiB), binary.
    let big: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    conn.write_binary(&big).await.expect("write binary");
    assert_eq!(conn.read().await.expect("echo"), Message::from(big));
    conn.close().await.expect("close");
    let stats = server.handle.hub().stats();
    assert_eq!(stats.tls_handshakes, 1);
    assert_eq!(stats.websocket.total, 1);
    assert_eq!(stats.tls_handshake_failures.total(), 0, "{stats:?}");
    assert!(
        wait_until::<N>(Duration::from_secs(5), || server
            .handle
            .active_connections()
            == 0)
        .await
    );
}

async fn large_output_to_a_slow_reader_arrives_whole<N: TestRuntime>() {
    let server = server::<N>(ServerConfig::default()).await;
    let conn = server.ws("/push", ClientConfig::default()).await;
    // Not reading for a while: the server's socket fills, and its TLS
    // stream keeps what the socket would not take.
    tidings_tests::sleep::<N>(Duration::from_millis(300)).await;
    for n in 0..PUSHED {
        let message = timeout::<N, _>(Duration::from_secs(5), conn.read())
            .await
            .unwrap_or_else(|_| panic!("message {n} of {PUSHED} never came"))
            .expect("a message");
        assert_eq!(message, Message::from(vec![n as u8; PUSHED_SIZE]));
    }
}

async fn sse_over_https<N: TestRuntime>() {
    let server = server::<N>(ServerConfig::default()).await;
    let mut sse = SseClient::open_on(server.raw().await, "/events", &[]).await;
    assert_eq!(status_line(sse.head.as_bytes()), "HTTP/1.1 200 OK");
    assert!(has_header(&sse.head, "content-type", "text/event-stream"));
    let events = sse.events_to_end().await;
    let data: Vec<_> = events.iter().map(|event| event.data.as_str()).collect();
    assert_eq!(data, ["1", "2", "3"]);
    assert!(events.iter().all(|event| event.event_type == "tick"));
    assert_eq!(server.handle.hub().stats().sse.total, 1);
}

async fn get_route_over_https<N: TestRuntime>() {
    let server = server::<N>(ServerConfig::default()).await;
    let mut raw = server.raw().await;
    raw.send(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await;
    let response = raw.read_to_end().await;
    assert_eq!(status_line(&response), "HTTP/1.1 200 OK");
    assert!(response.ends_with(b"hello over TLS"), "{response:?}");
    // Unknown paths and upgrade refusals are answered over TLS too.
    let mut raw = server.raw().await;
    raw.send(upgrade_request("/nowhere").as_bytes()).await;
    assert_eq!(
        status_line(&raw.read_to_end().await),
        "HTTP/1.1 404 Not Found"
    );
}

async fn certificate_swap_leaves_open_connections_alone<N: TestRuntime>() {
    let server = server::<N>(ServerConfig::default()).await;
    let tls = tls_of(&server);
    let first = connect::<N>(server.addr, &tls.client).await;
    assert_eq!(peer_leaf(&first), tls.leaf.cert_der);
    let old = ws_over::<N>(first, server.addr, "/ws", ClientConfig::default()).await;
    echoes(&old, "before the swap").await;

    // The renewed certificate, from PEM files as an ACME client leaves them.
    let renewed = tls.ca.leaf();
    assert_ne!(renewed.cert_der, tls.leaf.cert_der);
    let dir = std::env::temp_dir().join(format!(
        "tidings-tls-swap-{}-{}",
        std::process::id(),
        std::any::type_name::<N>().replace("::", "_")
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &renewed.cert_pem).expect("write cert.pem");
    std::fs::write(&key, &renewed.key_pem).expect("write key.pem");
    let server_tls = server.handle.tls().expect("the server serves TLS");
    server_tls
        .reload_pem_files(&cert, &key)
        .expect("reload the renewed certificate");
    std::fs::remove_dir_all(&dir).ok();

    // The open connection is untouched; a new one gets the new leaf. (A
    // client with a fresh session cache: `tls.client` would resume its
    // TLS session, authenticated by the old certificate.)
    echoes(&old, "after the swap").await;
    let second = connect::<N>(server.addr, &client_config(&tls.ca)).await;
    assert_eq!(peer_leaf(&second), renewed.cert_der);
    let new = ws_over::<N>(second, server.addr, "/ws", ClientConfig::default()).await;
    echoes(&new, "new certificate").await;
    echoes(&old, "old certificate").await;

    // A failed reload changes nothing: a key that does not match.
    let other = tls.ca.leaf();
    let refused = server_tls.reload_pem(renewed.cert_pem.as_bytes(), other.key_pem.as_bytes());
    assert!(
        matches!(refused, Err(ServerTlsError::Rustls(_))),
        "{refused:?}"
    );
    let third = connect::<N>(server.addr, &client_config(&tls.ca)).await;
    assert_eq!(peer_leaf(&third), renewed.cert_der);
    // The server counts a handshake once it has the client's Finished,
    // after the client is done.
    assert!(
        wait_until::<N>(Duration::from_secs(2), || server
            .handle
            .hub()
            .stats()
            .tls_handshakes
            == 3)
        .await
    );
}

/// The ClientHello a rustls client with `config` sends first.
fn client_hello(config: &Arc<rustls::ClientConfig>) -> Vec<u8> {
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut client = rustls::ClientConnection::new(config.clone(), name).expect("a client");
    let mut hello = Vec::new();
    client.write_tls(&mut hello).expect("the ClientHello");
    hello
}

async fn stalled_handshake_is_closed_at_the_timeout<N: TestRuntime>() {
    tidings_tests::capture_logs();
    let handshake_timeout = Duration::from_millis(500);
    let server = server::<N>(ServerConfig::default().handshake_timeout(handshake_timeout)).await;
    let tls = tls_of(&server);
    // A ClientHello, then silence: the server sends its flight and waits
    // for the client's Finished, which never comes.
    let start = Instant::now();
    let mut stalled = RawClient::<N>::connect(server.addr).await;
    stalled.send(&client_hello(&tls.client)).await;
    let flight = stalled.read_some().await;
    assert_eq!(flight[0], 0x16, "the ServerHello, a handshake record");
    let rest = timeout::<N, _>(Duration::from_secs(5), stalled.read_to_end())
        .await
        .expect("the server closes the stalled connection");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(450) && elapsed < Duration::from_millis(1500),
        "closed after {elapsed:?}"
    );
    drop(rest);
    // Half a record header is stalled too.
    let mut half = RawClient::<N>::connect(server.addr).await;
    half.send(&[0x16, 0x03, 0x01]).await;
    let start = Instant::now();
    timeout::<N, _>(Duration::from_secs(5), half.read_to_end())
        .await
        .expect("the server closes the stalled connection");
    assert!(start.elapsed() < Duration::from_millis(1500));
    assert!(
        wait_until::<N>(Duration::from_secs(2), || failures(&server).timeout == 2).await,
        "{:?}",
        failures(&server)
    );
    assert!(
        tidings_tests::logged_events()
            .iter()
            .any(|line| line.contains("TLS handshake failed") && line.contains("timeout")),
        "no log line for the timeout"
    );
    // Still serving.
    let conn = server.ws("/ws", ClientConfig::default()).await;
    echoes(&conn, "still here").await;
}

async fn plaintext_is_answered_and_closed_at_once<N: TestRuntime>() {
    // The default handshake timeout (10 s): "at once" must not mean "at the
    // timeout".
    let server = server::<N>(ServerConfig::default()).await;
    let start = Instant::now();
    let mut http = RawClient::<N>::connect(server.addr).await;
    http.send(upgrade_request("/ws").as_bytes()).await;
    let response = timeout::<N, _>(Duration::from_secs(2), http.read_to_end())
        .await
        .expect("the server answers plaintext at once");
    assert_eq!(status_line(&response), "HTTP/1.1 400 Bad Request");
    let text = String::from_utf8_lossy(&response);
    assert!(text.contains("This port speaks TLS"), "{text}");
    let mut garbage = RawClient::<N>::connect(server.addr).await;
    garbage.send(b"\x00\x01\x02\x03 not a TLS record").await;
    let response = timeout::<N, _>(Duration::from_secs(2), garbage.read_to_end())
        .await
        .expect("the server closes garbage at once");
    assert!(response.is_empty(), "{response:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(
        wait_until::<N>(Duration::from_secs(2), || failures(&server).not_tls == 2).await,
        "{:?}",
        failures(&server)
    );
    let conn = server.ws("/ws", ClientConfig::default()).await;
    echoes(&conn, "still here").await;
}

async fn untrusting_client_is_counted_as_peer_alert<N: TestRuntime>() {
    let server = server::<N>(ServerConfig::default()).await;
    let stranger = client_config(&TestCa::new());
    let refused = try_connect::<N>(server.addr, &stranger).await;
    let error = refused
        .err()
        .expect("a client that trusts another CA refuses");
    assert!(
        error.to_string().contains("invalid peer certificate"),
        "{error}"
    );
    assert!(
        wait_until::<N>(Duration::from_secs(2), || failures(&server).peer_alert == 1).await,
        "{:?}",
        failures(&server)
    );
    // A client that goes away in the middle is `closed`.
    let mut leaving = RawClient::<N>::connect(server.addr).await;
    leaving.send(&client_hello(&tls_of(&server).client)).await;
    drop(leaving);
    assert!(
        wait_until::<N>(Duration::from_secs(2), || {
            let failed = failures(&server);
            failed.closed + failed.io == 1
        })
        .await,
        "{:?}",
        failures(&server)
    );
}

async fn connection_limits_count_tls_connections<N: TestRuntime>() {
    let server = server::<N>(ServerConfig::default().max_connections(1)).await;
    let first = server.ws("/ws", ClientConfig::default()).await;
    echoes(&first, "one").await;
    assert_eq!(server.handle.active_connections(), 1);
    let mut second = server.raw().await;
    second.send(upgrade_request("/ws").as_bytes()).await;
    assert_eq!(
        status_line(&second.read_to_end().await),
        "HTTP/1.1 503 Service Unavailable"
    );
    first.close().await.expect("close");
    drop(first);
    assert!(
        wait_until::<N>(Duration::from_secs(5), || server
            .handle
            .active_connections()
            == 0)
        .await
    );
    let third = server.ws("/ws", ClientConfig::default()).await;
    echoes(&third, "three").await;
}

async fn handshakes_beyond_the_limit_are_refused<N: TestRuntime>() {
    let server = server::<N>(ServerConfig::default().max_tls_handshakes(1)).await;
    // One handshake in progress (half a record header) holds the only slot.
    let mut holder = RawClient::<N>::connect(server.addr).await;
    holder.send(&[0x16, 0x03]).await;
    assert!(
        wait_until::<N>(Duration::from_secs(2), || server
            .handle
            .active_tls_handshakes()
            == 1)
        .await
    );
    let refused = try_connect::<N>(server.addr, &tls_of(&server).client).await;
    assert!(refused.is_err(), "a second handshake must be refused");
    assert_eq!(failures(&server).busy, 1);
    drop(holder);
    assert!(
        wait_until::<N>(Duration::from_secs(2), || server
            .handle
            .active_tls_handshakes()
            == 0)
        .await
    );
    let conn = server.ws("/ws", ClientConfig::default()).await;
    echoes(&conn, "a slot again").await;
}

#[test]
fn certificate_errors_say_what_is_wrong() {
    let ca = TestCa::new();
    let (leaf, other) = (ca.leaf(), ca.leaf());
    let mismatch = ServerTls::from_pem(leaf.cert_pem.as_bytes(), other.key_pem.as_bytes());
    let error = mismatch.expect_err("a key of another certificate");
    assert!(error.to_string().contains("refused"), "{error}");
    let no_key = ServerTls::from_pem(leaf.cert_pem.as_bytes(), leaf.cert_pem.as_bytes());
    assert_eq!(
        no_key.err().map(|error| error.to_string()).as_deref(),
        Some("key PEM: no private key found")
    );
    let good = ServerTls::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes())
        .expect("a matching pair");
    // HTTP/2 (the adapters' default feature `http2`) first.
    assert_eq!(
        good.config().alpn_protocols,
        [b"h2".to_vec(), b"http/1.1".to_vec()]
    );
}
