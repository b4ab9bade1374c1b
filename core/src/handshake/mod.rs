//! The WebSocket opening handshake (RFC 6455 §4), both sides, without I/O.
//!
//! - Server side: [`ServerHandshake::accept`] checks a parsed request head
//!   (see [`crate::head`]) against RFC 6455 §4.2.1 and returns either the
//!   `101 Switching Protocols` response ([`Accepted`]) or a precise error
//!   response ([`Rejection`]: 400, 403, 405 or 426).
//! - Client side: [`ClientHandshake`] builds the request from a `ws://` or
//!   `wss://` URL and a caller-supplied key, and [`ClientHandshake::verify`]
//!   checks the server's response.
//!
//! A server typically runs:
//!
//! ```
//! use tidings_core::handshake::ServerHandshake;
//! use tidings_core::head::{parse_request, HeadLimits};
//!
//! let buf = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!     Sec-WebSocket-Version: 13\r\n\r\n";
//! let (request, head_len) = parse_request(buf, &HeadLimits::default()).unwrap().unwrap();
//! let mut out = Vec::new();
//! match ServerHandshake::default().accept(&request) {
//!     Ok(accepted) => accepted.encode(&mut out), // then speak WebSocket on &buf[head_len..]
//!     Err(rejection) => rejection.encode(&mut out), // then close the connection
//! }
//! assert!(out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
//! ```
//!
//! ## What this module does not do
//!
//! - The only extension it negotiates is permessage-deflate (RFC 7692, see
//!   [`crate::deflate`]); other offers are ignored.
//! - It does not route: the request path is the caller's business.
//! - It generates no keys: the client's 16-byte nonce comes from the caller.
//! - It does not speak TLS: for `wss://` it only reports that TLS is needed.

mod client;
mod server;
#[cfg(test)]
mod tests;

pub use client::{
    ClientConfigError, ClientHandshake, ClientHandshakeError, Negotiated, Scheme, Target,
};
pub use server::{Accepted, OriginCheck, OriginPolicy, RejectReason, Rejection, ServerHandshake};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use http::header::{HeaderName, UPGRADE};
use sha1::{Digest, Sha1};

/// The GUID appended to the client's key before hashing (RFC 6455 §1.3).
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version this crate speaks (RFC 6455 §4.1).
pub const WEBSOCKET_VERSION: &str = "13";

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key` value:
/// base64(SHA-1(key ++ "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
///
/// `key` is the header value as sent (the base64 text), not the decoded nonce.
///
/// ```
/// use tidings_core::handshake::accept_key;
///
/// assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(ACCEPT_GUID);
    STANDARD.encode(sha1.finalize())
}

/// Whether `req` asks for a WebSocket upgrade: its `Upgrade` header lists the
/// token `websocket` (case-insensitively).
///
/// This is a cheap test for routing (WebSocket versus plain GET or SSE on the
/// same path); it checks nothing else, so that a malformed upgrade request
/// still reaches [`ServerHandshake::accept`] and gets its precise rejection.
pub fn is_websocket_upgrade<B>(req: &http::Request<B>) -> bool {
    has_token(req.headers(), &UPGRADE, "websocket")
}

/// The comma-separated elements of every `name` header, trimmed of
/// whitespace, empty elements skipped.
fn list_elements<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a [u8]> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|element| !element.is_empty())
}

/// Whether some `name` header lists `token`, compared case-insensitively.
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    list_elements(headers, name).any(|element| element.eq_ignore_ascii_case(token.as_bytes()))
}

/// The value of a header that must appear exactly once, trimmed.
fn single_value<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a [u8]> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => Some(value.as_bytes().trim_ascii()),
        _ => None,
    }
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_6455_section_1_3() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_ne!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZA=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn upgrade_detection_reads_token_lists() {
        let upgrade = |values: &[&str]| {
            let mut req = http::Request::new(());
            for value in values {
                req.headers_mut().append(UPGRADE, value.parse().unwrap());
            }
            is_websocket_upgrade(&req)
        };
        assert!(upgrade(&["websocket"]));
        assert!(upgrade(&["WebSocket"]));
        assert!(upgrade(&["h2c, WEBSOCKET"]));
        assert!(upgrade(&["h2c", " websocket "]));
        assert!(!upgrade(&[]));
        assert!(!upgrade(&["h2c"]));
        assert!(!upgrade(&["websockets"]));
        assert!(!upgrade(&["web socket"]));
    }

    #[test]
    fn single_value_rejects_repeats() {
        let mut headers = HeaderMap::new();
        assert_eq!(single_value(&headers, &UPGRADE), None);
        headers.append(UPGRADE, " a ".parse().unwrap());
        assert_eq!(single_value(&headers, &UPGRADE), Some(&b"a"[..]));
        headers.append(UPGRADE, "b".parse().unwrap());
        assert_eq!(single_value(&headers, &UPGRADE), None);
    }
}
