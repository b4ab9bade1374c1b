//! The streaming manager: every WebSocket and SSE connection of a server,
//! rooms, filtered broadcast and statistics (the seed's `StreamingManager`).
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
//! - **Statistics**: [`Hub::stats`] (the seed's `GetStats()`).

mod broadcast;
mod compression;
mod registry;
mod stats;

use core::net::SocketAddr;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;

pub use broadcast::{BroadcastReport, Delivery, Filter, Payload};
pub use compression::BroadcastCompression;
pub use stats::{ConnectionCounts, Stats};

use crate::connection::Shared;
use crate::server::{SseEnd, SseOutbox};
use broadcast::{Encoded, WsFrame};
use compression::{CompressorPool, WsEncoding};
pub(crate) use registry::Registry;
pub(crate) use stats::Counters;
use tidings_core::close::CloseCode;
use tidings_core::frame::MAX_HEADER_LEN;
use tidings_core::ws;

/// The protocol of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum Protocol {
    /// A WebSocket connection.
    WebSocket,
    /// A Server-Sent Events stream.
    Sse,
}

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
    /// Bytes queued per WebSocket or SSE client.
    pub(crate) outbox_bytes: usize,
    /// Shared messages queued per WebSocket client.
    pub(crate) outbox_messages: usize,
    /// permessage-deflate for broadcasts.
    pub(crate) broadcast_compression: BroadcastCompression,
}

/// What the hub knows about a connection.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The server-assigned id (`ws_1`, `sse_2`, …), shared with the
    /// connection's own state.
    pub id: Arc<str>,
    /// WebSocket or SSE.
    pub protocol: Protocol,
    /// The pattern of the route it came through, e.g. `/ws/chat/:room`
    /// (shared by every connection of the route).
    pub route: Arc<str>,
    /// The client's address.
    pub remote_addr: Option<SocketAddr>,
    /// When it opened (the runtime's clock).
    pub started_at: Instant,
}

/// Where a connection's messages go.
pub(crate) enum Target {
    WebSocket(Arc<Shared>),
    Sse {
        outbox: Arc<SseOutbox>,
        values: http::Extensions,
    },
}

pub(crate) struct Entry {
    info: ConnectionInfo,
    target: Target,
    policy: SlowConsumer,
    /// How a WebSocket connection is sent broadcasts (`Plain` for SSE).
    encoding: WsEncoding,
}

