//! The bytes hubs of different nodes exchange through an
//! [`Engine`](super::Engine): a [`ClusterMessage`] (broadcast, send to one
//! connection, close one connection) with the node it came from.
//!
//! Payloads cross unencoded (the text, the binary data, the SSE event's
//! fields), so each receiving node encodes once for its own recipients with
//! its own settings. The format is length-prefixed binary, version 1:
//!
//! ```text
//! version u8 = 1 | origin str8 | kind u8 | body
//! broadcast (1): filter payload
//! send (2):      id str32 payload
//! close (3):     id str32 code u16 reason str32
//! filter:        flags u8 (1 room, 2 route, 4 protocol) [room] [route] [protocol u8]
//!                except: count u32, str32 each
//! payload:       kind u8 (1 text, 2 binary, 3 event) [sse_event opt-str32]
//!                text: str32 | binary: bytes32
//!                event: comments (count u32, str32 each) retry opt-u64 ms, id, event, data opt-str32
//! str8 / str32 / bytes32: length (u8 / u32 LE) then UTF-8 / raw bytes
//! opt-X: u8 0 (none) or 1 then X
//! ```
//!
//! Decoding checks every length against what is left, so a malformed or
//! truncated message is an error, never a panic or an allocation beyond
//! its own size.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tidings_core::close::CloseCode;
use tidings_core::sse::Event;

use super::super::broadcast::{Filter, Kind, Payload};
use crate::protocol::Protocol;

const VERSION: u8 = 1;

/// One message between the hubs of two nodes.
#[derive(Clone, Debug)]
pub(crate) enum ClusterMessage {
    /// A broadcast for the receiving node's own connections (the filter
    /// without its predicate, which stays on the node that made it).
    Broadcast { filter: Filter, payload: Payload },
    /// A payload for the connection with this id.
    Send { id: String, payload: Payload },
    /// Close the connection with this id.
    Close {
        id: String,
        code: CloseCode,
        reason: String,
    },
}

/// Why bytes were not a cluster message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// A version of the format this node does not speak.
    #[error("unknown cluster message version {0}")]
    Version(u8),
    /// Shorter than its lengths say, or a tag out of range.
    #[error("malformed cluster message")]
    Malformed,
}

/// Encodes `message` from node `origin`.
pub(crate) fn encode(origin: &str, message: &ClusterMessage) -> Bytes {
    let mut out = BytesMut::with_capacity(64);
    out.put_u8(VERSION);
    let origin = &origin.as_bytes()[..origin.len().min(255)];
    out.put_u8(origin.len() as u8);
    out.put_slice(origin);
    match message {
        ClusterMessage::Broadcast { filter, payload } => {
            out.put_u8(1);
            put_filter(&mut out, filter);
            put_payload(&mut out, payload);
        }
        ClusterMessage::Send { id, payload } => {
            out.put_u8(2);
            put_str(&mut out, id);
            put_payload(&mut out, payload);
        }
        ClusterMessage::Close { id, code, reason } => {
            out.put_u8(3);
            put_str(&mut out, id);
            out.put_u16_le(u16::from(*code));
            put_str(&mut out, reason);
        }
    }
    out.freeze()
}

/// Decodes a message: its origin node and what it asks.
pub(crate) fn decode(bytes: &[u8]) -> Result<(&str, ClusterMessage), WireError> {
    let mut r = Reader { rest: bytes };
    let version = r.u8()?;
    if version != VERSION {
        return Err(WireError::Version(version));
    }
    let origin_len = usize::from(r.u8()?);
    let origin = std::str::from_utf8(r.take(origin_len)?).map_err(|_| WireError::Malformed)?;
    let message = match r.u8()? {
        1 => {
            let filter = r.filter()?;
            let payload = r.payload()?;
            ClusterMessage::Broadcast { filter, payload }
        }
        2 => {
            let id = r.string()?;
            let payload = r.payload()?;
            ClusterMessage::Send { id, payload }
        }
        3 => {
            let id = r.string()?;
            let code = CloseCode::from(u16::from_le_bytes([r.u8()?, r.u8()?]));
            let reason = r.string()?;
            ClusterMessage::Close { id, code, reason }
        }
        _ => return Err(WireError::Malformed),
    };
    if !r.rest.is_empty() {
        return Err(WireError::Malformed);
    }
    Ok((origin, message))
}

