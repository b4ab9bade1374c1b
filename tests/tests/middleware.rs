//! Middleware around streaming routes on every runtime: the logging event
//! (captured by a small `tracing` subscriber), rate limiting (429 with
//! `Retry-After` after the burst, recovery after refill), authentication
//! (401 without or with a bad credential, the user's value read by the
//! WebSocket and SSE handlers), `RouteOptions::auth` enforced, an
//! unknown scheme refused when the server starts, and asynchronous
//! `before` hooks (awaiting a timer, a lookup over a channel, and one that
//! never finishes, cut off by the handshake timeout).

// `Middleware::before` returns `Result<(), Response>`, a large `Err`.
#![allow(clippy::result_large_err)]

use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tidings_framework::server::middleware::{Before, async_before};
use tidings_framework::server::{
    Authenticator, Context, IntoResponse, Logging, Middleware, RateLimit, RouteOptions,
    RouterError, SseContext,
};
use tidings_tests::{
    Connection, Error, Message, RawClient, Router, ServerConfig, SseClient, TestRuntime,
    all_runtimes, channel, client, has_header, sleep, start_server, status_line, upgrade_request,
    wait_until,
};

all_runtimes!(
    logging_reports_the_end_of_a_connection_and_rejections,
    rate_limit_answers_429_after_the_burst_then_recovers,
    bearer_auth_rejects_missing_and_bad_tokens,
    auth_values_reach_the_websocket_handler,
    query_auth_values_reach_the_sse_handler,
    route_requiring_an_unknown_scheme_is_refused_at_start,
    middleware_after_hook_sees_the_outcome,
    before_awaits_a_timer,
    before_awaits_a_lookup_over_a_channel,
    a_before_that_never_finishes_is_bounded_by_the_handshake_timeout,
    async_authenticator_awaits_its_lookup,
);

// --- a tracing subscriber that keeps the access events as text -----------

static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        let _ = write!(self.0, "{}={} ", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == tidings_framework::server::middleware::ACCESS_TARGET
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(format!("level={} ", event.metadata().level()));
        event.record(&mut fields);
        EVENTS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The captured access events that mention `needle`. Server tasks run on
/// other threads, so the subscriber is the process-wide default.
fn events_with(needle: &str) -> Vec<String> {
    static INSTALL: OnceLock<()> = OnceLock::new();
    INSTALL.get_or_init(|| {
        tracing::subscriber::set_global_default(Capture).expect("the only global subscriber");
    });
    EVENTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|event| event.contains(needle))
        .cloned()
        .collect()
}

/// A path unique to this test and runtime (tests of the three runtimes run
/// at once in this process and share the captured events).
fn unique_path<N>(prefix: &str) -> String {
    let runtime = std::any::type_name::<N>()
        .rsplit("::")
        .next()
        .unwrap_or("rt");
    format!("{prefix}/{}", runtime.to_ascii_lowercase())
}

async fn echo(_ctx: Context, conn: Connection) -> Result<(), Error> {
    loop {
        let message = conn.read().await?;
        conn.write_message(&message).await?;
    }
}

