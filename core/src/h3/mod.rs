//! HTTP/3 wire pieces (RFC 9114) that WebTransport needs: QUIC
//! variable-length integers, frames, SETTINGS, stream types and error
//! codes. No QUIC here: streams are named by their QUIC stream id, and the
//! caller's QUIC engine carries the bytes.
//!
//! The state machine that uses them is [`webtransport::Connection`]; the
//! header compression is in [`qpack`].
//!
//! [`webtransport::Connection`]: crate::webtransport::Connection
//! [`qpack`]: crate::qpack

mod error;
pub mod frame;
pub mod settings;
pub mod varint;

pub use error::{ErrorCode, is_grease};
pub use frame::{FramePiece, FrameReader};
pub use settings::{Settings, SettingsError};

/// Unidirectional stream type of the control stream (RFC 9114 §6.2.1).
pub const STREAM_CONTROL: u64 = 0x00;
/// Unidirectional stream type of a push stream (RFC 9114 §6.2.2); only a
/// server may open one.
pub const STREAM_PUSH: u64 = 0x01;
/// Unidirectional stream type of the QPACK encoder stream (RFC 9204 §4.2).
pub const STREAM_QPACK_ENCODER: u64 = 0x02;
/// Unidirectional stream type of the QPACK decoder stream (RFC 9204 §4.2).
pub const STREAM_QPACK_DECODER: u64 = 0x03;
/// Unidirectional stream type of a WebTransport stream, followed by the
/// session id (draft-ietf-webtrans-http3 §4.2).
pub const STREAM_WEBTRANSPORT: u64 = 0x54;

/// A QUIC stream id (RFC 9000 §2.1): its two low bits say who opened the
/// stream and whether it is bidirectional.
///
/// ```
/// # use tidings_core::h3::StreamId;
/// let request = StreamId(0);
/// assert!(request.is_client_initiated() && request.is_bidi());
/// let server_uni = StreamId(3);
/// assert!(!server_uni.is_client_initiated() && !server_uni.is_bidi());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

impl StreamId {
    /// Whether the client opened the stream.
    pub fn is_client_initiated(self) -> bool {
        self.0 & 1 == 0
    }

    /// Whether the stream is bidirectional.
    pub fn is_bidi(self) -> bool {
        self.0 & 2 == 0
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stream {}", self.0)
    }
}
