//! The test helpers of `tidings_framework::testing` on every runtime: `TestApp`
//! serves and stops, the WebSocket client's expectations pass on what
//! arrives and fail (panic, with what arrived) on anything else, the SSE
//! client reads status, headers and events, and the AsyncAPI check finds
//! broken documents.

use std::time::Duration;

use serde_json::json;
use tidings_framework::close::CloseCode;
use tidings_framework::server::{Context, RouteOptions, SseContext, echo};
use tidings_framework::testing::{TestApp, asyncapi_problems};
use tidings_tests::{
    Connection, Error, Router, ServerConfig, TestRuntime, all_runtimes, wait_until,
};

all_runtimes!(
    ws_expectations_pass_on_what_arrives,
    sse_client_reads_status_headers_and_events,
    get_reads_a_whole_response,
    app_stops_when_dropped,
    #[should_panic(expected = "expected text \"bye\", got text \"hello\"")]
    expect_text_fails_on_other_text,
    #[should_panic(expected = "expected binary [1, 2], got text \"hello\"")]
    expect_binary_fails_on_text,
    #[should_panic(expected = "expected JSON {\"n\":2}, got text \"{\\\"n\\\":1}\"")]
    expect_json_fails_on_other_json,
    #[should_panic(expected = "expected close 1011, got close 1000")]
    expect_close_fails_on_other_code,
    #[should_panic(expected = "expected text \"hello\", nothing arrived within 100ms")]
    expect_text_fails_when_nothing_arrives,
    #[should_panic(expected = "expected status 200, got 404 Not Found")]
    expect_status_fails_on_other_status,
    #[should_panic(expected = "expected header x-mode: \"fast\", got []")]
    expect_header_fails_when_absent,
    #[should_panic(expected = "expected an event, the stream ended")]
    next_event_fails_at_the_end_of_the_stream,
);

/// `/echo` echoes; `/bye` sends "hello" then closes with 1000; `/events`
/// sends two events and ends; `/quiet` never sends.
fn app_router() -> Router {
    Router::new()
        .websocket("/echo", echo)
        .websocket("/bye", |_ctx: Context, conn: Connection| async move {
            conn.write("hello").await
        })
        .websocket("/quiet", |_ctx: Context, conn: Connection| async move {
            let _ = conn.read().await;
            Ok::<(), Error>(())
        })
        .sse("/events", |ctx: SseContext| async move {
            ctx.send_event("greeting", "hi").await?;
            ctx.send_event("count", "2").await
        })
}

async fn ws_expectations_pass_on_what_arrives<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    let client = app.ws("/echo").await;
    client.send_text("hello").await;
    client.expect_text("hello").await;
    client.send_binary(&[1, 2, 3]).await;
    client.expect_binary(&[1, 2, 3]).await;
    client.send_json(&json!({ "n": 1, "tags": ["a"] })).await;
    // Compared as JSON: key order does not matter.
    client.expect_json(&json!({ "tags": ["a"], "n": 1 })).await;
    client.send_text("{\"x\": 5}").await;
    let value: serde_json::Value = client.read_json().await;
    assert_eq!(value, json!({ "x": 5 }));

    let bye = app.ws("/bye").await;
    bye.expect_text("hello").await;
    bye.expect_close(CloseCode::NORMAL).await;
}

async fn sse_client_reads_status_headers_and_events<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    let mut sse = app.sse("/events").await;
    sse.expect_status(200)
        .expect_header("content-type", "text/event-stream")
        .expect_header("cache-control", "no-cache");
    let event = sse.next_event().await;
    assert_eq!(
        (event.event_type.as_str(), event.data.as_str()),
        ("greeting", "hi")
    );
    sse.expect_event("count", "2").await;
    sse.expect_end().await;
}

async fn get_reads_a_whole_response<N: TestRuntime>() {
    let router = app_router().get("/hello", |_ctx: Context| async { "hello, world" });
    let app = TestApp::<N>::start(router, ServerConfig::default()).await;
    let response = app.get("/hello").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), b"hello, world");
    assert_eq!(app.get("/nowhere").await.status(), 404);
}

async fn app_stops_when_dropped<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    let client = app.ws("/quiet").await;
    let handle = app.handle().clone();
    assert_eq!(handle.active_connections(), 1);
    drop(app);
    // The server closes what was open with 1001 (going away).
    client.expect_close(CloseCode::GOING_AWAY).await;
    assert!(wait_until::<N>(Duration::from_secs(5), || handle.active_connections() == 0).await);
}

