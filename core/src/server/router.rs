//! The router: WebSocket routes, Server-Sent Events routes, plain GET
//! routes, route options and middleware.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::context::Context;
use super::response::{IntoResponse, Response};
use super::sse::SseHandler;
use crate::connection::Connection;
use crate::error::Error;
use crate::hub::SlowConsumer;
use crate::route::{Params, Pattern};

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

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

/// Middleware run before a route's handler (and before the WebSocket
/// upgrade): it may attach values to the context, or reject the request with
/// a response (e.g. 401), in which case no upgrade happens.
pub type Middleware = Arc<dyn Fn(&mut Context) -> Result<(), Response> + Send + Sync>;

/// Documentation and policy attached to a route (the Forge route options).
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct RouteOptions {
    /// `WithName`: a stable name for the route.
    pub name: Option<String>,
    /// `WithSummary`: one line describing the route.
    pub summary: Option<String>,
    /// `WithTags`: grouping tags for documentation.
    pub tags: Vec<String>,
    /// `WithMiddleware`: run in order before the handler.
    pub middleware: Vec<Middleware>,
    /// `WithAuth`: the authentication schemes the route requires, e.g. `jwt`.
    pub auth: Vec<String>,
    /// `WithWebSocketMessages`: the Rust type names of the messages the
    /// client sends and the server sends back, for documentation.
    pub messages: Option<MessageTypes>,
    /// What happens to a client of this route whose outbox overflows
    /// (default: close with 1013; see [`crate::hub`]).
    pub slow_consumer: SlowConsumer,
}

/// The message types of a WebSocket route, by Rust type name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageTypes {
    /// What the client sends.
    pub receive: &'static str,
    /// What the server sends.
    pub send: &'static str,
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

    /// Adds a middleware.
    #[must_use]
    pub fn middleware(
        mut self,
        middleware: impl Fn(&mut Context) -> Result<(), Response> + Send + Sync + 'static,
    ) -> Self {
        self.middleware.push(Arc::new(middleware));
        self
    }

    /// Adds a required authentication scheme.
    #[must_use]
    pub fn auth(mut self, scheme: impl Into<String>) -> Self {
        self.auth.push(scheme.into());
        self
    }

    /// Sets the slow-consumer policy.
    #[must_use]
    pub fn slow_consumer(mut self, policy: SlowConsumer) -> Self {
        self.slow_consumer = policy;
        self
    }

    /// Records the message types: `Receive` from the client, `Send` to it.
    #[must_use]
    pub fn messages<Receive, Send>(mut self) -> Self {
        self.messages = Some(MessageTypes {
            receive: std::any::type_name::<Receive>(),
            send: std::any::type_name::<Send>(),
        });
        self
    }
}

impl std::fmt::Debug for RouteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteOptions")
            .field("name", &self.name)
            .field("summary", &self.summary)
            .field("tags", &self.tags)
            .field("middleware", &self.middleware.len())
            .field("auth", &self.auth)
            .field("messages", &self.messages)
            .field("slow_consumer", &self.slow_consumer)
            .finish()
    }
}

#[derive(Clone)]
pub(crate) enum Endpoint {
    WebSocket(Arc<dyn WebSocketHandler>),
    Sse(Arc<dyn SseHandler>),
    Get(Arc<dyn GetHandler>),
}

/// One registered route.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) pattern: Pattern,
    pub(crate) endpoint: Endpoint,
    pub(crate) options: RouteOptions,
}

/// Maps request paths to handlers. Routes are tried in registration order;
/// the first whose pattern matches wins.
///
/// ```
/// use tidings_core::server::{Context, Html, Router, RouteOptions};
/// use tidings_core::{Connection, Error};
///
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
///     .sse("/events", |ctx: tidings_core::server::SseContext| async move {
///         ctx.send_event("hello", "world").await
///     });
/// assert_eq!(router.len(), 4);
/// ```
#[derive(Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
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
    /// [`Pattern::parse`](crate::route::Pattern::parse)): routes are fixed
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

    fn add(mut self, pattern: &str, endpoint: Endpoint, options: RouteOptions) -> Self {
        let pattern = match Pattern::parse(pattern) {
            Ok(pattern) => pattern,
            Err(error) => panic!("invalid route pattern {pattern:?}: {error}"),
        };
        self.routes.push(Route {
            pattern,
            endpoint,
            options,
        });
        self
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

    /// The first route matching `path`, with its parameters.
    pub(crate) fn find(&self, path: &str) -> Option<(&Route, Params)> {
        self.routes
            .iter()
            .find_map(|route| route.pattern.matches(path).map(|params| (route, params)))
    }
}
