//! The streaming manager: every WebSocket and SSE connection and
//! WebTransport session of a server, rooms, filtered broadcast and
//! statistics.
//!
//! The server registers each connection when it opens and removes it (and
//! takes it out of its rooms) when it ends. Reach the [`Hub`] from a
//! handler (`ctx.hub()`, `conn.hub()`, `sse_ctx.hub()`) or from the server
//! handle.
//!
//! - **Lookup**: [`Hub::get_connection`] gives a [`ConnectionHandle`] that
//!   can send to and close that connection, whatever its protocol.
//! - **Rooms**: [`Hub::join`], [`Hub::leave`], [`Hub::members`],
//!   [`Hub::rooms_of`] (and `conn.join("lobby")`, `sse_ctx.join("lobby")`).
//! - **Broadcast**: [`Hub::broadcast`] with a [`Filter`] (room, route,
//!   protocol, a predicate, sender exclusion). The payload is encoded once
//!   per protocol — one WebSocket frame, one SSE event — and the same
//!   refcounted bytes are queued for every recipient. It never waits.
//! - **permessage-deflate**: clients that negotiated it without server
//!   context takeover share one compressed frame (compressed once per
//!   window size); the others get the plain shared frame, or one
//!   compressed through their own connection: see [`BroadcastCompression`]
//!   ([`ServerConfig::broadcast_compression`](crate::server::ServerConfig::broadcast_compression)).
//! - **Slow consumers**: every outbox is bounded
//!   ([`ServerConfig::outbox_bytes`](crate::server::ServerConfig::outbox_bytes),
//!   [`outbox_messages`](crate::server::ServerConfig::outbox_messages); for
//!   SSE, [`SseConfig::buffer_size`](crate::server::SseConfig::buffer_size)
//!   messages). A broadcast or hub send that would go over the bound applies
//!   the route's [`SlowConsumer`] policy instead of queuing: the WebSocket
//!   connection's backlog is dropped and it is closed with 1013 (default) or
//!   1008 and a reason; an SSE client is disconnected. Either way it is
//!   counted in [`Stats::slow_clients_dropped`].
//! - **Statistics**: [`Hub::stats`].
//! - **Many nodes**: with a cluster [`Engine`]
//!   ([`ServerConfig::engine`](crate::server::ServerConfig::engine)),
//!   broadcasts reach every node's connections and [`Hub::send_to`] /
//!   [`Hub::close_connection`] / [`Hub::get_connection`] reach a connection
//!   on any node: see
//!   [`cluster`].
//!
//! The hub sits below the connections and the server: it reaches a
//! connection only through a trait of its own (`Recipient`: offer a
//! message, close, read its values), which a WebSocket connection's state
//! and an SSE stream implement in their own modules.

mod broadcast;
pub mod cluster;
mod compression;
mod recipient;
mod stats;

use core::net::SocketAddr;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;

pub use crate::protocol::Protocol;
pub use broadcast::{BroadcastMode, BroadcastReport, Delivery, Filter, Payload};
pub use compression::BroadcastCompression;
#[cfg(feature = "_tls")]
pub(crate) use stats::TlsFailure;
pub use stats::{
    ClusterCounts, ConnectionCounts, EngineStats, EngineStatus, Stats, TlsHandshakeFailures,
};

use broadcast::Encoded;
pub(crate) use broadcast::WsFrame;
use cluster::wire::{self, ClusterMessage};
use cluster::{Destination, Engine, Inbox};
use compression::CompressorPool;
pub(crate) use compression::WsEncoding;
pub(crate) use recipient::{OutboxLimits, Parcel, Recipient, Registered};
pub(crate) use stats::Counters;
use tidings_core::close::CloseCode;
use tidings_core::registry::{Keyed, Registry};
use tidings_core::ws;

