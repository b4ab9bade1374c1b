//! [`WsUpgrade`]: a WebSocket upgrade into a tidings [`Connection`].

use std::future::Future;
use std::sync::Arc;

use http::{Request, StatusCode};
use hyper::upgrade::OnUpgrade;
use tidings_framework::hub::Hub;
use tidings_framework::server::Context;
use tidings_framework::{Connection, Error};

use crate::driver::WsStart;
use crate::{Refusal, ResponseBody, Tidings, addrs_of, restore_head, take_head};

/// A WebSocket upgrade request that tidings accepted, to be answered with
/// [`on_upgrade`](Self::on_upgrade): the connection it opens is a tidings
/// [`Connection`] with all of tidings' behaviour — in the
/// [`Tidings`]' hub (rooms, broadcast, statistics, lookup by id),
/// permessage-deflate, ping and idle timers, message and buffer limits, the
/// router's middleware layers and their values, graceful shutdown.
///
/// With the `axum` feature it is an extractor: the app's state must give a
/// [`Tidings`] (`Tidings: FromRef<S>`). It refuses ([`Refusal`]) what is
/// not a valid upgrade (426, 400, 403, 405), beyond
/// [`ServerConfig::max_connections`](crate::ServerConfig::max_connections)
/// or during shutdown (503), and what a middleware layer rejects.
///
/// ```
/// use axum::extract::Path;
/// use axum::response::IntoResponse;
/// use axum::routing::get;
/// use tidings_axum::hub::{Filter, Payload};
/// use tidings_axum::{Message, ServerConfig, Tidings, TidingsRouter, WsUpgrade};
///
/// /// Every text message goes to the room's other members.
/// async fn chat(Path(room): Path<String>, upgrade: WsUpgrade) -> impl IntoResponse {
///     let hub = upgrade.hub().clone();
///     upgrade.on_upgrade(move |conn| async move {
///         conn.join(&room);
///         loop {
///             if let Message::Text(text) = conn.read().await? {
///                 let others = Filter::room(room.as_str()).except(conn.id());
///                 hub.broadcast(Payload::text(text.as_str()), others);
///             }
///         }
///     })
/// }
///
/// let tidings = Tidings::new(TidingsRouter::new(), ServerConfig::default(), tidings_tokio::Tokio);
/// let app: axum::Router = axum::Router::new()
///     .route("/ws/chat/{room}", get(chat))
///     .with_state(tidings);
/// ```
///
/// Without axum (any hyper 1 server, `http1::Builder::serve_connection(…).with_upgrades()`),
/// make it with [`from_request`](Self::from_request).
pub struct WsUpgrade {
    start: Box<dyn WsStart>,
    upgrade: OnUpgrade,
    hub: Arc<Hub>,
}

impl std::fmt::Debug for WsUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsUpgrade")
            .field("path", &self.context().path())
            .field("subprotocol", &self.subprotocol())
            .finish()
    }
}

impl WsUpgrade {
    /// Accepts the upgrade `request` asks for, as the extractor does; for
    /// hyper servers without axum (the request must come from a hyper 1
    /// server whose connection allows upgrades, so that it carries
    /// [`OnUpgrade`]). The route the statistics show is the path. The
    /// client's address is taken from an [`Addrs`](crate::Addrs) extension
    /// if the request has one.
    ///
    /// ```
    /// use std::convert::Infallible;
    ///
    /// use hyper::body::Incoming;
    /// use tidings_axum::{ResponseBody, Tidings, WsUpgrade};
    ///
    /// async fn handle(
    ///     tidings: Tidings,
    ///     mut request: http::Request<Incoming>,
    /// ) -> Result<http::Response<ResponseBody>, Infallible> {
    ///     Ok(match WsUpgrade::from_request(&tidings, &mut request).await {
    ///         Ok(upgrade) => upgrade.on_upgrade(|conn| async move {
    ///             while let Ok(message) = conn.read().await {
    ///                 conn.write_message(&message).await?;
    ///             }
    ///             Ok(())
    ///         }),
    ///         Err(refusal) => refusal.into_http(),
    ///     })
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// The [`Refusal`] to answer with.
    pub async fn from_request<B>(
        tidings: &Tidings,
        request: &mut Request<B>,
    ) -> Result<WsUpgrade, Refusal> {
        let upgrade = request.extensions_mut().remove::<OnUpgrade>();
        let route = request.uri().path().to_owned();
        let head = take_head(request);
        let result = Self::accept(tidings, &head, upgrade, &route).await;
        restore_head(request, head);
        result
    }

    /// Accepts an upgrade of the request whose head is `head`.
    pub(crate) async fn accept(
        tidings: &Tidings,
        head: &Request<()>,
        upgrade: Option<OnUpgrade>,
        route: &str,
    ) -> Result<WsUpgrade, Refusal> {
        let addrs = addrs_of(head.extensions());
        let start = tidings
            .driver
            .websocket(head, addrs, route)
            .await
            .map_err(Refusal::new)?;
        // Checked after the handshake, so a plain request gets its 426.
        let Some(upgrade) = upgrade else {
            return Err(cannot_upgrade());
        };
        Ok(WsUpgrade {
            start,
            upgrade,
            hub: tidings.hub().clone(),
        })
    }

    /// The `101 Switching Protocols` response, and the connection's start
    /// once the server has switched: `handler` runs with the
    /// [`Connection`] in a task of its own, and when it returns the
    /// connection is closed with 1000, or 1011 with the error's text.
    pub fn on_upgrade<F, Fut>(self, handler: F) -> http::Response<ResponseBody>
    where
        F: FnOnce(Connection) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        let response = self.start.response().map(|()| ResponseBody::default());
        self.start.start(
            self.upgrade,
            Some(Box::new(move |_ctx: Context, conn| Box::pin(handler(conn)))),
        );
        response
    }

    /// The request's context as the middleware layers left it: headers,
    /// query, values (the request's extensions and what the layers set).
    pub fn context(&self) -> &Context {
        self.start.context()
    }

    /// The subprotocol negotiated from the client's offer and
    /// [`ServerConfig::subprotocols`](crate::ServerConfig::subprotocols).
    pub fn subprotocol(&self) -> Option<&str> {
        self.start.subprotocol()
    }

    /// The hub the connection will join.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }
}

/// The refusal of a valid upgrade request on a connection that cannot
/// switch protocols (no hyper `OnUpgrade`: HTTP/2, or not a hyper server).
pub(crate) fn cannot_upgrade() -> Refusal {
    let mut response = http::Response::new(bytes::Bytes::from_static(
        b"this connection cannot be upgraded to WebSocket",
    ));
    *response.status_mut() = StatusCode::UPGRADE_REQUIRED;
    response.headers_mut().insert(
        http::header::UPGRADE,
        http::HeaderValue::from_static("websocket"),
    );
    Refusal::new(response)
}
