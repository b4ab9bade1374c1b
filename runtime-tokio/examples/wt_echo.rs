//! WebTransport echo server on path `/echo`: each bidirectional stream is
//! echoed on itself, each incoming unidirectional stream on a new
//! unidirectional stream, each datagram as a datagram.
//!
//! `cargo run --release -p tidings-tokio --features webtransport --example wt_echo -- [ADDR]`
//! (UDP, default `127.0.0.1:4433`). It makes a fresh self-signed ECDSA
//! P-256 certificate valid for 11 days (browsers accept
//! `serverCertificateHashes` for less than 14), and prints
//! `listening on ADDR`, `certificate sha256 HEX` (the hash for
//! `serverCertificateHashes`), and `session closed: ...` for each session.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tidings_tokio::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tidings_tokio::webtransport::{self, Config, Session};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4433".into())
        .parse()?;
    let (cert, key) = certificate()?;
    let hash = sha256(&cert);
    let tls = webtransport::server_config(vec![cert], key)?;
    let server = webtransport::bind(addr, tls, Config::default())?.route("/echo", echo);
    println!("listening on {}", server.local_addr()?);
    println!("certificate sha256 {hash}");
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

/// The framework's echo, printing how each session ended.
async fn echo(session: Session) {
    let end = webtransport::echo_until_closed(Arc::new(session)).await;
    println!("session closed: {end:?}");
}

/// A self-signed ECDSA P-256 certificate for `localhost` and `127.0.0.1`,
/// valid from yesterday for 11 days.
fn certificate()
-> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), Box<dyn std::error::Error>> {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let today = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() / 86_400;
    let date = |days| {
        let (y, m, d) = civil(days);
        rcgen::date_time_ymd(y, m, d)
    };
    params.not_before = date(today - 1);
    params.not_after = date(today + 10);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let cert = params.self_signed(&key)?;
    Ok((
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    ))
}

/// The date (year, month, day) of day `days` since 1970-01-01 (Howard
/// Hinnant's civil-from-days).
fn civil(days: u64) -> (i32, u8, u8) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

/// The SHA-256 of `der` in hex, with the crypto provider's hash.
fn sha256(der: &[u8]) -> String {
    let provider = tidings_tokio::tls::provider();
    let hash = provider
        .cipher_suites
        .iter()
        .filter_map(|suite| suite.tls13())
        .map(|suite| suite.common.hash_provider)
        .find(|hash| hash.output_len() == 32)
        .expect("the provider has SHA-256");
    hash.hash(der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