/// What to do with a client whose outbox is full (set per route with
/// [`RouteOptions::slow_consumer`](crate::server::RouteOptions::slow_consumer)).
///
/// A WebSocket connection loses its queued backlog and is closed with the
/// policy's code and reason; an SSE client is disconnected (SSE has no close
/// code). The default is [`SlowConsumer::try_again_later`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlowConsumer {
    /// Shared: every connection of a route holds a clone of its policy
    /// (one pointer in each connection's hub entry).
    policy: Arc<Policy>,
}

#[derive(Debug, PartialEq, Eq)]
struct Policy {
    code: CloseCode,
    reason: Box<str>,
}

impl SlowConsumer {
    /// Close with 1013 (Try Again Later), reason `slow consumer`.
    pub fn try_again_later() -> Self {
        SlowConsumer {
            policy: Arc::new(Policy {
                code: CloseCode::TRY_AGAIN_LATER,
                reason: Box::from("slow consumer"),
            }),
        }
    }

    /// Close with 1008 (Policy Violation) and `reason` (cut to 123 bytes).
    pub fn policy_violation(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        SlowConsumer {
            policy: Arc::new(Policy {
                code: CloseCode::POLICY_VIOLATION,
                reason: Box::from(ws::fit_close_reason(&reason)),
            }),
        }
    }

    /// The close code sent to a WebSocket client.
    pub fn code(&self) -> CloseCode {
        self.policy.code
    }

    /// The close reason sent to a WebSocket client.
    pub fn reason(&self) -> &str {
        &self.policy.reason
    }
}

impl Default for SlowConsumer {
    fn default() -> Self {
        Self::try_again_later()
    }
}

/// The bounds of every outbox and the encoding of broadcast frames.
#[derive(Clone, Debug)]
pub(crate) struct HubConfig {
    /// Frame splitting for WebSocket broadcasts.
    pub(crate) websocket: ws::Config,
    /// The bounds of every outbox.
    pub(crate) outbox: OutboxLimits,
    /// permessage-deflate for broadcasts.
    pub(crate) broadcast_compression: BroadcastCompression,
    /// The other nodes, if any.
    pub(crate) engine: Option<Arc<dyn Engine>>,
}

/// What the hub knows about a connection.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The server-assigned id (`ws_1`, `sse_2`, …), shared with the
    /// connection's own state.
    pub id: Arc<str>,
    /// WebSocket, SSE or WebTransport.
    pub protocol: Protocol,
    /// The pattern of the route it came through, e.g. `/ws/chat/:room`
    /// (shared by every connection of the route).
    pub route: Arc<str>,
    /// The client's address.
    pub remote_addr: Option<SocketAddr>,
    /// When it opened (the runtime's clock).
    pub started_at: Instant,
}

/// What the hub keeps about each connection: its details, its route's
/// slow-consumer policy and how broadcasts are encoded for it. It lives in
/// the recipient's own allocation (a WebSocket connection's shared state
/// holds it; an SSE stream's or WebTransport session's is wrapped in a
/// [`WithListing`]), so a registered connection costs the registry one slot and
/// no block of its own.
#[derive(Debug)]
pub(crate) struct Listing {
    pub(crate) info: ConnectionInfo,
    policy: SlowConsumer,
    /// How a WebSocket connection is sent broadcasts (`Plain` for the others).
    encoding: WsEncoding,
}

impl Listing {
    pub(crate) fn new(info: ConnectionInfo, policy: SlowConsumer, encoding: WsEncoding) -> Self {
        Listing {
            info,
            policy,
            encoding,
        }
    }
}

/// A recipient whose state does not hold its [`Listing`], with it: one
/// block per SSE stream or WebTransport session besides its own state.
pub(crate) struct WithListing {
    listing: Listing,
    recipient: Arc<dyn Recipient>,
}

impl Registered for WithListing {
    fn listing(&self) -> &Listing {
        &self.listing
    }
}

impl Recipient for WithListing {
    fn offer(&self, parcel: Parcel<'_>, limits: &OutboxLimits, policy: &SlowConsumer) -> Delivery {
        self.recipient.offer(parcel, limits, policy)
    }

