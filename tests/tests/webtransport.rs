//! WebTransport over HTTP/3 on tokio, async-std and smol (feature
//! `webtransport`) with Python
//! `aioquic` as the client (tests/webtransport/aioquic_client.py): extended
//! CONNECT to `/echo`, a bidirectional stream echoed on itself, a
//! unidirectional stream echoed on a new one, a datagram echoed, and the
//! client's close code and reason seen by the server; and a session the
//! server closes, its code and reason seen by the client.
//!
//! The client runs in `$TIDINGS_PYTHON`, else `python3` if it has aioquic,
//! else a virtualenv this test makes under the target directory
//! (`pip install aioquic`). Without Python or network for pip the test
//! says SKIPPED on stderr and passes, unless `TIDINGS_REQUIRE_AIOQUIC` is
//! set (`.ci/run` sets it): then it fails.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidings_framework::webtransport::{
    self, Closer, Config, Session, SessionEnd, WebTransportServer,
};
use tidings_tests::aioquic::{self, Tls, localhost, python_or_skip, run_script};

/// Binds a server on `127.0.0.1:0` inside a runtime (quinn wraps the
/// socket in the runtime's reactor), adds the routes, then serves until
/// closed.
type Serve = fn(rustls::ServerConfig, Routes, std::sync::mpsc::Sender<(SocketAddr, Closer)>);

/// Adds the test's routes to a server.
type Routes = Box<dyn FnOnce(WebTransportServer) -> WebTransportServer + Send>;

#[test]
fn aioquic_client_on_tokio() {
    aioquic_client_echo_and_close("tokio", |tls, route, ready| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(async move {
            let server = tidings_tokio::webtransport::bind(localhost(), tls, Config::default())
                .expect("bind");
            let server = route(server);
            let _ = ready.send((server.local_addr().expect("address"), server.closer()));
            server.run().await;
        });
    });
}

#[test]
fn aioquic_client_on_async_std() {
    aioquic_client_echo_and_close("async-std", |tls, route, ready| {
        async_std::task::block_on(async move {
            let server = tidings_async_std::webtransport::bind(localhost(), tls, Config::default())
                .expect("bind");
            let server = route(server);
            let _ = ready.send((server.local_addr().expect("address"), server.closer()));
            server.run().await;
        });
    });
}

#[test]
fn aioquic_client_on_smol() {
    aioquic_client_echo_and_close("smol", |tls, route, ready| {
        smol::block_on(async move {
            let server = tidings_smol::webtransport::bind(localhost(), tls, Config::default())
                .expect("bind");
            let server = route(server);
            let _ = ready.send((server.local_addr().expect("address"), server.closer()));
            server.run().await;
        });
    });
}

/// The server runs on its runtime in a thread of its own; the client runs
/// from this thread, bounded by [`CLIENT_TIMEOUT`], stopped by its pid.
fn aioquic_client_echo_and_close(runtime: &str, serve: Serve) {
    let tmp = env!("CARGO_TARGET_TMPDIR");
    let what = format!("aioquic WebTransport test on {runtime}");
    let Some(python) = python_or_skip(tmp, &what) else {
        return;
    };
    let certs = Tls::new(tmp, runtime);
    let tls = certs.server_config();

    let (ends_tx, ends) = std::sync::mpsc::channel();
    let ends_tx = Mutex::new(ends_tx);
    let (close_ends_tx, close_ends_rx) = std::sync::mpsc::channel();
    let close_ends = Mutex::new(close_ends_tx);
    let route: Routes = Box::new(move |server| {
        // /echo: the framework's echo; /close: closed by the server at once.
        // Both report how the session ended.
        server
            .route("/echo", move |session: Session| {
                let ends = ends_tx.lock().expect("lock").clone();
                async move {
                    let end = webtransport::echo_until_closed(Arc::new(session)).await;
                    let _ = ends.send(end);
                }
            })
            .route("/close", move |session: Session| {
                let ends = close_ends.lock().expect("lock").clone();
                async move {
                    let closed = session.close(7, "server bye").await;
                    let _ = ends.send((closed.is_ok(), session.closed().await));
                }
            })
    });
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || serve(tls, route, ready_tx));
    let (addr, closer) = ready
        .recv_timeout(Duration::from_secs(5))
        .expect("the server binds");

    let client = |mode: &str| {
        let args = [
            addr.port().to_string(),
            certs.ca_pem.display().to_string(),
            mode.to_owned(),
        ];
        run_script(&python, "aioquic_client.py", &args)
    };
    let output = client("echo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("aioquic client against {runtime}:\n{stdout}");
    let end = ends.recv_timeout(Duration::from_secs(5));
    let closing = client("server-close");
    let closing_stdout = String::from_utf8_lossy(&closing.stdout);
    println!("aioquic client, server-close, against {runtime}:\n{closing_stdout}");
    let close_end = close_ends_rx.recv_timeout(Duration::from_secs(5));
    closer.close();
    let stopped = aioquic::wait_for_thread(server, Duration::from_secs(5));

    assert!(
        output.status.success(),
        "client failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "session established",
            "bidi echo ok",
            "uni echo ok",
            "datagram echo ok",
            "session closed"
        ]
    );
    let end = end.expect("the session's end within 5 s");
    println!("server on {runtime} saw: {end:?}");
    assert_eq!(
        end,
        SessionEnd::Closed {
            code: 4242,
            reason: "bye from aioquic".into()
        }
    );
    assert!(
        closing.status.success(),
        "server-close client failed ({}):\n{closing_stdout}\n{}",
        closing.status,
        String::from_utf8_lossy(&closing.stderr)
    );
    assert_eq!(
        closing_stdout.lines().collect::<Vec<_>>(),
        ["session established", "server closed: 7 server bye"]
    );
    assert_eq!(
        close_end.expect("the closed session's end within 5 s"),
        (
            true,
            SessionEnd::Closed {
                code: 7,
                reason: "server bye".into()
            }
        ),
        "Session::close succeeds and closed() reports it"
    );
    assert!(stopped, "the server stops within 5 s of Closer::close");
}

