//! What the connection reports: [`Event`].

use bytes::Bytes;

use super::connect::ConnectRequest;
use super::error::ProtocolError;
use crate::h3::{ErrorCode, StreamId};

/// A WebTransport session's id: the id of the QUIC stream that carried its
/// CONNECT request (always a client-initiated bidirectional stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

impl SessionId {
    /// The CONNECT stream.
    pub fn stream(self) -> StreamId {
        StreamId(self.0)
    }
}

/// Something that happened on the connection, from
/// [`Connection::poll_event`](super::Connection::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A client asks for a session: answer with
    /// [`accept`](super::Connection::accept) or
    /// [`reject`](super::Connection::reject).
    SessionRequest {
        /// The new session.
        session: SessionId,
        /// The validated request.
        request: ConnectRequest,
    },
    /// A client's session was accepted (a 2xx response to its CONNECT).
    SessionEstablished {
        /// The session.
        session: SessionId,
    },
    /// A client's session was refused with this status (not 1xx or 2xx);
    /// its CONNECT stream is over.
    SessionRejected {
        /// The session.
        session: SessionId,
        /// The response status.
        status: u16,
    },
    /// A data stream of an open session is the application's now: its
    /// payload starts after the header the core has read (see
    /// [`StreamRead`](super::StreamRead)).
    IncomingStream {
        /// The session.
        session: SessionId,
        /// The QUIC stream.
        stream: StreamId,
        /// Whether it is bidirectional.
        bidi: bool,
    },
    /// A datagram of an open session (sent as a QUIC datagram or a
    /// DATAGRAM capsule).
    Datagram {
        /// The session.
        session: SessionId,
        /// The payload (without the session prefix).
        payload: Bytes,
    },
    /// The peer asks to end the session gracefully (DRAIN capsule).
    SessionDraining {
        /// The session.
        session: SessionId,
    },
    /// A session announced by [`Event::SessionRequest`] (or opened by
    /// [`connect`](super::Connection::connect)) ended, by the peer or by a
    /// session-level error. Its data streams have been reset
    /// (WEBTRANSPORT_SESSION_GONE). Not reported for sessions this
    /// endpoint closes or rejects.
    SessionClosed {
        /// The session.
        session: SessionId,
        /// How.
        end: SessionEnd,
    },
    /// The connection failed: the last event. Send the pending
    /// [`Transmit::CloseConnection`](super::Transmit::CloseConnection).
    ConnectionClosed(ProtocolError),
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// The peer closed it: with a CLOSE_WEBTRANSPORT_SESSION capsule, or by
    /// ending the CONNECT stream (code 0, empty reason).
    Closed {
        /// The application error code.
        code: u32,
        /// The reason.
        reason: String,
    },
    /// The peer reset the CONNECT stream with this code.
    Reset(ErrorCode),
    /// The CONNECT stream broke a rule (a malformed capsule, data after the
    /// CLOSE capsule); it was reset with this code.
    Error(ErrorCode),
    /// The QUIC connection under the session is gone (closed by either
    /// side, an idle timeout), for this reason. Never reported by
    /// [`Connection`](super::Connection), whose caller owns the QUIC
    /// connection: an adapter tells its sessions with it, so that one type
    /// says every way a session ends.
    ConnectionLost(String),
}
