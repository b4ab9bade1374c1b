//! The router: WebSocket routes, Server-Sent Events routes, WebTransport
//! routes (feature `webtransport`), plain GET and POST routes, route
//! options and middleware.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::Method;

use super::context::{Context, RouteInfo};
use super::middleware::{Middleware, auth::AnyOf};
use super::response::{IntoResponse, Response};
use super::sse::SseHandler;
use crate::connection::Connection;
use crate::error::Error;
use crate::hub::SlowConsumer;
use crate::protocol::Protocol;
use crate::user_code::BoxFuture;
use tidings_core::route::{Params, Pattern};

/// A WebSocket handler: `async fn(Context, Connection) -> Result<(), Error>`.
///
/// When it returns, the connection is closed with 1000, or with 1011 (and the
/// error's text as reason) if it returned an error.
pub trait WebSocketHandler: Send + Sync + 'static {
    /// Runs the handler for one connection.
    fn call(&self, ctx: Context, conn: Connection) -> BoxFuture<Result<(), Error>>;
}

impl<F, Fut> WebSocketHandler for F
where
    F: Fn(Context, Connection) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    fn call(&self, ctx: Context, conn: Connection) -> BoxFuture<Result<(), Error>> {
        Box::pin(self(ctx, conn))
    }
}

/// A plain HTTP GET handler: `async fn(Context) -> impl IntoResponse`.
pub trait GetHandler: Send + Sync + 'static {
    /// Produces the response.
    fn call(&self, ctx: Context) -> BoxFuture<Response>;
}

impl<F, Fut, R> GetHandler for F
where
    F: Fn(Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoResponse,
{
    fn call(&self, ctx: Context) -> BoxFuture<Response> {
        let future = self(ctx);
        Box::pin(async move { future.await.into_response() })
    }
}

/// A plain HTTP POST handler: `async fn(Context, Bytes) -> impl
/// IntoResponse`, given the request body (read whole, at most
/// [`ServerConfig::max_body_size`](super::ServerConfig::max_body_size)
/// bytes, `Content-Length` or chunked).
pub trait PostHandler: Send + Sync + 'static {
    /// Produces the response to a request with `body`.
    fn call(&self, ctx: Context, body: Bytes) -> BoxFuture<Response>;
}

impl<F, Fut, R> PostHandler for F
where
    F: Fn(Context, Bytes) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoResponse,
{
    fn call(&self, ctx: Context, body: Bytes) -> BoxFuture<Response> {
        let future = self(ctx, body);
        Box::pin(async move { future.await.into_response() })
    }
}

/// Documentation and policy attached to a route.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct RouteOptions {
    /// `WithName`: a stable name for the route.
    pub name: Option<String>,
    /// `WithSummary`: one line describing the route.
    pub summary: Option<String>,
    /// `WithTags`: grouping tags for documentation.
    pub tags: Vec<String>,
    /// `WithMiddleware`: run in order before the handler (after the
    /// router's layers and the route's authentication), told the outcome
    /// when the request is over.
    pub middleware: Vec<Arc<dyn Middleware>>,
    /// `WithAuth`: the authentication schemes the route requires, e.g.
    /// `bearer`, each registered with [`Router::authenticator`]. A request
    /// passes when any of them accepts it; otherwise it gets the first
    /// scheme's 401.
    pub auth: Vec<String>,
    /// `WithWebSocketMessages`: the types of the messages the client sends
    /// and the server sends back, with their JSON Schemas, for the AsyncAPI
    /// document ([`Router::asyncapi`]). Needs the `asyncapi` feature.
    #[cfg(feature = "asyncapi")]
    pub messages: Option<MessageTypes>,
    /// What happens to a client of this route whose outbox overflows
    /// (default: close with 1013; see [`crate::hub`]).
    pub slow_consumer: SlowConsumer,
    /// The event types of an SSE route (event name and data type), for the
    /// AsyncAPI document. Needs the `asyncapi` feature.
    #[cfg(feature = "asyncapi")]
    pub sse_events: Vec<(String, MessageType)>,
    /// How a WebTransport route's sessions receive hub broadcasts and
    /// sends: one datagram or one unidirectional stream per message
    /// (default). Needs the `webtransport` feature.
    #[cfg(feature = "webtransport")]
    pub broadcast_mode: crate::hub::BroadcastMode,
    /// The subprotocols a WebSocket route speaks, most preferred first, in
    /// place of [`ServerConfig::subprotocols`](super::ServerConfig::subprotocols)
    /// (`None`: the server's list). Set with [`subprotocols`](Self::subprotocols).
    pub subprotocols: Option<Vec<String>>,
    /// Headers added to every response of the route (the 101, the SSE 200,
    /// a plain response, a rejection), before its middleware adds its own:
    /// see [`Context::response_headers_mut`] for the rules. Set with
    /// [`response_header`](Self::response_header).
    pub response_headers: http::HeaderMap,
}

