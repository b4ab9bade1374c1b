//! Hostile clients, written by hand over raw TCP, and panicking handlers.
//! The WebSocket cases run over plain TCP on every runtime and again
//! through TLS on tokio (`websocket_cases!`).
//!
//! Each case asserts the exact outcome the peer sees (HTTP status, close
//! code, or EOF) and then that the same server still serves a well-behaved
//! client (an echo round trip), and that no WebSocket connection is left
//! registered.

use std::time::{Duration, Instant};

use futures_util::future::join;
use tidings_framework::Error;
use tidings_framework::close::CloseCode;
use tidings_framework::server::{Context, RouteOptions, SseContext};
use tidings_tests::{
    ClientConfig, Connection, Message, RawClient, Router, ServerConfig, TestRuntime, TestServer,
    Wire, all_runtimes, client, client_frame, masked_frame, server_frames, start_server_on,
    status_line, timeout, upgrade_request, wait_until,
};

/// The WebSocket cases, each an `async fn case<N>(wire: Wire)`: over plain
/// TCP on every runtime (`plain::tokio_rt::case`, …) and through TLS on
/// tokio (`tls_tokio::case`). The same bodies, the transport a parameter:
/// the server of [`server`] / [`panic_server`] on that wire, and every
/// client from it (`TestServer::raw`, `TestServer::ws`).
macro_rules! websocket_cases {
    ($($case:ident),+ $(,)?) => {
        mod plain {
            use super::*;

            $(async fn $case<N: TestRuntime>() {
                super::$case::<N>(Wire::Plain).await;
            })+

            all_runtimes!($($case),+);
        }

        mod tls_tokio {
            $(#[test]
            fn $case() {
                tidings_tests::run_tokio(super::$case::<tidings_tests::Tokio>(
                    tidings_tests::Wire::Tls,
                ));
            })+
        }
    };
}

websocket_cases!(
    trickled_head_gets_408_at_the_timeout,
    oversized_head_gets_431,
    too_many_headers_gets_431,
    missing_upgrade_gets_426,
    wrong_upgrade_gets_426,
    missing_connection_upgrade_gets_400,
    huge_frame_header_gets_1009_at_once,
    length_with_top_bit_gets_1002,
    many_tiny_fragments_get_1009,
    long_control_frame_gets_1002,
    fragmented_control_frame_gets_1002,
    invalid_utf8_across_fragments_gets_1007_early,
    unmasked_client_frame_gets_1002,
    data_after_close_is_ignored,
    reset_mid_frame_leaves_nothing_behind,
    websocket_handler_panic_closes_with_1011,
    websocket_handler_panic_before_first_await_closes_with_1011,
);

all_runtimes!(
    client_refuses_masked_server_frame,
    abandoned_handshakes_leave_nothing_behind,
    sse_handler_panic_ends_the_stream,
    get_handler_panic_answers_500,
    middleware_panic_answers_500,
);

/// The handshake timeout of the battery's server.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(500);

/// The max message size of the battery's server.
const MAX_MESSAGE: usize = 1000;

/// How many abandoned handshakes [`abandoned_handshakes_leave_nothing_behind`]
/// opens per runtime, unless `TIDINGS_ABANDONED` says otherwise.
const ABANDONED: usize = 10_000;

/// One abandoned socket in this many leaves with a FIN (the rest reset): a
/// FIN-closed client port stays in TIME_WAIT for 60 s, and three runtimes ×
/// 10,000 of them would exceed Linux's 28,232 ephemeral ports.
const ABANDONED_WITH_FIN_EVERY: usize = 10;

/// Serializes the memory-measuring tests of the three runtimes, which share
/// this process's RSS.
static MEMORY_TEST: smol::lock::Mutex<()> = smol::lock::Mutex::new(());

