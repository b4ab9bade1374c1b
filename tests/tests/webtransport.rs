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
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tidings_framework::webtransport::{
    self, Closer, Config, Session, SessionEnd, WebTransportServer,
};
use tidings_tests::certs::TestCa;

/// How long the client may run.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(40);
/// How long making the virtualenv and installing aioquic may take.
const PIP_TIMEOUT: Duration = Duration::from_secs(300);

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

fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// The server runs on its runtime in a thread of its own; the client runs
/// from this thread, bounded by [`CLIENT_TIMEOUT`], stopped by its pid.
fn aioquic_client_echo_and_close(runtime: &str, serve: Serve) {
    let python = match aioquic_python() {
        Ok(python) => python,
        Err(reason) if std::env::var_os("TIDINGS_REQUIRE_AIOQUIC").is_some() => {
            panic!("no aioquic and TIDINGS_REQUIRE_AIOQUIC is set: {reason}")
        }
        Err(reason) => {
            eprintln!("SKIPPED aioquic WebTransport test on {runtime}: {reason}");
            return;
        }
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("wt-{}-{runtime}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ca = TestCa::new();
    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, ca.cert_pem()).expect("write the CA");
    let (chain, key) = ca.leaf().chain_and_key();
    let tls = webtransport::server_config(chain, key).expect("TLS config");

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
        let child = Command::new(&python)
            .arg(script())
            .arg(addr.port().to_string())
            .arg(&ca_pem)
            .arg(mode)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the aioquic client");
        wait_bounded(child, CLIENT_TIMEOUT)
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
    let stopped = wait_for_thread(server, Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&dir);

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

/// Joins `thread` if it ends within `limit`.
fn wait_for_thread(thread: std::thread::JoinHandle<()>, limit: Duration) -> bool {
    let start = Instant::now();
    while !thread.is_finished() {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    thread.join().is_ok()
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("webtransport/aioquic_client.py")
}

/// Waits for `child` at most `limit`, then kills it (by its pid).
fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    while child.try_wait().expect("poll the child").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("the child's output")
}

/// A Python interpreter with aioquic, or why there is none: found or
/// installed once per test process (the tests run in parallel).
fn aioquic_python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON.get_or_init(find_or_install_aioquic).clone()
}

fn find_or_install_aioquic() -> Result<PathBuf, String> {
    let has_aioquic = |python: &Path| {
        Command::new(python)
            .args(["-c", "import aioquic"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if let Some(python) = std::env::var_os("TIDINGS_PYTHON") {
        let python = PathBuf::from(python);
        return if has_aioquic(&python) {
            Ok(python)
        } else {
            Err(format!(
                "$TIDINGS_PYTHON ({}) has no aioquic",
                python.display()
            ))
        };
    }
    if has_aioquic(Path::new("python3")) {
        return Ok("python3".into());
    }
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("aioquic-venv");
    let python = venv.join("bin/python");
    if has_aioquic(&python) {
        return Ok(python);
    }
    let run = |command: &mut Command| -> Result<(), String> {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{command:?}: {e}"))?;
        let output = wait_bounded(child, PIP_TIMEOUT);
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{command:?} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    };
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", "aioquic>=1.2,<2"]))?;
    if has_aioquic(&python) {
        Ok(python)
    } else {
        Err("aioquic installed but not importable".into())
    }
}
