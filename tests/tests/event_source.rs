//! The SSE client (`tidings_framework::event_source::EventSource`) against
//! hand-written servers that write exact bytes, on all three runtimes:
//! fields and headers, reconnection with `Last-Event-ID` after the `retry:`
//! delay, 204, wrong status or content type, chunked and `Content-Length`
//! bodies, `close`, the `Stream` impl.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use tidings_framework::event_source::{EventSource, EventSourceConfig, EventSourceError};
use tidings_framework::http::{HeaderName, HeaderValue, Request};
use tidings_framework::sse::DecodedEvent;
use tidings_tests::channel::{Receiver, unbounded};
use tidings_tests::{TestRuntime, all_runtimes, has_header, sleep, timeout};

/// What the scripted server does on one connection: write `pieces` with a
/// short pause between them, then close, or (`hold`) wait for the client to
/// close and report `"EOF"`.
struct Reply {
    pieces: Vec<Vec<u8>>,
    hold: bool,
}

impl Reply {
    /// Writes `head` then `body` and closes.
    fn close(head: &str, body: &[u8]) -> Self {
        Reply {
            pieces: vec![head.as_bytes().to_vec(), body.to_vec()],
            hold: false,
        }
    }
}

const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";

/// Serves `replies` in order, one per connection, then stops listening (at
/// once, or after 5 s without a connection). Sends each request head (with
/// its body, if any), and
/// `"EOF"` when a held connection is closed by the client, to the receiver.
/// Returns the base URL (`http://127.0.0.1:PORT`).
async fn serve<N: TestRuntime>(replies: Vec<Reply>) -> (String, Receiver<String>) {
    let listener = N::bind("127.0.0.1:0").await.expect("bind");
    let addr = N::listener_addr(&listener).expect("listener address");
    let (tx, rx) = unbounded();
    N::default().spawn(async move {
        for reply in replies {
            let Ok(Ok((mut stream, _))) =
                timeout::<N, _>(Duration::from_secs(5), N::accept(&listener)).await
            else {
                return;
            };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match stream.read(&mut byte).await {
                    Ok(1) => head.push(byte[0]),
                    _ => return,
                }
            }
            // A request body (`Content-Length`) follows the head in the report.
            let text = String::from_utf8(head.clone()).expect("a UTF-8 request head");
            let length = text
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|n| n.trim().parse::<usize>().expect("a length"))
                })
                .unwrap_or(0);
            let mut body = vec![0u8; length];
            if stream.read_exact(&mut body).await.is_err() {
                return;
            }
            head.extend_from_slice(&body);
            let _ = tx.try_send(String::from_utf8(head).expect("a UTF-8 request"));
            for (i, piece) in reply.pieces.iter().enumerate() {
                if i > 0 {
                    sleep::<N>(Duration::from_millis(15)).await;
                }
                if stream.write_all(piece).await.is_err() || stream.flush().await.is_err() {
                    break;
                }
            }
            if reply.hold {
                let mut rest = [0u8; 256];
                while let Ok(n) = stream.read(&mut rest).await {
                    if n == 0 {
                        break;
                    }
                }
                let _ = tx.try_send("EOF".to_owned());
            }
        }
    });
    (format!("http://{addr}"), rx)
}

