//! Server-Sent Events routes on every runtime, read by a raw TCP client and
//! decoded with the core's WHATWG decoder: the response head, the `retry`
//! field, exact event round-trips, the stream form, 405, keep-alive,
//! prompt `closed()`, admission (503), the slow-client policy, replay with
//! `Last-Event-ID` and the reset event, and shutdown.

use std::time::{Duration, Instant};

use futures_util::future::join;
use tidings_framework::server::{RouteOptions, Sse, SseConfig, SseContext, SseEnd, SseTopic};
use tidings_framework::sse::{DecodedEvent, Event};
use tidings_framework::testing::TestApp;
use tidings_tests::{
    RawClient, Router, ServerConfig, SseClient, TestRuntime, all_runtimes, channel, has_header,
    sse_request, start_server, status_line, timeout, wait_until,
};

all_runtimes!(
    head_retry_and_exact_round_trip,
    request_details_reach_the_context,
    stream_form_sends_every_event,
    other_methods_get_405,
    keep_alive_comment_after_the_interval,
    closed_completes_when_the_client_leaves,
    max_connections_answers_503,
    slow_client_is_disconnected_and_counted,
    replay_resumes_after_last_event_id,
    unknown_or_evicted_id_gets_the_reset_event,
    shutdown_ends_the_stream_after_queued_events,
);

fn event(event_type: &str, data: &str, last_event_id: &str) -> DecodedEvent {
    DecodedEvent {
        event_type: event_type.to_owned(),
        data: data.to_owned(),
        last_event_id: last_event_id.to_owned(),
    }
}

/// Data that naive encoders get wrong, and what a client reads back.
const TRICKY: [(&str, &str); 6] = [
    ("one\ntwo\nthree", "one\ntwo\nthree"),
    ("crlf\r\ninside\rlone cr", "crlf\ninside\nlone cr"),
    (
        "h\u{e9}llo \u{2713} \u{1f600} \u{65e5}\u{672c}",
        "h\u{e9}llo \u{2713} \u{1f600} \u{65e5}\u{672c}",
    ),
    ("  two leading spaces", "  two leading spaces"),
    ("trailing newline\n", "trailing newline\n"),
    ("", ""),
];

