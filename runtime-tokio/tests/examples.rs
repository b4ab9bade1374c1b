//! The examples of the Forge WebSocket docs, end to end on tokio: each
//! example's router (included from `examples/*/app.rs`) is served on
//! `127.0.0.1:0` and driven by `tidings_tokio::connect` clients (and raw TCP
//! for the page and an abrupt disconnect). Every test is bounded by
//! [`LIMIT`].
//!
//! "Not delivered" is proven causally where possible: after a message that
//! must not reach a client, a later message that must reach it is sent, and
//! the client's next message has to be that later one.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tidings_tokio::{CloseCode, Connection, Error, Message, Router, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

#[allow(dead_code)]
#[path = "../examples/chat/app.rs"]
mod chat_app;
#[allow(dead_code)]
#[path = "../examples/heartbeat/app.rs"]
mod heartbeat_app;
#[allow(dead_code)]
#[path = "../examples/info/app.rs"]
mod info_app;
#[allow(dead_code)]
#[path = "../examples/json_api/app.rs"]
mod json_api_app;
#[path = "../examples/common/rfc3339.rs"]
mod rfc3339;

/// The most any test may take.
const LIMIT: Duration = Duration::from_secs(20);
/// The most a single expected message may take to arrive.
const READ_LIMIT: Duration = Duration::from_secs(5);

async fn bounded<F: Future<Output = ()>>(test: F) {
    timeout(LIMIT, test).await.expect("test timed out");
}

/// Serves `router` on an ephemeral port; the server runs until the test's
/// runtime ends.
async fn start(router: Router) -> SocketAddr {
    let server = Server::bind("127.0.0.1:0", router).await.expect("bind");
    let addr = server.local_addr().expect("local addr");
    tokio::spawn(server.run());
    addr
}

async fn connect(url: &str) -> Connection {
    timeout(READ_LIMIT, tidings_tokio::connect(url))
        .await
        .expect("connect timed out")
        .unwrap_or_else(|error| panic!("connect {url}: {error}"))
}

/// The next message, as JSON text.
async fn recv(conn: &Connection) -> Value {
    let message = timeout(READ_LIMIT, conn.read())
        .await
        .unwrap_or_else(|_| panic!("{}: no message within {READ_LIMIT:?}", conn.id()))
        .unwrap_or_else(|error| panic!("{}: read failed: {error}", conn.id()));
    match message {
        Message::Text(text) => serde_json::from_str(text.as_str()).expect("JSON text"),
        Message::Binary(bytes) => panic!("unexpected binary message {bytes:?}"),
    }
}

/// Asserts that nothing arrives on `conn` for `wait`.
async fn expect_quiet(conn: &Connection, wait: Duration) {
    if let Ok(result) = timeout(wait, conn.read()).await {
        panic!("{}: expected nothing, got {result:?}", conn.id());
    }
}

/// Waits for the connection to end and returns the close code it ended with.
async fn closed_code(conn: &Connection) -> (CloseCode, String) {
    match timeout(READ_LIMIT, conn.read())
        .await
        .expect("close timed out")
    {
        Err(Error::Closed(closed)) => {
            let reason = closed
                .received
                .as_ref()
                .map(|frame| frame.reason.clone())
                .unwrap_or_default();
            (closed.code(), reason)
        }
        other => panic!("expected the close, got {other:?}"),
    }
}

/// Polls `condition` every 5 ms until it holds (bounded by the test's limit).
async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < READ_LIMIT, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A plain HTTP/1.1 GET: status, headers (names lower-cased), body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, Vec<(String, String)>, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    // Asked for `Connection: close`, so read to the end.
    timeout(READ_LIMIT, stream.read_to_end(&mut raw))
        .await
        .expect("response timed out")
        .expect("read");
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("complete head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, value)| value.as_str())
}

/// Asserts `time` is `YYYY-MM-DDTHH:MM:SSZ` and within [before, after]
/// (fixed-width UTC stamps sort like the times they denote).
fn assert_stamp(time: &Value, before: &str, after: &str) {
    let time = time.as_str().expect("time is a string");
    let shape = time.len() == 20
        && time.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    assert!(shape, "{time:?} is not RFC 3339 UTC to the second");
    assert!(
        before <= time && time <= after,
        "{time} not within [{before}, {after}]"
    );
}

// ---------------------------------------------------------------- RFC 3339

#[test]
fn rfc3339_formats_known_instants() {
    let at = |secs: u64| rfc3339::format(UNIX_EPOCH + Duration::from_secs(secs));
    assert_eq!(at(0), "1970-01-01T00:00:00Z");
    assert_eq!(at(86_399), "1970-01-01T23:59:59Z");
    assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z"); // 400-year leap day
    assert_eq!(at(951_868_800), "2000-03-01T00:00:00Z");
    assert_eq!(at(1_078_099_199), "2004-02-29T23:59:59Z");
    assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(at(1_704_067_199), "2023-12-31T23:59:59Z");
    assert_eq!(at(1_704_067_200), "2024-01-01T00:00:00Z");
    assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z"); // 2100 is not leap
    assert_eq!(at(253_402_300_799), "9999-12-31T23:59:59Z");
    // Sub-second parts are dropped, times before the epoch clamp to it.
    assert_eq!(
        rfc3339::format(UNIX_EPOCH + Duration::from_millis(1_999)),
        "1970-01-01T00:00:01Z"
    );
    assert_eq!(
        rfc3339::format(UNIX_EPOCH - Duration::from_secs(5)),
        "1970-01-01T00:00:00Z"
    );
}

