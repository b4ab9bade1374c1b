//! Connection information (the Forge "Connection Information" example):
//! the handler writes `{connectionId, remoteAddr, localAddr}` as JSON and
//! returns, which closes the connection normally (1000).
//!
//! An address the transport does not know is `null`. The example's
//! `main.rs` serves [`router`] at `/ws/info`; the tests include this file
//! with `#[path]`.

use std::net::SocketAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tidings_tokio::{Connection, Context, Error, RouteOptions, Router};

/// What the handler writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConnectionInfo {
    /// The connection's id, `ws_` and a number unique within the server.
    pub(crate) connection_id: String,
    /// The client's address as the server sees it, e.g. `127.0.0.1:54321`.
    pub(crate) remote_addr: Option<SocketAddr>,
    /// The server's address the client connected to, e.g. `127.0.0.1:8083`.
    pub(crate) local_addr: Option<SocketAddr>,
}

/// The info router: one WebSocket route, `/ws/info`.
pub(crate) fn router() -> Router {
    Router::new().websocket_with(
        "/ws/info",
        info,
        RouteOptions::new()
            .summary("Connection information")
            .tags(["debug"])
            .messages::<(), ConnectionInfo>(),
    )
}

async fn info(_ctx: Context, conn: Connection) -> Result<(), Error> {
    let info = ConnectionInfo {
        connection_id: conn.id().to_owned(),
        remote_addr: conn.remote_addr(),
        local_addr: conn.local_addr(),
    };
    conn.write_json(&info).await
}
