//! A WebTransport CONNECT through the router (feature `webtransport`): the
//! route, its [`Context`] and its middleware, as for the other routes. The
//! QUIC side ([`crate::webtransport`]) calls it for each session request.

use core::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Method, StatusCode, Uri};

use super::Service;
use super::context::{Context, RouteInfo};
use super::middleware::Chain;
use super::router::Endpoint;
use crate::hub::SlowConsumer;
use crate::protocol::Protocol;
use crate::signal::Signal;
use crate::webtransport::{BroadcastMode, ConnectRequest, WebTransportHandler};
use tidings_core::route::Query;

/// A session request that passed routing and middleware.
pub(crate) struct Admitted {
    pub(crate) handler: Arc<dyn WebTransportHandler>,
    pub(crate) ctx: Context,
    /// The middleware that ran, if any: their `after` hooks run when it is
    /// dropped, with the session's end.
    pub(crate) chain: Option<Box<Chain>>,
    /// The route's pattern (shared by its sessions).
    pub(crate) route: Arc<str>,
    pub(crate) policy: SlowConsumer,
    pub(crate) mode: BroadcastMode,
}

impl Service {
    /// The shutdown signal (the QUIC accept loop stops on it).
    pub(crate) fn shutdown_signal(&self) -> &Signal {
        &self.shutdown
    }

    /// Routes a WebTransport session request: its route, context and
    /// middleware. `Err(status)` answers the CONNECT (counted in the
    /// statistics' rejected handshakes): 404 without a WebTransport route
    /// for the path, 503 during shutdown, or a middleware's rejection.
    pub(crate) fn route_webtransport(
        &self,
        request: &ConnectRequest,
        (remote_addr, local_addr): (Option<SocketAddr>, Option<SocketAddr>),
        clock: Arc<dyn Fn() -> Instant + Send + Sync>,
    ) -> Result<Admitted, StatusCode> {
        let result = self.route_request(request, (remote_addr, local_addr), clock);
        if let Err(status) = result {
            self.hub.counters().rejected(status);
        }
        result
    }

    fn route_request(
        &self,
        request: &ConnectRequest,
        (remote_addr, local_addr): (Option<SocketAddr>, Option<SocketAddr>),
        clock: Arc<dyn Fn() -> Instant + Send + Sync>,
    ) -> Result<Admitted, StatusCode> {
        let uri: Uri = request.path.parse().map_err(|_| StatusCode::BAD_REQUEST)?;
        let (route, params) = self.router.find(uri.path()).ok_or(StatusCode::NOT_FOUND)?;
        let Endpoint::WebTransport(handler) = &route.endpoint else {
            return Err(StatusCode::NOT_FOUND);
        };
        if self.shutdown.is_set() {
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
            route: RouteInfo {
                pattern: route.pattern.as_str().to_owned(),
                name: route.options.name.clone(),
                summary: route.options.summary.clone(),
                tags: route.options.tags.clone(),
            },
            values: http::Extensions::new(),
            hub: self.hub.clone(),
            now: clock(),
        };
        let chain = Chain::start(&route.chain, &mut ctx, Protocol::WebTransport, clock)
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
}