/// Every day from 1970 to 2400 follows the previous one: the day-of-month
/// increments or wraps to 1 exactly at each month's length (leap years by
/// the Gregorian rule).
#[test]
fn rfc3339_walks_every_day_correctly() {
    let is_leap = |y: u32| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_len = |y: u32, m: u32| match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let (mut y, mut m, mut d) = (1970, 1, 1);
    for day in 0..157_000u64 {
        let expected = format!("{y:04}-{m:02}-{d:02}T12:00:00Z");
        let got = rfc3339::format(UNIX_EPOCH + Duration::from_secs(day * 86_400 + 43_200));
        assert_eq!(got, expected, "day {day}");
        d += 1;
        if d > month_len(y, m) {
            d = 1;
            m += 1;
            if m > 12 {
                m = 1;
                y += 1;
            }
        }
    }
}

// ------------------------------------------------------------------- chat

/// The chat server with a handle on its rooms.
async fn start_chat() -> (SocketAddr, Arc<chat_app::Rooms>) {
    let rooms = Arc::new(chat_app::Rooms::default());
    let addr = start(chat_app::router_with(rooms.clone())).await;
    (addr, rooms)
}

/// Joins `room` as `user` and waits until the server has added the
/// connection to the room (the join notice to others is broadcast before
/// the handler reads, so later joiners are then seen).
async fn join(addr: SocketAddr, rooms: &chat_app::Rooms, room: &str, user: &str) -> Connection {
    let before = rooms.members(room);
    let conn = connect(&format!("ws://{addr}/ws/chat/{room}?user={user}")).await;
    until("the join", || rooms.members(room) > before).await;
    conn
}

fn say(content: &str) -> String {
    json!({ "content": content }).to_string()
}

/// Expects a join/leave notice (`system`) about `user`.
async fn expect_notice(conn: &Connection, user: &str, what: &str, before: &str) {
    let notice = recv(conn).await;
    assert_eq!(notice["type"], "system", "{notice}");
    assert_eq!(notice["user"], user, "{notice}");
    assert_eq!(
        notice["content"],
        format!("{user} {what} the room"),
        "{notice}"
    );
    assert_stamp(&notice["time"], before, &rfc3339::now());
}

/// Expects a chat message from `user`.
async fn expect_message(conn: &Connection, user: &str, content: &str, before: &str) {
    let message = recv(conn).await;
    assert_eq!(message["type"], "message", "{message}");
    assert_eq!(message["user"], user, "{message}");
    assert_eq!(message["content"], content, "{message}");
    assert_stamp(&message["time"], before, &rfc3339::now());
    assert_eq!(message.as_object().map(|o| o.len()), Some(4), "{message}");
}

#[tokio::test]
async fn chat_page_is_served_and_links_the_event_feed() {
    bounded(async {
        let (addr, _rooms) = start_chat().await;
        let (status, headers, body) = http_get(addr, "/").await;
        assert_eq!(status, 200);
        assert!(
            header(&headers, "content-type").is_some_and(|t| t.starts_with("text/html")),
            "{headers:?}"
        );
        assert_eq!(body, chat_app::INDEX_HTML);
        // The page builds the chat URL: /ws/chat/ROOM?user=NAME.
        assert!(body.contains("\"/ws/chat/\""), "no room URL in the page");
        assert!(body.contains("\"?user=\""), "no user query in the page");
        // And listens to the activity feed.
        assert!(
            body.contains("new EventSource(\"/events\")"),
            "no feed in the page"
        );
        // Self-contained: no external scripts, styles or images (the one
        // https:// URL is the chat's own WebTransport, on the page's host).
        let body = body.replace("\"https://\" + location.hostname", "");
        for external in ["src=", "href=", "http://", "https://", "@import"] {
            assert!(!body.contains(external), "page refers to {external}");
        }
        let (status, _, _) = http_get(addr, "/nowhere").await;
        assert_eq!(status, 404);
    })
    .await;
}

/// A raw `/events` client decoding with the core's WHATWG decoder.
struct Feed {
    stream: TcpStream,
    decoder: tidings_tokio::sse::Decoder,
    head: String,
}

impl Feed {
    async fn open(addr: SocketAddr, last_event_id: Option<&str>) -> Feed {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut request = format!("GET /events HTTP/1.1\r\nHost: {addr}\r\n");
        if let Some(id) = last_event_id {
            request.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        let end = loop {
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            let mut chunk = [0u8; 1024];
            let n = timeout(READ_LIMIT, stream.read(&mut chunk))
                .await
                .expect("head timed out")
                .expect("read");
            assert!(n > 0, "EOF before the head");
            raw.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(raw[..end].to_vec()).expect("UTF-8 head");
        let mut decoder = tidings_tokio::sse::Decoder::new();
        decoder.feed(&raw[end + 4..]).expect("decode");
        Feed {
            stream,
            decoder,
            head,
        }
    }

    /// The next event: (type, JSON data, last event id).
    async fn next(&mut self) -> (String, Value, String) {
        loop {
            if let Some(event) = self.decoder.poll_event() {
                // Every feed event carries JSON, except `reset` (empty).
                let data = if event.data.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&event.data).expect("JSON data")
                };
                return (event.event_type, data, event.last_event_id);
            }
            let mut chunk = [0u8; 4096];
            let n = timeout(READ_LIMIT, self.stream.read(&mut chunk))
                .await
                .expect("no event in time")
                .expect("read");
            assert!(n > 0, "the feed ended");
            self.decoder.feed(&chunk[..n]).expect("decode");
        }
    }