/// The message types of a WebSocket route.
#[cfg(feature = "asyncapi")]
#[derive(Clone, Debug)]
pub struct MessageTypes {
    /// What the client sends.
    pub receive: MessageType,
    /// What the server sends.
    pub send: MessageType,
}

/// A message type: its Rust name and how to make its JSON Schema.
#[cfg(feature = "asyncapi")]
#[derive(Clone, Copy)]
pub struct MessageType {
    /// The Rust type name (`std::any::type_name`).
    pub type_name: &'static str,
    /// The schema's name (`JsonSchema::schema_name`).
    pub schema_name: fn() -> std::borrow::Cow<'static, str>,
    /// Adds the type's schema to a generator, returning it or a `$ref` to it.
    pub schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
}

#[cfg(feature = "asyncapi")]
impl MessageType {
    /// The message type `T`.
    pub fn of<T: schemars::JsonSchema>() -> Self {
        MessageType {
            type_name: std::any::type_name::<T>(),
            schema_name: T::schema_name,
            schema: |generator| generator.subschema_for::<T>(),
        }
    }
}

#[cfg(feature = "asyncapi")]
impl std::fmt::Debug for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.type_name)
    }
}

impl RouteOptions {
    /// No options.
    pub fn new() -> Self {
        RouteOptions::default()
    }

