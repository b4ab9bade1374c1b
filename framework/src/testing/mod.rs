//! Test helpers for applications built on tidings (the Forge "Testing
//! Streaming"): start an app on an ephemeral port, talk to it with a
//! WebSocket or SSE test client whose expectations panic with a clear
//! message, and check an AsyncAPI document.
//!
//! Each adapter exports this module with its runtime filled in
//! (`tidings_tokio::testing::TestApp`, …). Every expectation waits at most
//! the client's timeout (default [`DEFAULT_TIMEOUT`]), read from the
//! runtime's clock.
//!
//! ```no_run
//! # async fn demo<N: tidings_framework::runtime::Net + Default>() {
//! use tidings_framework::server::{Router, ServerConfig, echo};
//! use tidings_framework::testing::TestApp;
//!
//! let app = TestApp::<N>::start(Router::new().websocket("/echo", echo), ServerConfig::default()).await;
//! let mut client = app.ws("/echo").await;
//! client.send_text("hello").await;
//! client.expect_text("hello").await;
//! client.send_json(&serde_json::json!({ "n": 1 })).await;
//! client.expect_json(&serde_json::json!({ "n": 1 })).await;
//! // The server stops when `app` is dropped.
//! # }
//! ```

#[cfg(feature = "asyncapi")]
mod asyncapi;
mod http;
mod sse;
mod ws;

use core::net::SocketAddr;
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

/// An app (a [`Router`] and its [`ServerConfig`]) served on `127.0.0.1` at
/// an ephemeral port, in the background on runtime `N`. Dropping it shuts
/// the server down (open connections are closed with 1001).
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
    pub async fn start(router: Router, config: ServerConfig) -> Self {
        let server = match Server::<N>::bind_with("127.0.0.1:0", router, config).await {
            Ok(server) => server,
            Err(error) => panic!("TestApp: cannot start the server: {error}"),
        };
        let addr = match server.local_addr() {
            Ok(addr) => addr,
            Err(error) => panic!("TestApp: no local address: {error}"),
        };
        let handle = server.handle();
        N::default().spawn(server.run());
        TestApp { addr, handle }
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
    /// If the handshake fails (e.g. the server answers 401), with the error.
    pub async fn ws(&self, path: &str) -> WsClient<N> {
        self.ws_with(path, ClientConfig::default()).await
    }

    /// Opens a WebSocket connection to `path` with `config` (extra headers
    /// with [`ClientConfig::header`]). Panics like [`ws`](Self::ws).
    pub async fn ws_with(&self, path: &str, config: ClientConfig) -> WsClient<N> {
        WsClient::connect(&self.ws_url(path), config).await
    }

    /// Sends `GET path` and reads the whole response (e.g. a JSON document
    /// served by a GET route).
    ///
    /// # Panics
    ///
    /// If no complete response arrives within [`DEFAULT_TIMEOUT`].
    pub async fn get(&self, path: &str) -> ::http::Response<Vec<u8>> {
        http::get(&N::default(), self.addr, path).await
    }

    /// Sends `GET path` accepting `text/event-stream` and reads the response
    /// head (whatever its status: check it with
    /// [`SseClient::expect_status`]).
    pub async fn sse(&self, path: &str) -> SseClient<N> {
        self.sse_with(path, &[]).await
    }

    /// Like [`sse`](Self::sse) with extra request headers.
    pub async fn sse_with(&self, path: &str, headers: &[(&str, &str)]) -> SseClient<N> {
        SseClient::open(self.addr, path, headers).await
    }
}

impl<N: Net + Default> Drop for TestApp<N> {
    fn drop(&mut self) {
        self.handle.service().shutdown();
    }
}

impl<N: Net + Default> std::fmt::Debug for TestApp<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp").field("addr", &self.addr).finish()
    }
}