/// An echo server on `/ws` with a short handshake timeout and a small max
/// message size.
async fn server<N: TestRuntime>(wire: Wire) -> TestServer<N> {
    let router = Router::new().websocket("/ws", tidings_framework::server::echo);
    let config = ServerConfig::default()
        .handshake_timeout(HANDSHAKE_TIMEOUT)
        .websocket(tidings_framework::ws::Config::default().max_message_size(MAX_MESSAGE));
    start_server_on::<N>(wire, router, config).await
}

/// The server still serves: a fresh client's echo round trip works, and
/// once it is gone no WebSocket connection is left registered.
async fn still_serves<N: TestRuntime>(server: &TestServer<N>) {
    let conn = server.ws("/ws", ClientConfig::default()).await;
    conn.write("still here").await.expect("write");
    assert_eq!(
        conn.read().await.expect("echo"),
        Message::from("still here")
    );
    conn.close().await.expect("close");
    drop(conn);
    assert!(
        wait_until::<N>(Duration::from_secs(5), || server
            .handle
            .active_connections()
            == 0
            && server.handle.hub().is_empty())
        .await,
        "connections left: {} open, registered in the hub: {:?}",
        server.handle.active_connections(),
        server.handle.hub().connections()
    );
}

/// Sends `request` and reads everything until the server closes.
async fn exchange<N: TestRuntime>(server: &TestServer<N>, request: &[u8]) -> Vec<u8> {
    let mut raw = server.raw().await;
    raw.send(request).await;
    raw.read_to_end().await
}

/// Sends `bytes` after a good upgrade and returns the frames the server
/// sent until it closed the TCP connection.
async fn after_upgrade<N: TestRuntime>(server: &TestServer<N>, bytes: &[u8]) -> Vec<u16> {
    let mut raw = server.raw().await.upgraded("/ws").await;
    raw.send(bytes).await;
    let frames = server_frames(&raw.read_to_end().await);
    frames
        .iter()
        .map(|frame| {
            frame
                .close_code()
                .unwrap_or_else(|| panic!("only a close frame expected, got {frames:?}"))
        })
        .collect()
}

// --- The request head ---

async fn trickled_head_gets_408_at_the_timeout<N: TestRuntime>(wire: Wire) {
    let server = server::<N>(wire).await;
    let mut raw = server.raw().await;
    let start = Instant::now();
    // One byte per 100 ms for 400 ms: the deadline counts from the
    // connection, not from the last byte, so the 408 comes at ~500 ms.
    for byte in upgrade_request("/ws").as_bytes().iter().take(5) {
        raw.send(&[*byte]).await;
        tidings_tests::sleep::<N>(Duration::from_millis(100)).await;
    }
    let response = timeout::<N, _>(Duration::from_secs(5), raw.read_to_end())
        .await
        .expect("the server ends the stream");
    let elapsed = start.elapsed();
    assert_eq!(status_line(&response), "HTTP/1.1 408 Request Timeout");
    assert!(
        elapsed >= Duration::from_millis(450) && elapsed < Duration::from_millis(850),
        "408 and EOF after {elapsed:?}"
    );
    still_serves(&server).await;
}

