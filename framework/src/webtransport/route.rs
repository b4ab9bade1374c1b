//! WebTransport in the server's terms: [`Router::webtransport`] (routes),
//! [`Server::with_webtransport`] (serving them beside TCP), and a CONNECT
//! through the router (its route, [`Context`] and middleware, as for the
//! other routes), which the connection drivers call for each session
//! request.
//!
//! These live here, above the server, so that the server never names this
//! module: a WebTransport route's handler is kept by the router as an
//! opaque value, downcast here.

use core::net::SocketAddr;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use http::{HeaderValue, Method, StatusCode, Uri};

use super::{Config, ConnectRequest, Listener, QuicRuntime, WebTransportHandler};
use crate::hub::{BroadcastMode, SlowConsumer};
use crate::protocol::Protocol;
use crate::runtime::{Net, Runtime};
use crate::server::middleware::Chain;
use crate::server::{Beside, Context, Endpoint, RouteOptions, Router, Server, Service};
use tidings_core::route::Query;

/// A WebTransport route's handler, as the router keeps it.
struct Erased(Arc<dyn WebTransportHandler>);

impl Router {
    /// Adds a WebTransport route (feature `webtransport`): an HTTP/3
    /// extended CONNECT whose path matches `pattern` opens a session
    /// served by `handler`, with the same [`Context`] (path parameters,
    /// query, headers, values set by middleware) as the other routes.
    /// Served by a [`Server`] that also listens on QUIC
    /// ([`Server::with_webtransport`]), or by a standalone
    /// [`WebTransportServer`](super::WebTransportServer);
    /// an HTTP/1.1 or HTTP/2 request for it gets 400. Panics like
    /// [`websocket`](Router::websocket).
    ///
    /// The router's layers, the route's authentication and middleware run
    /// before the session is accepted: a rejection answers the CONNECT
    /// with its status (e.g. 401, 403, 429) and no session starts.
    #[must_use]
    pub fn webtransport(self, pattern: &str, handler: impl WebTransportHandler) -> Self {
        self.webtransport_with(pattern, handler, RouteOptions::default())
    }

    /// Adds a WebTransport route with options (middleware, authentication,
    /// [`broadcast_mode`](crate::server::RouteOptions::broadcast_mode), slow-consumer
    /// policy). Panics like [`websocket`](Router::websocket).
    #[must_use]
    pub fn webtransport_with(
        self,
        pattern: &str,
        handler: impl WebTransportHandler,
        options: RouteOptions,
    ) -> Self {
        let handler: Arc<dyn WebTransportHandler> = Arc::new(handler);
        self.add(
            pattern,
            Endpoint::WebTransport(Arc::new(Erased(handler))),
            options,
        )
    }
}

impl<N: Net + Default + QuicRuntime> Server<N> {
    /// Also serves the router's WebTransport routes
    /// ([`Router::webtransport`]) over HTTP/3 on UDP `addr`, with `tls` (see
    /// [`server_config`](super::server_config))
    /// and `config`; the sessions share the server's hub, middleware and
    /// shutdown with its WebSocket and SSE connections. Call it inside the
    /// runtime (the UDP socket is registered with its reactor). The QUIC
    /// endpoint closes every connection (H3_NO_ERROR) when shutdown
    /// begins.
    ///
    /// ```no_run
    /// # async fn demo<N>(
    /// #     tls: tidings_framework::tls::rustls::ServerConfig,
    /// # ) -> std::io::Result<()>
    /// # where N: tidings_framework::runtime::Net + Default + tidings_framework::webtransport::QuicRuntime {
    /// use tidings_framework::server::{Context, Router, Server, echo};
    /// use tidings_framework::webtransport::{self, Config, Error, Session};
    ///
    /// async fn chat(ctx: Context, session: Session) -> Result<(), Error> {
    ///     session.join(ctx.param("room").unwrap_or("lobby"));
    ///     session.closed().await;
    ///     Ok(())
    /// }
    ///
    /// let router = Router::new().websocket("/ws", echo).webtransport("/wt/:room", chat);
    /// let server = Server::<N>::bind("127.0.0.1:8080", router)
    ///     .await?
    ///     .with_webtransport("127.0.0.1:4433".parse().unwrap(), tls, Config::default())?;
    /// println!("WebTransport on {:?}", server.webtransport_addr());
    /// server.run().await;
    /// # Ok(()) }
    /// ```
    pub fn with_webtransport(
        mut self,
        addr: SocketAddr,
        tls: rustls::ServerConfig,
        config: Config,
    ) -> io::Result<Self> {
        let listener = Listener::bind(addr, tls, config, self.rt.quinn_runtime())?;
        self.beside = Some(Beside {
            addr: listener.local_addr()?,
            run: Box::new(move |service| Box::pin(listener.run(service))),
        });
        Ok(self)
    }
}

