//! What the `wt_echo` examples share: the address argument, a fresh
//! certificate (self-signed, ECDSA P-256, valid for less than 14 days:
//! browsers accept such a certificate by its hash,
//! `serverCertificateHashes`), the lines printed at start, and the echo
//! handler printing how each session ended.

use std::net::SocketAddr;
use std::sync::Arc;

use tidings_framework::tls::rustls;
use tidings_framework::webtransport::{self, Session, WebTransportServer};

#[path = "wt_cert.rs"]
mod wt_cert;
use wt_cert::{certificate, sha256};

/// The UDP address (first argument, default `127.0.0.1:4433`), the TLS
/// configuration with a fresh certificate, and that certificate's SHA-256
/// in hex.
pub(crate) fn setup()
-> Result<(SocketAddr, rustls::ServerConfig, String), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4433".into())
        .parse()?;
    let (cert, key) = certificate()?;
    let hash = sha256(&cert);
    Ok((addr, webtransport::server_config(vec![cert], key)?, hash))
}

/// Prints `listening on ADDR` and `certificate sha256 HEX`.
pub(crate) fn started(server: &WebTransportServer, hash: &str) -> std::io::Result<()> {
    println!("listening on {}", server.local_addr()?);
    println!("certificate sha256 {hash}");
    Ok(())
}

/// The framework's echo, printing how each session ended.
pub(crate) async fn echo(session: Session) {
    let end = webtransport::echo_until_closed(Arc::new(session)).await;
    println!("session closed: {end:?}");
}