async fn oversized_head_gets_431<N: TestRuntime>(wire: Wire) {
    let server = server::<N>(wire).await;
    let padding = "a".repeat(8300);
    let request =
        upgrade_request("/ws").replace("\r\n\r\n", &format!("\r\nX-Pad: {padding}\r\n\r\n"));
    let response = exchange(&server, request.as_bytes()).await;
    assert_eq!(
        status_line(&response),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    still_serves(&server).await;
}

async fn too_many_headers_gets_431<N: TestRuntime>(wire: Wire) {
    let server = server::<N>(wire).await;
    // The upgrade request has 5 fields; 60 more make 65, one over the
    // default limit of 64.
    let extra: String = (0..60).map(|i| format!("X-Extra-{i}: {i}\r\n")).collect();
    let request = upgrade_request("/ws").replace("\r\n\r\n", &format!("\r\n{extra}\r\n"));
    let response = exchange(&server, request.as_bytes()).await;
    assert_eq!(
        status_line(&response),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    still_serves(&server).await;
}

async fn missing_upgrade_gets_426<N: TestRuntime>(wire: Wire) {
    // `RejectReason::NotAnUpgrade`: 426 Upgrade Required.
    let server = server::<N>(wire).await;
    let request = upgrade_request("/ws").replace("Upgrade: websocket\r\n", "");
    let response = exchange(&server, request.as_bytes()).await;
    assert_eq!(status_line(&response), "HTTP/1.1 426 Upgrade Required");
    still_serves(&server).await;
}

async fn wrong_upgrade_gets_426<N: TestRuntime>(wire: Wire) {
    let server = server::<N>(wire).await;
    let request = upgrade_request("/ws").replace("Upgrade: websocket", "Upgrade: h2c");
    let response = exchange(&server, request.as_bytes()).await;
    assert_eq!(status_line(&response), "HTTP/1.1 426 Upgrade Required");
    still_serves(&server).await;
}

async fn missing_connection_upgrade_gets_400<N: TestRuntime>(wire: Wire) {
    // `RejectReason::MissingConnectionUpgrade`: 400 Bad Request.
    let server = server::<N>(wire).await;
    let request = upgrade_request("/ws").replace("Connection: Upgrade\r\n", "");
    let response = exchange(&server, request.as_bytes()).await;
    assert_eq!(status_line(&response), "HTTP/1.1 400 Bad Request");
    still_serves(&server).await;
}

// --- Frames after a good upgrade ---

/// A masked binary frame header announcing `len` bytes (64-bit form), with
/// no payload after it.
fn header_64(len: u64) -> Vec<u8> {
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&len.to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    header
}

async fn huge_frame_header_gets_1009_at_once<N: TestRuntime>(wire: Wire) {
    let server = server::<N>(wire).await;
    // Only the header: the close must come without any payload being sent,
    // so nothing was waited for (or buffered) first.
    let codes = after_upgrade(&server, &header_64(1 << 40)).await;
    assert_eq!(codes, [1009]);
    still_serves(&server).await;
}

async fn length_with_top_bit_gets_1002<N: TestRuntime>(wire: Wire) {
    let server = server::<N>(wire).await;
    let codes = after_upgrade(&server, &header_64(1 << 63 | 5)).await;
    assert_eq!(codes, [1002]);
    still_serves(&server).await;
}

async fn many_tiny_fragments_get_1009<N: TestRuntime>(wire: Wire) {
    let server = server::<N>(wire).await;
    let mut bytes = masked_frame(false, 0x1, b"0123456789");
    // 10 bytes each: 120 fragments carry 1,210 bytes, over the 1,000 limit;
    // no FIN, so only the size limit can end it.
    for _ in 0..120 {
        bytes.extend(masked_frame(false, 0x0, b"0123456789"));
    }
    let codes = after_upgrade(&server, &bytes).await;
    assert_eq!(codes, [1009]);
    still_serves(&server).await;
}

async fn long_control_frame_gets_1002<N: TestRuntime>(wire: Wire) {
    let server = server::<N>(wire).await;
    let codes = after_upgrade(&server, &masked_frame(true, 0x9, &[b'p'; 126])).await;
    assert_eq!(codes, [1002]);
    still_serves(&server).await;
}

async fn fragmented_control_frame_gets_1002<N: TestRuntime>(wire: Wire) {
    let server = server::<N>(wire).await;
    let codes = after_upgrade(&server, &masked_frame(false, 0x9, b"ping")).await;
    assert_eq!(codes, [1002]);
    still_serves(&server).await;
}

async fn invalid_utf8_across_fragments_gets_1007_early<N: TestRuntime>(wire: Wire) {
    let server = server::<N>(wire).await;
    let mut raw = server.raw().await.upgraded("/ws").await;
    // Valid text ending with the first byte of a 3-byte sequence (U+20AC is
    // E2 82 AC) ...
    raw.send(&masked_frame(false, 0x1, b"price: \xe2")).await;
    // ... then a continuation starting with a byte that cannot continue it.
    // No FIN: the last fragment is never sent.
    raw.send(&masked_frame(false, 0x0, b"(oops")).await;
    let frames = server_frames(&raw.read_to_end().await);
    let codes: Vec<_> = frames.iter().map(|f| f.close_code()).collect();
    assert_eq!(codes, [Some(1007)], "{frames:?}");
    still_serves(&server).await;
}

async fn unmasked_client_frame_gets_1002<N: TestRuntime>(wire: Wire) {
    let server = server::<N>(wire).await;
    let codes = after_upgrade(&server, &[0x81, 0x02, b'h', b'i']).await;
    assert_eq!(codes, [1002]);
    still_serves(&server).await;
}

async fn data_after_close_is_ignored<N: TestRuntime>(wire: Wire) {
    let server = server::<N>(wire).await;
    let mut bytes = client_frame(0x8, &1000u16.to_be_bytes());
    bytes.extend(client_frame(0x1, b"too late"));
    bytes.extend(client_frame(0x9, b"ping"));
    // One close frame echoed, no echo of the text, no pong; then EOF.
    let codes = after_upgrade(&server, &bytes).await;
    assert_eq!(codes, [1000]);
    still_serves(&server).await;
}

async fn client_refuses_masked_server_frame<N: TestRuntime>() {
    let listener = N::bind("127.0.0.1:0").await.expect("bind");
    let addr = N::listener_addr(&listener).expect("address");
    let raw_server = async {
        let (stream, _) = N::accept(&listener).await.expect("accept");
        let mut raw = RawClient::<N>::from_stream(stream);
        let head = raw.read_head().await;
        let key = head
            .split("\r\n")
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            })
            .expect("the client sends a key");
        let accept = tidings_framework::handshake::accept_key(key.as_bytes());
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        raw.send(response.as_bytes()).await;
        // A masked text frame, which only a client may send.
        raw.send(&client_frame(0x1, b"hi")).await;
        raw.read_to_end().await
    };
    let tidings_client = async {
        let conn = client::<N>(&format!("ws://{addr}/"), ClientConfig::default()).await;
        conn.read().await
    };
    let (from_client, read) = join(raw_server, tidings_client).await;
    let closed = tidings_tests::expect_closed(read);
    assert_eq!(
        closed.sent.as_ref().map(|frame| frame.code),
        Some(CloseCode::PROTOCOL_ERROR),
        "{closed:?}"
    );
    // What the raw server received: the client's masked close frame, 1002
    // once unmasked.
    assert!(from_client.len() >= 8, "{from_client:?}");
    assert_eq!(from_client[0], 0x88);
    let mask = &from_client[2..6];
    let code = u16::from_be_bytes([from_client[6] ^ mask[0], from_client[7] ^ mask[1]]);
    assert_eq!(code, 1002);
}

