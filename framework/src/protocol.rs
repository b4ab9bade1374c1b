//! [`Protocol`]: what a route serves and a connection speaks. A leaf: the
//! hub counts and filters connections by it, middleware hears it for every
//! request.

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
