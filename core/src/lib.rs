//! # tidings-core
//!
//! The sans-IO protocol core of tidings: WebSocket (RFC 6455), its
//! permessage-deflate extension (RFC 7692), Server-Sent Events (WHATWG
//! HTML) and WebTransport over HTTP/3 (draft-ietf-webtrans-http3), as pure
//! state machines and codecs for library authors who drive
//! them from any event loop: an async runtime, a hyper/axum upgrade,
//! io_uring, an embedded loop, a simulation or a test.
//!
//! Applications usually want the framework on top instead (router, server,
//! `Connection` handle, rooms, broadcast, clients): `tidings-tokio`,
//! `tidings-async-std` or `tidings-smol`, which run `tidings-framework` on
//! that runtime.
//!
//! | module | holds |
//! |---|---|
//! | [`head`] | incremental HTTP/1.1 request/response head parsing with limits |
//! | [`body`] | HTTP/1.1 request body framing (`Content-Length`, chunked) and a bounded body decoder |
//! | [`handshake`] | the WebSocket opening handshake, server and client side |
//! | [`frame`] | the frame header codec and payload masking |
//! | [`close`] | close codes and their validity rules |
//! | [`backoff`] | exponential backoff with jitter from a caller-supplied random value |
//! | [`proxy`] | the bytes of HTTP `CONNECT` and SOCKS5 tunnels (client side) |
//! | [`ws`] | the WebSocket connection state machine, one per connection |
//! | [`deflate`] | permessage-deflate (RFC 7692): negotiation and the bounded codec (feature `deflate`, default on) |
//! | [`sse`] | the Server-Sent Events encoder and a WHATWG-exact decoder |
//! | [`h3`] | HTTP/3 wire pieces (RFC 9114): varints, frames, SETTINGS, stream types, error codes |
//! | [`qpack`] | QPACK (RFC 9204) with the static table and Huffman coding only (dynamic table capacity 0) |
//! | [`webtransport`] | an HTTP/3 connection carrying WebTransport sessions (server side, and a client side), keyed by QUIC stream id |
//! | [`registry`] | connections by id and rooms with their members (the bookkeeping of a hub) |
//! | [`route`] | route path patterns (`/chat/:room`, `/files/*rest`, or `/chat/{room}`, `/files/{*rest}`) and query strings |
//!
//! ## What this crate does not do
//!
//! - No I/O: bytes come in through `handle_input`, go out through
//!   `poll_transmit`, and the caller owns the socket.
//! - No clock reads: every call that depends on time takes `now`.
//! - No ambient randomness: handshake keys and mask keys come from the
//!   caller (a key, or a seed).
//! - No async, no runtime, no threads: it spawns nothing and depends on no
//!   executor.
//! - No TLS, no QUIC and no HTTP/2: [`webtransport`] names streams by
//!   their QUIC stream id and leaves the transport to the caller's QUIC
//!   engine. Its HTTP/3 serves WebTransport sessions only (other requests
//!   are refused), and its QPACK never uses the dynamic table.
//!
//! The compiler holds the crate to the first three: `clippy.toml` in this
//! crate's folder disallows the clock, sockets and threads.
#![warn(missing_docs)]
// Unsafe code only where a measured hot loop needs it, each place with a
// reasoned `#[allow(unsafe_code)]`, a `// SAFETY:` comment and a Miri-run
// test: three here (the AVX2 dispatches of frame::mask and of ws::utf8's
// ASCII check, ws::message's `Utf8Bytes::as_str`).
#![deny(unsafe_code)]

pub mod backoff;
pub mod body;
pub mod close;
pub mod deflate;
pub mod frame;
/// Helpers of the fuzz targets; not part of the API (built for cargo-fuzz,
/// `--cfg fuzzing`, and for the tests that replay the fuzz corpora). They
/// drive permessage-deflate too, so they need the `deflate` feature.
#[cfg(all(feature = "deflate", any(test, fuzzing, feature = "_fuzzing")))]
#[doc(hidden)]
pub mod fuzzing;
pub mod h3;
pub mod handshake;
pub mod head;
pub mod proxy;
pub mod qpack;
pub mod registry;
pub mod route;
pub mod sse;
pub mod webtransport;
pub mod ws;

pub use ws::{Message, Utf8Bytes};
