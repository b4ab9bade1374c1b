//! A TLS front for the client tests: accepts TCP on `127.0.0.1`, runs the
//! TLS handshake with a [`futures_rustls::TlsAcceptor`] (a rustls server
//! configuration built with tidings' provider and a certificate from
//! [`certs`](crate::certs)), and hands each TLS stream to a
//! [`ServerHandle::serve_stream`]. It reports each negotiated ALPN protocol.
//! (The server's own TLS settings are not used: this tests the clients.)

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_rustls::TlsAcceptor;

use crate::certs::TestCert;
use crate::channel::{Receiver, unbounded};
use crate::{Router, Server, ServerConfig, ServerHandle, TestRuntime, timeout};

/// A TLS server running in the background for one test; stops when
/// dropped.
pub struct TlsTestServer<N: TestRuntime> {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The handle of the server the streams are served by.
    pub handle: ServerHandle<N>,
    /// The ALPN protocol of each completed TLS handshake (`None` if none
    /// was agreed).
    pub alpn: Receiver<Option<Vec<u8>>>,
    stop: Arc<AtomicBool>,
}

impl<N: TestRuntime> TlsTestServer<N> {
    /// `wss://127.0.0.1:PORT{path}`.
    pub fn wss_url(&self, path: &str) -> String {
        format!("wss://{}{path}", self.addr)
    }

    /// `https://127.0.0.1:PORT{path}`.
    pub fn https_url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }
}

impl<N: TestRuntime> Drop for TlsTestServer<N> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.begin_shutdown();
    }
}

/// Serves `router` over TLS with `cert` (offering ALPN `http/1.1`) on
/// `127.0.0.1:0`, on a task of runtime `N`.
pub async fn start_tls_server<N: TestRuntime>(router: Router, cert: &TestCert) -> TlsTestServer<N> {
    let (chain, key) = cert.chain_and_key();
    // tidings' default server configuration (provider, TLS 1.3 and 1.2,
    // ALPN http/1.1), served by a bare acceptor rather than the server.
    let config =
        tidings_framework::tls::server_config(chain, key).expect("the test certificate and key");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    // Bound but never run: only `serve_stream` is used.
    let server = Server::<N>::bind_with("127.0.0.1:0", router, ServerConfig::default())
        .await
        .expect("bind the server");
    let handle = server.handle();
    let listener = N::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = N::listener_addr(&listener).expect("the bound address");
    let stop = Arc::new(AtomicBool::new(false));
    let (alpn_tx, alpn) = unbounded();
    let rt = N::default();
    let serving = handle.clone();
    let stopped = stop.clone();
    rt.clone().spawn(async move {
        let _server = server;
        // Bounded: accepts wake up every 200 ms to check the stop flag.
        while !stopped.load(Ordering::SeqCst) {
            let Ok(accepted) =
                timeout::<N, _>(Duration::from_millis(200), N::accept(&listener)).await
            else {
                continue;
            };
            let Ok((tcp, peer)) = accepted else {
                return;
            };
            let acceptor = acceptor.clone();
            let serving = serving.clone();
            let alpn_tx = alpn_tx.clone();
            rt.spawn(async move {
                // A client that refuses the certificate ends here.
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                    let _ = alpn_tx.try_send(alpn);
                    serving.serve_stream(tls, Some(peer), Some(addr)).await;
                }
            });
        }
    });
    TlsTestServer {
        addr,
        handle,
        alpn,
        stop,
    }
}
