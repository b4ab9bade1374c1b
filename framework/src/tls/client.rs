//! The client side of TLS: the default configuration (trust roots, ALPN
//! `http/1.1`), the handshake over any transport, and certificate errors in
//! words.
//!
//! # Trust roots
//!
//! | features | roots of the default configuration |
//! |---|---|
//! | `webpki-roots` (the default) | Mozilla's root program, compiled in (the [webpki-roots] crate) |
//! | `native-roots` | the operating system's store, read once at the first `wss://` / `https://` connection ([rustls-native-certs]; `SSL_CERT_FILE` / `SSL_CERT_DIR` override it) |
//! | both | the union of the two |
//! | neither | none: connecting fails with [`TlsErrorKind::NoTrustRoots`] unless a configuration is given |
//!
//! `webpki-roots` is the default because it behaves the same everywhere: no
//! dependency on the machine's CA bundle, which minimal containers
//! (`scratch`, distroless, slim images without `ca-certificates`) lack.
//! Choose `native-roots` for enterprise CAs installed in the OS or a store
//! managed by the operating system's updates.
//!
//! A custom [`rustls::ClientConfig`] (private CA, client certificates,
//! pinned keys) is set per client with
//! [`ClientConfig::tls`](crate::client::ClientConfig::tls) or
//! [`EventSourceConfig::tls`](crate::event_source::EventSourceConfig::tls);
//! [`client_config`] builds one with tidings' provider and ALPN from a root
//! store. A configuration given as is keeps its own ALPN list.
//!
//! [webpki-roots]: https://docs.rs/webpki-roots
//! [rustls-native-certs]: https://docs.rs/rustls-native-certs

use std::io;
use std::sync::{Arc, OnceLock};

use futures_rustls::TlsConnector;
use futures_rustls::client::TlsStream;
use rustls::{CertificateError, RootCertStore};
use rustls_pki_types::ServerName;

use super::ALPN_HTTP_1_1;
use crate::runtime::Transport;
use crate::tls_error::{TlsError, TlsErrorKind};

/// A client configuration trusting `roots`, with tidings'
/// [`provider`](super::provider), the safe default protocol versions (TLS
/// 1.3 and 1.2) and ALPN `http/1.1`.
///
/// ```
/// # use tidings_framework::tls::{client_config, rustls};
/// let config = client_config(rustls::RootCertStore::empty());
/// assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
/// ```
pub fn client_config(roots: RootCertStore) -> Arc<rustls::ClientConfig> {
    let mut config = rustls::ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        // Both providers support the default versions (TLS 1.3 and 1.2).
        .expect("the crypto provider supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    Arc::new(config)
}

/// The configuration used when none is given: the roots of the enabled
/// features (see the [module docs](self)), built once per process.
///
/// # Errors
/// [`TlsErrorKind::NoTrustRoots`] when no root is available (no roots
/// feature, or an empty / unreadable operating system store).
pub fn default_client_config() -> Result<Arc<rustls::ClientConfig>, TlsError> {
    static DEFAULT: OnceLock<Result<Arc<rustls::ClientConfig>, TlsError>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| {
            let (roots, problems) = default_roots();
            if roots.is_empty() {
                return Err(TlsError::new(TlsErrorKind::NoTrustRoots, "", problems));
            }
            Ok(client_config(roots))
        })
        .clone()
}

/// The roots of the enabled features, and what went wrong loading them.
fn default_roots() -> (RootCertStore, String) {
    #[cfg_attr(
        not(any(feature = "webpki-roots", feature = "native-roots")),
        allow(unused_mut)
    )]
    let mut roots = RootCertStore::empty();
    #[cfg_attr(not(feature = "native-roots"), allow(unused_mut))]
    let mut problems = String::new();
    #[cfg(feature = "webpki-roots")]
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    #[cfg(feature = "native-roots")]
    {
        let native = rustls_native_certs::load_native_certs();
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        if ignored > 0 || !native.errors.is_empty() {
            tracing::warn!(
                added,
                ignored,
                errors = ?native.errors,
                "some operating system trust roots could not be loaded"
            );
        }
        if let Some(error) = native.errors.first() {
            problems = format!("operating system store: {error}");
        }
    }
    (roots, problems)
}

