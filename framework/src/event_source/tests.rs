//! Unit tests of the sans-IO parts of the client: URLs, the request head,
//! response checks and body framing.

use super::*;

#[test]
fn parses_http_urls() {
    let t = parse_url("http://example.com/events?room=1#frag").unwrap();
    assert_eq!(
        (
            t.host.as_str(),
            t.port,
            t.authority.as_str(),
            t.resource.as_str()
        ),
        ("example.com", 80, "example.com", "/events?room=1")
    );
    let t = parse_url("HTTP://127.0.0.1:8080").unwrap();
    assert_eq!(
        (
            t.host.as_str(),
            t.port,
            t.authority.as_str(),
            t.resource.as_str()
        ),
        ("127.0.0.1", 8080, "127.0.0.1:8080", "/")
    );
    let t = parse_url("http://[::1]:9000/x").unwrap();
    assert_eq!(
        (t.host.as_str(), t.port, t.authority.as_str()),
        ("::1", 9000, "[::1]:9000")
    );
    let t = parse_url("http://h:/").unwrap();
    assert_eq!((t.port, t.authority.as_str()), (80, "h"));
}

#[test]
fn parses_https_and_refuses_other_urls() {
    let t = parse_url("https://example.com/events").unwrap();
    assert_eq!(
        (t.tls, t.port, t.authority.as_str()),
        (true, 443, "example.com")
    );
    let t = parse_url("https://example.com:8443/").unwrap();
    assert_eq!((t.port, t.authority.as_str()), (8443, "example.com:8443"));
    for url in [
        "ws://example.com/",
        "/events",
        "example.com/events",
        "http://user:pw@example.com/",
        "http://example.com:99999/",
        "not a url",
    ] {
        assert!(
            matches!(parse_url(url), Err(EventSourceError::InvalidUrl { .. })),
            "{url}"
        );
    }
}

fn request_text(config: &EventSourceConfig, id: &str) -> String {
    let target = parse_url("http://127.0.0.1:8080/events?x=1").unwrap();
    String::from_utf8(encode_request(&target, config, id)).unwrap()
}

#[test]
fn request_head_has_the_eventsource_headers() {
    let text = request_text(&EventSourceConfig::default(), "");
    assert_eq!(
        text,
        "GET /events?x=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\naccept: text/event-stream\r\n\
         cache-control: no-cache\r\n\r\n"
    );
    let config = EventSourceConfig::default()
        .header(
            HeaderName::from_static("authorization"),
            HeaderValue::from_static("Bearer x"),
        )
        .header(ACCEPT, HeaderValue::from_static("text/plain"))
        .header(LAST_EVENT_ID, HeaderValue::from_static("stale"));
    let text = request_text(&config, "42");
    assert!(text.contains("authorization: Bearer x\r\n"), "{text}");
    assert!(text.contains("accept: text/event-stream\r\n"), "{text}");
    assert!(!text.contains("text/plain"), "{text}");
    assert!(text.contains("last-event-id: 42\r\n"), "{text}");
    assert!(!text.contains("stale"), "{text}");
    let text = request_text(&EventSourceConfig::default(), "é1");
    assert!(text.contains("last-event-id: é1\r\n"), "{text}");
    // An id that is not a valid header value is not sent.
    let text = request_text(&EventSourceConfig::default(), "a\u{7f}b");
    assert!(!text.contains("last-event-id"), "{text}");
}

fn response(status: u16, headers: &[(&str, &str)]) -> Response<()> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap()
}

#[test]
fn accepts_event_streams_and_picks_the_framing() {
    let sse = ("content-type", "text/event-stream");
    assert!(matches!(
        check_response(&response(200, &[sse])),
        Ok(Some(Body::Close))
    ));
    assert!(matches!(
        check_response(&response(
            200,
            &[("content-type", "Text/Event-Stream ; charset=utf-8")]
        )),
        Ok(Some(Body::Close))
    ));
    assert!(matches!(
        check_response(&response(200, &[sse, ("content-length", "12")])),
        Ok(Some(Body::Length(12)))
    ));
    assert!(matches!(
        check_response(&response(
            200,
            &[
                sse,
                ("transfer-encoding", "Chunked"),
                ("content-length", "3")
            ]
        )),
        Ok(Some(Body::Chunked(_)))
    ));
    assert!(matches!(
        check_response(&response(200, &[sse, ("content-encoding", "identity")])),
        Ok(Some(Body::Close))
    ));
    assert!(matches!(check_response(&response(204, &[])), Ok(None)));
}