async fn logging_reports_the_end_of_a_connection_and_rejections<N: TestRuntime>() {
    let _ = events_with("");
    let router = Router::new()
        .layer(Logging::new())
        .authenticator(
            "bearer",
            Authenticator::bearer(|token| (token == "good").then_some(())),
        )
        .websocket_with(
            "/ws/log/:runtime",
            echo,
            RouteOptions::new().name("echo-log").tags(["test", "log"]),
        )
        .websocket_with(
            "/ws/private/:runtime",
            echo,
            RouteOptions::new().auth("bearer"),
        );
    let server = start_server::<N>(router, ServerConfig::default()).await;

    let path = unique_path::<N>("/ws/log");
    let conn = client::<N>(&server.url(&path), Default::default()).await;
    conn.write("hello").await.expect("write");
    assert_eq!(
        conn.read().await.expect("echo"),
        Message::Text("hello".into())
    );
    conn.close().await.expect("close");
    let _ = conn.closed().await;
    let needle = format!("path={path} ");
    assert!(
        wait_until::<N>(Duration::from_secs(5), || !events_with(&needle).is_empty()).await,
        "no access event for {path}"
    );
    let logged = events_with(&needle).remove(0);
    for field in [
        "level=INFO",
        "protocol=websocket",
        "route=/ws/log/:runtime",
        "name=echo-log",
        "tags=test,log",
        "close_code=1000",
        "message=connection closed",
        "duration_ms=",
        "remote=127.0.0.1:",
    ] {
        assert!(logged.contains(field), "{field:?} missing in {logged}");
    }

    // A rejection by a later middleware (here the route's auth) is logged too.
    let path = unique_path::<N>("/ws/private");
    let mut raw = RawClient::<N>::connect(server.addr).await;
    raw.send(upgrade_request(&path).as_bytes()).await;
    assert!(raw.read_head().await.starts_with("HTTP/1.1 401 "));
    let needle = format!("path={path} ");
    assert!(
        wait_until::<N>(Duration::from_secs(5), || !events_with(&needle).is_empty()).await,
        "no access event for the rejection of {path}"
    );
    let logged = events_with(&needle).remove(0);
    assert!(
        logged.contains("level=WARN") && logged.contains("status=401"),
        "{logged}"
    );
}

/// The status line and head of the answer to a WebSocket upgrade request
/// for `path` with `extra` header lines.
async fn upgrade_head<N: TestRuntime>(
    addr: std::net::SocketAddr,
    path: &str,
    extra: &str,
) -> String {
    let mut raw = RawClient::<N>::connect(addr).await;
    let mut request = upgrade_request(path);
    if !extra.is_empty() {
        // Before the blank line that ends the head.
        request.truncate(request.len() - 2);
        request.push_str(&format!("{extra}\r\n\r\n"));
    }
    raw.send(request.as_bytes()).await;
    raw.read_head().await
}

async fn rate_limit_answers_429_after_the_burst_then_recovers<N: TestRuntime>() {
    // 5 tokens per second (one every 200 ms), bursts of 2.
    let router = Router::new()
        .layer(RateLimit::new(5.0, 2))
        .websocket("/ws", echo);
    let server = start_server::<N>(router, ServerConfig::default()).await;
    for _ in 0..2 {
        let head = upgrade_head::<N>(server.addr, "/ws", "").await;
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    }
    let head = upgrade_head::<N>(server.addr, "/ws", "").await;
    assert_eq!(
        status_line(head.as_bytes()),
        "HTTP/1.1 429 Too Many Requests"
    );
    assert!(has_header(&head, "retry-after", "1"), "{head}");
    // One token is back after 200 ms.
    sleep::<N>(Duration::from_millis(250)).await;
    let head = upgrade_head::<N>(server.addr, "/ws", "").await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let head = upgrade_head::<N>(server.addr, "/ws", "").await;
    assert!(head.starts_with("HTTP/1.1 429 "), "{head}");
}

#[derive(Clone, Debug, PartialEq)]
struct UserId(u64);

fn users(token: &str) -> Option<UserId> {
    match token {
        "token-ann" => Some(UserId(1)),
        "token-bob" => Some(UserId(2)),
        _ => None,
    }
}

async fn whoami(_ctx: Context, conn: Connection) -> Result<(), Error> {
    let user = conn.get::<UserId>().map_or(0, |user| user.0);
    conn.write(format!("user {user}")).await
}

fn auth_router() -> Router {
    Router::new()
        .authenticator("bearer", Authenticator::bearer(users))
        .authenticator("cookie", Authenticator::cookie("session", users))
        .authenticator("query", Authenticator::query("token", users))
        .websocket_with("/ws/me", whoami, RouteOptions::new().auth("bearer"))
        .websocket_with(
            "/ws/browser",
            whoami,
            RouteOptions::new().auth("cookie").auth("query"),
        )
        .websocket("/ws/open", whoami)
        .sse_with(
            "/events/me",
            |ctx: SseContext| async move {
                let user = ctx.get::<UserId>().map_or(0, |user| user.0);
                ctx.send_event("user", user.to_string()).await
            },
            RouteOptions::new().auth("query"),
        )
}

