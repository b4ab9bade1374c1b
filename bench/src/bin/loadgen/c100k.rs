//! `loadgen c100k`: one worker of `bench/c100k`, which runs as many as the
//! descriptor limit asks for and steers them over stdin and stdout.
//!
//! ```text
//! loadgen c100k --addr A --kind ws|sse [--first I] [--conns N]
//!               [--per-source P] [--source-base S] [--batch B] [--echo-percent X]
//! ```
//!
//! The worker opens connections `I..I+N` of the whole run (WebSocket
//! upgrades of `/ws` or SSE requests of `/sse`), connection `g` bound to the
//! source address `127.0.0.(S + g / P)` (S default 2, P default 14,000) so
//! that no address runs short of ephemeral ports: `bind` takes ports of one
//! parity first, half of `ip_local_port_range`, and past that half every
//! `bind` scans all of it, so P stays below the half. At most B handshakes
//! wait at once (the listen backlog). Every client reads from the moment it
//! is connected, counting the broadcast messages (ending in `~END`) and
//! answering pings, and is closed with a reset (zero linger: no TIME_WAIT
//! keeps its port from the next run). Failed connections (not answered
//! within 30 s, refused, ...) are counted with the first error and left
//! out. Once all are tried, the worker prints one
//! JSON line (`ready`). Commands, one a line on stdin, each answered by one
//! JSON line:
//!
//! - `broadcast R`: waits (up to 60 s) until every client has its R-th
//!   broadcast message; prints how many have it and the wall-clock times
//!   (Unix ns, so that the driver compares workers and its own publish
//!   time) at which the first and the last client got it.
//! - `echo R` (WebSocket): a random X % of the clients (at least one, drawn
//!   afresh for each R) each send one 16-byte text message; waits (up to
//!   30 s) for every echo; prints each round trip, from the write in the
//!   client's task to the complete echo frame.
//! - `quit` (or the end of stdin): ends the worker.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use crate::{Args, invalid, wire};

/// The broadcast rounds a worker keeps apart.
const MAX_ROUNDS: usize = 64;
/// What every broadcast message ends with.
const MARKER: &[u8] = b"~END";
/// How long a connection may take to be answered (one the server never
/// accepts waits in its backlog).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The payload of an echo message (told apart from broadcasts by its start).
const ECHO: &[u8] = b"echo-0123456789.";

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    WebSocket,
    Sse,
}

/// When the clients got one broadcast message.
struct Round {
    have: AtomicUsize,
    first_ns: AtomicU64,
    last_ns: AtomicU64,
}

impl Round {
    fn arrived(&self) {
        let now = unix_ns();
        self.first_ns.fetch_min(now, Ordering::Relaxed);
        self.last_ns.fetch_max(now, Ordering::Relaxed);
        self.have.fetch_add(1, Ordering::Release);
    }
}

/// What the clients of one worker share.
struct Shared {
    rounds: Vec<Round>,
    /// Round trips of the echoes of the current `echo` command.
    echoes_ns: Mutex<Vec<u64>>,
    closed: AtomicUsize,
}

