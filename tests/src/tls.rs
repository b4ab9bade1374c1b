//! TLS for the tests' clients: futures-rustls over the runtime's TCP
//! stream, trusting a [`TestCa`], with the crypto provider of
//! [`tidings_framework::tls::provider`]; the tidings WebSocket client runs
//! its handshake over that stream (`client::connect_over`).

use std::net::SocketAddr;
use std::sync::Arc;

use futures_rustls::TlsConnector;
use futures_rustls::client::TlsStream;
use rustls_pki_types::{CertificateDer, ServerName};
use tidings_framework::tls::ServerTls;

use crate::certs::{TestCa, TestCert};
use crate::{ClientConfig, Connection, TestRuntime};

/// A test CA, the leaf a server serves, and a client configuration that
/// trusts the CA.
pub struct TestTls {
    /// The CA.
    pub ca: TestCa,
    /// The leaf for `127.0.0.1` and `localhost` the server starts with.
    pub leaf: TestCert,
    /// A client configuration trusting `ca` only (ALPN `http/1.1`).
    pub client: Arc<rustls::ClientConfig>,
}

impl TestTls {
    /// A fresh CA and leaf.
    pub fn new() -> Self {
        let ca = TestCa::new();
        let leaf = ca.leaf();
        let client = client_config(&ca);
        TestTls { ca, leaf, client }
    }

    /// The server's TLS from the leaf.
    pub fn server_tls(&self) -> ServerTls {
        let (chain, key) = self.leaf.chain_and_key();
        ServerTls::from_der(chain, key).expect("the test leaf is a valid server certificate")
    }
}

impl Default for TestTls {
    fn default() -> Self {
        TestTls::new()
    }
}

/// A client configuration that trusts `ca` only, offering ALPN `http/1.1`.
pub fn client_config(ca: &TestCa) -> Arc<rustls::ClientConfig> {
    tidings_framework::tls::client_config(ca.root_store())
}

/// Connects to `addr` over TCP and runs a TLS handshake for the name
/// `127.0.0.1`; panics if it fails (see [`try_connect`]).
pub async fn connect<N: TestRuntime>(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
) -> TlsStream<N::Stream> {
    try_connect::<N>(addr, config)
        .await
        .unwrap_or_else(|error| panic!("TLS handshake with {addr}: {error}"))
}

/// Connects to `addr` over TCP and runs a TLS handshake for the name
/// `127.0.0.1`.
pub async fn try_connect<N: TestRuntime>(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<N::Stream>> {
    let tcp = N::connect(&addr.ip().to_string(), addr.port()).await?;
    let name = ServerName::IpAddress(addr.ip().into());
    TlsConnector::from(config.clone()).connect(name, tcp).await
}

/// The tidings WebSocket client, connected to `wss://addr{path}` over a
/// TLS stream of [`connect`].
pub async fn ws<N: TestRuntime>(
    addr: SocketAddr,
    path: &str,
    tls: &Arc<rustls::ClientConfig>,
    config: ClientConfig,
) -> Connection {
    ws_over::<N>(connect::<N>(addr, tls).await, addr, path, config).await
}

/// The tidings WebSocket client over an established TLS stream.
pub async fn ws_over<N: TestRuntime>(
    stream: TlsStream<N::Stream>,
    addr: SocketAddr,
    path: &str,
    config: ClientConfig,
) -> Connection {
    let url = format!("wss://{addr}{path}");
    tidings_framework::client::connect_over(stream, &url, config, N::default(), (None, None))
        .await
        .unwrap_or_else(|error| panic!("WebSocket handshake over TLS with {url}: {error}"))
}

/// The leaf certificate the server presented on `stream`.
pub fn peer_leaf<T>(stream: &TlsStream<T>) -> CertificateDer<'static> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .expect("the server presented a certificate")
        .clone()
        .into_owned()
}
