//! WebTransport over HTTP/3 on tokio (feature `webtransport`) with Python
//! `aioquic` as the client (tests/webtransport/aioquic_client.py): extended
//! CONNECT to `/echo`, a bidirectional stream echoed on itself, a
//! unidirectional stream echoed on a new one, a datagram echoed, and the
//! client's close code and reason seen by the server.
//!
//! The client runs in `$TIDINGS_PYTHON`, else `python3` if it has aioquic,
//! else a virtualenv this test makes under the target directory
//! (`pip install aioquic`). Without Python or network for pip the test
//! says SKIPPED on stderr and passes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tidings_tests::certs::TestCa;
use tidings_tests::run_tokio;
use tidings_tokio::webtransport::{self, Config, Session, SessionEnd};

/// How long the client may run.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(40);
/// How long making the virtualenv and installing aioquic may take.
const PIP_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn aioquic_client_echo_and_close() {
    let python = match aioquic_python() {
        Ok(python) => python,
        Err(reason) => {
            eprintln!("SKIPPED aioquic_client_echo_and_close: {reason}");
            return;
        }
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("wt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ca = TestCa::new();
    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, ca.cert_pem()).expect("write the CA");
    let (chain, key) = ca.leaf().chain_and_key();

    run_tokio(async move {
        let tls = webtransport::server_config(chain, key).expect("TLS config");
        let (ends_tx, ends) = tokio::sync::mpsc::unbounded_channel();
        let server = webtransport::bind("127.0.0.1:0".parse().unwrap(), tls, Config::default())
            .expect("bind")
            .route("/echo", move |session: Session| {
                let ends = ends_tx.clone();
                async move {
                    let end = webtransport::echo_until_closed(Arc::new(session)).await;
                    let _ = ends.send(end);
                }
            });
        let port = server.local_addr().expect("address").port();
        let closer = server.closer();
        let serving = tokio::spawn(server.run());

        let client = Command::new(&python)
            .arg(script())
            .arg(port.to_string())
            .arg(&ca_pem)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the aioquic client");
        let output = tokio::task::spawn_blocking(move || wait_bounded(client, CLIENT_TIMEOUT))
            .await
            .expect("wait for the client");
        let stdout = String::from_utf8_lossy(&output.stdout);
        println!("aioquic client:\n{stdout}");
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

        let mut ends = ends;
        let end = tokio::time::timeout(Duration::from_secs(5), ends.recv())
            .await
            .expect("the session's end within 5 s")
            .expect("one session");
        println!("server saw: {end:?}");
        assert_eq!(
            end,
            SessionEnd::Closed {
                code: 4242,
                reason: "bye from aioquic".into()
            }
        );
        closer.close();
        tokio::time::timeout(Duration::from_secs(5), serving)
            .await
            .expect("the server stops")
            .expect("the server task");
    });
    let _ = std::fs::remove_dir_all(&dir);
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

/// A Python interpreter with aioquic, or why there is none.
fn aioquic_python() -> Result<PathBuf, String> {
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
