//! [`Protocol`]: what a route serves and a connection speaks. A leaf: the
//! hub counts and filters connections by it, middleware hears it for every
//! request. Also how a WebTransport session ended (`SessionEnd`, feature
//! `webtransport`), which middleware hears too.

use serde::Serialize;

/// The protocol of a route, and of the connection it serves.
///
/// Connections in the [hub](crate::hub) are [`WebSocket`](Protocol::WebSocket),
/// [`Sse`](Protocol::Sse) or [`WebTransport`](Protocol::WebTransport)
/// sessions; [`Http`](Protocol::Http) is a plain request to a GET route,
/// which middleware sees but the hub never registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum Protocol {
    /// A WebSocket route or connection.
    WebSocket,
    /// A Server-Sent Events route or stream.
    Sse,
    /// A plain HTTP GET route.
    Http,
    /// A WebTransport route or session (HTTP/3, feature `webtransport`).
    WebTransport,
}

impl Protocol {
    /// `"websocket"`, `"sse"`, `"http"` or `"webtransport"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::WebSocket => "websocket",
            Protocol::Sse => "sse",
            Protocol::Http => "http",
            Protocol::WebTransport => "webtransport",
        }
    }
}

/// Why a WebTransport session ended (feature `webtransport`), from
/// `Session::closed`; also what middleware is told
/// ([`End::SessionEnded`](crate::server::middleware::End::SessionEnded)).
#[cfg(feature = "webtransport")]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// A CLOSE_WEBTRANSPORT_SESSION capsule (from the peer, or from
    /// [`Session::close`](crate::webtransport::Session::close)), or the CONNECT stream's end (code 0, no reason).
    Closed {
        /// The application's error code.
        code: u32,
        /// The reason (UTF-8, at most 1024 bytes).
        reason: String,
    },
    /// The peer reset the CONNECT stream with this HTTP/3 error code.
    Reset(u64),
    /// The HTTP/3 layer ended the session with this error code (a protocol
    /// error, the connection closing).
    Error(u64),
    /// The QUIC connection is gone (closed by either side, idle timeout).
    ConnectionLost(String),
}

#[cfg(feature = "webtransport")]
impl From<tidings_core::webtransport::SessionEnd> for SessionEnd {
    /// The core's ends, with the codes as numbers; the core has no
    /// connection to lose, so [`SessionEnd::ConnectionLost`] is the
    /// framework's own.
    fn from(end: tidings_core::webtransport::SessionEnd) -> Self {
        use tidings_core::webtransport::SessionEnd as Core;
        match end {
            Core::Closed { code, reason } => SessionEnd::Closed { code, reason },
            Core::Reset(code) => SessionEnd::Reset(code.0),
            Core::Error(code) => SessionEnd::Error(code.0),
            other => SessionEnd::ConnectionLost(format!("{other:?}")),
        }
    }
}
