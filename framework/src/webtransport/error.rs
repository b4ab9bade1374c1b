//! A session's errors and ends.

use std::io;

use tidings_core::webtransport::h3_to_app_error;

/// Why a session ended, from [`Session::closed`](super::Session::closed):
/// the core's type (a CLOSE_WEBTRANSPORT_SESSION capsule or the CONNECT
/// stream's end, a reset, a session error), with
/// [`ConnectionLost`](SessionEnd::ConnectionLost) when the QUIC connection
/// is gone.
pub use tidings_core::webtransport::SessionEnd;

/// Errors of a session's operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The session is over: see [`Session::closed`](super::Session::closed).
    #[error("the WebTransport session is closed")]
    SessionClosed,
    /// The peer reset the stream (RESET_STREAM) with this WebTransport
    /// application error code (`None`: a code outside the WebTransport range).
    #[error("stream reset by the peer (code {0:?})")]
    Reset(Option<u32>),
    /// The peer asked to stop sending (STOP_SENDING) with this code.
    #[error("stream stopped by the peer (code {0:?})")]
    Stopped(Option<u32>),
    /// The QUIC connection failed or was closed.
    #[error("QUIC connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// A datagram could not be sent (too large for the path, or the peer
    /// does not accept datagrams).
    #[error("datagram not sent: {0}")]
    Datagram(String),
    /// [`RecvStream::read_to_end`](super::RecvStream::read_to_end) or
    /// [`Session::receive_message`](super::Session::receive_message): the
    /// stream is longer than the limit (it was stopped).
    #[error("stream longer than {0} bytes")]
    TooLong(usize),
    /// The HTTP/3 layer refused the operation (e.g. a close reason over
    /// 1024 bytes).
    #[error(transparent)]
    Send(#[from] tidings_core::webtransport::SendError),
}

impl From<quinn::ReadError> for Error {
    fn from(error: quinn::ReadError) -> Self {
        match error {
            quinn::ReadError::Reset(code) => Error::Reset(h3_to_app_error(code.into_inner())),
            quinn::ReadError::ConnectionLost(e) => Error::Connection(e),
            _ => Error::SessionClosed,
        }
    }
}

impl From<quinn::WriteError> for Error {
    fn from(error: quinn::WriteError) -> Self {
        match error {
            quinn::WriteError::Stopped(code) => Error::Stopped(h3_to_app_error(code.into_inner())),
            quinn::WriteError::ConnectionLost(e) => Error::Connection(e),
            _ => Error::SessionClosed,
        }
    }
}

impl From<quinn::ClosedStream> for Error {
    fn from(_: quinn::ClosedStream) -> Self {
        Error::SessionClosed
    }
}

impl From<Error> for io::Error {
    fn from(error: Error) -> Self {
        let kind = match error {
            Error::Reset(_) | Error::Stopped(_) => io::ErrorKind::ConnectionReset,
            _ => io::ErrorKind::BrokenPipe,
        };
        io::Error::new(kind, error)
    }
}

/// A QUIC variable-length integer from an HTTP/3 code (codes the core
/// produces always fit; a larger one saturates).
pub(super) fn varint(code: u64) -> quinn::VarInt {
    quinn::VarInt::from_u64(code).unwrap_or(quinn::VarInt::MAX)
}
