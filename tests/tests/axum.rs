//! tidings inside axum 0.8 and hyper 1 (tidings-axum), on tokio: the echo,
//! chat-room and SSE-replay cases of the cross-runtime suite through the
//! `WsUpgrade` / `SseRequest` extractors and through a tidings router
//! mounted as a tower service, one hub shared by both; middleware values
//! from tidings' layers and from axum's; refusals; tower-http layers
//! around tidings' routes; shutdown; and hyper without axum on tokio and
//! on smol.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;
use tidings_axum::hub::{Filter, Payload};
use tidings_axum::{
    Addrs, HyperIo, Message, ServerConfig, SseRequest, SseResponse, SseTopic, Tidings,
    TidingsRouter, WsUpgrade,
};
use tidings_framework::close::CloseCode;
use tidings_framework::server::{Authenticator, Context, SseContext};
use tidings_framework::sse::{DecodedEvent, Event};
use tidings_framework::{Connection, Error};
use tidings_tests::rooms::room_router;
use tidings_tests::{run_smol, run_tokio};
use tidings_tokio::{EventSource, EventSourceConfig, Tokio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a test waits for one message or event.
const WAIT: Duration = Duration::from_secs(5);

/// The app's state: the tidings server and the chat's event topic.
#[derive(Clone)]
struct App {
    tidings: Tidings,
    feed: SseTopic,
}

impl axum::extract::FromRef<App> for Tidings {
    fn from_ref(app: &App) -> Tidings {
        app.tidings.clone()
    }
}

/// Serves `app` on `127.0.0.1:0` (with the clients' addresses) until the
/// test's runtime stops.
async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A plain HTTP/1.1 request (`Connection: close`); the whole response.
async fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(WAIT, socket.read_to_string(&mut response))
        .await
        .expect("the response in time")
        .unwrap();
    response
}

/// The headers of a WebSocket upgrade request, with `extra`.
fn upgrade_headers<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    headers.extend_from_slice(extra);
    headers
}

async fn connect(addr: SocketAddr, path: &str) -> Connection {
    tokio::time::timeout(WAIT, tidings_tokio::connect(format!("ws://{addr}{path}")))
        .await
        .expect("connected in time")
        .unwrap_or_else(|error| panic!("connect {path}: {error}"))
}

async fn read(conn: &Connection) -> Message {
    tokio::time::timeout(WAIT, conn.read())
        .await
        .expect("a message in time")
        .unwrap()
}

