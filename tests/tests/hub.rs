//! The hub on every runtime: lookup, write and close by id, removal on
//! close, rooms (join, leave, members, rooms_of, leaving on close) for
//! WebSocket and SSE alike, broadcast with each filter kind and sender
//! exclusion to a WS+SSE mix, the statistics after a scripted session.
//! The slow-consumer proof is in `slow_consumers.rs`.

use std::time::Duration;

use tidings_framework::close::CloseCode;
use tidings_framework::http::StatusCode;
use tidings_framework::hub::{Delivery, Filter, Payload, Protocol, SlowConsumer};
use tidings_framework::server::{
    Context, IntoResponse, Response, RouteOptions, SseContext, SseEnd,
};
use tidings_framework::sse::Event;
use tidings_tests::{
    ClientConfig, Connection, Message, RawClient, Router, ServerConfig, SseClient, TestRuntime,
    all_runtimes, client, expect_closed, start_server, status_line, upgrade_request, wait_until,
};

all_runtimes!(
    lookup_write_and_close_by_id,
    rooms_join_leave_members_and_leave_on_close,
    broadcast_filters_and_sender_exclusion,
    stats_after_a_scripted_session,
    slow_consumer_policy_per_route_and_sse_drop,
);

const LIMIT: Duration = Duration::from_secs(5);

/// A value a handler attaches, read back through the hub.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Role(&'static str);

/// Joins the room of the path, attaches a role from `?role=`, tells the
/// client its id, then serves commands: `join:R`, `leave:R` (answered
/// `ok`), anything else is broadcast to the room except the sender.
async fn room_handler(ctx: Context, conn: Connection) -> Result<(), tidings_framework::Error> {
    let room = ctx.param("room").unwrap_or("none").to_owned();
    if ctx.query("role") == Some("admin") {
        conn.set(Role("admin"));
    }
    conn.join(&room);
    conn.write(conn.id()).await?;
    loop {
        let Message::Text(text) = conn.read().await? else {
            continue;
        };
        let text = text.as_str().to_owned();
        if let Some(other) = text.strip_prefix("join:") {
            conn.join(other);
            conn.write("ok").await?;
        } else if let Some(other) = text.strip_prefix("leave:") {
            conn.leave(other);
            conn.write("ok").await?;
        } else {
            let filter = Filter::room(room.as_str()).except(conn.id());
            ctx.hub().broadcast(Payload::text(text), filter);
        }
    }
}

/// Joins the room of the path, sends its id as the first event, then waits
/// for the end.
async fn sse_room_handler(ctx: SseContext) -> Result<(), tidings_framework::Error> {
    let room = ctx.param("room").unwrap_or("none").to_owned();
    ctx.join(&room);
    ctx.send_event("id", ctx.id()).await?;
    ctx.closed().await;
    Ok(())
}

fn router() -> Router {
    Router::new()
        .websocket("/ws/:room", room_handler)
        .websocket("/other/:room", room_handler)
        .sse("/events/:room", sse_room_handler)
        .websocket("/quiet", quiet_handler)
}

/// Writes nothing: reads until the connection ends.
async fn quiet_handler(_ctx: Context, conn: Connection) -> Result<(), tidings_framework::Error> {
    while conn.read().await.is_ok() {}
    Ok(())
}

