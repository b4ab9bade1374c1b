//! Embedding tidings in another HTTP server (hyper, axum, or your own):
//! the server parses the request and sends the response head; tidings
//! routes, runs its middleware, validates the WebSocket handshake, and runs
//! the connection — hub registration, rooms, broadcast, statistics,
//! permessage-deflate, timers, limits, middleware values — over the
//! upgraded transport, or the SSE stream as a response body.
//!
//! [`Embedded`] is a [`Router`] and a [`ServerConfig`] on a runtime, with
//! the hub every stream it serves shares. It answers a parsed request in
//! one of three ways ([`Answer`]):
//!
//! - a complete [`Response`] (a GET route, or a refusal: 404, 405, 503, a
//!   middleware's rejection, a bad handshake);
//! - a [`WebSocketAccept`]: send its [`response`](WebSocketAccept::response)
//!   (`101 Switching Protocols` with the accept key, the negotiated
//!   subprotocol and permessage-deflate), then hand the upgraded transport
//!   to [`run`](WebSocketAccept::run), with any bytes the server read past
//!   the request head;
//! - an [`SseAccept`]: send its [`response`](SseAccept::response) head and
//!   the [`SseBody`] that [`run`](SseAccept::run) returns.
//!
//! Outside the router, [`Embedded::websocket`] and [`Embedded::sse`] accept
//! a stream for a route of the other server (e.g. an axum handler), with
//! the handler given later ([`WebSocketAccept::run_with`],
//! [`SseAccept::run_with`]).
//!
//! The `tidings-axum` crate builds on this for hyper 1 and axum 0.8; this
//! module knows neither.
//!
//! ```
//! # async fn demo<R: tidings_framework::runtime::Runtime>(rt: R) {
//! use tidings_framework::http::Request;
//! use tidings_framework::server::embed::{Addrs, Answer, Embedded};
//! use tidings_framework::server::{Router, ServerConfig, echo};
//!
//! let tidings = Embedded::new(Router::new().websocket("/ws", echo), ServerConfig::default(), rt)
//!     .expect("a valid router");
//! let request = Request::get("/ws")
//!     .header("host", "example.com")
//!     .header("upgrade", "websocket")
//!     .header("connection", "upgrade")
//!     .header("sec-websocket-version", "13")
//!     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
//!     .body(())
//!     .unwrap();
//! match tidings.handle(&request, Addrs::default()).await {
//!     Answer::WebSocket(accept) => {
//!         let head = accept.response();
//!         assert_eq!(head.status(), 101);
//!         assert_eq!(head.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
//!         // Send `head`; once the server has switched protocols:
//!         // runtime.spawn(accept.run(upgraded_io, &bytes_read_after_the_head));
//!     }
//!     Answer::Sse(_) | Answer::Response(_) => unreachable!(),
//! }
//! # }
//! ```
//!
//! # Middleware and values
//!
//! Routed requests run the route's middleware as [`Server`](super::Server)
//! does. An upgrade outside the router ([`Embedded::websocket`],
//! [`Embedded::sse`]) runs the router's [layers](Router::layer). In both,
//! the [`Context`]'s values start as a clone of the request's extensions,
//! so values that the other server's middleware put there (say an axum or
//! tower authentication layer) reach [`Connection::get`](crate::Connection::get)
//! and [`SseContext::get`](super::SseContext::get) as tidings middleware's
//! do.
//!
//! # Shutdown
//!
//! [`Embedded::shutdown`] closes every WebSocket connection it serves with
//! 1001 and ends every SSE stream, as a server's shutdown does; the HTTP
//! server's own graceful shutdown does not know upgraded connections.

// A refusal is a whole `Response` (144 bytes), as a middleware's rejection
// is: refusals are the cold path, and the caller sends them as they are.
#![allow(clippy::result_large_err)]

mod pipe;
mod sse;
mod websocket;

use core::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, StatusCode};

pub use sse::{SseAccept, SseBody};
pub use websocket::{WebSocketAccept, WebSocketTask};

use super::context::{Context, RouteInfo};
use super::middleware::{Chain, Middleware};
use super::response::{IntoResponse, Response};
use super::router::{Endpoint, Route, RouterError};
use super::serve::{Opening, admit_websocket, get_response, method_not_allowed, wants_stream};
use super::{Router, ServerConfig, Service};
use crate::hub::{Hub, SlowConsumer};
use crate::protocol::Protocol;
use crate::runtime::Runtime;
use tidings_core::route::{Params, Pattern, Query};

