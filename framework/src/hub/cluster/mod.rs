//! Many server processes, one hub: the [`Engine`] seam through which a hub
//! reaches the hubs of other nodes, and the in-process [`MemoryBus`].
//!
//! Without an engine (the default) a hub is what it always was: one
//! process, no extra work on any path (one `Option` test per broadcast).
//! With one ([`ServerConfig::engine`](crate::server::ServerConfig::engine)):
//!
//! - **Broadcast** ([`Hub::broadcast`](super::Hub::broadcast)) delivers to
//!   this node's matching connections first, then publishes the payload
//!   (unencoded) and the filter's room, route, protocol and exclusions to
//!   every node, which applies them to its own connections and encodes once
//!   for them. A node ignores its own echo. A filter with a predicate
//!   ([`Filter::matching`](super::Filter::matching)) or made
//!   [`local`](super::Filter::local) stays on this node: a closure cannot
//!   cross processes, and the other nodes could not honour it.
//! - **Ids**: connection ids carry the node's name, `{node}.ws_1`, so they
//!   are unique across nodes and say where a connection lives.
//! - **By id**: [`Hub::send_to`](super::Hub::send_to),
//!   [`Hub::close_connection`](super::Hub::close_connection) and the handle
//!   [`Hub::get_connection`](super::Hub::get_connection) gives reach a
//!   connection on any node. For an id of another node the handle is
//!   [remote](super::ConnectionHandle::is_remote): made from the id alone
//!   (node and protocol), without asking that node, its sends and closes go
//!   through the engine and are dropped there when no such connection is
//!   open; what only the connection's process holds (its values,
//!   [`info`](super::ConnectionHandle::info)) is `None`.
//! - **Presence**: [`Hub::cluster_members`](super::Hub::cluster_members)
//!   gives a room's members on every node, when the engine keeps presence
//!   (the Redis engine does, with a per-node expiry so that a dead node's
//!   members disappear); [`Hub::members`](super::Hub::members) stays this
//!   node's.
//! - **Delivery** across nodes is at most once, like Redis pub/sub,
//!   Socket.IO's and Phoenix's adapters: a message published while the
//!   engine is away may be lost, and is counted.
//!
//! An engine moves opaque bytes (the format is the hub's, versioned; see
//! the `wire` module): [`Engine::publish`] takes them without waiting, and
//! the engine hands what other nodes published to the [`Inbox`] it was given
//! by [`Engine::attach`].

mod memory;
pub(crate) mod wire;

use std::fmt;
use std::sync::{Arc, Weak};

use bytes::Bytes;

pub use memory::{MemoryBus, MemoryEngine};
pub use wire::WireError;

use super::Hub;
use super::stats::{ClusterCounts, EngineStats};
use crate::user_code::BoxFuture;

/// Where a cluster message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Destination<'a> {
    /// Every node (this one included: its echo is ignored by its inbox).
    All,
    /// The node with this name.
    Node(&'a str),
}

/// How a hub reaches the hubs of other nodes (see the [module](self)).
///
/// Implementations: [`MemoryEngine`] (several hubs in one process, with
/// fault injection for tests) and the Redis engine of the `tidings-redis`
/// crate.
pub trait Engine: fmt::Debug + Send + Sync + 'static {
    /// This node's name, unique in the cluster and a
    /// [valid node name](valid_node_name).
    fn node(&self) -> &str;

    /// Called once, by the hub the engine serves, when it is made: from now
    /// on the engine gives every message other nodes publish to `inbox`
    /// (from any thread; [`Inbox::deliver`] never waits).
    fn attach(&self, inbox: Inbox);

    /// Sends `message` to `to` without waiting: sent now, queued (bounded),
    /// or dropped and counted when the engine cannot take it.
    fn publish(&self, to: Destination<'_>, message: Bytes);

    /// The engine's state and counters, shown in
    /// [`Stats::engine`](super::Stats::engine).
    fn stats(&self) -> EngineStats;

    /// Connection `id` of this node joined `room` (for presence across
    /// nodes). Never waits. The default keeps no presence.
    fn joined(&self, room: &str, id: &str) {
        let _ = (room, id);
    }

    /// Connection `id` of this node left `room` (or closed). Never waits.
    fn left(&self, room: &str, id: &str) {
        let _ = (room, id);
    }

    /// Sends what this node queued for the other nodes (messages, presence
    /// updates): resolves when nothing is left, or `None` when the engine
    /// queues nothing. It may wait as long as the engine cannot send: the
    /// caller bounds it. A server's drain
    /// ([`ServerHandle::shutdown`](crate::server::ServerHandle::shutdown))
    /// flushes once its connections are done, so that their leaves reach
    /// the other nodes before the process exits (instead of expiring with
    /// the presence TTL).
    fn flush(&self) -> Option<BoxFuture<()>> {
        None
    }

    /// The ids of `room`'s members on every live node, sorted, or `None`
    /// when the engine keeps no presence (the hub then answers with this
    /// node's members).
    fn members(&self, room: &str) -> Option<BoxFuture<Vec<String>>> {
        let _ = room;
        None
    }
}

/// Whether `name` can name a node: 1 to 64 ASCII letters, digits, `-` or
/// `_` (it is the prefix of connection ids, `{node}.ws_1`, and part of
/// engine channel names).
pub fn valid_node_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The node a connection id names: `a` for `a.ws_1`, `None` for an id
/// without a node (`ws_1`, a server without an engine).
pub(crate) fn node_of(id: &str) -> Option<&str> {
    id.split_once('.').map(|(node, _)| node)
}

/// Where an engine hands the messages other nodes published: the hub it was
/// attached to (held weakly, so an engine does not keep a hub alive).
#[derive(Clone, Debug)]
pub struct Inbox {
    hub: Weak<Hub>,
    node: Arc<str>,
}

/// What became of a message given to an [`Inbox`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Arrival {
    /// Applied to this node's connections.
    Applied,
    /// This node's own message, echoed back: ignored.
    OwnEcho,
    /// The hub is gone (its server was dropped).
    HubGone,
}

impl Inbox {
    pub(crate) fn new(hub: &Arc<Hub>, node: &str) -> Self {
        Inbox {
            hub: Arc::downgrade(hub),
            node: Arc::from(node),
        }
    }

    /// This node's open WebSocket connections and SSE streams (`nodes` 1),
    /// for an engine that adds them up across nodes; `None` when the hub is
    /// gone.
    pub fn open_connections(&self) -> Option<ClusterCounts> {
        let hub = self.hub.upgrade()?;
        let stats = hub.counters().snapshot();
        Some(ClusterCounts::new(
            1,
            stats.websocket.active,
            stats.sse.active,
        ))
    }

    /// Applies a message another node published (a broadcast to this
    /// node's matching connections, a send or close by id) without waiting.
    ///
    /// # Errors
    /// When `message` is not a cluster message this node understands.
    pub fn deliver(&self, message: &[u8]) -> Result<Arrival, WireError> {
        let (origin, message) = wire::decode(message)?;
        if origin == &*self.node {
            return Ok(Arrival::OwnEcho);
        }
        let Some(hub) = self.hub.upgrade() else {
            return Ok(Arrival::HubGone);
        };
        hub.apply_remote(message);
        Ok(Arrival::Applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_and_ids() {
        assert!(valid_node_name("node-1_a"));
        assert!(!valid_node_name(""));
        assert!(!valid_node_name("a.b"));
        assert!(!valid_node_name("a:b"));
        assert!(!valid_node_name(&"x".repeat(65)));
        assert_eq!(node_of("a.ws_1"), Some("a"));
        assert_eq!(node_of("ws_1"), None);
    }
}
