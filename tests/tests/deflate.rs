//! permessage-deflate (RFC 7692) end to end: negotiated by the tidings
//! client and server, compressed frames on the wire (RSV1), declined when
//! off, the inflated size held to the message limit, and broadcasts to
//! clients with and without the extension under each
//! [`BroadcastCompression`] policy.

use std::time::{Duration, Instant};

use tidings_framework::deflate::{DeflateConfig, DeflateParams, SharedCompressor};
use tidings_framework::hub::{BroadcastCompression, Filter, Payload};
use tidings_framework::ws::{self, Event, Role};
use tidings_tests::{
    ClientConfig, Message, RawClient, Router, ServerConfig, TestRuntime, all_runtimes, client,
    masked_frame, server_frames, start_server, wait_until,
};

all_runtimes!(
    tidings_client_and_server_echo_compressed,
    compressed_frames_on_the_wire,
    declined_when_off_and_rsv1_is_then_1002,
    inflation_bomb_closes_with_1009,
    broadcasts_reach_clients_with_and_without_deflate,
);

fn deflate_server(websocket: ws::Config) -> ServerConfig {
    ServerConfig::default().websocket(websocket.deflate(Some(DeflateConfig::default())))
}

fn echo_router() -> Router {
    Router::new().websocket("/*path", tidings_framework::server::echo)
}

/// A chat-like, compressible text of about `n` bytes.
fn chat_text(n: usize) -> String {
    r#"{"type":"message","user":"ada","content":"hello, room","time":"2026-11-23T09:30:00Z"} "#
        .repeat(n / 80 + 1)
}

async fn tidings_client_and_server_echo_compressed<N: TestRuntime>() {
    let server = start_server::<N>(echo_router(), deflate_server(ws::Config::default())).await;
    let websocket = ClientConfig::default()
        .websocket
        .max_outgoing_frame_size(Some(1000))
        .deflate(Some(
            DeflateConfig::default()
                .client_no_context_takeover(true)
                .server_max_window_bits(10),
        ));
    let conn = client::<N>(
        &server.url("/echo"),
        ClientConfig::default().websocket(websocket),
    )
    .await;
    for text in [
        chat_text(100_000),
        "short".to_owned(),
        chat_text(300),
        String::new(),
    ] {
        conn.write(text.as_str()).await.unwrap();
        assert_eq!(conn.read().await.unwrap(), Message::from(text.as_str()));
    }
    let binary: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    conn.write_binary(binary.clone()).await.unwrap();
    assert_eq!(conn.read().await.unwrap(), Message::from(binary));
}

/// The upgrade request with a permessage-deflate offer.
fn offer_request() -> String {
    offer("x-unknown, permessage-deflate; client_max_window_bits")
}

/// The upgrade request for `/echo` with `extensions`.
fn offer(extensions: &str) -> String {
    tidings_tests::upgrade_request("/echo").replace(
        "\r\n\r\n",
        &format!("\r\nSec-WebSocket-Extensions: {extensions}\r\n\r\n"),
    )
}

/// What the clients of `broadcasts_reach_clients_with_and_without_deflate`
/// offer: nothing, context takeover, none (two window sizes).
fn broadcast_clients() -> [Option<DeflateConfig>; 4] {
    let no_takeover = DeflateConfig::default().server_no_context_takeover(true);
    [
        None,
        Some(DeflateConfig::default()),
        Some(no_takeover.clone()),
        Some(no_takeover.server_max_window_bits(10)),
    ]
}

