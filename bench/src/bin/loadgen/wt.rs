//! `loadgen wt-echo` and `loadgen wt-memory`: WebTransport over HTTP/3,
//! with wtransport's client (the same client for every server, on quinn
//! like both servers), sessions on `https://ADDR/echo`, one QUIC
//! connection each, certificates not validated (every server makes a fresh
//! self-signed one).
//!
//! `wt-echo --kind stream`: each session keeps one bidirectional stream and
//! sends one `--size` message at a time on it, waiting for the whole echo
//! (a round trip per message). `--kind datagram`: each session sends one
//! datagram at a time (a sequence number first) and waits for its echo;
//! one not back within [`RESEND`] counts as lost and the next is sent.
//! `wt-memory`: server RSS before and after `--sessions` idle sessions, and
//! after one 16-byte bidi stream echo on each.

use std::io;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::time::Instant;
use wtransport::endpoint::endpoint_side::Client;
use wtransport::{ClientConfig, Connection, Endpoint, RecvStream, SendStream};

use crate::{Args, proc_stat};

/// How long a datagram's echo is waited for before the next is sent.
const RESEND: Duration = Duration::from_millis(100);

/// What one session measured.
#[derive(Default)]
struct Tally {
    messages: u64,
    lost: u64,
    latencies_ns: Vec<u64>,
}

impl Tally {
    fn record(&mut self, window: (Instant, Instant), sent: Instant, now: Instant) {
        if now >= window.0 && now < window.1 {
            self.messages += 1;
            self.latencies_ns.push((now - sent).as_nanos() as u64);
        }
    }
}

fn client() -> io::Result<Endpoint<Client>> {
    let config = ClientConfig::builder()
        .with_bind_address(([127, 0, 0, 1], 0).into())
        .with_no_cert_validation()
        // The memory run keeps its sessions idle for seconds.
        .keep_alive_interval(Some(Duration::from_secs(3)))
        .build();
    Endpoint::client(config)
}

/// Opens `n` sessions on `url`, at most 64 handshakes at once.
async fn sessions(endpoint: &Endpoint<Client>, url: &str, n: usize) -> io::Result<Vec<Connection>> {
    futures_util::stream::iter(0..n)
        .map(|_| endpoint.connect(url))
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|session| session.map_err(|e| io::Error::other(format!("connect {url}: {e}"))))
        .collect()
}

pub async fn echo(args: &Args) -> io::Result<String> {
    let url = format!("https://{}/echo", args.text("addr")?);
    let n = args.number("sessions", 10)?;
    let size = args.number("size", 1024)?;
    let datagrams = match args.text("kind")?.as_str() {
        "stream" => false,
        "datagram" => true,
        other => {
            return Err(io::Error::other(format!(
                "--kind {other}: stream or datagram"
            )));
        }
    };
    let warmup = Duration::from_secs_f64(args.float("warmup", 0.5)?);
    let secs = Duration::from_secs_f64(args.float("secs", 2.0)?);
    let pid = args.number("pid", 0)? as u32;

    let endpoint = client()?;
    let sessions = sessions(&endpoint, &url, n).await?;
    let quic: Vec<_> = sessions
        .iter()
        .map(|s| s.quic_connection().clone())
        .collect();
    let from = Instant::now() + warmup;
    let window = (from, from + secs);
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|session| {
            if datagrams {
                tokio::spawn(drive_datagrams(session, size, window))
            } else {
                tokio::spawn(drive_stream(session, size, window))
            }
        })
        .collect();
    tokio::time::sleep_until(window.0).await;
    let cpu_start = proc_stat::cpu_ticks(pid);
    let packets_start = Packets::of(&quic);
    // For bench/instructions: the window's edges (the sessions' handshakes
    // take a while under valgrind).
    eprintln!("window open");
    tokio::time::sleep_until(window.1).await;
    let cpu = proc_stat::cpu_ticks(pid).since(cpu_start);
    let packets = Packets::of(&quic).since(&packets_start);
    eprintln!("window closed");

    let (mut messages, mut lost, mut latencies) = (0, 0, Vec::new());
    for task in tasks {
        let tally = task.await.map_err(io::Error::other)??;
        messages += tally.messages;
        lost += tally.lost;
        latencies.extend(tally.latencies_ns);
    }
    let extra = format!("\"lost\": {lost}, {}{}", packets.json(), stalls(&latencies));
    Ok(crate::echo::summary(messages, secs, latencies, cpu, &extra))
}

/// The echoes that took over 10 ms (on loopback: a loss recovered by a
/// probe timeout, not by the next packets' acknowledgement) and the share of
/// the sessions' time they took.
fn stalls(latencies_ns: &[u64]) -> String {
    const SLOW_NS: u64 = 10_000_000;
    let total: u64 = latencies_ns.iter().sum();
    let slow: Vec<u64> = latencies_ns
        .iter()
        .copied()
        .filter(|&ns| ns > SLOW_NS)
        .collect();
    format!(
        "\"mean_us\": {:.1}, \"over_10ms\": {}, \"over_10ms_time_share\": {:.3}, ",
        total as f64 / latencies_ns.len().max(1) as f64 / 1e3,
        slow.len(),
        slow.iter().sum::<u64>() as f64 / total.max(1) as f64,
    )
}

