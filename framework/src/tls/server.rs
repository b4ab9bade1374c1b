//! TLS for the server: [`ServerTls`], the certificate (or whole rustls
//! configuration) a server serves `https://` and `wss://` with, replaceable
//! while the server runs; and the handshake each connection's task runs
//! before reading its request.
//!
//! The handshake itself is rustls', driven by futures-rustls over the
//! accepted socket. What tidings adds around it: the first byte is checked
//! before rustls sees it (a TLS connection starts with a handshake record,
//! `0x16`), so plaintext sent to the TLS port is closed at once instead of
//! waiting for the handshake timeout — an `http://` request gets a short
//! `400` saying the port speaks TLS, anything else is closed without a
//! word; and every failure gets a reason ([`TlsFailure`]) for the
//! statistics and the log.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};

use futures_rustls::TlsAcceptor;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[cfg(feature = "http2")]
use super::ALPN_H2;
use super::{ALPN_HTTP_1_1, provider};
use crate::hub::TlsFailure;
use crate::io_util::{close, write_all};
use crate::runtime::Transport;

/// The certificate a server serves TLS with, or a whole
/// [`rustls::ServerConfig`]; set it with
/// [`ServerConfig::tls`](crate::server::ServerConfig::tls).
///
/// From PEM files, one line:
///
/// ```no_run
/// # async fn demo<N: tidings_framework::runtime::Net + Default>() -> Result<(), Box<dyn std::error::Error>> {
/// use tidings_framework::server::{Router, Server, ServerConfig};
/// use tidings_framework::tls::ServerTls;
///
/// let config = ServerConfig::default().tls(ServerTls::from_pem_files("cert.pem", "key.pem")?);
/// let server = Server::<N>::bind_with("0.0.0.0:443", Router::new(), config).await?;
/// server.run().await;
/// # Ok(()) }
/// ```
///
/// (With an adapter: `tidings_tokio::tls::ServerTls`, and `Server::bind_with`.)
///
/// The configuration tidings builds ([`server_config`]) uses the crypto
/// provider of [`provider()`](super::provider), TLS 1.3 and 1.2 with
/// rustls' safe defaults, no client certificates, and advertises
/// `h2` (with the `http2` feature) and [`ALPN_HTTP_1_1`]. For anything else — client certificates, other
/// protocol versions or cipher suites, several certificates chosen by SNI
/// (a [`ResolvesServerCert`](rustls::server::ResolvesServerCert) of your
/// own, which you may also swap certificates in yourself) — build a
/// `rustls::ServerConfig` and hand it to [`ServerTls::from_config`]; start
/// from `rustls::ServerConfig::builder_with_provider(tidings_framework::tls::provider())`
/// (never `ServerConfig::builder()`, which needs a process-wide provider),
/// or from [`server_config`] and change its fields. tidings serves HTTP/1.1
/// and, with the `http2` feature, HTTP/2 (`h2`): advertise no other ALPN
/// protocol (a connection that negotiates one is closed).
///
/// # Replacing the certificate while the server runs
///
/// A `ServerTls` is a handle: clones share one current configuration, and
/// every new connection takes the one current when its handshake starts.
/// [`reload_pem_files`](Self::reload_pem_files) (or [`reload_pem`](Self::reload_pem),
/// [`set_certificate`](Self::set_certificate), [`set_config`](Self::set_config))
/// replaces it: connections already open, or in their handshake, keep the
/// one they started with. Keep a clone, or reach it through
/// [`ServerHandle::tls`](crate::server::ServerHandle::tls):
///
/// ```no_run
/// # fn demo<N: tidings_framework::runtime::Net>(handle: tidings_framework::server::ServerHandle<N>) {
/// // e.g. on SIGHUP, or when the ACME client has renewed the certificate:
/// if let Some(tls) = handle.tls() {
///     match tls.reload_pem_files("cert.pem", "key.pem") {
///         Ok(()) => println!("new certificate in use"),
///         // The old certificate stays in use.
///         Err(error) => eprintln!("certificate not reloaded: {error}"),
///     }
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct ServerTls {
    current: Arc<RwLock<Arc<rustls::ServerConfig>>>,
}

