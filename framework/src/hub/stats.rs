//! Server statistics: live counters and the [`Stats`] snapshot they
//! produce, counted by [`Protocol`]. Below the rest of the hub: it uses no
//! other module of the crate but the leaf `protocol`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

use crate::protocol::Protocol;

/// A snapshot of the server's statistics, serializable as JSON.
///
/// Message and byte counts are message payloads: received WebSocket
/// messages (in); WebSocket messages and SSE events queued for clients, by
/// handlers or broadcasts (out; an SSE event counts its encoded bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "asyncapi", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct Stats {
    /// WebSocket connections.
    pub websocket: ConnectionCounts,
    /// Server-Sent Events streams.
    pub sse: ConnectionCounts,
    /// WebTransport sessions (feature `webtransport`).
    pub webtransport: ConnectionCounts,
    /// WebTransport datagrams dropped: incoming ones over the size limit
    /// (`webtransport::Config::core.max_datagram_size`), for no open
    /// session, or arriving while the session's queue
    /// (`webtransport::Config::session_queue`) was full; and broadcast ones
    /// (routes with `BroadcastMode::Datagrams`) too large to send or
    /// arriving while the session's outbox was full.
    pub webtransport_datagrams_dropped: u64,
    /// Connections per route pattern.
    pub routes: BTreeMap<String, ConnectionCounts>,
    /// Messages received.
    pub messages_in: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Messages and events queued for clients.
    pub messages_out: u64,
    /// Payload bytes queued for clients.
    pub bytes_out: u64,
    /// Broadcasts made.
    pub broadcasts: u64,
    /// Copies of broadcasts queued (one per recipient).
    pub broadcast_deliveries: u64,
    /// Clients dropped for being too slow: WebSocket connections closed
    /// because their outbox overflowed, SSE clients whose outbox overflowed
    /// or whose queue stayed full for the send timeout.
    pub slow_clients_dropped: u64,
    /// Of [`slow_clients_dropped`](Self::slow_clients_dropped): SSE clients
    /// disconnected because their queue stayed full for
    /// `SseConfig::send_timeout`.
    pub sse_send_timeouts: u64,
    /// Answers other than `101` / `200` to requests for a WebSocket or SSE
    /// route (or an upgrade request for no route), by status, e.g.
    /// `"429 Too Many Requests"`.
    pub handshakes_rejected: BTreeMap<String, u64>,
    /// TLS handshakes completed (a server with
    /// [`ServerConfig::tls`](crate::server::ServerConfig)); 0 without TLS.
    pub tls_handshakes: u64,
    /// TLS handshakes that failed, by reason.
    pub tls_handshake_failures: TlsHandshakeFailures,
    /// HTTP/2 connections served (TLS connections that chose ALPN `h2`).
    pub http2_connections: u64,
    /// HTTP/2 request streams taken up (SSE streams, WebSocket extended
    /// CONNECTs, plain requests), on all HTTP/2 connections.
    pub http2_streams: u64,
    /// The cluster engine's state and counters, when the server has one
    /// ([`ServerConfig::engine`](crate::server::ServerConfig::engine)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineStats>,
}

/// Failed TLS handshakes of a server, by reason (see
/// [`Stats::tls_handshake_failures`]). Each failure is also logged, at
/// debug level, with the peer's address and the error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "asyncapi", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct TlsHandshakeFailures {
    /// Not finished within the handshake timeout (a stalled or very slow
    /// client); the socket is closed at the deadline.
    pub timeout: u64,
    /// The first byte was not a TLS handshake record: plaintext (e.g. an
    /// `http://` request, answered with a 400 that says so) or garbage,
    /// closed at once.
    pub not_tls: u64,
    /// The client refused the handshake with an alert, e.g. `unknown_ca` or
    /// `bad_certificate` when it does not trust the server's certificate.
    pub peer_alert: u64,
    /// A TLS protocol error on the client's side: a malformed message, no
    /// protocol version, cipher suite or application protocol (ALPN) in
    /// common, …; rustls answered with an alert.
    pub protocol: u64,
    /// The client closed or reset the connection during the handshake
    /// (browsers close spare connections they opened ahead of need).
    pub closed: u64,
    /// Any other socket error.
    pub io: u64,
    /// Refused before the handshake: [`ServerConfig::max_tls_handshakes`](crate::server::ServerConfig)
    /// handshakes were already in progress.
    pub busy: u64,
}

