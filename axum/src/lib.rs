//! # tidings-axum
//!
//! tidings inside axum 0.8 and hyper 1 apps. One [`Tidings`] value — a
//! tidings router and configuration on a runtime, with its hub — gives:
//!
//! - [`WsUpgrade`], an extractor whose [`on_upgrade`](WsUpgrade::on_upgrade)
//!   hands the handler a tidings [`Connection`]: hub registration, rooms,
//!   broadcast, statistics, permessage-deflate, ping and idle timers, limits,
//!   middleware values, graceful shutdown, exactly as on tidings' own server;
//! - [`SseRequest`], an extractor whose [`SseResponse`] is written through
//!   tidings' [`SseContext`] and [`SseTopic`] (`Last-Event-ID` replay,
//!   keep-alive comments, the slow-client policy);
//! - [`RouterService`], the whole tidings [`TidingsRouter`] as a
//!   `tower::Service` (and a hyper `Service`) to mount in an axum app or
//!   serve with hyper alone, inside tower layers.
//!
//! All three share the hub: a broadcast reaches the connections of every
//! one of them, and [`Tidings::hub`]'s statistics count them all.
//!
//! ```
//! use axum::extract::{Path, State};
//! use axum::response::IntoResponse;
//! use axum::routing::get;
//! use tidings_axum::{ServerConfig, SseRequest, SseResponse, SseTopic, Tidings, TidingsRouter, WsUpgrade};
//!
//! #[derive(Clone)]
//! struct App {
//!     tidings: Tidings,
//!     events: SseTopic,
//! }
//!
//! impl axum::extract::FromRef<App> for Tidings {
//!     fn from_ref(app: &App) -> Tidings {
//!         app.tidings.clone()
//!     }
//! }
//!
//! async fn echo(upgrade: WsUpgrade) -> impl IntoResponse {
//!     upgrade.on_upgrade(|conn| async move {
//!         loop {
//!             let message = conn.read().await?;
//!             conn.write_message(&message).await?;
//!         }
//!     })
//! }
//!
//! async fn events(State(app): State<App>, sse: SseRequest) -> SseResponse {
//!     sse.subscribe(&app.events)
//! }
//!
//! let tidings = Tidings::new(
//!     TidingsRouter::new().websocket("/native/echo", tidings_tokio::echo),
//!     ServerConfig::default(),
//!     tidings_tokio::Tokio,
//! );
//! let app = App { tidings: tidings.clone(), events: SseTopic::new(100) };
//! let router: axum::Router = axum::Router::new()
//!     .route("/health", get(|| async { "ok" }))
//!     .route("/ws/echo", get(echo))
//!     .route("/events", get(events))
//!     .fallback_service(tidings.service())
//!     .with_state(app);
//! // axum::serve(listener, router).await
//! ```
//!
//! ## Names
//!
//! Nothing at this crate's root has a name of axum's root, `axum::extract`
//! or `axum::response`, so `use axum::*` and `use tidings_axum::*` mix:
//! tidings' router is re-exported as [`TidingsRouter`], and tidings'
//! `IntoResponse`, `Json`, `Html` and `Response` (what tidings' own GET
//! routes return) are left in [`tidings`]. That module is the whole tidings
//! API (`tidings::Error`, `tidings::Context`, `tidings::hub`, …), for
//! `use tidings_axum::tidings;` and qualified names.
//!
//! ## hyper without axum
//!
//! Without the `axum` feature (`default-features = false`) the crate is the
//! hyper 1 integration alone, on any runtime hyper runs on: hand
//! [`Tidings::service`] to `http1::Builder::serve_connection(io, service).with_upgrades()`,
//! or call [`WsUpgrade::from_request`] and [`SseRequest::from_request`] in
//! your own hyper service. The upgrade is hyper's (`hyper::upgrade::on`);
//! tidings runs the connection over the upgraded stream ([`HyperIo`]) with
//! whatever bytes hyper already read.
//!
//! On tokio (hyper-util's `TokioIo` for the socket):
//!
//! ```no_run
//! use hyper::server::conn::http1;
//! use hyper_util::rt::TokioIo;
//! use tidings_axum::{Addrs, ServerConfig, Tidings, TidingsRouter};
//! use tidings_tokio::{Tokio, echo};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let tidings = Tidings::new(TidingsRouter::new().websocket("/ws", echo), ServerConfig::default(), Tokio);
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     loop {
//!         let (socket, remote) = listener.accept().await?;
//!         let service = tidings.service().with_addrs(Addrs::new(Some(remote), None));
//!         let connection = http1::Builder::new().serve_connection(TokioIo::new(socket), service);
//!         tokio::spawn(connection.with_upgrades());
//!     }
//! }
//! ```
//!
//! On smol (hyper's HTTP/1 server needs no executor or timer of its own;
//! [`HyperIo`] adapts the smol socket; tidings runs on `tidings_smol::Smol`):
//!
//! ```no_run
//! use hyper::server::conn::http1;
//! use tidings_axum::{HyperIo, ServerConfig, Tidings, TidingsRouter};
//! use tidings_smol::{Smol, echo};
//!
//! fn main() -> std::io::Result<()> {
//!     smol::block_on(async {
//!         let tidings = Tidings::new(TidingsRouter::new().websocket("/ws", echo), ServerConfig::default(), Smol);
//!         let listener = smol::net::TcpListener::bind("127.0.0.1:8080").await?;
//!         loop {
//!             let (socket, _) = listener.accept().await?;
//!             let connection = http1::Builder::new().serve_connection(HyperIo::new(socket), tidings.service());
//!             smol::spawn(connection.with_upgrades()).detach();
//!         }
//!     })
//! }
//! ```
//!
//! ## Shutdown
//!
//! Upgraded connections and SSE bodies are not hyper's to drain: after the
//! server's graceful shutdown, call [`Tidings::shutdown`] (1001 to every
//! WebSocket connection, the end of every SSE stream, a wait for them).
//!
//! ## Cargo features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `axum` | on | `FromRequestParts` for [`WsUpgrade`] and [`SseRequest`] (the [`Tidings`] from the state, `Tidings: FromRef<S>`; the route from `MatchedPath`, the client's address from `ConnectInfo<SocketAddr>`), `IntoResponse` for [`SseResponse`] and [`Refusal`] |
//!
//! deflate, TLS and AsyncAPI are the features of the tidings adapter the
//! application depends on (`tidings-tokio`, `tidings-smol`).
#![warn(missing_docs)]
#![deny(unsafe_code)]

#[cfg(feature = "axum")]
mod axum_glue;
mod body;
mod driver;
mod io;
mod service;
mod sse;
mod websocket;

use std::sync::Arc;
use std::time::Duration;

use http::Request;

pub use body::{Refusal, ResponseBody};
pub use io::HyperIo;
pub use service::{ResponseFuture, RouterService};
pub use sse::{SseRequest, SseResponse};
pub use tidings_framework::server::embed::Addrs;
pub use tidings_framework::server::{RouteOptions, ServerConfig, SseConfig, SseContext, SseTopic};
pub use tidings_framework::{Connection, Message, hub};
pub use websocket::WsUpgrade;

use driver::Driver;
use tidings_framework::runtime::Runtime;
use tidings_framework::server::RouterError;

/// tidings' [`Router`](tidings_framework::server::Router), named so that it
/// sits beside `axum::Router` in one file.
pub type TidingsRouter = tidings_framework::server::Router;

/// The whole tidings API (the framework's, as the adapters re-export it),
/// under one name that does not clash with axum's: `tidings::Error`,
/// `tidings::Context`, `tidings::IntoResponse`, `tidings::sse::Event`, …
pub mod tidings {
    pub use tidings_framework::server::*;
    pub use tidings_framework::{
        Connection, Error, Message, Protocol, Utf8Bytes, close, deflate, http, hub, sse, ws,
    };
}

/// A tidings [`TidingsRouter`] and [`ServerConfig`] served inside axum or
/// hyper, on a runtime, with the hub every stream it serves shares (see
/// the [crate docs](crate)). Cheap to clone: clones are the same server.
///
/// ```
/// use tidings_axum::{ServerConfig, Tidings, TidingsRouter};
///
/// let tidings = Tidings::new(TidingsRouter::new(), ServerConfig::default(), tidings_tokio::Tokio);
/// assert_eq!(tidings.hub().stats().websocket.active, 0);
/// ```
#[derive(Clone)]
pub struct Tidings {
    driver: Arc<dyn Driver>,
}

impl std::fmt::Debug for Tidings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tidings")
            .field("active_connections", &self.active_connections())
            .field("active_sse_connections", &self.active_sse_connections())
            .finish()
    }
}

