//! The benchmark's load generator: raw TCP sockets, its own handshake,
//! pre-masked frames, one thread (pin it with `taskset`), bounded in time.
//!
//! ```text
//! loadgen echo      --addr A [--conns N] [--size BYTES] [--inflight K]
//!                   [--warmup SECS] [--secs SECS] [--pid SERVER_PID] [--tls CA.pem]
//!                   [--syscalls 1]
//! loadgen memory    --addr A [--conns N] --pid SERVER_PID [--settle SECS] [--tls CA.pem]
//! loadgen broadcast --addr A --kind ws|sse [--clients N] [--rounds R]
//! loadgen fanout    --addr A [--ws N] [--sse M] [--rate PER_SEC] [--count K]
//!                   [--room NAME] [--settle-ms MS] [--pid SERVER_PID] [--syscalls 1]
//! loadgen wt-echo   --addr A --kind stream|datagram [--sessions N] [--size BYTES]
//!                   [--warmup SECS] [--secs SECS] [--pid SERVER_PID]
//! loadgen wt-memory --addr A [--sessions N] --pid SERVER_PID [--settle SECS]
//! loadgen c100k     --addr A --kind ws|sse [--first I] [--conns N] [--per-source P]
//!                   [--batch B] [--echo-percent X]   (steered over stdin: see `c100k`)
//! ```
//!
//! The `wt-` modes speak WebTransport (UDP ADDR, path `/echo`) with
//! wtransport's client: see `wt`.
//!
//! `--syscalls 1` (echo, fanout): the server's system calls over the
//! window too, counted by perf (see `syscalls`).
//!
//! `--tls CA.pem`: over TLS, trusting that CA (see `wire::tls_connector`).
//! Each prints one JSON object on stdout (see `bench/run.py`); `--timeout
//! SECS` (default 300) bounds the whole run.

mod broadcast;
mod c100k;
mod echo;
mod fanout;
mod memory;
mod proc_stat;
mod syscalls;
mod wire;
mod wt;

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_rustls::TlsConnector;
use wire::Conn;

/// `--key value` pairs after the mode.
pub struct Args(HashMap<String, String>);

impl Args {
    fn parse(words: &[String]) -> io::Result<Self> {
        let mut map = HashMap::new();
        let mut words = words.iter();
        while let Some(key) = words.next() {
            let key = key
                .strip_prefix("--")
                .ok_or_else(|| invalid(format!("expected --KEY, got {key}")))?;
            let value = words
                .next()
                .ok_or_else(|| invalid(format!("--{key} needs a value")))?;
            map.insert(key.to_owned(), value.clone());
        }
        Ok(Args(map))
    }

    pub fn text(&self, key: &str) -> io::Result<String> {
        self.0
            .get(key)
            .cloned()
            .ok_or_else(|| invalid(format!("--{key} is required")))
    }

    pub fn number(&self, key: &str, default: usize) -> io::Result<usize> {
        self.0.get(key).map_or(Ok(default), |v| {
            v.parse().map_err(|_| invalid(format!("--{key}: {v}")))
        })
    }

    /// The TLS client of `--tls CA.pem`, if given.
    pub fn tls(&self) -> io::Result<Option<TlsConnector>> {
        self.0
            .get("tls")
            .map(|ca| wire::tls_connector(ca))
            .transpose()
    }

    pub fn float(&self, key: &str, default: f64) -> io::Result<f64> {
        self.0.get(key).map_or(Ok(default), |v| {
            v.parse().map_err(|_| invalid(format!("--{key}: {v}")))
        })
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Opens `n` connections (over TLS with `tls`) sending `request` (at most
/// 64 handshakes at once); each comes with the bytes read after the
/// answer's head.
pub async fn connect_many(
    request: &[u8],
    addr: &str,
    status: &str,
    n: usize,
    tls: Option<&TlsConnector>,
) -> io::Result<Vec<(Conn, Vec<u8>)>> {
    futures_util::stream::iter(0..n)
        .map(|_| wire::connect(addr, request, status, tls))
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

fn main() {
    let words: Vec<String> = std::env::args().skip(1).collect();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|runtime| runtime.block_on(run(&words)));
    match result {
        Ok(json) => println!("{json}"),
        Err(error) => {
            eprintln!("loadgen: {error}");
            std::process::exit(1);
        }
    }
}

async fn run(words: &[String]) -> io::Result<String> {
    let mode = words.first().map(String::as_str).unwrap_or_default();
    let args = Args::parse(words.get(1..).unwrap_or_default())?;
    let timeout = Duration::from_secs_f64(args.float("timeout", 300.0)?);
    let work = async {
        match mode {
            "echo" => echo::run(&args).await,
            "memory" => memory::run(&args).await,
            "broadcast" => broadcast::run(&args).await,
            "fanout" => fanout::run(&args).await,
            "wt-echo" => wt::echo(&args).await,
            "wt-memory" => wt::memory(&args).await,
            "c100k" => c100k::run(&args).await,
            _ => Err(invalid(format!(
                "unknown mode {mode:?}: echo, memory, broadcast, fanout, wt-echo, wt-memory or c100k"
            ))),
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| io::Error::other("timed out"))?
}
