//! # tidings-core
//!
//! The core of tidings: everything about WebSocket (RFC 6455) and Server-Sent
//! Events that can be written without a particular runtime.
//!
//! It has two layers:
//!
//! 1. **Sans-IO protocol modules** — pure state machines and codecs for
//!    library authors who drive them from any event loop:
//!
//! | module | holds |
//! |---|---|
//! | [`head`] | incremental HTTP/1.1 request/response head parsing with limits |
//! | [`handshake`] | the WebSocket opening handshake, server and client side |
//! | [`frame`] | the frame header codec and payload masking |
//! | [`close`] | close codes and their validity rules |
//! | [`ws`] | the WebSocket connection state machine, one per connection |
//! | [`deflate`] | permessage-deflate (RFC 7692): negotiation and the bounded codec |
//! | [`sse`] | the Server-Sent Events encoder and a WHATWG-exact decoder |
//! | [`route`] | route path patterns (`/chat/:room`, `/files/*rest`) and query strings |
//!
//! 2. **The runtime-agnostic async layer** — the user-facing API, written once
//!    against the [`Runtime`](runtime::Runtime) and
//!    [`Transport`](runtime::Transport) traits that each adapter crate
//!    implements (and re-exports):
//!
//! | module | holds |
//! |---|---|
//! | [`runtime`] | the traits an adapter implements: sleep, spawn, clock, randomness; byte streams |
//! | [`connection`] | the async [`Connection`] handle: read, write, JSON, close, values |
//! | [`server`] | [`Router`](server::Router), [`Context`](server::Context), config, the per-connection task, shutdown |
//! | [`hub`] | the streaming manager: connection registry, rooms, filtered encode-once broadcast, slow-consumer policy, statistics |
//! | [`client`] | the client handshake over a connected stream |
//! | [`event_source`] | the Server-Sent Events client: connect, yield events, reconnect with `Last-Event-ID` |
//!
//! ## What this crate does not do
//!
//! - The protocol modules perform no I/O: bytes come in through
//!   `handle_input`, go out through `poll_transmit`, and the caller owns the
//!   socket. The async layer only reads and writes through the `Transport`
//!   it is given.
//! - It never reads the clock: every call that depends on time takes `now`.
//! - It has no ambient randomness: handshake keys and mask keys come from the
//!   caller (a key, or a seed).
//! - It spawns nothing by itself and depends on no async runtime; the
//!   `tidings-tokio`, `tidings-async-std` and `tidings-smol` crates provide
//!   the runtime.
//! - It does not implement TLS or HTTP/2.
#![warn(missing_docs)]

mod adapter;
pub mod client;
pub mod close;
pub mod connection;
pub mod deflate;
mod error;
pub mod event_source;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
pub mod head;
pub mod hub;
mod io_util;
pub mod route;
pub mod runtime;
pub mod server;
mod signal;
pub mod sse;
pub mod testing;
mod timer;
mod write_queue;
pub mod ws;

pub use connection::Connection;
pub use error::Error;
/// The `http` crate, whose request, response, header and status types the
/// API uses.
pub use http;
/// The JSON Schema derive used by [`RouteOptions::messages`](server::RouteOptions::messages)
/// (`#[derive(tidings_core::schemars::JsonSchema)]` needs
/// `#[schemars(crate = "tidings_core::schemars")]`; or depend on `schemars` 1).
pub use schemars;
pub use ws::{Message, Utf8Bytes};