async fn read_text(conn: &tidings_tests::Connection) -> String {
    match conn.read().await {
        Ok(Message::Text(text)) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// The first byte of the next frame a raw client receives.
async fn first_byte<N: TestRuntime>(raw: &mut RawClient<N>) -> u8 {
    if raw.buffered.is_empty() {
        raw.buffered = raw.read_some().await;
    }
    raw.buffered[0]
}

async fn broadcasts_reach_clients_with_and_without_deflate<N: TestRuntime>() {
    for policy in [
        BroadcastCompression::Shared,
        BroadcastCompression::PerConnection,
        BroadcastCompression::Never,
    ] {
        let config = deflate_server(ws::Config::default()).broadcast_compression(policy);
        let server = start_server::<N>(echo_router(), config).await;
        let hub = server.handle.hub().clone();
        let mut clients = Vec::new();
        for deflate in broadcast_clients() {
            let websocket = ClientConfig::default().websocket.deflate(deflate);
            let config = ClientConfig::default().websocket(websocket);
            clients.push(client::<N>(&server.url("/echo"), config).await);
        }
        // Raw clients show what is on the wire: RSV1 or not.
        let mut raw_takeover = RawClient::<N>::connect(server.addr).await;
        raw_takeover
            .send(offer("permessage-deflate").as_bytes())
            .await;
        let mut raw_reset = RawClient::<N>::connect(server.addr).await;
        raw_reset
            .send(offer("permessage-deflate; server_no_context_takeover").as_bytes())
            .await;
        for raw in [&mut raw_takeover, &mut raw_reset] {
            let head = raw.read_head().await.to_ascii_lowercase();
            assert!(head.contains("permessage-deflate"), "{head}");
        }
        let all = clients.len() + 2;
        assert!(wait_until::<N>(Duration::from_secs(5), || hub.len() == all).await);

        for round in 0..3 {
            let long = format!("round {round}: {}", chat_text(2000));
            let report = hub.broadcast(Payload::text(long.as_str()), Filter::all());
            assert_eq!(report.delivered, all);
            hub.broadcast(Payload::text("short"), Filter::all());
            // Each client's own message, echoed (compressed with its
            // connection's context where it has one), between broadcasts.
            for (i, conn) in clients.iter().enumerate() {
                let own = format!("client {i} round {round}: {}", chat_text(500));
                conn.write(own.as_str()).await.unwrap();
                assert_eq!(read_text(conn).await, long, "{policy:?}, client {i}");
                assert_eq!(read_text(conn).await, "short");
                assert_eq!(read_text(conn).await, own);
            }
        }
        let last = chat_text(3000);
        hub.broadcast(Payload::text(last.as_str()), Filter::all());
        for conn in &clients {
            assert_eq!(read_text(conn).await, last);
        }
        let compressed = |byte: u8| byte & 0x40 != 0;
        let (takeover, reset) = (
            first_byte(&mut raw_takeover).await,
            first_byte(&mut raw_reset).await,
        );
        let expected = match policy {
            BroadcastCompression::Shared => (false, true),
            BroadcastCompression::PerConnection => (true, true),
            _ => (false, false),
        };
        assert_eq!(
            (compressed(takeover), compressed(reset)),
            expected,
            "{policy:?}: RSV1 for context takeover, for none"
        );
    }
}

async fn compressed_frames_on_the_wire<N: TestRuntime>() {
    let server = start_server::<N>(echo_router(), deflate_server(ws::Config::default())).await;
    let mut raw = RawClient::<N>::connect(server.addr).await;
    raw.send(offer_request().as_bytes()).await;
    let head = raw.read_head().await.to_ascii_lowercase();
    assert!(
        head.contains("\r\nsec-websocket-extensions: permessage-deflate\r\n"),
        "{head}"
    );
    let text = chat_text(5000);
    let payload = SharedCompressor::new(15, 6)
        .compress(text.as_bytes())
        .unwrap();
    assert!(payload.len() < text.len() / 10);
    let mut frame = masked_frame(true, 0x1, &payload);
    frame[0] |= 0x40; // RSV1: a compressed message
    raw.send(&frame).await;

    // The echo comes back compressed; a client codec with the same
    // parameters reads it.
    let mut wire = raw.buffered.clone();
    let now = Instant::now();
    let mut reader = ws::Connection::new(
        Role::Client { mask_seed: [0; 32] },
        ws::Config::default(),
        now,
    )
    .with_deflate(Some(DeflateParams::default()));
    let message = loop {
        reader.handle_input(now, &wire);
        wire.clear();
        if let Some(event) = reader.poll_event() {
            break event;
        }
        wire = raw.read_some().await;
        assert!(!wire.is_empty(), "server closed before echoing");
    };
    assert_eq!(
        message,
        Event::Message(ws::Message::Text(text.as_str().into()))
    );
}

async fn declined_when_off_and_rsv1_is_then_1002<N: TestRuntime>() {
    let server = start_server::<N>(echo_router(), ServerConfig::default()).await;
    let mut raw = RawClient::<N>::connect(server.addr).await;
    raw.send(offer_request().as_bytes()).await;
    let head = raw.read_head().await.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101 "), "{head}");
    assert!(!head.contains("sec-websocket-extensions"), "{head}");
    let payload = SharedCompressor::new(15, 6).compress(b"hello").unwrap();
    let mut frame = masked_frame(true, 0x1, &payload);
    frame[0] |= 0x40;
    raw.send(&frame).await;
    let frames = server_frames(&raw.read_to_end().await);
    assert_eq!(frames.last().and_then(|f| f.close_code()), Some(1002));
}

async fn inflation_bomb_closes_with_1009<N: TestRuntime>() {
    let limit = 1 << 20;
    let server = start_server::<N>(
        echo_router(),
        deflate_server(ws::Config::default().max_message_size(limit)),
    )
    .await;
    let mut raw = RawClient::<N>::connect(server.addr).await;
    raw.send(offer_request().as_bytes()).await;
    let _ = raw.read_head().await;
    // 64 MiB of zeros in about 64 KiB: 1 MiB compressed alone, tail put
    // back between the pieces (each then ends byte-aligned).
    let mut piece = SharedCompressor::new(15, 9)
        .compress(&vec![0u8; 1 << 20])
        .unwrap();
    piece.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let bomb = piece.repeat(64);
    assert!(bomb.len() < limit / 4, "{} bytes", bomb.len());
    let mut frame = masked_frame(true, 0x2, &bomb);
    frame[0] |= 0x40;
    raw.send(&frame).await;
    let frames = server_frames(&raw.read_to_end().await);
    assert_eq!(frames.last().and_then(|f| f.close_code()), Some(1009));
}
