//! Errors: what the peer did wrong ([`ProtocolError`]) and what the local
//! caller asked for that cannot be done ([`SendError`]).

use crate::close::CloseCode;
use crate::frame::FrameError;

/// The peer broke RFC 6455 or a configured limit. The connection has been
/// failed with [`ProtocolError::close_code`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A frame header broke a rule (see [`FrameError`]).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A continuation frame arrived with no fragmented message in progress.
    #[error("continuation frame without a message to continue")]
    UnexpectedContinuation,
    /// A new text or binary frame arrived while a fragmented message was
    /// still in progress.
    #[error("new data frame while a fragmented message is in progress")]
    ExpectedContinuation,
    /// A text message is not valid UTF-8 (detected at the first impossible byte).
    #[error("invalid UTF-8 in a text message")]
    InvalidUtf8,
    /// A message grew beyond the configured maximum message size.
    #[error("message of at least {size} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// The size the message has reached or announced.
        size: u64,
        /// The configured limit.
        max: usize,
    },
    /// A close frame carried a one-byte payload (a code needs two).
    #[error("close frame with a one-byte payload")]
    CloseFrameTooShort,
    /// A close frame carried a code that may not appear on the wire.
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A close frame's reason is not valid UTF-8.
    #[error("close reason is not valid UTF-8")]
    InvalidCloseReason,
    /// A compressed message (permessage-deflate) is not valid DEFLATE data.
    #[error("invalid compressed data")]
    InvalidCompressedData,
}

impl ProtocolError {
    /// The close code this violation is answered with: 1009 for size limits,
    /// 1007 for invalid UTF-8 or compressed data, 1002 otherwise.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::Frame(frame) => frame.close_code(),
            ProtocolError::MessageTooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            ProtocolError::InvalidUtf8
            | ProtocolError::InvalidCloseReason
            | ProtocolError::InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// A local request the connection cannot carry out. Nothing was queued.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The close handshake has started (by either side) or the connection is
    /// closed: no more messages may be sent.
    #[error("the connection is closing or closed")]
    Closed,
    /// A ping or pong payload is over 125 bytes.
    #[error("control frame payload of {0} bytes (max 125)")]
    ControlPayloadTooLong(usize),
    /// The close code may not be sent (e.g. 1005, 1006, 1015, or outside the
    /// ranges of RFC 6455 §7.4).
    #[error("close code {0} may not be sent")]
    InvalidCloseCode(u16),
    /// The close reason is over 123 bytes (a close payload is at most 125
    /// bytes, two of them the code).
    #[error("close reason of {0} bytes (max 123)")]
    CloseReasonTooLong(usize),
    /// [`Connection::send_shared`](super::Connection::send_shared) on a
    /// client connection, whose frames must be masked per connection.
    #[error("a shared (unmasked) frame cannot be sent by a client")]
    SharedFrameOnClient,
}
