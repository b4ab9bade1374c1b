//! A fresh certificate for WebTransport examples: self-signed, ECDSA
//! P-256, valid for less than 14 days, so that browsers accept it by its
//! hash (`serverCertificateHashes`) without a trusted CA.
//!
//! Not an example itself: the `wt_echo` examples (through `wt_echo.rs`)
//! and the chat declare it with a `#[path]` module.

use std::time::{SystemTime, UNIX_EPOCH};

use tidings_framework::tls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer,
};

/// A self-signed ECDSA P-256 certificate for `localhost` and `127.0.0.1`,
/// valid from yesterday for 11 days.
pub(crate) fn certificate()
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
pub(crate) fn sha256(der: &[u8]) -> String {
    let provider = tidings_framework::tls::provider();
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
