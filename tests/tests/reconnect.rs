//! The reconnecting WebSocket client (`client::Reconnecting`) against a
//! server that drops connections, on all three runtimes: reconnection with
//! backoff, the hook after each reconnection, the stop rules (close codes
//! 4000-4999 by default), `max_attempts` once the server is gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tidings_framework::client::{IntoClientRequest, Reconnecting, ReconnectingConfig, StopRule};
use tidings_framework::close::CloseCode;
use tidings_framework::handshake::ClientHandshakeError;
use tidings_framework::http::{HeaderValue, header};
use tidings_framework::server::{Authenticator, Context, RouteOptions};
use tidings_tests::{
    Connection, Error, Message, Router, ServerConfig, TestRuntime, all_runtimes, expect_closed,
    start_server, timeout,
};

/// Connection `n` (from 0) is greeted with `welcome n`; the server then
/// echoes one message as `echo: …` and closes with `code_for(n)` (1012,
/// "service restart", a code that asks clients to come back), or keeps
/// echoing when `code_for` gives `None`.
fn router(code_for: fn(usize) -> Option<u16>) -> Router {
    let count = Arc::new(AtomicUsize::new(0));
    Router::new().websocket("/ws", move |_ctx: Context, conn: Connection| {
        let n = count.fetch_add(1, Ordering::SeqCst);
        async move {
            conn.write(format!("welcome {n}")).await?;
            if n == 0 {
                return conn.close_with(CloseCode::from(1012), "restart").await;
            }
            loop {
                let message = conn.read().await?;
                conn.write(format!(
                    "echo: {}",
                    String::from_utf8_lossy(message.as_bytes())
                ))
                .await?;
                if let Some(code) = code_for(n) {
                    return conn.close_with(CloseCode::from(code), "bye").await;
                }
            }
        }
    })
}

fn fast() -> ReconnectingConfig {
    ReconnectingConfig::default()
        .initial_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(100))
}

