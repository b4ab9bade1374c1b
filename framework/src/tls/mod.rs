//! TLS for the server (`https://`, `wss://`) and the clients, with
//! [rustls] 0.23 (features `ring`, on by default, or `aws-lc-rs`).
//!
//! # The crypto provider is chosen here, never globally
//!
//! rustls 0.23 needs a [`CryptoProvider`]. The usual builder,
//! `rustls::ServerConfig::builder()`, takes the *process-wide* default and
//! panics when none is installed, or when two providers are compiled in and
//! neither was installed ("no process-level CryptoProvider available").
//! tidings never calls it: every configuration tidings builds starts from
//! [`provider()`], the provider this crate was compiled with (aws-lc-rs when
//! the `aws-lc-rs` feature is on, *ring* otherwise). A configuration the
//! user builds and hands over keeps the provider the user chose.
//!
//! *ring* has no post-quantum key exchange (rustls 0.23.48 deprecates its
//! provider for that reason); the `aws-lc-rs` feature adds the hybrid
//! X25519MLKEM768 group, preferred by current browsers, at the price of a
//! larger C build.
//!
//! # Why TLS is on by default
//!
//! Almost every public WebSocket and SSE endpoint is `wss://` /
//! `https://`, and a page served over https may only open `wss://`. *ring*
//! builds with a C compiler and nothing else, on every platform rustls
//! supports. A build without TLS: `default-features = false` on the adapter
//! crate, then pick the features back.
//!
//! # What this module does not do
//!
//! - It implements no cryptography and no TLS state machine: that is
//!   rustls, driven over `futures-io` streams by [futures-rustls].
//! - It does not install a process-wide crypto provider, and does not read
//!   one.
//!
//! [futures-rustls]: https://docs.rs/futures-rustls

pub mod client;
pub(crate) mod server;

use std::sync::Arc;

pub use client::{client_config, default_client_config};
pub use rustls;

pub use crate::tls_error::{TlsError, TlsErrorKind};
use rustls::crypto::CryptoProvider;
pub(crate) use server::{HandshakeFailure, TlsStream, accept};
pub use server::{ServerTls, ServerTlsError, server_config};

/// The crypto provider tidings builds its TLS configurations with: aws-lc-rs
/// with the `aws-lc-rs` feature, *ring* otherwise. Never the process-wide
/// default (see the [module docs](self)).
///
/// ```
/// let provider = tidings_framework::tls::provider();
/// assert!(!provider.cipher_suites.is_empty());
/// ```
pub fn provider() -> Arc<CryptoProvider> {
    #[cfg(feature = "aws-lc-rs")]
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(not(feature = "aws-lc-rs"))]
    #[allow(
        deprecated,
        reason = "rustls 0.23.48 deprecates it for lacking post-quantum key exchange; *ring* stays the default for its plain C build, the `aws-lc-rs` feature gives X25519MLKEM768"
    )]
    let provider = rustls::crypto::ring::default_provider();
    Arc::new(provider)
}

/// The application protocol (ALPN) of HTTP/1.1, which tidings' clients
/// offer and its server advertises (after `h2` with the `http2`
/// feature).
pub const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// The ALPN protocol id of HTTP/2, which [`server_config`] offers first
/// (feature `http2`; see [`Http2Config`](crate::server::Http2Config)).
#[cfg(feature = "http2")]
pub const ALPN_H2: &[u8] = b"h2";