    fn close(&self, code: CloseCode, reason: &str) {
        self.recipient.close(code, reason);
    }

    fn values(&self, f: &mut dyn FnMut(&http::Extensions)) {
        self.recipient.values(f);
    }
}

/// A registered connection as the registry holds it: keyed by the id in
/// its own listing, so a registry slot is this one pointer.
#[derive(Clone)]
struct Entry(Arc<dyn Registered>);

impl Keyed for Entry {
    fn key(&self) -> &str {
        &self.0.listing().info.id
    }
}

impl std::ops::Deref for Entry {
    type Target = dyn Registered;

    fn deref(&self) -> &(dyn Registered + 'static) {
        &*self.0
    }
}

/// The registry of a server's connections, rooms, broadcast and statistics.
/// Shared (`Arc`) by the server and every connection.
pub struct Hub {
    registry: Mutex<Registry<Entry, RandomState>>,
    counters: Arc<Counters>,
    config: HubConfig,
    /// The compressors of messages compressed once for many connections.
    compressors: CompressorPool,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("connections", &self.len())
            .finish_non_exhaustive()
    }
}

impl Hub {
    pub(crate) fn new(config: HubConfig) -> Arc<Self> {
        let level = config.websocket.deflate.as_ref().map_or(1, |d| d.level);
        let hub = Arc::new(Hub {
            registry: Mutex::new(Registry::default()),
            counters: Arc::new(Counters::default()),
            compressors: CompressorPool::new(level),
            config,
        });
        if let Some(engine) = &hub.config.engine {
            engine.attach(Inbox::new(&hub, engine.node()));
        }
        hub
    }

    /// This node's name, when the hub has a cluster engine (connection ids
    /// are then `{node}.ws_1`).
    pub fn node(&self) -> Option<&str> {
        self.config.engine.as_deref().map(Engine::node)
    }

    /// Publishes `message` through the engine, if any.
    fn publish(&self, to: Destination<'_>, message: &ClusterMessage) -> bool {
        let Some(engine) = &self.config.engine else {
            return false;
        };
        engine.publish(to, wire::encode(engine.node(), message));
        true
    }

