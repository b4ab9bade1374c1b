//! Tests of the server and client handshakes, alone and against each other.

use std::sync::{Arc, Mutex};

use http::header::{HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use proptest::prelude::*;

use super::*;
use crate::head::{HeadLimits, parse_request, parse_response};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The header lines of a valid upgrade request (RFC 6455 §1.2, trimmed).
fn valid_lines() -> Vec<String> {
    [
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        &format!("Sec-WebSocket-Key: {KEY}"),
        "Origin: http://example.com",
        "Sec-WebSocket-Version: 13",
    ]
    .map(String::from)
    .to_vec()
}

/// Parses a request made of `request_line` and `lines`.
fn request(request_line: &str, lines: &[String]) -> Request<()> {
    let mut raw = format!("{request_line}\r\n");
    for line in lines {
        raw.push_str(line);
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    let (req, n) = parse_request(raw.as_bytes(), &HeadLimits::default())
        .unwrap()
        .unwrap();
    assert_eq!(n, raw.len());
    req
}

/// The valid request with every line starting with `name:` removed, then
/// `extra` lines appended.
fn modified(remove: &[&str], extra: &[&str]) -> Request<()> {
    let mut lines = valid_lines();
    lines.retain(|line| {
        !remove.iter().any(|name| {
            line.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
    });
    lines.extend(extra.iter().map(|line| line.to_string()));
    request("GET /chat HTTP/1.1", &lines)
}

fn encode_and_parse_rejection(rejection: &Rejection) -> (Response<()>, Vec<u8>) {
    let mut out = Vec::new();
    rejection.encode(&mut out);
    let (resp, n) = parse_response(&out, &HeadLimits::default())
        .unwrap()
        .unwrap();
    (resp, out[n..].to_vec())
}

#[test]
fn accepts_the_rfc_6455_example() {
    let accepted = ServerHandshake::default()
        .accept(&modified(&[], &[]))
        .unwrap();
    assert_eq!(accepted.subprotocol, None);
    let mut out = Vec::new();
    accepted.encode(&mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
             sec-websocket-accept: {ACCEPT}\r\n\r\n"
        )
    );
}

#[test]
fn each_rejection_has_its_exact_status_and_headers() {
    let cases: Vec<(&str, Request<()>, RejectReason, u16)> = vec![
        (
            "POST",
            request("POST /chat HTTP/1.1", &valid_lines()),
            RejectReason::MethodNotAllowed,
            405,
        ),
        (
            "HTTP/1.0",
            request("GET /chat HTTP/1.0", &valid_lines()),
            RejectReason::HttpVersionTooOld,
            400,
        ),
        (
            "no Host",
            modified(&["host"], &[]),
            RejectReason::BadHost,
            400,
        ),
        (
            "two Hosts",
            modified(&[], &["Host: other.example"]),
            RejectReason::BadHost,
            400,
        ),
        (
            "no Upgrade",
            modified(&["upgrade"], &[]),
            RejectReason::NotAnUpgrade,
            426,
        ),
        (
            "Upgrade: h2c",
            modified(&["upgrade"], &["Upgrade: h2c"]),
            RejectReason::NotAnUpgrade,
            426,
        ),
        (
            "no Connection",
            modified(&["connection"], &[]),
            RejectReason::MissingConnectionUpgrade,
            400,
        ),
        (
            "Connection: keep-alive",
            modified(&["connection"], &["Connection: keep-alive"]),
            RejectReason::MissingConnectionUpgrade,
            400,
        ),
        (
            "Connection: upgrades",
            modified(&["connection"], &["Connection: upgrades"]),
            RejectReason::MissingConnectionUpgrade,
            400,
        ),
        (
            "no version",
            modified(&["sec-websocket-version"], &[]),
            RejectReason::UnsupportedVersion,
            426,
        ),
        (
            "version 8",
            modified(&["sec-websocket-version"], &["Sec-WebSocket-Version: 8"]),
            RejectReason::UnsupportedVersion,
            426,
        ),
        (
            "version list",
            modified(
                &["sec-websocket-version"],
                &["Sec-WebSocket-Version: 13, 8"],
            ),
            RejectReason::UnsupportedVersion,
            426,
        ),
        (
            "two versions",
            modified(&[], &["Sec-WebSocket-Version: 13"]),
            RejectReason::UnsupportedVersion,
            426,
        ),
        (
            "no key",
            modified(&["sec-websocket-key"], &[]),
            RejectReason::BadKey,
            400,
        ),
        (
            "two keys",
            modified(&[], &["Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="]),
            RejectReason::BadKey,
            400,
        ),
        (
            "15-byte key",
            modified(
                &["sec-websocket-key"],
                &["Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA"],
            ),
            RejectReason::BadKey,
            400,
        ),
        (
            "17-byte key",
            modified(
                &["sec-websocket-key"],
                &["Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA="],
            ),
            RejectReason::BadKey,
            400,
        ),
        (
            "key not base64",
            modified(
                &["sec-websocket-key"],
                &["Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="],
            ),
            RejectReason::BadKey,
            400,
        ),
        (
            "key with non-canonical padding bits",
            modified(
                &["sec-websocket-key"],
                &["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR=="],
            ),
            RejectReason::BadKey,
            400,
        ),
    ];
    let server = ServerHandshake::default();
    for (name, req, reason, status) in cases {
        let rejection = server.accept(&req).unwrap_err();
        assert_eq!(rejection.kind(), reason, "{name}");
        assert_eq!(rejection.status().as_u16(), status, "{name}");
        check_rejection_response(name, &rejection);
    }
}

/// The encoded rejection is a complete, closing, plain-text response whose
/// headers match the status.
fn check_rejection_response(name: &str, rejection: &Rejection) {
    let (resp, body) = encode_and_parse_rejection(rejection);
    let headers = resp.headers();
    assert_eq!(resp.status(), rejection.status(), "{name}");
    assert_ne!(resp.status(), StatusCode::SWITCHING_PROTOCOLS, "{name}");
    assert_eq!(body, rejection.reason().as_bytes(), "{name}");
    assert!(!body.is_empty(), "{name}");
    assert_eq!(headers["content-length"], body.len().to_string(), "{name}");
    assert_eq!(
        headers["content-type"], "text/plain; charset=utf-8",
        "{name}"
    );
    assert!(
        has_token(headers, &http::header::CONNECTION, "close"),
        "{name}"
    );
    assert!(headers.get("sec-websocket-accept").is_none(), "{name}");
    match resp.status().as_u16() {
        405 => assert_eq!(headers["allow"], "GET", "{name}"),
        426 => {
            assert_eq!(headers["sec-websocket-version"], "13", "{name}");
            assert_eq!(headers["upgrade"], "websocket", "{name}");
            assert!(
                has_token(headers, &http::header::CONNECTION, "upgrade"),
                "{name}"
            );
        }
        _ => {
            assert!(headers.get("allow").is_none(), "{name}");
            assert!(headers.get("upgrade").is_none(), "{name}");
            assert_eq!(headers["connection"], "close", "{name}");
        }
    }
    assert_eq!(rejection.response().body(), rejection.reason());
}

#[test]
fn checks_run_in_rfc_order() {
    // A POST without Upgrade and with a bad key fails on the method first.
    let req = request("POST / HTTP/1.1", &["Host: a".to_string()]);
    let server = ServerHandshake::default();
    assert_eq!(
        server.accept(&req).unwrap_err().kind(),
        RejectReason::MethodNotAllowed
    );
    // Missing Connection comes before a bad version.
    let req = modified(&["connection", "sec-websocket-version"], &[]);
    assert_eq!(
        server.accept(&req).unwrap_err().kind(),
        RejectReason::MissingConnectionUpgrade
    );
    // The origin is checked last.
    let strict = ServerHandshake::default().with_origin(OriginPolicy::AllowList(vec![]));
    let req = modified(&["sec-websocket-key"], &[]);
    assert_eq!(
        strict.accept(&req).unwrap_err().kind(),
        RejectReason::BadKey
    );
}

#[test]
fn upgrade_and_connection_tokens_are_case_insensitive_lists() {
    let server = ServerHandshake::default();
    for (upgrade, connection) in [
        (vec!["Upgrade: WebSocket"], vec!["Connection: UPGRADE"]),
        (
            vec!["Upgrade: WEBSOCKET"],
            vec!["Connection: keep-alive, Upgrade"],
        ),
        (
            vec!["Upgrade: h2c, websocket"],
            vec!["Connection: Upgrade,keep-alive"],
        ),
        (
            vec!["Upgrade: h2c", "Upgrade: websocket"],
            vec!["Connection: keep-alive", "Connection: upgrade"],
        ),
    ] {
        let extra: Vec<&str> = upgrade.iter().chain(&connection).copied().collect();
        let req = modified(&["upgrade", "connection"], &extra);
        assert!(is_websocket_upgrade(&req), "{extra:?}");
        let accepted = server.accept(&req);
        assert!(accepted.is_ok(), "{extra:?}: {accepted:?}");
    }
}

#[test]
fn subprotocol_follows_server_preference_across_headers() {
    let server = ServerHandshake::default().with_subprotocols(["b", "a", "c"]);
    let req = modified(
        &[],
        &[
            "Sec-WebSocket-Protocol: a, x",
            "Sec-WebSocket-Protocol: c,b",
        ],
    );
    let accepted = server.accept(&req).unwrap();
    assert_eq!(accepted.subprotocol.as_deref(), Some("b"));
    assert_eq!(accepted.response.headers()["sec-websocket-protocol"], "b");

    // No overlap: accepted, no subprotocol, no header.
    let req = modified(&[], &["Sec-WebSocket-Protocol: x, y"]);
    let accepted = server.accept(&req).unwrap();
    assert_eq!(accepted.subprotocol, None);
    assert!(
        accepted
            .response
            .headers()
            .get("sec-websocket-protocol")
            .is_none()
    );

    // Names compare case-sensitively.
    let req = modified(&[], &["Sec-WebSocket-Protocol: B"]);
    assert_eq!(server.accept(&req).unwrap().subprotocol, None);

    // A server with no subprotocols ignores the offer.
    let req = modified(&[], &["Sec-WebSocket-Protocol: a"]);
    assert_eq!(
        ServerHandshake::default().accept(&req).unwrap().subprotocol,
        None
    );
}

#[test]
fn offered_extensions_are_ignored() {
    let req = modified(
        &[],
        &["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"],
    );
    let accepted = ServerHandshake::default().accept(&req).unwrap();
    assert!(
        accepted
            .response
            .headers()
            .get("sec-websocket-extensions")
            .is_none()
    );
}

fn origin_outcome(policy: OriginPolicy, origins: &[&str]) -> Result<(), RejectReason> {
    let extra: Vec<String> = origins.iter().map(|o| format!("Origin: {o}")).collect();
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let req = modified(&["origin"], &extra);
    let server = ServerHandshake::default().with_origin(policy);
    server.accept(&req).map(|_| ()).map_err(|r| r.kind())
}

#[test]
fn origin_policies() {
    let forbidden = Err(RejectReason::OriginNotAllowed);
    assert_eq!(
        origin_outcome(OriginPolicy::AnyOrigin, &["http://evil.example"]),
        Ok(())
    );
    assert_eq!(origin_outcome(OriginPolicy::AnyOrigin, &[]), Ok(()));
    assert_eq!(origin_outcome(OriginPolicy::AnyOrigin, &["a", "b"]), Ok(()));

    let list = || {
        OriginPolicy::AllowList(vec![
            "https://example.com".to_string(),
            "http://localhost:8080".to_string(),
        ])
    };
    assert_eq!(origin_outcome(list(), &["https://example.com"]), Ok(()));
    assert_eq!(origin_outcome(list(), &["HTTPS://Example.COM"]), Ok(()));
    assert_eq!(origin_outcome(list(), &["http://localhost:8080"]), Ok(()));
    assert_eq!(
        origin_outcome(list(), &[]),
        Ok(()),
        "no Origin: not a browser"
    );
    assert_eq!(origin_outcome(list(), &["http://example.com"]), forbidden);
    assert_eq!(origin_outcome(list(), &["https://example.com/"]), forbidden);
    assert_eq!(
        origin_outcome(list(), &["https://example.com.evil"]),
        forbidden
    );
    assert_eq!(origin_outcome(list(), &["http://localhost"]), forbidden);
    assert_eq!(origin_outcome(list(), &["null"]), forbidden);
    assert_eq!(
        origin_outcome(list(), &["https://example.com", "https://example.com"]),
        forbidden
    );

    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let custom = OriginPolicy::Custom(Arc::new(move |origin: Option<&str>| {
        record.lock().unwrap().push(origin.map(str::to_owned));
        origin.is_some_and(|o| o.ends_with(".example.org"))
    }));
    assert_eq!(
        origin_outcome(custom.clone(), &["https://app.example.org"]),
        Ok(())
    );
    assert_eq!(
        origin_outcome(custom.clone(), &["https://example.com"]),
        forbidden
    );
    assert_eq!(origin_outcome(custom.clone(), &[]), forbidden);
    assert_eq!(
        origin_outcome(custom, &["https://a.example.org", "x"]),
        forbidden
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [
            Some("https://app.example.org".to_string()),
            Some("https://example.com".to_string()),
            None
        ]
    );

    let rejection = Rejection::from(RejectReason::OriginNotAllowed);
    assert_eq!(rejection.status(), StatusCode::FORBIDDEN);
    check_rejection_response("origin", &rejection);
}

#[test]
fn non_ascii_origin_is_refused_by_allow_lists() {
    let mut req = modified(&["origin"], &[]);
    req.headers_mut().insert(
        "origin",
        HeaderValue::from_bytes(b"https://\xe9.example").unwrap(),
    );
    let list = ServerHandshake::default().with_origin(OriginPolicy::AllowList(vec![
        "https://\u{e9}.example".into(),
    ]));
    assert_eq!(
        list.accept(&req).unwrap_err().kind(),
        RejectReason::OriginNotAllowed
    );
    assert!(ServerHandshake::default().accept(&req).is_ok());
}

// ---- client ----

#[test]
fn url_parsing() {
    let target = |url: &str| ClientHandshake::new(url, [0; 16]).map(|c| c.target().clone());
    let t = target("ws://example.com").unwrap();
    assert_eq!(
        (t.scheme, t.host.as_str(), t.port, t.resource.as_str()),
        (Scheme::Ws, "example.com", 80, "/")
    );
    assert_eq!(t.host_header(), "example.com");
    assert!(!t.scheme.is_tls());

    let t = target("wss://example.com/a/b?c=d&e").unwrap();
    assert_eq!(
        (t.scheme, t.port, t.resource.as_str()),
        (Scheme::Wss, 443, "/a/b?c=d&e")
    );
    assert!(t.scheme.is_tls());
    assert_eq!(target("wss://h:443/").unwrap().host_header(), "h");
    assert_eq!(target("wss://h:80/").unwrap().host_header(), "h:80");
    assert_eq!(target("ws://h:8080").unwrap().host_header(), "h:8080");
    assert_eq!(target("ws://h:/x").unwrap().port, 80);
    assert_eq!(target("ws://h?q=1").unwrap().resource, "/?q=1");
    assert_eq!(target("WS://H/").unwrap().scheme, Scheme::Ws);

    let t = target("ws://[::1]:9001/chat").unwrap();
    assert_eq!((t.host.as_str(), t.port), ("::1", 9001));
    assert_eq!(t.host_header(), "[::1]:9001");
    assert_eq!(target("ws://[::1]/").unwrap().host_header(), "[::1]");

    assert_eq!(
        target("http://example.com/"),
        Err(ClientConfigError::UnsupportedScheme {
            scheme: "http".into()
        })
    );
    assert_eq!(target("ws://h/#top"), Err(ClientConfigError::Fragment));
    assert_eq!(target("ws://user:pw@h/"), Err(ClientConfigError::UserInfo));
    assert_eq!(target("ws://h:99999/"), Err(ClientConfigError::InvalidPort));
    assert_eq!(target("/just/a/path"), Err(ClientConfigError::InvalidUrl));
    assert_eq!(target("not a url"), Err(ClientConfigError::InvalidUrl));
    assert_eq!(target(""), Err(ClientConfigError::InvalidUrl));
}

#[test]
fn client_request_bytes() {
    let key = *b"the sample nonce";
    let client = ClientHandshake::new("ws://server.example.com/chat", key)
        .unwrap()
        .with_subprotocols(["chat", "superchat"])
        .unwrap()
        .with_header(
            HeaderName::from_static("origin"),
            HeaderValue::from_static("http://example.com"),
        )
        .unwrap();
    let mut out = Vec::new();
    client.encode(&mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!(
            "GET /chat HTTP/1.1\r\nhost: server.example.com\r\nupgrade: websocket\r\n\
             connection: Upgrade\r\nsec-websocket-key: {KEY}\r\nsec-websocket-version: 13\r\n\
             sec-websocket-protocol: chat, superchat\r\norigin: http://example.com\r\n\r\n"
        )
    );
}

#[test]
fn client_configuration_errors() {
    let client = || ClientHandshake::new("ws://h/", [0; 16]).unwrap();
    for bad in ["", "a b", "a,b", "caf\u{e9}"] {
        assert_eq!(
            client().with_subprotocols([bad]).unwrap_err(),
            ClientConfigError::InvalidSubprotocol { name: bad.into() }
        );
    }
    assert_eq!(
        client().with_subprotocols(["a", "b", "a"]).unwrap_err(),
        ClientConfigError::InvalidSubprotocol { name: "a".into() }
    );
    for name in [
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
    ] {
        let name = HeaderName::from_static(name);
        assert_eq!(
            client()
                .with_header(name.clone(), HeaderValue::from_static("x"))
                .unwrap_err(),
            ClientConfigError::ReservedHeader { name }
        );
    }
    let host = client()
        .with_header(
            http::header::HOST,
            HeaderValue::from_static("virtual.example"),
        )
        .unwrap()
        .request();
    assert_eq!(
        host.headers().get_all("host").iter().collect::<Vec<_>>(),
        ["virtual.example"]
    );
    let plain = client().request();
    assert!(plain.headers().get("sec-websocket-protocol").is_none());
}

/// client.request() → encode → parse_request → server accept → encode →
/// parse_response → client verify.
fn round_trip(
    client: &ClientHandshake,
    server: &ServerHandshake,
) -> Result<Negotiated, ClientHandshakeError> {
    let mut wire = Vec::new();
    client.encode(&mut wire);
    wire.extend_from_slice(b"\x81\x80first frame");
    let (req, n) = parse_request(&wire, &HeadLimits::default())
        .unwrap()
        .unwrap();
    assert_eq!(&wire[n..], b"\x81\x80first frame");
    let mut back = Vec::new();
    match server.accept(&req) {
        Ok(accepted) => accepted.encode(&mut back),
        Err(rejection) => rejection.encode(&mut back),
    }
    let (resp, _) = parse_response(&back, &HeadLimits::default())
        .unwrap()
        .unwrap();
    client.verify(&resp)
}

#[test]
fn client_and_server_agree() {
    let client = ClientHandshake::new("ws://127.0.0.1:9001/echo?x=1", *b"0123456789abcdef")
        .unwrap()
        .with_subprotocols(["v1", "v2"])
        .unwrap();
    let negotiated = round_trip(&client, &ServerHandshake::default()).unwrap();
    assert_eq!(negotiated.subprotocol, None);
    let server = ServerHandshake::default().with_subprotocols(["v2", "v1"]);
    assert_eq!(
        round_trip(&client, &server).unwrap().subprotocol.as_deref(),
        Some("v2")
    );
    let server = ServerHandshake::default().with_subprotocols(["v3"]);
    assert_eq!(round_trip(&client, &server).unwrap().subprotocol, None);

    // A server rejection reaches the client as its status.
    let strict = ServerHandshake::default().with_origin(OriginPolicy::Custom(Arc::new(
        |origin: Option<&str>| origin.is_some(),
    )));
    assert_eq!(
        round_trip(&client, &strict),
        Err(ClientHandshakeError::UnexpectedStatus {
            status: StatusCode::FORBIDDEN
        })
    );
}

/// A valid 101 for `client`, produced by the server side.
fn good_response(client: &ClientHandshake) -> Response<()> {
    let accepted = ServerHandshake::default()
        .accept(&client.request())
        .unwrap();
    accepted.response
}

#[test]
fn each_client_verify_failure() {
    let client = ClientHandshake::new("wss://example.com/", *b"the sample nonce")
        .unwrap()
        .with_subprotocols(["chat"])
        .unwrap();
    let good = good_response(&client);
    assert_eq!(good.headers()["sec-websocket-accept"], ACCEPT);
    assert_eq!(
        client.verify(&good),
        Ok(Negotiated {
            subprotocol: None,
            deflate: None
        })
    );

    let edit = |f: &dyn Fn(&mut Response<()>)| {
        let mut resp = good_response(&client);
        f(&mut resp);
        client.verify(&resp)
    };
    let set = |name: &'static str, value: &'static str| {
        move |r: &mut Response<()>| {
            r.headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
    };
    let add = |name: &'static str, value: &'static str| {
        move |r: &mut Response<()>| {
            r.headers_mut()
                .append(name, HeaderValue::from_static(value));
        }
    };

    assert_eq!(
        edit(&|r| *r.status_mut() = StatusCode::OK),
        Err(ClientHandshakeError::UnexpectedStatus {
            status: StatusCode::OK
        })
    );
    assert_eq!(
        edit(&|r| *r.status_mut() = StatusCode::UPGRADE_REQUIRED),
        Err(ClientHandshakeError::UnexpectedStatus {
            status: StatusCode::UPGRADE_REQUIRED
        })
    );
    assert_eq!(
        edit(&|r| {
            r.headers_mut().remove("upgrade");
        }),
        Err(ClientHandshakeError::MissingUpgrade)
    );
    assert_eq!(
        edit(&set("upgrade", "h2c")),
        Err(ClientHandshakeError::MissingUpgrade)
    );
    assert_eq!(
        edit(&|r| {
            r.headers_mut().remove("connection");
        }),
        Err(ClientHandshakeError::MissingConnectionUpgrade)
    );
    assert_eq!(
        edit(&set("connection", "keep-alive")),
        Err(ClientHandshakeError::MissingConnectionUpgrade)
    );
    assert_eq!(
        edit(&|r| {
            r.headers_mut().remove("sec-websocket-accept");
        }),
        Err(ClientHandshakeError::BadAccept)
    );
    assert_eq!(
        edit(&set("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo")),
        Err(ClientHandshakeError::BadAccept)
    );
    assert_eq!(
        edit(&set("sec-websocket-accept", "S3PPLMBITXAQ9KYGZZHZRBK+XOO=")),
        Err(ClientHandshakeError::BadAccept)
    );
    assert_eq!(
        edit(&add("sec-websocket-accept", ACCEPT)),
        Err(ClientHandshakeError::BadAccept)
    );
    assert_eq!(
        edit(&set("sec-websocket-extensions", "permessage-deflate")),
        Err(ClientHandshakeError::UnexpectedExtensions)
    );
    assert_eq!(
        edit(&set("sec-websocket-protocol", "superchat")),
        Err(ClientHandshakeError::UnexpectedSubprotocol)
    );
    assert_eq!(
        edit(&set("sec-websocket-protocol", "Chat")),
        Err(ClientHandshakeError::UnexpectedSubprotocol)
    );
    assert_eq!(
        edit(&set("sec-websocket-protocol", "chat, chat")),
        Err(ClientHandshakeError::UnexpectedSubprotocol)
    );
    assert_eq!(
        edit(&|r| {
            r.headers_mut()
                .append("sec-websocket-protocol", HeaderValue::from_static("chat"));
            r.headers_mut()
                .append("sec-websocket-protocol", HeaderValue::from_static("chat"));
        }),
        Err(ClientHandshakeError::UnexpectedSubprotocol)
    );
    assert_eq!(
        edit(&set("sec-websocket-protocol", "chat")),
        Ok(Negotiated {
            subprotocol: Some("chat".into()),
            deflate: None,
        })
    );
    // Case-insensitive tokens in the response are fine.
    assert!(edit(&set("upgrade", "WebSocket")).is_ok());
    assert!(edit(&set("connection", "keep-alive, UPGRADE")).is_ok());

    // A client that offered nothing refuses any subprotocol.
    let bare = ClientHandshake::new("ws://example.com/", *b"the sample nonce").unwrap();
    let mut resp = good_response(&bare);
    resp.headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static("chat"));
    assert_eq!(
        bare.verify(&resp),
        Err(ClientHandshakeError::UnexpectedSubprotocol)
    );

    // An accept value for a different key is refused.
    let other = ClientHandshake::new("ws://example.com/", [1; 16]).unwrap();
    assert_eq!(
        other.verify(&good_response(&bare)),
        Err(ClientHandshakeError::BadAccept)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every key survives the full client → server → client round trip.
    #[test]
    fn any_key_round_trips(key in any::<[u8; 16]>()) {
        let client = ClientHandshake::new("ws://localhost:9001/", key).unwrap();
        prop_assert_eq!(
            round_trip(&client, &ServerHandshake::default()),
            Ok(Negotiated { subprotocol: None, deflate: None })
        );
    }
}

/// Without the `deflate` feature the settings are kept but nothing is
/// negotiated: the server declines every offer, the client offers none and
/// refuses a response that selects one.
#[cfg(not(feature = "deflate"))]
#[test]
fn without_the_deflate_feature_nothing_is_negotiated() {
    use crate::deflate::DeflateConfig;

    let server = ServerHandshake::default().with_deflate(Some(DeflateConfig::default()));
    let req = modified(
        &[],
        &["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"],
    );
    let accepted = server.accept(&req).unwrap();
    assert_eq!(accepted.deflate, None);
    assert!(
        accepted
            .response
            .headers()
            .get("sec-websocket-extensions")
            .is_none()
    );

    let client = ClientHandshake::new("ws://example.com/", *b"the sample nonce")
        .unwrap()
        .with_deflate(Some(DeflateConfig::default()));
    assert!(
        client
            .request()
            .headers()
            .get("sec-websocket-extensions")
            .is_none()
    );
    assert_eq!(
        round_trip(&client, &server),
        Ok(Negotiated {
            subprotocol: None,
            deflate: None
        })
    );
    let mut resp = good_response(&client);
    resp.headers_mut().insert(
        "sec-websocket-extensions",
        HeaderValue::from_static("permessage-deflate"),
    );
    assert_eq!(
        client.verify(&resp),
        Err(ClientHandshakeError::UnexpectedExtensions)
    );
}
