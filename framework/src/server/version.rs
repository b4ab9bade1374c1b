//! The HTTP version a request arrived over, kept as one of its
//! [`Context`] values so its WebSocket connection inherits it.

use super::Context;
use crate::connection::Connection;

/// A request's first [`Context`] value: the HTTP version it arrived over,
/// unless it is HTTP/1.1, which [`Context::http_version`] and
/// [`Connection::http_version`] say when no version is stored. Most requests
/// then start with no values: an empty map costs nothing, and every
/// WebSocket connection keeps a copy of its request's values for its whole
/// life (a map with one value is about 200 bytes of it).
pub(super) fn version_value(version: http::Version) -> http::Extensions {
    let mut values = http::Extensions::new();
    if version != http::Version::HTTP_11 {
        values.insert(version);
    }
    values
}

impl Context {
    /// The HTTP version the request arrived over: `HTTP/1.1`, or `HTTP/2`
    /// for a stream of an HTTP/2 connection (feature `http2`; a WebSocket
    /// then came by extended CONNECT, RFC 8441).
    pub fn http_version(&self) -> http::Version {
        self.get::<http::Version>()
            .copied()
            .unwrap_or(http::Version::HTTP_11)
    }
}

impl Connection {
    /// The HTTP version of the request this WebSocket connection was opened
    /// with: `HTTP/1.1` (an `Upgrade`), or `HTTP/2` (an extended CONNECT,
    /// RFC 8441). A client connection says `HTTP/1.1`.
    pub fn http_version(&self) -> http::Version {
        self.get::<http::Version>()
            .unwrap_or(http::Version::HTTP_11)
    }
}
