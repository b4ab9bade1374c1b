//! The runtime, erased: [`Tidings`](crate::Tidings) and the types made from
//! it name no runtime, so axum handlers and services name none either.
//! Each call goes through a trait object once per request (never per
//! message): [`Driver`] for the embedded server, [`WsStart`] and
//! [`SseStart`] for an accepted stream.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::upgrade::OnUpgrade;
use tidings_framework::runtime::Runtime;
use tidings_framework::server::embed::{
    Addrs, Answer, Embedded, SseAccept, SseBody, WebSocketAccept,
};
use tidings_framework::server::{Context, Response, Router, RouterError, SseContext};
use tidings_framework::{Connection, Error, hub::Hub};

use crate::HyperIo;

/// A boxed future that may borrow.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A WebSocket handler given at the upgrade.
pub(crate) type WsHandler =
    Box<dyn FnOnce(Context, Connection) -> BoxFuture<'static, Result<(), Error>> + Send>;

/// An SSE handler given at the response.
pub(crate) type SseHandler =
    Box<dyn FnOnce(SseContext) -> BoxFuture<'static, Result<(), Error>> + Send>;

/// How the router answered, the runtime erased.
pub(crate) enum Routed {
    Response(Response),
    WebSocket(Box<dyn WsStart>),
    Sse(Box<dyn SseStart>),
}

/// [`Embedded`] on some runtime.
pub(crate) trait Driver: Send + Sync + 'static {
    fn hub(&self) -> &Arc<Hub>;
    fn handle<'a>(&'a self, request: &'a Request<()>, addrs: Addrs) -> BoxFuture<'a, Routed>;
    fn websocket<'a>(
        &'a self,
        request: &'a Request<()>,
        addrs: Addrs,
        route: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn WsStart>, Response>>;
    fn sse<'a>(
        &'a self,
        request: &'a Request<()>,
        addrs: Addrs,
        route: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn SseStart>, Response>>;
    fn begin_shutdown(&self);
    fn shutdown(&self, timeout: Duration) -> BoxFuture<'_, bool>;
    fn active_connections(&self) -> usize;
    fn active_sse_connections(&self) -> usize;
}

/// The embedded server of `router` on `rt`.
pub(crate) fn driver<R: Runtime>(
    router: Router,
    config: tidings_framework::server::ServerConfig,
    rt: R,
) -> Result<Arc<dyn Driver>, RouterError> {
    Ok(Arc::new(Embedded::new(router, config, rt)?))
}

impl<R: Runtime> Driver for Embedded<R> {
    fn hub(&self) -> &Arc<Hub> {
        Embedded::hub(self)
    }

    fn handle<'a>(&'a self, request: &'a Request<()>, addrs: Addrs) -> BoxFuture<'a, Routed> {
        Box::pin(async move {
            match Embedded::handle(self, request, addrs).await {
                Answer::Response(response) => Routed::Response(response),
                Answer::WebSocket(accept) => Routed::WebSocket(Box::new(accept)),
                Answer::Sse(accept) => Routed::Sse(Box::new(accept)),
            }
        })
    }

    fn websocket<'a>(
        &'a self,
        request: &'a Request<()>,
        addrs: Addrs,
        route: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn WsStart>, Response>> {
        Box::pin(async move {
            Embedded::websocket(self, request, addrs, route)
                .await
                .map(|accept| Box::new(accept) as Box<dyn WsStart>)
        })
    }

    fn sse<'a>(
        &'a self,
        request: &'a Request<()>,
        addrs: Addrs,
        route: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn SseStart>, Response>> {
        Box::pin(async move {
            Embedded::sse(self, request, addrs, route)
                .await
                .map(|accept| Box::new(accept) as Box<dyn SseStart>)
        })
    }

    fn begin_shutdown(&self) {
        Embedded::begin_shutdown(self);
    }

    fn shutdown(&self, timeout: Duration) -> BoxFuture<'_, bool> {
        Box::pin(Embedded::shutdown(self, timeout))
    }

    fn active_connections(&self) -> usize {
        Embedded::active_connections(self)
    }

    fn active_sse_connections(&self) -> usize {
        Embedded::active_sse_connections(self)
    }
}

/// A [`WebSocketAccept`] on some runtime.
pub(crate) trait WsStart: Send {
    fn response(&self) -> http::Response<()>;
    fn subprotocol(&self) -> Option<&str>;
    fn context(&self) -> &Context;
    /// Spawns the connection, to run once `upgrade` completes: `handler`,
    /// or the route's when `None`.
    fn start(self: Box<Self>, upgrade: OnUpgrade, handler: Option<WsHandler>);
}

impl<R: Runtime> WsStart for WebSocketAccept<R> {
    fn response(&self) -> http::Response<()> {
        WebSocketAccept::response(self)
    }

    fn subprotocol(&self) -> Option<&str> {
        WebSocketAccept::subprotocol(self)
    }

    fn context(&self) -> &Context {
        WebSocketAccept::context(self)
    }

    fn start(self: Box<Self>, upgrade: OnUpgrade, handler: Option<WsHandler>) {
        let accept = *self;
        let rt = accept.runtime().clone();
        let upgrading = Box::pin(async move {
            let io = match upgrade.await {
                Ok(upgraded) => HyperIo::new(upgraded),
                Err(error) => {
                    // The client left, or the server cannot switch
                    // protocols; the accept's drop ends the middleware.
                    tracing::debug!(%error, "WebSocket upgrade did not complete");
                    return None;
                }
            };
            Some(match handler {
                Some(handler) => accept.run_with(io, &[], handler),
                None => accept.run(io, &[]),
            })
        });
        rt.spawn(Connect::Upgrading(upgrading));
    }
}

/// The task of an upgraded connection: the upgrade (with the request's
/// context and middleware) in a box freed once the connection runs, then
/// the connection inline, so an idle connection's task holds only what the
/// connection needs (as the server's own task does).
enum Connect<F, T> {
    Upgrading(Pin<Box<F>>),
    Running(T),
}

impl<F, T> Future for Connect<F, T>
where
    F: Future<Output = Option<T>>,
    T: Future<Output = ()> + Unpin,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let this = self.get_mut();
        loop {
            match this {
                Connect::Upgrading(upgrading) => match upgrading.as_mut().poll(cx) {
                    std::task::Poll::Pending => return std::task::Poll::Pending,
                    std::task::Poll::Ready(None) => return std::task::Poll::Ready(()),
                    // Frees the upgrade phase's box.
                    std::task::Poll::Ready(Some(task)) => *this = Connect::Running(task),
                },
                Connect::Running(task) => return Pin::new(task).poll(cx),
            }
        }
    }
}

/// An [`SseAccept`] on some runtime.
pub(crate) trait SseStart: Send {
    fn response(&self) -> http::Response<()>;
    fn context(&self) -> &Context;
    fn last_event_id(&self) -> Option<&str>;
    /// Starts the stream: `handler`, or the route's when `None`.
    fn start(self: Box<Self>, handler: Option<SseHandler>) -> SseBody;
}

impl<R: Runtime> SseStart for SseAccept<R> {
    fn response(&self) -> http::Response<()> {
        SseAccept::response(self)
    }

    fn context(&self) -> &Context {
        SseAccept::context(self)
    }

    fn last_event_id(&self) -> Option<&str> {
        SseAccept::last_event_id(self)
    }

    fn start(self: Box<Self>, handler: Option<SseHandler>) -> SseBody {
        match handler {
            Some(handler) => self.run_with(handler),
            None => self.run(),
        }
    }
}
