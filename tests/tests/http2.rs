//! HTTP/2 on the server (ALPN `h2` over TLS), on every runtime, with the
//! h2 crate's client: SSE as h2 streams (many on one connection, replay
//! with `Last-Event-ID`), WebSocket by extended CONNECT (RFC 8441: echo
//! across flow-control windows, a chat room between two streams of one
//! connection, the version the server saw), HTTP/1.1 still served on the
//! same port; and the limits under raw-frame floods: rapid reset
//! (CVE-2023-44487), CONTINUATION (CVE-2024-27316), an oversized header
//! list, and the concurrent-stream limit announced.

use futures_util::future::{Either, select};
use futures_util::io::AsyncReadExt;
use std::pin::pin;
use tidings_framework::server::{Context, Http2Config, SseContext, SseTopic};
use tidings_framework::sse::Event;
use tidings_framework::{Connection, Error, Message};
use tidings_tests::h2::{
    CONTINUATION, END_HEADERS, END_STREAM, ENHANCE_YOUR_CALM, GOAWAY, HEADERS, RST_STREAM, frame,
    get_block, h2_client_config, h2_connect, h2_get, h2_websocket, literal, preface, read_events,
    read_frame, write_raw,
};
use tidings_tests::rooms::room_router;
use tidings_tests::tls::{TestTls, connect};
use tidings_tests::{
    RawClient, ServerConfig, TestRuntime, TestServer, Wire, all_runtimes, masked_frame,
    start_server_on,
};

all_runtimes!(
    sse_streams_share_one_connection,
    websocket_by_extended_connect_echoes,
    chat_room_between_two_streams,
    sse_replay_over_h2,
    http1_still_served_beside_h2,
    rapid_reset_flood_closes_the_connection,
    continuation_flood_is_cut_short,
    oversized_header_list_is_refused,
    concurrent_stream_limit_is_announced,
    idle_connection_is_closed,
    a_client_that_stops_reading_is_dropped_as_slow,
);

/// The server of these tests, on TLS: `/ws` echoes (after saying which
/// HTTP version it came over), `/events` sends three ticks and stays open,
/// `/feed` replays a topic, `/ws/:room` and `/other/:room` are rooms.
async fn start<N: TestRuntime>(config: ServerConfig, topic: &SseTopic) -> TestServer<N> {
    let topic = topic.clone();
    let router = room_router()
        .websocket("/ws", |ctx: Context, conn: Connection| async move {
            conn.write(format!(
                "{:?} {:?}",
                ctx.http_version(),
                conn.http_version()
            ))
            .await?;
            tidings_framework::server::echo(ctx, conn).await
        })
        .sse("/events", |ctx: SseContext| async move {
            for n in 1..=3 {
                ctx.send_event("tick", &n.to_string()).await?;
            }
            ctx.closed().await;
            Ok::<_, Error>(())
        })
        .sse("/flood", |ctx: SseContext| async move {
            let data = "x".repeat(8 << 10);
            loop {
                ctx.send_event("flood", &data).await?;
            }
        })
        .sse("/feed", move |ctx: SseContext| {
            let subscription = topic.subscribe(ctx.last_event_id());
            async move {
                ctx.send_event("hello", "").await?;
                ctx.forward(subscription).await;
                Ok(())
            }
        });
    start_server_on::<N>(Wire::Tls, router, config).await
}

/// Asserts that `parts` occur in `text` in this order.
fn assert_in_order(text: &str, parts: &[&str]) {
    let mut rest = text;
    for part in parts {
        let at = rest
            .find(part)
            .unwrap_or_else(|| panic!("{part:?} missing or out of order in {text:?}"));
        rest = &rest[at + part.len()..];
    }
}

fn tls_of<N: TestRuntime>(server: &TestServer<N>) -> &TestTls {
    server.tls.as_ref().expect("a TLS server")
}

