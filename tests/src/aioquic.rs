//! The WebTransport tests' harness: Python `aioquic` as the client (the
//! scripts under `tests/webtransport/`), a server on each runtime in a
//! thread of its own.
//!
//! The client runs in `$TIDINGS_PYTHON`, else `python3` if it has aioquic,
//! else a virtualenv made under the target directory (`pip install
//! aioquic`). Without Python or network for pip a test says SKIPPED on
//! stderr and passes, unless `TIDINGS_REQUIRE_AIOQUIC` is set (`.ci/run`
//! sets it): then it fails.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tidings_framework::hub::Hub;
use tidings_framework::runtime::Net;
use tidings_framework::server::{Router, Server};
use tidings_framework::webtransport::{Config, QuicRuntime};

use crate::certs::TestCa;

/// How long a client script may run.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long making the virtualenv and installing aioquic may take.
const PIP_TIMEOUT: Duration = Duration::from_secs(300);

/// The runtimes a WebTransport test runs its server on.
pub const RUNTIMES: [&str; 3] = ["tokio", "async-std", "smol"];

/// `127.0.0.1:0`.
pub fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A Python with aioquic, or `None` (the test is skipped: it says so on
/// stderr) when there is none and `TIDINGS_REQUIRE_AIOQUIC` is not set. A
/// virtualenv, if one is made, goes under `tmp` (the test's
/// `env!("CARGO_TARGET_TMPDIR")`).
///
/// # Panics
///
/// When there is none and `TIDINGS_REQUIRE_AIOQUIC` is set.
pub fn python_or_skip(tmp: &str, what: &str) -> Option<PathBuf> {
    match aioquic_python(Path::new(tmp)) {
        Ok(python) => Some(python),
        Err(reason) if std::env::var_os("TIDINGS_REQUIRE_AIOQUIC").is_some() => {
            panic!("no aioquic and TIDINGS_REQUIRE_AIOQUIC is set: {reason}")
        }
        Err(reason) => {
            eprintln!("SKIPPED {what}: {reason}");
            None
        }
    }
}

/// A test CA written to a temporary directory (for the client), and a TLS
/// configuration for WebTransport with a leaf it signed. The directory is
/// removed when the returned guard is dropped.
pub struct Tls {
    /// The CA certificate's PEM file.
    pub ca_pem: PathBuf,
    dir: PathBuf,
    ca: TestCa,
}

impl Tls {
    /// A fresh CA in a directory named after `name` under `tmp` (the
    /// test's `env!("CARGO_TARGET_TMPDIR")`).
    pub fn new(tmp: &str, name: &str) -> Self {
        let dir = Path::new(tmp).join(format!("wt-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ca = TestCa::new();
        let ca_pem = dir.join("ca.pem");
        std::fs::write(&ca_pem, ca.cert_pem()).expect("write the CA");
        Tls { ca_pem, dir, ca }
    }

    /// A TLS configuration for WebTransport with a new leaf.
    pub fn server_config(&self) -> rustls::ServerConfig {
        let (chain, key) = self.ca.leaf().chain_and_key();
        tidings_framework::webtransport::server_config(chain, key).expect("TLS config")
    }
}

impl Drop for Tls {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A [`Server`] with `router` on TCP and QUIC (`Server::with_webtransport`)
/// on a runtime, in a thread of its own (see [`serve_router`]).
pub struct Served {
    /// The QUIC port.
    pub port: u16,
    /// The TCP address (WebSocket, SSE, plain routes).
    pub tcp: SocketAddr,
    /// The server's hub.
    pub hub: Arc<Hub>,
    stop: Box<dyn FnOnce() + Send>,
    thread: std::thread::JoinHandle<()>,
}

impl Served {
    /// Shuts the server down; whether its thread ended within 5 s.
    pub fn stop(self) -> bool {
        (self.stop)();
        wait_for_thread(self.thread, Duration::from_secs(5))
    }
}

/// Serves `router` on `runtime` (one of [`RUNTIMES`]): TCP on
/// `127.0.0.1:0`, and its WebTransport routes on QUIC at `127.0.0.1:0`
/// with `tls` and `config`.
///
/// # Panics
///
/// If the server does not bind within 5 s.
pub fn serve_router(
    runtime: &'static str,
    router: Router,
    tls: rustls::ServerConfig,
    config: Config,
) -> Served {
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let thread = match runtime {
        "tokio" => spawn_on(
            runtime,
            serve::<tidings_tokio::Tokio>(router, tls, config, ready_tx),
        ),
        "async-std" => spawn_on(
            runtime,
            serve::<tidings_async_std::AsyncStd>(router, tls, config, ready_tx),
        ),
        _ => spawn_on(
            runtime,
            serve::<tidings_smol::Smol>(router, tls, config, ready_tx),
        ),
    };
    let (port, tcp, hub, stop) = ready
        .recv_timeout(Duration::from_secs(5))
        .expect("the server binds");
    Served {
        port,
        tcp,
        hub,
        stop,
        thread,
    }
}

type Ready = (u16, SocketAddr, Arc<Hub>, Box<dyn FnOnce() + Send>);

async fn serve<N: Net + Default + QuicRuntime>(
    router: Router,
    tls: rustls::ServerConfig,
    config: Config,
    ready: std::sync::mpsc::Sender<Ready>,
) {
    let server = Server::<N>::bind("127.0.0.1:0", router)
        .await
        .expect("bind")
        .with_webtransport(localhost(), tls, config)
        .expect("bind QUIC");
    let handle = server.handle();
    let port = server.webtransport_addr().expect("QUIC address").port();
    let tcp = server.local_addr().expect("TCP address");
    let hub = handle.hub().clone();
    let _ = ready.send((port, tcp, hub, Box::new(move || handle.begin_shutdown())));
    server.run().await;
}

/// Runs `server` to its end on `runtime` (`"tokio"`, `"async-std"` or
/// `"smol"`), in a thread of its own.
pub fn spawn_on<F>(runtime: &'static str, server: F) -> std::thread::JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    std::thread::spawn(move || match runtime {
        "tokio" => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(server),
        "async-std" => async_std::task::block_on(server),
        "smol" => smol::block_on(server),
        other => panic!("unknown runtime {other}"),
    })
}

/// Runs the script `tests/webtransport/{script}` with `args` in `python`,
/// bounded by [`CLIENT_TIMEOUT`], and returns its output (stdout also
/// printed, for the test's log).
pub fn run_script(python: &Path, script: &str, args: &[String]) -> Output {
    let child = Command::new(python)
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("webtransport")
                .join(script),
        )
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the aioquic client");
    let output = wait_bounded(child, CLIENT_TIMEOUT);
    println!(
        "{script} {args:?}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The stdout lines of a client that succeeded.
///
/// # Panics
///
/// When it failed.
pub fn lines_of(output: &Output) -> Vec<String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "client failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout.lines().map(str::to_owned).collect()
}

/// Joins `thread` if it ends within `limit`.
pub fn wait_for_thread(thread: std::thread::JoinHandle<()>, limit: Duration) -> bool {
    let start = Instant::now();
    while !thread.is_finished() {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    thread.join().is_ok()
}

/// Waits for `child` at most `limit`, then kills it (by its pid).
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
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
fn aioquic_python(tmp: &Path) -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON.get_or_init(|| find_or_install_aioquic(tmp)).clone()
}

fn find_or_install_aioquic(tmp: &Path) -> Result<PathBuf, String> {
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
    let venv = tmp.join("aioquic-venv");
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