/// Why [`handshake`] failed.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    /// The connection failed (dropped, reset) during the handshake.
    Io(io::Error),
    /// TLS refused: certificate, protocol, no roots, bad server name.
    Tls(TlsError),
}

/// Runs the TLS handshake for `host` over `io` with `config` (the default
/// configuration when `None`).
pub(crate) async fn handshake<T: Transport>(
    io: T,
    host: &str,
    config: Option<&Arc<rustls::ClientConfig>>,
) -> Result<TlsStream<T>, HandshakeError> {
    let config = match config {
        Some(config) => Arc::clone(config),
        None => {
            default_client_config().map_err(|error| HandshakeError::Tls(error.with_host(host)))?
        }
    };
    let name = ServerName::try_from(host.to_owned()).map_err(|_| {
        HandshakeError::Tls(TlsError::new(TlsErrorKind::InvalidServerName, host, ""))
    })?;
    TlsConnector::from(config)
        .connect(name, io)
        .await
        .map_err(|error| classify(host, error))
}

/// A handshake I/O error: a TLS error in words when rustls refused, plain
/// I/O otherwise (the connection dropped).
fn classify(host: &str, error: io::Error) -> HandshakeError {
    let Some(tls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return HandshakeError::Io(error);
    };
    HandshakeError::Tls(describe(host, tls))
}

/// The [`TlsError`] for a rustls error met connecting to `host`.
pub(crate) fn describe(host: &str, error: &rustls::Error) -> TlsError {
    let kind = match error {
        rustls::Error::InvalidCertificate(certificate) => match certificate {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsErrorKind::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsErrorKind::NotYetValid
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsErrorKind::NameMismatch
            }
            CertificateError::UnknownIssuer => TlsErrorKind::UnknownIssuer,
            CertificateError::Revoked => TlsErrorKind::Revoked,
            _ => TlsErrorKind::BadCertificate,
        },
        _ => TlsErrorKind::Handshake,
    };
    TlsError::new(kind, host, error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_certificate_error_is_named() {
        let cases = [
            (CertificateError::Expired, "has expired"),
            (CertificateError::NotValidForName, "not valid for that name"),
            (CertificateError::UnknownIssuer, "unknown issuer"),
            (CertificateError::Revoked, "revoked"),
            (CertificateError::BadSignature, "was refused"),
        ];
        for (error, words) in cases {
            let text = describe("h.test", &rustls::Error::InvalidCertificate(error)).to_string();
            assert!(text.contains(words) && text.contains("h.test"), "{text}");
        }
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert_eq!(describe("h", &alert).kind(), TlsErrorKind::Handshake);
    }

    #[cfg(any(feature = "webpki-roots", feature = "native-roots"))]
    #[test]
    fn the_default_configuration_has_roots_and_offers_http_1_1() {
        let config = default_client_config().expect("roots from the enabled features");
        assert_eq!(config.alpn_protocols, [ALPN_HTTP_1_1.to_vec()]);
        // Cached: the same configuration each time.
        assert!(Arc::ptr_eq(&config, &default_client_config().unwrap()));
    }

    /// Run with `--no-default-features --features ring`.
    #[cfg(not(any(feature = "webpki-roots", feature = "native-roots")))]
    #[test]
    fn without_a_roots_feature_the_default_configuration_says_so() {
        let error = default_client_config()
            .unwrap_err()
            .with_host("example.com");
        assert_eq!(error.kind(), TlsErrorKind::NoTrustRoots);
        let text = error.to_string();
        assert!(
            text.contains("example.com") && text.contains("`webpki-roots`"),
            "{text}"
        );
    }

    #[test]
    fn an_io_error_without_rustls_inside_stays_io() {
        let error = io::Error::from(io::ErrorKind::ConnectionReset);
        assert!(matches!(classify("h", error), HandshakeError::Io(_)));
    }
}