async fn sse_streams_share_one_connection<N: TestRuntime>() {
    let server = start::<N>(ServerConfig::default(), &SseTopic::new(4)).await;
    let mut client = h2_connect::<N>(server.addr, tls_of(&server)).await;
    // More than the 6 an HTTP/1.1 browser allows per origin.
    let mut bodies = Vec::new();
    for _ in 0..10 {
        let (head, body) = h2_get(&mut client, "/events", &[("accept", "text/event-stream")]).await;
        assert_eq!(head.status, 200);
        assert_eq!(head.headers["content-type"], "text/event-stream");
        assert!(head.headers.get("connection").is_none());
        bodies.push(body);
    }
    for body in &mut bodies {
        let text = read_events(body, 3).await;
        assert_in_order(&text, &["event: tick\ndata: 1\n", "data: 2\n", "data: 3\n"]);
    }
    let stats = server.handle.hub().stats();
    assert_eq!(stats.http2_connections, 1);
    assert_eq!(stats.http2_streams, 10);
    assert_eq!(stats.sse.active, 10);
    drop(bodies);
    drop(client);
    assert!(
        tidings_tests::wait_until::<N>(tidings_tests::rooms::WAIT, || {
            server.handle.hub().stats().sse.active == 0
        })
        .await,
        "the streams end with the connection"
    );
}

