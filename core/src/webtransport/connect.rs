//! The extended CONNECT request that opens a WebTransport session (RFC 9220,
//! RFC 9114 §4.3 and §4.4) and the response that answers it.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::qpack::{self, Field};

/// The `:protocol` of draft-ietf-webtrans-http3-02 (Chromium).
pub const PROTOCOL_DRAFT02: &str = "webtransport";
/// The `:protocol` of the later drafts.
pub const PROTOCOL: &str = "webtransport-h3";
/// The request header Chromium adds when it speaks draft-02; a server then
/// answers with `sec-webtransport-http3-draft: draft02`.
pub const DRAFT02_HEADER: &str = "sec-webtransport-http3-draft02";

/// A validated extended CONNECT request for a WebTransport session.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectRequest {
    /// `:protocol`: [`PROTOCOL_DRAFT02`] or [`PROTOCOL`].
    pub protocol: String,
    /// `:scheme` (`https` from browsers).
    pub scheme: String,
    /// `:authority`.
    pub authority: String,
    /// `:path`, with its query.
    pub path: String,
    /// The `origin` header, when present.
    pub origin: Option<String>,
    /// Every regular header (not the pseudo-headers).
    pub headers: HeaderMap,
}

impl ConnectRequest {
    /// Whether the client speaks draft-02 (it sent
    /// `sec-webtransport-http3-draft02`).
    pub fn is_draft02(&self) -> bool {
        self.headers.contains_key(DRAFT02_HEADER)
    }
}

/// What a request stream's HEADERS ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// A well-formed WebTransport extended CONNECT.
    Session(ConnectRequest),
    /// A well-formed request this server does not serve: answer it with
    /// this status (404 for an ordinary request, 501 for a CONNECT of
    /// another protocol or a classic CONNECT).
    Refuse(u16),
    /// A malformed request (RFC 9114 §4.1.2): reset the stream with
    /// H3_MESSAGE_ERROR.
    Malformed(&'static str),
}

/// Headers that HTTP/3 forbids (RFC 9114 §4.2).
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