#[derive(schemars::JsonSchema)]
#[allow(dead_code, reason = "only its schema is used")]
struct Say {
    text: String,
    to: Option<Recipient>,
}

#[derive(schemars::JsonSchema)]
#[allow(dead_code, reason = "only its schema is used")]
struct Recipient {
    user: String,
}

/// The document does not depend on the runtime: one plain test.
#[test]
fn asyncapi_document_of_a_router_is_valid() {
    let router = app_router()
        .websocket_with(
            "/ws/rooms/:room/users/:user",
            echo,
            RouteOptions::new()
                .summary("Talk")
                .tags(["chat"])
                .messages::<Say, Say>(),
        )
        .sse_with(
            "/feed/*topic",
            |_ctx: SseContext| async { Ok(()) },
            RouteOptions::new()
                .name("feed")
                .sse_event::<Say>("said")
                .sse_event::<serde_json::Value>("any"),
        );
    let doc = router.asyncapi("Test", "0.1.0");
    assert_eq!(asyncapi_problems(&doc), Vec::<String>::new());
    let channels = doc["channels"].as_object().expect("channels");
    let mut addresses: Vec<&str> = channels
        .values()
        .map(|channel| channel["address"].as_str().expect("address"))
        .collect();
    addresses.sort_unstable();
    assert_eq!(
        addresses,
        [
            "/bye",
            "/echo",
            "/events",
            "/feed/{topic}",
            "/quiet",
            "/ws/rooms/{room}/users/{user}"
        ]
    );
    let talk = &doc["channels"]["ws_rooms_room_users_user"];
    assert_eq!(talk["summary"], "Talk");
    assert_eq!(talk["tags"], json!([{ "name": "chat" }]));
    assert!(talk["parameters"]["user"].is_object());
    assert_eq!(
        talk["messages"]["receive"]["payload"]["$ref"],
        "#/components/schemas/Say"
    );
    assert_eq!(doc["operations"]["feed.send"]["action"], "send");
    assert!(
        doc["operations"]["feed.receive"].is_null(),
        "SSE routes only send"
    );
    // Any JSON: the schema `true`, written as an empty schema object.
    assert_eq!(
        doc["channels"]["feed"]["messages"]["any"]["payload"],
        json!({})
    );
    // The nested type is collected too, and referenced from Say.
    assert!(doc["components"]["schemas"]["Recipient"].is_object());

    // And the check finds what is broken.
    let mut broken = doc.clone();
    broken["asyncapi"] = json!("2.6.0");
    broken["operations"]["feed.send"]["channel"] = json!({ "$ref": "#/channels/missing" });
    broken["channels"]["feed"]["address"] = json!("/feed/{topic}/{extra}");
    broken["channels"]["feed"]["messages"]["any"]["payload"] = json!(true);
    assert_eq!(
        asyncapi_problems(&broken),
        [
            "asyncapi is \"2.6.0\", not \"3.0.0\"",
            "channel feed: parameter extra not declared",
            "channel feed: message any: payload is not a schema object",
            "operation feed.send: message #/channels/feed/messages/said is not one of \
             #/channels/missing's messages",
            "operation feed.send: message #/channels/feed/messages/any is not one of \
             #/channels/missing's messages",
            "#/operations/feed.send/channel: $ref \"#/channels/missing\" does not resolve",
        ]
    );
}

async fn expect_text_fails_on_other_text<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    app.ws("/bye").await.expect_text("bye").await;
}

async fn expect_binary_fails_on_text<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    app.ws("/bye").await.expect_binary(&[1, 2]).await;
}

async fn expect_json_fails_on_other_json<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    let client = app.ws("/echo").await;
    client.send_json(&json!({ "n": 1 })).await;
    client.expect_json(&json!({ "n": 2 })).await;
}

async fn expect_close_fails_on_other_code<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    let client = app.ws("/bye").await;
    client.expect_text("hello").await;
    client.expect_close(CloseCode::INTERNAL_ERROR).await;
}

async fn expect_text_fails_when_nothing_arrives<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    let client = app.ws("/quiet").await.timeout(Duration::from_millis(100));
    client.expect_text("hello").await;
}

async fn expect_status_fails_on_other_status<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    app.sse("/nowhere").await.expect_status(200);
}

async fn expect_header_fails_when_absent<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    app.sse("/events").await.expect_header("x-mode", "fast");
}

async fn next_event_fails_at_the_end_of_the_stream<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    let mut sse = app.sse("/events").await;
    for _ in 0..3 {
        sse.next_event().await;
    }
}
