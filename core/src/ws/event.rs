//! What the connection reports: [`Event`] and, at the end, [`Closed`].

use bytes::Bytes;

use super::error::ProtocolError;
use super::message::Message;
use crate::close::CloseCode;

/// Something that happened on the connection, from [`Connection::poll_event`](super::Connection::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A complete data message.
    Message(Message),
    /// The peer sent a ping (already answered when `auto_pong` is on).
    Ping(Bytes),
    /// The peer sent a pong.
    Pong(Bytes),
    /// The connection is over. This is the last event. Send what
    /// [`poll_transmit`](super::Connection::poll_transmit) still holds (e.g.
    /// the close frame), then close the transport. (Boxed: the other
    /// events, one per message, are moved at less than half the size.)
    Closed(Box<Closed>),
}

/// A close frame's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code; [`CloseCode::NO_STATUS`] (1005) when the frame had none.
    pub code: CloseCode,
    /// The reason text (possibly empty).
    pub reason: String,
}

/// How the connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closed {
    /// Why it ended.
    pub cause: CloseCause,
    /// The close frame this endpoint sent, if any.
    pub sent: Option<CloseFrame>,
    /// The close frame the peer sent, if any.
    pub received: Option<CloseFrame>,
}

impl Closed {
    /// The code that best describes the end: the peer's code when it sent a
    /// close frame, else the code this endpoint sent, else 1006 (abnormal).
    pub fn code(&self) -> CloseCode {
        self.received
            .as_ref()
            .or(self.sent.as_ref())
            .map_or(CloseCode::ABNORMAL, |frame| frame.code)
    }

    /// Whether the close handshake completed (both close frames exchanged).
    pub fn is_clean(&self) -> bool {
        matches!(self.cause, CloseCause::LocalClose | CloseCause::PeerClose)
    }
}

/// Why a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseCause {
    /// This endpoint started the close handshake and the peer completed it.
    LocalClose,
    /// The peer started the close handshake and this endpoint replied.
    PeerClose,
    /// The peer broke the protocol; this endpoint sent a close frame with the
    /// error's code (unless it had already sent one) and stopped reading.
    ProtocolViolation(ProtocolError),
    /// A timer expired.
    Timeout(TimeoutKind),
    /// The transport ended before the close handshake completed.
    Eof,
}

/// Which timer ended a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// Nothing was received from the peer within `pong_wait`.
    PongWait,
    /// The peer did not finish the close handshake within `close_timeout`.
    CloseHandshake,
}
