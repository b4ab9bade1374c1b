//! What a broadcast sends ([`Payload`]), to whom ([`Filter`]), and what
//! came of it ([`BroadcastReport`], [`Delivery`]).

use std::cell::OnceCell;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;

use super::compression::{CompressorPool, WINDOW_SIZES, WsEncoding};
use super::{ConnectionHandle, Protocol};
use tidings_core::deflate::{DeflateConfig, MIN_WINDOW_BITS};
use tidings_core::sse::Event;
use tidings_core::ws::{self, Outgoing, SharedFrame};

/// A message for WebSocket and SSE clients alike, encoded at most once per
/// protocol however many clients receive it.
///
/// | payload | WebSocket clients get | SSE clients get |
/// |---|---|---|
/// | [`text`](Self::text), [`json`](Self::json) | a text message | an event with that data (type [`sse_event`](Self::sse_event), default `message`) |
/// | [`binary`](Self::binary) | a binary message | nothing (skipped: SSE carries text) |
/// | [`event`](Self::event) | the event's data as a text message | the event as it is |
///
/// WebTransport sessions get the bytes of the message WebSocket clients
/// get (UTF-8 text, or the binary data), as one datagram or on one
/// unidirectional stream: see `webtransport::BroadcastMode`.
#[derive(Clone, Debug)]
pub struct Payload {
    pub(crate) kind: Kind,
    pub(crate) sse_event: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Text(String),
    Binary(Bytes),
    Event(Event),
}

impl Payload {
    /// A text message.
    pub fn text(text: impl Into<String>) -> Self {
        Payload {
            kind: Kind::Text(text.into()),
            sse_event: None,
        }
    }

    /// A binary message (WebSocket clients only).
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Payload {
            kind: Kind::Binary(data.into()),
            sse_event: None,
        }
    }

    /// `value` serialized as JSON, as a text message.
    ///
    /// # Errors
    /// When `value` cannot be serialized.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_string(value).map(Self::text)
    }

    /// An SSE event; WebSocket clients receive its data as text.
    pub fn event(event: Event) -> Self {
        Payload {
            kind: Kind::Event(event),
            sse_event: None,
        }
    }

    /// The SSE event type SSE clients see for a text payload.
    #[must_use]
    pub fn sse_event(mut self, name: impl Into<String>) -> Self {
        self.sse_event = Some(name.into());
        self
    }

    /// The message WebSocket clients get (every payload has one).
    pub(crate) fn ws_message(&self) -> Outgoing<'_> {
        match &self.kind {
            Kind::Text(text) => Outgoing::Text(text),
            Kind::Binary(data) => Outgoing::Binary(data),
            Kind::Event(event) => Outgoing::Text(event.data_value().unwrap_or("")),
        }
    }

    /// The bytes a WebTransport session gets: the WebSocket message's.
    pub(crate) fn wt_message(&self) -> Bytes {
        match &self.kind {
            Kind::Text(text) => Bytes::copy_from_slice(text.as_bytes()),
            Kind::Binary(data) => data.clone(),
            Kind::Event(event) => {
                Bytes::copy_from_slice(event.data_value().unwrap_or("").as_bytes())
            }
        }
    }

    /// The WebSocket frame (unmasked, as a server sends it), or `None` when
    /// the payload has nothing for WebSocket clients.
    pub(crate) fn encode_ws(&self, config: &ws::Config) -> Option<SharedFrame> {
        SharedFrame::new(self.ws_message(), config).ok()
    }

    /// The encoded SSE event, or `None` when the payload has nothing for SSE
    /// clients (binary data, an event whose name or id cannot be encoded).
    pub(crate) fn encode_sse(&self) -> Option<Bytes> {
        let event = match &self.kind {
            Kind::Text(text) => {
                let event = Event::new().data(text.as_str());
                match &self.sse_event {
                    Some(name) => event.try_event(name.as_str()).ok()?,
                    None => event,
                }
            }
            Kind::Binary(_) => return None,
            Kind::Event(event) => event.clone(),
        };
        event.to_bytes().ok()
    }
}

/// A payload with its encodings, each made on first use: the plain
/// WebSocket frame, one compressed frame per window size, the SSE event.
pub(crate) struct Encoded<'a> {
    payload: &'a Payload,
    config: &'a ws::Config,
    compressors: &'a CompressorPool,
    /// Messages shorter than this are not compressed.
    threshold: usize,
    ws: OnceCell<Option<SharedFrame>>,
    deflated: [OnceCell<Option<SharedFrame>>; WINDOW_SIZES],
    sse: OnceCell<Option<Bytes>>,
    wt: OnceCell<Bytes>,
}

