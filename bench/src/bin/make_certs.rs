//! Writes the certificates of the TLS runs: `make_certs DIR` writes
//! DIR/ca.pem (the CA the load generator trusts), DIR/cert.pem (an ECDSA
//! P-256 leaf for 127.0.0.1 signed by it) and DIR/key.pem (its PKCS#8 key).
//! Every TLS server of a run serves the same leaf.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: make_certs DIR"));
    std::fs::create_dir_all(&dir).expect("create DIR");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.distinguished_name
        .push(DnType::CommonName, "tidings bench CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("leaf params")
        .signed_by(&leaf_key, &Issuer::from_params(&ca, &ca_key))
        .expect("leaf certificate");
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("write {name}: {e}"))
    };
    write("ca.pem", ca_cert.pem());
    write("cert.pem", leaf.pem());
    write("key.pem", leaf_key.serialize_pem());
}