/// `Config::peer_max_ack_delay`: a client that supports QUIC's ACK
/// frequency extension (quinn, here on tokio) receives an ACK_FREQUENCY
/// frame asking for the delay; with `None` (the default) it receives none
/// (checked once the server's HTTP/3 control stream has arrived, which the
/// server sends right after the handshake, as it would the frame).
#[test]
fn quinn_client_is_asked_for_the_configured_ack_delay() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let asked = ack_frequency_frames(
            Config::default().peer_max_ack_delay(Some(Duration::from_millis(5))),
        )
        .await;
        assert!(asked >= 1, "ACK_FREQUENCY frames received: {asked}");
        let not_asked = ack_frequency_frames(Config::default()).await;
        assert_eq!(not_asked, 0, "no ACK_FREQUENCY frame by default (None)");
    });
}

/// ACK_FREQUENCY frames a quinn client received from a server with
/// `config`, within 5 s of the handshake (or once the server's control
/// stream is in, when none is expected).
async fn ack_frequency_frames(config: Config) -> u64 {
    use tidings_framework::webtransport::quinn;

    let ca = tidings_tests::certs::TestCa::new();
    let (chain, key) = ca.leaf().chain_and_key();
    let tls = webtransport::server_config(chain, key).expect("TLS config");
    let expect_frame = config.peer_max_ack_delay.is_some();
    let server = tidings_tokio::webtransport::bind(localhost(), tls, config).expect("bind");
    let addr = server.local_addr().expect("address");
    let closer = server.closer();
    let served = tokio::spawn(server.route("/echo", webtransport::echo).run());

    let mut client_tls =
        rustls::ClientConfig::builder_with_provider(tidings_framework::tls::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("TLS 1.3")
            .with_root_certificates(ca.root_store())
            .with_no_client_auth();
    client_tls.alpn_protocols = vec![webtransport::ALPN_H3.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(client_tls).expect("QUIC TLS");
    let mut endpoint = quinn::Endpoint::client(localhost()).expect("client endpoint");
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let conn = tokio::time::timeout(Duration::from_secs(5), async {
        endpoint.connect(addr, "localhost").expect("connect").await
    })
    .await
    .expect("handshake within 5 s")
    .expect("handshake");
    let mut control = tokio::time::timeout(Duration::from_secs(5), conn.accept_uni())
        .await
        .expect("the server's control stream within 5 s")
        .expect("control stream");
    let _ = tokio::time::timeout(Duration::from_secs(5), control.read_chunk(64, true)).await;
    let frames = || conn.stats().frame_rx.ack_frequency;
    if expect_frame {
        for _ in 0..50 {
            if frames() > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let received = frames();
    conn.close(0u32.into(), b"");
    endpoint.wait_idle().await;
    closer.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), served).await;
    received
}