impl TlsHandshakeFailures {
    /// All failures, whatever the reason.
    pub fn total(&self) -> u64 {
        let TlsHandshakeFailures {
            timeout,
            not_tls,
            peer_alert,
            protocol,
            closed,
            io,
            busy,
        } = *self;
        timeout + not_tls + peer_alert + protocol + closed + io + busy
    }
}

/// Why a TLS handshake failed: one field of [`TlsHandshakeFailures`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlsFailure {
    Timeout,
    NotTls,
    PeerAlert,
    Protocol,
    Closed,
    Io,
    Busy,
}

#[cfg(feature = "_tls")]
impl TlsFailure {
    /// The name of its field, for logs.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TlsFailure::Timeout => "timeout",
            TlsFailure::NotTls => "not_tls",
            TlsFailure::PeerAlert => "peer_alert",
            TlsFailure::Protocol => "protocol",
            TlsFailure::Closed => "closed",
            TlsFailure::Io => "io",
            TlsFailure::Busy => "busy",
        }
    }
}

/// The state and counters of a cluster [`Engine`](crate::hub::cluster::Engine).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "asyncapi", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct EngineStats {
    /// This node's name.
    pub node: String,
    /// Connected to the other nodes, or not.
    pub status: EngineStatus,
    /// Messages sent to other nodes.
    pub published: u64,
    /// Messages from other nodes applied here.
    pub received: u64,
    /// Messages lost: not sent (engine away, outgoing queue full or too
    /// old, refused by the engine's server, in flight when the connection
    /// broke unless the engine sends them again; presence updates
    /// included) or received but not understood. Messages another node
    /// published while this node's subscription was down are not seen by
    /// any node, so not counted (SSE topics recover them from history).
    pub dropped: u64,
    /// Times the engine connected again after losing its connection.
    pub reconnects: u64,
    /// Times a liveness probe found the subscription silent (a wedged or
    /// dropped subscription loses messages without an error): the engine
    /// subscribes again.
    pub stalls: u64,
    /// Outgoing messages not yet known to be sent: waiting, or sent and
    /// not yet answered.
    pub queued: usize,
    /// Cluster-wide SSE topics: times this node's copy of a topic could not
    /// be caught up after its subscription was lost (the missed events were
    /// gone: another epoch, trimmed); its live subscribers got the reset
    /// event then.
    pub gaps: u64,
    /// Cluster-wide SSE topics: clients resumed from the shared history
    /// (their last id was not in this node's copy, or the copy had a gap),
    /// and topic copies caught up from it after a lost subscription (their
    /// live subscribers got the missed events, no reset).
    pub recovered: u64,
    /// Cluster-wide SSE topics: clients that got the reset event instead of
    /// a resume (their events were gone: trimmed, another epoch, Redis
    /// away).
    pub resets: u64,
    /// Open connections of every live node, when the engine knows them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterCounts>,
}

/// Open connections across the nodes of a cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "asyncapi", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct ClusterCounts {
    /// Live nodes (this one included).
    pub nodes: usize,
    /// Open WebSocket connections on them.
    pub websocket: usize,
    /// Open SSE streams on them.
    pub sse: usize,
}

impl ClusterCounts {
    /// `nodes` nodes with `websocket` and `sse` connections open.
    pub fn new(nodes: usize, websocket: usize, sse: usize) -> Self {
        ClusterCounts {
            nodes,
            websocket,
            sse,
        }
    }
}

impl EngineStats {
    /// Zero counters for `node`, connected.
    pub fn new(node: impl Into<String>) -> Self {
        EngineStats {
            node: node.into(),
            status: EngineStatus::Connected,
            published: 0,
            received: 0,
            dropped: 0,
            reconnects: 0,
            stalls: 0,
            queued: 0,
            gaps: 0,
            recovered: 0,
            resets: 0,
            cluster: None,
        }
    }
}

/// Whether a cluster engine reaches the other nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "asyncapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", tag = "state")]
#[non_exhaustive]
pub enum EngineStatus {
    /// Connected: messages flow.
    Connected,
    /// The connection was lost this long ago (milliseconds); the engine is
    /// trying again, with backoff, and queues what it must send.
    Reconnecting {
        /// Milliseconds since the connection was lost.
        for_ms: u64,
    },
    /// Cut off, not trying (or shut down).
    Down,
}

