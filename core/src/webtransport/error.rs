//! Errors: what the peer did wrong ([`ProtocolError`], which closes the
//! HTTP/3 connection with its code), what a local call cannot do
//! ([`SendError`]), and the mapping of WebTransport application error
//! codes into the HTTP/3 error space.

use crate::h3::{ErrorCode, SettingsError, is_grease};
use crate::qpack::{DecodeError, InstructionError};

/// The first HTTP/3 error code of the WebTransport application error range
/// (WEBTRANSPORT_APPLICATION_ERROR, draft-ietf-webtrans-http3 §4.4).
pub const APPLICATION_ERROR_FIRST: u64 = 0x52e4_a40f_a8db;
/// The last one: the image of `u32::MAX`.
pub const APPLICATION_ERROR_LAST: u64 = 0x52e5_ac98_3162;

/// The HTTP/3 error code that carries WebTransport application error
/// `code` on RESET_STREAM and STOP_SENDING: `first + code + code / 0x1e`,
/// which steps over the GREASE codepoints of the range.
///
/// ```
/// # use tidings_core::webtransport::{app_error_to_h3, h3_to_app_error};
/// assert_eq!(app_error_to_h3(0), 0x52e4_a40f_a8db);
/// assert_eq!(h3_to_app_error(app_error_to_h3(42)), Some(42));
/// ```
pub fn app_error_to_h3(code: u32) -> u64 {
    let code = u64::from(code);
    APPLICATION_ERROR_FIRST + code + code / 0x1e
}

/// The WebTransport application error code an HTTP/3 error code carries:
/// `None` outside the range and for the GREASE codepoints inside it.
pub fn h3_to_app_error(h3: u64) -> Option<u32> {
    if !(APPLICATION_ERROR_FIRST..=APPLICATION_ERROR_LAST).contains(&h3) || is_grease(h3) {
        return None;
    }
    let shifted = h3 - APPLICATION_ERROR_FIRST;
    u32::try_from(shifted - shifted / 0x1f).ok()
}

