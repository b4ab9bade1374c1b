//! The native server's HTTP/1.1 on every runtime, over raw sockets:
//! route patterns in both syntaxes, response headers from middleware and
//! routes on the 101, the SSE 200 and plain responses, subprotocols per
//! route, keep-alive (several and pipelined requests on one connection,
//! then an upgrade; the limits on requests, idle time and body size), and
//! POST routes (Content-Length and chunked bodies, 411, 413, 400, 405,
//! `Expect: 100-continue`).

// `Middleware::before` returns `Result<(), Response>`, a large `Err`.
#![allow(clippy::result_large_err)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use tidings_framework::server::{Context, IntoResponse, RouteOptions, SseContext, echo};
use tidings_tests::{
    Connection, Error, RawClient, Router, ServerConfig, SseClient, TestRuntime, all_runtimes,
    capture_logs, client, client_frame, has_header, logged_events, logged_spans, start_server,
    status_line, timeout, upgrade_request, wait_until,
};

all_runtimes!(
    braced_patterns_route_like_colon_patterns,
    middleware_and_route_headers_reach_the_101,
    server_owned_headers_cannot_be_replaced,
    headers_reach_the_sse_200_and_plain_responses_and_rejections,
    subprotocols_are_chosen_per_route,
    plain_requests_share_one_connection,
    pipelined_requests_are_answered_in_order,
    an_upgrade_follows_plain_requests_on_one_connection,
    connection_close_and_http_1_0_end_the_connection,
    requests_per_connection_are_limited,
    an_idle_kept_alive_connection_is_closed,
    post_reads_content_length_and_chunked_bodies,
    post_bodies_over_the_limit_get_413,
    post_framing_errors_get_411_and_400,
    methods_are_routed_per_path,
    head_gets_the_length_without_the_body,
    connections_run_in_a_span_that_records_their_end,
    shutdown_closes_idle_kept_alive_connections_at_once,
);

/// One response read from `raw`: status line, head, body (by its
/// `Content-Length`).
struct Reply {
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn status(&self) -> &str {
        status_line(self.head.as_bytes())
    }

    fn has(&self, name: &str, value: &str) -> bool {
        has_header(&self.head, name, value)
    }

    /// Every value of header `name`, in order.
    fn values(&self, name: &str) -> Vec<String> {
        self.head
            .split("\r\n")
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }
}

/// Reads one response whose body is framed by `Content-Length` (none for
/// `head_only`).
async fn read_reply<N: TestRuntime>(raw: &mut RawClient<N>, head_only: bool) -> Reply {
    let head = raw.read_head().await;
    let length: usize = head
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, value)| value.trim().parse().expect("a length"));
    let length = if head_only { 0 } else { length };
    while raw.buffered.len() < length {
        let more = raw.read_some().await;
        raw.buffered.extend_from_slice(&more);
    }
    let rest = raw.buffered.split_off(length);
    let body = std::mem::replace(&mut raw.buffered, rest);
    Reply { head, body }
}

/// The payload of the first frame the server sends on upgraded `raw` (a
/// short one), without waiting for the close handshake.
async fn first_frame<N: TestRuntime>(raw: &mut RawClient<N>) -> Vec<u8> {
    let mut received = std::mem::take(&mut raw.buffered);
    while received.len() < 2 || received.len() < 2 + usize::from(received[1] & 0x7f) {
        received.extend(raw.read_some().await);
    }
    let length = usize::from(received[1] & 0x7f);
    received[2..2 + length].to_vec()
}