    /// The node another node's connection `id` lives on, if it is one.
    fn remote_node<'a>(&self, id: &'a str) -> Option<&'a str> {
        let node = cluster::node_of(id)?;
        (self.node()? != node).then_some(node)
    }

    fn lock(&self) -> MutexGuard<'_, Registry<Entry, RandomState>> {
        // Every registry operation leaves it consistent between statements.
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Registers a connection whose state does not hold its [`Listing`]
    /// (an SSE stream, a WebTransport session) until the returned guard is
    /// dropped.
    pub(crate) fn register(
        self: &Arc<Self>,
        info: ConnectionInfo,
        recipient: Arc<dyn Recipient>,
        policy: SlowConsumer,
    ) -> Registration {
        let listing = Listing::new(info, policy, WsEncoding::Plain);
        self.register_listed(Arc::new(WithListing { listing, recipient }))
    }

    /// Registers `recipient`, which holds its own [`Listing`], until the
    /// returned guard is dropped.
    fn register_listed<R: Registered + 'static>(
        self: &Arc<Self>,
        recipient: Arc<R>,
    ) -> Registration<R> {
        self.insert_listed(recipient.clone());
        Registration {
            hub: self.clone(),
            recipient,
        }
    }

    /// Registers `recipient` for its owner to [`remove_listed`](Self::remove_listed)
    /// (a [`Registration`] that holds the hub another way).
    pub(crate) fn insert_listed<R: Registered + 'static>(&self, recipient: Arc<R>) {
        let info = &recipient.listing().info;
        self.counters.opened(info.protocol, &info.route);
        // Keyed by the id in the recipient's own listing: no copy of it.
        self.lock().insert(Entry(recipient));
    }

    /// Removes `recipient` (registered with [`insert_listed`](Self::insert_listed))
    /// from the hub and its rooms.
    pub(crate) fn remove_listed<R: Registered + ?Sized>(&self, recipient: &R) {
        let id = &recipient.listing().info.id;
        if let Some(engine) = &self.config.engine {
            let rooms = self.lock().rooms_of(id);
            for room in rooms {
                engine.left(&room, id);
            }
        }
        let removed = self.lock().remove(id);
        if let Some(entry) = removed {
            let info = &entry.listing().info;
            self.counters.closed(info.protocol, &info.route);
        }
    }

    /// How broadcasts are encoded for a WebSocket connection with protocol
    /// state `ws` (asked once, before it registers).
    pub(crate) fn ws_encoding(&self, ws: &ws::Connection) -> WsEncoding {
        WsEncoding::of(ws, self.config.broadcast_compression)
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every open connection, sorted by id.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let mut all: Vec<_> = self
            .lock()
            .values()
            .map(|(_, entry)| entry.listing().info.clone())
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// A handle to connection `id`: one open on this node, or (with a
    /// cluster engine) one on another node.
    ///
    /// On this node the connection must be open now. An id of another node
    /// (`{node}.ws_N` or `{node}.sse_N`, the node not this one) gives a
    /// [remote](ConnectionHandle::is_remote) handle without asking that
    /// node, which no synchronous call could: sends and closes through it go
    /// through the engine, like [`send_to`](Self::send_to) and
    /// [`close_connection`](Self::close_connection), and one for a
    /// connection that is not (or no longer) open there is dropped by that
    /// node (at most once, like every cross-node message; see [`cluster`]).
    /// Use [`cluster_members`](Self::cluster_members) to learn which
    /// connections are in a room across nodes.
    pub fn get_connection(self: &Arc<Self>, id: &str) -> Option<ConnectionHandle> {
        if let Some(node) = self.remote_node(id) {
            let protocol = remote_protocol(id, node)?;
            return Some(ConnectionHandle {
                hub: self.clone(),
                target: Target::Remote {
                    id: Arc::from(id),
                    protocol,
                },
            });
        }
        self.local_connection(id)
    }

    /// The connection open on this node with this id.
    fn local_connection(self: &Arc<Self>, id: &str) -> Option<ConnectionHandle> {
        let entry = self.lock().get(id).cloned()?;
        Some(ConnectionHandle {
            hub: self.clone(),
            target: Target::Local(entry),
        })
    }

    /// Puts connection `id` in `room`. Returns `false` if it is unknown or
    /// already there.
    pub fn join(&self, id: &str, room: &str) -> bool {
        let joined = self.lock().join(id, room);
        if joined && let Some(engine) = &self.config.engine {
            engine.joined(room, id);
        }
        joined
    }

    /// Takes connection `id` out of `room`. Returns `false` if it was not there.
    pub fn leave(&self, id: &str, room: &str) -> bool {
        let left = self.lock().leave(id, room);
        if left && let Some(engine) = &self.config.engine {
            engine.left(room, id);
        }
        left
    }

    /// The ids of `room`'s members on every node, sorted, when the cluster
    /// engine keeps presence (see [`cluster`]); else this node's
    /// ([`members`](Self::members)).
    pub async fn cluster_members(&self, room: &str) -> Vec<String> {
        let query = self.config.engine.as_ref().and_then(|e| e.members(room));
        match query {
            Some(query) => query.await,
            None => self.members(room),
        }
    }

    /// The engine's [`flush`](Engine::flush), if it queues.
    pub(crate) fn flush_engine(&self) -> Option<crate::user_code::BoxFuture<()>> {
        self.config
            .engine
            .as_ref()
            .and_then(|engine| engine.flush())
    }

    /// The ids of `room`'s members, sorted.
    pub fn members(&self, room: &str) -> Vec<String> {
        let mut ids: Vec<_> = self
            .lock()
            .members(room)
            .map(|(id, _)| id.to_owned())
            .collect();
        ids.sort();
        ids
    }

    /// The rooms connection `id` is in, sorted.
    pub fn rooms_of(&self, id: &str) -> Vec<String> {
        self.lock().rooms_of(id)
    }

    /// Every room with members, and how many, sorted by name.
    pub fn rooms(&self) -> Vec<(String, usize)> {
        self.lock().rooms()
    }

    /// Sends `payload` to every connection `filter` admits, without waiting:
    /// encoded once per protocol, the bytes shared by all recipients. A
    /// recipient whose outbox is full is dropped by its route's
    /// [`SlowConsumer`] policy.
    ///
    /// With a cluster engine, this node's connections get it first, then it
    /// is published to the other nodes (unless the filter has a predicate or
    /// is [`local`](Filter::local)); the report counts this node's
    /// recipients.
    pub fn broadcast(self: &Arc<Self>, payload: Payload, filter: Filter) -> BroadcastReport {
        let report = self.broadcast_local(&payload, &filter);
        if self.config.engine.is_some() && filter.crosses_nodes() {
            self.publish(
                Destination::All,
                &ClusterMessage::Broadcast { filter, payload },
            );
        }
        report
    }

    /// Sends `payload` to connection `id`, on this node or (with a cluster
    /// engine) another: [`Delivery::Forwarded`] then, whatever becomes of
    /// it there. [`Delivery::Closed`] when no such connection is open here.
    pub fn send_to(self: &Arc<Self>, id: &str, payload: &Payload) -> Delivery {
        if let Some(node) = self.remote_node(id) {
            let message = ClusterMessage::Send {
                id: id.to_owned(),
                payload: payload.clone(),
            };
            self.publish(Destination::Node(node), &message);
            return Delivery::Forwarded;
        }
        match self.local_connection(id) {
            Some(handle) => handle.send(payload),
            None => Delivery::Closed,
        }
    }

    /// Closes connection `id` with `code` and `reason` (see
    /// [`ConnectionHandle::close_with`]), on this node or another. Returns
    /// `false` when it is not open on this node nor on another node's.
    pub fn close_connection(&self, id: &str, code: CloseCode, reason: &str) -> bool {
        if let Some(node) = self.remote_node(id) {
            let message = ClusterMessage::Close {
                id: id.to_owned(),
                code,
                reason: reason.to_owned(),
            };
            return self.publish(Destination::Node(node), &message);
        }
        let entry = self.lock().get(id).cloned();
        entry.is_some_and(|entry| {
            entry.close(code, reason);
            true
        })
    }

    /// A message from another node, for this node's connections.
    pub(crate) fn apply_remote(self: &Arc<Self>, message: ClusterMessage) {
        match message {
            ClusterMessage::Broadcast { filter, payload } => {
                self.broadcast_local(&payload, &filter);
            }
            ClusterMessage::Send { id, payload } => {
                if let Some(handle) = self.local_connection(&id) {
                    handle.send(&payload);
                }
            }
            ClusterMessage::Close { id, code, reason } => {
                if let Some(handle) = self.local_connection(&id) {
                    handle.close_with(code, &reason);
                }
            }
        }
    }

    /// [`broadcast`](Self::broadcast) to this node's connections.
    fn broadcast_local(self: &Arc<Self>, payload: &Payload, filter: &Filter) -> BroadcastReport {
        let recipients: Vec<Entry> = {
            let registry = self.lock();
            let admitted = |(id, entry): (&str, &Entry)| {
                let info = &entry.listing().info;
                filter
                    .admits(id, &info.route, info.protocol)
                    .then(|| entry.clone())
            };
            match &filter.room {
                Some(room) => collect_sized(registry.members(room), admitted),
                None => collect_sized(registry.values(), admitted),
            }
        };
        let encoded = self.encode(payload);
        let mut report = BroadcastReport::default();
        for entry in recipients {
            let handle = ConnectionHandle {
                hub: self.clone(),
                target: Target::Local(entry),
            };
            if filter.predicate.as_ref().is_some_and(|p| !p(&handle)) {
                continue;
            }
            report.count(handle.offer(&encoded));
        }
        self.counters.broadcast(report.delivered);
        report
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> Stats {
        let mut stats = self.counters.snapshot();
        stats.engine = self.config.engine.as_ref().map(|engine| engine.stats());
        stats
    }

    fn encode<'a>(&'a self, payload: &'a Payload) -> Encoded<'a> {
        Encoded::new(payload, &self.config.websocket, &self.compressors)
    }
}

/// The admitted items of `items`, in a vector sized once for all of them:
/// a broadcast's one allocation for its recipients, however many there are
/// (`collect` after a filter would grow it, reallocating log2(n) times).
fn collect_sized<I: Iterator, T>(items: I, admitted: impl FnMut(I::Item) -> Option<T>) -> Vec<T> {
    let (low, high) = items.size_hint();
    let mut kept = Vec::with_capacity(high.unwrap_or(low));
    kept.extend(items.filter_map(admitted));
    kept
}

/// Removes its connection from the hub (and its rooms) when dropped.
pub(crate) struct Registration<R: Registered + ?Sized = WithListing> {
    hub: Arc<Hub>,
    /// The registered connection (its id is the key to remove).
    recipient: Arc<R>,
}

impl<R: Registered + ?Sized> Drop for Registration<R> {
    fn drop(&mut self) {
        self.hub.remove_listed(&*self.recipient);
    }
}

/// The protocol of connection `id` of `node`, when the rest of the id is
/// one a server gives (`ws_N`, `sse_N`, `wt_N`).
fn remote_protocol(id: &str, node: &str) -> Option<Protocol> {
    let local = id.strip_prefix(node)?.strip_prefix('.')?;
    let (prefix, n) = local.split_once('_')?;
    if !cluster::valid_node_name(node) || n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match prefix {
        "ws" => Some(Protocol::WebSocket),
        "sse" => Some(Protocol::Sse),
        "wt" => Some(Protocol::WebTransport),
        _ => None,
    }
}

/// A handle to one connection, from [`Hub::get_connection`] (or a
/// [`Filter::matching`] predicate): its details and values, sending, and
/// closing. Sends never wait: they queue or apply the slow-consumer policy.
///
/// A handle to a connection on another node ([`is_remote`](Self::is_remote))
/// knows its id, node and protocol; its sends and closes go through the
/// cluster engine ([`Delivery::Forwarded`]); what only the connection's own
/// process holds — [`info`](Self::info), [`get`](Self::get) — is `None`.
#[derive(Clone)]
pub struct ConnectionHandle {
    hub: Arc<Hub>,
    target: Target,
}

#[derive(Clone)]
enum Target {
    /// Open on this node.
    Local(Entry),
    /// On another node, named by the id.
    Remote { id: Arc<str>, protocol: Protocol },
}

impl fmt::Debug for ConnectionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Local(entry) => f
                .debug_tuple("ConnectionHandle")
                .field(&entry.listing().info)
                .finish(),
            Target::Remote { id, protocol } => f
                .debug_struct("ConnectionHandle")
                .field("id", id)
                .field("protocol", protocol)
                .field("remote", &true)
                .finish(),
        }
    }
}