/// The next whole WebSocket message from the server: opcode and payload
/// (unfragmented, as the server writes them).
async fn next_message<N: TestRuntime>(raw: &mut RawClient<N>) -> (u8, Vec<u8>) {
    loop {
        let buf = &raw.buffered;
        if buf.len() >= 2 {
            let (len, start) = match buf[1] & 0x7f {
                126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
                127 if buf.len() >= 10 => (
                    u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                n @ 0..=125 => (n as usize, 2),
                _ => (usize::MAX, 0),
            };
            if len != usize::MAX && buf.len() >= start + len {
                assert!(buf[0] & 0x80 != 0, "unfragmented");
                let opcode = buf[0] & 0x0f;
                let payload = buf[start..start + len].to_vec();
                raw.buffered.drain(..start + len);
                return (opcode, payload);
            }
        }
        let more = raw.read_some().await;
        raw.buffered.extend(more);
    }
}

async fn websocket_by_extended_connect_echoes<N: TestRuntime>() {
    let server = start::<N>(ServerConfig::default(), &SseTopic::new(4)).await;
    let mut client = h2_connect::<N>(server.addr, tls_of(&server)).await;
    let (head, mut ws) = h2_websocket::<N>(&mut client, "/ws").await;
    assert_eq!(head.status, 200, "a 101 is 200 over HTTP/2");
    assert!(head.headers.get("sec-websocket-accept").is_none());
    assert_eq!(
        next_message(&mut ws).await,
        (1, b"HTTP/2.0 HTTP/2.0".to_vec())
    );
    ws.send(&masked_frame(true, 1, b"hello over h2")).await;
    assert_eq!(next_message(&mut ws).await, (1, b"hello over h2".to_vec()));
    // More than a stream's 64 KiB window each way.
    let big: Vec<u8> = (0..200_000u32).map(|n| (n % 251) as u8).collect();
    ws.send(&masked_frame(true, 2, &big)).await;
    assert_eq!(next_message(&mut ws).await, (2, big));
    ws.send(&masked_frame(true, 8, &1000u16.to_be_bytes()))
        .await;
    let (opcode, payload) = next_message(&mut ws).await;
    assert_eq!((opcode, &payload[..2]), (8, &1000u16.to_be_bytes()[..]));
    let stats = server.handle.hub().stats();
    assert_eq!(stats.websocket.total, 1);
    assert_eq!(stats.http2_streams, 1);
}

async fn chat_room_between_two_streams<N: TestRuntime>() {
    let server = start::<N>(ServerConfig::default(), &SseTopic::new(4)).await;
    let mut client = h2_connect::<N>(server.addr, tls_of(&server)).await;
    let (_, mut alice) = h2_websocket::<N>(&mut client, "/ws/lobby").await;
    let (_, mut bob) = h2_websocket::<N>(&mut client, "/other/lobby").await;
    let (_, alice_id) = next_message(&mut alice).await;
    let (_, bob_id) = next_message(&mut bob).await;
    assert_ne!(alice_id, bob_id);
    // An HTTP/1.1 member of the same room, on its own connection.
    let carol = tidings_tests::tls::ws::<N>(
        server.addr,
        "/ws/lobby",
        &tls_of(&server).client,
        tidings_tests::ClientConfig::default(),
    )
    .await;
    let _carol_id = tidings_tests::rooms::read_text::<N>(&carol).await;
    for n in 0..3 {
        alice
            .send(&masked_frame(true, 1, format!("a{n}").as_bytes()))
            .await;
    }
    for n in 0..3 {
        assert_eq!(
            next_message(&mut bob).await,
            (1, format!("a{n}").into_bytes())
        );
        assert_eq!(
            tidings_tests::rooms::read_text::<N>(&carol).await,
            format!("a{n}")
        );
    }
    carol.write("c0").await.unwrap();
    assert_eq!(next_message(&mut alice).await, (1, b"c0".to_vec()));
    assert_eq!(next_message(&mut bob).await, (1, b"c0".to_vec()));
}

fn publish(topic: &SseTopic, n: usize) {
    topic
        .publish(Event::new().event("news").data(format!("item {n}")))
        .unwrap();
}

async fn sse_replay_over_h2<N: TestRuntime>() {
    let topic = SseTopic::new(10);
    let server = start::<N>(ServerConfig::default(), &topic).await;
    for n in 1..=3 {
        publish(&topic, n);
    }
    let mut client = h2_connect::<N>(server.addr, tls_of(&server)).await;
    let (head, mut body) = h2_get(&mut client, "/feed", &[("last-event-id", "1")]).await;
    assert_eq!(head.status, 200);
    let text = read_events(&mut body, 3).await;
    assert_in_order(
        &text,
        &["event: hello", "id: 2", "item 2", "id: 3", "item 3"],
    );
    assert!(!text.contains("item 1"), "{text}");
    publish(&topic, 4);
    let text = read_events(&mut body, 1).await;
    assert_in_order(&text, &["id: 4", "item 4"]);
}

/// A WebSocket from a client offering only `http/1.1` is served, and the
/// server sees it arrive over HTTP/1.1.
async fn served_over_http1<N: TestRuntime>(server: &TestServer<N>) {
    let conn = tidings_tests::tls::ws::<N>(
        server.addr,
        "/ws",
        &tls_of(server).client,
        tidings_tests::ClientConfig::default(),
    )
    .await;
    assert!(matches!(conn.read().await, Ok(Message::Text(text)) if text == "HTTP/1.1 HTTP/1.1"));
}

async fn http1_still_served_beside_h2<N: TestRuntime>() {
    let server = start::<N>(ServerConfig::default(), &SseTopic::new(4)).await;
    // The default client offers only http/1.1: the WebSocket upgrade works.
    served_over_http1(&server).await;
    // With HTTP/2 off, `h2` is not offered: a client offering only h2 is
    // refused in the TLS handshake, an HTTP/1.1 client served.
    let off = start::<N>(
        ServerConfig::default().http2(Http2Config::default().enabled(false)),
        &SseTopic::new(4),
    )
    .await;
    let refused =
        tidings_tests::tls::try_connect::<N>(off.addr, &h2_client_config(tls_of(&off))).await;
    assert!(
        refused.is_err(),
        "rustls refuses a client whose ALPN protocols it does not serve"
    );
    served_over_http1(&off).await;
}

/// Sends `frames` while reading the server's frames; returns the first
/// GOAWAY's error code, or `None` if the connection ended without one.
async fn flood_until_goaway<N: TestRuntime>(
    server: &TestServer<N>,
    frames: impl Iterator<Item = Vec<u8>>,
) -> Option<u32> {
    let stream = connect::<N>(server.addr, &h2_client_config(tls_of(server))).await;
    let (mut reader, mut writer) = stream.split();
    let write = async move {
        if !write_raw(&mut writer, &preface()).await {
            return;
        }
        for bytes in frames {
            if !write_raw(&mut writer, &bytes).await {
                return;
            }
        }
        // Everything was taken: keep the connection open for the reader.
        std::future::pending::<()>().await;
    };
    let read = async move {
        while let Some((kind, _, _, payload)) = read_frame(&mut reader).await {
            if kind == GOAWAY {
                return Some(u32::from_be_bytes(payload[4..8].try_into().unwrap()));
            }
        }
        None
    };
    match select(pin!(read), pin!(write)).await {
        Either::Left((code, _)) => code,
        // The server stopped taking bytes (closed): what it said before.
        Either::Right(((), read)) => read.await,
    }
}

async fn rapid_reset_flood_closes_the_connection<N: TestRuntime>() {
    let server = start::<N>(ServerConfig::default(), &SseTopic::new(4)).await;
    // 10,000 streams opened and reset at once, as in CVE-2023-44487.
    let frames = (0..10_000u32).map(|n| {
        let stream = 2 * n + 1;
        let mut bytes = frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            stream,
            &get_block("/events"),
        );
        bytes.extend(frame(RST_STREAM, 0, stream, &8u32.to_be_bytes()));
        bytes
    });
    assert_eq!(
        flood_until_goaway(&server, frames).await,
        Some(ENHANCE_YOUR_CALM)
    );
    let streams = server.handle.hub().stats().http2_streams;
    assert!(streams < 10_000, "{streams} streams taken up");
    // The server still serves others.
    let mut client = h2_connect::<N>(server.addr, tls_of(&server)).await;
    let (head, _) = h2_get(&mut client, "/events", &[]).await;
    assert_eq!(head.status, 200);
}