impl<N: Net> Server<N> {
    /// The UDP address WebTransport is served on (with the actual port when
    /// bound to port 0), if the server [has it](Server::with_webtransport).
    pub fn webtransport_addr(&self) -> Option<SocketAddr> {
        self.beside.as_ref().map(|beside| beside.addr)
    }
}

/// A session request that passed routing and middleware.
pub(super) struct Admitted {
    pub(super) handler: Arc<dyn WebTransportHandler>,
    pub(super) ctx: Context,
    /// The middleware that ran, if any: their `after` hooks run when it is
    /// dropped, with the session's end.
    pub(super) chain: Option<Box<Chain>>,
    /// The route's pattern (shared by its sessions).
    pub(super) route: Arc<str>,
    pub(super) policy: SlowConsumer,
    pub(super) mode: BroadcastMode,
}

/// quinn's runtime as the framework's [`Runtime`](crate::runtime::Runtime)
/// (its timers, spawner and clock), for the middleware chain.
#[derive(Clone)]
pub(super) struct QuicRt(pub(super) Arc<dyn quinn::Runtime>);

/// A quinn timer as a future.
pub(super) struct Sleep(Pin<Box<dyn quinn::AsyncTimer>>);

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl Runtime for QuicRt {
    type Sleep = Sleep;

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep(self.0.new_timer(deadline))
    }

    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.0.spawn(Box::pin(task));
    }

    fn now(&self) -> Instant {
        self.0.now()
    }

    fn fill_random(&self, buf: &mut [u8]) {
        // The crypto provider's generator (the OS's): nothing secure to
        // fall back on if it fails.
        if crate::tls::provider().secure_random.fill(buf).is_err() {
            panic!("the crypto provider's random generator failed");
        }
    }
}

/// Routes a WebTransport session request: its route, context and
/// middleware (run to completion, bounded by the server's handshake
/// timeout, on the QUIC runtime: the caller runs this in a task of its
/// own, never in a connection's driver). `Err(status)` answers the CONNECT
/// (counted in the statistics' rejected handshakes): 404 without a
/// WebTransport route for the path, 503 during shutdown or when the
/// middleware did not finish in time, or a middleware's rejection.
pub(super) async fn route_request(
    service: &Service,
    request: &ConnectRequest,
    addrs: (Option<SocketAddr>, Option<SocketAddr>),
    rt: &QuicRt,
) -> Result<Admitted, StatusCode> {
    let result = admit(service, request, addrs, rt).await;
    if let Err(status) = result {
        service.hub().counters().rejected(status);
    }
    result
}

async fn admit(
    service: &Service,
    request: &ConnectRequest,
    (remote_addr, local_addr): (Option<SocketAddr>, Option<SocketAddr>),
    rt: &QuicRt,
) -> Result<Admitted, StatusCode> {
    let uri: Uri = request.path.parse().map_err(|_| StatusCode::BAD_REQUEST)?;
    let (route, params) = service
        .router()
        .find(uri.path())
        .ok_or(StatusCode::NOT_FOUND)?;
    let Endpoint::WebTransport(handler) = &route.endpoint else {
        return Err(StatusCode::NOT_FOUND);
    };
    let Some(Erased(handler)) = handler.downcast_ref::<Erased>() else {
        return Err(StatusCode::NOT_FOUND);
    };
    if service.shutdown_signal().is_set() {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    let mut headers = request.headers.clone();
    if let (false, Ok(host)) = (
        headers.contains_key(http::header::HOST),
        HeaderValue::from_str(&request.authority),
    ) {
        headers.insert(http::header::HOST, host);
    }
    let query = Query::parse(uri.query().unwrap_or(""));
    let mut ctx = Context {
        method: Method::CONNECT,
        uri,
        headers,
        params,
        query,
        remote_addr,
        local_addr,
        route: route.info(),
        values: http::Extensions::new(),
        response_headers: route.options.response_headers.clone(),
        hub: service.hub().clone(),
        now: rt.now(),
    };
    let deadline = rt.now() + service.handshake_timeout();
    let chain = Chain::start(
        &route.chain,
        &mut ctx,
        Protocol::WebTransport,
        (rt, deadline),
        service.clock(rt),
    )
    .await
    .map_err(|rejection| rejection.status())?;
    Ok(Admitted {
        handler: handler.clone(),
        ctx,
        chain: (!chain.is_empty()).then(|| Box::new(chain)),
        route: route.pattern.shared_str().clone(),
        policy: route.options.slow_consumer.clone(),
        mode: route.options.broadcast_mode,
    })
}