/// The next event, which must arrive within 5 s.
async fn next_event<N: TestRuntime>(source: &mut EventSource<N>) -> DecodedEvent {
    match timeout::<N, _>(Duration::from_secs(5), source.next()).await {
        Ok(Some(Ok(event))) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// What `next` returns within 5 s, when it is not an event.
async fn next_end<N: TestRuntime>(
    source: &mut EventSource<N>,
) -> Option<Result<DecodedEvent, EventSourceError>> {
    timeout::<N, _>(Duration::from_secs(5), source.next())
        .await
        .expect("the client to finish within 5 s")
}

fn event(event_type: &str, data: &str, id: &str) -> DecodedEvent {
    DecodedEvent {
        event_type: event_type.to_owned(),
        data: data.to_owned(),
        last_event_id: id.to_owned(),
    }
}

async fn head(heads: &Receiver<String>) -> String {
    heads.recv().await.expect("a request head")
}

fn no_retry() -> EventSourceConfig {
    EventSourceConfig::default().max_retries(Some(0))
}

/// Every field kind, on a close-delimited body; the request carries the
/// EventSource headers and the configured extra header.
async fn yields_events_and_sends_eventsource_headers<N: TestRuntime>() {
    let body = b"retry: 250\n: comment\nid: 7\nevent: greet\ndata: line one\ndata: line two\n\n\
                 data:  leading space\r\n\r\nevent: x\ndata\n\nid: 8\ndata: unfinished";
    let (url, heads) = serve::<N>(vec![Reply::close(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n\r\n",
        body,
    )])
    .await;
    let config = no_retry().header(
        HeaderName::from_static("x-token"),
        HeaderValue::from_static("abc"),
    );
    let mut source = EventSource::<N>::connect(&format!("{url}/events?room=1"), config)
        .await
        .expect("connect");
    let request = head(&heads).await;
    assert!(
        request.starts_with("GET /events?room=1 HTTP/1.1\r\n"),
        "{request}"
    );
    let host = url.trim_start_matches("http://");
    assert!(has_header(&request, "host", host), "{request}");
    assert!(
        has_header(&request, "accept", "text/event-stream"),
        "{request}"
    );
    assert!(
        has_header(&request, "cache-control", "no-cache"),
        "{request}"
    );
    assert!(has_header(&request, "x-token", "abc"), "{request}");
    assert!(
        !request.to_ascii_lowercase().contains("last-event-id"),
        "{request}"
    );

    assert_eq!(
        next_event(&mut source).await,
        event("greet", "line one\nline two", "7")
    );
    assert_eq!(
        next_event(&mut source).await,
        event("message", " leading space", "7")
    );
    assert_eq!(next_event(&mut source).await, event("x", "", "7"));
    // The unfinished event at the end of the stream is discarded, its id too.
    assert!(next_end(&mut source).await.is_none());
    assert!(next_end(&mut source).await.is_none());
    assert!(source.is_closed());
    assert_eq!(source.last_event_id(), "7");
    assert_eq!(source.reconnect_delay(), Duration::from_millis(250));

    let error = EventSource::<N>::connect("https://127.0.0.1:1/", no_retry())
        .await
        .unwrap_err();
    // TLS is compiled in: nothing listens on port 1, so the TCP connect fails.
    assert!(matches!(error, EventSourceError::Io(_)), "{error}");
}

/// The server drops the stream: the client waits the `retry:` delay (not
/// the 3 s default), reconnects with `Last-Event-ID`, and gives up after
/// `max_retries` failed attempts once the server is gone.
async fn reconnects_with_last_event_id_after_retry_delay<N: TestRuntime>() {
    let (url, heads) = serve::<N>(vec![
        Reply::close(SSE_HEAD, b"retry: 150\nid: 1\ndata: first\n\n"),
        Reply::close(SSE_HEAD, b"id: 2\ndata: second\n\n"),
    ])
    .await;
    let config = EventSourceConfig::default().max_retries(Some(1));
    let mut source = EventSource::<N>::connect(&url, config)
        .await
        .expect("connect");
    assert_eq!(
        next_event(&mut source).await,
        event("message", "first", "1")
    );
    let first_at = Instant::now();
    assert_eq!(
        next_event(&mut source).await,
        event("message", "second", "2")
    );
    let waited = first_at.elapsed();
    assert!(
        waited >= Duration::from_millis(140) && waited < Duration::from_millis(2500),
        "reconnected after {waited:?}, expected the 150 ms retry delay"
    );
    assert_eq!(source.reconnects(), 1);
    let first = head(&heads).await;
    assert!(
        !first.to_ascii_lowercase().contains("last-event-id"),
        "{first}"
    );
    let second = head(&heads).await;
    assert!(has_header(&second, "last-event-id", "1"), "{second}");

    // The server stops listening after two connections: the one allowed
    // attempt fails, and the client reports it.
    match next_end(&mut source).await {
        Some(Err(EventSourceError::Io(_))) => {}
        other => panic!("expected the connect error, got {other:?}"),
    }
    assert!(next_end(&mut source).await.is_none());
    assert_eq!(source.last_event_id(), "2");
}

/// 204 stops the client, on the first connection and on a reconnection,
/// even with unlimited retries.
async fn no_content_stops<N: TestRuntime>() {
    let (url, heads) = serve::<N>(vec![Reply::close("HTTP/1.1 204 No Content\r\n\r\n", b"")]).await;
    let mut source = EventSource::<N>::connect(&url, EventSourceConfig::default())
        .await
        .expect("a 204 is not an error");
    assert!(source.is_closed());
    assert!(next_end(&mut source).await.is_none());
    head(&heads).await;

    let (url, heads) = serve::<N>(vec![
        Reply::close(SSE_HEAD, b"retry: 50\nid: a\ndata: one\n\n"),
        Reply::close("HTTP/1.1 204 No Content\r\n\r\n", b""),
        Reply::close(SSE_HEAD, b"data: never\n\n"),
    ])
    .await;
    let mut source = EventSource::<N>::connect(&url, EventSourceConfig::default())
        .await
        .expect("connect");
    assert_eq!(next_event(&mut source).await, event("message", "one", "a"));
    assert!(next_end(&mut source).await.is_none());
    head(&heads).await;
    assert!(has_header(&head(&heads).await, "last-event-id", "a"));
    sleep::<N>(Duration::from_millis(300)).await;
    assert!(heads.try_recv().is_err(), "reconnected after a 204");
}

/// An API's refusal comes with its headers and its error body (framed by
/// `Content-Length` or chunked; the connection stays open after it).
async fn error_status_keeps_headers_and_body<N: TestRuntime>() {
    let json = r#"{"error":{"type":"rate_limit","message":"slow down"}}"#;
    let (url, _heads) = serve::<N>(vec![
        Reply {
            pieces: vec![
                format!(
                    "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n\
                     Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    json.len()
                )
                .into_bytes(),
                json.as_bytes().to_vec(),
            ],
            hold: true,
        },
        Reply {
            pieces: vec![
                b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
                chunked(b"invalid API key", &[7, 8]),
            ],
            hold: true,
        },
    ])
    .await;
    let request = Request::post(format!("{url}/v1/chat")).body("{}").unwrap();
    match EventSource::<N>::connect(request, EventSourceConfig::default()).await {
        Err(EventSourceError::Status {
            status,
            headers,
            body,
        }) => {
            assert_eq!(status, 429);
            assert_eq!(headers["retry-after"], "7");
            assert_eq!(body, json);
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    match EventSource::<N>::connect(&url, EventSourceConfig::default()).await {
        Err(EventSourceError::Status { status, body, .. }) => {
            assert_eq!((status.as_u16(), body.as_str()), (401, "invalid API key"));
        }
        other => panic!("expected a status error, got {other:?}"),
    }
}

/// A status other than 200 fails without retry, first time or later.
async fn error_status_fails_without_retry<N: TestRuntime>() {
    let body = b"<h1>oops</h1>";
    let (url, _heads) = serve::<N>(vec![Reply::close(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/event-stream\r\n\r\n",
        body,
    )])
    .await;
    match EventSource::<N>::connect(&url, EventSourceConfig::default()).await {
        // The body ends with the connection: kept.
        Err(EventSourceError::Status { status, body, .. }) => {
            assert_eq!((status.as_u16(), body.as_str()), (500, "<h1>oops</h1>"));
        }
        other => panic!("expected a status error, got {other:?}"),
    }

    let (url, heads) = serve::<N>(vec![
        Reply::close(SSE_HEAD, b"retry: 50\ndata: one\n\n"),
        Reply::close("HTTP/1.1 503 Service Unavailable\r\n\r\n", b""),
        Reply::close(SSE_HEAD, b"data: never\n\n"),
    ])
    .await;
    let mut source = EventSource::<N>::connect(&url, EventSourceConfig::default())
        .await
        .expect("connect");
    assert_eq!(next_event(&mut source).await, event("message", "one", ""));
    match next_end(&mut source).await {
        Some(Err(EventSourceError::Status { status, .. })) => assert_eq!(status, 503),
        other => panic!("expected a status error, got {other:?}"),
    }
    assert!(next_end(&mut source).await.is_none());
    head(&heads).await;
    head(&heads).await;
    sleep::<N>(Duration::from_millis(300)).await;
    assert!(heads.try_recv().is_err(), "retried after a 503");
}

/// A content type other than text/event-stream fails without retry.
async fn wrong_content_type_fails_without_retry<N: TestRuntime>() {
    let (url, _heads) = serve::<N>(vec![Reply::close(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n",
        b"<p>not events</p>",
    )])
    .await;
    match EventSource::<N>::connect(&url, EventSourceConfig::default()).await {
        Err(EventSourceError::ContentType { content_type }) => {
            assert_eq!(content_type.as_deref(), Some("text/html; charset=utf-8"));
        }
        other => panic!("expected a content-type error, got {other:?}"),
    }

    let (url, heads) = serve::<N>(vec![
        Reply::close(SSE_HEAD, b"retry: 50\ndata: one\n\n"),
        Reply::close("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n", b"x"),
        Reply::close(SSE_HEAD, b"data: never\n\n"),
    ])
    .await;
    let mut source = EventSource::<N>::connect(&url, EventSourceConfig::default())
        .await
        .expect("connect");
    assert_eq!(next_event(&mut source).await, event("message", "one", ""));
    match next_end(&mut source).await {
        Some(Err(EventSourceError::ContentType { content_type })) => {
            assert_eq!(content_type.as_deref(), Some("text/html"));
        }
        other => panic!("expected a content-type error, got {other:?}"),
    }
    assert!(next_end(&mut source).await.is_none());
    head(&heads).await;
    head(&heads).await;
    sleep::<N>(Duration::from_millis(300)).await;
    assert!(heads.try_recv().is_err(), "retried after text/html");
}

/// Encodes `body` in chunks of the given sizes (cycled), with an extension
/// on every other chunk, then the last chunk and a trailer; returns the
/// chunked bytes.
fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    for (i, &size) in sizes.iter().cycle().enumerate() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        let extension = if i % 2 == 1 { ";n=v" } else { "" };
        out.extend_from_slice(format!("{:X}{extension}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\nX-Trailer: done\r\n\r\n");
    out
}

/// A chunked body whose chunk boundaries (and TCP writes) split lines, CRLF
/// pairs and UTF-8 characters; the client ends the stream at the last chunk
/// (the server keeps the connection open) and reconnects with the UTF-8 id.
async fn chunked_body_with_split_lines_and_utf8<N: TestRuntime>() {
    let events = "retry: 50\nid: é1\nevent: ünïcode\ndata: héllo wörld 🎉\r\ndata: second\r\n\r\n\
                  : keep-alive\n\ndata: after\n\n";
    let body = chunked(events.as_bytes(), &[3, 7, 1, 5, 2, 11]);
    // TCP writes cut across the chunk framing too.
    let mut pieces = vec![
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec(),
    ];
    pieces.extend(body.chunks(13).map(<[u8]>::to_vec));
    let (url, heads) = serve::<N>(vec![
        Reply { pieces, hold: true },
        Reply::close("HTTP/1.1 204 No Content\r\n\r\n", b""),
    ])
    .await;
    let mut source = EventSource::<N>::connect(&url, EventSourceConfig::default())
        .await
        .expect("connect");
    assert_eq!(
        next_event(&mut source).await,
        event("ünïcode", "héllo wörld 🎉\nsecond", "é1")
    );
    assert_eq!(
        next_event(&mut source).await,
        event("message", "after", "é1")
    );
    assert!(next_end(&mut source).await.is_none());
    head(&heads).await;
    assert_eq!(
        head(&heads).await,
        "EOF",
        "the client closed the first stream"
    );
    let second = head(&heads).await;
    assert!(has_header(&second, "last-event-id", "é1"), "{second}");
}

/// A `Content-Length` body ends at its length, not at the end of the
/// connection (which the server keeps open).
async fn content_length_body_ends_at_its_length<N: TestRuntime>() {
    let body = b"retry: 50\nid: 5\ndata: one\n\ndata: two\n\n";
    let head_text = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (url, heads) = serve::<N>(vec![
        Reply {
            pieces: vec![
                head_text.into_bytes(),
                body[..20].to_vec(),
                body[20..].to_vec(),
            ],
            hold: true,
        },
        Reply::close("HTTP/1.1 204 No Content\r\n\r\n", b""),
    ])
    .await;
    let mut source = EventSource::<N>::connect(&url, EventSourceConfig::default())
        .await
        .expect("connect");
    assert_eq!(next_event(&mut source).await, event("message", "one", "5"));
    assert_eq!(next_event(&mut source).await, event("message", "two", "5"));
    assert!(next_end(&mut source).await.is_none());
    head(&heads).await;
    assert_eq!(head(&heads).await, "EOF");
    assert!(has_header(&head(&heads).await, "last-event-id", "5"));
}

/// `close` ends the client and the connection; the `Stream` impl yields the
/// same events as `next`.
async fn close_and_stream<N: TestRuntime>() {
    let (url, heads) = serve::<N>(vec![Reply {
        pieces: vec![SSE_HEAD.as_bytes().to_vec(), b"data: one\n\n".to_vec()],
        hold: true,
    }])
    .await;
    let mut source = EventSource::<N>::connect(&url, EventSourceConfig::default())
        .await
        .expect("connect");
    assert_eq!(next_event(&mut source).await, event("message", "one", ""));
    source.close();
    assert!(next_end(&mut source).await.is_none());
    head(&heads).await;
    let closed = timeout::<N, _>(Duration::from_secs(5), heads.recv()).await;
    assert_eq!(closed, Ok(Ok("EOF".to_owned())));

    let (url, _heads) = serve::<N>(vec![Reply::close(
        SSE_HEAD,
        b"data: a\n\nevent: b\ndata: b\n\n",
    )])
    .await;
    let source = EventSource::<N>::connect(&url, no_retry())
        .await
        .expect("connect");
    let events: Vec<_> = timeout::<N, _>(Duration::from_secs(5), source.collect::<Vec<_>>())
        .await
        .expect("the stream to end");
    let events: Vec<_> = events.into_iter().map(Result::unwrap).collect();
    assert_eq!(events, [event("message", "a", ""), event("b", "b", "")]);
}

/// A `POST` with a JSON body and headers, as LLM streaming APIs take it;
/// the response head (status, headers) is readable; a reconnection sends
/// the same request again, with `Last-Event-ID`.
async fn post_request_with_body_and_response_head<N: TestRuntime>() {
    let (url, heads) = serve::<N>(vec![
        Reply::close(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Request-Id: r1\r\n\r\n",
            b"retry: 20\nid: 5\ndata: {\"token\":\"Hel\"}\n\n",
        ),
        Reply::close(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Request-Id: r2\r\n\r\n",
            b"data: [DONE]\n\n",
        ),
    ])
    .await;
    let body = r#"{"model":"m","stream":true}"#;
    let request = Request::post(format!("{url}/v1/chat"))
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-test")
        .body(body)
        .unwrap();
    let config = EventSourceConfig::default().max_retries(Some(0));
    let mut source = EventSource::<N>::connect(request, config.max_retries(Some(1)))
        .await
        .expect("connect");
    let response = source.response().expect("a response head");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "r1");
    assert_eq!(next_event(&mut source).await.data, r#"{"token":"Hel"}"#);
    assert_eq!(next_event(&mut source).await.data, "[DONE]");
    assert_eq!(source.response().unwrap().headers()["x-request-id"], "r2");
    for (i, sent) in [head(&heads).await, head(&heads).await].iter().enumerate() {
        assert!(sent.starts_with("POST /v1/chat HTTP/1.1\r\n"), "{sent}");
        assert!(
            has_header(sent, "content-type", "application/json"),
            "{sent}"
        );
        assert!(
            has_header(sent, "authorization", "Bearer sk-test"),
            "{sent}"
        );
        assert!(
            has_header(sent, "content-length", &body.len().to_string()),
            "{sent}"
        );
        assert!(has_header(sent, "accept", "text/event-stream"), "{sent}");
        assert!(sent.ends_with(&format!("\r\n\r\n{body}")), "{sent}");
        assert_eq!(has_header(sent, "last-event-id", "5"), i == 1, "{sent}");
    }
}

/// A stream that goes silent longer than the idle timeout is dropped and
/// reconnected.
async fn idle_timeout_reconnects<N: TestRuntime>() {
    let (url, heads) = serve::<N>(vec![
        Reply {
            pieces: vec![
                SSE_HEAD.as_bytes().to_vec(),
                b"retry: 10\nid: 1\ndata: a\n\n".to_vec(),
            ],
            hold: true,
        },
        Reply::close(SSE_HEAD, b"data: b\n\n"),
    ])
    .await;
    let config = EventSourceConfig::default()
        .idle_timeout(Some(Duration::from_millis(300)))
        .max_retries(Some(1));
    let mut source = EventSource::<N>::connect(&url, config)
        .await
        .expect("connect");
    assert_eq!(next_event(&mut source).await.data, "a");
    let silent_from = Instant::now();
    assert_eq!(next_event(&mut source).await.data, "b");
    let waited = silent_from.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "reconnected after {waited:?}, expected the 300 ms idle timeout"
    );
    assert_eq!(source.reconnects(), 1);
    head(&heads).await;
    // The silent connection was closed by the client.
    assert_eq!(head(&heads).await, "EOF");
}

all_runtimes!(
    post_request_with_body_and_response_head,
    error_status_keeps_headers_and_body,
    idle_timeout_reconnects,
    yields_events_and_sends_eventsource_headers,
    reconnects_with_last_event_id_after_retry_delay,
    no_content_stops,
    error_status_fails_without_retry,
    wrong_content_type_fails_without_retry,
    chunked_body_with_split_lines_and_utf8,
    content_length_body_ends_at_its_length,
    close_and_stream,
);

/// The adapters' non-generic API: `tidings_tokio::connect_events` and the
/// `EventSource` alias.
#[test]
fn adapter_exports() {
    tidings_tests::run_tokio(async {
        let (url, _heads) =
            serve::<tidings_tests::Tokio>(vec![Reply::close(SSE_HEAD, b"data: hi\n\n")]).await;
        let config = tidings_tokio::EventSourceConfig::default().max_retries(Some(0));
        let mut source: tidings_tokio::EventSource =
            tidings_tokio::connect_events_with(&url, config)
                .await
                .expect("connect");
        let event: tidings_tokio::DecodedEvent = next_event(&mut source).await;
        assert_eq!(event.data, "hi");
        assert!(next_end(&mut source).await.is_none());
    });
    tidings_tests::run_smol(async {
        let (url, _heads) = serve::<tidings_tests::Smol>(vec![Reply::close(
            "HTTP/1.1 204 No Content\r\n\r\n",
            b"",
        )])
        .await;
        let mut source = tidings_smol::connect_events(&url).await.expect("connect");
        assert!(next_end(&mut source).await.is_none());
    });
}