    /// Sets the name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the summary.
    #[must_use]
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = Some(summary.into());
        self
    }

    /// Adds tags.
    #[must_use]
    pub fn tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Adds a middleware written as a closure that runs before the handler
    /// (for one with an `after` hook, see [`layer`](Self::layer)).
    #[must_use]
    pub fn middleware(
        self,
        middleware: impl Fn(&mut Context) -> Result<(), Response> + Send + Sync + 'static,
    ) -> Self {
        self.layer(middleware)
    }

    /// Adds a middleware written as a closure that may await before the
    /// handler (a session or token lookup): it returns a
    /// [`Before`](super::middleware::Before). See
    /// [`async_before`](super::middleware::async_before).
    ///
    /// ```
    /// # use tidings_framework::server::middleware::Before;
    /// # use tidings_framework::server::{Context, RouteOptions, Router, echo};
    /// let options = RouteOptions::new().middleware_async(|ctx: &mut Context| {
    ///     Before::new(async move {
    ///         let user = ctx.query("user").unwrap_or("anonymous").to_owned();
    ///         ctx.set(user); // e.g. after a database lookup
    ///         Ok(())
    ///     })
    /// });
    /// let router = Router::new().websocket_with("/ws", echo, options);
    /// # assert_eq!(router.len(), 1);
    /// ```
    #[must_use]
    pub fn middleware_async<F>(self, middleware: F) -> Self
    where
        F: for<'a> Fn(&'a mut Context) -> super::middleware::Before<'a> + Send + Sync + 'static,
    {
        self.layer(super::middleware::async_before(middleware))
    }

    /// Adds a [`Middleware`] (e.g. [`Logging`](super::Logging),
    /// [`RateLimit`](super::RateLimit)) for this route only.
    #[must_use]
    pub fn layer(mut self, middleware: impl Middleware) -> Self {
        self.middleware.push(Arc::new(middleware));
        self
    }

    /// Adds a required authentication scheme: the route rejects requests
    /// that the [`Router::authenticator`] registered under `scheme` refuses
    /// (with several schemes, one accepting is enough). A scheme with no
    /// authenticator is a configuration error ([`Router::validate`]).
    #[must_use]
    pub fn auth(mut self, scheme: impl Into<String>) -> Self {
        self.auth.push(scheme.into());
        self
    }

    /// Sets the subprotocols this WebSocket route speaks, most preferred
    /// first (in place of [`ServerConfig::subprotocols`](super::ServerConfig::subprotocols)):
    /// the first one the client also offers is chosen, sent back in
    /// `Sec-WebSocket-Protocol`, and read by the handler with
    /// [`Connection::subprotocol`]. With none in common the connection is
    /// accepted without one (the client decides whether that will do).
    ///
    /// ```
    /// # use tidings_framework::server::{RouteOptions, Router, echo};
    /// let router = Router::new()
    ///     .websocket_with("/ws/chat", echo, RouteOptions::new().subprotocols(["chat.v2", "chat.v1"]))
    ///     .websocket_with("/ws/mqtt", echo, RouteOptions::new().subprotocols(["mqtt"]));
    /// # assert_eq!(router.len(), 2);
    /// ```
    #[must_use]
    pub fn subprotocols<I: IntoIterator<Item = S>, S: Into<String>>(mut self, list: I) -> Self {
        self.subprotocols = Some(list.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a header to every response of the route (e.g. CORS on an SSE
    /// route: `Access-Control-Allow-Origin`); appended, so a name may be
    /// given several times. See [`Context::response_headers_mut`] for the
    /// names the server keeps for itself.
    ///
    /// ```
    /// # use tidings_framework::server::{RouteOptions, Router, SseContext};
    /// use http::{HeaderValue, header};
    /// let router = Router::new().sse_with(
    ///     "/events",
    ///     |ctx: SseContext| async move { ctx.send_event("hello", "world").await },
    ///     RouteOptions::new().response_header(
    ///         header::ACCESS_CONTROL_ALLOW_ORIGIN,
    ///         HeaderValue::from_static("https://app.example"),
    ///     ),
    /// );
    /// # assert_eq!(router.len(), 1);
    /// ```
    #[must_use]
    pub fn response_header(mut self, name: http::HeaderName, value: http::HeaderValue) -> Self {
        self.response_headers.append(name, value);
        self
    }

    /// Sets the slow-consumer policy.
    #[must_use]
    pub fn slow_consumer(mut self, policy: SlowConsumer) -> Self {
        self.slow_consumer = policy;
        self
    }

    /// Sets how a WebTransport route's sessions receive hub messages
    /// ([`BroadcastMode`](crate::hub::BroadcastMode)).
    #[cfg(feature = "webtransport")]
    #[must_use]
    pub fn broadcast_mode(mut self, mode: crate::hub::BroadcastMode) -> Self {
        self.broadcast_mode = mode;
        self
    }

    /// Records the message types of a WebSocket route: `Receive` from the
    /// client, `Send` to it; their JSON Schemas go into the AsyncAPI
    /// document. Needs the `asyncapi` feature.
    #[cfg(feature = "asyncapi")]
    #[must_use]
    pub fn messages<Receive: schemars::JsonSchema, Send: schemars::JsonSchema>(mut self) -> Self {
        self.messages = Some(MessageTypes {
            receive: MessageType::of::<Receive>(),
            send: MessageType::of::<Send>(),
        });
        self
    }

    /// Declares an event type an SSE route sends: events named `event`
    /// whose data is JSON of type `T` (use `"message"` for unnamed events).
    /// Needs the `asyncapi` feature.
    #[cfg(feature = "asyncapi")]
    #[must_use]
    pub fn sse_event<T: schemars::JsonSchema>(mut self, event: impl Into<String>) -> Self {
        self.sse_events.push((event.into(), MessageType::of::<T>()));
        self
    }
}

impl std::fmt::Debug for RouteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("RouteOptions");
        debug
            .field("name", &self.name)
            .field("summary", &self.summary)
            .field("tags", &self.tags)
            .field("middleware", &self.middleware.len())
            .field("auth", &self.auth)
            .field("slow_consumer", &self.slow_consumer)
            .field("subprotocols", &self.subprotocols)
            .field("response_headers", &self.response_headers);
        #[cfg(feature = "webtransport")]
        debug.field("broadcast_mode", &self.broadcast_mode);
        #[cfg(feature = "asyncapi")]
        debug
            .field("messages", &self.messages)
            .field("sse_events", &self.sse_events);
        debug.finish()
    }
}