async fn text(conn: &Connection) -> String {
    match conn.read().await {
        Ok(Message::Text(text)) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

async fn binary(conn: &Connection) -> Vec<u8> {
    match conn.read().await {
        Ok(Message::Binary(data)) => data.to_vec(),
        other => panic!("expected a binary message, got {other:?}"),
    }
}

/// Connects to `path` and returns the connection and its server-side id.
async fn join<N: TestRuntime>(addr: std::net::SocketAddr, path: &str) -> (Connection, String) {
    let conn = client::<N>(&format!("ws://{addr}{path}"), ClientConfig::default()).await;
    let id = text(&conn).await;
    (conn, id)
}

async fn sse_join<N: TestRuntime>(
    addr: std::net::SocketAddr,
    path: &str,
) -> (SseClient<N>, String) {
    let mut sse = SseClient::<N>::open(addr, path, &[]).await;
    let first = sse.next_event().await.expect("the id event");
    assert_eq!(first.event_type, "id");
    (sse, first.data)
}

async fn lookup_write_and_close_by_id<N: TestRuntime>() {
    let server = start_server::<N>(router(), ServerConfig::default()).await;
    let hub = server.handle.hub().clone();
    let (conn, id) = join::<N>(server.addr, "/ws/lobby?role=admin").await;

    let handle = hub.get_connection(&id).expect("registered");
    assert_eq!(handle.protocol(), Protocol::WebSocket);
    assert_eq!(&*handle.info().expect("local").route, "/ws/:room");
    assert!(handle.info().expect("local").remote_addr.is_some());
    assert_eq!(handle.get::<Role>(), Some(Role("admin")));
    assert_eq!(hub.connections().len(), 1);

    assert_eq!(handle.send_text("pushed"), Delivery::Queued);
    assert_eq!(text(&conn).await, "pushed");
    assert_eq!(
        handle.send(&Payload::binary(vec![1u8, 2, 3])),
        Delivery::Queued
    );
    assert_eq!(binary(&conn).await, [1, 2, 3]);

    handle.close_with(CloseCode(4000), "bye");
    let closed = expect_closed(conn.read().await);
    let received = closed.received.expect("the server's close frame");
    assert_eq!(
        (received.code, received.reason.as_str()),
        (CloseCode(4000), "bye")
    );
    assert!(
        wait_until::<N>(LIMIT, || hub.get_connection(&id).is_none()).await,
        "removed on close"
    );
    assert!(hub.is_empty());
    assert_eq!(handle.send_text("late"), Delivery::Closed);

    // An idle client takes one message larger than the outbox bound
    // (1 MiB by default): the bound is on what it leaves unread. Shown on a
    // connection the server has never written to: right after a write, the
    // client can have read it before the server's pump has counted it done
    // (the bytes are in flight until then), and the big message would find
    // the outbox not yet empty.
    let quiet = client::<N>(
        &format!("ws://{}/quiet", server.addr),
        ClientConfig::default(),
    )
    .await;
    let is_quiet = |info: &tidings_framework::hub::ConnectionInfo| &*info.route == "/quiet";
    assert!(wait_until::<N>(LIMIT, || hub.connections().iter().any(is_quiet)).await);
    let quiet_id = hub.connections().into_iter().find(is_quiet).unwrap().id;
    let quiet_handle = hub.get_connection(&quiet_id).expect("registered");
    let big = vec![7u8; 2 << 20];
    assert_eq!(
        quiet_handle.send(&Payload::binary(big.clone())),
        Delivery::Queued
    );
    assert_eq!(binary(&quiet).await, big);
    quiet.close().await.unwrap();
    assert!(wait_until::<N>(LIMIT, || hub.is_empty()).await);

    // SSE streams are registered too, and can be written and closed.
    let (mut sse, sse_id) = sse_join::<N>(server.addr, "/events/lobby").await;
    let handle = hub.get_connection(&sse_id).expect("registered");
    assert_eq!(handle.protocol(), Protocol::Sse);
    assert_eq!(handle.send_text("to sse"), Delivery::Queued);
    assert_eq!(sse.next_event().await.unwrap().data, "to sse");
    handle.close();
    assert!(sse.next_event().await.is_none(), "the stream ends");
    assert!(wait_until::<N>(LIMIT, || hub.is_empty()).await);
}

async fn rooms_join_leave_members_and_leave_on_close<N: TestRuntime>() {
    let server = start_server::<N>(router(), ServerConfig::default()).await;
    let hub = server.handle.hub().clone();
    let (a, a_id) = join::<N>(server.addr, "/ws/x").await;
    let (b, b_id) = join::<N>(server.addr, "/ws/x").await;
    let (sse, sse_id) = sse_join::<N>(server.addr, "/events/x").await;
    let mut expected = vec![a_id.clone(), b_id.clone(), sse_id.clone()];
    expected.sort();
    assert_eq!(hub.members("x"), expected);

    a.write("join:y").await.unwrap();
    assert_eq!(text(&a).await, "ok");
    assert_eq!(hub.rooms_of(&a_id), ["x", "y"]);
    a.write("leave:x").await.unwrap();
    assert_eq!(text(&a).await, "ok");
    assert_eq!(hub.rooms_of(&a_id), ["y"]);
    let mut expected = vec![b_id.clone(), sse_id.clone()];
    expected.sort();
    assert_eq!(hub.members("x"), expected);
    assert!(hub.join(&sse_id, "y"), "the hub joins by id too");
    assert_eq!(hub.rooms_of(&sse_id), ["x", "y"]);

    // Leaving on close, for both protocols.
    b.close().await.unwrap();
    drop(sse);
    assert!(
        wait_until::<N>(LIMIT, || hub.members("x").is_empty()).await,
        "members left: {:?}",
        hub.members("x")
    );
    assert_eq!(hub.members("y"), [a_id]);
    assert_eq!(hub.rooms(), [("y".to_owned(), 1)]);
    a.close().await.unwrap();
}

async fn broadcast_filters_and_sender_exclusion<N: TestRuntime>() {
    let server = start_server::<N>(router(), ServerConfig::default()).await;
    let hub = server.handle.hub().clone();
    let (a, a_id) = join::<N>(server.addr, "/ws/r1?role=admin").await;
    let (b, _) = join::<N>(server.addr, "/ws/r1").await;
    let (c, _) = join::<N>(server.addr, "/ws/r2").await;
    let (d, _) = join::<N>(server.addr, "/other/r1").await;
    let (mut s, _) = sse_join::<N>(server.addr, "/events/r1").await;

    let report = hub.broadcast(Payload::text("m1"), Filter::room("r1"));
    assert_eq!(
        (report.delivered, report.dropped, report.skipped),
        (4, 0, 0)
    );
    let report = hub.broadcast(
        Payload::text("m2"),
        Filter::room("r1").except(a_id.as_str()),
    );
    assert_eq!(report.delivered, 3);
    let report = hub.broadcast(Payload::text("m3"), Filter::all().route("/ws/:room"));
    assert_eq!(report.delivered, 3);
    let report = hub.broadcast(
        Payload::text("m4").sse_event("note"),
        Filter::all().protocol(Protocol::Sse),
    );
    assert_eq!(report.delivered, 1);
    let report = hub.broadcast(
        Payload::text("m5"),
        Filter::all().matching(|conn| conn.get::<Role>() == Some(Role("admin"))),
    );
    assert_eq!(report.delivered, 1);
    let report = hub.broadcast(Payload::binary(vec![9u8]), Filter::all());
    assert_eq!(
        (report.delivered, report.skipped),
        (4, 1),
        "SSE gets no binary"
    );
    // A client's message, broadcast by its handler to its room but itself
    // (a WS + SSE mix).
    a.write("hello").await.unwrap();
    let report = hub.broadcast(
        Payload::event(Event::new().event("end").data("m6")),
        Filter::all(),
    );
    assert_eq!(report.delivered, 5);

    assert_eq!(
        [text(&a).await, text(&a).await, text(&a).await],
        ["m1", "m3", "m5"]
    );
    assert_eq!(binary(&a).await, [9]);
    assert_eq!(
        text(&a).await,
        "m6",
        "the sender does not get its own message"
    );
    assert_eq!(
        [text(&b).await, text(&b).await, text(&b).await],
        ["m1", "m2", "m3"]
    );
    assert_eq!([text(&d).await, text(&d).await], ["m1", "m2"]);
    for conn in [&b, &d] {
        assert_eq!(binary(conn).await, [9]);
        // The client's message and the last broadcast race; both arrive.
        let mut last = [text(conn).await, text(conn).await];
        last.sort();
        assert_eq!(last, ["hello", "m6"]);
    }
    assert_eq!(text(&c).await, "m3");
    assert_eq!(binary(&c).await, [9]);
    assert_eq!(text(&c).await, "m6");
    let mut events = Vec::new();
    for _ in 0..5 {
        let event = s.next_event().await.expect("an event");
        events.push((event.event_type, event.data));
    }
    let message = |data: &str| ("message".to_owned(), data.to_owned());
    assert_eq!(
        events[..3],
        [
            message("m1"),
            message("m2"),
            ("note".to_owned(), "m4".to_owned())
        ]
    );
    let mut last = events[3..].to_vec();
    last.sort();
    assert_eq!(
        last,
        [("end".to_owned(), "m6".to_owned()), message("hello")]
    );
    for conn in [a, b, c, d] {
        conn.close().await.unwrap();
    }
}

/// Middleware that refuses every request with 401 (the `Middleware` type
/// fixes the error type).
#[allow(clippy::result_large_err)]
fn refuse(_ctx: &mut Context) -> Result<(), Response> {
    Err((StatusCode::UNAUTHORIZED, "no token").into_response())
}

async fn stats_after_a_scripted_session<N: TestRuntime>() {
    let router = router()
        .websocket("/echo", tidings_framework::server::echo)
        .websocket_with(
            "/private",
            tidings_framework::server::echo,
            RouteOptions::new().middleware(refuse),
        );
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let handle = &server.handle;
    for _ in 0..2 {
        let conn = client::<N>(&server.url("/echo"), ClientConfig::default()).await;
        for message in ["ab", "cd"] {
            conn.write(message).await.unwrap();
            assert_eq!(text(&conn).await, message);
        }
        conn.close().await.unwrap();
    }
    let (sse, _) = sse_join::<N>(server.addr, "/events/room").await;
    // Refusals: an upgrade to no route (404), a POST to an SSE route (405),
    // an upgrade without a version (426) or without a key (400), middleware
    // (401).
    let refusals = [
        upgrade_request("/nowhere"),
        "POST /events/room HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".to_owned(),
        "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
            .to_owned(),
        "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
            .to_owned(),
        upgrade_request("/private"),
    ];
    for request in refusals {
        let mut raw = RawClient::<N>::connect(server.addr).await;
        raw.send(request.as_bytes()).await;
        let response = raw.read_to_end().await;
        assert!(!status_line(&response).contains(" 101 "));
    }
    drop(sse);
    assert!(
        wait_until::<N>(LIMIT, || {
            let stats = handle.hub().stats();
            stats.websocket.active == 0 && stats.sse.active == 0
        })
        .await
    );

    let stats = handle.hub().stats();
    println!("{}", serde_json::to_string_pretty(&stats).unwrap());
    assert_eq!((stats.websocket.active, stats.websocket.total), (0, 2));
    assert_eq!((stats.sse.active, stats.sse.total), (0, 1));
    assert_eq!(stats.routes["/echo"].total, 2);
    assert_eq!(stats.routes["/events/:room"].total, 1);
    assert_eq!((stats.messages_in, stats.bytes_in), (4, 8));
    // Four echoes, and the SSE stream's id event.
    let id_event = "event: id\ndata: sse_3\n\n".len() as u64;
    assert_eq!((stats.messages_out, stats.bytes_out), (5, 8 + id_event));
    let rejected: Vec<(&str, u64)> = stats
        .handshakes_rejected
        .iter()
        .map(|(status, count)| (status.as_str(), *count))
        .collect();
    assert_eq!(
        rejected,
        [
            ("400 Bad Request", 1),
            ("401 Unauthorized", 1),
            ("404 Not Found", 1),
            ("405 Method Not Allowed", 1),
            ("426 Upgrade Required", 1),
        ]
    );
    assert_eq!(stats.slow_clients_dropped, 0);
}

/// A route's policy decides the close code of a client whose outbox
/// overflows (1008 and a reason here); an SSE client is dropped. Both are
/// counted, and the broadcasts never wait for them.
async fn slow_consumer_policy_per_route_and_sse_drop<N: TestRuntime>() {
    let (ends_tx, ends_rx) = tidings_tests::channel::unbounded::<String>();
    let ws_ends = ends_tx.clone();
    let router = Router::new()
        .websocket_with(
            "/strict",
            move |_ctx: Context, conn: Connection| {
                let ends = ws_ends.clone();
                async move {
                    conn.join("feed");
                    conn.closed().await;
                    let sent = conn.close_info().and_then(|closed| closed.sent);
                    let sent = sent.map(|s| format!("{} {}", s.code.0, s.reason));
                    let _ = ends.send(sent.unwrap_or_default()).await;
                    Ok(())
                }
            },
            RouteOptions::new().slow_consumer(SlowConsumer::policy_violation("too slow")),
        )
        .sse("/feed", move |ctx: SseContext| {
            let ends = ends_tx.clone();
            async move {
                ctx.join("feed");
                let end = ctx.closed().await;
                let _ = ends.send(format!("sse {:?}", end == SseEnd::TooSlow)).await;
                Ok(())
            }
        });
    let config = ServerConfig::default()
        .outbox_bytes(64 << 10)
        .outbox_messages(16)
        .websocket(
            tidings_framework::ws::Config::default().close_timeout(Duration::from_millis(200)),
        );
    let server = start_server::<N>(router, config).await;
    let hub = server.handle.hub().clone();
    // Neither client reads after its head.
    let _ws = RawClient::<N>::upgrade(server.addr, "/strict").await;
    let mut sse = RawClient::<N>::connect(server.addr).await;
    sse.send(tidings_tests::sse_request("/feed", &[]).as_bytes())
        .await;
    let _head = sse.read_head().await;
    assert!(wait_until::<N>(LIMIT, || hub.members("feed").len() == 2).await);

    let chunk = "x".repeat(16 << 10);
    let mut dropped = 0;
    for _ in 0..2_000 {
        let report = hub.broadcast(Payload::text(chunk.as_str()), Filter::room("feed"));
        dropped += report.dropped;
        if dropped == 2 {
            break;
        }
        // Let the pumps fill the kernel's buffers between broadcasts.
        tidings_tests::sleep::<N>(Duration::from_micros(200)).await;
    }
    assert_eq!(dropped, 2, "both stalled clients overflowed");
    let mut ends = vec![ends_rx.recv().await.unwrap(), ends_rx.recv().await.unwrap()];
    ends.sort();
    assert_eq!(ends, ["1008 too slow", "sse true"]);
    assert_eq!(server.handle.hub().stats().slow_clients_dropped, 2);
}