impl ServerTls {
    /// A certificate chain (leaf first) and its private key from PEM files,
    /// e.g. `fullchain.pem` and `privkey.pem` as ACME clients write them.
    /// The key may be PKCS#8, PKCS#1 (RSA) or SEC1 (EC); it must match the
    /// leaf certificate.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, ServerTlsError> {
        let (chain, key) = read_pem_files(cert.as_ref(), key.as_ref())?;
        Self::from_der(chain, key)
    }

    /// A certificate chain (leaf first) and its private key from PEM text.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, ServerTlsError> {
        let (chain, key) = parse_pem(cert_pem, "certificate PEM", key_pem, "key PEM")?;
        Self::from_der(chain, key)
    }

    /// A certificate chain (leaf first) and its private key, DER.
    pub fn from_der(
        cert_chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, ServerTlsError> {
        Ok(Self::from_config(Arc::new(server_config(cert_chain, key)?)))
    }

    /// A rustls configuration of your own, used as it is (see the
    /// [type docs](Self) for what it should advertise).
    pub fn from_config(config: Arc<rustls::ServerConfig>) -> Self {
        ServerTls {
            current: Arc::new(RwLock::new(config)),
        }
    }

    /// The configuration new connections get now.
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the whole configuration for new connections.
    pub fn set_config(&self, config: Arc<rustls::ServerConfig>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = config;
    }

    /// Replaces the certificate for new connections with the chain and key
    /// in these PEM files, keeping the rest of the configuration. On error
    /// nothing changes.
    ///
    /// The configuration's certificate resolver is replaced by one that
    /// always answers with this certificate: a configuration with a
    /// resolver of its own (e.g. by SNI) swaps its certificates itself, or
    /// through [`set_config`](Self::set_config).
    pub fn reload_pem_files(
        &self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<(), ServerTlsError> {
        let (chain, key) = read_pem_files(cert.as_ref(), key.as_ref())?;
        self.set_certificate(chain, key)
    }

    /// [`reload_pem_files`](Self::reload_pem_files) from PEM text.
    pub fn reload_pem(&self, cert_pem: &[u8], key_pem: &[u8]) -> Result<(), ServerTlsError> {
        let (chain, key) = parse_pem(cert_pem, "certificate PEM", key_pem, "key PEM")?;
        self.set_certificate(chain, key)
    }

    /// [`reload_pem_files`](Self::reload_pem_files) from DER.
    pub fn set_certificate(
        &self,
        cert_chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<(), ServerTlsError> {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let certified = certified_key(cert_chain, key, current.crypto_provider())?;
        let mut config = rustls::ServerConfig::clone(&current);
        config.cert_resolver = Arc::new(SingleCertAndKey::from(certified));
        *current = Arc::new(config);
        Ok(())
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = self.config();
        f.debug_struct("ServerTls")
            .field(
                "alpn_protocols",
                &config
                    .alpn_protocols
                    .iter()
                    .map(|protocol| String::from_utf8_lossy(protocol))
                    .collect::<Vec<_>>(),
            )
            // Not the resolver: its Debug prints whole certificates.
            .finish_non_exhaustive()
    }
}

/// The configuration [`ServerTls::from_der`] builds: the crypto provider
/// of [`provider()`](super::provider), TLS 1.3 and 1.2 (rustls' safe
/// defaults), no client authentication, this certificate for every
/// connection, ALPN `h2` (feature `http2`) then [`ALPN_HTTP_1_1`]. A
/// starting point for a configuration
/// of your own ([`ServerTls::from_config`]).
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, ServerTlsError> {
    let provider = provider();
    let certified = certified_key(cert_chain, key, &provider)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    #[cfg(feature = "http2")]
    config.alpn_protocols.insert(0, ALPN_H2.to_vec());
    Ok(config)
}

/// The chain and key as rustls signs with them; fails if the key is not
/// one the provider supports or does not match the leaf.
pub(crate) fn certified_key(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<CertifiedKey, ServerTlsError> {
    if cert_chain.is_empty() {
        return Err(ServerTlsError::NoCertificate(
            "the certificate chain".into(),
        ));
    }
    Ok(CertifiedKey::from_der(cert_chain, key, provider)?)
}

fn read_pem_files(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ServerTlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| ServerTlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let (cert_pem, key_pem) = (read(cert)?, read(key)?);
    parse_pem(
        &cert_pem,
        &cert.display().to_string(),
        &key_pem,
        &key.display().to_string(),
    )
}

/// Every certificate of `cert_pem`, in order, and the first private key of
/// `key_pem`; `cert_name` and `key_name` name them in errors.
fn parse_pem(
    cert_pem: &[u8],
    cert_name: &str,
    key_pem: &[u8],
    key_name: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ServerTlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| ServerTlsError::Pem {
            name: cert_name.to_owned(),
            source,
        })?;
    if chain.is_empty() {
        return Err(ServerTlsError::NoCertificate(cert_name.to_owned()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|source| match source {
        rustls_pki_types::pem::Error::NoItemsFound => {
            ServerTlsError::NoPrivateKey(key_name.to_owned())
        }
        source => ServerTlsError::Pem {
            name: key_name.to_owned(),
            source,
        },
    })?;
    Ok((chain, key))
}

/// A certificate or key that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerTlsError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Malformed PEM text.
    #[error("{name}: malformed PEM: {source}")]
    Pem {
        /// The file (or "certificate PEM", "key PEM").
        name: String,
        /// What is wrong with it.
        source: rustls_pki_types::pem::Error,
    },
    /// The certificate PEM holds no certificate (or the chain is empty).
    #[error("{0}: no certificate found")]
    NoCertificate(String),
    /// The key PEM holds no private key (PKCS#8, PKCS#1 or SEC1).
    #[error("{0}: no private key found")]
    NoPrivateKey(String),
    /// rustls refused the key or the certificate: a key type the crypto
    /// provider does not support, a key that does not match the leaf
    /// certificate, …
    #[error("certificate or key refused: {0}")]
    Rustls(#[from] rustls::Error),
}

impl From<ServerTlsError> for io::Error {
    fn from(error: ServerTlsError) -> Self {
        let kind = match &error {
            ServerTlsError::Read { source, .. } => source.kind(),
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, error)
    }
}

// --- The handshake -------------------------------------------------------

/// A server's TLS stream over a socket of type `T`.
pub(crate) type TlsStream<T> = futures_rustls::server::TlsStream<Sniffed<T>>;

/// A failed handshake: the reason counted in the statistics and the error
/// logged.
#[derive(Debug)]
pub(crate) struct HandshakeFailure {
    pub(crate) reason: TlsFailure,
    pub(crate) error: io::Error,
}

/// Runs the server's side of a TLS handshake on `io` with `config`.
/// Plaintext is told apart by its first byte and closed at once (an HTTP
/// request first gets a `400` saying this port speaks TLS). Has no deadline
/// of its own: the caller runs it under the connection's handshake
/// deadline.
pub(crate) async fn accept<T: Transport>(
    config: Arc<rustls::ServerConfig>,
    io: T,
) -> Result<TlsStream<T>, HandshakeFailure> {
    let sniffed = Sniffed {
        io,
        first: First::Unread,
    };
    let (error, mut io) = match TlsAcceptor::from(config)
        .accept(sniffed)
        .into_fallible()
        .await
    {
        Ok(stream) => return check_alpn(stream),
        Err(failed) => failed,
    };
    let reason = match io.first {
        First::Http => {
            let _ = write_all(&mut io, PLAINTEXT_RESPONSE).await;
            TlsFailure::NotTls
        }
        First::Other => TlsFailure::NotTls,
        First::Unread | First::Handshake => classify(&error),
    };
    close(&mut io).await;
    Err(HandshakeFailure { reason, error })
}

/// The answer to an HTTP request sent to the TLS port.
const PLAINTEXT_RESPONSE: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
    Content-Type: text/plain; charset=utf-8\r\n\
    Content-Length: 47\r\n\
    Connection: close\r\n\r\n\
    This port speaks TLS: use https:// or wss://.\r\n";

/// The stream, if it negotiated HTTP/1.1, HTTP/2 (feature `http2`) or no
/// application protocol.
fn check_alpn<T>(stream: TlsStream<T>) -> Result<TlsStream<T>, HandshakeFailure> {
    match stream.get_ref().1.alpn_protocol() {
        None | Some(ALPN_HTTP_1_1) => Ok(stream),
        // Served by `server::h2` (the connection's task looks again).
        #[cfg(feature = "http2")]
        Some(ALPN_H2) => Ok(stream),
        Some(other) => Err(HandshakeFailure {
            reason: TlsFailure::Protocol,
            error: io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the client chose ALPN protocol {:?}, which tidings does not serve",
                    String::from_utf8_lossy(other)
                ),
            ),
        }),
    }
}

/// The reason of a failure that was not plaintext.
fn classify(error: &io::Error) -> TlsFailure {
    let tls_error = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match (tls_error, error.kind()) {
        (Some(rustls::Error::AlertReceived(_)), _) => TlsFailure::PeerAlert,
        (Some(_), _) => TlsFailure::Protocol,
        (
            None,
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe,
        ) => TlsFailure::Closed,
        (None, _) => TlsFailure::Io,
    }
}

/// What the first byte read from a TLS socket was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum First {
    Unread,
    /// `0x16`, a TLS handshake record.
    Handshake,
    /// An upper-case ASCII letter: the start of an HTTP method.
    Http,
    /// Anything else.
    Other,
}

/// A socket whose first byte is checked as it passes to rustls: anything
/// but a TLS handshake record fails the read, so plaintext ends the
/// handshake at once instead of at the timeout. One byte of state; after
/// the first read it is a plain pass-through.
#[derive(Debug)]
pub(crate) struct Sniffed<T> {
    io: T,
    first: First,
}

/// The content type of a TLS handshake record (RFC 8446, 5.1).
const HANDSHAKE_RECORD: u8 = 0x16;

impl<T: Transport> futures_io::AsyncRead for Sniffed<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(n)) => n,
            other => return other,
        };
        if this.first != First::Unread {
            return Poll::Ready(Ok(n));
        }
        let Some(&byte) = buf.get(..n).and_then(<[u8]>::first) else {
            return Poll::Ready(Ok(n));
        };
        if byte == HANDSHAKE_RECORD {
            this.first = First::Handshake;
            return Poll::Ready(Ok(n));
        }
        this.first = if byte.is_ascii_uppercase() {
            First::Http
        } else {
            First::Other
        };
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not TLS: the first byte is {byte:#04x}, not a handshake record"),
        )))
    }
}