#[derive(Clone)]
pub(crate) enum Endpoint {
    WebSocket(Arc<dyn WebSocketHandler>),
    Sse(Arc<dyn SseHandler>),
    Get(Arc<dyn GetHandler>),
    Post(Arc<dyn PostHandler>),
    /// A WebTransport route's handler: the `webtransport` module's, which
    /// sits above this one (it serves the router) and downcasts it.
    #[cfg(feature = "webtransport")]
    WebTransport(Arc<dyn std::any::Any + Send + Sync>),
}

impl Endpoint {
    /// The kind of route, as middleware is told it.
    pub(crate) fn protocol(&self) -> Protocol {
        match self {
            Endpoint::WebSocket(_) => Protocol::WebSocket,
            Endpoint::Sse(_) => Protocol::Sse,
            Endpoint::Get(_) | Endpoint::Post(_) => Protocol::Http,
            #[cfg(feature = "webtransport")]
            Endpoint::WebTransport(_) => Protocol::WebTransport,
        }
    }

    /// Whether the route serves `method` (the others get 405 from it,
    /// unless another route of the same path serves the method). A
    /// WebTransport route serves no HTTP/1.1 or HTTP/2 method: its
    /// sessions come over HTTP/3.
    pub(crate) fn accepts(&self, method: &Method) -> bool {
        match self {
            Endpoint::WebSocket(_) | Endpoint::Sse(_) => method == Method::GET,
            Endpoint::Get(_) => method == Method::GET || method == Method::HEAD,
            Endpoint::Post(_) => method == Method::POST,
            #[cfg(feature = "webtransport")]
            Endpoint::WebTransport(_) => false,
        }
    }
}

/// One registered route.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) pattern: Pattern,
    pub(crate) endpoint: Endpoint,
    pub(crate) options: RouteOptions,
    /// The middleware a request runs through, in order: the router's
    /// layers, the route's authentication, the route's middleware (set by
    /// [`Router::prepare`]).
    pub(crate) chain: Vec<Arc<dyn Middleware>>,
}

impl Route {
    /// What a handler's [`Context`] says about the route.
    pub(crate) fn info(&self) -> RouteInfo {
        RouteInfo {
            pattern: self.pattern.as_str().to_owned(),
            name: self.options.name.clone(),
            summary: self.options.summary.clone(),
            tags: self.options.tags.clone(),
        }
    }
}

/// A router that cannot serve as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouterError {
    /// A route requires ([`RouteOptions::auth`]) a scheme that no
    /// [`Router::authenticator`] provides.
    #[error(
        "route {route:?} requires authentication scheme {scheme:?}, which has no authenticator"
    )]
    UnknownAuthScheme {
        /// The route's pattern.
        route: String,
        /// The scheme.
        scheme: String,
    },
}

/// Maps request paths to handlers. Routes are tried in registration order;
/// the first whose pattern matches wins.
///
/// ```
/// # use tidings_framework::server::{Context, Html, Router, RouteOptions, SseContext};
/// # use tidings_framework::{Connection, Error};
/// async fn echo(_ctx: Context, conn: Connection) -> Result<(), Error> {
///     loop {
///         let message = conn.read().await?;
///         conn.write_message(&message).await?;
///     }
/// }
///
/// let router = Router::new()
///     .get("/", |_ctx| async { Html("<h1>hello</h1>") })
///     .websocket("/ws/echo", echo)
///     .websocket_with("/ws/chat/:room", echo, RouteOptions::new().summary("Chat room").tags(["chat"]))
///     .sse("/events", |ctx: SseContext| async move {
///         ctx.send_event("hello", "world").await
///     });
/// assert_eq!(router.len(), 4);
/// ```
#[derive(Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
    layers: Vec<Arc<dyn Middleware>>,
    authenticators: Vec<(String, Arc<dyn Middleware>)>,
}

impl Router {
    /// An empty router (every request gets 404).
    pub fn new() -> Self {
        Router::default()
    }

    /// Adds a WebSocket route.
    ///
    /// # Panics
    ///
    /// If `pattern` is not a valid route pattern (see
    /// [`Pattern::parse`](tidings_core::route::Pattern::parse)): routes are fixed
    /// when the program starts, so this is a programming error.
    #[must_use]
    pub fn websocket(self, pattern: &str, handler: impl WebSocketHandler) -> Self {
        self.websocket_with(pattern, handler, RouteOptions::default())
    }

