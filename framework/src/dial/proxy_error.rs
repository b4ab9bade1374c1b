//! Why a proxy could not open a tunnel.

use tidings_core::head::HeadError;
use tidings_core::proxy::http_connect::ConnectError;
use tidings_core::proxy::socks5::Socks5Error;

/// Why a proxy could not open a tunnel to the target.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy URL (given, or from the environment) is not usable.
    #[error("invalid proxy URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The HTTP proxy refused the `CONNECT`.
    #[error("HTTP proxy {proxy}: {error}")]
    Connect {
        /// The proxy's `host:port`.
        proxy: String,
        /// What it answered.
        error: ConnectError,
    },
    /// The HTTP proxy's response head could not be parsed.
    #[error("HTTP proxy {proxy}: bad response head: {error}")]
    Head {
        /// The proxy's `host:port`.
        proxy: String,
        /// The parse error.
        error: HeadError,
    },
    /// The SOCKS5 handshake failed.
    #[error("proxy {proxy}: {error}")]
    Socks5 {
        /// The proxy's `host:port`.
        proxy: String,
        /// What went wrong.
        error: Socks5Error,
    },
    /// The HTTP proxy sent bytes after its response, before the target
    /// could have spoken.
    #[error("HTTP proxy {proxy} sent unexpected bytes after its response")]
    UnexpectedBytes {
        /// The proxy's `host:port`.
        proxy: String,
    },
}

impl ProxyError {
    /// Whether trying again later may help (the proxy refused for a reason
    /// other than credentials or configuration, e.g. 502 or "host
    /// unreachable").
    pub fn is_transient(&self) -> bool {
        match self {
            ProxyError::Connect {
                error: ConnectError::Refused { status },
                ..
            } => status.is_server_error(),
            ProxyError::Socks5 {
                error: Socks5Error::Refused(code),
                ..
            } => matches!(code, 1 | 3 | 4 | 5 | 6),
            _ => false,
        }
    }
}