fn put_bytes(out: &mut BytesMut, bytes: &[u8]) {
    // A hub message is far below 4 GiB (outboxes are bounded far lower).
    out.put_u32_le(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
    out.put_slice(&bytes[..bytes.len().min(u32::MAX as usize)]);
}

fn put_str(out: &mut BytesMut, text: &str) {
    put_bytes(out, text.as_bytes());
}

fn put_opt_str(out: &mut BytesMut, text: Option<&str>) {
    match text {
        Some(text) => {
            out.put_u8(1);
            put_str(out, text);
        }
        None => out.put_u8(0),
    }
}

fn put_filter(out: &mut BytesMut, filter: &Filter) {
    let flags = u8::from(filter.room.is_some())
        | u8::from(filter.route.is_some()) << 1
        | u8::from(filter.protocol.is_some()) << 2;
    out.put_u8(flags);
    if let Some(room) = &filter.room {
        put_str(out, room);
    }
    if let Some(route) = &filter.route {
        put_str(out, route);
    }
    if let Some(protocol) = filter.protocol {
        out.put_u8(match protocol {
            Protocol::WebSocket => 1,
            Protocol::Sse => 2,
            Protocol::Http => 3,
            Protocol::WebTransport => 4,
        });
    }
    out.put_u32_le(u32::try_from(filter.except.len()).unwrap_or(u32::MAX));
    for id in &filter.except {
        put_str(out, id);
    }
}

fn put_payload(out: &mut BytesMut, payload: &Payload) {
    match &payload.kind {
        Kind::Text(text) => {
            out.put_u8(1);
            put_opt_str(out, payload.sse_event.as_deref());
            put_str(out, text);
        }
        Kind::Binary(data) => {
            out.put_u8(2);
            put_opt_str(out, payload.sse_event.as_deref());
            put_bytes(out, data);
        }
        Kind::Event(event) => {
            out.put_u8(3);
            put_opt_str(out, payload.sse_event.as_deref());
            let comments = event.comments();
            out.put_u32_le(u32::try_from(comments.len()).unwrap_or(u32::MAX));
            for comment in comments {
                put_str(out, comment);
            }
            match event.retry_value() {
                Some(delay) => {
                    out.put_u8(1);
                    out.put_u64_le(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
                }
                None => out.put_u8(0),
            }
            put_opt_str(out, event.id_value());
            put_opt_str(out, event.event_name());
            put_opt_str(out, event.data_value());
        }
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(WireError::Malformed);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn string(&mut self) -> Result<String, WireError> {
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| WireError::Malformed)
    }

    fn opt_string(&mut self) -> Result<Option<String>, WireError> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.string().map(Some),
            _ => Err(WireError::Malformed),
        }
    }

    /// A count of items that take at least `min_size` bytes each: checked
    /// against what is left before anything is allocated for them.
    fn count(&mut self, min_size: usize) -> Result<usize, WireError> {
        let count = self.u32()? as usize;
        if count.saturating_mul(min_size) > self.rest.len() {
            return Err(WireError::Malformed);
        }
        Ok(count)
    }

    fn filter(&mut self) -> Result<Filter, WireError> {
        let flags = self.u8()?;
        if flags & !7 != 0 {
            return Err(WireError::Malformed);
        }
        let mut filter = Filter::all();
        if flags & 1 != 0 {
            filter.room = Some(self.string()?);
        }
        if flags & 2 != 0 {
            filter.route = Some(self.string()?);
        }
        if flags & 4 != 0 {
            filter.protocol = Some(match self.u8()? {
                1 => Protocol::WebSocket,
                2 => Protocol::Sse,
                3 => Protocol::Http,
                4 => Protocol::WebTransport,
                _ => return Err(WireError::Malformed),
            });
        }
        let count = self.count(4)?;
        filter.except = (0..count)
            .map(|_| self.string())
            .collect::<Result<_, _>>()?;
        Ok(filter)
    }

    fn payload(&mut self) -> Result<Payload, WireError> {
        let kind = self.u8()?;
        let sse_event = self.opt_string()?;
        let kind = match kind {
            1 => Kind::Text(self.string()?),
            2 => Kind::Binary(Bytes::copy_from_slice(self.bytes()?)),
            3 => {
                let mut event = Event::new();
                for _ in 0..self.count(4)? {
                    event = event.comment(self.string()?);
                }
                match self.u8()? {
                    0 => {}
                    1 => {
                        let b = self.take(8)?;
                        let ms =
                            u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                        event = event.retry(Duration::from_millis(ms));
                    }
                    _ => return Err(WireError::Malformed),
                }
                if let Some(id) = self.opt_string()? {
                    event = event.id(id);
                }
                if let Some(name) = self.opt_string()? {
                    event = event.event(name);
                }
                if let Some(data) = self.opt_string()? {
                    event = event.data(data);
                }
                Kind::Event(event)
            }
            _ => return Err(WireError::Malformed),
        };
        Ok(Payload { kind, sse_event })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same_payload(a: &Payload, b: &Payload) -> bool {
        let kinds = match (&a.kind, &b.kind) {
            (Kind::Text(x), Kind::Text(y)) => x == y,
            (Kind::Binary(x), Kind::Binary(y)) => x == y,
            (Kind::Event(x), Kind::Event(y)) => x == y,
            _ => false,
        };
        kinds && a.sse_event == b.sse_event
    }

    #[test]
    fn a_broadcast_round_trips() {
        let filter = Filter::room("lobby")
            .route("/ws/:room")
            .protocol(Protocol::WebSocket)
            .except("a.ws_1")
            .except("b.ws_2");
        let payload = Payload::text("hi").sse_event("chat");
        let bytes = encode(
            "node-a",
            &ClusterMessage::Broadcast {
                filter,
                payload: payload.clone(),
            },
        );
        let (origin, message) = decode(&bytes).unwrap();
        assert_eq!(origin, "node-a");
        let ClusterMessage::Broadcast {
            filter: f,
            payload: p,
        } = message
        else {
            panic!("not a broadcast: {message:?}");
        };
        assert_eq!(f.room.as_deref(), Some("lobby"));
        assert_eq!(f.route.as_deref(), Some("/ws/:room"));
        assert_eq!(f.protocol, Some(Protocol::WebSocket));
        assert_eq!(f.except, ["a.ws_1", "b.ws_2"]);
        assert!(same_payload(&p, &payload));
    }

    #[test]
    fn send_and_close_round_trip() {
        let event = Event::new()
            .comment("c")
            .retry(Duration::from_millis(1500))
            .id("7")
            .event("tick")
            .data("a\nb");
        let payload = Payload::event(event);
        let bytes = encode(
            "n",
            &ClusterMessage::Send {
                id: "n.sse_3".into(),
                payload: payload.clone(),
            },
        );
        match decode(&bytes).unwrap() {
            ("n", ClusterMessage::Send { id, payload: p }) => {
                assert_eq!(id, "n.sse_3");
                assert!(same_payload(&p, &payload));
            }
            other => panic!("{other:?}"),
        }
        let bytes = encode(
            "n",
            &ClusterMessage::Close {
                id: "n.ws_1".into(),
                code: CloseCode::GOING_AWAY,
                reason: "bye".into(),
            },
        );
        match decode(&bytes).unwrap() {
            ("n", ClusterMessage::Close { id, code, reason }) => {
                assert_eq!(
                    (id.as_str(), code, reason.as_str()),
                    ("n.ws_1", CloseCode::GOING_AWAY, "bye")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert_eq!(decode(&[]).unwrap_err(), WireError::Malformed);
        assert_eq!(decode(&[2, 0, 1]).unwrap_err(), WireError::Version(2));
        let good = encode(
            "a",
            &ClusterMessage::Send {
                id: "x".into(),
                payload: Payload::binary(vec![1u8, 2, 3]),
            },
        );
        for cut in 0..good.len() {
            assert!(decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = good.to_vec();
        longer.push(0);
        assert_eq!(decode(&longer).unwrap_err(), WireError::Malformed);
        // A count far beyond the bytes left allocates nothing.
        let mut huge = vec![1, 1, b'a', 1, 0];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&huge).unwrap_err(), WireError::Malformed);
    }

    proptest! {
        #[test]
        fn any_payload_round_trips(
            text in ".*",
            data in proptest::collection::vec(any::<u8>(), 0..64),
            name in proptest::option::of("[a-z]{0,8}"),
            except in proptest::collection::vec("[a-z._0-9]{0,12}", 0..4),
            kind in 0u8..3,
        ) {
            let mut payload = match kind {
                0 => Payload::text(text.clone()),
                1 => Payload::binary(data),
                _ => Payload::event(Event::new().data(text.clone()).comment(text)),
            };
            if let Some(name) = name {
                payload = payload.sse_event(name);
            }
            let mut filter = Filter::all();
            filter.except = except.clone();
            let bytes = encode("o", &ClusterMessage::Broadcast { filter, payload: payload.clone() });
            let (origin, message) = decode(&bytes).unwrap();
            prop_assert_eq!(origin, "o");
            let ClusterMessage::Broadcast { filter: f, payload: p } = message else {
                panic!("not a broadcast");
            };
            prop_assert_eq!(f.except, except);
            prop_assert!(same_payload(&p, &payload));
        }
    }
}