    /// Skips events until one of type `kind`.
    async fn next_of(&mut self, kind: &str) -> (Value, String) {
        loop {
            let (event_type, data, id) = self.next().await;
            if event_type == kind {
                return (data, id);
            }
        }
    }
}

#[tokio::test]
async fn chat_events_feed_reports_activity_and_resumes() {
    bounded(async {
        let (addr, rooms) = start_chat().await;
        let mut feed = Feed::open(addr, None).await;
        assert!(feed.head.starts_with("HTTP/1.1 200 OK"), "{}", feed.head);
        assert!(
            feed.head
                .to_ascii_lowercase()
                .contains("content-type: text/event-stream"),
            "{}",
            feed.head
        );
        // Its own arrival, in the stats.
        let (stats, _) = feed.next_of("stats").await;
        assert_eq!(stats, json!({ "rooms": {}, "chatters": 0, "listeners": 1 }));

        let alice = join(addr, &rooms, "lobby", "alice").await;
        let (joined, _) = feed.next_of("join").await;
        assert_eq!(
            joined,
            json!({ "room": "lobby", "user": "alice", "members": 1 })
        );
        let (stats, after_join) = feed.next_of("stats").await;
        assert_eq!(
            stats,
            json!({ "rooms": { "lobby": 1 }, "chatters": 1, "listeners": 1 })
        );

        alice
            .write(json!({ "content": "hi" }).to_string())
            .await
            .unwrap();
        let (count, _) = feed.next_of("messages").await;
        assert_eq!(count, json!({ "room": "lobby", "count": 1 }));
        alice
            .write(json!({ "content": "again" }).to_string())
            .await
            .unwrap();
        // Messages change no member or listener count: no `stats` event
        // (it would follow each `messages` event) repeats the one after the
        // join.
        let count = loop {
            let (kind, data, _) = feed.next().await;
            assert_ne!(kind, "stats", "unchanged stats sent again: {data}");
            if kind == "messages" {
                break data;
            }
        };
        assert_eq!(count, json!({ "room": "lobby", "count": 2 }));
        drop(feed);

        // A reconnection after the stats that followed the join gets, in
        // order and once each, the two message counts, and nothing from
        // before the id. (A `stats` event comes only when its value changed:
        // this listener leaving and coming back within one interval may
        // cost none, and the one it resumed after still holds.)
        let mut again = Feed::open(addr, Some(&after_join)).await;
        let mut seen = Vec::new();
        loop {
            let (kind, data, _) = again.next().await;
            let done = kind == "messages" && data["count"] == 2;
            seen.push((kind, data));
            if done {
                break;
            }
        }
        let kinds: Vec<&str> = seen.iter().map(|(kind, _)| kind.as_str()).collect();
        let counts: Vec<&Value> = seen
            .iter()
            .filter(|(kind, _)| kind == "messages")
            .map(|(_, data)| &data["count"])
            .collect();
        assert_eq!(counts, [&json!(1), &json!(2)], "{seen:?}");
        assert!(
            !kinds.contains(&"join"),
            "nothing before the id is replayed: {seen:?}"
        );

        alice.close().await.unwrap();
        let (left, _) = again.next_of("leave").await;
        assert_eq!(
            left,
            json!({ "room": "lobby", "user": "alice", "members": 0 })
        );
        // The stats after the leave count the resumed listener.
        let (stats, _) = again.next_of("stats").await;
        assert_eq!(stats, json!({ "rooms": {}, "chatters": 0, "listeners": 1 }));

        // An id the feed never had: the reset event comes first.
        let mut lost = Feed::open(addr, Some("no-such-id")).await;
        let (kind, _, _) = lost.next().await;
        assert_eq!(kind, "reset");
    })
    .await;
}

