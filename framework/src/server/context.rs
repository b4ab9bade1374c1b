//! The request context a handler receives: path parameters, query, headers,
//! addresses, and values attached by middleware.

use core::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, Method, Uri};

use crate::hub::Hub;
use tidings_core::route::{Params, Query};

/// What a handler knows about the request that opened its connection.
#[derive(Clone, Debug)]
pub struct Context {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) params: Params,
    pub(crate) query: Query,
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) local_addr: Option<SocketAddr>,
    pub(crate) route: RouteInfo,
    pub(crate) values: http::Extensions,
    /// Headers for the response: the 101, the SSE 200, a plain response or
    /// a rejection (see [`response_headers_mut`](Self::response_headers_mut)).
    pub(crate) response_headers: HeaderMap,
    pub(crate) hub: Arc<Hub>,
    /// When the request was routed, from the runtime's clock.
    pub(crate) now: Instant,
}

/// The route a request matched.
#[derive(Clone, Debug, Default)]
pub struct RouteInfo {
    /// The route pattern, e.g. `/ws/chat/:room`.
    pub pattern: String,
    /// The route's name, if one was given.
    pub name: Option<String>,
    /// The route's summary, if one was given.
    pub summary: Option<String>,
    /// The route's tags.
    pub tags: Vec<String>,
}

impl Context {
    /// The server's [`Hub`]: connections, rooms, broadcast, statistics.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// A path parameter, e.g. `param("room")` for `/ws/chat/:room`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name)
    }

    /// All path parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The first value of a query parameter, percent-decoded
    /// (`query("user")` for `?user=ann`).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name)
    }

    /// The whole parsed query string.
    pub fn query_params(&self) -> &Query {
        &self.query
    }

    /// A request header as text (`None` if absent or not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// All request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request target (path and query).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The request path.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The client's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// The server's address the client connected to.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// When the request was routed, read from the server's runtime clock
    /// (middleware such as [`RateLimit`](super::RateLimit) takes its time
    /// from here).
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The matched route.
    pub fn route(&self) -> &RouteInfo {
        &self.route
    }

    /// Attaches a typed value (e.g. the user id found by authentication
    /// middleware). WebSocket connections inherit these values:
    /// [`Connection::get`](crate::connection::Connection::get) reads them.
    pub fn set<T: Clone + Send + Sync + 'static>(&mut self, value: T) {
        self.values.insert(value);
    }

    /// Headers to add to the response this request gets, as set so far by
    /// the route's [`RouteOptions::response_header`](super::RouteOptions::response_header)
    /// and by middleware.
    pub fn response_headers(&self) -> &HeaderMap {
        &self.response_headers
    }

    /// Headers to add to the response this request gets: the `101
    /// Switching Protocols` of a WebSocket route, the `200` that starts an
    /// SSE stream, a plain route's response, or the rejection a later
    /// middleware answers with (e.g. `Set-Cookie` after a session lookup,
    /// CORS headers on an SSE stream). Middleware adds them in
    /// [`before`](super::Middleware::before); a route's static ones come
    /// from [`RouteOptions::response_header`](super::RouteOptions::response_header).
    ///
    /// Added with `append`, a name may carry several values (several
    /// `Set-Cookie`s). They never replace what the server or the handler
    /// sets itself: a name the response already has keeps the response's
    /// values, and the framing and handshake headers (`Connection`,
    /// `Upgrade`, `Content-Length`, `Transfer-Encoding`, `Keep-Alive`, `TE`,
    /// `Trailer`, `Sec-WebSocket-*`) are never taken from here. The
    /// [`http`] types refuse a CR or LF in a name or value; a value built
    /// without that check holding CR, LF or NUL is dropped (with a warning
    /// logged), so a header cannot inject another.
    ///
    /// ```
    /// # use tidings_framework::server::{Context, RouteOptions, Router, echo};
    /// let router = Router::new().websocket_with(
    ///     "/ws",
    ///     echo,
    ///     RouteOptions::new().middleware(|ctx: &mut Context| {
    ///         ctx.response_headers_mut().append(
    ///             http::header::SET_COOKIE,
    ///             http::HeaderValue::from_static("session=abc; HttpOnly"),
    ///         );
    ///         Ok(())
    ///     }),
    /// );
    /// # assert_eq!(router.len(), 1);
    /// ```
    pub fn response_headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.response_headers
    }

    /// A value attached with [`set`](Self::set).
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<&T> {
        self.values.get::<T>()
    }
}
