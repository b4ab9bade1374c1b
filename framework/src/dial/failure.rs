//! What can fail while dialing (TCP, proxy, TLS), before it becomes each
//! client's own error type.

use std::io;

use super::proxy_error::ProxyError;
use crate::tls_error::TlsError;

/// What can fail while dialing; converted into each client's error type.
#[derive(Debug)]
pub(crate) enum DialError {
    /// TCP connect, or I/O during the proxy or TLS handshake.
    Io(io::Error),
    /// The connect timeout passed.
    Timeout,
    /// The proxy refused or misbehaved.
    Proxy(ProxyError),
    /// TLS failed (certificate, handshake, no roots, not compiled in).
    Tls(TlsError),
}

impl From<io::Error> for DialError {
    fn from(error: io::Error) -> Self {
        DialError::Io(error)
    }
}

impl From<ProxyError> for DialError {
    fn from(error: ProxyError) -> Self {
        DialError::Proxy(error)
    }
}