#[test]
fn refuses_other_responses_without_retry() {
    let sse = ("content-type", "text/event-stream");
    let cases = [
        response(500, &[sse]),
        response(301, &[sse, ("location", "/elsewhere")]),
        response(200, &[("content-type", "text/html")]),
        response(200, &[("content-type", "text/event-streams")]),
        response(200, &[]),
        response(200, &[sse, ("content-encoding", "gzip")]),
        response(200, &[sse, ("transfer-encoding", "gzip, chunked")]),
        response(200, &[sse, ("content-length", "+5")]),
        response(
            200,
            &[sse, ("content-length", "5"), ("content-length", "6")],
        ),
    ];
    for case in &cases {
        let error = check_response(case).unwrap_err();
        assert!(!error.is_retryable(), "{error}");
    }
    match check_response(&cases[0]) {
        Err(EventSourceError::Status { status, .. }) => assert_eq!(status, 500),
        other => panic!("{other:?}"),
    }
    match check_response(&cases[2]) {
        Err(EventSourceError::ContentType { content_type }) => {
            assert_eq!(content_type.as_deref(), Some("text/html"));
        }
        other => panic!("{other:?}"),
    }
    match check_response(&cases[4]) {
        Err(EventSourceError::ContentType { content_type }) => assert_eq!(content_type, None),
        other => panic!("{other:?}"),
    }
}

#[test]
fn content_length_body_ends_at_its_length() {
    let mut decoder = Decoder::new();
    let mut body = Body::Length(20);
    let mut input: &[u8] = b"data: a\n\n";
    assert!(!feed_body(&mut body, &mut decoder, &mut input).unwrap());
    let mut input: &[u8] = b"data: b\n\ndata: c\n\n";
    assert!(feed_body(&mut body, &mut decoder, &mut input).unwrap());
    decoder.finish();
    let data: Vec<_> = std::iter::from_fn(|| decoder.poll_event())
        .map(|e| e.data)
        .collect();
    // The 20 bytes end after "data: b\n\nda": "c" is past the body.
    assert_eq!(data, ["a", "b"]);
}

#[test]
fn chunked_body_feeds_the_decoder() {
    let mut decoder = Decoder::new();
    let mut body = Body::Chunked(ChunkedDecoder::new());
    let pieces: [&[u8]; 4] = [
        b"4\r\ndata\r\n5\r\n: h\xC3",
        b"\xA9\r\n2\r\n\n\n\r\n",
        b"0\r\n",
        b"\r\n",
    ];
    let mut ended = false;
    for piece in pieces {
        let mut input = piece;
        ended = feed_body(&mut body, &mut decoder, &mut input).unwrap();
    }
    assert!(ended);
    let event = decoder.poll_event().unwrap();
    assert_eq!(event.data, "hé");
    assert_eq!(decoder.poll_event(), None);

    let mut body = Body::Chunked(ChunkedDecoder::new());
    let mut input: &[u8] = b"zz\r\n";
    let error = feed_body(&mut body, &mut decoder, &mut input).unwrap_err();
    assert!(error.is_retryable(), "{error}");
}

#[test]
fn decode_limits_are_fatal() {
    let mut decoder = Decoder::with_limits(Limits::default().with_max_line_len(8));
    let mut input: &[u8] = b"data: too long\n";
    let error = feed_body(&mut Body::Close, &mut decoder, &mut input).unwrap_err();
    assert!(matches!(error, EventSourceError::Decode(_)));
    assert!(!error.is_retryable());
}

#[test]
fn converts_to_the_crate_error() {
    let error: crate::Error = EventSourceError::Timeout.into();
    assert!(matches!(error, crate::Error::Timeout));
    let error: crate::Error = EventSourceError::Status {
        status: StatusCode::NOT_FOUND,
        headers: Box::default(),
        body: String::new(),
    }
    .into();
    assert_eq!(
        error.to_string(),
        "the server answered 404 Not Found instead of 200"
    );
}

#[test]
fn request_with_method_headers_and_body() {
    let request = Request::post("http://127.0.0.1:8080/v1/chat")
        .header("content-type", "application/json")
        .header("authorization", "Bearer from-request")
        .body(r#"{"stream":true}"#)
        .unwrap();
    let target = parse_request(request.into_event_source_request().unwrap()).unwrap();
    let config = EventSourceConfig::default().header(
        HeaderName::from_static("authorization"),
        HeaderValue::from_static("Bearer from-config"),
    );
    let text = String::from_utf8(encode_request(&target, &config, "9")).unwrap();
    assert!(text.starts_with("POST /v1/chat HTTP/1.1\r\n"), "{text}");
    assert!(
        text.contains("authorization: Bearer from-request\r\n"),
        "{text}"
    );
    assert!(!text.contains("from-config"), "{text}");
    assert!(
        text.contains("content-type: application/json\r\n"),
        "{text}"
    );
    assert!(text.contains("content-length: 15\r\n"), "{text}");
    assert!(text.contains("last-event-id: 9\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n{\"stream\":true}"), "{text}");
    // A GET has no body and no Content-Length.
    let get = request_text(&EventSourceConfig::default(), "");
    assert!(!get.contains("content-length"), "{get}");
}