/// The registry of a server's connections, rooms, broadcast and statistics.
/// Shared (`Arc`) by the server and every connection.
pub struct Hub {
    registry: Mutex<Registry<Arc<Entry>>>,
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
        Arc::new(Hub {
            registry: Mutex::new(Registry::default()),
            counters: Arc::new(Counters::default()),
            compressors: CompressorPool::new(level),
            config,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Registry<Arc<Entry>>> {
        // Every registry operation leaves it consistent between statements.
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Registers a connection until the returned guard is dropped.
    pub(crate) fn register(
        self: &Arc<Self>,
        info: ConnectionInfo,
        target: Target,
        policy: SlowConsumer,
    ) -> Registration {
        let encoding = match &target {
            Target::WebSocket(shared) => {
                debug_assert!(
                    shared
                        .hub
                        .as_ref()
                        .is_some_and(|hub| Arc::ptr_eq(hub, self)),
                    "a connection registers with the hub it was made for"
                );
                WsEncoding::of(&shared.lock().ws, self.config.broadcast_compression)
            }
            Target::Sse { .. } => WsEncoding::Plain,
        };
        // The id (shared with a WebSocket connection's state) is the
        // registry's key: shared, not copied.
        let key = info.id.clone();
        self.counters.opened(info.protocol, &info.route);
        let entry = Arc::new(Entry {
            info,
            target,
            policy,
            encoding,
        });
        self.lock().insert(key, entry.clone());
        Registration {
            hub: self.clone(),
            entry,
        }
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
            .map(|(_, entry)| entry.info.clone())
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// The open connection with this id.
    pub fn get_connection(self: &Arc<Self>, id: &str) -> Option<ConnectionHandle> {
        let entry = self.lock().get(id).cloned()?;
        Some(ConnectionHandle {
            hub: self.clone(),
            entry,
        })
    }

    /// Puts connection `id` in `room`. Returns `false` if it is unknown or
    /// already there.
    pub fn join(&self, id: &str, room: &str) -> bool {
        self.lock().join(id, room)
    }

    /// Takes connection `id` out of `room`. Returns `false` if it was not there.
    pub fn leave(&self, id: &str, room: &str) -> bool {
        self.lock().leave(id, room)
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
    pub fn broadcast(self: &Arc<Self>, payload: Payload, filter: Filter) -> BroadcastReport {
        let recipients: Vec<Arc<Entry>> = {
            let registry = self.lock();
            let admitted = |(id, entry): (&str, &Arc<Entry>)| {
                filter
                    .admits(id, &entry.info.route, entry.info.protocol)
                    .then(|| entry.clone())
            };
            match &filter.room {
                Some(room) => registry.members(room).filter_map(admitted).collect(),
                None => registry.values().filter_map(admitted).collect(),
            }
        };
        let encoded = self.encode(&payload);
        let mut report = BroadcastReport::default();
        for entry in recipients {
            let handle = ConnectionHandle {
                hub: self.clone(),
                entry,
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
        self.counters.snapshot()
    }

    fn encode<'a>(&'a self, payload: &'a Payload) -> Encoded<'a> {
        Encoded::new(payload, &self.config.websocket, &self.compressors)
    }
}

/// Removes its connection from the hub (and its rooms) when dropped.
pub(crate) struct Registration {
    hub: Arc<Hub>,
    /// The registered entry (its id is the key to remove).
    entry: Arc<Entry>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let removed = self.hub.lock().remove(&self.entry.info.id);
        if let Some(entry) = removed {
            self.hub
                .counters
                .closed(entry.info.protocol, &entry.info.route);
        }
    }
}

/// A handle to one registered connection, from [`Hub::get_connection`] (or
/// a [`Filter::matching`] predicate): its details and values, sending, and
/// closing. Sends never wait: they queue or apply the slow-consumer policy.
#[derive(Clone)]
pub struct ConnectionHandle {
    hub: Arc<Hub>,
    entry: Arc<Entry>,
}

impl fmt::Debug for ConnectionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ConnectionHandle")
            .field(&self.entry.info)
            .finish()
    }
}

impl ConnectionHandle {
    /// The connection's details.
    pub fn info(&self) -> &ConnectionInfo {
        &self.entry.info
    }

    /// The connection's id.
    pub fn id(&self) -> &str {
        &self.entry.info.id
    }

    /// WebSocket or SSE.
    pub fn protocol(&self) -> Protocol {
        self.entry.info.protocol
    }

    /// A clone of the connection's value of type `T` (set by middleware or
    /// with `conn.set`), if any.
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        match &self.entry.target {
            Target::WebSocket(shared) => shared.value::<T>(),
            Target::Sse { values, .. } => values.get::<T>().cloned(),
        }
    }

    /// Sends `payload` to this connection alone (see [`Payload`] for what
    /// each protocol receives), encoded for it.
    pub fn send(&self, payload: &Payload) -> Delivery {
        self.offer(&self.hub.encode(payload))
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
    /// stream just ends after its queued events).
    pub fn close_with(&self, code: CloseCode, reason: &str) {
        match &self.entry.target {
            Target::WebSocket(shared) => shared.start_close(code, reason),
            Target::Sse { outbox, .. } => outbox.end(SseEnd::ClosedByServer),
        }
    }

    /// Queues the encoded payload, or applies the slow-consumer policy.
    fn offer(&self, encoded: &Encoded<'_>) -> Delivery {
        let config = &self.hub.config;
        let delivery = match &self.entry.target {
            Target::WebSocket(shared) => match encoded.ws_for(self.entry.encoding) {
                Some(frame) => offer_ws(shared, frame, config, &self.entry.policy),
                None => Delivery::Skipped,
            },
            Target::Sse { outbox, .. } => match encoded.sse() {
                Some(bytes) => offer_sse(outbox, bytes, config),
                None => Delivery::Skipped,
            },
        };
        match delivery {
            Delivery::Queued => {
                let len = match self.entry.info.protocol {
                    Protocol::WebSocket => encoded.ws_len(),
                    Protocol::Sse => encoded.sse().map_or(0, Bytes::len),
                };
                self.hub.counters.sent(len);
            }
            Delivery::Dropped => self.hub.counters.slow_dropped(),
            Delivery::Closed | Delivery::Skipped => {}
        }
        delivery
    }
}

fn offer_ws(
    shared: &Shared,
    frame: WsFrame<'_>,
    config: &HubConfig,
    policy: &SlowConsumer,
) -> Delivery {
    let mut inner = shared.lock();
    if inner.closed.is_some() || inner.ws.state() != ws::State::Open {
        return Delivery::Closed;
    }
    let queued = inner.ws.pending_transmit() + inner.in_flight;
    let messages = inner.ws.pending_shared_frames() + inner.in_flight_chunks as usize + 1;
    // What the message will take at most (a message compressed for this
    // connection alone is bounded by its plain size plus a frame header).
    let len = match &frame {
        WsFrame::Shared(frame) => frame.len(),
        WsFrame::Own(message) => message.len() + MAX_HEADER_LEN,
    };
    // An empty outbox takes any one message, however large: the bound is on
    // what a client leaves unread, not on message size.
    if queued > 0 && (queued + len > config.outbox_bytes || messages > config.outbox_messages) {
        // The backlog would only delay the close frame behind what the
        // client is not reading.
        inner.ws.discard_transmit();
        let _ = inner.ws.close(shared.now(), policy.code(), policy.reason());
        inner.wake_all();
        return Delivery::Dropped;
    }
    // A pump with bytes in flight waits for the socket and takes the new
    // frame when it can write again: waking it now would only make a
    // stalled client's task spin once per broadcast.
    let pump_idle = inner.in_flight == 0;
    let sent = match frame {
        WsFrame::Shared(frame) => inner.ws.send_shared(frame),
        // Compressed (or not) with the connection's own context, in order
        // with its other frames, so the client's inflater stays in step.
        WsFrame::Own(message) => inner.ws.send(message),
    };
    match sent {
        Ok(()) => {
            if pump_idle {
                inner.wake_pump();
            }
            Delivery::Queued
        }
        Err(_) => Delivery::Closed,
    }
}

fn offer_sse(outbox: &SseOutbox, bytes: &Bytes, config: &HubConfig) -> Delivery {
    use crate::server::Offer;
    match outbox.offer(bytes, config.outbox_bytes) {
        Offer::Queued => Delivery::Queued,
        Offer::Overflow => Delivery::Dropped,
        Offer::Ended => Delivery::Closed,
    }
}