/// `/stats` serves the hub's statistics as JSON after a short scripted
/// session, and `/events` carries them as `server-stats` events.
#[tokio::test]
async fn chat_stats_json_and_feed_events() {
    bounded(async {
        let (addr, rooms) = start_chat().await;
        let mut feed = Feed::open(addr, None).await;
        let start = rfc3339::now();
        let alice = join(addr, &rooms, "lobby", "alice").await;
        let bob = join(addr, &rooms, "lobby", "bob").await;
        expect_notice(&alice, "bob", "joined", &start).await;
        alice.write(say("hi bob")).await.unwrap();
        expect_message(&bob, "alice", "hi bob", &start).await;
        bob.close().await.unwrap();
        expect_notice(&alice, "bob", "left", &start).await;

        let (status, headers, body) = http_get(addr, "/stats").await;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "content-type"), Some("application/json"));
        let stats: Value = serde_json::from_str(&body).expect("JSON stats");
        println!("GET /stats after the session: {stats:#}");
        assert_eq!(stats["websocket"], json!({ "active": 1, "total": 2 }));
        assert_eq!(stats["sse"], json!({ "active": 1, "total": 1 }));
        assert_eq!(stats["routes"]["/ws/chat/:room"]["total"], 2);
        assert_eq!(stats["messages_in"], 1);
        // Alice's join notice (to nobody yet), bob's join notice to alice,
        // alice's message to bob, bob's leave notice to alice.
        assert_eq!(stats["broadcasts"], 4);
        assert_eq!(stats["broadcast_deliveries"], 3);
        assert_eq!(stats["slow_clients_dropped"], 0);

        // The feed's own arrival first; then, coalesced, the joins, the
        // message and the leave, in counters that never go back.
        let (server, _) = feed.next_of("server-stats").await;
        assert_eq!(server["sse"]["active"], 1, "{server}");
        let mut last = server;
        while last["messages_in"] != 1 || last["websocket"]["active"] != 1 {
            let (server, _) = feed.next_of("server-stats").await;
            for counter in ["messages_in", "broadcasts"] {
                assert!(
                    server[counter].as_u64() >= last[counter].as_u64(),
                    "{server}"
                );
            }
            last = server;
        }
        assert_eq!(last["websocket"]["total"], 2, "{last}");
        alice.close().await.unwrap();
    })
    .await;
}

/// Sends `request` on `stream` and reads one response framed by
/// `Content-Length`: status, head, body.
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> (u16, String, String) {
    stream.write_all(request).await.expect("write");
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, length) = loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(raw[..end].to_vec()).expect("UTF-8 head");
            let length: usize = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, value)| value.trim().parse().expect("a length"));
            raw.drain(..end + 4);
            break (head, length);
        }
        let n = timeout(READ_LIMIT, stream.read(&mut chunk))
            .await
            .expect("response timed out")
            .expect("read");
        assert!(n > 0, "EOF before the head");
        raw.extend_from_slice(&chunk[..n]);
    };
    while raw.len() < length {
        let n = timeout(READ_LIMIT, stream.read(&mut chunk))
            .await
            .expect("body timed out")
            .expect("read");
        assert!(n > 0, "EOF in the body");
        raw.extend_from_slice(&chunk[..n]);
    }
    let status = head[9..12].parse().expect("a status");
    (status, head, String::from_utf8(raw).expect("UTF-8 body"))
}

#[tokio::test]
async fn chat_publish_reaches_every_member_on_a_kept_alive_connection() {
    bounded(async {
        let (addr, rooms) = start_chat().await;
        let start = rfc3339::now();
        let alice = join(addr, &rooms, "lobby", "alice").await;
        let bob = join(addr, &rooms, "lobby", "bob").await;
        expect_notice(&alice, "bob", "joined", &start).await;

        // The page, a publish and the stats on one connection.
        let mut http = TcpStream::connect(addr).await.expect("connect");
        let (status, head, body) =
            exchange(&mut http, b"GET / HTTP/1.1\r\nHost: chat\r\n\r\n").await;
        assert_eq!(status, 200);
        assert!(
            head.to_ascii_lowercase().contains("connection: keep-alive"),
            "{head}"
        );
        assert_eq!(body, chat_app::INDEX_HTML);
        let content = say("hello from the server");
        let publish = format!(
            "POST /publish/lobby?user=bot HTTP/1.1\r\nHost: chat\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{content}",
            content.len()
        );
        let (status, _, body) = exchange(&mut http, publish.as_bytes()).await;
        assert_eq!(status, 202, "{body}");
        let answer: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(answer, json!({ "room": "lobby", "delivered": 2 }));
        // Every member gets it, the sender being no member.
        expect_message(&alice, "bot", "hello from the server", &start).await;
        expect_message(&bob, "bot", "hello from the server", &start).await;
        let bad = "POST /publish/lobby HTTP/1.1\r\nHost: chat\r\nContent-Length: 3\r\n\r\nnot";
        assert_eq!(exchange(&mut http, bad.as_bytes()).await.0, 400);
        let (status, _, body) =
            exchange(&mut http, b"GET /stats HTTP/1.1\r\nHost: chat\r\n\r\n").await;
        assert_eq!(status, 200);
        assert!(body.contains("\"websocket\""), "{body}");
    })
    .await;
}

#[tokio::test]
async fn chat_two_users_notices_and_messages_go_to_the_other_only() {
    bounded(async {
        let (addr, rooms) = start_chat().await;
        let start = rfc3339::now();
        let alice = join(addr, &rooms, "lobby", "alice").await;
        let bob = join(addr, &rooms, "lobby", "bob").await;
        assert_eq!(rooms.members("lobby"), 2);
        expect_notice(&alice, "bob", "joined", &start).await;

        // Type, user and time are re-stamped by the server.
        alice
            .write(
                json!({"type": "system", "user": "mallory", "content": "hi bob", "time": "1999"})
                    .to_string(),
            )
            .await
            .unwrap();
        // Bob got no notice of his own join: the first thing he sees is this.
        expect_message(&bob, "alice", "hi bob", &start).await;
        bob.write(say("hi alice")).await.unwrap();
        // Alice's next message is Bob's: her own was not sent back to her.
        expect_message(&alice, "bob", "hi alice", &start).await;

        bob.close().await.unwrap();
        expect_notice(&alice, "bob", "left", &start).await;
        assert_eq!(rooms.members("lobby"), 1);
        expect_quiet(&alice, Duration::from_millis(100)).await;
        alice.close().await.unwrap();
        until("the empty room to go", || rooms.members("lobby") == 0).await;
    })
    .await;
}