// --- Many connections ---

/// Opens `count` connections that each send half a request head and go
/// away — most with a reset (linger 0), one in
/// [`ABANDONED_WITH_FIN_EVERY`] with a FIN — at most 100 open at a time.
///
/// Blocking sockets on a thread of their own: the clients' side is plain
/// kernel work and must not depend on the runtime under test, which keeps
/// accepting meanwhile.
async fn abandon_handshakes<N: TestRuntime>(server: &TestServer<N>, count: usize) {
    let addr = server.addr;
    let abandoner = std::thread::spawn(move || {
        let request = upgrade_request("/ws");
        let half = &request.as_bytes()[..40];
        let mut open = Vec::with_capacity(100);
        for i in 0..count {
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .expect("socket");
            socket.connect(&addr.into()).expect("connect");
            socket.send(half).expect("send half a head");
            if i % ABANDONED_WITH_FIN_EVERY != 0 {
                socket.set_linger(Some(Duration::ZERO)).expect("linger 0");
            }
            open.push(socket);
            if open.len() == 100 {
                open.clear();
                wait_for_accept_queue(addr);
            }
        }
    });
    let finished = wait_until::<N>(Duration::from_secs(120), || abandoner.is_finished()).await;
    assert!(finished, "abandoning {count} handshakes took over 120 s");
    abandoner.join().expect("the abandoning thread panicked");
}

