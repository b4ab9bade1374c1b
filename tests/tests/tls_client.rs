//! The clients over TLS and with `http::Request`s, on all three runtimes:
//! a `wss://` echo and an `https://` event stream against a TLS front
//! ([`tidings_tests::tls_server`]) with certificates from
//! [`tidings_tests::certs`]; each certificate error named in the error's
//! text; ALPN `http/1.1`; the connect timeout; headers, an `Origin` and
//! subprotocols from a `Request`.

use std::time::{Duration, Instant};

use tidings_framework::client::{ClientConfig, IntoClientRequest};
use tidings_framework::dial::TlsErrorKind;
use tidings_framework::event_source::{EventSource, EventSourceConfig, EventSourceError};
use tidings_framework::http::{HeaderValue, Request, header};
use tidings_framework::server::{Context, SseContext, echo};
use tidings_framework::sse::Event;
use tidings_framework::tls::client_config;
use tidings_tests::certs::{TestCa, TestCert};
use tidings_tests::tls_server::{TlsTestServer, start_tls_server};
use tidings_tests::{
    Connection, Error, Message, Router, ServerConfig, TestRuntime, all_runtimes, start_server,
    timeout,
};

fn router() -> Router {
    Router::new()
        .websocket("/ws", echo)
        .sse("/events", |ctx: SseContext| async move {
            ctx.send(Event::new().id("1").data("over TLS")).await?;
            ctx.send_event("done", "bye").await
        })
}

/// A client configuration trusting `ca` only.
fn trusting(ca: &TestCa) -> ClientConfig {
    ClientConfig::default().tls(client_config(ca.root_store()))
}

async fn tls_server<N: TestRuntime>(cert: &TestCert) -> TlsTestServer<N> {
    start_tls_server::<N>(router(), cert).await
}

async fn wss_echo_and_alpn<N: TestRuntime>() {
    let ca = TestCa::new();
    let server = tls_server::<N>(&ca.leaf()).await;
    let conn = tidings_framework::client::connect::<N>(server.wss_url("/ws"), trusting(&ca))
        .await
        .expect("wss connect");
    conn.write("hello over TLS").await.unwrap();
    assert_eq!(conn.read().await.unwrap(), Message::from("hello over TLS"));
    let alpn = server.alpn.recv().await.expect("a TLS handshake");
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    // By name too: the leaf is valid for `localhost`.
    let url = format!("wss://localhost:{}/ws", server.addr.port());
    let conn = tidings_framework::client::connect::<N>(url.as_str(), trusting(&ca))
        .await
        .expect("wss connect by name");
    conn.write_binary([1u8, 2, 3]).await.unwrap();
    assert_eq!(conn.read().await.unwrap(), Message::from(vec![1u8, 2, 3]));
}

async fn https_event_source<N: TestRuntime>() {
    let ca = TestCa::new();
    let server = tls_server::<N>(&ca.leaf()).await;
    let config = EventSourceConfig::default()
        .tls(client_config(ca.root_store()))
        .max_retries(Some(0));
    let mut events = EventSource::<N>::connect(server.https_url("/events"), config)
        .await
        .expect("https connect");
    let response = events.response().expect("the response head");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let first = events.next().await.unwrap().unwrap();
    assert_eq!(
        (first.data.as_str(), first.last_event_id.as_str()),
        ("over TLS", "1")
    );
    let second = events.next().await.unwrap().unwrap();
    assert_eq!(
        (second.event_type.as_str(), second.data.as_str()),
        ("done", "bye")
    );
}

/// Connects to a server holding `cert` while trusting `trusted`, and
/// returns the WebSocket client's error and the EventSource's.
async fn refused<N: TestRuntime>(
    cert: &TestCert,
    trusted: &TestCa,
    host: &str,
) -> (Error, EventSourceError) {
    let server = tls_server::<N>(cert).await;
    let port = server.addr.port();
    let ws = tidings_framework::client::connect::<N>(
        format!("wss://{host}:{port}/ws"),
        trusting(trusted),
    )
    .await
    .expect_err("the certificate must be refused");
    let sse = EventSource::<N>::connect(
        format!("https://{host}:{port}/events"),
        EventSourceConfig::default().tls(client_config(trusted.root_store())),
    )
    .await
    .expect_err("the certificate must be refused");
    (ws, sse)
}

#[track_caller]
fn assert_tls(ws: &Error, sse: &EventSourceError, kind: TlsErrorKind, words: &str) {
    let Error::Tls(error) = ws else {
        panic!("expected Error::Tls, got {ws:?}")
    };
    assert_eq!(error.kind(), kind, "{error}");
    let text = ws.to_string();
    assert!(text.contains(words), "{text:?} should say {words:?}");
    let EventSourceError::Tls(error) = sse else {
        panic!("expected EventSourceError::Tls, got {sse:?}")
    };
    assert_eq!(error.kind(), kind);
    assert!(sse.to_string().contains(words), "{sse}");
    assert!(!sse.is_retryable());
}

