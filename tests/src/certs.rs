//! Test certificates, made fresh by each test with rcgen: a CA, and leaves
//! it signs for `127.0.0.1` / `localhost` (or other names, or already
//! expired), as rustls types and as PEM text for the files the examples
//! and the Python and Node peers read.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate authority the tests trust (add [`TestCa::cert_der`] to a
/// client's roots).
pub struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
}

/// A leaf certificate with its private key, signed by a [`TestCa`].
pub struct TestCert {
    /// The leaf certificate, DER.
    pub cert_der: CertificateDer<'static>,
    /// The leaf certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 DER.
    pub key_der: PrivatePkcs8KeyDer<'static>,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
}

impl TestCert {
    /// The chain (leaf only) and key, as a rustls server configuration
    /// takes them.
    pub fn chain_and_key(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (
            vec![self.cert_der.clone()],
            PrivateKeyDer::Pkcs8(self.key_der.clone_key()),
        )
    }
}

impl TestCa {
    /// A new CA ("tidings test CA").
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params
            .distinguished_name
            .push(DnType::CommonName, "tidings test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        TestCa {
            cert_der: cert.der().clone(),
            cert_pem: cert.pem(),
            params,
            key,
        }
    }

    /// The CA certificate, DER (a client's trust root).
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A root store holding this CA only.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.cert_der())
            .expect("CA certificate as a root");
        roots
    }

    /// A leaf for `127.0.0.1` and `localhost`, valid now.
    pub fn leaf(&self) -> TestCert {
        self.leaf_for(&["127.0.0.1", "localhost"])
    }

    /// A leaf for these names (IP addresses become IP SANs), valid now.
    pub fn leaf_for(&self, names: &[&str]) -> TestCert {
        self.sign(names, false)
    }

    /// A leaf for `127.0.0.1` and `localhost` that expired yesterday.
    pub fn expired_leaf(&self) -> TestCert {
        self.sign(&["127.0.0.1", "localhost"], true)
    }

    fn sign(&self, names: &[&str], expired: bool) -> TestCert {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, "tidings test leaf");
        if expired {
            let now = rcgen::date_time_ymd(2000, 1, 1);
            params.not_before = now;
            params.not_after = rcgen::date_time_ymd(2000, 1, 2);
        }
        let key = KeyPair::generate().expect("leaf key");
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("leaf certificate");
        TestCert {
            cert_der: cert.der().clone(),
            cert_pem: cert.pem(),
            key_der: PrivatePkcs8KeyDer::from(key.serialize_der()),
            key_pem: key.serialize_pem(),
        }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaf_verifies_against_its_ca_and_not_another() {
        let provider = tidings_framework::tls::provider();
        let ca = TestCa::new();
        let leaf = ca.leaf();
        let verify = |roots: rustls::RootCertStore| {
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                std::sync::Arc::new(roots),
                provider.clone(),
            )
            .build()
            .unwrap();
            let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
            rustls::client::danger::ServerCertVerifier::verify_server_cert(
                &*verifier,
                &leaf.cert_der,
                &[],
                &name,
                &[],
                rustls_pki_types::UnixTime::now(),
            )
        };
        assert!(verify(ca.root_store()).is_ok());
        assert!(verify(TestCa::new().root_store()).is_err());
        let expired = ca.expired_leaf();
        assert_ne!(expired.cert_der, leaf.cert_der);
    }
}