/// What one WebSocket recipient is given.
pub(crate) enum WsFrame<'e> {
    /// Frames encoded once, shared with other recipients.
    Shared(&'e SharedFrame),
    /// The message, for the connection to compress with its own context.
    Own(Outgoing<'e>),
}

impl<'a> Encoded<'a> {
    pub(crate) fn new(
        payload: &'a Payload,
        config: &'a ws::Config,
        compressors: &'a CompressorPool,
    ) -> Self {
        let threshold = config
            .deflate
            .as_ref()
            .map_or_else(|| DeflateConfig::default().threshold, |d| d.threshold);
        Encoded {
            payload,
            config,
            compressors,
            threshold,
            ws: OnceCell::new(),
            deflated: Default::default(),
            sse: OnceCell::new(),
            wt: OnceCell::new(),
        }
    }

    /// The plain WebSocket frame.
    pub(crate) fn ws(&self) -> Option<&SharedFrame> {
        self.ws
            .get_or_init(|| self.payload.encode_ws(self.config))
            .as_ref()
    }

    /// What a WebSocket recipient served with `encoding` gets: a message
    /// under the threshold is plain for everyone.
    pub(crate) fn ws_for(&self, encoding: WsEncoding) -> Option<WsFrame<'_>> {
        let message = self.payload.ws_message();
        if message.len() < self.threshold {
            return self.ws().map(WsFrame::Shared);
        }
        match encoding {
            WsEncoding::Plain => self.ws().map(WsFrame::Shared),
            WsEncoding::Own => Some(WsFrame::Own(message)),
            WsEncoding::Shared(bits) => {
                let slot = usize::from(bits.saturating_sub(MIN_WINDOW_BITS));
                let deflated = self.deflated.get(slot).and_then(|cell| {
                    cell.get_or_init(|| self.compressors.compress(bits, message, self.config))
                        .as_ref()
                });
                // The compressor does not fail on valid state; if it did,
                // the plain frame is always valid.
                deflated.or_else(|| self.ws()).map(WsFrame::Shared)
            }
        }
    }

    /// The WebSocket message's length (uncompressed).
    pub(crate) fn ws_len(&self) -> usize {
        self.payload.ws_message().len()
    }

    /// The WebTransport message (made once, shared by every session).
    pub(crate) fn wt(&self) -> &Bytes {
        self.wt.get_or_init(|| self.payload.wt_message())
    }

    pub(crate) fn sse(&self) -> Option<&Bytes> {
        self.sse.get_or_init(|| self.payload.encode_sse()).as_ref()
    }
}

/// How the WebTransport sessions of a route (feature `webtransport`)
/// receive what the hub sends them
/// (broadcasts, [`ConnectionHandle::send`](crate::hub::ConnectionHandle::send)):
/// set per route with
/// [`RouteOptions::broadcast_mode`](crate::server::RouteOptions::broadcast_mode).
///
/// Either way a session's outbox is bounded like a WebSocket client's
/// ([`ServerConfig::outbox_messages`](crate::server::ServerConfig::outbox_messages), [`ServerConfig::outbox_bytes`](crate::server::ServerConfig::outbox_bytes)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum BroadcastMode {
    /// One unidirectional stream per message, written whole and finished
    /// (what `Session::receive_message` reads on the other side):
    /// reliable, any size. A session whose outbox overflows is closed by
    /// the route's [`SlowConsumer`](crate::hub::SlowConsumer) policy (its
    /// close code as the application error code).
    #[default]
    UniStreams,
    /// One datagram per message: unreliable, at most
    /// [`max_datagram_size`](tidings_core::webtransport::Config::max_datagram_size)
    /// bytes. A message too large, or one that finds the outbox full, is
    /// dropped and counted in
    /// [`Stats::webtransport_datagrams_dropped`](crate::hub::Stats::webtransport_datagrams_dropped);
    /// the session stays.
    Datagrams,
}

/// A user predicate on a connection.
type Predicate = Arc<dyn Fn(&ConnectionHandle) -> bool + Send + Sync>;