    /// Adds a WebSocket route with options. Panics like [`websocket`](Self::websocket).
    #[must_use]
    pub fn websocket_with(
        self,
        pattern: &str,
        handler: impl WebSocketHandler,
        options: RouteOptions,
    ) -> Self {
        self.add(pattern, Endpoint::WebSocket(Arc::new(handler)), options)
    }

    /// Adds a Server-Sent Events route: `GET` requests get an event stream
    /// written by `handler` (see [`SseContext`](super::SseContext) and
    /// [`Sse::from_stream`](super::Sse::from_stream)). Panics like
    /// [`websocket`](Self::websocket).
    #[must_use]
    pub fn sse(self, pattern: &str, handler: impl SseHandler) -> Self {
        self.sse_with(pattern, handler, RouteOptions::default())
    }

    /// Adds a Server-Sent Events route with options (middleware runs before
    /// the stream starts and may reject the request). Panics like
    /// [`websocket`](Self::websocket).
    #[must_use]
    pub fn sse_with(self, pattern: &str, handler: impl SseHandler, options: RouteOptions) -> Self {
        self.add(pattern, Endpoint::Sse(Arc::new(handler)), options)
    }

    /// Adds a plain HTTP GET route. Panics like [`websocket`](Self::websocket).
    #[must_use]
    pub fn get(self, pattern: &str, handler: impl GetHandler) -> Self {
        self.get_with(pattern, handler, RouteOptions::default())
    }

    /// Adds a plain HTTP GET route with options. Panics like [`websocket`](Self::websocket).
    #[must_use]
    pub fn get_with(self, pattern: &str, handler: impl GetHandler, options: RouteOptions) -> Self {
        self.add(pattern, Endpoint::Get(Arc::new(handler)), options)
    }

    /// Adds a plain HTTP POST route: `handler` gets the request body,
    /// read whole before it runs (after the middleware), bounded by
    /// [`ServerConfig::max_body_size`](super::ServerConfig::max_body_size)
    /// (413 beyond it), framed by `Content-Length` or `chunked` (a POST
    /// with neither gets 411, an ambiguous framing 400), with `Expect:
    /// 100-continue` answered. Another method gets 405 unless a route of the
    /// same path serves it (a GET and a POST may share a path). Panics like
    /// [`websocket`](Self::websocket).
    ///
    /// ```
    /// # use tidings_framework::server::{Context, Router};
    /// # use tidings_framework::hub::{Filter, Payload};
    /// use bytes::Bytes;
    /// use http::StatusCode;
    ///
    /// let router = Router::new().post("/publish/:room", |ctx: Context, body: Bytes| async move {
    ///     let Ok(text) = std::str::from_utf8(&body) else {
    ///         return (StatusCode::BAD_REQUEST, "not UTF-8");
    ///     };
    ///     let room = ctx.param("room").unwrap_or_default();
    ///     ctx.hub().broadcast(Payload::text(text), Filter::room(room));
    ///     (StatusCode::ACCEPTED, "published")
    /// });
    /// # assert_eq!(router.len(), 1);
    /// ```
    #[must_use]
    pub fn post(self, pattern: &str, handler: impl PostHandler) -> Self {
        self.post_with(pattern, handler, RouteOptions::default())
    }

    /// Adds a plain HTTP POST route with options. Panics like
    /// [`websocket`](Self::websocket).
    #[must_use]
    pub fn post_with(
        self,
        pattern: &str,
        handler: impl PostHandler,
        options: RouteOptions,
    ) -> Self {
        self.add(pattern, Endpoint::Post(Arc::new(handler)), options)
    }

    pub(crate) fn add(mut self, pattern: &str, endpoint: Endpoint, options: RouteOptions) -> Self {
        let pattern = match Pattern::parse(pattern) {
            Ok(pattern) => pattern,
            Err(error) => panic!("invalid route pattern {pattern:?}: {error}"),
        };
        self.routes.push(Route {
            pattern,
            endpoint,
            options,
            chain: Vec::new(),
        });
        self
    }