/// A [`Router`] and a [`ServerConfig`] served inside another HTTP server
/// on runtime `R` (see the [module docs](self)). Cheap to clone; clones
/// share the hub, the limits and the shutdown.
pub struct Embedded<R: Runtime> {
    service: Arc<Service>,
    rt: R,
}

impl<R: Runtime> Clone for Embedded<R> {
    fn clone(&self) -> Self {
        Embedded {
            service: self.service.clone(),
            rt: self.rt.clone(),
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Embedded<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded")
            .field("routes", &self.service.router.len())
            .field("active_connections", &self.active_connections())
            .field("active_sse_connections", &self.active_sse_connections())
            .finish()
    }
}

/// The addresses of the connection a request came on, when the embedding
/// server knows them (tidings' [`RateLimit`](super::RateLimit) keys on the
/// remote one).
///
/// ```
/// use tidings_framework::server::embed::Addrs;
/// let addrs = Addrs::new(Some("192.0.2.7:50000".parse().unwrap()), None);
/// assert_eq!(addrs.remote.unwrap().port(), 50000);
/// assert_eq!(Addrs::default().remote, None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Addrs {
    /// The client's address.
    pub remote: Option<SocketAddr>,
    /// The server's address the client connected to.
    pub local: Option<SocketAddr>,
}

impl Addrs {
    /// The remote and the local address.
    pub fn new(remote: Option<SocketAddr>, local: Option<SocketAddr>) -> Self {
        Addrs { remote, local }
    }
}

/// How [`Embedded::handle`] answers a request.
#[allow(
    clippy::large_enum_variant,
    reason = "made once per request and taken apart at once"
)]
pub enum Answer<R: Runtime> {
    /// A complete response: a GET route's, or a refusal (404, 405, 503, a
    /// middleware's rejection, an invalid WebSocket handshake).
    Response(Response),
    /// A WebSocket route accepted the upgrade: send
    /// [`response`](WebSocketAccept::response), then
    /// [`run`](WebSocketAccept::run) the connection on the upgraded
    /// transport.
    WebSocket(WebSocketAccept<R>),
    /// An SSE route accepted the request: send
    /// [`response`](SseAccept::response) with the body
    /// [`run`](SseAccept::run) returns.
    Sse(SseAccept<R>),
}

impl<R: Runtime> std::fmt::Debug for Answer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Response(response) => f.debug_tuple("Response").field(response).finish(),
            Answer::WebSocket(accept) => f.debug_tuple("WebSocket").field(accept).finish(),
            Answer::Sse(accept) => f.debug_tuple("Sse").field(accept).finish(),
        }
    }
}

impl<R: Runtime> Embedded<R> {
    /// Serves `router` with `config` on runtime `rt`. `config`'s listener
    /// settings (the request head's limits and timeout, TLS) are the
    /// embedding server's business and are not used.
    ///
    /// # Errors
    ///
    /// A misconfigured router ([`Router::validate`]).
    pub fn new(router: Router, config: ServerConfig, rt: R) -> Result<Self, RouterError> {
        router.validate()?;
        Ok(Embedded {
            service: Service::new(router, config),
            rt,
        })
    }

    /// The hub: every connection and stream served through this value and
    /// its clones, rooms, broadcast, statistics ([`Hub::stats`]).
    pub fn hub(&self) -> &Arc<Hub> {
        self.service.hub()
    }

    /// The runtime connections run on.
    pub fn runtime(&self) -> &R {
        &self.rt
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.service.config
    }