async fn certificate_errors_name_their_cause<N: TestRuntime>() {
    let ca = TestCa::new();

    let (ws, sse) = refused::<N>(&ca.expired_leaf(), &ca, "127.0.0.1").await;
    assert_tls(&ws, &sse, TlsErrorKind::Expired, "has expired");
    println!("expired: {ws}");

    let (ws, sse) = refused::<N>(&ca.leaf_for(&["other.test"]), &ca, "localhost").await;
    assert_tls(
        &ws,
        &sse,
        TlsErrorKind::NameMismatch,
        "not valid for that name",
    );
    println!("wrong host: {ws}");

    // The default roots (Mozilla's) do not hold the test CA.
    let server = tls_server::<N>(&ca.leaf()).await;
    let ws =
        tidings_framework::client::connect::<N>(server.wss_url("/ws"), ClientConfig::default())
            .await
            .expect_err("the test CA is not a public root");
    let sse = EventSource::<N>::connect(server.https_url("/events"), EventSourceConfig::default())
        .await
        .expect_err("the test CA is not a public root");
    assert_tls(&ws, &sse, TlsErrorKind::UnknownIssuer, "unknown issuer");
    println!("unknown issuer: {ws}");
    // (Another `TestCa` would not do: every test CA has the same name, so
    // rustls finds it as the issuer and reports a bad signature instead.)
}

/// A server that accepts TCP and never answers: the TLS handshake cannot
/// finish, and the connect timeout (not the handshake timeout) ends it.
async fn connect_timeout_covers_the_tls_handshake<N: TestRuntime>() {
    let listener = N::bind("127.0.0.1:0").await.unwrap();
    let addr = N::listener_addr(&listener).unwrap();
    let (held_tx, held) = tidings_tests::channel::unbounded();
    N::default().spawn(async move {
        if let Ok((stream, _)) = N::accept(&listener).await {
            let _ = held_tx.send(stream).await;
        }
    });
    let config = ClientConfig::default()
        .connect_timeout(Duration::from_millis(300))
        .handshake_timeout(Duration::from_secs(30));
    let started = Instant::now();
    let result = tidings_framework::client::connect::<N>(format!("wss://{addr}/"), config).await;
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "{took:?}"
    );
    drop(held);
}

/// What the server saw of a request: echoed back as text.
async fn report(ctx: Context, conn: Connection) -> Result<(), Error> {
    let header = |name: &str| ctx.header(name).unwrap_or("-").to_owned();
    conn.write(format!(
        "origin={} cookie={} x-token={} protocol={} path={}",
        header("origin"),
        header("cookie"),
        header("x-token"),
        conn.subprotocol().unwrap_or("-"),
        ctx.uri()
    ))
    .await?;
    conn.flush().await
}

async fn request_headers_origin_and_subprotocols<N: TestRuntime>() {
    let config = ServerConfig::default().subprotocols(vec!["chat.v2".to_owned()]);
    let server = start_server::<N>(Router::new().websocket("/report", report), config).await;

    let mut request = server.url("/report?room=7").into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert(
        header::ORIGIN,
        HeaderValue::from_static("https://app.example"),
    );
    headers.insert(header::COOKIE, HeaderValue::from_static("session=abc"));
    headers.insert("x-token", HeaderValue::from_static("t1"));
    headers.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static("chat.v3, chat.v2"),
    );
    let conn = tidings_framework::client::connect::<N>(request, ClientConfig::default())
        .await
        .unwrap();
    assert_eq!(conn.subprotocol(), Some("chat.v2"));
    let seen = timeout::<N, _>(Duration::from_secs(5), conn.read())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        seen,
        Message::from(
            "origin=https://app.example cookie=session=abc x-token=t1 protocol=chat.v2 path=/report?room=7"
        )
    );

    // An `http::Request` built directly, and a `Uri`.
    let request = Request::get(server.url("/report"))
        .header("x-token", "built")
        .body(())
        .unwrap();
    let conn = tidings_framework::client::connect::<N>(request, ClientConfig::default())
        .await
        .unwrap();
    let seen = conn.read().await.unwrap();
    assert_eq!(
        seen,
        Message::from("origin=- cookie=- x-token=built protocol=- path=/report")
    );
    let uri: tidings_framework::http::Uri = server.url("/report").parse().unwrap();
    let conn = tidings_framework::client::connect::<N>(&uri, ClientConfig::default())
        .await
        .unwrap();
    assert!(conn.read().await.is_ok());

    // Not a GET, or a header the handshake sets itself: refused locally.
    let post = Request::post(server.url("/report")).body(()).unwrap();
    assert!(
        tidings_framework::client::connect::<N>(post, ClientConfig::default())
            .await
            .is_err()
    );
    let mut reserved = server.url("/report").into_client_request().unwrap();
    reserved
        .headers_mut()
        .insert(header::SEC_WEBSOCKET_KEY, HeaderValue::from_static("x"));
    let error = tidings_framework::client::connect::<N>(reserved, ClientConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Url(_)), "{error:?}");
}

all_runtimes!(
    wss_echo_and_alpn,
    https_event_source,
    certificate_errors_name_their_cause,
    connect_timeout_covers_the_tls_handshake,
    request_headers_origin_and_subprotocols,
);