/// Who receives a broadcast: every condition set must hold. [`Filter::all`] has none.
///
/// ```
/// # use tidings_framework::hub::{Filter, Protocol};
/// // Everyone in `lobby` on a WebSocket, except the sender.
/// let filter = Filter::room("lobby").protocol(Protocol::WebSocket).except("ws_1");
/// # let _ = filter;
/// ```
#[derive(Clone, Default)]
pub struct Filter {
    pub(crate) room: Option<String>,
    pub(crate) route: Option<String>,
    pub(crate) protocol: Option<Protocol>,
    pub(crate) except: Vec<String>,
    pub(crate) predicate: Option<Predicate>,
    /// This node's connections only (with a cluster engine).
    pub(crate) local: bool,
}

impl Filter {
    /// Every connection.
    pub fn all() -> Self {
        Filter::default()
    }

    /// The members of `room` (looked up in O(members)).
    pub fn room(room: impl Into<String>) -> Self {
        Filter {
            room: Some(room.into()),
            ..Filter::default()
        }
    }

    /// Only connections of the route with this pattern (e.g. `/ws/chat/:room`).
    #[must_use]
    pub fn route(mut self, pattern: impl Into<String>) -> Self {
        self.route = Some(pattern.into());
        self
    }

    /// Only connections of this protocol.
    #[must_use]
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Not the connection with this id (e.g. the sender). Repeatable.
    #[must_use]
    pub fn except(mut self, id: impl Into<String>) -> Self {
        self.except.push(id.into());
        self
    }

    /// Only connections for which `predicate` holds, e.g. on a value stored
    /// with `set` (`|conn| conn.get::<Role>() == Some(Role::Admin)`). It
    /// runs without the hub's lock held. A closure cannot cross processes:
    /// with a cluster engine, a broadcast with a predicate reaches this
    /// node's connections only (see [`local`](Self::local)); to reach every
    /// node, broadcast to a room the wanted connections join.
    #[must_use]
    pub fn matching(
        mut self,
        predicate: impl Fn(&ConnectionHandle) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.predicate = Some(Arc::new(predicate));
        self
    }

    /// This node's connections only: not published to other nodes when the
    /// server has a cluster [`Engine`](super::cluster::Engine). (A filter
    /// with a [predicate](Self::matching) is always local.)
    #[must_use]
    pub fn local(mut self) -> Self {
        self.local = true;
        self
    }

    /// Whether a broadcast with this filter is published to other nodes.
    pub(crate) fn crosses_nodes(&self) -> bool {
        !self.local && self.predicate.is_none()
    }

    /// The conditions that need no user code: route, protocol, exclusion.
    pub(crate) fn admits(&self, id: &str, route: &str, protocol: Protocol) -> bool {
        self.route.as_deref().is_none_or(|r| r == route)
            && self.protocol.is_none_or(|p| p == protocol)
            && !self.except.iter().any(|except| except == id)
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("room", &self.room)
            .field("route", &self.route)
            .field("protocol", &self.protocol)
            .field("except", &self.except)
            .field("predicate", &self.predicate.is_some())
            .field("local", &self.local)
            .finish()
    }
}

/// What happened to one message offered to one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Queued for the client.
    Queued,
    /// The client's outbox was full: the route's slow-consumer policy was
    /// applied (WebSocket closed with 1013 or 1008, SSE client dropped).
    Dropped,
    /// The connection is closing or closed.
    Closed,
    /// The payload has nothing for this protocol (binary data for SSE).
    Skipped,
    /// Sent to the node the connection lives on (with a cluster engine);
    /// what becomes of it there is not reported back.
    Forwarded,
}

/// What a broadcast did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BroadcastReport {
    /// Recipients the message was queued for.
    pub delivered: usize,
    /// Recipients dropped as too slow (their outbox was full).
    pub dropped: usize,
    /// Matching connections that were closing, or of a protocol the payload
    /// has nothing for.
    pub skipped: usize,
}

