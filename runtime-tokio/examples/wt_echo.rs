//! WebTransport echo server on path `/echo`: each bidirectional stream is
//! echoed on itself, each incoming unidirectional stream on a new
//! unidirectional stream, each datagram as a datagram.
//!
//! `cargo run --release -p tidings-tokio --example wt_echo -- [ADDR]`
//! (UDP, default `127.0.0.1:4433`). It makes a fresh self-signed ECDSA
//! P-256 certificate valid for 11 days (browsers accept
//! `serverCertificateHashes` for less than 14), and prints
//! `listening on ADDR`, `certificate sha256 HEX` (the hash for
//! `serverCertificateHashes`), and `session closed: ...` for each session.

#[path = "common/wt_echo.rs"]
mod wt_echo;

use tidings_tokio::webtransport::{self, Config};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (addr, tls, hash) = wt_echo::setup()?;
    let server = webtransport::bind(addr, tls, Config::default())?.route("/echo", wt_echo::echo);
    wt_echo::started(&server, &hash)?;
    let closer = server.closer();
    tokio::spawn(async move {
        if let Ok(signal) = tidings_tokio::shutdown_signal() {
            signal.await;
            closer.close();
        }
    });
    server.run().await;
    Ok(())
}
