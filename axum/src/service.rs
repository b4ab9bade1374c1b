//! [`RouterService`]: a whole tidings router as a `tower::Service` and a
//! hyper `Service`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Request;
use hyper::upgrade::OnUpgrade;
use tidings_framework::server::embed::Addrs;

use crate::driver::Routed;
use crate::websocket::cannot_upgrade;
use crate::{ResponseBody, SseResponse, Tidings, addrs_of};

/// A [`Tidings`]' router as a service: its GET, WebSocket and SSE routes,
/// with their middleware, answered inside an axum app or any hyper 1
/// server, sharing the hub with the [`WsUpgrade`](crate::WsUpgrade) and
/// [`SseRequest`](crate::SseRequest) handlers of the same [`Tidings`].
/// Made by [`Tidings::service`].
///
/// It is a `tower::Service` (mount it with axum's `route_service`,
/// `nest_service` or `fallback_service`; wrap it in tower layers such as
/// tower-http's `TraceLayer` and `CorsLayer`) and a
/// `hyper::service::Service` (hand it to
/// `http1::Builder::serve_connection(…).with_upgrades()`). Paths no route
/// matches get 404; request bodies are not read.
///
/// ```
/// use axum::routing::get;
/// use tidings_axum::{ServerConfig, Tidings, TidingsRouter};
/// use tidings_tokio::echo;
///
/// let tidings = Tidings::new(
///     TidingsRouter::new().websocket("/ws/echo", echo),
///     ServerConfig::default(),
///     tidings_tokio::Tokio,
/// );
/// let app: axum::Router = axum::Router::new()
///     .route("/health", get(|| async { "ok" }))
///     .fallback_service(tidings.service());
/// ```
///
/// On hyper alone, per accepted connection (with the client's address for
/// tidings' middleware):
///
/// ```no_run
/// # async fn demo(tidings: tidings_axum::Tidings) -> std::io::Result<()> {
/// use hyper::server::conn::http1;
/// use hyper_util::rt::TokioIo;
/// use tidings_axum::Addrs;
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// loop {
///     let (socket, remote) = listener.accept().await?;
///     let service = tidings.service().with_addrs(Addrs::new(Some(remote), socket.local_addr().ok()));
///     tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(socket), service).with_upgrades());
/// }
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RouterService {
    tidings: Tidings,
    addrs: Option<Addrs>,
}

impl RouterService {
    pub(crate) fn new(tidings: Tidings) -> Self {
        RouterService {
            tidings,
            addrs: None,
        }
    }

    /// The same service, telling tidings the addresses of the connection
    /// it serves (for hyper servers, which do not put them in the
    /// request). Without it they are read from the request's extensions:
    /// an [`Addrs`], or axum's `ConnectInfo<SocketAddr>`.
    #[must_use]
    pub fn with_addrs(mut self, addrs: Addrs) -> Self {
        self.addrs = Some(addrs);
        self
    }

    fn respond<B>(&self, request: Request<B>) -> ResponseFuture {
        let (mut parts, body) = request.into_parts();
        drop(body);
        let upgrade = parts.extensions.remove::<OnUpgrade>();
        let addrs = self.addrs.unwrap_or_else(|| addrs_of(&parts.extensions));
        let head = Request::from_parts(parts, ());
        let tidings = self.tidings.clone();
        ResponseFuture(Box::pin(async move {
            let response = match tidings.driver.handle(&head, addrs).await {
                Routed::Response(response) => response.map(ResponseBody::from),
                Routed::WebSocket(start) => match upgrade {
                    Some(upgrade) => {
                        let response = start.response().map(|()| ResponseBody::default());
                        start.start(upgrade, None);
                        response
                    }
                    None => cannot_upgrade().into_http(),
                },
                Routed::Sse(start) => {
                    let head = start.response();
                    SseResponse::new(head, start.start(None)).into_http()
                }
            };
            Ok(response)
        }))
    }
}

/// The future of a [`RouterService`] call.
pub struct ResponseFuture(
    Pin<Box<dyn Future<Output = Result<http::Response<ResponseBody>, Infallible>> + Send>>,
);

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl Future for ResponseFuture {
    type Output = Result<http::Response<ResponseBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl<B> tower_service::Service<Request<B>> for RouterService {
    type Response = http::Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture {
        self.respond(request)
    }
}

impl<B> hyper::service::Service<Request<B>> for RouterService {
    type Response = http::Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, request: Request<B>) -> ResponseFuture {
        self.respond(request)
    }
}
