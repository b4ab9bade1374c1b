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
//! | [`server`] | [`Router`](server::Router), [`Context`](server::Context), config, the per-connection task, shutdown; [`embed`](server::embed): the same inside another HTTP server (hyper, axum) |
//! | [`hub`] | the streaming manager: connection registry, rooms, filtered encode-once broadcast, slow-consumer policy, statistics |
//! | [`client`] | the WebSocket client: `connect` a URL or an `http::Request` (`ws://`, `wss://`), the handshake over a connected stream, [`Reconnecting`](client::Reconnecting) with backoff |
//! | [`event_source`] | the Server-Sent Events client: `GET` or any request with a body (`http://`, `https://`), yield events, reconnect with `Last-Event-ID` and backoff, idle timeout |
//! | [`dial`] | how the clients reach a server: TCP, HTTP `CONNECT` / SOCKS5 proxies ([`ProxyConfig`](dial::ProxyConfig)), TLS; [`TlsError`](dial::TlsError) names certificate problems |
//! | `testing` | test helpers: an app on an ephemeral port, WebSocket and SSE test clients (feature `testing`) |
//! | `webtransport` | WebTransport over HTTP/3 on quinn: `Router::webtransport` routes served beside TCP (`Server::with_webtransport`) or standalone, `Session` with streams, messages and datagrams, in the hub (feature `webtransport`) |
//! | [`porting`] | Porting from Forge: each Forge streaming API beside its tidings counterpart |
//!
//! ## Module order
//!
//! Each line uses only the lines below it (`.ci/check-import-cycles` fails
//! on an import cycle):
//!
//! ```text
//! testing                                  test helpers
//! webtransport (route, driver, session)    WebTransport over HTTP/3 on quinn
//! client, event_source                     the WebSocket and SSE clients
//! dial (proxy, stream), tls::client        TCP, proxy tunnels, TLS for the clients
//! server::embed                            requests of another HTTP server (hyper, axum)
//! server::serve, server::asyncapi          one socket's life; the AsyncAPI document
//! server::router                           routes and their options
//! server::sse, server::middleware          serving an SSE route; before/after hooks
//! server, server::sse::context             Server, ServerHandle; an SSE handler's context
//! server::{context, response, sse::stream} a request's context; responses; an SSE outbox and pump
//! connection                               a WebSocket connection's state, handle and pump
//! hub (broadcast, recipient)               connections, rooms, encode-once broadcast
//! tls::server                              ServerTls; a server connection's TLS handshake
//! hub::{stats, compression}                statistics; shared deflate
//! protocol, user_code, deque, write_queue, leaf helpers
//! io_util, signal, timer, runtime, error
//! tls_error, dial::{failure, proxy_error}  the clients' TLS and proxy errors
//! ```
//!
//! The hub talks to connections through a trait it owns (a WebSocket
//! connection's state and an SSE stream implement it), so it never names
//! them; its bookkeeping of connections and rooms is the core's
//! [`registry::Registry`](tidings_core::registry::Registry).
//!
//! ## What this crate does not do
//!
//! - It binds, accepts, connects, sleeps and spawns through the adapter's
//!   traits only: it depends on no async runtime.
//! - It does not parse or write protocol bytes itself: that is
//!   [`tidings_core`], whose public API is all it uses.
//! - It does not implement TLS (rustls does, see [`tls`](crate#cargo-features))
//!   or HTTP/2.
//!
//! ## Cargo features
//!
//! The adapter crates have the same features and forward them here,
//! so an application names them on its adapter, e.g.
//! `tidings-tokio = { version = "0.1", default-features = false }` for a
//! build without schemars and flate2.
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `asyncapi` | on | the AsyncAPI 3.0 document of the streaming routes ([`Router::asyncapi`](server::Router::asyncapi)) with the JSON Schemas of their message types (`RouteOptions::messages`, `RouteOptions::sse_event`), the `schemars` re-export and `testing::asyncapi_problems`; pulls in `schemars` |
//! | `deflate` | on | permessage-deflate (RFC 7692): compressed WebSocket messages (forwarded to `tidings-core`; without it the settings stay but the extension is never negotiated, and flate2 is not built) |
//! | `ring` | on | TLS (module `tls`: `wss://`, `https://`, server and clients) with rustls and the *ring* crypto provider |
//! | `aws-lc-rs` | off | TLS with the aws-lc-rs crypto provider (chosen over *ring* when both are on) |
//! | `webpki-roots` | on | client trust roots: Mozilla's root program, compiled in (the same on every machine, nothing needed from the OS) |
//! | `native-roots` | off | client trust roots: the operating system's store, read at run time; with `webpki-roots` too, the union of both; with neither, the clients need a `rustls::ClientConfig` (see the `tls::client` module) |
//! | `webtransport` | off | WebTransport over HTTP/3 (module `webtransport`): `Router::webtransport` routes with middleware and the hub, served beside TCP or standalone; sessions with streams, messages and datagrams; QUIC by quinn on the adapter's runtime; turns on `ring` |
//! | `testing` | off | the `testing` module: an app on an ephemeral port, WebSocket and SSE test clients; enable it in `[dev-dependencies]` |
#![warn(missing_docs)]
// No unsafe code (the policy of every tidings crate: unsafe only where a
// measured hot loop needs it, with a reasoned allow; the core has two).
#![deny(unsafe_code)]

pub mod client;
pub mod connection;
mod deque;
pub mod dial;
mod error;
pub mod event_source;
pub mod hub;
mod io_util;
pub mod porting;
mod protocol;
pub mod runtime;
pub mod server;
mod signal;
#[cfg(feature = "testing")]
pub mod testing;
mod timer;
#[cfg(feature = "_tls")]
pub mod tls;
mod tls_error;
mod user_code;
#[cfg(feature = "webtransport")]
pub mod webtransport;
mod wheel;
mod write_queue;

/// The `bytes` crate, whose `Bytes` carries a POST route's body
/// ([`Router::post`](server::Router::post)).
pub use bytes;
pub use connection::Connection;
pub use error::Error;
/// The `http` crate, whose request, response, header and status types the
/// API uses.
pub use http;
pub use protocol::Protocol;
/// The JSON Schema derive used by [`RouteOptions::messages`](server::RouteOptions::messages)
/// (`#[derive(tidings_framework::schemars::JsonSchema)]` needs
/// `#[schemars(crate = "tidings_framework::schemars")]`; or depend on `schemars` 1).
/// Needs the `asyncapi` feature.
#[cfg(feature = "asyncapi")]
pub use schemars;
pub use tidings_core::{Message, Utf8Bytes};
/// The sans-IO protocol modules the framework is built on.
pub use tidings_core::{close, deflate, frame, handshake, head, route, sse, ws};