async fn bearer_auth_rejects_missing_and_bad_tokens<N: TestRuntime>() {
    let server = start_server::<N>(auth_router(), ServerConfig::default()).await;
    let head = upgrade_head::<N>(server.addr, "/ws/me", "").await;
    assert_eq!(status_line(head.as_bytes()), "HTTP/1.1 401 Unauthorized");
    assert!(
        has_header(&head, "www-authenticate", "Bearer realm=\"tidings\""),
        "{head}"
    );
    let head = upgrade_head::<N>(server.addr, "/ws/me", "Authorization: Bearer nope").await;
    assert!(head.starts_with("HTTP/1.1 401 "), "{head}");
    assert!(
        has_header(
            &head,
            "www-authenticate",
            "Bearer realm=\"tidings\", error=\"invalid_token\""
        ),
        "{head}"
    );
    // The scheme name is case-insensitive.
    let head = upgrade_head::<N>(server.addr, "/ws/me", "authorization: bearer token-ann").await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    // Another scheme's credential does not count for a bearer route.
    let head = upgrade_head::<N>(server.addr, "/ws/me?token=token-ann", "").await;
    assert!(head.starts_with("HTTP/1.1 401 "), "{head}");
    let head = upgrade_head::<N>(server.addr, "/ws/browser", "Cookie: session=bad").await;
    assert!(head.starts_with("HTTP/1.1 401 "), "{head}");
    // Routes without `auth` are open.
    let head = upgrade_head::<N>(server.addr, "/ws/open", "").await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
}

async fn auth_values_reach_the_websocket_handler<N: TestRuntime>() {
    let server = start_server::<N>(auth_router(), ServerConfig::default()).await;
    let config = tidings_framework::client::ClientConfig::default().header(
        tidings_framework::http::header::AUTHORIZATION,
        tidings_framework::http::HeaderValue::from_static("Bearer token-ann"),
    );
    let conn = client::<N>(&server.url("/ws/me"), config).await;
    assert_eq!(
        conn.read().await.expect("greeting"),
        Message::Text("user 1".into())
    );

    let config = tidings_framework::client::ClientConfig::default().header(
        tidings_framework::http::header::COOKIE,
        tidings_framework::http::HeaderValue::from_static("theme=dark; session=token-bob"),
    );
    let conn = client::<N>(&server.url("/ws/browser"), config).await;
    assert_eq!(
        conn.read().await.expect("greeting"),
        Message::Text("user 2".into())
    );
    // The route's second scheme (query) is enough.
    let conn = client::<N>(
        &server.url("/ws/browser?token=token-ann"),
        Default::default(),
    )
    .await;
    assert_eq!(
        conn.read().await.expect("greeting"),
        Message::Text("user 1".into())
    );
}

async fn query_auth_values_reach_the_sse_handler<N: TestRuntime>() {
    let server = start_server::<N>(auth_router(), ServerConfig::default()).await;
    let mut denied = SseClient::<N>::open(server.addr, "/events/me?token=forged", &[]).await;
    assert!(denied.head.starts_with("HTTP/1.1 401 "), "{}", denied.head);
    let mut sse = SseClient::<N>::open(server.addr, "/events/me?token=token-bob", &[]).await;
    assert!(sse.head.starts_with("HTTP/1.1 200 "), "{}", sse.head);
    let event = sse.next_event().await.expect("one event");
    assert_eq!(
        (event.event_type.as_str(), event.data.as_str()),
        ("user", "2")
    );
    let _ = denied.events_to_end().await;
}

async fn route_requiring_an_unknown_scheme_is_refused_at_start<N: TestRuntime>() {
    let router = Router::new()
        .authenticator("bearer", Authenticator::bearer(users))
        .websocket_with("/ws", whoami, RouteOptions::new().auth("jwt"));
    assert_eq!(
        router.validate(),
        Err(RouterError::UnknownAuthScheme {
            route: "/ws".to_owned(),
            scheme: "jwt".to_owned()
        })
    );
    let error = match tidings_framework::server::Server::<N>::bind_with(
        "127.0.0.1:0",
        router,
        ServerConfig::default(),
    )
    .await
    {
        Ok(_) => panic!("a route requiring an unknown scheme must not start"),
        Err(error) => error,
    };
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("\"jwt\""), "{error}");
}