    /// Adds a middleware that every route runs, before the route's own
    /// authentication and middleware (layers run in the order added). Put
    /// [`Logging`](super::Logging) first so it sees the rejections of the
    /// others.
    #[must_use]
    pub fn layer(mut self, middleware: impl Middleware) -> Self {
        self.layers.push(Arc::new(middleware));
        self
    }

    /// Registers the authenticator of scheme `scheme` (replacing an earlier
    /// one of that name), for the routes that require it with
    /// [`RouteOptions::auth`]. Usually an [`Authenticator`](super::Authenticator);
    /// any [`Middleware`] that rejects with 401 will do.
    #[must_use]
    pub fn authenticator(mut self, scheme: impl Into<String>, middleware: impl Middleware) -> Self {
        let scheme = scheme.into();
        self.authenticators.retain(|(name, _)| *name != scheme);
        self.authenticators.push((scheme, Arc::new(middleware)));
        self
    }

    /// Checks the configuration: every scheme a route requires has an
    /// authenticator. The server runs this when it starts
    /// ([`Server::bind_with`](super::Server::bind_with) returns the error).
    pub fn validate(&self) -> Result<(), RouterError> {
        self.routes
            .iter()
            .try_for_each(|route| self.auth_of(route).map(drop))
    }

    /// The authenticators `route` requires (`None` if it requires none).
    fn auth_of(&self, route: &Route) -> Result<Option<AnyOf>, RouterError> {
        if route.options.auth.is_empty() {
            return Ok(None);
        }
        route
            .options
            .auth
            .iter()
            .map(|scheme| {
                self.authenticators
                    .iter()
                    .find(|(name, _)| name == scheme)
                    .map(|(_, middleware)| middleware.clone())
                    .ok_or_else(|| RouterError::UnknownAuthScheme {
                        route: route.pattern.as_str().to_owned(),
                        scheme: scheme.clone(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|schemes| Some(AnyOf(schemes)))
    }

    /// Validates the router and fixes each route's middleware chain.
    pub(crate) fn prepare(mut self) -> Result<Self, RouterError> {
        let chains = self
            .routes
            .iter()
            .map(|route| {
                let auth = self.auth_of(route)?;
                let mut chain = self.layers.clone();
                chain.extend(auth.map(|auth| Arc::new(auth) as Arc<dyn Middleware>));
                chain.extend(route.options.middleware.iter().cloned());
                Ok(chain)
            })
            .collect::<Result<Vec<_>, RouterError>>()?;
        for (route, chain) in self.routes.iter_mut().zip(chains) {
            route.chain = chain;
        }
        Ok(self)
    }

    /// The number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether no route is registered.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Each route's pattern, whether it is a WebSocket route, and its
    /// options, in registration order (for documentation generators).
    pub fn routes(&self) -> impl Iterator<Item = (&str, bool, &RouteOptions)> {
        self.routes.iter().map(|route| {
            (
                route.pattern.as_str(),
                matches!(route.endpoint, Endpoint::WebSocket(_)),
                &route.options,
            )
        })
    }

    /// Every route, in registration order (for the AsyncAPI document).
    #[cfg(feature = "asyncapi")]
    pub(crate) fn all_routes(&self) -> &[Route] {
        &self.routes
    }

    /// The first route matching `path` that serves `method`, else the first
    /// route matching `path` (which answers 405), with its parameters.
    pub(crate) fn find_for(&self, method: &Method, path: &str) -> Option<(&Route, Params)> {
        let mut first = None;
        for route in &self.routes {
            if let Some(params) = route.pattern.matches(path) {
                if route.endpoint.accepts(method) {
                    return Some((route, params));
                }
                first.get_or_insert((route, params));
            }
        }
        first
    }

    /// The middleware every route runs first ([`layer`](Self::layer)), in
    /// order: what an [embedded](super::embed) upgrade outside the router
    /// runs.
    pub(crate) fn layers(&self) -> &[Arc<dyn Middleware>] {
        &self.layers
    }

    /// The first route matching `path`, with its parameters.
    #[allow(dead_code, reason = "the lookup by path alone, kept for embedding")]
    pub(crate) fn find(&self, path: &str) -> Option<(&Route, Params)> {
        self.routes
            .iter()
            .find_map(|route| route.pattern.matches(path).map(|params| (route, params)))
    }
}
