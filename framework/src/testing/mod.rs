//! Test helpers for applications built on tidings: start an app on an
//! ephemeral port, talk to it with a WebSocket or SSE test client whose
//! expectations panic with a clear message, and check an AsyncAPI document.
//!
//! Each adapter exports this module with its runtime filled in
//! (`tidings_tokio::testing::TestApp`, …; its documentation has the same
//! example for that runtime, without the `N`). Every expectation waits at
//! most the client's timeout (default [`DEFAULT_TIMEOUT`]), read from the
//! runtime's clock.
//!
//! - Request headers are `&[(name, value)]` for every client:
//!   [`TestApp::ws_with`], [`TestApp::sse_with`], [`TestApp::get_with`].
//! - A refused handshake is an expectation, not a panic:
//!   [`TestApp::ws_rejected`] (for SSE, [`SseClient::expect_status`]).
//! - Silence is an expectation: [`WsClient::expect_silence`],
//!   [`SseClient::expect_silence`].
//! - A failed expectation names the test's line (`expectation at
//!   tests/chat.rs:42:12` ends the panic message): `#[track_caller]` has no
//!   effect on an `async fn`, so the expectations are plain
//!   `#[track_caller]` functions that capture the caller and return the
//!   future to `.await`.
//!
//! ```no_run
//! # use std::time::Duration;
//! # use tidings_framework::runtime::Net;
//! # use tidings_framework::server::{Authenticator, RouteOptions, Router, ServerConfig, SseContext, echo};
//! # use tidings_framework::testing::TestApp;
//! async fn members_only<N: Net + Default>() {
//!     let router = Router::new()
//!         .authenticator("bearer", Authenticator::bearer(|token| (token == "secret").then_some(())))
//!         .websocket_with("/echo", echo, RouteOptions::new().auth("bearer"))
//!         .sse_with("/feed", |ctx: SseContext| async move { ctx.send_event("hello", "1").await }, RouteOptions::new().auth("bearer"));
//!     let app = TestApp::<N>::start(router, ServerConfig::default()).await;
//!     let auth = [("authorization", "Bearer secret")];
//!
//!     app.ws_rejected("/echo", 401).await;
//!     let client = app.ws_with("/echo", &auth).await;
//!     client.send_json(&serde_json::json!({ "n": 1 })).await;
//!     client.expect_json(&serde_json::json!({ "n": 1 })).await;
//!     client.expect_silence(Duration::from_millis(100)).await;
//!
//!     app.sse("/feed").await.expect_status(401);
//!     let mut feed = app.sse_with("/feed", &auth).await;
//!     feed.expect_status(200);
//!     feed.expect_event("hello", "1").await;
//!     feed.expect_end().await;
//!     // The server stops when `app` is dropped.
//! }
//! ```

#[cfg(feature = "asyncapi")]
mod asyncapi;
mod http;
mod sse;
mod ws;

use core::net::SocketAddr;
use std::future::Future;
use std::panic::Location;
use std::time::Duration;

#[cfg(feature = "asyncapi")]
pub use asyncapi::asyncapi_problems;
pub use sse::SseClient;
pub use ws::WsClient;

use crate::client::ClientConfig;
use crate::runtime::Net;
use crate::server::{Router, Server, ServerConfig, ServerHandle};

/// How long an expectation waits by default: 5 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Fails an expectation: panics with `message` and the line of the test
/// that set it up (`at`, captured by a `#[track_caller]` function before
/// its future started: the panic's own location is inside this crate).
fn fail(at: &Location<'_>, message: impl std::fmt::Display) -> ! {
    panic!("{message}\n  expectation at {at}")
}

/// An app (a [`Router`] and its [`ServerConfig`]) served on `127.0.0.1` at
/// an ephemeral port, in the background on runtime `N`. Dropping it shuts
/// the server down (open connections are closed with 1001).
///
/// Request headers are given the same way to every client:
/// [`ws_with`](Self::ws_with), [`ws_rejected_with`](Self::ws_rejected_with),
/// [`sse_with`](Self::sse_with) and [`get_with`](Self::get_with) take
/// `&[(name, value)]`.
pub struct TestApp<N: Net + Default> {
    addr: SocketAddr,
    handle: ServerHandle<N>,
}

impl<N: Net + Default> TestApp<N> {
    /// Binds `127.0.0.1:0` and starts serving.
    ///
    /// # Panics
    ///
    /// If the port cannot be bound or the router is misconfigured
    /// ([`Router::validate`]).
    #[track_caller]
    pub fn start(router: Router, config: ServerConfig) -> impl Future<Output = Self> {
        let at = Location::caller();
        async move {
            let server = match Server::<N>::bind_with("127.0.0.1:0", router, config).await {
                Ok(server) => server,
                Err(error) => fail(at, format!("TestApp: cannot start the server: {error}")),
            };
            let addr = match server.local_addr() {
                Ok(addr) => addr,
                Err(error) => fail(at, format!("TestApp: no local address: {error}")),
            };
            let handle = server.handle();
            N::default().spawn(server.run());
            TestApp { addr, handle }
        }
    }

    /// The address the app listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT{path}`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The server's handle (connection counts, shutdown).
    pub fn handle(&self) -> &ServerHandle<N> {
        &self.handle
    }