impl Tidings {
    /// Serves `router` with `config` on `runtime` (`tidings_tokio::Tokio`
    /// under axum; `tidings_smol::Smol` with hyper on smol). Its
    /// [layers](TidingsRouter::layer) run for the [`WsUpgrade`] and
    /// [`SseRequest`] extractors too; `config`'s listener settings (request
    /// head limits, handshake timeout, TLS) are the HTTP server's business
    /// and are not used.
    ///
    /// # Panics
    ///
    /// If the router is misconfigured ([`TidingsRouter::validate`]); see
    /// [`try_new`](Self::try_new).
    pub fn new<R: Runtime>(router: TidingsRouter, config: ServerConfig, runtime: R) -> Self {
        Self::try_new(router, config, runtime)
            .unwrap_or_else(|error| panic!("invalid tidings router: {error}"))
    }

    /// [`new`](Self::new), with a misconfigured router as an error.
    ///
    /// ```
    /// use tidings_axum::{RouteOptions, ServerConfig, Tidings, TidingsRouter};
    ///
    /// let router = TidingsRouter::new().websocket_with("/ws", tidings_tokio::echo, RouteOptions::new().auth("bearer"));
    /// assert!(Tidings::try_new(router, ServerConfig::default(), tidings_tokio::Tokio).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// A misconfigured router ([`TidingsRouter::validate`]).
    pub fn try_new<R: Runtime>(
        router: TidingsRouter,
        config: ServerConfig,
        runtime: R,
    ) -> Result<Self, RouterError> {
        Ok(Tidings {
            driver: driver::driver(router, config, runtime)?,
        })
    }

