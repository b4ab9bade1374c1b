//! Shared pieces of the benchmark servers: bind, print the address, accept
//! with TCP_NODELAY.

use std::future::Future;

use base64::Engine;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Reads a WebSocket upgrade request head and answers 101, by hand on the
/// raw socket (for servers that take the socket after the handshake);
/// `None` on anything unexpected.
pub async fn handshake(stream: &mut TcpStream) -> Option<()> {
    let mut head = Vec::with_capacity(1024);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 || stream.read_buf(&mut head).await.ok()? == 0 {
            return None;
        }
    }
    let text = std::str::from_utf8(&head).ok()?;
    let key = text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim())
    })?;
    let accept = base64::engine::general_purpose::STANDARD
        .encode(Sha1::digest(format!("{key}{GUID}").as_bytes()));
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(response.as_bytes()).await.ok()
}

/// The address to bind: the first command-line argument, as for the tidings
/// examples (default `127.0.0.1:9001`).
pub fn addr_arg() -> String {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned())
}

/// Binds `addr`, prints `listening on ADDR` (the examples' contract) and runs
/// `handle` on its own task for every accepted socket, with TCP_NODELAY set.
pub async fn serve<F, Fut>(addr: &str, handle: F) -> std::io::Result<()>
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // EMFILE and friends: keep serving the connections we have.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(handle(stream));
    }
}

/// Serves the axum app `app` on [`addr_arg`] with TCP_NODELAY, after
/// printing `listening on ADDR` (the axum servers' shared `main`).
pub async fn serve_axum(app: axum::Router) -> std::io::Result<()> {
    use axum::serve::{Listener, ListenerExt};
    let listener = TcpListener::bind(addr_arg()).await?.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}

/// The message every broadcast server sends: 128 bytes ending in the marker
/// `~END` that `loadgen broadcast` counts.
pub fn broadcast_message() -> String {
    let mut text = "x".repeat(124);
    text.push_str("~END");
    text
}

/// The TLS options after ADDR, as the tidings examples take them:
/// `--tls-cert CERT.pem --tls-key KEY.pem`. With them, an acceptor with the
/// configuration tidings builds by default (rustls' *ring* provider, TLS 1.3
/// and 1.2, ALPN `http/1.1`); without, `None`.
pub fn tls_acceptor_arg() -> Option<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let args: Vec<String> = std::env::args().skip(2).collect();
    let value = |flag: &str| {
        let at = args.iter().position(|arg| arg == flag)?;
        args.get(at + 1).cloned()
    };
    let (cert, key) = (value("--tls-cert")?, value("--tls-key")?);
    let chain = CertificateDer::pem_file_iter(&cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .unwrap_or_else(|error| panic!("{cert}: {error}"));
    let key = PrivateKeyDer::from_pem_file(&key).unwrap_or_else(|error| panic!("{key}: {error}"));
    // The provider tidings builds its configurations with (*ring* here).
    let mut config =
        rustls::ServerConfig::builder_with_provider(tidings_framework::tls::provider())
            .with_safe_default_protocol_versions()
            .expect("ring's protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("a usable certificate and key");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Some(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

/// WebTransport runs (BENCH_WT=1): the UDP address to bind (the first
/// argument, default `127.0.0.1:4433` as for tidings' `wt_echo`).
pub fn wt_addr_arg() -> std::net::SocketAddr {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4433".to_owned())
        .parse()
        .expect("ADDR: an IP address and UDP port")
}

/// WebTransport runs: tidings' TLS configuration (`server_config`: TLS 1.3,
/// ALPN `h3`, *ring*) with a fresh self-signed ECDSA P-256 certificate, as
/// the `wt_echo` example makes (wtransport's `Identity::self_signed` makes
/// the same kind; the load generator validates neither).
pub fn wt_tidings_tls() -> tidings_framework::tls::rustls::ServerConfig {
    use tidings_framework::tls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("P-256 key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("certificate params")
        .self_signed(&key)
        .expect("self-signed certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    tidings_framework::webtransport::server_config(vec![cert.der().clone()], key)
        .expect("TLS configuration")
}

/// WebTransport runs: tidings' echo (the framework's `echo` handler on
/// path `/echo`, default `Config`, as the `wt_echo` examples serve it) on
/// `server`; prints `listening on ADDR`, then serves.
pub async fn wt_tidings_serve(server: tidings_framework::webtransport::WebTransportServer) {
    let server = server.route("/echo", tidings_framework::webtransport::echo);
    println!(
        "listening on {}",
        server.local_addr().expect("the bound address")
    );
    server.run().await;
}