async fn read_text(conn: &Connection) -> String {
    match read(conn).await {
        Message::Text(text) => text.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// The echo handler of an extractor route.
async fn echo(upgrade: WsUpgrade) -> impl IntoResponse {
    upgrade.on_upgrade(|conn| async move {
        loop {
            let message = conn.read().await?;
            conn.write_message(&message).await?;
        }
    })
}

/// The room chat of `tidings_tests::rooms` as an axum handler: join the
/// room, send the id, broadcast every text to the room's others.
async fn room(Path(room): Path<String>, upgrade: WsUpgrade) -> impl IntoResponse {
    // tidings' context has the route's parameters too (for its middleware).
    assert_eq!(upgrade.context().param("room"), Some(room.as_str()));
    assert_eq!(upgrade.context().route().pattern, "/ws/room/{room}");
    let hub = upgrade.hub().clone();
    upgrade.on_upgrade(move |conn| async move {
        conn.join(&room);
        conn.write(conn.id()).await?;
        loop {
            let Message::Text(text) = conn.read().await? else {
                continue;
            };
            hub.broadcast(
                Payload::text(text.as_str()),
                Filter::room(room.as_str()).except(conn.id()),
            );
        }
    })
}

/// The feed of the SSE replay case: subscribe first, say `hello`, forward.
async fn feed(State(app): State<App>, sse: SseRequest) -> SseResponse {
    let subscription = app.feed.subscribe(sse.last_event_id());
    sse.respond(move |ctx| async move {
        ctx.send_event("hello", "").await?;
        ctx.forward(subscription).await;
        Ok(())
    })
}

/// The same feed as a tidings route, added to `router`.
fn feed_route(topic: &SseTopic, router: TidingsRouter) -> TidingsRouter {
    let topic = topic.clone();
    router.sse("/native/feed", move |ctx: SseContext| {
        let subscription = topic.subscribe(ctx.last_event_id());
        async move {
            ctx.send_event("hello", "").await?;
            ctx.forward(subscription).await;
            Ok(())
        }
    })
}

/// An app with every kind of route on one `Tidings`: axum's `/health`,
/// the extractor routes `/ws/echo`, `/ws/room/{room}`, `/feed`, and the
/// tidings router (`/native/echo/*`, `/ws/:room`, `/other/:room`,
/// `/native/feed`) as the fallback service.
fn app(config: ServerConfig) -> (axum::Router, App) {
    let feed_topic = SseTopic::new(10);
    let router = feed_route(&feed_topic, room_router())
        .websocket("/native/echo/*rest", tidings_framework::server::echo);
    let state = App {
        tidings: Tidings::new(router, config, Tokio),
        feed: feed_topic,
    };
    let app = axum::Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/ws/echo", get(echo))
        .route("/ws/room/{room}", get(room))
        .route("/feed", get(feed))
        .fallback_service(state.tidings.service())
        .with_state(state.clone());
    (app, state)
}

async fn echo_case(addr: SocketAddr, path: &str) {
    let conn = connect(addr, path).await;
    conn.write("hello, axum").await.unwrap();
    assert_eq!(read(&conn).await, Message::from("hello, axum"));
    conn.write_binary([0u8, 1, 2, 255]).await.unwrap();
    assert_eq!(read(&conn).await, Message::from(vec![0u8, 1, 2, 255]));
    conn.write("").await.unwrap();
    assert_eq!(read(&conn).await, Message::from(""));
    // 1 MiB: many reads of the upgraded stream.
    let large: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    conn.write_binary(&large).await.unwrap();
    assert_eq!(read(&conn).await, Message::from(large));
    conn.close().await.unwrap();
    let closed = conn.close_info().expect("closed");
    assert!(closed.is_clean(), "{closed:?}");
    assert_eq!(closed.code(), CloseCode::NORMAL);
}

#[test]
fn echo_through_the_extractor_and_the_router_service() {
    run_tokio(async {
        let (app, state) = app(ServerConfig::default());
        let addr = serve(app).await;
        echo_case(addr, "/ws/echo").await;
        echo_case(addr, "/native/echo/anything").await;
        // axum's own route beside them.
        let health = http(addr, "GET", "/health", &[]).await;
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        assert!(health.ends_with("ok"), "{health}");
        // Both connections were in the one hub, each under its route.
        let stats = state.tidings.hub().stats();
        assert_eq!(stats.websocket.total, 2);
        assert!(stats.routes.contains_key("/ws/echo"), "{:?}", stats.routes);
        assert!(
            stats.routes.contains_key("/native/echo/*rest"),
            "{:?}",
            stats.routes
        );
    });
}

#[test]
fn chat_room_spans_the_extractor_and_the_router_service() {
    run_tokio(async {
        let (app, state) = app(ServerConfig::default());
        let addr = serve(app).await;
        // Room "a": two clients on the axum route, one on the tidings route
        // of the same hub; room "b" on its own.
        let ann = connect(addr, "/ws/room/a").await;
        let ann_id = read_text(&ann).await;
        let bob = connect(addr, "/ws/room/a").await;
        let _bob_id = read_text(&bob).await;
        let cat = connect(addr, "/ws/a").await;
        let _cat_id = read_text(&cat).await;
        let dan = connect(addr, "/ws/room/b").await;
        let _dan_id = read_text(&dan).await;
        assert_eq!(state.tidings.hub().members("a").len(), 3);
        assert_eq!(state.tidings.hub().rooms_of(&ann_id), ["a"]);

        ann.write("from ann").await.unwrap();
        assert_eq!(read_text(&bob).await, "from ann");
        assert_eq!(read_text(&cat).await, "from ann");
        cat.write("from cat").await.unwrap();
        assert_eq!(read_text(&ann).await, "from cat");
        assert_eq!(read_text(&bob).await, "from cat");
        // Not to the sender, not to the other room.
        dan.write("from dan").await.unwrap();
        let quiet = tokio::time::timeout(Duration::from_millis(200), ann.read()).await;
        assert!(quiet.is_err(), "ann got {quiet:?}");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), dan.read())
                .await
                .is_err()
        );

        // A connection that leaves leaves its rooms.
        bob.close().await.unwrap();
        let members = || state.tidings.hub().members("a").len();
        for _ in 0..100 {
            if members() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(members(), 2);
        assert_eq!(state.tidings.hub().stats().websocket.active, 3);
    });
}