    /// The hub: every connection and stream of this value's router,
    /// extractors and services, rooms, broadcast, statistics.
    pub fn hub(&self) -> &Arc<hub::Hub> {
        self.driver.hub()
    }

    /// The router as a service (see [`RouterService`]).
    pub fn service(&self) -> RouterService {
        RouterService::new(self.clone())
    }

    /// WebSocket connections holding a slot of
    /// [`ServerConfig::max_connections`] now.
    pub fn active_connections(&self) -> usize {
        self.driver.active_connections()
    }

    /// SSE streams holding a slot of [`SseConfig::max_connections`] now.
    pub fn active_sse_connections(&self) -> usize {
        self.driver.active_sse_connections()
    }

    /// Starts a graceful shutdown without waiting: new upgrades and streams
    /// get 503, WebSocket connections are closed with 1001 after what was
    /// queued for them, SSE streams end after their queued events.
    pub fn begin_shutdown(&self) {
        self.driver.begin_shutdown();
    }

    /// [`begin_shutdown`](Self::begin_shutdown), then waits until every
    /// connection and stream has ended or `timeout` has passed. Returns
    /// whether all ended in time.
    ///
    /// ```no_run
    /// # async fn demo(listener: tokio::net::TcpListener, app: axum::Router, tidings: tidings_axum::Tidings) -> std::io::Result<()> {
    /// use std::time::Duration;
    ///
    /// let stop = tidings_tokio::shutdown_signal()?;
    /// axum::serve(listener, app).with_graceful_shutdown(stop).await?;
    /// let drained = tidings.shutdown(Duration::from_secs(10)).await;
    /// # let _ = drained;
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.driver.shutdown(timeout).await
    }
}

/// Moves the head of `request` (its headers and extensions; a copy of the
/// method, target and version) into a request without a body, for tidings
/// to read; [`restore_head`] puts it back.
fn take_head<B>(request: &mut Request<B>) -> Request<()> {
    let mut head = Request::new(());
    *head.method_mut() = request.method().clone();
    *head.uri_mut() = request.uri().clone();
    *head.version_mut() = request.version();
    std::mem::swap(head.headers_mut(), request.headers_mut());
    std::mem::swap(head.extensions_mut(), request.extensions_mut());
    head
}

/// Puts back what [`take_head`] took.
fn restore_head<B>(request: &mut Request<B>, mut head: Request<()>) {
    std::mem::swap(head.headers_mut(), request.headers_mut());
    std::mem::swap(head.extensions_mut(), request.extensions_mut());
}

/// The connection's addresses from the request's extensions: an
/// [`Addrs`], or axum's `ConnectInfo<SocketAddr>` (the remote address).
fn addrs_of(extensions: &http::Extensions) -> Addrs {
    if let Some(addrs) = extensions.get::<Addrs>() {
        return *addrs;
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(remote)) =
        extensions.get::<axum::extract::ConnectInfo<core::net::SocketAddr>>()
    {
        return Addrs::new(Some(*remote), None);
    }
    Addrs::default()
}