/// A middleware that records the outcomes its `after` hook is given.
struct Recorder(std::sync::Arc<Mutex<Vec<String>>>);

impl tidings_framework::server::Middleware for Recorder {
    fn before(&self, ctx: &mut Context) -> Result<(), tidings_framework::server::Response> {
        ctx.set(UserId(9));
        Ok(())
    }

    fn after(&self, ctx: &Context, outcome: &tidings_framework::server::middleware::Outcome) {
        let end = match &outcome.end {
            tidings_framework::server::middleware::End::Closed(closed) => {
                format!("closed {}", u16::from(closed.code()))
            }
            other => format!("{other:?}"),
        };
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!(
                "{} {} {}",
                outcome.protocol.as_str(),
                ctx.path(),
                end
            ));
    }
}

async fn middleware_after_hook_sees_the_outcome<N: TestRuntime>() {
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    let router = Router::new()
        .layer(Recorder(seen.clone()))
        .websocket_with(
            "/ws",
            whoami,
            RouteOptions::new().layer(RateLimit::new(0.001, 1)),
        )
        .sse("/events", |ctx: SseContext| async move {
            ctx.send_event("user", ctx.get::<UserId>().map_or(0, |u| u.0).to_string())
                .await
        })
        .get("/page", |_ctx: Context| async { "page" });
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let mut sse = SseClient::<N>::open(server.addr, "/events", &[]).await;
    let events = sse.events_to_end().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data, "9");
    let mut page = RawClient::<N>::connect(server.addr).await;
    page.send(b"GET /page HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(page.read_head().await.starts_with("HTTP/1.1 200 "));
    let conn = client::<N>(&server.url("/ws"), Default::default()).await;
    // Values set by a layer reach the handler too.
    assert_eq!(
        conn.read().await.expect("greeting"),
        Message::Text("user 9".into())
    );
    let _ = conn.closed().await;
    let head = upgrade_head::<N>(server.addr, "/ws", "").await;
    assert!(head.starts_with("HTTP/1.1 429 "), "{head}");
    // In either order: the client may see its close before the server's
    // task has finished.
    let expected = [
        "http /page Responded(200)",
        "sse /events SseEnded(HandlerReturned)",
        "websocket /ws Rejected(429)",
        "websocket /ws closed 1000",
    ];
    assert!(
        wait_until::<N>(Duration::from_secs(5), || {
            let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
            seen.sort();
            seen == expected
        })
        .await,
        "after hooks saw {:?}",
        seen.lock().unwrap_or_else(|p| p.into_inner())
    );
}

/// A middleware whose `before` awaits the runtime's timer (a slow lookup)
/// before attaching the user.
async fn before_awaits_a_timer<N: TestRuntime>() {
    let router = Router::new().websocket_with(
        "/ws",
        whoami,
        RouteOptions::new().middleware_async(|ctx: &mut Context| {
            Before::new(async move {
                sleep::<N>(Duration::from_millis(150)).await;
                ctx.set(UserId(42));
                Ok(())
            })
        }),
    );
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let started = std::time::Instant::now();
    let conn = client::<N>(&server.url("/ws"), Default::default()).await;
    assert!(
        started.elapsed() >= Duration::from_millis(140),
        "upgraded after {:?}",
        started.elapsed()
    );
    assert_eq!(
        conn.read().await.expect("greeting"),
        Message::Text("user 42".into())
    );
}

/// A lookup served by another task over a channel (a database or JWKS
/// client): the middleware sends the token and awaits the answer.
struct RemoteUsers {
    lookups: channel::Sender<(String, channel::Sender<Option<UserId>>)>,
}