async fn events(addr: SocketAddr, path: &str, last_event_id: Option<&str>) -> EventSource {
    let mut request = axum::http::Request::get(format!("http://{addr}{path}"));
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let request = request.body(()).unwrap();
    let config = EventSourceConfig::default().max_retries(Some(0));
    tokio::time::timeout(WAIT, tidings_tokio::connect_events_with(request, config))
        .await
        .expect("connected in time")
        .unwrap()
}

async fn next_event(source: &mut EventSource) -> DecodedEvent {
    tokio::time::timeout(WAIT, source.next())
        .await
        .expect("an event in time")
        .expect("the stream goes on")
        .unwrap()
}

fn decoded(event_type: &str, data: &str, id: &str) -> DecodedEvent {
    DecodedEvent {
        event_type: event_type.to_owned(),
        data: data.to_owned(),
        last_event_id: id.to_owned(),
    }
}

fn publish(topic: &SseTopic, n: usize) {
    let id = topic
        .publish(Event::new().event("news").data(format!("item {n}")))
        .unwrap();
    assert_eq!(id, n.to_string());
}

fn published(n: usize) -> DecodedEvent {
    decoded("news", &format!("item {n}"), &n.to_string())
}

async fn replay_case(addr: SocketAddr, path: &str, topic: &SseTopic, first: usize) {
    let hello = || decoded("hello", "", "");
    for n in first..first + 3 {
        publish(topic, n);
    }
    // A first visit: live events only.
    let mut fresh = events(addr, path, None).await;
    assert_eq!(next_event(&mut fresh).await, hello());
    // A reconnection after the first: the two others, then live.
    let mut client = events(addr, path, Some(&first.to_string())).await;
    assert_eq!(next_event(&mut client).await, hello());
    assert_eq!(next_event(&mut client).await, published(first + 1));
    assert_eq!(next_event(&mut client).await, published(first + 2));
    publish(topic, first + 3);
    assert_eq!(next_event(&mut client).await, published(first + 3));
    assert_eq!(next_event(&mut fresh).await, published(first + 3));
    let last = client.last_event_id().to_owned();
    drop(client);
    publish(topic, first + 4);
    let mut again = events(addr, path, Some(&last)).await;
    assert_eq!(next_event(&mut again).await, hello());
    assert_eq!(next_event(&mut again).await, published(first + 4));
    // An id no longer kept: the reset event with the newest id.
    let mut stale = events(addr, path, Some("no-such-id")).await;
    assert_eq!(next_event(&mut stale).await, hello());
    let newest = (first + 4).to_string();
    assert_eq!(next_event(&mut stale).await, decoded("reset", "", &newest));
}

#[test]
fn sse_replay_through_the_extractor_and_the_router_service() {
    run_tokio(async {
        let (app, state) = app(ServerConfig::default());
        let addr = serve(app).await;
        replay_case(addr, "/feed", &state.feed, 1).await;
        // The tidings route's topic is the same one: its ids go on.
        replay_case(addr, "/native/feed", &state.feed, 6).await;
        let stats = state.tidings.hub().stats();
        assert_eq!(stats.sse.total, 8);
        // The head: the event-stream type, no caching, no proxy buffering.
        let head = http(addr, "HEAD", "/feed", &[]).await;
        assert!(head.starts_with("HTTP/1.1 405"), "{head}");
    });
}