impl ConnectionHandle {
    /// The connection's details; `None` for a connection on another node
    /// (its route, address and start live in that node's process).
    pub fn info(&self) -> Option<&ConnectionInfo> {
        match &self.target {
            Target::Local(entry) => Some(&entry.listing().info),
            Target::Remote { .. } => None,
        }
    }

    /// The connection's id.
    pub fn id(&self) -> &str {
        match &self.target {
            Target::Local(entry) => &entry.listing().info.id,
            Target::Remote { id, .. } => id,
        }
    }

    /// WebSocket, SSE or WebTransport.
    pub fn protocol(&self) -> Protocol {
        match &self.target {
            Target::Local(entry) => entry.listing().info.protocol,
            Target::Remote { protocol, .. } => *protocol,
        }
    }

    /// Whether the connection is on another node (see the type's
    /// documentation).
    pub fn is_remote(&self) -> bool {
        matches!(self.target, Target::Remote { .. })
    }

    /// The node the connection is on: the one its id names, `None` for a
    /// server without a cluster engine.
    pub fn node(&self) -> Option<&str> {
        cluster::node_of(self.id())
    }

    /// A clone of the connection's value of type `T` (set by middleware or
    /// with `conn.set`), if any. Always `None` for a connection on another
    /// node: values are not sent across nodes.
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        let Target::Local(entry) = &self.target else {
            return None;
        };
        let mut value = None;
        entry.values(&mut |values| value = values.get::<T>().cloned());
        value
    }

    /// Sends `payload` to this connection alone (see [`Payload`] for what
    /// each protocol receives), encoded for it; to a connection on another
    /// node, published to that node ([`Delivery::Forwarded`]), which
    /// encodes it.
    pub fn send(&self, payload: &Payload) -> Delivery {
        match &self.target {
            Target::Local(_) => self.offer(&self.hub.encode(payload)),
            Target::Remote { id, .. } => self.hub.send_to(id, payload),
        }
    }

    /// Sends a text message (an SSE `message` event).
    pub fn send_text(&self, text: impl Into<String>) -> Delivery {
        self.send(&Payload::text(text))
    }

    /// Closes the connection: a WebSocket with 1000 after what is queued, an
    /// SSE stream after its queued events.
    pub fn close(&self) {
        self.close_with(CloseCode::NORMAL, "");
    }

    /// Closes the connection with `code` and `reason` (WebSocket; an SSE
    /// stream just ends after its queued events; a WebTransport session is
    /// closed with `code` as its application error code, after the
    /// messages queued for it); on another node, through the engine.
    pub fn close_with(&self, code: CloseCode, reason: &str) {
        match &self.target {
            Target::Local(entry) => entry.close(code, reason),
            Target::Remote { id, .. } => {
                self.hub.close_connection(id, code, reason);
            }
        }
    }

    /// Queues the encoded payload, or applies the slow-consumer policy.
    fn offer(&self, encoded: &Encoded<'_>) -> Delivery {
        let Target::Local(entry) = &self.target else {
            return Delivery::Forwarded;
        };
        let listing = entry.listing();
        let parcel = match listing.info.protocol {
            Protocol::WebSocket => encoded.ws_for(listing.encoding).map(Parcel::WebSocket),
            Protocol::Sse => encoded.sse().map(Parcel::Sse),
            Protocol::WebTransport => Some(Parcel::WebTransport(encoded.wt())),
            Protocol::Http => None, // never registered
        };
        let Some(parcel) = parcel else {
            return Delivery::Skipped;
        };
        let delivery = entry.offer(parcel, &self.hub.config.outbox, &listing.policy);
        match delivery {
            Delivery::Queued => {
                let len = match listing.info.protocol {
                    Protocol::WebSocket => encoded.ws_len(),
                    Protocol::Sse => encoded.sse().map_or(0, Bytes::len),
                    Protocol::WebTransport => encoded.wt().len(),
                    Protocol::Http => 0,
                };
                self.hub.counters.sent(len);
            }
            Delivery::Dropped => self.hub.counters.slow_dropped(),
            Delivery::Closed | Delivery::Skipped | Delivery::Forwarded => {}
        }
        delivery
    }
}

#[cfg(test)]
mod tests {
    use super::{Entry, Listing};

    /// Every open connection holds its listing for its whole life (inside
    /// its own state) and one registry slot: the recipient seam must not
    /// make them heavier.
    #[test]
    fn a_hub_listing_stays_small() {
        let sizes = (size_of::<Listing>(), size_of::<Entry>());
        assert!(sizes.0 <= 104, "hub::Listing is {} bytes", sizes.0);
        assert!(sizes.1 <= 16, "a registry value is {} bytes", sizes.1);
    }
}
