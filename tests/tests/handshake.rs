//! Upgrade requests the server must refuse, written by hand over raw TCP;
//! the exact status line (and required headers) is checked.

use tidings_tests::{
    RawClient, Router, ServerConfig, TestRuntime, TestServer, all_runtimes, has_header,
    start_server, status_line, upgrade_request,
};

all_runtimes!(
    bad_version_gets_426,
    missing_key_gets_400,
    post_gets_405,
    unknown_route_gets_404,
    good_request_gets_101,
    origin_check_refuses_with_403
);

async fn server<N: TestRuntime>() -> TestServer<N> {
    let router = Router::new().websocket("/ws", tidings_framework::server::echo);
    start_server::<N>(router, ServerConfig::default()).await
}

/// Sends `request` and reads the whole response (the server closes after a
/// refusal).
async fn exchange<N: TestRuntime>(server: &TestServer<N>, request: &str) -> String {
    let mut raw = RawClient::<N>::connect(server.addr).await;
    raw.send(request.as_bytes()).await;
    String::from_utf8(raw.read_to_end().await).expect("a UTF-8 response")
}

async fn bad_version_gets_426<N: TestRuntime>() {
    let server = server::<N>().await;
    let request =
        upgrade_request("/ws").replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8");
    let response = exchange(&server, &request).await;
    assert_eq!(
        status_line(response.as_bytes()),
        "HTTP/1.1 426 Upgrade Required"
    );
    assert!(
        has_header(&response, "sec-websocket-version", "13"),
        "{response}"
    );
}

async fn missing_key_gets_400<N: TestRuntime>() {
    let server = server::<N>().await;
    let request =
        upgrade_request("/ws").replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
    let response = exchange(&server, &request).await;
    assert_eq!(status_line(response.as_bytes()), "HTTP/1.1 400 Bad Request");
}

async fn post_gets_405<N: TestRuntime>() {
    let server = server::<N>().await;
    let request = upgrade_request("/ws").replacen("GET", "POST", 1);
    let response = exchange(&server, &request).await;
    assert_eq!(
        status_line(response.as_bytes()),
        "HTTP/1.1 405 Method Not Allowed"
    );
    assert!(has_header(&response, "allow", "GET"), "{response}");
}

async fn unknown_route_gets_404<N: TestRuntime>() {
    let server = server::<N>().await;
    let response = exchange(&server, &upgrade_request("/nope")).await;
    assert_eq!(status_line(response.as_bytes()), "HTTP/1.1 404 Not Found");
}

async fn good_request_gets_101<N: TestRuntime>() {
    // The control: the same hand-written request, unmodified, is accepted
    // with the RFC 6455 sample accept key.
    let server = server::<N>().await;
    let mut raw = RawClient::<N>::connect(server.addr).await;
    raw.send(upgrade_request("/ws").as_bytes()).await;
    let head = raw.read_head().await;
    assert_eq!(
        status_line(head.as_bytes()),
        "HTTP/1.1 101 Switching Protocols"
    );
    assert!(
        has_header(
            &head,
            "sec-websocket-accept",
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        ),
        "{head}"
    );
}

async fn origin_check_refuses_with_403<N: TestRuntime>() {
    let config =
        ServerConfig::default().origin(tidings_framework::handshake::OriginPolicy::AllowList(
            vec!["https://good.example".to_owned()],
        ));
    let router = Router::new().websocket("/ws", tidings_framework::server::echo);
    let server = start_server::<N>(router, config).await;
    let with_origin = |origin: &str| {
        upgrade_request("/ws").replace("\r\n\r\n", &format!("\r\nOrigin: {origin}\r\n\r\n"))
    };

    let mut raw = RawClient::<N>::connect(server.addr).await;
    raw.send(with_origin("https://evil.example").as_bytes())
        .await;
    let refused = String::from_utf8(raw.read_to_end().await).expect("a UTF-8 response");
    assert_eq!(status_line(refused.as_bytes()), "HTTP/1.1 403 Forbidden");

    let mut raw = RawClient::<N>::connect(server.addr).await;
    raw.send(with_origin("https://good.example").as_bytes())
        .await;
    let accepted = raw.read_head().await;
    assert_eq!(
        status_line(accepted.as_bytes()),
        "HTTP/1.1 101 Switching Protocols"
    );
}