#[test]
fn sse_response_head_and_keep_alive() {
    run_tokio(async {
        let config = ServerConfig::default().sse(
            tidings_axum::SseConfig::default()
                .keep_alive(Some(Duration::from_millis(50)))
                .retry(Some(Duration::from_millis(1500))),
        );
        let (app, _state) = app(config);
        let addr = serve(app).await;
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(b"GET /feed HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        while !String::from_utf8_lossy(&seen).contains(": keep-alive\n\n") {
            let mut buf = [0u8; 1024];
            let n = tokio::time::timeout_at(deadline, socket.read(&mut buf))
                .await
                .expect("a keep-alive in time")
                .unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        let seen = String::from_utf8_lossy(&seen).to_lowercase();
        assert!(seen.starts_with("http/1.1 200"), "{seen}");
        assert!(seen.contains("content-type: text/event-stream"), "{seen}");
        assert!(seen.contains("cache-control: no-cache"), "{seen}");
        assert!(seen.contains("x-accel-buffering: no"), "{seen}");
        assert!(seen.contains("retry: 1500\n"), "{seen}");
    });
}

/// What the authentication layer attaches.
#[derive(Clone, Debug, PartialEq)]
struct User(String);

/// What an axum middleware attaches (a request extension).
#[derive(Clone, Debug, PartialEq)]
struct Tenant(&'static str);

#[test]
fn middleware_values_and_refusals() {
    run_tokio(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let router = TidingsRouter::new().layer(Authenticator::bearer(|token: &str| {
            token
                .strip_prefix("user-")
                .map(|name| User(name.to_owned()))
        }));
        let tidings = Tidings::new(router, ServerConfig::default().max_connections(1), Tokio);
        let report = move |upgrade: WsUpgrade| {
            let tx = tx.clone();
            async move {
                upgrade.on_upgrade(move |conn| async move {
                    let _ = tx.send((conn.get::<User>(), conn.get::<Tenant>()));
                    conn.closed().await;
                    Ok(())
                })
            }
        };
        let app = axum::Router::new()
            .route("/ws", get(report))
            .layer(axum::middleware::from_fn(
                |mut request: axum::extract::Request, next: axum::middleware::Next| async move {
                    request.extensions_mut().insert(Tenant("acme"));
                    next.run(request).await
                },
            ))
            .with_state(tidings.clone());
        let addr = serve(app).await;

        // Not an upgrade: 426, with the version tidings speaks.
        let plain = http(addr, "GET", "/ws", &[("authorization", "Bearer user-ann")]).await;
        assert!(plain.starts_with("HTTP/1.1 426"), "{plain}");
        assert!(
            plain.to_lowercase().contains("sec-websocket-version: 13"),
            "{plain}"
        );
        // The router's authentication layer: 401 without a token.
        let anonymous = http(addr, "GET", "/ws", &upgrade_headers(&[])).await;
        assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");

        // Both values reach the connection.
        let request = axum::http::Request::get(format!("ws://{addr}/ws"))
            .header("authorization", "Bearer user-ann")
            .body(())
            .unwrap();
        let conn = tidings_tokio::connect(request).await.unwrap();
        let (user, tenant) = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(user, Some(User("ann".into())));
        assert_eq!(tenant, Some(Tenant("acme")));

        // max_connections(1): the second gets 503 while the first is open.
        let auth = [("authorization", "Bearer user-bob")];
        let busy = http(addr, "GET", "/ws", &upgrade_headers(&auth)).await;
        assert!(busy.starts_with("HTTP/1.1 503"), "{busy}");
        let rejected = tidings.hub().stats().handshakes_rejected;
        assert_eq!(rejected.get("401 Unauthorized"), Some(&1), "{rejected:?}");
        assert_eq!(
            rejected.get("503 Service Unavailable"),
            Some(&1),
            "{rejected:?}"
        );
        assert_eq!(
            rejected.get("426 Upgrade Required"),
            Some(&1),
            "{rejected:?}"
        );
        drop(conn);
    });
}

/// The lowercased head of the answer to a WebSocket upgrade of `path`
/// with the `extra` header lines.
async fn upgrade_head(addr: SocketAddr, path: &str, extra: &str) -> String {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        let n = tokio::time::timeout(WAIT, socket.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 1, "closed: {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).to_lowercase()
}

#[test]
fn deflate_and_subprotocol_are_negotiated_in_the_101() {
    run_tokio(async {
        let websocket = tidings_framework::ws::Config::default()
            .deflate(Some(tidings_framework::deflate::DeflateConfig::default()));
        let config = ServerConfig::default()
            .websocket(websocket)
            .subprotocols(vec!["chat.v1".to_owned()]);
        let tidings = Tidings::new(TidingsRouter::new(), config, Tokio);
        let app = axum::Router::new()
            .route("/ws/echo", get(echo))
            .with_state(tidings);
        let addr = serve(app).await;
        let head = upgrade_head(
            addr,
            "/ws/echo",
            "Sec-WebSocket-Protocol: chat.v2, chat.v1\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
        )
        .await;
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(
            head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
            "{head}"
        );
        assert!(head.contains("sec-websocket-protocol: chat.v1"), "{head}");
        assert!(
            head.contains("sec-websocket-extensions: permessage-deflate"),
            "{head}"
        );
    });
}

/// A route's own subprotocols (`RouteOptions::subprotocols`) hold in the
/// router service as in tidings' own server, over the server's list.
#[test]
fn a_routes_subprotocols_hold_in_the_router_service() {
    run_tokio(async {
        let config = ServerConfig::default().subprotocols(vec!["chat.v1".to_owned()]);
        let router = TidingsRouter::new().websocket_with(
            "/ws/v2",
            tidings_framework::server::echo,
            tidings_framework::server::RouteOptions::new().subprotocols(["chat.v2"]),
        );
        let tidings = Tidings::new(router, config, Tokio);
        let app = axum::Router::new().fallback_service(tidings.service());
        let addr = serve(app).await;
        let head = upgrade_head(
            addr,
            "/ws/v2",
            "Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n",
        )
        .await;
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(head.contains("sec-websocket-protocol: chat.v2"), "{head}");
    });
}

#[test]
fn tower_layers_wrap_the_router_service() {
    use tower::ServiceBuilder;
    use tower_http::cors::CorsLayer;
    use tower_http::trace::TraceLayer;

    run_tokio(async {
        let tidings = Tidings::new(
            TidingsRouter::new().websocket("/ws", tidings_framework::server::echo),
            ServerConfig::default(),
            Tokio,
        );
        let layered = ServiceBuilder::new()
            .layer(TraceLayer::new_for_http())
            .layer(CorsLayer::permissive())
            .service(tidings.service());
        let app = axum::Router::new().route_service("/ws", layered);
        let addr = serve(app).await;
        // The WebSocket route works through both layers.
        let conn = connect(addr, "/ws").await;
        conn.write("through the layers").await.unwrap();
        assert_eq!(read_text(&conn).await, "through the layers");
        conn.close().await.unwrap();
        // The CORS layer answers the preflight itself.
        let preflight = http(
            addr,
            "OPTIONS",
            "/ws",
            &[
                ("Origin", "https://example.com"),
                ("Access-Control-Request-Method", "GET"),
            ],
        )
        .await
        .to_lowercase();
        assert!(preflight.starts_with("http/1.1 200"), "{preflight}");
        assert!(
            preflight.contains("access-control-allow-origin: *"),
            "{preflight}"
        );
    });
}

#[test]
fn shutdown_closes_connections_with_1001_and_refuses_new_ones() {
    run_tokio(async {
        let (app, state) = app(ServerConfig::default());
        let addr = serve(app).await;
        let extractor = connect(addr, "/ws/echo").await;
        let routed = connect(addr, "/native/echo/x").await;
        let mut stream = events(addr, "/feed", None).await;
        assert_eq!(next_event(&mut stream).await, decoded("hello", "", ""));
        assert!(state.tidings.shutdown(WAIT).await, "drained in time");
        for conn in [&extractor, &routed] {
            let error = tokio::time::timeout(WAIT, conn.read()).await.unwrap();
            assert!(error.is_err(), "{error:?}");
            let closed = conn.close_info().expect("closed");
            assert_eq!(closed.code(), CloseCode::GOING_AWAY);
        }
        let after = http(addr, "GET", "/ws/echo", &upgrade_headers(&[])).await;
        assert!(after.starts_with("HTTP/1.1 503"), "{after}");
        assert_eq!(state.tidings.active_connections(), 0);
        assert_eq!(state.tidings.active_sse_connections(), 0);
    });
}

/// hyper's HTTP/1 server without axum, serving `tidings` on `listener`.
async fn hyper_tokio(tidings: Tidings, listener: tokio::net::TcpListener) {
    use hyper::server::conn::http1;
    use hyper_util::rt::TokioIo;
    loop {
        let (socket, remote) = listener.accept().await.unwrap();
        let addrs = Addrs::new(Some(remote), socket.local_addr().ok());
        let service = tidings.service().with_addrs(addrs);
        let connection = http1::Builder::new().serve_connection(TokioIo::new(socket), service);
        tokio::spawn(connection.with_upgrades());
    }
}

/// A route that says the client's address, then echoes.
async fn whoami(ctx: Context, conn: Connection) -> Result<(), Error> {
    let remote = ctx.remote_addr().map(|addr| addr.to_string());
    conn.write(remote.unwrap_or_default()).await?;
    tidings_framework::server::echo(ctx, conn).await
}

#[test]
fn hyper_without_axum_on_tokio() {
    run_tokio(async {
        let tidings = Tidings::new(
            TidingsRouter::new().websocket("/ws", whoami),
            ServerConfig::default(),
            Tokio,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(hyper_tokio(tidings.clone(), listener));
        let conn = connect(addr, "/ws").await;
        let remote = read_text(&conn).await;
        assert!(remote.starts_with("127.0.0.1:"), "{remote}");
        conn.write("over hyper").await.unwrap();
        assert_eq!(read_text(&conn).await, "over hyper");
        conn.close().await.unwrap();
        assert_eq!(tidings.hub().stats().websocket.total, 1);
    });
}

#[test]
fn hyper_without_axum_on_smol() {
    use hyper::server::conn::http1;
    use tidings_smol::Smol;

    run_smol(async {
        let topic = SseTopic::new(10);
        let router = feed_route(&topic, TidingsRouter::new().websocket("/ws", whoami));
        let tidings = Tidings::new(router, ServerConfig::default(), Smol);
        let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = tidings.clone();
        smol::spawn(async move {
            loop {
                let (socket, remote) = listener.accept().await.unwrap();
                let service = serving.service().with_addrs(Addrs::new(Some(remote), None));
                let connection =
                    http1::Builder::new().serve_connection(HyperIo::new(socket), service);
                smol::spawn(connection.with_upgrades()).detach();
            }
        })
        .detach();

        let conn = tidings_smol::connect(format!("ws://{addr}/ws"))
            .await
            .unwrap();
        let Ok(Message::Text(remote)) = conn.read().await else {
            panic!("no address");
        };
        assert!(remote.starts_with("127.0.0.1:"), "{remote}");
        conn.write("over hyper on smol").await.unwrap();
        assert_eq!(
            conn.read().await.unwrap(),
            Message::from("over hyper on smol")
        );
        conn.close().await.unwrap();

        publish(&topic, 1);
        publish(&topic, 2);
        let request = axum::http::Request::get(format!("http://{addr}/native/feed"))
            .header("last-event-id", "1")
            .body(())
            .unwrap();
        let config = EventSourceConfig::default().max_retries(Some(0));
        let mut source = tidings_smol::connect_events_with(request, config)
            .await
            .unwrap();
        let mut next = async || source.next().await.unwrap().unwrap();
        assert_eq!(next().await, decoded("hello", "", ""));
        assert_eq!(next().await, published(2));
    });
}
