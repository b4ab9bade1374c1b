//! A real `redis-server` for one test: started on 127.0.0.1 with a free
//! port, stopped by its pid (SIGKILL) when dropped, and restartable on the
//! same port (a Redis outage and its end). [`RedisServer::start`] keeps
//! nothing on disk (a restart loses every key: what a cache-only Redis
//! does); [`RedisServer::start_persistent`] writes every command to an
//! append-only file in a directory of its own (`appendfsync always`), so a
//! SIGKILLed server restarts with every key it had. Both allow `DEBUG` from
//! loopback (`DEBUG SLEEP`: a Redis that answers late).
//!
//! When `redis-server` is not installed, [`RedisServer::start`] says so
//! loudly on stderr and returns `None` (the test then skips), unless
//! `TIDINGS_REQUIRE_REDIS=1` is set, as CI does after installing it: then
//! a missing server fails the test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A `redis-server` process of one test.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    /// The directory of the append-only file, for a persistent server
    /// (removed when dropped).
    dir: Option<PathBuf>,
}

impl RedisServer {
    /// Starts `redis-server` without persistence on a free loopback port
    /// and waits until it answers PING (at most 10 s); `None` when it is
    /// not installed (see the module docs).
    ///
    /// # Panics
    /// When it is installed but does not start.
    pub fn start() -> Option<Self> {
        Self::start_with(None)
    }

    /// [`start`](Self::start) with persistence: every write goes to an
    /// append-only file (fsynced before Redis answers or publishes) in a
    /// fresh temporary directory, which a [`restart`](Self::restart) after
    /// a [`kill`](Self::kill) loads again.
    ///
    /// # Panics
    /// When it is installed but does not start, or the directory cannot be
    /// made.
    pub fn start_persistent() -> Option<Self> {
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tidings-redis-{}-{}",
            std::process::id(),
            MADE.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make the append-only file's directory");
        Self::start_with(Some(dir))
    }

    fn start_with(dir: Option<PathBuf>) -> Option<Self> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            let required = std::env::var("TIDINGS_REQUIRE_REDIS").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "redis-server is required (TIDINGS_REQUIRE_REDIS=1) but not installed"
            );
            eprintln!(
                "\n*** SKIPPED: redis-server is not installed (apt-get install -y redis-server); \
                 the Redis engine tests did not run ***\n"
            );
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut server = RedisServer {
            child: None,
            port,
            dir,
        };
        server.restart();
        Some(server)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL, by pid) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after [`kill`](Self::kill);
    /// a persistent one with the keys it had) and waits until it answers.
    ///
    /// # Panics
    /// When it does not answer within 10 s.
    pub fn restart(&mut self) {
        self.kill();
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--enable-debug-command", "local"]);
        match &self.dir {
            None => command.args(["--appendonly", "no"]),
            Some(dir) => command
                .args(["--appendonly", "yes", "--appendfsync", "always"])
                .arg("--dir")
                .arg(dir),
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let start = Instant::now();
        while !self.answers() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not answer on port {} within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `command` (inline) and returns the first line of the answer.
    ///
    /// # Panics
    /// When the server does not answer within 2 s.
    pub fn command(&self, command: &str) -> String {
        self.try_command(command).unwrap_or_else(|| {
            panic!(
                "redis-server on port {} did not answer {command}",
                self.port
            )
        })
    }

    /// Sends `command` on a thread of its own (for one that blocks the
    /// server, like `DEBUG SLEEP 1`); join it for the first line of the
    /// answer.
    pub fn spawn_command(&self, command: &str) -> std::thread::JoinHandle<Option<String>> {
        let (port, command) = (self.port, command.to_owned());
        std::thread::spawn(move || command_at(port, &command))
    }

    fn try_command(&self, command: &str) -> Option<String> {
        command_at(self.port, command)
    }

    /// A numeric field of `INFO` (e.g. `total_net_input_bytes`).
    ///
    /// # Panics
    /// When the server does not answer within 2 s.
    pub fn info(&self, field: &str) -> Option<u64> {
        let mut stream =
            TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis-server");
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("set a timeout");
        stream.write_all(b"INFO\r\n").expect("send INFO");
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        // `$LEN\r\n` then LEN bytes then `\r\n`.
        let total = loop {
            let n = stream.read(&mut chunk).expect("read INFO");
            assert!(n > 0, "redis-server closed the connection");
            answer.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&answer);
            if let Some((head, _)) = text.split_once("\r\n") {
                let len: usize = head.trim_start_matches('$').parse().expect("a bulk length");
                break head.len() + 2 + len + 2;
            }
        };
        while answer.len() < total {
            let n = stream.read(&mut chunk).expect("read INFO");
            assert!(n > 0, "redis-server closed the connection");
            answer.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&answer).lines().find_map(|line| {
            line.strip_prefix(field)?
                .strip_prefix(':')?
                .trim()
                .parse()
                .ok()
        })
    }

    fn answers(&self) -> bool {
        self.try_command("PING").as_deref() == Some("+PONG")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Sends `command` (inline) to the server on `port`; the first line of the
/// answer (`None` when it does not come within 2 s).
fn command_at(port: u16, command: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(format!("{command}\r\n").as_bytes()).ok()?;
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n") && answer.len() < 4096 {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        answer.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&answer).trim_end().to_owned())
}
