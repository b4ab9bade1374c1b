//! The error type of the async layer: what `read`, `write`, `connect` and
//! handlers return.

use std::io;

use tidings_core::handshake::{ClientConfigError, ClientHandshakeError};
use tidings_core::head::HeadError;
use tidings_core::ws::{Closed, SendError};

use crate::dial::{DialError, ProxyError, TlsError};

/// Everything that can go wrong on a connection, a connect or in a handler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection is closed; the details say how (code, reason, cause).
    /// Reading returns this once every message received before the close has
    /// been read.
    #[error("connection closed ({})", .0.code())]
    Closed(Box<Closed>),
    /// The transport failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// A message could not be serialized or deserialized as JSON.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
    /// A local request the protocol forbids (e.g. a ping payload over 125 bytes).
    #[error(transparent)]
    Send(#[from] SendError),
    /// The URL given to `connect` is not a usable WebSocket URL.
    #[error("invalid WebSocket URL: {0}")]
    Url(#[from] ClientConfigError),
    /// The server's handshake response was not acceptable.
    #[error("handshake failed: {0}")]
    Handshake(#[from] ClientHandshakeError),
    /// The peer's HTTP head could not be parsed.
    #[error("bad HTTP head: {0}")]
    Head(#[from] HeadError),
    /// An operation did not finish in time (connecting, the opening
    /// handshake).
    #[error("timed out")]
    Timeout,
    /// TLS failed when connecting to a `wss://` server; the text names the
    /// cause (expired certificate, wrong host, unknown issuer, …).
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The proxy could not open a tunnel to the server.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// An application error, e.g. returned by a handler.
    #[error("{0}")]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Wraps an application error or message.
    ///
    /// ```
    /// # use tidings_framework::Error;
    /// let error = Error::other("room is full");
    /// assert_eq!(error.to_string(), "room is full");
    /// ```
    pub fn other(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Other(error.into())
    }

    /// Whether this is [`Error::Closed`]: the normal end of a read loop.
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed(_))
    }
}

impl From<DialError> for Error {
    fn from(error: DialError) -> Self {
        match error {
            DialError::Io(error) => Error::Io(error),
            DialError::Timeout => Error::Timeout,
            DialError::Proxy(error) => Error::Proxy(error),
            DialError::Tls(error) => Error::Tls(error),
        }
    }
}