#[tokio::test]
async fn chat_three_users() {
    bounded(async {
        let (addr, rooms) = start_chat().await;
        let start = rfc3339::now();
        let alice = join(addr, &rooms, "lobby", "alice").await;
        let bob = join(addr, &rooms, "lobby", "bob").await;
        expect_notice(&alice, "bob", "joined", &start).await;
        let carol = join(addr, &rooms, "lobby", "carol").await;
        expect_notice(&alice, "carol", "joined", &start).await;
        expect_notice(&bob, "carol", "joined", &start).await;

        carol.write(say("from carol")).await.unwrap();
        expect_message(&alice, "carol", "from carol", &start).await;
        expect_message(&bob, "carol", "from carol", &start).await;

        alice.write(say("from alice")).await.unwrap();
        expect_message(&bob, "alice", "from alice", &start).await;
        // Carol's next is Alice's: her own did not come back.
        expect_message(&carol, "alice", "from alice", &start).await;

        bob.write(say("from bob")).await.unwrap();
        // Alice's and Carol's next is Bob's: their own did not come back.
        expect_message(&alice, "bob", "from bob", &start).await;
        expect_message(&carol, "bob", "from bob", &start).await;

        carol.close().await.unwrap();
        expect_notice(&alice, "carol", "left", &start).await;
        expect_notice(&bob, "carol", "left", &start).await;
        assert_eq!(rooms.members("lobby"), 2);

        // Bob's next is Alice's message: he got nothing of his own.
        alice.write(say("bye")).await.unwrap();
        expect_message(&bob, "alice", "bye", &start).await;
        expect_quiet(&alice, Duration::from_millis(100)).await;
        expect_quiet(&bob, Duration::from_millis(100)).await;
    })
    .await;
}

#[tokio::test]
async fn chat_rooms_are_isolated() {
    bounded(async {
        let (addr, rooms) = start_chat().await;
        let start = rfc3339::now();
        let alice = join(addr, &rooms, "red", "alice").await;
        let xavier = join(addr, &rooms, "blue", "xavier").await;
        assert_eq!((rooms.members("red"), rooms.members("blue")), (1, 1));

        let bob = join(addr, &rooms, "red", "bob").await;
        expect_notice(&alice, "bob", "joined", &start).await;
        bob.write(say("red only")).await.unwrap();
        expect_message(&alice, "bob", "red only", &start).await;

        // Xavier's first message is the blue join: nothing from red leaked.
        let yann = join(addr, &rooms, "blue", "yann").await;
        expect_notice(&xavier, "yann", "joined", &start).await;
        yann.write(say("blue only")).await.unwrap();
        expect_message(&xavier, "yann", "blue only", &start).await;

        // And red saw nothing of blue: Alice's next is Bob's leave.
        bob.close().await.unwrap();
        expect_notice(&alice, "bob", "left", &start).await;
        expect_quiet(&xavier, Duration::from_millis(100)).await;
        expect_quiet(&yann, Duration::from_millis(100)).await;
    })
    .await;
}

/// `/members/:room` lists a room's connection ids (without `--redis`,
/// this server's; with it, every node's through the engine's presence, as
/// the multi-process `cluster` stage checks).
#[tokio::test]
async fn chat_members_route_lists_a_rooms_connections() {
    bounded(async {
        let (addr, rooms) = start_chat().await;
        let members = |room: &'static str| async move {
            let (status, _, body) = http_get(addr, &format!("/members/{room}")).await;
            assert_eq!(status, 200);
            serde_json::from_str::<Value>(&body).expect("JSON members")
        };
        assert_eq!(
            members("red").await,
            json!({ "room": "red", "members": [] })
        );
        let alice = join(addr, &rooms, "red", "alice").await;
        let bob = join(addr, &rooms, "red", "bob").await;
        let xavier = join(addr, &rooms, "blue", "xavier").await;
        let red = members("red").await;
        let ids = red["members"].as_array().expect("an array");
        assert_eq!(ids.len(), 2, "{red}");
        assert!(
            ids.iter()
                .all(|id| id.as_str().is_some_and(|id| id.starts_with("ws_")))
        );
        assert_eq!(
            members("blue").await["members"].as_array().map(Vec::len),
            Some(1)
        );
        bob.close().await.unwrap();
        until("bob's leave", || rooms.members("red") == 1).await;
        assert_eq!(
            members("red").await["members"].as_array().map(Vec::len),
            Some(1)
        );
        drop((alice, xavier));
    })
    .await;
}

#[tokio::test]
async fn chat_user_name_defaults_to_anonymous_and_is_decoded() {
    bounded(async {
        let (addr, rooms) = start_chat().await;
        let start = rfc3339::now();
        let host = join(addr, &rooms, "r", "host").await;

        let _nameless = connect(&format!("ws://{addr}/ws/chat/r")).await;
        expect_notice(&host, "anonymous", "joined", &start).await;
        let _empty = connect(&format!("ws://{addr}/ws/chat/r?user=")).await;
        expect_notice(&host, "anonymous", "joined", &start).await;
        let _zoe = connect(&format!("ws://{addr}/ws/chat/r?user=Zo%C3%AB+B")).await;
        expect_notice(&host, "Zoë B", "joined", &start).await;
        assert_eq!(rooms.members("r"), 4);
    })
    .await;
}

