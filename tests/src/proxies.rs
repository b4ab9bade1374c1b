//! Real proxies for the client tests, started on `127.0.0.1` at a free
//! port and stopped (by their pid) when dropped: Debian's `tinyproxy`
//! (HTTP `CONNECT`, `BasicAuth`) and `danted` (Dante, SOCKS5; username
//! authentication checks a system account, which `.ci/stage-proxies`
//! creates: [`SOCKS_USER`]).
//!
//! When a binary (or the account) is missing, [`tinyproxy`] and [`danted`]
//! print why in capitals and return `None`, and the test returns early:
//! run `bash .ci/stage-proxies` (as root) to install them, as CI does
//! (it sets `TIDINGS_REQUIRE_PROXIES`, which turns a skip into a failure).

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The system account `danted` checks SOCKS5 credentials against.
pub const SOCKS_USER: &str = "tidings-socks";
/// Its password (set by `.ci/stage-proxies`).
pub const SOCKS_PASSWORD: &str = "socks-pw-1";

/// A proxy process; killed when dropped.
pub struct ProxyProcess {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn skip(what: &str) -> Option<ProxyProcess> {
    // The CI stage (`.ci/stage-proxies`) installs them: there, missing is
    // a failure.
    if std::env::var_os("TIDINGS_REQUIRE_PROXIES").is_some() {
        panic!("{what}, and TIDINGS_REQUIRE_PROXIES is set");
    }
    println!(
        "!!!! PROXY TEST SKIPPED: {what}. Install the proxies with `bash .ci/stage-proxies` (root), as CI does."
    );
    None
}

fn find(binary: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"]
        .iter()
        .map(|dir| Path::new(dir).join(binary))
        .find(|path| path.is_file())
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// Writes `config` into a fresh directory, starts `binary args… <config>`
/// and waits (up to 5 s) until its port accepts connections.
fn spawn(binary: &Path, args: &[&str], config: &str, port: u16) -> Option<ProxyProcess> {
    let dir = std::env::temp_dir().join(format!("tidings-proxy-{}-{port}", std::process::id()));
    fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join("proxy.conf");
    fs::write(&path, config).expect("write the proxy configuration");
    let log = fs::File::create(dir.join("proxy.log")).expect("a log file");
    let child = Command::new(binary)
        .args(args)
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the proxy");
    let mut process = ProxyProcess { port, child, dir };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(process);
        }
        if let Ok(Some(status)) = process.child.try_wait() {
            let log = fs::read_to_string(process.dir.join("proxy.log")).unwrap_or_default();
            panic!("{} exited at start: {status}\n{log}", binary.display());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!(
        "{} did not listen on port {port} within 5 s",
        binary.display()
    );
}

/// `tinyproxy` in the foreground, requiring `credentials` (Basic) if
/// given. `None` (after a loud message) if it is not installed.
pub fn tinyproxy(credentials: Option<(&str, &str)>) -> Option<ProxyProcess> {
    let Some(binary) = find("tinyproxy") else {
        return skip("tinyproxy is not installed");
    };
    let port = free_port();
    let mut config =
        format!("Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nLogLevel Warning\n");
    if let Some((user, password)) = credentials {
        config.push_str(&format!("BasicAuth {user} {password}\n"));
    }
    spawn(&binary, &["-d", "-c"], &config, port)
}

/// `danted` (SOCKS5), with username/password authentication against
/// [`SOCKS_USER`] when `authenticate`. `None` (after a loud message) if it
/// is not installed, or the account is missing, or (for authentication)
/// the test does not run as root.
pub fn danted(authenticate: bool) -> Option<ProxyProcess> {
    let Some(binary) = find("danted") else {
        return skip("danted (dante-server) is not installed");
    };
    let root = is_root();
    if authenticate {
        let has_user = fs::read_to_string("/etc/passwd").is_ok_and(|passwd| {
            passwd
                .lines()
                .any(|l| l.starts_with(&format!("{SOCKS_USER}:")))
        });
        if !has_user || !root {
            return skip("SOCKS5 authentication needs the tidings-socks account and root");
        }
    }
    let port = free_port();
    let method = if authenticate { "username" } else { "none" };
    // Server settings first: Dante refuses them after the rules.
    let users = if root {
        "user.privileged: root\nuser.unprivileged: nobody\n"
    } else {
        ""
    };
    let config = format!(
        "logoutput: stderr\ninternal: 127.0.0.1 port = {port}\nexternal: 127.0.0.1\n\
         clientmethod: none\nsocksmethod: {method}\n{users}\
         client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}\n\
         socks pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}\n"
    );
    spawn(&binary, &["-N", "1", "-f"], &config, port)
}