/// Open and total connections of one kind.
///
/// Counts of what is open now are `usize`, like every count of things held
/// in memory (`ServerHandle::active_connections`, `Hub::len`,
/// `ServerConfig::max_connections`); counts of what happened since the
/// server started are `u64`, which no server outgrows, also on 32-bit
/// targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "asyncapi", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct ConnectionCounts {
    /// Open now.
    pub active: usize,
    /// Opened since the server started.
    pub total: u64,
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    websocket: Open,
    sse: Open,
    webtransport: Open,
    webtransport_datagrams_dropped: AtomicU64,
    routes: Mutex<BTreeMap<String, ConnectionCounts>>,
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
    broadcasts: AtomicU64,
    broadcast_deliveries: AtomicU64,
    slow_dropped: AtomicU64,
    /// SSE clients dropped by their stream's pump: queue full for the send
    /// timeout while a handler's send waited.
    pub(crate) sse_send_timeouts: AtomicU64,
    rejected: Mutex<BTreeMap<u16, u64>>,
    tls_handshakes: AtomicU64,
    /// Indexed by [`TlsFailure`] (its discriminant).
    tls_failures: [AtomicU64; 7],
    pub(crate) http2_connections: AtomicU64,
    pub(crate) http2_streams: AtomicU64,
}

