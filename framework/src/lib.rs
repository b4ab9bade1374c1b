//! # tidings-framework
//!
//! The async layer of tidings, written once for every runtime: the router
//! and server, the [`Connection`] handle, the hub (rooms, filtered
//! broadcast, statistics), middleware, and the WebSocket and Server-Sent
//! Events clients. It drives the sans-IO state machines of [`tidings_core`]
//! and reaches the network, the clock and the executor only through the
//! [`Runtime`](runtime::Runtime) and [`Net`](runtime::Net) traits, which the
//! adapter crates (`tidings-tokio`, `tidings-async-std`, `tidings-smol`)
//! implement and re-export this crate's API for.
//!
//! | module | holds |
//! |---|---|
//! | [`runtime`] | the traits an adapter implements: sleep, spawn, clock, randomness; byte streams |
//! | [`connection`] | the async [`Connection`] handle: read, write, JSON, close, values |
//! | [`server`] | [`Router`](server::Router), [`Context`](server::Context), config, the per-connection task, shutdown |
//! | [`hub`] | the streaming manager: connection registry, rooms, filtered encode-once broadcast, slow-consumer policy, statistics |
//! | [`client`] | the WebSocket client handshake over a connected stream |
//! | [`event_source`] | the Server-Sent Events client: connect, yield events, reconnect with `Last-Event-ID` |
//! | [`testing`] | test helpers: an app on an ephemeral port, WebSocket and SSE test clients |
//!
//! ## What this crate does not do
//!
//! - It binds, accepts, connects, sleeps and spawns through the adapter's
//!   traits only: it depends on no async runtime.
//! - It does not parse or write protocol bytes itself: that is
//!   [`tidings_core`], whose public API is all it uses.
//! - It does not implement TLS or HTTP/2.
#![warn(missing_docs)]
// No unsafe code (the policy of every tidings crate: unsafe only where a
// measured hot loop needs it, with a reasoned allow; the core has two).
#![deny(unsafe_code)]

pub mod client;
pub mod connection;
mod error;
pub mod event_source;
pub mod hub;
mod io_util;
pub mod runtime;
pub mod server;
mod signal;
#[cfg(feature = "testing")]
pub mod testing;
mod timer;
mod write_queue;

pub use connection::Connection;
pub use error::Error;
/// The `http` crate, whose request, response, header and status types the
/// API uses.
pub use http;
/// The JSON Schema derive used by [`RouteOptions::messages`](server::RouteOptions::messages)
/// (`#[derive(tidings_framework::schemars::JsonSchema)]` needs
/// `#[schemars(crate = "tidings_framework::schemars")]`; or depend on `schemars` 1).
pub use schemars;
pub use tidings_core::{Message, Utf8Bytes};
/// The sans-IO protocol modules the framework is built on.
pub use tidings_core::{close, deflate, frame, handshake, head, route, sse, ws};