/// Returns once the server has accepted every connection opened so far: it
/// accepts in order, so once a request on a new connection is answered the
/// earlier ones have left the accept queue. Without this pacing the queue
/// fills, the kernel drops SYNs and each dropped one costs a 1 s retry.
fn wait_for_accept_queue(addr: std::net::SocketAddr) {
    use std::io::{Read, Write};
    let mut probe = std::net::TcpStream::connect(addr).expect("connect the probe");
    probe
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    probe
        .write_all(b"GET /probe HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("send the probe");
    let mut status = [0u8; 12];
    probe.read_exact(&mut status).expect("the probe's answer");
    assert_eq!(&status, b"HTTP/1.1 404");
}

async fn abandoned_handshakes_leave_nothing_behind<N: TestRuntime>() {
    let count = std::env::var("TIDINGS_ABANDONED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ABANDONED);
    quiet_intended_panics();
    let _alone = MEMORY_TEST.lock().await;
    let server = server::<N>(Wire::Plain).await;
    // A warm-up first, so the allocator's and runtime's one-time growth is
    // not counted.
    abandon_handshakes(&server, 100).await;
    still_serves(&server).await;
    let before = Some(tidings_tests::rss_bytes() as u64).filter(|&b| b > 0);
    let start = Instant::now();
    abandon_handshakes(&server, count).await;
    let opened = start.elapsed();
    still_serves(&server).await;
    let after = Some(tidings_tests::rss_bytes() as u64).filter(|&b| b > 0);
    println!("{count} abandoned handshakes in {opened:?}; RSS before {before:?}, after {after:?}");
    if let (Some(before), Some(after)) = (before, after) {
        assert!(
            after.saturating_sub(before) < 50 << 20,
            "RSS grew from {before} to {after} bytes"
        );
    }
}

async fn reset_mid_frame_leaves_nothing_behind<N: TestRuntime>(wire: Wire) {
    let server = server::<N>(wire).await;
    for _ in 0..20 {
        let mut raw = server.raw().await.upgraded("/ws").await;
        let frame = masked_frame(true, 0x2, &[7; 300]);
        raw.send(&frame[..150]).await;
        // The runtime streams do not expose SO_LINGER; a plain drop.
        drop(raw);
    }
    still_serves(&server).await;
}

// --- Panicking handlers ---

/// In the message of every panic the handlers below raise on purpose.
const INTENDED: &str = "intended handler panic";

/// Keeps the panics raised on purpose quiet: the default hook would print
/// each, and with `RUST_BACKTRACE=1` load the test binary's debug info the
/// first time, which grows RSS by ~100 MB in the middle of the memory
/// measurement. Every other panic still goes to the default hook.
/// Asserts that a panic whose message contains `fragment` was logged as an
/// error event (the server logs every panic it catches in user code).
fn assert_panic_logged(fragment: &str) {
    let events = tidings_tests::logged_events();
    assert!(
        events.iter().any(|line| line.starts_with("ERROR")
            && line.contains(INTENDED)
            && line.contains(fragment)),
        "no error event for the panic {fragment:?}; logged: {events:#?}"
    );
}

fn quiet_intended_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !message.contains(INTENDED) {
                default(info);
            }
        }));
    });
}

async fn panics_after_first_message(_ctx: Context, conn: Connection) -> Result<(), Error> {
    let message = conn.read().await?;
    panic!("{INTENDED}: triggered by {message:?}");
}

fn panics_before_first_await(
    _ctx: Context,
    _conn: Connection,
) -> impl std::future::Future<Output = Result<(), Error>> + Send {
    if std::hint::black_box(true) {
        panic!("{INTENDED} while building the future");
    }
    async { Ok(()) }
}

async fn sse_panics_after_one_event(ctx: SseContext) -> Result<(), Error> {
    ctx.send_event("first", "1").await?;
    panic!("{INTENDED} in an SSE handler");
}

