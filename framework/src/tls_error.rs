//! Why a TLS connection could not be set up, with the cause in words
//! (compiled with or without TLS: a build without it names that as the
//! cause).

use std::fmt;

/// The cause of a [`TlsError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The server's certificate has expired.
    Expired,
    /// The server's certificate is not valid yet (or the local clock is
    /// wrong).
    NotYetValid,
    /// The certificate is not valid for the host name connected to (wrong
    /// host, or a certificate made for other names).
    NameMismatch,
    /// The certificate chain does not lead to a trusted root: self-signed,
    /// a private CA that is not in the trust roots, or a missing
    /// intermediate.
    UnknownIssuer,
    /// The certificate has been revoked.
    Revoked,
    /// Another certificate problem (bad signature, wrong key usage, bad
    /// encoding, …).
    BadCertificate,
    /// The TLS handshake failed for a reason other than the certificate
    /// (no common protocol version or cipher suite, an alert from the
    /// server, a protocol error).
    Handshake,
    /// No trust roots are available: tidings was built without the
    /// `webpki-roots` and `native-roots` features, or the operating system
    /// store is empty, and no `rustls::ClientConfig` was given.
    NoTrustRoots,
    /// The host is not a valid TLS server name (DNS name or IP address).
    InvalidServerName,
    /// The URL needs TLS, and this build of tidings has none (neither the
    /// `ring` nor the `aws-lc-rs` feature).
    NotCompiled,
}

/// A TLS connection to a server failed; the [`Display`](fmt::Display) text
/// names the cause (expired certificate, wrong host, unknown issuer, …)
/// and the host.
///
/// ```
/// # use tidings_framework::dial::{TlsError, TlsErrorKind};
/// let error = TlsError::new(TlsErrorKind::Expired, "example.com", "");
/// assert_eq!(error.to_string(), "TLS: the certificate of example.com has expired");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsError {
    kind: TlsErrorKind,
    host: String,
    detail: String,
}

impl TlsError {
    /// An error of `kind` connecting to `host`; `detail` (may be empty) is
    /// appended in parentheses (e.g. rustls's own text).
    pub fn new(kind: TlsErrorKind, host: impl Into<String>, detail: impl Into<String>) -> Self {
        TlsError {
            kind,
            host: host.into(),
            detail: detail.into(),
        }
    }

    /// The same error for `host` (errors of the shared default
    /// configuration are made without one).
    #[cfg_attr(not(feature = "_tls"), allow(dead_code))]
    pub(crate) fn with_host(mut self, host: &str) -> Self {
        host.clone_into(&mut self.host);
        self
    }

    /// The cause.
    pub fn kind(&self) -> TlsErrorKind {
        self.kind
    }

    /// The host connected to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether the server's certificate was refused (any of the
    /// certificate kinds: expired, not yet valid, wrong name, unknown
    /// issuer, revoked, bad).
    pub fn is_certificate_error(&self) -> bool {
        matches!(
            self.kind,
            TlsErrorKind::Expired
                | TlsErrorKind::NotYetValid
                | TlsErrorKind::NameMismatch
                | TlsErrorKind::UnknownIssuer
                | TlsErrorKind::Revoked
                | TlsErrorKind::BadCertificate
        )
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = &self.host;
        match self.kind {
            TlsErrorKind::Expired => write!(f, "TLS: the certificate of {host} has expired")?,
            TlsErrorKind::NotYetValid => write!(
                f,
                "TLS: the certificate of {host} is not valid yet (check the clock)"
            )?,
            TlsErrorKind::NameMismatch => write!(
                f,
                "TLS: the certificate presented by {host} is not valid for that name (wrong host)"
            )?,
            TlsErrorKind::UnknownIssuer => write!(
                f,
                "TLS: the certificate of {host} has an unknown issuer (not signed by a trusted root)"
            )?,
            TlsErrorKind::Revoked => write!(f, "TLS: the certificate of {host} has been revoked")?,
            TlsErrorKind::BadCertificate => {
                write!(f, "TLS: the certificate of {host} was refused")?;
            }
            TlsErrorKind::Handshake => write!(f, "TLS: the handshake with {host} failed")?,
            TlsErrorKind::NoTrustRoots => write!(
                f,
                "TLS: no trust roots to check {host} against: enable the `webpki-roots` or \
                 `native-roots` feature, or give a rustls ClientConfig"
            )?,
            TlsErrorKind::InvalidServerName => {
                write!(f, "TLS: {host:?} is not a valid server name")?;
            }
            TlsErrorKind::NotCompiled => write!(
                f,
                "{host} needs TLS, which this build of tidings does not include \
                 (enable the `ring` or `aws-lc-rs` feature)"
            )?,
        }
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for TlsError {}