impl BroadcastReport {
    pub(crate) fn count(&mut self, delivery: Delivery) {
        match delivery {
            Delivery::Queued => self.delivered += 1,
            Delivery::Dropped => self.dropped += 1,
            Delivery::Closed | Delivery::Skipped | Delivery::Forwarded => self.skipped += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_encodes_for_each_protocol() {
        let config = ws::Config::default();
        let text = Payload::text("hi").sse_event("chat");
        assert_eq!(text.encode_ws(&config).unwrap().as_bytes(), b"\x81\x02hi");
        assert_eq!(
            &text.encode_sse().unwrap()[..],
            b"event: chat\ndata: hi\n\n"
        );

        let binary = Payload::binary(vec![1u8, 2]);
        assert_eq!(
            binary.encode_ws(&config).unwrap().as_bytes(),
            b"\x82\x02\x01\x02"
        );
        assert!(binary.encode_sse().is_none());

        let event = Payload::event(Event::new().event("tick").data("1"));
        assert_eq!(event.encode_ws(&config).unwrap().as_bytes(), b"\x81\x011");
        assert_eq!(
            &event.encode_sse().unwrap()[..],
            b"event: tick\ndata: 1\n\n"
        );

        let json = Payload::json(&serde_json::json!({"n": 1})).unwrap();
        assert_eq!(
            json.encode_ws(&config).unwrap().as_bytes(),
            b"\x81\x07{\"n\":1}"
        );
    }

    #[test]
    fn fragmentation_follows_the_config() {
        let config = ws::Config::default().max_outgoing_frame_size(Some(2));
        let frame = Payload::text("abc").encode_ws(&config).unwrap();
        assert_eq!(frame.as_bytes(), b"\x01\x02ab\x80\x01c");
        assert_eq!(frame.payload_len(), 3);
    }

    #[test]
    fn encoded_once_per_protocol() {
        let config = ws::Config::default();
        let payload = Payload::text("x");
        let compressors = CompressorPool::new(1);
        let encoded = Encoded::new(&payload, &config, &compressors);
        let first = encoded.ws().unwrap().bytes().as_ptr();
        let again = encoded.ws().unwrap().bytes().as_ptr();
        assert_eq!(first, again, "the same bytes are shared");
        assert_eq!(
            encoded.sse().unwrap().as_ptr(),
            encoded.sse().unwrap().as_ptr()
        );
    }

    #[test]
    #[cfg(feature = "deflate")]
    fn compressed_once_per_window_above_the_threshold() {
        let config = ws::Config::default().deflate(Some(DeflateConfig::default().threshold(40)));
        let compressors = CompressorPool::new(1);
        let shared = |frame: Option<WsFrame<'_>>| match frame {
            Some(WsFrame::Shared(frame)) => frame.clone(),
            _ => panic!("not a shared frame"),
        };
        let long = Payload::text("broadcast ".repeat(8));
        let encoded = Encoded::new(&long, &config, &compressors);
        let plain = shared(encoded.ws_for(WsEncoding::Plain));
        assert_eq!(plain.as_bytes()[0], 0x81);
        let deflated = shared(encoded.ws_for(WsEncoding::Shared(15)));
        assert_eq!(deflated.as_bytes()[0], 0xc1, "RSV1");
        assert!(deflated.len() < plain.len());
        assert_eq!(deflated.payload_len(), 80);
        let again = shared(encoded.ws_for(WsEncoding::Shared(15)));
        assert_eq!(again.bytes().as_ptr(), deflated.bytes().as_ptr(), "once");
        let small_window = shared(encoded.ws_for(WsEncoding::Shared(9)));
        assert_ne!(small_window.bytes().as_ptr(), deflated.bytes().as_ptr());
        assert!(matches!(
            encoded.ws_for(WsEncoding::Own),
            Some(WsFrame::Own(Outgoing::Text(_)))
        ));
        assert_eq!(encoded.ws_len(), 80);

        // Under the threshold: the plain frame for everyone.
        let short = Payload::binary(vec![7u8; 39]);
        let encoded = Encoded::new(&short, &config, &compressors);
        let plain = shared(encoded.ws_for(WsEncoding::Plain));
        for encoding in [WsEncoding::Shared(15), WsEncoding::Own] {
            let frame = shared(encoded.ws_for(encoding));
            assert_eq!(frame.bytes().as_ptr(), plain.bytes().as_ptr());
        }
        assert_eq!(plain.as_bytes()[0], 0x82);
    }

    #[test]
    fn filter_conditions() {
        let filter = Filter::all()
            .route("/ws")
            .protocol(Protocol::WebSocket)
            .except("ws_1");
        assert!(filter.admits("ws_2", "/ws", Protocol::WebSocket));
        assert!(!filter.admits("ws_1", "/ws", Protocol::WebSocket));
        assert!(!filter.admits("ws_2", "/other", Protocol::WebSocket));
        assert!(!filter.admits("sse_2", "/ws", Protocol::Sse));
        assert!(Filter::all().admits("any", "/x", Protocol::Sse));
    }
}
