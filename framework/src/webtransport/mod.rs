//! WebTransport over HTTP/3 (feature `webtransport`): a standalone server
//! whose routes (paths) each run a handler per [`Session`].
//!
//! QUIC is [quinn]'s; the HTTP/3 and WebTransport protocol is the sans-IO
//! [`tidings_core::webtransport`] state machine, driven by one task per
//! QUIC connection. That task reads the control, QPACK and CONNECT streams
//! and the first bytes of each data stream; once a data stream's header is
//! read, the stream is the session's and its bytes go from quinn straight
//! to the handler.
//!
//! This is the first slice of WebTransport in tidings: a server of its own
//! on a UDP socket ([`WebTransportServer`]), not yet a route of the
//! [`Router`](crate::server::Router), and not yet registered in the hub.
//! The runtime is quinn's ([`quinn::Runtime`]): the adapters hand theirs
//! over (`tidings_tokio::webtransport::bind`).
//!
//! Limits: QUIC's stream limits (`max_streams` per direction and
//! connection), the core's per-session limits ([`Config::core`]), and
//! `queue` per session for streams not yet accepted and datagrams not yet
//! read (datagrams beyond it are dropped).
//!
//! ```no_run
//! # async fn doc(runtime: std::sync::Arc<dyn tidings_framework::webtransport::quinn::Runtime>,
//! #              chain: Vec<tidings_framework::tls::rustls::pki_types::CertificateDer<'static>>,
//! #              key: tidings_framework::tls::rustls::pki_types::PrivateKeyDer<'static>) -> Result<(), Box<dyn std::error::Error>> {
//! use tidings_framework::webtransport::{self, Config, Session, WebTransportServer};
//!
//! let tls = webtransport::server_config(chain, key)?;
//! let server = WebTransportServer::bind("127.0.0.1:4433".parse()?, tls, Config::default(), runtime)?
//!     .route("/echo", |session: Session| async move {
//!         while let Ok(datagram) = session.read_datagram().await {
//!             let _ = session.send_datagram(datagram).await;
//!         }
//!     });
//! server.run().await;
//! # Ok(()) }
//! ```

mod driver;
mod echo;
mod error;
mod input;
mod session;

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub use echo::{echo, echo_until_closed};
pub use error::{Error, SessionEnd};
pub use quinn;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
pub use session::{RecvStream, SendStream, Session};
pub use tidings_core::webtransport::ConnectRequest;

use crate::tls::{ServerTlsError, provider};

/// The ALPN protocol of HTTP/3.
pub const ALPN_H3: &[u8] = b"h3";

/// Settings of a [`WebTransportServer`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// QUIC connections served at once; more are refused.
    pub max_connections: usize,
    /// Streams the peer may open at once per connection, in each direction.
    pub max_streams: u32,
    /// Per session: streams not yet accepted and datagrams not yet read;
    /// also the depth of each connection's command queue.
    pub queue: usize,
    /// A connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// The HTTP/3 and WebTransport limits of the core.
    pub core: tidings_core::webtransport::Config,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_connections: 1024,
            max_streams: 100,
            queue: 64,
            idle_timeout: Duration::from_secs(30),
            core: tidings_core::webtransport::Config::default(),
        }
    }
}

type Handler = Arc<dyn Fn(Session) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// What the connection tasks share.
struct Shared {
    config: Config,
    runtime: Arc<dyn quinn::Runtime>,
    routes: HashMap<String, Handler>,
    connections: AtomicUsize,
}

/// A WebTransport server on one UDP socket: bind, add routes, run.
pub struct WebTransportServer {
    endpoint: quinn::Endpoint,
    config: Config,
    runtime: Arc<dyn quinn::Runtime>,
    routes: HashMap<String, Handler>,
}

impl std::fmt::Debug for WebTransportServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebTransportServer")
            .field("addr", &self.endpoint.local_addr().ok())
            .field("routes", &self.routes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl WebTransportServer {
    /// Binds a UDP socket on `addr` and a QUIC endpoint on it, with `tls`
    /// (TLS 1.3 with ALPN `h3`: see [`server_config`]), on quinn's
    /// `runtime`. Not serving until [`run`](Self::run).
    pub fn bind(
        addr: SocketAddr,
        tls: rustls::ServerConfig,
        config: Config,
        runtime: Arc<dyn quinn::Runtime>,
    ) -> io::Result<Self> {
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_concurrent_bidi_streams(config.max_streams.into())
            .max_concurrent_uni_streams(config.max_streams.into())
            // Datagrams on: peers (aioquic) refuse H3_DATAGRAM unless the
            // QUIC transport parameter max_datagram_frame_size is there.
            .datagram_receive_buffer_size(Some(64 * 1024))
            .max_idle_timeout(Some(
                quinn::IdleTimeout::try_from(config.idle_timeout)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
            ));
        server.transport_config(Arc::new(transport));
        let socket = std::net::UdpSocket::bind(addr)?;
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(server),
            socket,
            runtime.clone(),
        )?;
        Ok(WebTransportServer {
            endpoint,
            config,
            runtime,
            routes: HashMap::new(),
        })
    }

    /// Serves sessions whose CONNECT path (query excluded) is `path` with
    /// `handler`; other paths are answered 404. The session closes when
    /// the handler returns (code 0) unless it was closed before.
    #[must_use]
    pub fn route<H, F>(mut self, path: &str, handler: H) -> Self
    where
        H: Fn(Session) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |session| Box::pin(handler(session)));
        self.routes.insert(path.to_owned(), handler);
        self
    }

    /// The bound UDP address (with the actual port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// A handle that stops the server.
    pub fn closer(&self) -> Closer {
        Closer(self.endpoint.clone())
    }

    /// Accepts QUIC connections and serves them until [`Closer::close`].
    pub async fn run(self) {
        let shared = Arc::new(Shared {
            config: self.config,
            runtime: self.runtime,
            routes: self.routes,
            connections: AtomicUsize::new(0),
        });
        while let Some(incoming) = self.endpoint.accept().await {
            if shared.connections.load(Ordering::Relaxed) >= shared.config.max_connections {
                incoming.refuse();
                continue;
            }
            shared.connections.fetch_add(1, Ordering::Relaxed);
            let task_shared = shared.clone();
            shared.runtime.spawn(Box::pin(async move {
                if let Ok(conn) = incoming.await {
                    driver::run(task_shared.clone(), conn).await;
                }
                task_shared.connections.fetch_sub(1, Ordering::Relaxed);
            }));
        }
    }
}

/// Stops a [`WebTransportServer`]: every connection is closed (code 0)
/// and [`run`](WebTransportServer::run) returns.
#[derive(Clone, Debug)]
pub struct Closer(quinn::Endpoint);

impl Closer {
    /// Closes every connection and the endpoint.
    pub fn close(&self) {
        // H3_NO_ERROR.
        self.0.close(quinn::VarInt::from_u32(0x100), b"");
    }
}

/// A TLS configuration for WebTransport: the certificate chain (leaf
/// first) and key, tidings' [crypto provider](crate::tls::provider),
/// TLS 1.3 only (QUIC needs it), ALPN `h3`.
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, ServerTlsError> {
    let provider = provider();
    let certified = crate::tls::server::certified_key(cert_chain, key, &provider)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    config.alpn_protocols = vec![ALPN_H3.to_vec()];
    Ok(config)
}