    /// WebSocket connections holding a slot of
    /// [`ServerConfig::max_connections`] now.
    pub fn active_connections(&self) -> usize {
        self.service
            .websockets
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// SSE streams holding a slot of
    /// [`SseConfig::max_connections`](super::SseConfig::max_connections) now.
    pub fn active_sse_connections(&self) -> usize {
        self.service
            .sse_connections
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Starts a graceful shutdown without waiting: new upgrades and streams
    /// get 503, every WebSocket connection is closed with 1001 after what
    /// was queued for it, every SSE stream ends after its queued events.
    pub fn begin_shutdown(&self) {
        self.service.shutdown();
    }

    /// [`begin_shutdown`](Self::begin_shutdown), then waits until every
    /// connection and stream has ended or `timeout` has passed; then
    /// flushes a cluster engine's queue until the same deadline. Returns
    /// whether all ended in time.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.service.drain(&self.rt, timeout).await
    }

    /// Answers `request` (its body is not read) with the router: routing,
    /// the route's middleware, then the route's response, WebSocket upgrade
    /// or SSE stream (see [`Answer`]).
    pub async fn handle<B>(&self, request: &Request<B>, addrs: Addrs) -> Answer<R> {
        let service = &self.service;
        let Some((route, params)) = find(service, request.method(), request.uri().path()) else {
            let response = (StatusCode::NOT_FOUND, "not found").into_response();
            if wants_stream(request) {
                service.hub.counters().rejected(response.status());
            }
            return Answer::Response(response);
        };
        let mut ctx = self.context(request, addrs, params, route.info());
        ctx.response_headers = route.options.response_headers.clone();
        let protocol = route.endpoint.protocol();
        let chain = match run_middleware(service, &route.chain, &mut ctx, protocol, &self.rt).await
        {
            Ok(chain) => chain,
            Err(rejection) => {
                if protocol != Protocol::Http {
                    service.hub.counters().rejected(rejection.status());
                }
                return Answer::Response(rejection);
            }
        };
        let policy = route.options.slow_consumer.clone();
        match &route.endpoint {
            Endpoint::Get(handler) => {
                if !route.endpoint.accepts(request.method()) {
                    return Answer::Response(method_not_allowed("GET, HEAD"));
                }
                // (hyper leaves out the body of an answer to `HEAD`.)
                let mut chain = chain;
                let (response, _panicked) = get_response(handler.as_ref(), ctx, &mut chain).await;
                Answer::Response(response)
            }
            #[cfg(feature = "webtransport")]
            Endpoint::WebTransport(_) => {
                service.hub.counters().rejected(StatusCode::BAD_REQUEST);
                let response = (
                    StatusCode::BAD_REQUEST,
                    "a WebTransport route: open it with an HTTP/3 extended CONNECT",
                );
                Answer::Response(response.into_response())
            }
            Endpoint::Post(_) => {
                // The request's body is the embedding server's (hyper's).
                let response = (
                    StatusCode::NOT_IMPLEMENTED,
                    "a POST route of an embedded tidings Router: route it to the embedding app",
                );
                Answer::Response(response.into_response())
            }
            Endpoint::WebSocket(handler) => {
                let pattern = route.pattern.shared_str().clone();
                let subprotocols = route.options.subprotocols.as_deref();
                match self.accept_websocket(request, ctx, chain, pattern, policy, subprotocols) {
                    Ok(accept) => Answer::WebSocket(accept.with_handler(handler.clone())),
                    Err(refusal) => Answer::Response(refusal),
                }
            }
            Endpoint::Sse(handler) => match self.accept_sse(request, ctx, chain, policy) {
                Ok(accept) => Answer::Sse(accept.with_handler(handler.clone())),
                Err(refusal) => Answer::Response(refusal),
            },
        }
    }

    /// Accepts a WebSocket upgrade for a route of the embedding server
    /// (e.g. an axum handler's): checks the handshake and the connection
    /// limit, and runs the router's [layers](Router::layer). `route` names
    /// the route in statistics and [`Context::route`]; when it is a route
    /// pattern that matches the path, in tidings' syntax (`/ws/chat/:room`)
    /// or axum's (`/ws/chat/{room}`), the context's
    /// [params](Context::param) are its parameters.
    ///
    /// # Errors
    ///
    /// The response to send instead: the handshake's refusal (400, 403,
    /// 405, 426), 503 beyond [`ServerConfig::max_connections`] or during
    /// shutdown, or a middleware's rejection. Counted in the statistics'
    /// rejected handshakes.
    pub async fn websocket<B>(
        &self,
        request: &Request<B>,
        addrs: Addrs,
        route: &str,
    ) -> Result<WebSocketAccept<R>, Response> {
        let (mut ctx, pattern) = self.outside_context(request, addrs, route);
        let layers = self.service.router.layers();
        let chain = run_middleware(
            &self.service,
            layers,
            &mut ctx,
            Protocol::WebSocket,
            &self.rt,
        )
        .await
        .inspect_err(|rejection| self.service.hub.counters().rejected(rejection.status()))?;
        self.accept_websocket(request, ctx, chain, pattern, SlowConsumer::default(), None)
    }

    /// Accepts an SSE request for a route of the embedding server, like
    /// [`websocket`](Self::websocket): 405 for methods other than `GET`,
    /// 503 beyond [`SseConfig::max_connections`](super::SseConfig::max_connections)
    /// or during shutdown, the router's layers.
    ///
    /// # Errors
    ///
    /// The response to send instead (counted as a rejected handshake).
    pub async fn sse<B>(
        &self,
        request: &Request<B>,
        addrs: Addrs,
        route: &str,
    ) -> Result<SseAccept<R>, Response> {
        let (mut ctx, _) = self.outside_context(request, addrs, route);
        let layers = self.service.router.layers();
        let chain = run_middleware(&self.service, layers, &mut ctx, Protocol::Sse, &self.rt)
            .await
            .inspect_err(|rejection| self.service.hub.counters().rejected(rejection.status()))?;
        self.accept_sse(request, ctx, chain, SlowConsumer::default())
    }

    /// The handshake and admission of a WebSocket request that passed its
    /// middleware.
    fn accept_websocket<B>(
        &self,
        request: &Request<B>,
        ctx: Context,
        chain: Chain,
        route: Arc<str>,
        policy: SlowConsumer,
        subprotocols: Option<&[String]>,
    ) -> Result<WebSocketAccept<R>, Response> {
        let (accepted, slot) =
            admit_websocket(&self.service, request, subprotocols).map_err(|r| r.into_response())?;
        let opening = Opening {
            accepted,
            route,
            policy,
            ctx,
            chain,
            slot,
        };
        Ok(WebSocketAccept::new(self.clone(), opening))
    }

    /// The method check and admission of an SSE request that passed its
    /// middleware.
    fn accept_sse<B>(
        &self,
        request: &Request<B>,
        ctx: Context,
        chain: Chain,
        policy: SlowConsumer,
    ) -> Result<SseAccept<R>, Response> {
        let refused = |response: Response| {
            self.service.hub.counters().rejected(response.status());
            response
        };
        if request.method() != Method::GET {
            let mut response =
                (StatusCode::METHOD_NOT_ALLOWED, "method not allowed").into_response();
            response
                .headers_mut()
                .insert(http::header::ALLOW, http::HeaderValue::from_static("GET"));
            return Err(refused(response));
        }
        let slot = super::sse::admit(&self.service).map_err(refused)?;
        Ok(SseAccept::new(self.clone(), ctx, chain, slot, policy))
    }

    /// The context of a request outside the router, and the route name the
    /// hub records.
    fn outside_context<B>(
        &self,
        request: &Request<B>,
        addrs: Addrs,
        route: &str,
    ) -> (Context, Arc<str>) {
        let path = request.uri().path();
        let params = [route.to_owned(), colon_syntax(route)]
            .iter()
            .find_map(|route| Pattern::parse(route).ok()?.matches(path))
            .unwrap_or_default();
        let info = RouteInfo {
            pattern: route.to_owned(),
            ..RouteInfo::default()
        };
        (self.context(request, addrs, params, info), Arc::from(route))
    }

    /// A handler's context for `request`: its values start as a clone of
    /// the request's extensions.
    fn context<B>(
        &self,
        request: &Request<B>,
        addrs: Addrs,
        params: Params,
        route: RouteInfo,
    ) -> Context {
        Context {
            method: request.method().clone(),
            uri: request.uri().clone(),
            headers: request.headers().clone(),
            params,
            query: Query::parse(request.uri().query().unwrap_or("")),
            remote_addr: addrs.remote,
            local_addr: addrs.local,
            route,
            values: request.extensions().clone(),
            response_headers: http::HeaderMap::new(),
            hub: self.service.hub.clone(),
            now: self.rt.now(),
        }
    }
}

/// `route` with axum's parameter syntax (`/chat/{room}`, `/files/{*rest}`)
/// in tidings' (`/chat/:room`, `/files/*rest`), for the parameters of a
/// route of the embedding server.
fn colon_syntax(route: &str) -> String {
    route
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) if name.starts_with('*') => name.to_owned(),
                Some(name) => format!(":{name}"),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// The router's lookup: the first route matching `path` that serves
/// `method` (else the first matching `path`, which answers 405), with its
/// parameters.
fn find<'a>(service: &'a Service, method: &Method, path: &str) -> Option<(&'a Route, Params)> {
    service.router.find_for(method, path)
}

/// Runs the `before` hooks of `layers` on `ctx` (see [`Chain::start`]):
/// the chain whose `after` hooks run when it is dropped, or the rejection.
/// (Async, so that asynchronous hooks need no change of its callers.)
async fn run_middleware<R: Runtime>(
    service: &Service,
    layers: &[Arc<dyn Middleware>],
    ctx: &mut Context,
    protocol: Protocol,
    rt: &R,
) -> Result<Chain, Response> {
    let deadline = rt.now() + service.config.handshake_timeout;
    Chain::start(layers, ctx, protocol, (rt, deadline), service.clock(rt)).await
}

/// Counts a task of an embedded connection among the service's tasks
/// (so that [`Embedded::shutdown`] waits for it) until dropped.
struct TaskCount(Arc<Service>);

impl TaskCount {
    fn new(service: &Arc<Service>) -> Self {
        service.task_started();
        TaskCount(service.clone())
    }
}

impl Drop for TaskCount {
    fn drop(&mut self) {
        self.0.task_ended();
    }
}