async fn head_retry_and_exact_round_trip<N: TestRuntime>() {
    let router = Router::new().sse("/events", |ctx: SseContext| async move {
        for (sent, _) in TRICKY {
            ctx.send(Event::new().data(sent)).await?;
        }
        ctx.send(Event::new().event("custom-type").id("42").data("named"))
            .await?;
        ctx.send_event("update", "shorthand").await?;
        ctx.send_json("json", &serde_json::json!({"n": 1})).await?;
        // A bad id is refused and the stream goes on.
        let refused = ctx.send(Event::new().id("a\nb").data("x")).await;
        assert!(
            matches!(refused, Err(ref e) if !e.is_closed()),
            "{refused:?}"
        );
        ctx.send(Event::new().comment("only a comment")).await?;
        ctx.send_event("last", "bye").await
    });
    let config =
        ServerConfig::default().sse(SseConfig::default().retry(Some(Duration::from_millis(2500))));
    let server = start_server::<N>(router, config).await;
    let mut client = SseClient::<N>::open(server.addr, "/events", &[]).await;
    let head = client.head.clone();
    assert_eq!(status_line(head.as_bytes()), "HTTP/1.1 200 OK", "{head}");
    assert!(
        has_header(&head, "content-type", "text/event-stream"),
        "{head}"
    );
    assert!(has_header(&head, "cache-control", "no-cache"), "{head}");
    assert!(has_header(&head, "x-accel-buffering", "no"), "{head}");
    assert!(has_header(&head, "connection", "close"), "{head}");
    let lower = head.to_ascii_lowercase();
    for absent in ["content-length", "transfer-encoding", "content-encoding"] {
        assert!(!lower.contains(absent), "{absent} in {head}");
    }

    let events = client.events_to_end().await;
    assert!(
        client.body.starts_with(b"retry: 2500\n\n"),
        "{:?}",
        String::from_utf8_lossy(&client.body)
    );
    assert_eq!(client.decoder.retry(), Some(Duration::from_millis(2500)));
    let mut expected: Vec<DecodedEvent> = TRICKY
        .iter()
        .map(|(_, read)| event("message", read, ""))
        .collect();
    expected.push(event("custom-type", "named", "42"));
    expected.push(event("update", "shorthand", "42"));
    expected.push(event("json", r#"{"n":1}"#, "42"));
    expected.push(event("last", "bye", "42"));
    assert_eq!(events, expected);
    assert!(
        wait_until::<N>(Duration::from_secs(5), || server
            .handle
            .active_sse_connections()
            == 0)
        .await
    );
}

#[derive(Clone)]
struct User(&'static str);

#[allow(
    clippy::result_large_err,
    reason = "the middleware signature is the router's (Result<(), Response>)"
)]
async fn request_details_reach_the_context<N: TestRuntime>() {
    let router = Router::new().sse_with(
        "/events/:room",
        |ctx: SseContext| async move {
            let report = format!(
                "{}|{}|{}|{}|{}|{}",
                ctx.param("room").unwrap_or("-"),
                ctx.query("user").unwrap_or("-"),
                ctx.header("x-test").unwrap_or("-"),
                ctx.last_event_id().unwrap_or("-"),
                ctx.get::<User>().map_or("-", |user| user.0),
                ctx.remote_addr().is_some() && ctx.local_addr().is_some(),
            );
            ctx.send_event("info", report).await
        },
        RouteOptions::new().middleware(|ctx| {
            ctx.set(User("ann"));
            Ok(())
        }),
    );
    let app = TestApp::<N>::start(router, ServerConfig::default()).await;
    let mut client = app
        .sse_with(
            "/events/lobby?user=b%C3%A9a",
            &[("X-Test", "yes"), ("Last-Event-ID", "7")],
        )
        .await;
    client.expect_status(200);
    client
        .expect_event("info", "lobby|b\u{e9}a|yes|7|ann|true")
        .await;
    client.expect_end().await;
}

async fn stream_form_sends_every_event<N: TestRuntime>() {
    let router = Router::new().sse(
        "/ticks",
        Sse::from_stream(|ctx: &SseContext| {
            let count: usize = ctx.query("n").and_then(|n| n.parse().ok()).unwrap_or(0);
            futures_util::stream::iter((1..=count).map(|i| {
                Event::new()
                    .event("tick")
                    .id(i.to_string())
                    .data(i.to_string())
            }))
        }),
    );
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let mut client = SseClient::<N>::open(server.addr, "/ticks?n=5", &[]).await;
    let expected: Vec<DecodedEvent> = (1..=5)
        .map(|i| event("tick", &i.to_string(), &i.to_string()))
        .collect();
    assert_eq!(client.events_to_end().await, expected);
}

async fn other_methods_get_405<N: TestRuntime>() {
    let router = Router::new().sse("/events", |ctx: SseContext| async move {
        ctx.send_event("x", "y").await
    });
    let server = start_server::<N>(router, ServerConfig::default()).await;
    for method in ["POST", "HEAD", "PUT"] {
        let mut raw = RawClient::<N>::connect(server.addr).await;
        raw.send(
            format!("{method} /events HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
                .as_bytes(),
        )
        .await;
        let response = raw.read_to_end().await;
        let text = String::from_utf8_lossy(&response);
        assert_eq!(
            status_line(&response),
            "HTTP/1.1 405 Method Not Allowed",
            "{text}"
        );
        assert!(has_header(&text, "allow", "GET"), "{text}");
    }
}

async fn keep_alive_comment_after_the_interval<N: TestRuntime>() {
    let router = Router::new().sse("/events", |ctx: SseContext| async move {
        ctx.send_event("first", "1").await?;
        ctx.closed().await;
        Ok(())
    });
    let config = ServerConfig::default()
        .sse(SseConfig::default().keep_alive(Some(Duration::from_millis(200))));
    let server = start_server::<N>(router, config).await;
    let mut client = SseClient::<N>::open(server.addr, "/events", &[]).await;
    assert_eq!(client.next_event().await, Some(event("first", "1", "")));
    let start = Instant::now();
    let comment: &[u8] = b": keep-alive\n\n";
    while !client.body.ends_with(comment) {
        assert!(client.read_chunk().await, "stream ended early");
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(120) && elapsed < Duration::from_secs(2),
        "keep-alive after {elapsed:?}"
    );
    // And again, while idle.
    let before = client.body.len();
    while client.body.len() < before + comment.len() {
        assert!(client.read_chunk().await, "stream ended early");
    }
    assert!(client.body.ends_with(comment));
    // Comments fire nothing.
    assert_eq!(client.decoder.poll_event(), None);
}

async fn closed_completes_when_the_client_leaves<N: TestRuntime>() {
    let (tx, rx) = channel::bounded::<(SseEnd, bool)>(1);
    let router = Router::new().sse("/events", move |ctx: SseContext| {
        let tx = tx.clone();
        async move {
            ctx.send_event("ready", "").await?;
            // Idle: nothing is sent, so only reading the socket can notice.
            let reason = ctx.closed().await;
            let send_fails = ctx
                .send_event("late", "x")
                .await
                .is_err_and(|e| e.is_closed());
            let _ = tx.send((reason, send_fails)).await;
            Ok(())
        }
    });
    let config = ServerConfig::default().sse(SseConfig::default().keep_alive(None));
    let server = start_server::<N>(router, config).await;
    let mut client = SseClient::<N>::open(server.addr, "/events", &[]).await;
    assert_eq!(client.next_event().await, Some(event("ready", "", "")));
    assert_eq!(server.handle.active_sse_connections(), 1);
    let start = Instant::now();
    drop(client);
    let (reason, send_fails) = timeout::<N, _>(Duration::from_secs(2), rx.recv())
        .await
        .expect("closed() completes promptly")
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "after {:?}",
        start.elapsed()
    );
    assert_eq!(reason, SseEnd::ClientGone);
    assert!(send_fails, "send after the end returns Error::Closed");
    assert!(
        wait_until::<N>(Duration::from_secs(2), || server
            .handle
            .active_sse_connections()
            == 0)
        .await
    );
}

async fn max_connections_answers_503<N: TestRuntime>() {
    let router = Router::new()
        .sse("/events", |ctx: SseContext| async move {
            ctx.send_event("hello", "").await?;
            ctx.closed().await;
            Ok(())
        })
        .websocket("/ws", tidings_framework::server::echo);
    let config = ServerConfig::default()
        .max_connections(1)
        .sse(SseConfig::default().max_connections(1));
    let server = start_server::<N>(router, config).await;
    let mut first = SseClient::<N>::open(server.addr, "/events", &[]).await;
    assert_eq!(first.next_event().await, Some(event("hello", "", "")));

    let mut raw = RawClient::<N>::connect(server.addr).await;
    raw.send(sse_request("/events", &[]).as_bytes()).await;
    let response = raw.read_to_end().await;
    assert_eq!(status_line(&response), "HTTP/1.1 503 Service Unavailable");

    // WebSocket connections are counted apart.
    let ws = tidings_tests::client::<N>(&server.url("/ws"), Default::default()).await;
    ws.write("still open").await.unwrap();
    assert_eq!(ws.read().await.unwrap(), "still open".into());

    drop(first);
    assert!(
        wait_until::<N>(Duration::from_secs(5), || server
            .handle
            .active_sse_connections()
            == 0)
        .await
    );
    let mut third = SseClient::<N>::open(server.addr, "/events", &[]).await;
    assert_eq!(status_line(third.head.as_bytes()), "HTTP/1.1 200 OK");
    assert_eq!(third.next_event().await, Some(event("hello", "", "")));
}

async fn slow_client_is_disconnected_and_counted<N: TestRuntime>() {
    const MAX_SENDS: usize = 100_000;
    let (tx, rx) = channel::bounded::<(usize, bool, Option<SseEnd>)>(1);
    let router = Router::new().sse("/events", move |ctx: SseContext| {
        let tx = tx.clone();
        async move {
            let chunk = "x".repeat(64 << 10);
            let mut sent = 0;
            let mut closed = false;
            while sent < MAX_SENDS {
                match ctx.send_event("big", chunk.as_str()).await {
                    Ok(()) => sent += 1,
                    Err(error) => {
                        closed = error.is_closed();
                        break;
                    }
                }
            }
            let _ = tx.send((sent, closed, ctx.end_reason())).await;
            Ok(())
        }
    });
    let config = ServerConfig::default().sse(
        SseConfig::default()
            .buffer_size(4)
            .send_timeout(Duration::from_millis(300))
            .keep_alive(None),
    );
    let server = start_server::<N>(router, config).await;
    // Reads the head, then never reads again.
    let client = SseClient::<N>::open(server.addr, "/events", &[]).await;
    let (sent, closed, reason) = timeout::<N, _>(Duration::from_secs(15), rx.recv())
        .await
        .expect("the slow client is disconnected")
        .unwrap();
    assert!(sent < MAX_SENDS, "the handler was stopped (sent {sent})");
    assert!(closed, "send returned Error::Closed");
    assert_eq!(reason, Some(SseEnd::TooSlow));
    assert_eq!(server.handle.hub().stats().sse_send_timeouts, 1);
    assert!(
        wait_until::<N>(Duration::from_secs(5), || server
            .handle
            .active_sse_connections()
            == 0)
        .await
    );
    drop(client);
}

/// A feed route over `topic`: it takes its subscription first, then sends a
/// `hello` (no id) so the test knows it is subscribed, then forwards.
fn feed_router(topic: &SseTopic) -> Router {
    let topic = topic.clone();
    Router::new().sse("/feed", move |ctx: SseContext| {
        let subscription = topic.subscribe(ctx.last_event_id());
        async move {
            ctx.send_event("hello", "").await?;
            ctx.forward(subscription).await;
            Ok(())
        }
    })
}

fn published(n: usize) -> DecodedEvent {
    event("news", &format!("item {n}"), &n.to_string())
}

fn publish(topic: &SseTopic, n: usize) {
    let id = topic
        .publish(Event::new().event("news").data(format!("item {n}")))
        .unwrap();
    assert_eq!(id, n.to_string());
}

async fn replay_resumes_after_last_event_id<N: TestRuntime>() {
    let topic = SseTopic::new(10);
    let server = start_server::<N>(feed_router(&topic), ServerConfig::default()).await;
    for n in 1..=3 {
        publish(&topic, n);
    }
    // A first visit: live events only.
    let mut fresh = SseClient::<N>::open(server.addr, "/feed", &[]).await;
    assert_eq!(fresh.next_event().await, Some(event("hello", "", "")));

    // A reconnection after id 1: 2 and 3, then live.
    let mut client = SseClient::<N>::open(server.addr, "/feed", &[("Last-Event-ID", "1")]).await;
    assert_eq!(client.next_event().await, Some(event("hello", "", "")));
    assert_eq!(client.next_event().await, Some(published(2)));
    assert_eq!(client.next_event().await, Some(published(3)));
    publish(&topic, 4);
    assert_eq!(client.next_event().await, Some(published(4)));
    assert_eq!(fresh.next_event().await, Some(published(4)));
    let last = client.decoder.last_event_id().to_owned();
    drop(client);

    for n in 5..=6 {
        publish(&topic, n);
    }
    let mut again = SseClient::<N>::open(server.addr, "/feed", &[("Last-Event-ID", &last)]).await;
    assert_eq!(again.next_event().await, Some(event("hello", "", "")));
    assert_eq!(again.next_event().await, Some(published(5)));
    assert_eq!(again.next_event().await, Some(published(6)));
    // Nothing twice: the next event is the next published one.
    publish(&topic, 7);
    assert_eq!(again.next_event().await, Some(published(7)));
    for n in 5..=7 {
        assert_eq!(fresh.next_event().await, Some(published(n)));
    }
}

async fn unknown_or_evicted_id_gets_the_reset_event<N: TestRuntime>() {
    let topic = SseTopic::new(3);
    let server = start_server::<N>(feed_router(&topic), ServerConfig::default()).await;
    for n in 1..=6 {
        publish(&topic, n);
    }
    assert_eq!(topic.len(), 3);
    for stale in ["1", "3", "no-such-id"] {
        let mut client =
            SseClient::<N>::open(server.addr, "/feed", &[("Last-Event-ID", stale)]).await;
        assert_eq!(client.next_event().await, Some(event("hello", "", "")));
        // The reset carries the newest id, so a later reconnect resumes there.
        assert_eq!(client.next_event().await, Some(event("reset", "", "6")));
        if stale == "no-such-id" {
            publish(&topic, 7);
            assert_eq!(client.next_event().await, Some(published(7)));
        }
    }
    // The ring holds 5, 6, 7: after 5 come 6 and 7, no reset.
    let mut client = SseClient::<N>::open(server.addr, "/feed", &[("Last-Event-ID", "5")]).await;
    assert_eq!(client.next_event().await, Some(event("hello", "", "")));
    for n in 6..=7 {
        assert_eq!(client.next_event().await, Some(published(n)));
    }
}

async fn shutdown_ends_the_stream_after_queued_events<N: TestRuntime>() {
    const COUNT: usize = 50;
    let (tx, rx) = channel::bounded::<SseEnd>(1);
    let router = Router::new().sse("/events", move |ctx: SseContext| {
        let tx = tx.clone();
        async move {
            for i in 0..COUNT {
                ctx.send_event("n", i.to_string()).await?;
            }
            let reason = ctx.closed().await;
            let _ = tx.send(reason).await;
            Ok(())
        }
    });
    let server = start_server::<N>(router, ServerConfig::default()).await;
    let mut client = SseClient::<N>::open(server.addr, "/events", &[]).await;
    assert_eq!(client.next_event().await, Some(event("n", "0", "")));
    let (finished, rest) = join(
        server.handle.shutdown(Duration::from_secs(5)),
        client.events_to_end(),
    )
    .await;
    assert!(finished, "every stream finished before the deadline");
    let expected: Vec<DecodedEvent> = (1..COUNT).map(|i| event("n", &i.to_string(), "")).collect();
    assert_eq!(rest, expected);
    assert_eq!(rx.recv().await.unwrap(), SseEnd::Shutdown);
    assert_eq!(server.handle.active_sse_connections(), 0);
}