async fn continuation_flood_is_cut_short<N: TestRuntime>() {
    let server = start::<N>(ServerConfig::default(), &SseTopic::new(4)).await;
    // A HEADERS frame that never ends: 100,000 CONTINUATION frames of 1 KB
    // headers each (100 MB), as in CVE-2024-27316. The server must give up
    // long before the end.
    let value = "x".repeat(1000);
    let first = std::iter::once(frame(HEADERS, END_STREAM, 1, &get_block("/events")));
    let rest =
        (0..100_000).map(move |n| frame(CONTINUATION, 0, 1, &literal(&format!("x-{n}"), &value)));
    let code = flood_until_goaway(&server, first.chain(rest)).await;
    assert_eq!(
        code,
        Some(ENHANCE_YOUR_CALM),
        "the server answers the flood with GOAWAY"
    );
    assert_eq!(server.handle.hub().stats().http2_streams, 0);
}

async fn oversized_header_list_is_refused<N: TestRuntime>() {
    let server = start::<N>(
        ServerConfig::default().http2(Http2Config::default().max_header_list_size(4 << 10)),
        &SseTopic::new(4),
    )
    .await;
    let stream = connect::<N>(server.addr, &h2_client_config(tls_of(&server))).await;
    let (mut reader, mut writer) = stream.split();
    let mut block = get_block("/events");
    block.extend(literal("x-big", &"y".repeat(8 << 10)));
    assert!(write_raw(&mut writer, &preface()).await);
    assert!(
        write_raw(
            &mut writer,
            &frame(HEADERS, END_HEADERS | END_STREAM, 1, &block)
        )
        .await
    );
    // Stream 1 is answered with 431 or reset; either way it is not served.
    let mut answered = None;
    while let Some((kind, flags, stream, payload)) = read_frame(&mut reader).await {
        if stream != 1 {
            continue;
        }
        if kind == RST_STREAM {
            answered = Some("reset".to_owned());
            break;
        }
        if kind == HEADERS {
            answered = Some(format!("headers {:02x?} flags {flags}", payload));
            break;
        }
    }
    let answered = answered.expect("stream 1 answered");
    // HPACK static index 0x8d... is not decoded here: a 431 is a literal or
    // an indexed `:status`; what matters is that no SSE stream started.
    assert!(
        answered == "reset" || answered.starts_with("headers"),
        "{answered}"
    );
    assert_eq!(server.handle.hub().stats().sse.total, 0);
    drop((reader, writer));
}