impl<T: Transport> futures_io::AsyncWrite for Sniffed<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plaintext_answer_has_the_length_it_says() {
        let text = std::str::from_utf8(PLAINTEXT_RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }

    #[test]
    fn pem_errors_name_the_file_and_the_problem() {
        let error = ServerTls::from_pem(b"", b"").unwrap_err();
        assert_eq!(error.to_string(), "certificate PEM: no certificate found");
        let error =
            ServerTls::from_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("cannot read /nonexistent/cert.pem: "),
            "{error}"
        );
        assert_eq!(io::Error::from(error).kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn failures_are_classified_by_their_cause() {
        let tls = |error: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, error);
        assert_eq!(
            classify(&tls(rustls::Error::AlertReceived(
                rustls::AlertDescription::UnknownCA
            ))),
            TlsFailure::PeerAlert
        );
        assert_eq!(
            classify(&tls(rustls::Error::InvalidMessage(
                rustls::InvalidMessage::InvalidContentType
            ))),
            TlsFailure::Protocol
        );
        assert_eq!(
            classify(&io::ErrorKind::UnexpectedEof.into()),
            TlsFailure::Closed
        );
        assert_eq!(
            classify(&io::ErrorKind::ConnectionReset.into()),
            TlsFailure::Closed
        );
        assert_eq!(classify(&io::ErrorKind::Other.into()), TlsFailure::Io);
    }
}