pub async fn run(args: &Args) -> io::Result<String> {
    let addr = args.text("addr")?;
    let server: SocketAddr = addr
        .parse()
        .map_err(|_| invalid(format!("--addr {addr}: an IP address and port")))?;
    let kind = match args.text("kind")?.as_str() {
        "ws" => Kind::WebSocket,
        "sse" => Kind::Sse,
        other => return Err(invalid(format!("--kind {other}: ws or sse"))),
    };
    let first = args.number("first", 0)?;
    let conns = args.number("conns", 1_000)?;
    let per_source = args.number("per-source", 14_000)?.max(1);
    let source_base = args.number("source-base", 2)?.max(1);
    let batch = args.number("batch", 256)?.max(1);
    let percent = args.float("echo-percent", 1.0)?;
    if source_base + (first + conns).div_ceil(per_source) > 255 {
        return Err(invalid(
            "the source addresses would go past 127.0.0.254".into(),
        ));
    }

    let (request, status) = match kind {
        Kind::WebSocket => (wire::upgrade_request(&addr, "/ws"), "101"),
        Kind::Sse => (
            format!("GET /sse HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n")
                .into_bytes(),
            "200",
        ),
    };
    let shared = Arc::new(Shared {
        rounds: (0..MAX_ROUNDS)
            .map(|_| Round {
                have: AtomicUsize::new(0),
                first_ns: AtomicU64::new(u64::MAX),
                last_ns: AtomicU64::new(0),
            })
            .collect(),
        echoes_ns: Mutex::new(Vec::new()),
        closed: AtomicUsize::new(0),
    });
    let mut bells = Vec::with_capacity(conns);
    let mut failed = 0;
    let mut first_error = String::new();
    let started = Instant::now();
    // Each client reads from the moment it is connected (a WebSocket server
    // pings after a while and drops a client that does not answer).
    let mut opened = futures_util::stream::iter(first..first + conns)
        .map(|g| {
            let source = Ipv4Addr::new(127, 0, 0, (source_base + g / per_source) as u8);
            let opening = open(source, server, &request, status);
            async {
                tokio::time::timeout(HANDSHAKE_TIMEOUT, opening)
                    .await
                    .unwrap_or_else(|_| Err(io::Error::other("no answer within 30 s")))
            }
        })
        .buffer_unordered(batch);
    while let Some(outcome) = opened.next().await {
        match outcome {
            Ok((stream, rest)) => {
                let bell = Arc::new(Notify::new());
                bells.push(bell.clone());
                tokio::spawn(client(stream, rest, kind, shared.clone(), bell));
            }
            Err(error) => {
                if failed == 0 {
                    first_error = error.to_string();
                }
                failed += 1;
            }
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    let live = bells.len();
    println!(
        "{{\"ready\": {live}, \"failed\": {failed}, \"first_error\": {first_error:?}, \"connect_secs\": {connect_secs:.3}}}"
    );

    let mut commands = stdin_lines();
    while let Some(line) = commands.recv().await {
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or_default();
        let round: usize = words.next().and_then(|w| w.parse().ok()).unwrap_or(1);
        let answer = match command {
            "broadcast" if (1..=MAX_ROUNDS).contains(&round) => {
                broadcast(&shared.rounds[round - 1], round, live).await
            }
            "echo" if kind == Kind::WebSocket => echo(&shared, &bells, percent, round).await,
            "quit" => break,
            _ => format!("{{\"error\": {line:?}}}"),
        };
        println!("{answer}");
    }
    Ok(format!(
        "{{\"done\": true, \"closed_by_server\": {}}}",
        shared.closed.load(Ordering::Relaxed)
    ))
}

/// Connects from `source` to `server`, sends `request` and reads the answer's
/// head, which must have `status`; returns the socket and the bytes after
/// the head.
async fn open(
    source: Ipv4Addr,
    server: SocketAddr,
    request: &[u8],
    status: &str,
) -> io::Result<(TcpStream, Vec<u8>)> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let mut stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    // Closed with a reset: no TIME_WAIT left holding the port for the next run.
    stream.set_zero_linger()?;
    stream.write_all(request).await?;
    let mut head = Vec::with_capacity(256);
    let end = loop {
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if head.len() > 8192 || stream.read_buf(&mut head).await? == 0 {
            return Err(io::Error::other("no complete answer head"));
        }
    };
    let line = String::from_utf8_lossy(&head[..end]);
    if line.split(' ').nth(1) != Some(status) {
        let first_line = line.lines().next().unwrap_or_default();
        return Err(io::Error::other(format!("answered {first_line}")));
    }
    Ok((stream, head.split_off(end + 4)))
}

/// One client: reads until the server closes, counting broadcast messages
/// into `shared.rounds`, answering pings, and sending one echo message each
/// time `bell` rings.
async fn client(
    mut stream: TcpStream,
    mut buf: Vec<u8>,
    kind: Kind,
    shared: Arc<Shared>,
    bell: Arc<Notify>,
) {
    let echo_frame = wire::masked_text_frame(ECHO);
    let mut broadcasts = 0;
    let mut echo_sent: Option<Instant> = None;
    loop {
        let mut replies = Vec::new();
        let mut count = |shared: &Shared| {
            if let Some(round) = shared.rounds.get(broadcasts) {
                round.arrived();
            }
            broadcasts += 1;
        };
        let consumed = match kind {
            Kind::Sse => {
                let mut from = 0;
                while let Some(at) = buf[from..].windows(MARKER.len()).position(|w| w == MARKER) {
                    count(&shared);
                    from += at + MARKER.len();
                }
                // A marker's first bytes may end the buffer.
                from.max(buf.len().saturating_sub(MARKER.len() - 1))
            }
            Kind::WebSocket => {
                let mut from = 0;
                while let Some((header, len)) = wire::complete_frame_parts(&buf[from..]) {
                    let payload = &buf[from + header..from + header + len];
                    match buf[from] & 0x0f {
                        0x8 => {
                            shared.closed.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        0x9 => replies.extend(wire::masked_frame(0xA, payload)),
                        _ if payload.starts_with(ECHO) => {
                            if let Some(sent) = echo_sent.take() {
                                let ns = sent.elapsed().as_nanos() as u64;
                                lock(&shared.echoes_ns).push(ns);
                            }
                        }
                        _ if payload.ends_with(MARKER) => count(&shared),
                        _ => {}
                    }
                    from += header + len;
                }
                from
            }
        };
        buf.drain(..consumed);
        if !replies.is_empty() && stream.write_all(&replies).await.is_err() {
            break;
        }
        if buf.capacity() - buf.len() < 256 {
            buf.reserve(512);
        }
        tokio::select! {
            read = stream.read_buf(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            },
            () = bell.notified() => {
                echo_sent = Some(Instant::now());
                if stream.write_all(&echo_frame).await.is_err() {
                    break;
                }
            }
        }
    }
    shared.closed.fetch_add(1, Ordering::Relaxed);
}

/// Waits until all `live` clients have the message of `round`.
async fn broadcast(round: &Round, number: usize, live: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while round.have.load(Ordering::Acquire) < live && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let have = round.have.load(Ordering::Acquire);
    let time = |ns: u64| {
        if have == 0 {
            "null".to_owned()
        } else {
            ns.to_string()
        }
    };
    format!(
        "{{\"round\": {number}, \"have\": {have}, \"of\": {live}, \"first_ns\": {}, \"last_ns\": {}}}",
        time(round.first_ns.load(Ordering::Relaxed)),
        time(round.last_ns.load(Ordering::Relaxed)),
    )
}

/// Rings the bells of `percent` % of the clients (drawn with a generator
/// seeded by `round`), and collects their round trips.
async fn echo(shared: &Shared, bells: &[Arc<Notify>], percent: f64, round: usize) -> String {
    lock(&shared.echoes_ns).clear();
    let chosen = sample(bells.len(), percent, round as u64);
    for &at in &chosen {
        bells[at].notify_one();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while lock(&shared.echoes_ns).len() < chosen.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let latencies: Vec<String> = lock(&shared.echoes_ns)
        .iter()
        .map(|ns| format!("{:.1}", *ns as f64 / 1e3))
        .collect();
    format!(
        "{{\"echo\": {round}, \"sent\": {}, \"latencies_us\": [{}]}}",
        chosen.len(),
        latencies.join(", ")
    )
}

/// `percent` % of `0..n` (at least one if `n > 0`), distinct, drawn with
/// xorshift64* seeded by `seed`, in increasing order.
fn sample(n: usize, percent: f64, seed: u64) -> Vec<usize> {
    let want = ((n as f64 * percent / 100.0).ceil() as usize).clamp(n.min(1), n);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut chosen = vec![false; n];
    let mut left = want;
    while left > 0 {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let at = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize;
        if !chosen[at] {
            chosen[at] = true;
            left -= 1;
        }
    }
    (0..n).filter(|&at| chosen[at]).collect()
}

/// The lines of stdin, read on a thread of their own.
fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (sender, receiver) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in io::stdin().lines() {
            let Ok(line) = line else { return };
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::sample;

    #[test]
    fn sample_draws_the_share_asked_for_without_repeats() {
        let chosen = sample(19_900, 1.0, 3);
        assert_eq!(chosen.len(), 199);
        assert!(chosen.windows(2).all(|w| w[0] < w[1]));
        assert_ne!(chosen, sample(19_900, 1.0, 4));
        assert_eq!(sample(10, 1.0, 1).len(), 1);
        assert!(sample(0, 1.0, 1).is_empty());
    }
}
