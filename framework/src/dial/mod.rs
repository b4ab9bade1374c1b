//! How the clients reach a server: TCP, then a proxy tunnel if configured
//! ([`ProxyConfig`]), then TLS for `wss://` and `https://` (with the
//! features `ring` or `aws-lc-rs`; see the `tls` module). The WebSocket
//! client and the [`EventSource`](crate::event_source::EventSource) share
//! this path, bounded as a whole by their `connect_timeout`.
//!
//! Errors come out as [`Error::Tls`](crate::Error::Tls) /
//! [`Error::Proxy`](crate::Error::Proxy) for the WebSocket client and the
//! matching [`EventSourceError`](crate::event_source::EventSourceError)
//! variants; a [`TlsError`]'s text names the certificate problem.

mod failure;
mod proxy;
mod proxy_error;
mod stream;

use std::net::SocketAddr;
use std::time::Duration;

pub use crate::tls_error::{TlsError, TlsErrorKind};
pub(crate) use failure::DialError;
pub use proxy::{Proxy, ProxyConfig, ProxyKind};
pub use proxy_error::ProxyError;
pub(crate) use stream::ClientStream;

use crate::io_util::with_deadline;
use crate::runtime::Net;

/// Where to dial and how: the target, the proxies, the TLS configuration.
pub(crate) struct Dial<'a> {
    /// The target's host (no brackets for IPv6).
    pub(crate) host: &'a str,
    /// The target's port.
    pub(crate) port: u16,
    /// Whether to run TLS over the connection (`wss`, `https`).
    pub(crate) tls: bool,
    /// The proxies, if any.
    pub(crate) proxy: Option<&'a ProxyConfig>,
    /// The TLS configuration (the default one when `None`).
    #[cfg(feature = "_tls")]
    pub(crate) tls_config: Option<&'a std::sync::Arc<rustls::ClientConfig>>,
    /// The bound on TCP connect, proxy handshake and TLS handshake together.
    pub(crate) timeout: Duration,
}

/// A dialed stream with the peer and local addresses of its TCP connection
/// (the proxy's when tunnelled).
pub(crate) type Dialed<S> = (ClientStream<S>, (Option<SocketAddr>, Option<SocketAddr>));

impl Dial<'_> {
    /// Connects: TCP (to the proxy if one applies), the tunnel, TLS.
    pub(crate) async fn connect<N: Net + Default>(&self) -> Result<Dialed<N::Stream>, DialError> {
        #[cfg(not(feature = "_tls"))]
        if self.tls {
            return Err(DialError::Tls(TlsError::new(
                TlsErrorKind::NotCompiled,
                format!("{}:{}", self.host, self.port),
                "",
            )));
        }
        let rt = N::default();
        let deadline = rt.now() + self.timeout;
        with_deadline(&rt, deadline, self.connect_unbounded::<N>())
            .await
            .map_err(|_| DialError::Timeout)?
    }

    async fn connect_unbounded<N: Net>(&self) -> Result<Dialed<N::Stream>, DialError> {
        let proxy = self
            .proxy
            .and_then(|config| config.for_target(self.host, self.tls));
        let stream = match proxy {
            Some(proxy) => {
                let tcp = N::connect(proxy.host(), proxy.port()).await?;
                proxy::tunnel(tcp, proxy, self.host, self.port).await?
            }
            None => N::connect(self.host, self.port).await?,
        };
        let addrs = N::addrs(&stream);
        #[cfg(feature = "_tls")]
        if self.tls {
            let tls = crate::tls::client::handshake(stream, self.host, self.tls_config)
                .await
                .map_err(|error| match error {
                    crate::tls::client::HandshakeError::Io(error) => DialError::Io(error),
                    crate::tls::client::HandshakeError::Tls(error) => DialError::Tls(error),
                })?;
            return Ok((ClientStream::Tls(Box::new(tls)), addrs));
        }
        Ok((ClientStream::Plain(stream), addrs))
    }
}