impl Middleware for RemoteUsers {
    fn before_async<'a>(&'a self, ctx: &'a mut Context) -> Before<'a> {
        Before::new(async move {
            let token = ctx.query("token").unwrap_or_default().to_owned();
            let (reply, answer) = channel::bounded(1);
            let user = match self.lookups.send((token, reply)).await {
                Ok(()) => answer.recv().await.ok().flatten(),
                Err(_) => None,
            };
            match user {
                Some(user) => {
                    ctx.set(user);
                    Ok(())
                }
                None => Err(IntoResponse::into_response((
                    http::StatusCode::UNAUTHORIZED,
                    "unknown token",
                ))),
            }
        })
    }
}

async fn before_awaits_a_lookup_over_a_channel<N: TestRuntime>() {
    let (lookups, requests) = channel::bounded::<(String, channel::Sender<Option<UserId>>)>(8);
    N::default().spawn(async move {
        while let Ok((token, reply)) = requests.recv().await {
            sleep::<N>(Duration::from_millis(20)).await;
            let _ = reply.send(users(&token)).await;
        }
    });
    let router = Router::new().layer(Logging::new()).websocket_with(
        "/ws",
        whoami,
        RouteOptions::new().layer(RemoteUsers { lookups }),
    );
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let conn = client::<N>(&server.url("/ws?token=token-bob"), Default::default()).await;
    assert_eq!(
        conn.read().await.expect("greeting"),
        Message::Text("user 2".into())
    );
    let head = upgrade_head::<N>(server.addr, "/ws?token=nobody", "").await;
    assert_eq!(status_line(head.as_bytes()), "HTTP/1.1 401 Unauthorized");
}

async fn a_before_that_never_finishes_is_bounded_by_the_handshake_timeout<N: TestRuntime>() {
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    let router = Router::new()
        .layer(Recorder(seen.clone()))
        .layer(async_before(|_ctx: &mut Context| {
            Before::new(std::future::pending())
        }))
        .websocket("/ws", whoami);
    let config = ServerConfig::default().handshake_timeout(Duration::from_millis(300));
    let server = start_server::<N>(router, config).await;
    let started = std::time::Instant::now();
    let mut raw = RawClient::<N>::connect(server.addr).await;
    raw.send(upgrade_request("/ws").as_bytes()).await;
    let response = raw.read_to_end().await;
    let elapsed = started.elapsed();
    assert_eq!(status_line(&response), "HTTP/1.1 503 Service Unavailable");
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(2),
        "answered after {elapsed:?}"
    );
    assert!(
        wait_until::<N>(Duration::from_secs(2), || seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|end| end == "websocket /ws Rejected(503)"))
        .await,
        "{:?}",
        seen.lock().unwrap_or_else(|p| p.into_inner())
    );
    assert_eq!(server.handle.active_connections(), 0);
}

async fn async_authenticator_awaits_its_lookup<N: TestRuntime>() {
    let router = Router::new()
        .authenticator(
            "bearer",
            Authenticator::bearer_async(|token: String| async move {
                sleep::<N>(Duration::from_millis(30)).await;
                users(&token)
            }),
        )
        .websocket_with("/ws/me", whoami, RouteOptions::new().auth("bearer"));
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let head = upgrade_head::<N>(server.addr, "/ws/me", "Authorization: Bearer nope").await;
    assert_eq!(status_line(head.as_bytes()), "HTTP/1.1 401 Unauthorized");
    assert!(
        has_header(
            &head,
            "www-authenticate",
            "Bearer realm=\"tidings\", error=\"invalid_token\""
        ),
        "{head}"
    );
    let head = upgrade_head::<N>(server.addr, "/ws/me", "").await;
    assert_eq!(status_line(head.as_bytes()), "HTTP/1.1 401 Unauthorized");
    let mut raw = RawClient::<N>::connect(server.addr).await;
    let request = upgrade_request("/ws/me")
        .replace("\r\n\r\n", "\r\nAuthorization: Bearer token-ann\r\n\r\n");
    raw.send(request.as_bytes()).await;
    assert!(raw.read_head().await.starts_with("HTTP/1.1 101 "));
    let mut greeting = std::mem::take(&mut raw.buffered);
    while greeting.len() < 2 + "user 1".len() {
        greeting.extend(raw.read_some().await);
    }
    assert_eq!(&greeting[2..2 + "user 1".len()], b"user 1");
}