/// The client's QUIC traffic summed over its sessions (quinn's counters):
/// what the server received and sent, seen from the other end.
#[derive(Default)]
struct Packets {
    /// UDP datagrams the client sent (the server received).
    sent: u64,
    /// UDP datagrams the client received (the server sent).
    received: u64,
    /// ACK frames the client sent.
    acks_sent: u64,
    /// Packets the client declared lost.
    lost: u64,
}

impl Packets {
    fn of(connections: &[wtransport::quinn::Connection]) -> Self {
        let mut sum = Packets::default();
        for stats in connections.iter().map(|c| c.stats()) {
            sum.sent += stats.udp_tx.datagrams;
            sum.received += stats.udp_rx.datagrams;
            sum.acks_sent += stats.frame_tx.acks;
            sum.lost += stats.path.lost_packets;
        }
        sum
    }

    fn since(&self, start: &Self) -> Self {
        Packets {
            sent: self.sent - start.sent,
            received: self.received - start.received,
            acks_sent: self.acks_sent - start.acks_sent,
            lost: self.lost - start.lost,
        }
    }

    fn json(&self) -> String {
        format!(
            "\"client_udp_sent\": {}, \"client_udp_received\": {}, \"client_acks_sent\": {}, \"client_packets_lost\": {}, ",
            self.sent, self.received, self.acks_sent, self.lost
        )
    }
}

/// A bidirectional stream of `session`, its header sent.
async fn open_bi(session: &Connection) -> io::Result<(SendStream, RecvStream)> {
    session
        .open_bi()
        .await
        .map_err(io::Error::other)?
        .await
        .map_err(io::Error::other)
}

/// One message at a time on one bidi stream until the window ends.
async fn drive_stream(
    session: Connection,
    size: usize,
    window: (Instant, Instant),
) -> io::Result<Tally> {
    let (mut send, mut recv) = open_bi(&session).await?;
    let message = vec![b'a'; size];
    let mut buf = vec![0; 64 << 10];
    let mut tally = Tally::default();
    loop {
        let sent = Instant::now();
        send.write_all(&message).await.map_err(io::Error::other)?;
        let mut echoed = 0;
        while echoed < size {
            match recv.read(&mut buf).await.map_err(io::Error::other)? {
                Some(n) => echoed += n,
                None => return Err(io::Error::other("the server ended the stream")),
            }
        }
        let now = Instant::now();
        tally.record(window, sent, now);
        if now >= window.1 {
            return Ok(tally);
        }
    }
}

/// One datagram at a time until the window ends.
async fn drive_datagrams(
    session: Connection,
    size: usize,
    window: (Instant, Instant),
) -> io::Result<Tally> {
    let mut payload = vec![b'a'; size.max(8)];
    let mut tally = Tally::default();
    for seq in 0u64.. {
        payload[..8].copy_from_slice(&seq.to_be_bytes());
        let sent = Instant::now();
        session
            .send_datagram(&payload)
            .map_err(|e| io::Error::other(format!("send_datagram: {e}")))?;
        loop {
            match tokio::time::timeout(RESEND, session.receive_datagram()).await {
                Ok(datagram) => {
                    let datagram = datagram.map_err(io::Error::other)?;
                    // An echo of an earlier, given-up datagram: not this one.
                    if datagram.get(..8) == Some(&seq.to_be_bytes()[..]) {
                        tally.record(window, sent, Instant::now());
                        break;
                    }
                }
                Err(_) => {
                    tally.lost += 1;
                    break;
                }
            }
        }
        if Instant::now() >= window.1 {
            break;
        }
    }
    Ok(tally)
}

pub async fn memory(args: &Args) -> io::Result<String> {
    let url = format!("https://{}/echo", args.text("addr")?);
    let n = args.number("sessions", 1000)?;
    let pid = args.number("pid", 0)? as u32;
    let settle = Duration::from_secs_f64(args.float("settle", 1.0)?);

    let endpoint = client()?;
    tokio::time::sleep(settle).await;
    let rss_start = proc_stat::rss_bytes(pid);
    let sessions = sessions(&endpoint, &url, n).await?;
    tokio::time::sleep(settle).await;
    let rss_idle = proc_stat::rss_bytes(pid);

    // One small bidi stream echo on each session.
    let echoes: Vec<io::Result<()>> = futures_util::stream::iter(&sessions)
        .map(|session| async move {
            let (mut send, mut recv) = open_bi(session).await?;
            send.write_all(&[b'a'; 16])
                .await
                .map_err(io::Error::other)?;
            send.finish().await.map_err(io::Error::other)?;
            let mut buf = [0; 64];
            let mut echoed = 0;
            while let Some(n) = recv.read(&mut buf).await.map_err(io::Error::other)? {
                echoed += n;
            }
            if echoed == 16 {
                Ok(())
            } else {
                Err(io::Error::other(format!("{echoed} bytes echoed of 16")))
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    echoes.into_iter().collect::<io::Result<()>>()?;
    tokio::time::sleep(settle).await;
    let rss_echoed = proc_stat::rss_bytes(pid);
    Ok(crate::memory::summary(
        "sessions",
        n,
        [rss_start, rss_idle, rss_echoed],
    ))
}
