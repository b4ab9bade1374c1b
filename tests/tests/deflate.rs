//! permessage-deflate (RFC 7692) end to end: negotiated by the tidings
//! client and server, compressed frames on the wire (RSV1), declined when
//! off, and the inflated size held to the message limit.

use std::time::Instant;

use tidings_core::deflate::{DeflateConfig, DeflateParams, SharedCompressor};
use tidings_core::ws::{self, Event, Role};
use tidings_tests::{
    ClientConfig, Message, RawClient, Router, ServerConfig, TestRuntime, all_runtimes, client,
    masked_frame, server_frames, start_server,
};

all_runtimes!(
    tidings_client_and_server_echo_compressed,
    compressed_frames_on_the_wire,
    declined_when_off_and_rsv1_is_then_1002,
    inflation_bomb_closes_with_1009
);

fn deflate_server(websocket: ws::Config) -> ServerConfig {
    ServerConfig::default().websocket(websocket.deflate(Some(DeflateConfig::default())))
}

fn echo_router() -> Router {
    Router::new().websocket("/*path", tidings_core::server::echo)
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
    tidings_tests::upgrade_request("/echo").replace(
        "\r\n\r\n",
        "\r\nSec-WebSocket-Extensions: x-unknown, permessage-deflate; client_max_window_bits\r\n\r\n",
    )
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
