//! The test helpers of `tidings_framework::testing` on every runtime: `TestApp`
//! serves and stops, the WebSocket client's expectations pass on what
//! arrives and fail (panic, with what arrived) on anything else, the SSE
//! client reads status, headers and events, both clients take headers the
//! same way and can expect silence, a refused handshake is an expectation,
//! a failed expectation names the test's line, and the AsyncAPI check finds
//! broken documents.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Once;
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::json;
use tidings_framework::close::CloseCode;
use tidings_framework::server::{Authenticator, Context, RouteOptions, SseContext, echo};
use tidings_framework::testing::{TestApp, asyncapi_problems};
use tidings_tests::{
    Connection, Error, Router, ServerConfig, TestRuntime, Tokio, all_runtimes, run_tokio,
    wait_until,
};

all_runtimes!(
    ws_expectations_pass_on_what_arrives,
    sse_client_reads_status_headers_and_events,
    get_reads_a_whole_response,
    app_stops_when_dropped,
    headers_are_given_the_same_way_to_every_client,
    refused_handshakes_are_expectations,
    silence_is_an_expectation,
    #[should_panic(expected = "expected the handshake for /echo to be refused with 401, \
                               the server accepted it (101)")]
    ws_rejected_fails_when_accepted,
    #[should_panic(
        expected = "expected the handshake for /private to be refused with 403, got 401"
    )]
    ws_rejected_fails_on_other_status,
    #[should_panic(expected = "expected nothing for 300ms, got text \"hello\"")]
    ws_expect_silence_fails_on_a_message,
    #[should_panic(expected = "expected nothing for 300ms, got close 1000")]
    ws_expect_silence_fails_on_a_close,
    #[should_panic(
        expected = "expected nothing for 300ms, got DecodedEvent { event_type: \"greeting\""
    )]
    sse_expect_silence_fails_on_an_event,
    #[should_panic(expected = "expected nothing for 300ms, the stream ended")]
    sse_expect_silence_fails_at_the_end_of_the_stream,
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
/// sends two events and ends; `/quiet` never sends; `/held` sends one
/// event and stays open; `/private` (WebSocket, says "welcome") and
/// `/private-feed` (SSE, one event) need `Authorization: Bearer secret`.
fn app_router() -> Router {
    let private = || RouteOptions::new().auth("bearer");
    Router::new()
        .authenticator(
            "bearer",
            Authenticator::bearer(|token| (token == "secret").then_some(())),
        )
        .websocket_with(
            "/private",
            |_ctx: Context, conn: Connection| async move { conn.write("welcome").await },
            private(),
        )
        .sse_with(
            "/private-feed",
            |ctx: SseContext| async move { ctx.send_event("welcome", "in").await },
            private(),
        )
        .sse("/held", |ctx: SseContext| async move {
            ctx.send_event("greeting", "hi").await?;
            ctx.closed().await;
            Ok(())
        })
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

async fn headers_are_given_the_same_way_to_every_client<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    let auth = [("authorization", "Bearer secret")];
    let client = app.ws_with("/private", &auth).await;
    client.expect_text("welcome").await;
    let mut sse = app.sse_with("/private-feed", &auth).await;
    sse.expect_status(200);
    sse.expect_event("welcome", "in").await;
    // Without the header, both are refused the same way.
    app.sse("/private-feed").await.expect_status(401);
    assert_eq!(app.get_with("/private-feed", &auth).await.status(), 200);
}

async fn refused_handshakes_are_expectations<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    app.ws_rejected("/private", 401).await;
    app.ws_rejected_with("/private", &[("authorization", "Bearer wrong")], 401)
        .await;
    // No route: the upgrade is answered 404.
    app.ws_rejected("/nowhere", 404).await;
    // The server is still fine.
    app.ws("/echo").await.close().await;
}

async fn silence_is_an_expectation<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    let quiet = app.ws("/quiet").await;
    quiet.expect_silence(Duration::from_millis(200)).await;
    quiet.send_text("wake").await;
    quiet.expect_close(CloseCode::NORMAL).await;

    let mut held = app.sse("/held").await;
    held.expect_event("greeting", "hi").await;
    held.expect_silence(Duration::from_millis(200)).await;
}

async fn ws_rejected_fails_when_accepted<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    app.ws_rejected("/echo", 401).await;
}

async fn ws_rejected_fails_on_other_status<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    app.ws_rejected("/private", 403).await;
}