async fn text<N: TestRuntime>(client: &mut Reconnecting<N>) -> String {
    match timeout::<N, _>(Duration::from_secs(5), client.read()).await {
        Ok(Ok(Message::Text(text))) => text.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

async fn reconnects_and_runs_the_hook<N: TestRuntime>() {
    // Connections 1 and 2 close after one echo; 3 stays.
    let server =
        start_server::<N>(router(|n| (n < 3).then_some(1012)), ServerConfig::default()).await;
    let hooks = Arc::new(AtomicUsize::new(0));
    let counted = hooks.clone();
    let mut client = Reconnecting::<N>::connect(server.url("/ws"), fast())
        .await
        .expect("first connection")
        .on_reconnect(move |conn| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { conn.write("rejoin").await }
        });
    assert_eq!(text(&mut client).await, "welcome 0");
    // Dropped with 1012: reconnected, the hook re-joined.
    assert_eq!(text(&mut client).await, "welcome 1");
    assert_eq!(text(&mut client).await, "echo: rejoin");
    assert_eq!(text(&mut client).await, "welcome 2");
    assert_eq!(text(&mut client).await, "echo: rejoin");
    assert_eq!(text(&mut client).await, "welcome 3");
    assert_eq!(text(&mut client).await, "echo: rejoin");
    assert_eq!((client.reconnects(), hooks.load(Ordering::SeqCst)), (3, 3));
    client.connection().write("still here").await.unwrap();
    assert_eq!(text(&mut client).await, "echo: still here");
}

async fn stops_on_an_application_close_code<N: TestRuntime>() {
    // Connection 1 closes with 4001 after its echo: a default stop rule.
    let server = start_server::<N>(router(|_| Some(4001)), ServerConfig::default()).await;
    let mut client = Reconnecting::<N>::connect(server.url("/ws"), fast())
        .await
        .expect("first connection")
        .on_reconnect(|conn| async move { conn.write("rejoin").await });
    assert_eq!(text(&mut client).await, "welcome 0");
    assert_eq!(text(&mut client).await, "welcome 1");
    assert_eq!(text(&mut client).await, "echo: rejoin");
    let closed = expect_closed(client.read().await);
    assert_eq!(u16::from(closed.code()), 4001);
    assert_eq!(client.reconnects(), 1);

    // Without the rule it reconnects (connection 2 greets, then 4001 again).
    let config = fast()
        .no_stop_rules()
        .stop_rule(StopRule::CloseCodes(4999..=4999));
    let mut client = Reconnecting::<N>::connect(server.url("/ws"), config)
        .await
        .expect("connect");
    assert_eq!(text(&mut client).await, "welcome 2");
    client.connection().write("x").await.unwrap();
    assert_eq!(text(&mut client).await, "echo: x");
    assert_eq!(text(&mut client).await, "welcome 3");
    assert_eq!(client.reconnects(), 1);
}

async fn gives_up_after_max_attempts_when_the_server_is_gone<N: TestRuntime>() {
    let server = start_server::<N>(router(|_| None), ServerConfig::default()).await;
    let mut client = Reconnecting::<N>::connect(server.url("/ws"), fast().max_attempts(Some(3)))
        .await
        .expect("first connection");
    assert_eq!(text(&mut client).await, "welcome 0");
    // Stops accepting at once (connection 0 is closing by itself).
    server.handle.begin_shutdown();
    // Connection 0 ends with 1012 and the listener is gone: three attempts
    // fail, each after at most 20, 40, 80 ms.
    let result = timeout::<N, _>(Duration::from_secs(5), client.read())
        .await
        .expect("the client gives up within 5 s");
    assert!(matches!(result, Err(Error::Io(_))), "{result:?}");
    assert_eq!(client.reconnects(), 0);
}

async fn a_local_close_is_not_reconnected<N: TestRuntime>() {
    let server = start_server::<N>(router(|_| None), ServerConfig::default()).await;
    let config = fast();
    let mut client = Reconnecting::<N>::connect(server.url("/ws"), config)
        .await
        .expect("first connection");
    assert_eq!(text(&mut client).await, "welcome 0");
    // Connection 0 closes with 1012; connection 1 stays.
    assert_eq!(text(&mut client).await, "welcome 1");
    client.connection().close().await.unwrap();
    let closed = expect_closed(client.read().await);
    assert_eq!(closed.code(), CloseCode::NORMAL);
    assert_eq!(client.reconnects(), 1);
}

/// A server that lets a bearer token in while `open` is set; each
/// connection is greeted and closed with 1012 at once.
fn gated(open: Arc<AtomicBool>) -> Router {
    Router::new()
        .authenticator(
            "bearer",
            Authenticator::bearer(move |token| {
                (open.load(Ordering::SeqCst) && token == "t1").then_some(())
            }),
        )
        .websocket_with(
            "/ws",
            |_ctx: Context, conn: Connection| async move {
                conn.write("hi").await?;
                conn.close_with(CloseCode::from(1012), "restart").await
            },
            RouteOptions::new().auth("bearer"),
        )
}

/// The request's headers (the token) go with every reconnection; once the
/// server refuses them with 401, the client stops instead of retrying
/// (a default stop rule), or retries up to `max_attempts` without rules.
async fn stops_when_the_handshake_is_refused<N: TestRuntime>() {
    let open = Arc::new(AtomicBool::new(true));
    let server = start_server::<N>(gated(open.clone()), ServerConfig::default()).await;
    let request = || {
        let mut request = server.url("/ws").into_client_request().unwrap();
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t1"));
        request
    };
    let mut client = Reconnecting::<N>::connect(request(), fast())
        .await
        .expect("first connection");
    assert_eq!(text(&mut client).await, "hi");
    // Closed with 1012: reconnected with the same token.
    assert_eq!(text(&mut client).await, "hi");
    assert_eq!(client.reconnects(), 1);
    open.store(false, Ordering::SeqCst);
    let result = timeout::<N, _>(Duration::from_secs(5), client.read())
        .await
        .expect("the client stops at once");
    let Err(Error::Handshake(ClientHandshakeError::UnexpectedStatus { status })) = result else {
        panic!("expected the refused handshake, got {result:?}")
    };
    assert_eq!(status, 401);
    assert_eq!(client.reconnects(), 1);

    // Without stop rules the refusal is retried, up to `max_attempts`.
    open.store(true, Ordering::SeqCst);
    let config = fast().no_stop_rules().max_attempts(Some(3));
    let mut client = Reconnecting::<N>::connect(request(), config)
        .await
        .expect("connect");
    assert_eq!(text(&mut client).await, "hi");
    open.store(false, Ordering::SeqCst);
    let result = timeout::<N, _>(Duration::from_secs(5), client.read())
        .await
        .expect("the client gives up within 5 s");
    assert!(matches!(result, Err(Error::Handshake(_))), "{result:?}");
}

all_runtimes!(
    stops_when_the_handshake_is_refused,
    reconnects_and_runs_the_hook,
    stops_on_an_application_close_code,
    gives_up_after_max_attempts_when_the_server_is_gone,
    a_local_close_is_not_reconnected,
);