/// The peer broke HTTP/3, QPACK or WebTransport in a way that ends the
/// whole connection: it is closed with [`ProtocolError::code`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A SETTINGS frame with a forbidden or repeated identifier.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The control stream's first frame is not SETTINGS.
    #[error("the control stream does not start with SETTINGS")]
    MissingSettings,
    /// A frame that is not allowed where it came: a second SETTINGS, DATA
    /// or HEADERS on the control stream, control frames on a request
    /// stream, HTTP/2-only frame types anywhere, PUSH_PROMISE to a server.
    #[error("frame type {frame_type:#x} not allowed on {stream}")]
    UnexpectedFrame {
        /// The frame type.
        frame_type: u64,
        /// What kind of stream it came on.
        stream: &'static str,
    },
    /// A stream ended inside a frame.
    #[error("stream ended inside a frame")]
    TruncatedFrame,
    /// A frame this endpoint must buffer is over the limit.
    #[error("frame of type {frame_type:#x} with {len} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// The frame type.
        frame_type: u64,
        /// The announced payload length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A second control or QPACK stream of the same kind, or a push stream
    /// (only servers push).
    #[error("the peer opened a second {0} stream or one it may not open")]
    StreamCreation(&'static str),
    /// The control stream or a QPACK stream ended or was reset.
    #[error("the peer closed its {0} stream")]
    ClosedCriticalStream(&'static str),
    /// A field section references the dynamic table or does not decode.
    #[error(transparent)]
    Qpack(#[from] DecodeError),
    /// An instruction on a QPACK stream that a table capacity of 0 forbids.
    #[error(transparent)]
    QpackStream(#[from] InstructionError),
    /// A WebTransport stream or datagram names a session id that is not a
    /// client-initiated bidirectional stream.
    #[error("invalid WebTransport session id {0}")]
    InvalidSessionId(u64),
    /// A datagram without a whole quarter stream id, or with one over
    /// 2^60 - 1 (RFC 9297 §2.1).
    #[error("malformed HTTP datagram")]
    MalformedDatagram,
    /// A stream id skips too far ahead of the ones seen (more than
    /// [`MAX_STREAM_ID_GAP`](super::MAX_STREAM_ID_GAP) streams of its kind
    /// at once).
    #[error("stream id {0} skips too many streams")]
    StreamIdGap(u64),
}

impl ProtocolError {
    /// The HTTP/3 error code the connection is closed with.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtocolError::Settings(err) => err.code(),
            ProtocolError::MissingSettings => ErrorCode::MISSING_SETTINGS,
            ProtocolError::UnexpectedFrame { .. } => ErrorCode::FRAME_UNEXPECTED,
            ProtocolError::TruncatedFrame => ErrorCode::FRAME_ERROR,
            ProtocolError::FrameTooLarge { .. } => ErrorCode::EXCESSIVE_LOAD,
            ProtocolError::StreamCreation(_) => ErrorCode::STREAM_CREATION_ERROR,
            ProtocolError::ClosedCriticalStream(_) => ErrorCode::CLOSED_CRITICAL_STREAM,
            ProtocolError::Qpack(err) => err.code(),
            ProtocolError::QpackStream(err) => err.code,
            ProtocolError::InvalidSessionId(_) | ProtocolError::StreamIdGap(_) => {
                ErrorCode::ID_ERROR
            }
            ProtocolError::MalformedDatagram => ErrorCode::DATAGRAM_ERROR,
        }
    }
}

/// A local request the connection cannot carry out. Nothing was queued.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No session with this id is waiting for an answer or open.
    #[error("no such WebTransport session")]
    UnknownSession,
    /// The session was already accepted or rejected.
    #[error("the session was already answered")]
    AlreadyAnswered,
    /// The session is not open (not accepted yet, or closing).
    #[error("the session is not open")]
    NotOpen,
    /// A rejection status outside 300-599 (a 2xx would accept the
    /// session, a 1xx is not final).
    #[error("status {0} cannot reject a session")]
    InvalidStatus(u16),
    /// A close reason over 1024 bytes.
    #[error("close reason of {0} bytes (max 1024)")]
    ReasonTooLong(usize),
    /// A datagram over the configured maximum, or the peer does not
    /// accept datagrams.
    #[error("datagram of {len} bytes cannot be sent (max {max})")]
    DatagramTooLarge {
        /// The payload length.
        len: usize,
        /// The largest payload allowed (0 when the peer takes none).
        max: usize,
    },
    /// The connection already has its maximum number of sessions.
    #[error("the connection has its maximum number of sessions")]
    TooManySessions,
    /// The session already has its maximum number of streams.
    #[error("the session has its maximum number of streams")]
    TooManyStreams,
    /// The stream id is not one this endpoint opens, or is already in use.
    #[error("stream id {0} cannot carry a new local stream")]
    InvalidStreamId(u64),
    /// The connection is closed.
    #[error("the connection is closed")]
    ConnectionClosed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn range_edges() {
        assert_eq!(app_error_to_h3(0), APPLICATION_ERROR_FIRST);
        assert_eq!(app_error_to_h3(u32::MAX), APPLICATION_ERROR_LAST);
        assert_eq!(h3_to_app_error(APPLICATION_ERROR_FIRST), Some(0));
        assert_eq!(h3_to_app_error(APPLICATION_ERROR_LAST), Some(u32::MAX));
        assert_eq!(h3_to_app_error(APPLICATION_ERROR_FIRST - 1), None);
        assert_eq!(h3_to_app_error(APPLICATION_ERROR_LAST + 1), None);
        assert_eq!(h3_to_app_error(ErrorCode::NO_ERROR.0), None);
        // 0x1d is the last code before the first GREASE gap; 0x1e skips it.
        assert_eq!(app_error_to_h3(0x1d), APPLICATION_ERROR_FIRST + 0x1d);
        assert_eq!(app_error_to_h3(0x1e), APPLICATION_ERROR_FIRST + 0x1f);
        let gap = APPLICATION_ERROR_FIRST + 0x1e;
        assert!(is_grease(gap));
        assert_eq!(h3_to_app_error(gap), None);
    }

    #[test]
    fn every_grease_codepoint_in_the_range_is_skipped() {
        // The range starts just after a GREASE value and each gap is 0x1f
        // apart; sample the first few thousand.
        let mut expected = 0u32;
        for h3 in APPLICATION_ERROR_FIRST..APPLICATION_ERROR_FIRST + 5000 {
            if is_grease(h3) {
                assert_eq!(h3_to_app_error(h3), None);
            } else {
                assert_eq!(h3_to_app_error(h3), Some(expected), "{h3:#x}");
                assert_eq!(app_error_to_h3(expected), h3);
                expected += 1;
            }
        }
    }

    #[test]
    fn protocol_error_codes() {
        assert_eq!(
            ProtocolError::MissingSettings.code(),
            ErrorCode::MISSING_SETTINGS
        );
        assert_eq!(
            ProtocolError::Settings(SettingsError::Duplicate(6)).code(),
            ErrorCode::SETTINGS_ERROR
        );
        assert_eq!(
            ProtocolError::Qpack(DecodeError::DynamicReference).code(),
            ErrorCode::QPACK_DECOMPRESSION_FAILED
        );
        assert_eq!(
            ProtocolError::InvalidSessionId(3).code(),
            ErrorCode::ID_ERROR
        );
    }

    proptest! {
        #[test]
        fn round_trip(code in any::<u32>()) {
            let h3 = app_error_to_h3(code);
            prop_assert!(!is_grease(h3));
            prop_assert_eq!(h3_to_app_error(h3), Some(code));
        }

        #[test]
        fn inverse_is_consistent(offset in 0u64..=(APPLICATION_ERROR_LAST - APPLICATION_ERROR_FIRST)) {
            let h3 = APPLICATION_ERROR_FIRST + offset;
            match h3_to_app_error(h3) {
                Some(code) => prop_assert_eq!(app_error_to_h3(code), h3),
                None => prop_assert!(is_grease(h3)),
            }
        }
    }
}