    /// Opens a WebSocket connection to `path`.
    ///
    /// # Panics
    ///
    /// If the handshake fails (e.g. the server answers 401), with the
    /// error; to expect that, use [`ws_rejected`](Self::ws_rejected).
    #[track_caller]
    pub fn ws(&self, path: &str) -> impl Future<Output = WsClient<N>> {
        self.ws_with(path, &[])
    }

    /// Opens a WebSocket connection to `path` with extra request headers,
    /// e.g. `&[("authorization", "Bearer t0k3n")]`. Panics like
    /// [`ws`](Self::ws), and on a header name or value that is not valid
    /// or that the handshake sets itself.
    #[track_caller]
    pub fn ws_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> impl Future<Output = WsClient<N>> {
        let at = Location::caller();
        let config = client_config(at, headers);
        self.connect_at(at, path, config)
    }

    /// Opens a WebSocket connection to `path` with a whole client
    /// configuration (subprotocols, limits, headers). Panics like
    /// [`ws`](Self::ws).
    #[track_caller]
    pub fn ws_config(&self, path: &str, config: ClientConfig) -> impl Future<Output = WsClient<N>> {
        self.connect_at(Location::caller(), path, config)
    }

    fn connect_at(
        &self,
        at: &'static Location<'static>,
        path: &str,
        config: ClientConfig,
    ) -> impl Future<Output = WsClient<N>> {
        let url = self.ws_url(path);
        async move {
            match WsClient::try_connect(&url, config).await {
                Ok(client) => client,
                Err(error) => fail(at, format!("WsClient: cannot connect to {url}: {error}")),
            }
        }
    }

    /// Expects the server to refuse a WebSocket handshake for `path` with
    /// HTTP status `status` (e.g. 401 from an authenticator, 429 from a
    /// rate limit). Panics if the server accepts it, answers another
    /// status, or the handshake fails otherwise.
    #[track_caller]
    pub fn ws_rejected(&self, path: &str, status: u16) -> impl Future<Output = ()> {
        self.ws_rejected_with(path, &[], status)
    }

    /// Like [`ws_rejected`](Self::ws_rejected) with extra request headers,
    /// given as in [`ws_with`](Self::ws_with).
    #[track_caller]
    pub fn ws_rejected_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        status: u16,
    ) -> impl Future<Output = ()> {
        let at = Location::caller();
        let config = client_config(at, headers);
        let url = self.ws_url(path);
        async move {
            let expected = format!("expected the handshake for {path} to be refused with {status}");
            match WsClient::<N>::try_connect(&url, config).await {
                Err(error) if ws::rejected_status(&error) == Some(status) => {}
                Err(error) => match ws::rejected_status(&error) {
                    Some(other) => fail(at, format!("{expected}, got {other}")),
                    None => fail(at, format!("{expected}, got error: {error}")),
                },
                Ok(client) => {
                    client.close().await;
                    fail(at, format!("{expected}, the server accepted it (101)"));
                }
            }
        }
    }

    /// Sends `GET path` and reads the whole response (e.g. a JSON document
    /// served by a GET route).
    ///
    /// # Panics
    ///
    /// If no complete response arrives within [`DEFAULT_TIMEOUT`].
    #[track_caller]
    pub fn get(&self, path: &str) -> impl Future<Output = ::http::Response<Vec<u8>>> {
        self.get_with(path, &[])
    }

    /// Like [`get`](Self::get) with extra request headers, given as in
    /// [`ws_with`](Self::ws_with).
    #[track_caller]
    pub fn get_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> impl Future<Output = ::http::Response<Vec<u8>>> {
        let at = Location::caller();
        async move {
            match http::get(&N::default(), self.addr, path, headers).await {
                Ok(response) => response,
                Err(error) => fail(at, format!("TestApp: {error}")),
            }
        }
    }

    /// Sends `GET path` accepting `text/event-stream` and reads the response
    /// head (whatever its status: check it with
    /// [`SseClient::expect_status`]).
    #[track_caller]
    pub fn sse(&self, path: &str) -> impl Future<Output = SseClient<N>> {
        SseClient::open(self.addr, path, &[])
    }

    /// Like [`sse`](Self::sse) with extra request headers, given as in
    /// [`ws_with`](Self::ws_with).
    #[track_caller]
    pub fn sse_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> impl Future<Output = SseClient<N>> {
        SseClient::open(self.addr, path, headers)
    }
}

/// The default client configuration with `headers`; fails at `at` on a
/// header that is not valid HTTP.
fn client_config(at: &Location<'_>, headers: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::default();
    for &(name, value) in headers {
        let name = match ::http::HeaderName::try_from(name) {
            Ok(name) => name,
            Err(error) => fail(at, format!("invalid header name {name:?}: {error}")),
        };
        let value = match ::http::HeaderValue::try_from(value) {
            Ok(value) => value,
            Err(error) => fail(at, format!("invalid value for header {name}: {error}")),
        };
        config = config.header(name, value);
    }
    config
}

impl<N: Net + Default> Drop for TestApp<N> {
    fn drop(&mut self) {
        self.handle.begin_shutdown();
    }
}

impl<N: Net + Default> std::fmt::Debug for TestApp<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp").field("addr", &self.addr).finish()
    }
}
