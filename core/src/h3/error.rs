//! HTTP/3 error codes (RFC 9114 §8.1, RFC 9204 §6, and the WebTransport
//! codes of draft-ietf-webtrans-http3), carried by QUIC's CONNECTION_CLOSE,
//! RESET_STREAM and STOP_SENDING.

use std::fmt;

/// An HTTP/3 application error code: a QUIC variable-length integer.
///
/// The named constants are the codes this crate sends or recognizes; any
/// other value is valid on the wire too (unknown codes mean
/// [`ErrorCode::NO_ERROR`]'s "no specific reason", RFC 9114 §9).
///
/// ```
/// # use tidings_core::h3::ErrorCode;
/// assert_eq!(ErrorCode::SETTINGS_ERROR.0, 0x109);
/// assert_eq!(ErrorCode::SETTINGS_ERROR.to_string(), "H3_SETTINGS_ERROR (0x109)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub u64);

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $value:expr, $text:expr;)*) => {
        impl ErrorCode {
            $($(#[$doc])* pub const $name: ErrorCode = ErrorCode($value);)*

            /// The code's name in its specification, if it has one here.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $(ErrorCode::$name => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    /// No error: closing a connection or stream that is no longer needed.
    NO_ERROR = 0x100, "H3_NO_ERROR";
    /// The peer violated a protocol requirement in a way no more specific
    /// code covers.
    GENERAL_PROTOCOL_ERROR = 0x101, "H3_GENERAL_PROTOCOL_ERROR";
    /// An internal error of this endpoint.
    INTERNAL_ERROR = 0x102, "H3_INTERNAL_ERROR";
    /// The peer created a stream it may not create (a second control
    /// stream, a push stream to a server).
    STREAM_CREATION_ERROR = 0x103, "H3_STREAM_CREATION_ERROR";
    /// A stream required by the HTTP/3 connection (control, QPACK) closed.
    CLOSED_CRITICAL_STREAM = 0x104, "H3_CLOSED_CRITICAL_STREAM";
    /// A frame that is not allowed in the current state or on this stream.
    FRAME_UNEXPECTED = 0x105, "H3_FRAME_UNEXPECTED";
    /// A frame that fails its layout or size rules, or is truncated.
    FRAME_ERROR = 0x106, "H3_FRAME_ERROR";
    /// The peer causes excessive load.
    EXCESSIVE_LOAD = 0x107, "H3_EXCESSIVE_LOAD";
    /// A stream or push id used wrongly.
    ID_ERROR = 0x108, "H3_ID_ERROR";
    /// A SETTINGS frame with a forbidden or repeated identifier.
    SETTINGS_ERROR = 0x109, "H3_SETTINGS_ERROR";
    /// The control stream did not start with SETTINGS.
    MISSING_SETTINGS = 0x10a, "H3_MISSING_SETTINGS";
    /// The request was rejected before any processing (safe to retry).
    REQUEST_REJECTED = 0x10b, "H3_REQUEST_REJECTED";
    /// The request or its response is cancelled.
    REQUEST_CANCELLED = 0x10c, "H3_REQUEST_CANCELLED";
    /// The request stream ended before the request was complete.
    REQUEST_INCOMPLETE = 0x10d, "H3_REQUEST_INCOMPLETE";
    /// A malformed HTTP message (missing or wrong pseudo-headers, say).
    MESSAGE_ERROR = 0x10e, "H3_MESSAGE_ERROR";
    /// A CONNECT request's TCP connection failed (not used by WebTransport).
    CONNECT_ERROR = 0x10f, "H3_CONNECT_ERROR";
    /// The requested operation cannot be served over HTTP/3.
    VERSION_FALLBACK = 0x110, "H3_VERSION_FALLBACK";
    /// A malformed HTTP datagram (RFC 9297 §2.1).
    DATAGRAM_ERROR = 0x33, "H3_DATAGRAM_ERROR";
    /// A field section could not be decoded (RFC 9204 §6); here also every
    /// reference to the dynamic table, whose capacity this crate keeps at 0.
    QPACK_DECOMPRESSION_FAILED = 0x200, "QPACK_DECOMPRESSION_FAILED";
    /// An instruction on the peer's QPACK encoder stream could not be
    /// carried out (any insertion, with a dynamic table of capacity 0).
    QPACK_ENCODER_STREAM_ERROR = 0x201, "QPACK_ENCODER_STREAM_ERROR";
    /// An instruction on the peer's QPACK decoder stream is invalid.
    QPACK_DECODER_STREAM_ERROR = 0x202, "QPACK_DECODER_STREAM_ERROR";
    /// A WebTransport data stream whose session did not arrive in time or
    /// did not fit the buffer of streams waiting for their session.
    WEBTRANSPORT_BUFFERED_STREAM_REJECTED = 0x3994_bd84, "WEBTRANSPORT_BUFFERED_STREAM_REJECTED";
    /// A WebTransport data stream whose session has ended.
    WEBTRANSPORT_SESSION_GONE = 0x170d_7b68, "WEBTRANSPORT_SESSION_GONE";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({:#x})", self.0),
            None => write!(f, "{:#x}", self.0),
        }
    }
}

/// Whether `value` is one of the reserved "GREASE" codepoints of HTTP/3
/// (`0x1f * N + 0x21`, RFC 9114 §7.2.8, §7.2.4.1, §8.1): frame types,
/// setting identifiers, stream types and error codes that carry no meaning
/// and must be ignored.
///
/// ```
/// # use tidings_core::h3::is_grease;
/// assert!(is_grease(0x21) && is_grease(0x40) && !is_grease(0x41));
/// ```
pub fn is_grease(value: u64) -> bool {
    value >= 0x21 && (value - 0x21) % 0x1f == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_display() {
        assert_eq!(
            ErrorCode::FRAME_UNEXPECTED.name(),
            Some("H3_FRAME_UNEXPECTED")
        );
        assert_eq!(ErrorCode(0x1234).name(), None);
        assert_eq!(ErrorCode(0x1234).to_string(), "0x1234");
        assert_eq!(
            ErrorCode::WEBTRANSPORT_SESSION_GONE.to_string(),
            "WEBTRANSPORT_SESSION_GONE (0x170d7b68)"
        );
    }

    #[test]
    fn grease_values() {
        assert!(!is_grease(0) && !is_grease(0x20) && !is_grease(0x22));
        assert!(is_grease(0x21 + 0x1f * 1000));
        assert!(!is_grease(0x21 + 0x1f * 1000 + 1));
        // The codes and types this crate uses are not GREASE.
        for value in [0x41, 0x54, 0x2843, 0x78ae, 0x2b60_3742, 0x33] {
            assert!(!is_grease(value), "{value:#x}");
        }
    }
}