/// Whether the server closes `raw` within `limit` (EOF, nothing more sent).
async fn closes_within<N: TestRuntime>(raw: &mut RawClient<N>, limit: Duration) -> bool {
    matches!(timeout::<N, _>(limit, raw.read_to_end()).await, Ok(rest) if rest.is_empty())
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

fn post(path: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut request =
        format!("POST {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n").into_bytes();
    request.extend_from_slice(body);
    request
}

/// The plain routes of a small app: a page, statistics, a document.
fn plain_router() -> Router {
    Router::new()
        .get("/", |_ctx| async { "the page" })
        .get("/stats", |ctx: Context| async move {
            format!("{} connections", ctx.hub().stats().websocket.active)
        })
        .get("/asyncapi.json", |_ctx| async { "{}" })
        .websocket("/ws", echo)
}

async fn room_name(ctx: Context, conn: Connection) -> Result<(), Error> {
    let room = ctx.param("room").unwrap_or("-").to_owned();
    let rest = ctx.param("rest").unwrap_or("-").to_owned();
    conn.write(format!("{room} {rest}")).await
}

async fn braced_patterns_route_like_colon_patterns<N: TestRuntime>() {
    let router = Router::new()
        .websocket("/ws/{room}", room_name)
        .websocket("/colon/:room", room_name)
        .websocket("/files/{room}/{*rest}", room_name);
    let server = start_server::<N>(router, ServerConfig::default()).await;
    for (path, expected) in [
        ("/ws/lobby", "lobby -"),
        ("/colon/lobby", "lobby -"),
        ("/files/a/b/c%20d", "a b/c d"),
    ] {
        let mut raw = RawClient::<N>::upgrade(server.addr, path).await;
        assert_eq!(first_frame(&mut raw).await, expected.as_bytes(), "{path}");
    }
    // The literal path the old parser would have wanted is not a route.
    let mut raw = server.raw().await;
    raw.send(upgrade_request("/ws/%7Broom%7D/x").as_bytes())
        .await;
    assert_eq!(
        status_line(&raw.read_to_end().await),
        "HTTP/1.1 404 Not Found"
    );
}

#[test]
fn an_unreadable_pattern_is_refused_when_registered() {
    let refused = std::panic::catch_unwind(|| Router::new().websocket("/ws/{room", echo))
        .map(drop)
        .expect_err("a pattern with an unclosed brace is refused");
    let message = refused
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("/ws/{room") && message.contains("{room"),
        "{message}"
    );
    for pattern in ["/ws/room}", "/{id}.json", "/a/{}"] {
        assert!(
            std::panic::catch_unwind(|| Router::new().get(pattern, |_ctx| async { "" })).is_err(),
            "{pattern}"
        );
    }
}

/// A middleware that adds two cookies and a custom header.
fn cookies(ctx: &mut Context) -> Result<(), tidings_framework::server::Response> {
    let headers = ctx.response_headers_mut();
    headers.append(
        header::SET_COOKIE,
        HeaderValue::from_static("session=abc; HttpOnly"),
    );
    headers.append(header::SET_COOKIE, HeaderValue::from_static("theme=dark"));
    headers.insert("x-request-id", HeaderValue::from_static("r-1"));
    Ok(())
}

fn cors() -> RouteOptions {
    RouteOptions::new().response_header(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("https://app.example"),
    )
}