async fn concurrent_stream_limit_is_announced<N: TestRuntime>() {
    let server = start::<N>(
        ServerConfig::default().http2(Http2Config::default().max_concurrent_streams(3)),
        &SseTopic::new(4),
    )
    .await;
    // A client that ignores the announced limit: four event streams at once.
    let stream = connect::<N>(server.addr, &h2_client_config(tls_of(&server))).await;
    let (mut reader, mut writer) = stream.split();
    assert!(write_raw(&mut writer, &preface()).await);
    for id in [1, 3, 5, 7] {
        let headers = frame(HEADERS, END_HEADERS | END_STREAM, id, &get_block("/events"));
        assert!(write_raw(&mut writer, &headers).await);
    }
    let mut answered = Vec::new();
    let refused = loop {
        let (kind, _, stream, payload) = read_frame(&mut reader).await.expect("a frame");
        if kind == HEADERS {
            answered.push(stream);
        }
        if kind == RST_STREAM {
            break (stream, u32::from_be_bytes(payload[..4].try_into().unwrap()));
        }
    };
    // REFUSED_STREAM (0x7) for the fourth.
    assert_eq!(refused, (7, 0x7));
    assert!(!answered.contains(&7), "{answered:?}");
    assert!(
        tidings_tests::wait_until::<N>(tidings_tests::rooms::WAIT, || {
            server.handle.hub().stats().sse.active == 3
        })
        .await
    );
    drop((reader, writer));
}

async fn idle_connection_is_closed<N: TestRuntime>() {
    let server = start::<N>(
        ServerConfig::default().keep_alive_idle(std::time::Duration::from_millis(200)),
        &SseTopic::new(4),
    )
    .await;
    // A connection that opens no stream gets GOAWAY (NO_ERROR) and is
    // closed, as an idle HTTP/1.1 connection would be.
    let code = flood_until_goaway(&server, std::iter::empty()).await;
    assert_eq!(code, Some(0));
    // One with an open stream is kept.
    let mut client = h2_connect::<N>(server.addr, tls_of(&server)).await;
    let (head, mut body) = h2_get(&mut client, "/events", &[]).await;
    assert_eq!(head.status, 200);
    read_events(&mut body, 3).await;
    tidings_tests::sleep::<N>(std::time::Duration::from_millis(600)).await;
    let (head, _) = h2_get(&mut client, "/events", &[]).await;
    assert_eq!(head.status, 200, "still open after three idle periods");
}

async fn a_client_that_stops_reading_is_dropped_as_slow<N: TestRuntime>() {
    let mut config = ServerConfig::default();
    config.sse = config
        .sse
        .buffer_size(4)
        .send_timeout(std::time::Duration::from_millis(300));
    let server = start::<N>(config, &SseTopic::new(4)).await;
    let mut client = h2_connect::<N>(server.addr, tls_of(&server)).await;
    // 8 KiB events as fast as the stream takes them; the client reads the
    // head and then nothing, so its 64 KiB stream window fills, the
    // server's writes wait for capacity, its queue fills, and the
    // slow-client policy drops the stream.
    let (head, unread) = h2_get(&mut client, "/flood", &[]).await;
    assert_eq!(head.status, 200);
    assert!(
        tidings_tests::wait_until::<N>(tidings_tests::rooms::WAIT, || {
            server.handle.hub().stats().sse_send_timeouts == 1
        })
        .await,
        "dropped as slow: {:?}",
        server.handle.hub().stats()
    );
    // Sent: no more than the windows and buffers allow (64 KiB stream
    // window + 64 KiB send buffer + 4 queued events), far from unbounded.
    let bytes_out = server.handle.hub().stats().bytes_out;
    assert!(bytes_out < 512 << 10, "{bytes_out} bytes queued");
    eprintln!("FIGURE slow h2 SSE client: {bytes_out} bytes queued before the drop");
    // The connection itself is fine: another stream is served (once the
    // unread data is dropped, which returns its share of the connection's
    // window).
    drop(unread);
    let (head, mut body) = h2_get(&mut client, "/events", &[]).await;
    assert_eq!(head.status, 200);
    read_events(&mut body, 3).await;
}