async fn ws_expect_silence_fails_on_a_message<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    let client = app.ws("/bye").await;
    client.expect_silence(Duration::from_millis(300)).await;
}

async fn ws_expect_silence_fails_on_a_close<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    let client = app.ws("/bye").await;
    client.expect_text("hello").await;
    client.expect_silence(Duration::from_millis(300)).await;
}

async fn sse_expect_silence_fails_on_an_event<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    let mut sse = app.sse("/held").await;
    sse.expect_silence(Duration::from_millis(300)).await;
}

async fn sse_expect_silence_fails_at_the_end_of_the_stream<N: TestRuntime>() {
    let app = TestApp::<N>::start(app_router(), ServerConfig::default()).await;
    let mut sse = app.sse("/events").await;
    sse.expect_event("greeting", "hi").await;
    sse.expect_event("count", "2").await;
    sse.expect_silence(Duration::from_millis(300)).await;
}

std::thread_local! {
    /// Where the last panic on this thread was raised.
    static PANIC_LOCATION: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs `expectation`, which must fail, and returns its panic message and
/// the location the panic reports (recorded by a panic hook installed once,
/// which then hands over to the previous hook).
async fn failure(expectation: impl Future<Output = ()>) -> (String, String) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info.location().map(ToString::to_string);
            PANIC_LOCATION.with(|last| *last.borrow_mut() = location);
            previous(info);
        }));
    });
    let payload = match AssertUnwindSafe(expectation).catch_unwind().await {
        Ok(()) => panic!("the expectation passed"),
        Err(payload) => payload,
    };
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| {
            payload
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
        })
        .unwrap_or_default();
    let location = PANIC_LOCATION.with(|last| last.borrow_mut().take().unwrap_or_default());
    (message, location)
}

/// Whether a failure names `line` of this file: in the panic's location
/// (a plain `#[track_caller]` function), or in the message (a function
/// returning a future, whose panic is raised inside the library).
fn names_line(failure: &(String, String), line: u32) -> bool {
    let at = format!("{}:{line}:", file!());
    failure.1.starts_with(&at) || failure.0.contains(&format!("expectation at {at}"))
}

/// A failed expectation names the line of the test that wrote it, not a
/// line of the library: `#[track_caller]` is a no-op on an `async fn`, so
/// the waiting expectations capture their caller before their future starts
/// and put it in the message.
#[test]
fn failed_expectations_name_the_test_line() {
    run_tokio(async {
        let app = TestApp::<Tokio>::start(app_router(), ServerConfig::default()).await;
        let mut failures = Vec::new();
        // `line!()` in a macro is the line of the macro's call: keep each
        // call on one line.
        macro_rules! fails {
            ($expectation:expr) => {
                (
                    line!(),
                    failure(async {
                        let _ = $expectation.await;
                    })
                    .await,
                )
            };
        }
        macro_rules! fails_now {
            ($expectation:expr) => {
                (
                    line!(),
                    failure(async {
                        let _ = $expectation;
                    })
                    .await,
                )
            };
        }

        let client = app.ws("/bye").await;
        failures.push(fails!(client.expect_text("bye")));
        failures.push(fails!(client.expect_silence(Duration::from_secs(5))));
        let quiet = app.ws("/quiet").await.timeout(Duration::from_millis(50));
        failures.push(fails!(quiet.expect_binary(&[1])));
        failures.push(fails!(quiet.expect_json(&json!(1))));
        failures.push(fails!(quiet.expect_close(CloseCode::NORMAL)));
        failures.push(fails!(quiet.expect_message()));
        failures.push(fails!(app.ws_rejected("/echo", 401)));
        failures.push(fails!(app.ws("/private")));

        let mut sse = app.sse("/events").await;
        failures.push(fails!(sse.expect_event("count", "2")));
        failures.push(fails_now!(sse.expect_status(404)));
        failures.push(fails_now!(sse.expect_header("x", "y")));
        sse.expect_event("count", "2").await;
        failures.push(fails!(sse.next_event()));
        let mut held = app.sse("/held").await;
        failures.push(fails!(held.expect_end()));

        assert_eq!(failures.len(), 13);
        for (line, failure) in &failures {
            assert!(names_line(failure, *line), "line {line}: {failure:?}");
        }
    });
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
            "/held",
            "/private",
            "/private-feed",
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