async fn middleware_and_route_headers_reach_the_101<N: TestRuntime>() {
    let router = Router::new().websocket_with("/ws", echo, cors().middleware(cookies));
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let mut raw = server.raw().await;
    raw.send(upgrade_request("/ws").as_bytes()).await;
    let head = raw.read_head().await;
    assert_eq!(
        status_line(head.as_bytes()),
        "HTTP/1.1 101 Switching Protocols"
    );
    let reply = Reply {
        head,
        body: Vec::new(),
    };
    assert_eq!(
        reply.values("set-cookie"),
        ["session=abc; HttpOnly", "theme=dark"]
    );
    assert!(reply.has("x-request-id", "r-1"), "{}", reply.head);
    assert!(
        reply.has("access-control-allow-origin", "https://app.example"),
        "{}",
        reply.head
    );
    assert!(reply.has("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    // Still a WebSocket after the extra headers.
    raw.send(&client_frame(0x1, b"hi")).await;
    assert_eq!(first_frame(&mut raw).await, b"hi");
}

async fn server_owned_headers_cannot_be_replaced<N: TestRuntime>() {
    let hijack = |ctx: &mut Context| {
        let headers = ctx.response_headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        headers.insert(
            header::SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_static("bogus"),
        );
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("bogus"),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("99"));
        headers.insert("x-fine", HeaderValue::from_static("yes"));
        Ok(())
    };
    let router = Router::new().websocket_with("/ws", echo, RouteOptions::new().middleware(hijack));
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let mut raw = server.raw().await;
    raw.send(upgrade_request("/ws").as_bytes()).await;
    let head = raw.read_head().await;
    let reply = Reply {
        head,
        body: Vec::new(),
    };
    assert_eq!(reply.values("connection"), ["Upgrade"], "{}", reply.head);
    assert_eq!(
        reply.values("sec-websocket-accept"),
        ["s3pPLMBiTxaQ9kYGzzhZRbK+xOo="]
    );
    assert!(reply.values("sec-websocket-protocol").is_empty());
    assert!(reply.values("content-length").is_empty());
    assert!(reply.has("x-fine", "yes"));
    // The http types refuse a header that would inject another line.
    assert!(HeaderValue::from_str("a\r\nx-injected: 1").is_err());
    assert!(http::HeaderName::from_bytes(b"x-a\r\nx-b").is_err());
}

async fn headers_reach_the_sse_200_and_plain_responses_and_rejections<N: TestRuntime>() {
    let refuse = |ctx: &mut Context| {
        if ctx.query("token") == Some("good") {
            return Ok(());
        }
        Err(IntoResponse::into_response((
            StatusCode::UNAUTHORIZED,
            "no",
        )))
    };
    let router = Router::new()
        .sse_with(
            "/events",
            |ctx: SseContext| async move { ctx.send_event("hello", "1").await },
            cors().middleware(cookies),
        )
        .get_with(
            "/page",
            |_ctx| async {
                let mut response = IntoResponse::into_response("page");
                response
                    .headers_mut()
                    .insert("x-request-id", HeaderValue::from_static("from-handler"));
                response
            },
            cors().middleware(cookies),
        )
        .websocket_with("/private", echo, cors().middleware(refuse));
    let server = start_server::<N>(router, ServerConfig::default()).await;

    let sse = SseClient::<N>::open_on(server.raw().await, "/events", &[]).await;
    assert_eq!(status_line(sse.head.as_bytes()), "HTTP/1.1 200 OK");
    let reply = Reply {
        head: sse.head.clone(),
        body: Vec::new(),
    };
    assert_eq!(
        reply.values("set-cookie"),
        ["session=abc; HttpOnly", "theme=dark"]
    );
    assert!(reply.has("access-control-allow-origin", "https://app.example"));
    assert!(reply.has("content-type", "text/event-stream"));

    let mut raw = server.raw().await;
    raw.send(get("/page").as_bytes()).await;
    let reply = read_reply(&mut raw, false).await;
    assert_eq!(reply.text(), "page");
    // The handler's own header wins over the middleware's.
    assert_eq!(reply.values("x-request-id"), ["from-handler"]);
    assert_eq!(reply.values("set-cookie").len(), 2);
    assert!(reply.has("access-control-allow-origin", "https://app.example"));

    let mut raw = server.raw().await;
    raw.send(upgrade_request("/private").as_bytes()).await;
    let refused = raw.read_to_end().await;
    let text = String::from_utf8_lossy(&refused);
    assert_eq!(status_line(&refused), "HTTP/1.1 401 Unauthorized");
    assert!(
        has_header(&text, "access-control-allow-origin", "https://app.example"),
        "{text}"
    );
}

async fn subprotocol_echo(_ctx: Context, conn: Connection) -> Result<(), Error> {
    let chosen = conn.subprotocol().unwrap_or("none").to_owned();
    conn.write(chosen).await
}

async fn subprotocols_are_chosen_per_route<N: TestRuntime>() {
    let router = Router::new()
        .websocket_with(
            "/chat",
            subprotocol_echo,
            RouteOptions::new().subprotocols(["chat.v2", "chat.v1"]),
        )
        .websocket_with(
            "/mqtt",
            subprotocol_echo,
            RouteOptions::new().subprotocols(["mqtt"]),
        )
        .websocket("/default", subprotocol_echo);
    let config = ServerConfig::default().subprotocols(vec!["chat.v1".to_owned()]);
    let server = start_server::<N>(router, config).await;
    for (path, offered, expected) in [
        ("/chat", "chat.v1, chat.v2, mqtt", Some("chat.v2")),
        ("/mqtt", "chat.v1, chat.v2, mqtt", Some("mqtt")),
        ("/default", "chat.v1, chat.v2, mqtt", Some("chat.v1")),
        ("/mqtt", "chat.v1", None),
    ] {
        let mut raw = server.raw().await;
        let request = upgrade_request(path).replace(
            "\r\n\r\n",
            &format!("\r\nSec-WebSocket-Protocol: {offered}\r\n\r\n"),
        );
        raw.send(request.as_bytes()).await;
        let head = raw.read_head().await;
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        let reply = Reply {
            head,
            body: Vec::new(),
        };
        let sent: Vec<String> = reply.values("sec-websocket-protocol");
        assert_eq!(sent.first().map(String::as_str), expected, "{path}");
        assert_eq!(
            first_frame(&mut raw).await,
            expected.unwrap_or("none").as_bytes(),
            "{path}"
        );
    }
}

async fn plain_requests_share_one_connection<N: TestRuntime>() {
    let server = start_server::<N>(plain_router(), ServerConfig::default()).await;
    let mut raw = server.raw().await;
    for (path, body) in [
        ("/", "the page"),
        ("/stats", "0 connections"),
        ("/asyncapi.json", "{}"),
        ("/nowhere", "not found"),
        ("/", "the page"),
    ] {
        raw.send(get(path).as_bytes()).await;
        let reply = read_reply(&mut raw, false).await;
        assert!(reply.has("connection", "keep-alive"), "{}", reply.head);
        assert_eq!(reply.text(), body, "{path}");
    }
}

async fn pipelined_requests_are_answered_in_order<N: TestRuntime>() {
    let router = plain_router().post("/echo", |_ctx, body: Bytes| async move {
        String::from_utf8_lossy(&body).into_owned()
    });
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let mut raw = server.raw().await;
    let mut requests = get("/").into_bytes();
    requests.extend(post("/echo", "Content-Length: 5\r\n", b"first"));
    requests.extend(get("/asyncapi.json").into_bytes());
    requests.extend(post(
        "/echo",
        "Transfer-Encoding: chunked\r\n",
        b"3\r\nsec\r\n3\r\nond\r\n0\r\n\r\n",
    ));
    requests.extend(get("/stats").into_bytes());
    raw.send(&requests).await;
    for body in ["the page", "first", "{}", "second", "0 connections"] {
        let reply = read_reply(&mut raw, false).await;
        assert_eq!(reply.status(), "HTTP/1.1 200 OK");
        assert_eq!(reply.text(), body);
    }
}

async fn an_upgrade_follows_plain_requests_on_one_connection<N: TestRuntime>() {
    let server = start_server::<N>(plain_router(), ServerConfig::default()).await;
    let mut raw = server.raw().await;
    raw.send(get("/").as_bytes()).await;
    assert_eq!(read_reply(&mut raw, false).await.text(), "the page");
    raw.send(get("/stats").as_bytes()).await;
    assert_eq!(read_reply(&mut raw, false).await.text(), "0 connections");
    // The upgrade and a first frame in one write.
    let mut bytes = upgrade_request("/ws").into_bytes();
    bytes.extend(client_frame(0x1, b"after two GETs"));
    raw.send(&bytes).await;
    let head = raw.read_head().await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert_eq!(first_frame(&mut raw).await, b"after two GETs");
    assert_eq!(server.handle.active_connections(), 1);
}

async fn connection_close_and_http_1_0_end_the_connection<N: TestRuntime>() {
    let server = start_server::<N>(plain_router(), ServerConfig::default()).await;
    for (request, keeps) in [
        (
            "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            false,
        ),
        ("GET / HTTP/1.0\r\n\r\n", false),
        ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        (
            "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Keep-Alive\r\n\r\n",
            true,
        ),
    ] {
        let mut raw = server.raw().await;
        raw.send(request.as_bytes()).await;
        let reply = read_reply(&mut raw, false).await;
        assert_eq!(reply.text(), "the page");
        let expected = if keeps { "keep-alive" } else { "close" };
        assert!(
            reply.has("connection", expected),
            "{request:?}: {}",
            reply.head
        );
        if keeps {
            raw.send(get("/").as_bytes()).await;
            assert_eq!(read_reply(&mut raw, false).await.text(), "the page");
        } else {
            assert!(
                closes_within(&mut raw, Duration::from_secs(2)).await,
                "{request:?}"
            );
        }
    }
    // Keep-alive off: every response closes.
    let config = ServerConfig::default().keep_alive_idle(Duration::ZERO);
    let server = start_server::<N>(plain_router(), config).await;
    let mut raw = server.raw().await;
    raw.send(get("/").as_bytes()).await;
    assert!(read_reply(&mut raw, false).await.has("connection", "close"));
    assert!(closes_within(&mut raw, Duration::from_secs(2)).await);
}

async fn requests_per_connection_are_limited<N: TestRuntime>() {
    let config = ServerConfig::default().max_requests_per_connection(3);
    let server = start_server::<N>(plain_router(), config).await;
    let mut raw = server.raw().await;
    // Four pipelined requests: three answered, the third with close.
    raw.send(get("/").repeat(4).as_bytes()).await;
    for expected in ["keep-alive", "keep-alive", "close"] {
        let reply = read_reply(&mut raw, false).await;
        assert_eq!(reply.text(), "the page");
        assert!(reply.has("connection", expected), "{}", reply.head);
    }
    assert!(closes_within(&mut raw, Duration::from_secs(2)).await);
}

async fn an_idle_kept_alive_connection_is_closed<N: TestRuntime>() {
    let config = ServerConfig::default().keep_alive_idle(Duration::from_millis(300));
    let server = start_server::<N>(plain_router(), config).await;
    let mut raw = server.raw().await;
    raw.send(get("/").as_bytes()).await;
    assert!(
        read_reply(&mut raw, false)
            .await
            .has("connection", "keep-alive")
    );
    let start = Instant::now();
    assert!(closes_within(&mut raw, Duration::from_secs(3)).await);
    let idle = start.elapsed();
    assert!(
        idle >= Duration::from_millis(250) && idle < Duration::from_secs(2),
        "closed after {idle:?}"
    );
    // A connection that starts a second request in time is served.
    let mut raw = server.raw().await;
    raw.send(get("/").as_bytes()).await;
    read_reply(&mut raw, false).await;
    tidings_tests::sleep::<N>(Duration::from_millis(100)).await;
    raw.send(get("/stats").as_bytes()).await;
    assert_eq!(read_reply(&mut raw, false).await.text(), "0 connections");
}

/// A POST route that answers with the body's length and text.
fn post_router() -> Router {
    Router::new().post("/publish/:room", |ctx: Context, body: Bytes| async move {
        format!(
            "{} {} {}",
            ctx.param("room").unwrap_or("-"),
            body.len(),
            String::from_utf8_lossy(&body)
        )
    })
}

async fn post_reads_content_length_and_chunked_bodies<N: TestRuntime>() {
    let server = start_server::<N>(post_router(), ServerConfig::default()).await;
    let mut raw = server.raw().await;
    raw.send(&post("/publish/lobby", "Content-Length: 5\r\n", b"hello"))
        .await;
    let reply = read_reply(&mut raw, false).await;
    assert_eq!(reply.text(), "lobby 5 hello");
    assert!(reply.has("connection", "keep-alive"));
    // Chunked, sent in pieces, with an extension and a trailer.
    raw.send(&post(
        "/publish/x",
        "Transfer-Encoding: chunked\r\n",
        b"4;a=b\r\nWiki",
    ))
    .await;
    tidings_tests::sleep::<N>(Duration::from_millis(20)).await;
    raw.send(b"\r\n5\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n")
        .await;
    assert_eq!(read_reply(&mut raw, false).await.text(), "x 9 Wikipedia");
    // An empty body.
    raw.send(&post("/publish/e", "Content-Length: 0\r\n", b""))
        .await;
    assert_eq!(read_reply(&mut raw, false).await.text(), "e 0 ");
    // Expect: 100-continue gets the interim response before the body is sent.
    raw.send(&post(
        "/publish/c",
        "Content-Length: 3\r\nExpect: 100-continue\r\n",
        b"",
    ))
    .await;
    let interim = raw.read_head().await;
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    raw.send(b"abc").await;
    assert_eq!(read_reply(&mut raw, false).await.text(), "c 3 abc");
}

async fn post_bodies_over_the_limit_get_413<N: TestRuntime>() {
    let config = ServerConfig::default().max_body_size(8);
    let server = start_server::<N>(post_router(), config).await;
    // At the limit: served.
    let mut raw = server.raw().await;
    raw.send(&post("/publish/a", "Content-Length: 8\r\n", b"12345678"))
        .await;
    assert_eq!(read_reply(&mut raw, false).await.text(), "a 8 12345678");
    // Content-Length beyond it: 413 at once, before the body, and closed.
    let mut raw = server.raw().await;
    raw.send(&post(
        "/publish/a",
        "Content-Length: 9\r\nExpect: 100-continue\r\n",
        b"",
    ))
    .await;
    let reply = read_reply(&mut raw, false).await;
    assert_eq!(reply.status(), "HTTP/1.1 413 Payload Too Large");
    assert!(reply.has("connection", "close"));
    assert!(closes_within(&mut raw, Duration::from_secs(2)).await);
    // Chunks beyond it: 413 as soon as the chunk size says so.
    let mut raw = server.raw().await;
    raw.send(&post(
        "/publish/a",
        "Transfer-Encoding: chunked\r\n",
        b"5\r\n12345\r\n4\r\n",
    ))
    .await;
    let reply = read_reply(&mut raw, false).await;
    assert_eq!(reply.status(), "HTTP/1.1 413 Payload Too Large");
}

async fn post_framing_errors_get_411_and_400<N: TestRuntime>() {
    let server = start_server::<N>(post_router(), ServerConfig::default()).await;
    for (extra, body, status) in [
        ("", &b""[..], "HTTP/1.1 411 Length Required"),
        (
            "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
            b"3\r\nabc\r\n0\r\n\r\n",
            "HTTP/1.1 400 Bad Request",
        ),
        (
            "Content-Length: 3\r\nContent-Length: 4\r\n",
            b"abcd",
            "HTTP/1.1 400 Bad Request",
        ),
        (
            "Transfer-Encoding: chunked\r\n",
            b"zz\r\n",
            "HTTP/1.1 400 Bad Request",
        ),
        (
            "Transfer-Encoding: gzip\r\n",
            b"",
            "HTTP/1.1 501 Not Implemented",
        ),
    ] {
        let mut raw = server.raw().await;
        raw.send(&post("/publish/a", extra, body)).await;
        let response = raw.read_to_end().await;
        assert_eq!(status_line(&response), status, "{extra:?}");
    }
}

async fn methods_are_routed_per_path<N: TestRuntime>() {
    let router = Router::new()
        .get("/items", |_ctx| async { "list" })
        .post("/items", |_ctx, body: Bytes| async move {
            (StatusCode::CREATED, format!("created {}", body.len()))
        })
        .post("/only-post", |_ctx, _body: Bytes| async { "posted" });
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let mut raw = server.raw().await;
    raw.send(get("/items").as_bytes()).await;
    assert_eq!(read_reply(&mut raw, false).await.text(), "list");
    raw.send(&post("/items", "Content-Length: 2\r\n", b"ab"))
        .await;
    let reply = read_reply(&mut raw, false).await;
    assert_eq!(reply.status(), "HTTP/1.1 201 Created");
    assert_eq!(reply.text(), "created 2");
    raw.send(get("/only-post").as_bytes()).await;
    let reply = read_reply(&mut raw, false).await;
    assert_eq!(reply.status(), "HTTP/1.1 405 Method Not Allowed");
    assert!(reply.has("allow", "POST"));
    // Still the same connection.
    raw.send(get("/items").as_bytes()).await;
    assert_eq!(read_reply(&mut raw, false).await.text(), "list");
}

async fn head_gets_the_length_without_the_body<N: TestRuntime>() {
    let server = start_server::<N>(plain_router(), ServerConfig::default()).await;
    let mut raw = server.raw().await;
    raw.send(b"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    let reply = read_reply(&mut raw, true).await;
    assert_eq!(reply.status(), "HTTP/1.1 200 OK");
    assert!(reply.has("content-length", "8"), "{}", reply.head);
    // The next response starts right after the head: no body was sent.
    raw.send(get("/asyncapi.json").as_bytes()).await;
    assert_eq!(read_reply(&mut raw, false).await.text(), "{}");
}

/// The spans and events logged that mention `needle`.
fn spans_with(needle: &str) -> Vec<String> {
    logged_spans()
        .into_iter()
        .filter(|span| span.contains(needle))
        .collect()
}

async fn connections_run_in_a_span_that_records_their_end<N: TestRuntime>() {
    capture_logs();
    // The three runtimes' tests run at once in this process: one route each.
    let runtime = std::any::type_name::<N>()
        .rsplit("::")
        .next()
        .unwrap_or("rt")
        .to_ascii_lowercase();
    let ws_route = format!("/span/{runtime}/{{room}}");
    let sse_route = format!("/span-events/{runtime}/{{room}}");
    let router = Router::new()
        .websocket(&ws_route, |ctx: Context, conn: Connection| async move {
            tracing::info!(room = ctx.param("room"), "websocket handler ran");
            let message = conn.read().await?;
            conn.write_message(&message).await?;
            conn.closed().await;
            Ok(())
        })
        .sse(&sse_route, |ctx: SseContext| async move {
            tracing::info!(room = ctx.param("room"), "sse handler ran");
            ctx.send_event("hello", "1").await
        });
    let server = start_server::<N>(router, ServerConfig::default()).await;

    let conn = client::<N>(
        &server.url(&format!("/span/{runtime}/lobby")),
        Default::default(),
    )
    .await;
    conn.write("ping").await.expect("write");
    assert_eq!(conn.read().await.expect("echo"), "ping".into());
    conn.close().await.expect("close");
    let _ = conn.closed().await;
    let route_field = format!("route={ws_route}");
    assert!(
        wait_until::<N>(Duration::from_secs(5), || spans_with(&route_field)
            .iter()
            .any(|span| span.contains("close_code=1000")))
        .await,
        "{:?}",
        spans_with(&route_field)
    );
    let span = spans_with(&route_field).remove(0);
    for field in [
        "connection ",
        "id=ws_",
        "peer=127.0.0.1:",
        "protocol=websocket",
        "close_code=1000",
        "end=",
    ] {
        assert!(span.contains(field), "{field:?} missing in {span}");
    }
    // The handler ran inside the span.
    let event = logged_events()
        .into_iter()
        .find(|event| event.contains("websocket handler ran") && event.contains(&route_field))
        .unwrap_or_else(|| panic!("no handler event in the span of {ws_route}"));
    assert!(
        event.contains("room=lobby") && event.contains(" in[connection id=ws_"),
        "{event}"
    );

    let mut sse = SseClient::<N>::open_on(
        server.raw().await,
        &format!("/span-events/{runtime}/hall"),
        &[],
    )
    .await;
    assert_eq!(sse.events_to_end().await.len(), 1);
    let route_field = format!("route={sse_route}");
    assert!(
        wait_until::<N>(Duration::from_secs(5), || spans_with(&route_field)
            .iter()
            .any(|span| span.contains("end=HandlerReturned")))
        .await,
        "{:?}",
        spans_with(&route_field)
    );
    let span = spans_with(&route_field).remove(0);
    assert!(
        span.contains("id=sse_") && span.contains("protocol=sse"),
        "{span}"
    );
    assert!(
        logged_events()
            .iter()
            .any(|event| event.contains("sse handler ran") && event.contains(&route_field)),
        "no handler event in the span of {sse_route}"
    );
}

async fn shutdown_closes_idle_kept_alive_connections_at_once<N: TestRuntime>() {
    let config = ServerConfig::default().keep_alive_idle(Duration::from_secs(30));
    let server = start_server::<N>(plain_router(), config).await;
    let mut raw = server.raw().await;
    raw.send(get("/").as_bytes()).await;
    assert!(
        read_reply(&mut raw, false)
            .await
            .has("connection", "keep-alive")
    );
    let started = Instant::now();
    assert!(server.handle.shutdown(Duration::from_secs(5)).await);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert!(closes_within(&mut raw, Duration::from_secs(2)).await);
}