fn text(value: &Bytes) -> Option<String> {
    std::str::from_utf8(value)
        .ok()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Checks a request's decoded field section.
pub(super) fn validate(fields: &[Field]) -> Verdict {
    let mut method = None;
    let mut scheme = None;
    let mut authority = None;
    let mut path = None;
    let mut protocol = None;
    let mut headers = HeaderMap::new();
    let mut regular_seen = false;
    for field in fields {
        let name = &field.name[..];
        if let Some(pseudo) = name.strip_prefix(b":") {
            if regular_seen {
                return Verdict::Malformed("pseudo-header after a regular header");
            }
            let slot = match pseudo {
                b"method" => &mut method,
                b"scheme" => &mut scheme,
                b"authority" => &mut authority,
                b"path" => &mut path,
                b"protocol" => &mut protocol,
                _ => return Verdict::Malformed("unknown pseudo-header"),
            };
            if slot.is_some() {
                return Verdict::Malformed("repeated pseudo-header");
            }
            *slot = Some(&field.value);
            continue;
        }
        regular_seen = true;
        if name.iter().any(u8::is_ascii_uppercase) {
            return Verdict::Malformed("uppercase header name");
        }
        let (Ok(header), Ok(value)) = (
            HeaderName::from_bytes(name),
            HeaderValue::from_bytes(&field.value),
        ) else {
            return Verdict::Malformed("invalid header name or value");
        };
        if CONNECTION_SPECIFIC.contains(&header.as_str()) || (header == "te" && value != "trailers")
        {
            return Verdict::Malformed("connection-specific header");
        }
        headers.append(header, value);
    }
    let Some(method) = method else {
        return Verdict::Malformed("missing :method");
    };
    if &method[..] != b"CONNECT" {
        // An ordinary request needs :scheme and :path (RFC 9114 §4.3.1).
        if scheme.is_none() || path.is_none() || protocol.is_some() {
            return Verdict::Malformed(
                "request without :scheme or :path, or :protocol without CONNECT",
            );
        }
        return Verdict::Refuse(404);
    }
    let Some(protocol) = protocol else {
        // A classic CONNECT (RFC 9114 §4.4) has only :authority.
        if scheme.is_some() || path.is_some() || authority.is_none() {
            return Verdict::Malformed(
                "classic CONNECT with :scheme or :path, or without :authority",
            );
        }
        return Verdict::Refuse(501);
    };
    // Extended CONNECT (RFC 9220 §3): all five pseudo-headers.
    let (Some(scheme), Some(authority), Some(path)) = (scheme, authority, path) else {
        return Verdict::Malformed("extended CONNECT without :scheme, :authority or :path");
    };
    let (Some(protocol), Some(scheme), Some(authority), Some(path)) =
        (text(protocol), text(scheme), text(authority), text(path))
    else {
        return Verdict::Malformed("empty or non-UTF-8 pseudo-header");
    };
    if protocol != PROTOCOL_DRAFT02 && protocol != PROTOCOL {
        return Verdict::Refuse(501);
    }
    let origin = headers
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Verdict::Session(ConnectRequest {
        protocol,
        scheme,
        authority,
        path,
        origin,
        headers,
    })
}

/// Appends the field section of a client's extended CONNECT for a
/// WebTransport session: the five pseudo-headers (`:protocol
/// webtransport`), `sec-webtransport-http3-draft02: 1` and `origin`.
pub(super) fn encode_request(authority: &str, path: &str, origin: Option<&str>, out: &mut Vec<u8>) {
    let mut fields: Vec<(&[u8], &[u8])> = vec![
        (b":method", b"CONNECT"),
        (b":protocol", PROTOCOL_DRAFT02.as_bytes()),
        (b":scheme", b"https"),
        (b":authority", authority.as_bytes()),
        (b":path", path.as_bytes()),
        (DRAFT02_HEADER.as_bytes(), b"1"),
    ];
    if let Some(origin) = origin {
        fields.push((b"origin", origin.as_bytes()));
    }
    qpack::encode_field_section(fields, out);
}

/// The status of a response's field section: `None` when it is malformed
/// (no `:status`, a repeated or unknown pseudo-header, a status that is not
/// three digits).
pub(super) fn response_status(fields: &[Field]) -> Option<u16> {
    let mut status = None;
    for field in fields {
        match &field.name[..] {
            b":status" if status.is_none() => {
                let digits = &field.value[..];
                if digits.len() != 3 || !digits.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                status = std::str::from_utf8(digits).ok()?.parse().ok();
            }
            name if name.starts_with(b":") => return None,
            _ => {}
        }
    }
    status.filter(|s| (100..=599).contains(s))
}

/// Appends the HEADERS frame's field section of a response with `status`;
/// with `draft02`, adds `sec-webtransport-http3-draft: draft02`, which
/// Chromium's draft-02 client requires in a 200.
pub(super) fn encode_response(status: u16, draft02: bool, out: &mut Vec<u8>) {
    let status = status.to_string();
    let mut fields: Vec<(&[u8], &[u8])> = vec![(b":status", status.as_bytes())];
    if draft02 {
        fields.push((b"sec-webtransport-http3-draft", b"draft02"));
    }
    qpack::encode_field_section(fields, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<Field> {
        pairs
            .iter()
            .map(|(n, v)| Field {
                name: Bytes::copy_from_slice(n.as_bytes()),
                value: Bytes::copy_from_slice(v.as_bytes()),
            })
            .collect()
    }

    const CHROMIUM: [(&str, &str); 7] = [
        (":method", "CONNECT"),
        (":protocol", "webtransport"),
        (":scheme", "https"),
        (":authority", "127.0.0.1:4433"),
        (":path", "/echo?x=1"),
        ("sec-webtransport-http3-draft02", "1"),
        ("origin", "http://127.0.0.1:8000"),
    ];

    #[test]
    fn chromium_request() {
        let Verdict::Session(request) = validate(&fields(&CHROMIUM)) else {
            panic!()
        };
        assert_eq!(request.protocol, "webtransport");
        assert_eq!(request.path, "/echo?x=1");
        assert_eq!(request.authority, "127.0.0.1:4433");
        assert_eq!(request.origin.as_deref(), Some("http://127.0.0.1:8000"));
        assert!(request.is_draft02());
        let mut newer = fields(&CHROMIUM[..5]);
        newer[1].value = Bytes::from_static(b"webtransport-h3");
        let Verdict::Session(request) = validate(&newer) else {
            panic!()
        };
        assert!(!request.is_draft02());
    }

    #[test]
    fn malformed_and_refused() {
        for missing in [":method", ":scheme", ":authority", ":path"] {
            let pairs: Vec<_> = CHROMIUM
                .iter()
                .copied()
                .filter(|(n, _)| *n != missing)
                .collect();
            assert!(
                matches!(validate(&fields(&pairs)), Verdict::Malformed(_)),
                "without {missing}"
            );
        }
        let mut pairs = CHROMIUM.to_vec();
        pairs[1].1 = "websocket";
        assert_eq!(validate(&fields(&pairs)), Verdict::Refuse(501));
        let mut pairs = CHROMIUM.to_vec();
        pairs.push((":path", "/again"));
        assert!(matches!(validate(&fields(&pairs)), Verdict::Malformed(_)));
        let mut pairs = CHROMIUM.to_vec();
        pairs.push((":status", "200"));
        assert!(matches!(validate(&fields(&pairs)), Verdict::Malformed(_)));
        let mut pairs = CHROMIUM.to_vec();
        pairs.push(("connection", "close"));
        assert!(matches!(validate(&fields(&pairs)), Verdict::Malformed(_)));
        let mut pairs = CHROMIUM.to_vec();
        pairs.push(("Origin", "x"));
        assert!(matches!(validate(&fields(&pairs)), Verdict::Malformed(_)));
        let mut pairs = CHROMIUM.to_vec();
        pairs.swap(4, 6);
        assert!(
            matches!(validate(&fields(&pairs)), Verdict::Malformed(_)),
            "pseudo after regular"
        );
        let get = [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "a"),
            (":path", "/"),
        ];
        assert_eq!(validate(&fields(&get)), Verdict::Refuse(404));
        let classic = [(":method", "CONNECT"), (":authority", "a:443")];
        assert_eq!(validate(&fields(&classic)), Verdict::Refuse(501));
        let mut pairs = CHROMIUM.to_vec();
        pairs[4].1 = "";
        assert!(
            matches!(validate(&fields(&pairs)), Verdict::Malformed(_)),
            "empty :path"
        );
    }

    #[test]
    fn client_request_validates() {
        let mut out = Vec::new();
        encode_request(
            "example.com:443",
            "/wt",
            Some("https://example.com"),
            &mut out,
        );
        let section = qpack::decode_field_section(&out, 1000).unwrap();
        let Verdict::Session(request) = validate(&section) else {
            panic!()
        };
        assert!(request.is_draft02());
        assert_eq!(request.origin.as_deref(), Some("https://example.com"));
    }

    #[test]
    fn response_statuses() {
        assert_eq!(
            response_status(&fields(&[(":status", "200"), ("server", "x")])),
            Some(200)
        );
        assert_eq!(response_status(&fields(&[(":status", "103")])), Some(103));
        assert_eq!(response_status(&fields(&[("server", "x")])), None);
        assert_eq!(response_status(&fields(&[(":status", "20")])), None);
        assert_eq!(response_status(&fields(&[(":status", "+20")])), None);
        assert_eq!(response_status(&fields(&[(":status", "099")])), None);
        assert_eq!(
            response_status(&fields(&[(":status", "200"), (":status", "200")])),
            None
        );
        assert_eq!(
            response_status(&fields(&[(":status", "200"), (":path", "/")])),
            None
        );
    }

    #[test]
    fn response_bytes() {
        let mut out = Vec::new();
        encode_response(200, false, &mut out);
        assert_eq!(out, [0x00, 0x00, 0xd9]);
        out.clear();
        encode_response(200, true, &mut out);
        let section = qpack::decode_field_section(&out, 1000).unwrap();
        assert_eq!(section[1].name, "sec-webtransport-http3-draft");
        assert_eq!(section[1].value, "draft02");
    }
}