#[derive(Debug, Default)]
struct Open {
    active: AtomicUsize,
    total: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Counters only: every update leaves the map consistent.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Counters {
    /// The counters of `protocol`'s connections (none for plain HTTP
    /// requests, which are not connections of the hub).
    fn open(&self, protocol: Protocol) -> Option<&Open> {
        match protocol {
            Protocol::WebSocket => Some(&self.websocket),
            Protocol::Sse => Some(&self.sse),
            Protocol::WebTransport => Some(&self.webtransport),
            Protocol::Http => None,
        }
    }

    pub(crate) fn opened(&self, protocol: Protocol, route: &str) {
        let Some(open) = self.open(protocol) else {
            return;
        };
        open.active.fetch_add(1, Ordering::Relaxed);
        open.total.fetch_add(1, Ordering::Relaxed);
        let mut routes = lock(&self.routes);
        let counts = routes.entry(route.to_owned()).or_default();
        counts.active += 1;
        counts.total += 1;
    }

    pub(crate) fn closed(&self, protocol: Protocol, route: &str) {
        let Some(open) = self.open(protocol) else {
            return;
        };
        open.active.fetch_sub(1, Ordering::Relaxed);
        if let Some(counts) = lock(&self.routes).get_mut(route) {
            counts.active = counts.active.saturating_sub(1);
        }
    }

    pub(crate) fn received(&self, bytes: usize) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn sent(&self, bytes: usize) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn broadcast(&self, deliveries: usize) {
        self.broadcasts.fetch_add(1, Ordering::Relaxed);
        self.broadcast_deliveries
            .fetch_add(deliveries as u64, Ordering::Relaxed);
    }

    /// `n` WebTransport datagrams dropped (see
    /// [`Stats::webtransport_datagrams_dropped`]).
    #[cfg_attr(not(feature = "webtransport"), allow(dead_code))]
    pub(crate) fn datagrams_dropped(&self, n: u64) {
        self.webtransport_datagrams_dropped
            .fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn slow_dropped(&self) {
        self.slow_dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rejected(&self, status: http::StatusCode) {
        *lock(&self.rejected).entry(status.as_u16()).or_default() += 1;
    }

    #[cfg(feature = "_tls")]
    pub(crate) fn tls_handshake(&self) {
        self.tls_handshakes.fetch_add(1, Ordering::Relaxed);
    }

    #[cfg(feature = "_tls")]
    pub(crate) fn tls_failed(&self, reason: TlsFailure) {
        self.tls_failures[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let counts = |open: &Open| ConnectionCounts {
            active: open.active.load(Ordering::Relaxed),
            total: open.total.load(Ordering::Relaxed),
        };
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Stats {
            websocket: counts(&self.websocket),
            sse: counts(&self.sse),
            webtransport: counts(&self.webtransport),
            webtransport_datagrams_dropped: load(&self.webtransport_datagrams_dropped),
            routes: lock(&self.routes).clone(),
            messages_in: load(&self.messages_in),
            bytes_in: load(&self.bytes_in),
            messages_out: load(&self.messages_out),
            bytes_out: load(&self.bytes_out),
            broadcasts: load(&self.broadcasts),
            broadcast_deliveries: load(&self.broadcast_deliveries),
            slow_clients_dropped: load(&self.slow_dropped) + load(&self.sse_send_timeouts),
            sse_send_timeouts: load(&self.sse_send_timeouts),
            handshakes_rejected: lock(&self.rejected)
                .iter()
                .map(|(&status, &count)| (status_label(status), count))
                .collect(),
            tls_handshakes: load(&self.tls_handshakes),
            tls_handshake_failures: {
                let failed = |reason: TlsFailure| load(&self.tls_failures[reason as usize]);
                TlsHandshakeFailures {
                    timeout: failed(TlsFailure::Timeout),
                    not_tls: failed(TlsFailure::NotTls),
                    peer_alert: failed(TlsFailure::PeerAlert),
                    protocol: failed(TlsFailure::Protocol),
                    closed: failed(TlsFailure::Closed),
                    io: failed(TlsFailure::Io),
                    busy: failed(TlsFailure::Busy),
                }
            },
            http2_connections: load(&self.http2_connections),
            http2_streams: load(&self.http2_streams),
            engine: None,
        }
    }
}

/// `"429 Too Many Requests"`, or just the number for an unknown status.
fn status_label(status: u16) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|status| status.canonical_reason());
    match reason {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_in_the_snapshot() {
        let counters = Counters::default();
        counters.opened(Protocol::WebSocket, "/ws");
        counters.opened(Protocol::WebSocket, "/ws");
        counters.opened(Protocol::Sse, "/events");
        counters.opened(Protocol::WebTransport, "/wt");
        counters.datagrams_dropped(3);
        counters.closed(Protocol::WebSocket, "/ws");
        counters.received(5);
        counters.sent(7);
        counters.sent(3);
        counters.broadcast(2);
        counters.slow_dropped();
        counters.rejected(http::StatusCode::TOO_MANY_REQUESTS);
        counters.rejected(http::StatusCode::TOO_MANY_REQUESTS);
        let stats = counters.snapshot();
        assert_eq!((stats.websocket.active, stats.websocket.total), (1, 2));
        assert_eq!((stats.sse.active, stats.sse.total), (1, 1));
        assert_eq!(stats.webtransport.active, 1);
        assert_eq!(stats.webtransport_datagrams_dropped, 3);
        assert_eq!(stats.routes["/ws"].active, 1);
        assert_eq!(stats.routes["/events"].total, 1);
        assert_eq!((stats.messages_in, stats.bytes_in), (1, 5));
        assert_eq!((stats.messages_out, stats.bytes_out), (2, 10));
        assert_eq!((stats.broadcasts, stats.broadcast_deliveries), (1, 2));
        assert_eq!(stats.slow_clients_dropped, 1);
        assert_eq!(stats.handshakes_rejected["429 Too Many Requests"], 2);
        assert_eq!(stats.tls_handshake_failures.total(), 0);
    }

    #[cfg(feature = "_tls")]
    #[test]
    fn tls_failures_land_in_their_own_fields() {
        let counters = Counters::default();
        counters.tls_handshake();
        let reasons = [
            TlsFailure::Timeout,
            TlsFailure::NotTls,
            TlsFailure::PeerAlert,
            TlsFailure::Protocol,
            TlsFailure::Closed,
            TlsFailure::Io,
            TlsFailure::Busy,
        ];
        for (n, reason) in reasons.into_iter().enumerate() {
            for _ in 0..=n {
                counters.tls_failed(reason);
            }
        }
        let stats = counters.snapshot();
        assert_eq!(stats.tls_handshakes, 1);
        let failed = stats.tls_handshake_failures;
        assert_eq!(
            [
                failed.timeout,
                failed.not_tls,
                failed.peer_alert,
                failed.protocol,
                failed.closed,
                failed.io,
                failed.busy
            ],
            [1, 2, 3, 4, 5, 6, 7]
        );
        assert_eq!(failed.total(), 28);
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["tls_handshake_failures"]["not_tls"], 2);
    }
}