/// A client program that drops every handle to its connection without
/// closing it: the socket should be released (a close, or at least the TCP
/// connection ending), so the server sees the user leave.
/// A text that is not a chat message closes with 1003 and a reason saying
/// what was expected (not 1000, as if all were well); the others see the
/// leave.
#[tokio::test]
async fn chat_closes_with_1003_on_a_text_that_is_not_a_chat_message() {
    bounded(async {
        let (addr, rooms) = start_chat().await;
        let start = rfc3339::now();
        let alice = join(addr, &rooms, "lobby", "alice").await;
        let bob = join(addr, &rooms, "lobby", "bob").await;
        expect_notice(&alice, "bob", "joined", &start).await;
        bob.write("hello, not JSON").await.unwrap();
        let (code, reason) = closed_code(&bob).await;
        assert_eq!(code, CloseCode::UNSUPPORTED_DATA);
        assert_eq!(reason, chat_app::NOT_A_CHAT_MESSAGE);
        expect_notice(&alice, "bob", "left", &start).await;
        alice.close().await.unwrap();
    })
    .await;
}

/// Statistics events are coalesced: many listeners arriving at once cause
/// a few `stats` events (at most one per interval), not one each; the last
/// one counts them all; a message alone also refreshes them.
#[tokio::test]
async fn chat_stats_events_are_coalesced_and_follow_messages() {
    bounded(async {
        let (addr, rooms) = start_chat().await;
        let mut first = Feed::open(addr, None).await;
        let (stats, _) = first.next_of("stats").await;
        assert_eq!(stats["listeners"], 1);
        const MORE: usize = 40;
        let started = Instant::now();
        let mut others = Vec::new();
        for _ in 0..MORE {
            others.push(Feed::open(addr, None).await);
        }
        let mut stats_events = 0;
        loop {
            let (stats, _) = first.next_of("stats").await;
            stats_events += 1;
            if stats["listeners"] == MORE + 1 {
                break;
            }
        }
        let elapsed = started.elapsed();
        let intervals = elapsed.as_millis() / chat_app::STATS_INTERVAL.as_millis() + 2;
        println!("{MORE} listeners in {elapsed:?}: {stats_events} stats events");
        assert!(
            stats_events as u128 <= intervals && stats_events < MORE,
            "{stats_events} stats events for {MORE} listeners in {elapsed:?}"
        );

        // A message (no join, no leave) brings fresh statistics.
        let alice = join(addr, &rooms, "lobby", "alice").await;
        let (server, _) = first.next_of("server-stats").await;
        let before = server["messages_in"].as_u64().expect("messages_in");
        alice.write(say("hi")).await.unwrap();
        loop {
            let (server, _) = first.next_of("server-stats").await;
            if server["messages_in"].as_u64() == Some(before + 1) {
                break;
            }
        }
        alice.close().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn chat_dropped_client_handle_is_announced() {
    bounded(async {
        let (addr, rooms) = start_chat().await;
        let start = rfc3339::now();
        let alice = join(addr, &rooms, "lobby", "alice").await;
        let bob = join(addr, &rooms, "lobby", "bob").await;
        expect_notice(&alice, "bob", "joined", &start).await;
        drop(bob);
        expect_notice(&alice, "bob", "left", &start).await;
    })
    .await;
}

/// A client that vanishes without a close frame (a killed browser tab) is
/// announced as gone too, and removed from its room.
#[tokio::test]
async fn chat_abrupt_disconnect_is_announced() {
    bounded(async {
        let (addr, rooms) = start_chat().await;
        let start = rfc3339::now();
        let alice = join(addr, &rooms, "lobby", "alice").await;

        let mut raw = TcpStream::connect(addr).await.unwrap();
        let upgrade = format!(
            "GET /ws/chat/lobby?user=ghost HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        raw.write_all(upgrade.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8];
            let n = timeout(READ_LIMIT, raw.read(&mut byte))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(n, 1, "EOF in the 101 head");
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        expect_notice(&alice, "ghost", "joined", &start).await;

        drop(raw);
        expect_notice(&alice, "ghost", "left", &start).await;
        assert_eq!(rooms.members("lobby"), 1);
    })
    .await;
}

// --------------------------------------------------------------- JSON API

fn unix_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

#[tokio::test]
async fn json_api_answers_each_request() {
    bounded(async {
        let addr = start(json_api_app::router()).await;
        let api = connect(&format!("ws://{addr}/ws/api")).await;
        let cases = [
            (
                json!({"type": "echo", "payload": {"a": [1, "x", null]}}),
                json!({"a": [1, "x", null]}),
            ),
            (json!({"type": "echo"}), Value::Null),
            (
                json!({"type": "upper", "payload": "straße"}),
                json!("STRASSE"),
            ),
            (json!({"type": "sum", "payload": [1, 2, 3.5]}), json!(6.5)),
            (json!({"type": "sum", "payload": [1, 2, -3, 40]}), json!(40)),
            (json!({"type": "sum", "payload": []}), json!(0)),
            (
                json!({"type": "sum", "payload": [1, "2"]}),
                json!({"error": "sum needs an array of numbers"}),
            ),
            (
                json!({"type": "upper", "payload": 7}),
                json!({"error": "upper needs a string"}),
            ),
            (
                json!({"type": "dance", "payload": 1}),
                json!({"error": "unknown message type \"dance\""}),
            ),
        ];
        for (request, data) in cases {
            let before = unix_now();
            api.write(request.to_string()).await.unwrap();
            let response = recv(&api).await;
            assert_eq!(response["type"], "response", "{request} -> {response}");
            assert_eq!(response["data"], data, "{request} -> {response}");
            let timestamp = response["timestamp"].as_i64().expect("integer timestamp");
            assert!((before..=unix_now()).contains(&timestamp), "{timestamp}");
            assert_eq!(response.as_object().map(|o| o.len()), Some(3), "{response}");
        }
        // A binary message holding JSON is read too (ReadJSON takes either).
        api.write_binary(br#"{"type":"echo","payload":1}"#)
            .await
            .unwrap();
        assert_eq!(recv(&api).await["data"], 1);
    })
    .await;
}

/// Like the seed's `return err`: a message that is not a `ClientMessage`
/// ends the handler, which closes with 1011 and the error as reason.
#[tokio::test]
async fn json_api_closes_with_1011_on_a_bad_request() {
    bounded(async {
        let addr = start(json_api_app::router()).await;
        for bad in ["not json", r#"{"payload": 1}"#] {
            let api = connect(&format!("ws://{addr}/ws/api")).await;
            api.write(bad).await.unwrap();
            let (code, reason) = closed_code(&api).await;
            assert_eq!(code, CloseCode::INTERNAL_ERROR, "{bad}");
            assert!(reason.starts_with("JSON error"), "{bad}: {reason}");
        }
    })
    .await;
}

// -------------------------------------------------------------- heartbeat

#[tokio::test]
async fn heartbeat_ticks_while_open_and_its_task_stops_after_the_close() {
    bounded(async {
        let period = Duration::from_millis(100);
        let stats = Arc::new(heartbeat_app::Heartbeats::default());
        let addr = start(heartbeat_app::router_with(period, stats.clone())).await;
        let start = rfc3339::now();
        let started = Instant::now();
        let live = connect(&format!("ws://{addr}/ws/live")).await;
        until("the task to start", || stats.running() == 1).await;

        for n in 1..=3u32 {
            // The read loop runs alongside: messages in don't disturb it.
            live.write(format!("message {n}")).await.unwrap();
            let beat = recv(&live).await;
            assert_eq!(beat["type"], "heartbeat", "{beat}");
            assert_stamp(&beat["time"], &start, &rfc3339::now());
            assert_eq!(beat.as_object().map(|o| o.len()), Some(2), "{beat}");
            // Timers never fire early: beat n comes n periods after the start.
            assert!(
                started.elapsed() >= period * n,
                "beat {n} after {:?}",
                started.elapsed()
            );
        }
        assert_eq!(stats.running(), 1);

        live.close().await.unwrap();
        assert!(live.close_info().is_some_and(|c| c.is_clean()));
        until("the task to stop", || stats.running() == 0).await;
        let sent = stats.sent();
        assert!(sent >= 3, "{sent}");
        tokio::time::sleep(period * 4).await;
        assert_eq!(stats.sent(), sent, "heartbeats written after the close");
    })
    .await;
}

/// The task ends when `closed()` completes, not at its next tick (when a
/// write would fail): with a one-minute period it is gone right after the
/// close.
#[tokio::test]
async fn heartbeat_task_stops_on_close_not_on_the_next_tick() {
    bounded(async {
        let stats = Arc::new(heartbeat_app::Heartbeats::default());
        let addr = start(heartbeat_app::router_with(
            Duration::from_secs(60),
            stats.clone(),
        ))
        .await;
        let live = connect(&format!("ws://{addr}/ws/live")).await;
        until("the task to start", || stats.running() == 1).await;
        let closing = Instant::now();
        live.close().await.unwrap();
        until("the task to stop", || stats.running() == 0).await;
        assert!(closing.elapsed() < Duration::from_secs(5));
        assert_eq!(stats.sent(), 0);
    })
    .await;
}

/// Each connection has its own task: closing one stops only its task.
#[tokio::test]
async fn heartbeat_tasks_are_per_connection() {
    bounded(async {
        let period = Duration::from_millis(100);
        let stats = Arc::new(heartbeat_app::Heartbeats::default());
        let addr = start(heartbeat_app::router_with(period, stats.clone())).await;
        let first = connect(&format!("ws://{addr}/ws/live")).await;
        let second = connect(&format!("ws://{addr}/ws/live")).await;
        until("both tasks to start", || stats.running() == 2).await;
        assert_eq!(recv(&first).await["type"], "heartbeat");

        first.close().await.unwrap();
        until("the first task to stop", || stats.running() == 1).await;
        for _ in 0..2 {
            assert_eq!(recv(&second).await["type"], "heartbeat");
        }
        assert_eq!(stats.running(), 1);
        second.close().await.unwrap();
        until("the second task to stop", || stats.running() == 0).await;
    })
    .await;
}

// ------------------------------------------------------------------- info

#[tokio::test]
async fn info_reports_both_addresses_and_the_id_then_closes() {
    bounded(async {
        let addr = start(info_app::router()).await;
        let mut ids = Vec::new();
        for _ in 0..2 {
            let conn = connect(&format!("ws://{addr}/ws/info")).await;
            let info: info_app::ConnectionInfo =
                serde_json::from_value(recv(&conn).await).expect("ConnectionInfo");
            // The server's view is the client's, mirrored.
            assert_eq!(info.remote_addr, conn.local_addr());
            assert_eq!(info.local_addr, conn.remote_addr());
            assert_eq!(info.local_addr, Some(addr));
            let number = info.connection_id.strip_prefix("ws_").expect("ws_ prefix");
            assert!(number.parse::<u64>().is_ok(), "{}", info.connection_id);
            ids.push(info.connection_id);
            // The handler returned: a normal close.
            assert_eq!(closed_code(&conn).await.0, CloseCode::NORMAL);
        }
        assert_ne!(ids[0], ids[1], "ids are unique");

        // The wire format is exactly the Forge one.
        let conn = connect(&format!("ws://{addr}/ws/info")).await;
        let raw = recv(&conn).await;
        let mut keys: Vec<&str> = raw
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["connectionId", "localAddr", "remoteAddr"]);
        assert_eq!(raw["localAddr"], addr.to_string());
    })
    .await;
}

// ---------------------------------------------------------------- asyncapi

/// `/asyncapi.json` of the chat example: a structurally valid AsyncAPI 3.0
/// document with a channel for each streaming route, the chat messages'
/// schema and the feed's event types. Served through the adapter's test
/// harness (`tidings_tokio::testing`).
#[tokio::test]
async fn chat_serves_its_asyncapi_document() {
    use tidings_tokio::testing::{TestApp, asyncapi_problems};
    bounded(async {
        let app = TestApp::start(chat_app::router(), tidings_tokio::ServerConfig::default()).await;
        let response = app.get("/asyncapi.json").await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers().get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/json"[..])
        );
        let doc: Value = serde_json::from_slice(response.body()).expect("JSON");
        assert_eq!(asyncapi_problems(&doc), Vec::<String>::new(), "{doc:#}");
        assert_eq!(doc["info"]["title"], "tidings chat");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        // Every streaming route has a channel; the page and the document
        // itself (plain GET routes) have none.
        let channels = doc["channels"].as_object().expect("channels");
        let mut addresses: Vec<(&str, &str)> = channels
            .iter()
            .map(|(id, channel)| (id.as_str(), channel["address"].as_str().expect("address")))
            .collect();
        addresses.sort_unstable();
        assert_eq!(
            addresses,
            [
                ("chat", "/ws/chat/{room}"),
                ("chat-webtransport", "/wt/chat/{room}"),
                ("events", "/events")
            ]
        );
        assert_eq!(
            doc["channels"]["chat-webtransport"]["x-protocol"], "webtransport",
            "{doc:#}"
        );
        let chat = &doc["channels"]["chat"];
        assert_eq!(chat["summary"], "Chat room");
        assert_eq!(chat["tags"], json!([{ "name": "chat" }]));
        assert!(chat["parameters"]["room"].is_object());
        let schema = &doc["components"]["schemas"]["ChatMessage"];
        for field in ["type", "user", "content", "time"] {
            assert!(schema["properties"][field].is_object(), "{schema}");
        }
        let mut events: Vec<&String> = doc["channels"]["events"]["messages"]
            .as_object()
            .expect("event messages")
            .keys()
            .collect();
        events.sort_unstable();
        assert_eq!(
            events,
            [
                "join",
                "leave",
                "message",
                "messages",
                "reset",
                "server-stats",
                "stats"
            ]
        );
        // Every event type has a schema of its own, with its fields.
        let payload = |event: &str| {
            let message = &doc["channels"]["events"]["messages"][event];
            let reference = message["payload"]["$ref"]
                .as_str()
                .or_else(|| {
                    doc["components"]["messages"]
                            [message["$ref"].as_str()?.rsplit('/').next()?]["payload"]["$ref"]
                            .as_str()
                })
                .unwrap_or_else(|| panic!("{event}: no payload reference in {message}"));
            let name = reference.rsplit('/').next().expect("schema name");
            doc["components"]["schemas"][name].clone()
        };
        for (event, fields) in [
            ("stats", &["rooms", "chatters", "listeners"][..]),
            (
                "server-stats",
                &["websocket", "sse", "messages_in", "tls_handshake_failures"][..],
            ),
            ("message", &["room", "user", "content", "time"][..]),
        ] {
            let schema = payload(event);
            for field in fields {
                assert!(
                    schema["properties"][field].is_object(),
                    "{event}.{field}: {schema}"
                );
            }
        }
        assert_eq!(payload("reset")["const"], "");
        let mut operations: Vec<&String> = doc["operations"]
            .as_object()
            .expect("operations")
            .keys()
            .collect();
        operations.sort_unstable();
        assert_eq!(
            operations,
            [
                "chat-webtransport.receive",
                "chat-webtransport.send",
                "chat.receive",
                "chat.send",
                "events.send"
            ]
        );
    })
    .await;
}
