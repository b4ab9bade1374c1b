//! The bytes of a proxy tunnel, without I/O: the HTTP `CONNECT` request
//! (RFC 9110 §9.3.6) with optional Basic credentials, and a SOCKS5
//! client (RFC 1928) with username/password authentication (RFC 1929). The
//! caller writes the requests, reads the replies and passes them here; once
//! the tunnel is up, the stream carries the client's own bytes (TLS, or the
//! WebSocket / SSE request) as if connected to the target.

pub mod http_connect;
pub mod socks5;
