//! # tidings-core
//!
//! The sans-IO core of tidings: everything about WebSocket (RFC 6455) and
//! Server-Sent Events that can be written without touching a socket, a clock or
//! a runtime.
//!
//! | module | holds |
//! |---|---|
//! | [`head`] | incremental HTTP/1.1 request/response head parsing with limits |
//! | [`handshake`] | the WebSocket opening handshake, server and client side |
//! | [`frame`] | the frame header codec and payload masking |
//! | [`close`] | close codes and their validity rules |
//! | [`ws`] | the WebSocket connection state machine, one per connection |
//! | [`sse`] | the Server-Sent Events encoder and a WHATWG-exact decoder |
//! | [`route`] | route path patterns (`/chat/:room`, `/files/*rest`) and query strings |
//!
//! ## What this crate does not do
//!
//! - It performs no I/O: bytes come in through `handle_input`, go out through
//!   `poll_transmit`, and the caller owns the socket.
//! - It never reads the clock: every call that depends on time takes `now`.
//! - It has no ambient randomness: handshake keys and mask keys come from the
//!   caller (a key, or a seed).
//! - It spawns nothing and depends on no async runtime; the `tidings-tokio`,
//!   `tidings-async-std` and `tidings-smol` crates drive it.
//! - It does not implement TLS, HTTP/2 or permessage-deflate (yet).
#![warn(missing_docs)]

pub mod close;
pub mod frame;
pub mod handshake;
pub mod head;
pub mod route;
pub mod sse;
pub mod ws;
