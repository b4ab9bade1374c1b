//! The clients through real proxies on 127.0.0.1, on all three runtimes:
//! tinyproxy (HTTP `CONNECT` with Basic credentials) and danted (SOCKS5,
//! with and without username/password; the target's name resolved by the
//! proxy), for `ws://`, `wss://` and an `http://` event stream; `NO_PROXY`
//! exceptions; the errors of a refusing proxy. Skipped loudly when the
//! proxies are not installed (see `tidings_tests::proxies`).

use tidings_framework::client::ClientConfig;
use tidings_framework::dial::{Proxy, ProxyConfig};
use tidings_framework::event_source::{EventSource, EventSourceConfig};
use tidings_framework::server::{SseContext, echo};
use tidings_framework::sse::Event;
use tidings_framework::tls::client_config;
use tidings_tests::certs::TestCa;
use tidings_tests::proxies::{SOCKS_PASSWORD, SOCKS_USER, danted, tinyproxy};
use tidings_tests::tls_server::start_tls_server;
use tidings_tests::{
    Error, Message, Router, ServerConfig, TestRuntime, all_runtimes, start_server,
};

fn router() -> Router {
    Router::new()
        .websocket("/ws", echo)
        .sse("/events", |ctx: SseContext| async move {
            ctx.send(Event::new().data("via proxy")).await
        })
}

/// Echoes one message over `ws://` and one over `wss://` (both by the
/// name `localhost`, which the proxy resolves), and reads one event over
/// `http://`, all through `proxy`.
async fn through<N: TestRuntime>(proxy: Proxy) {
    let proxies = ProxyConfig::all(proxy);
    let plain = start_server::<N>(router(), ServerConfig::default()).await;
    let ca = TestCa::new();
    let tls = start_tls_server::<N>(router(), &ca.leaf()).await;

    let url = format!("ws://localhost:{}/ws", plain.addr.port());
    let config = ClientConfig::default().proxy(proxies.clone());
    let conn = tidings_framework::client::connect::<N>(url.as_str(), config)
        .await
        .unwrap_or_else(|error| panic!("ws through the proxy: {error}"));
    conn.write("plain").await.unwrap();
    assert_eq!(conn.read().await.unwrap(), Message::from("plain"));

    let url = format!("wss://localhost:{}/ws", tls.addr.port());
    let config = ClientConfig::default()
        .proxy(proxies.clone())
        .tls(client_config(ca.root_store()));
    let conn = tidings_framework::client::connect::<N>(url.as_str(), config)
        .await
        .unwrap_or_else(|error| panic!("wss through the proxy: {error}"));
    conn.write("secure").await.unwrap();
    assert_eq!(conn.read().await.unwrap(), Message::from("secure"));

    let url = format!("http://localhost:{}/events", plain.addr.port());
    let config = EventSourceConfig::default()
        .proxy(proxies)
        .max_retries(Some(0));
    let mut events = EventSource::<N>::connect(url.as_str(), config)
        .await
        .unwrap_or_else(|error| panic!("SSE through the proxy: {error}"));
    assert_eq!(events.next().await.unwrap().unwrap().data, "via proxy");
}

async fn http_connect_with_basic_auth<N: TestRuntime>() {
    let Some(proxy) = tinyproxy(Some(("alice", "s3cret"))) else {
        return;
    };
    through::<N>(Proxy::http("127.0.0.1", proxy.port).credentials("alice", "s3cret")).await;

    // Without credentials: the proxy's 407, in words.
    let server = start_server::<N>(router(), ServerConfig::default()).await;
    let config =
        ClientConfig::default().proxy(ProxyConfig::all(Proxy::http("127.0.0.1", proxy.port)));
    let error = tidings_framework::client::connect::<N>(server.url("/ws"), config)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Proxy(_)), "{error:?}");
    assert!(
        error.to_string().contains("requires authentication"),
        "{error}"
    );
    println!("{error}");
}

async fn socks5_with_remote_dns<N: TestRuntime>() {
    let Some(proxy) = danted(false) else {
        return;
    };
    through::<N>(Proxy::parse(&format!("socks5h://127.0.0.1:{}", proxy.port)).unwrap()).await;
}

async fn socks5_with_username_and_password<N: TestRuntime>() {
    let Some(proxy) = danted(true) else {
        return;
    };
    through::<N>(Proxy::socks5("127.0.0.1", proxy.port).credentials(SOCKS_USER, SOCKS_PASSWORD))
        .await;

    let server = start_server::<N>(router(), ServerConfig::default()).await;
    let wrong = Proxy::socks5("127.0.0.1", proxy.port).credentials(SOCKS_USER, "wrong");
    let config = ClientConfig::default().proxy(ProxyConfig::all(wrong));
    let error = tidings_framework::client::connect::<N>(server.url("/ws"), config)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("rejected the username or password"),
        "{error}"
    );
    println!("{error}");
}

/// Hosts in `no_proxy` are reached directly: the proxy here does not exist.
async fn no_proxy_hosts_are_reached_directly<N: TestRuntime>() {
    let server = start_server::<N>(router(), ServerConfig::default()).await;
    let nowhere = ProxyConfig::all(Proxy::http("127.0.0.1", 9)).no_proxy("localhost, 127.0.0.1");
    let config = ClientConfig::default().proxy(nowhere.clone());
    let conn = tidings_framework::client::connect::<N>(server.url("/ws"), config)
        .await
        .expect("a direct connection");
    conn.write("direct").await.unwrap();
    assert_eq!(conn.read().await.unwrap(), Message::from("direct"));
    // Without the exception the (absent) proxy is tried, and fails.
    let config = ClientConfig::default().proxy(ProxyConfig::all(Proxy::http("127.0.0.1", 9)));
    let error = tidings_framework::client::connect::<N>(server.url("/ws"), config)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Io(_)), "{error:?}");
}

all_runtimes!(
    http_connect_with_basic_auth,
    socks5_with_remote_dns,
    socks5_with_username_and_password,
    no_proxy_hosts_are_reached_directly,
);