async fn get_panics(_ctx: Context) -> &'static str {
    if std::hint::black_box(true) {
        panic!("{INTENDED} in a GET handler");
    }
    "unreachable"
}

// The `Err` type is the one `RouteOptions::middleware` takes.
#[allow(clippy::result_large_err)]
fn panicking_middleware(_ctx: &mut Context) -> Result<(), tidings_framework::server::Response> {
    if std::hint::black_box(true) {
        panic!("{INTENDED} in middleware");
    }
    Ok(())
}

async fn panic_server<N: TestRuntime>(wire: Wire) -> TestServer<N> {
    quiet_intended_panics();
    tidings_tests::capture_logs();
    let router = Router::new()
        .websocket("/ws", tidings_framework::server::echo)
        .websocket("/ws-panic", panics_after_first_message)
        .websocket("/ws-panic-early", panics_before_first_await)
        .sse("/sse-panic", sse_panics_after_one_event)
        .get("/get-panic", get_panics)
        .websocket_with(
            "/ws-middleware-panic",
            tidings_framework::server::echo,
            RouteOptions::new().middleware(panicking_middleware),
        );
    start_server_on::<N>(wire, router, ServerConfig::default()).await
}

async fn websocket_handler_panic_closes_with_1011<N: TestRuntime>(wire: Wire) {
    let server = panic_server::<N>(wire).await;
    for _ in 0..3 {
        let conn = server.ws("/ws-panic", ClientConfig::default()).await;
        let boom = format!("boom on {}", std::any::type_name::<N>());
        conn.write(boom.as_str()).await.expect("write");
        let closed = tidings_tests::expect_closed(conn.read().await);
        let received = closed.received.expect("the server sent a close frame");
        assert_eq!(received.code, CloseCode::INTERNAL_ERROR);
        assert_eq!(received.reason, "handler panicked");
        assert_panic_logged(&boom);
    }
    still_serves(&server).await;
}

async fn websocket_handler_panic_before_first_await_closes_with_1011<N: TestRuntime>(wire: Wire) {
    let server = panic_server::<N>(wire).await;
    let conn = server.ws("/ws-panic-early", ClientConfig::default()).await;
    let closed = tidings_tests::expect_closed(conn.read().await);
    let received = closed.received.expect("the server sent a close frame");
    assert_eq!(received.code, CloseCode::INTERNAL_ERROR);
    assert_eq!(received.reason, "handler panicked");
    assert_panic_logged("while building the future");
    still_serves(&server).await;
}

async fn sse_handler_panic_ends_the_stream<N: TestRuntime>() {
    let server = panic_server::<N>(Wire::Plain).await;
    let mut sse = tidings_tests::SseClient::<N>::open(server.addr, "/sse-panic", &[]).await;
    assert_eq!(status_line(sse.head.as_bytes()), "HTTP/1.1 200 OK");
    let events = sse.events_to_end().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].data, "1");
    assert_panic_logged("in an SSE handler");
    assert!(
        wait_until::<N>(Duration::from_secs(5), || server
            .handle
            .active_sse_connections()
            == 0)
        .await
    );
    still_serves(&server).await;
}

async fn get_handler_panic_answers_500<N: TestRuntime>() {
    let server = panic_server::<N>(Wire::Plain).await;
    let response = exchange(
        &server,
        b"GET /get-panic HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .await;
    assert_eq!(status_line(&response), "HTTP/1.1 500 Internal Server Error");
    assert!(response.ends_with(b"handler panicked"));
    assert_panic_logged("in a GET handler");
    still_serves(&server).await;
}

async fn middleware_panic_answers_500<N: TestRuntime>() {
    let server = panic_server::<N>(Wire::Plain).await;
    let response = exchange(&server, upgrade_request("/ws-middleware-panic").as_bytes()).await;
    assert_eq!(status_line(&response), "HTTP/1.1 500 Internal Server Error");
    assert!(response.ends_with(b"middleware panicked"));
    assert_panic_logged("in middleware");
    still_serves(&server).await;
}
