//! `loadgen broadcast`: N WebSocket or SSE clients; each round triggers one
//! broadcast (`GET /publish/{kind}`) and measures until every client has the
//! message. Messages end with the marker `~END`, counted in the raw bytes
//! (WebSocket frames or SSE events alike).

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::{Args, connect_many, wire};

const MARKER: &[u8] = b"~END";

/// Messages received by all clients together, and when the round's target
/// was reached.
#[derive(Default)]
struct Progress {
    received: AtomicUsize,
    target: AtomicUsize,
    reached_at: Mutex<Option<Instant>>,
    reached: Notify,
}

impl Progress {
    fn count(&self, n: usize) {
        for _ in 0..n {
            if self.received.fetch_add(1, Ordering::SeqCst) + 1
                == self.target.load(Ordering::SeqCst)
            {
                *self.reached_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                self.reached.notify_one();
            }
        }
    }
}

pub async fn run(args: &Args) -> io::Result<String> {
    let addr = args.text("addr")?;
    let kind = args.text("kind")?;
    let clients = args.number("clients", 10_000)?;
    let rounds = args.number("rounds", 5)?;
    let (request, status) = match kind.as_str() {
        "ws" => (wire::upgrade_request(&addr, "/ws"), "101"),
        _ => (
            format!("GET /sse HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n")
                .into_bytes(),
            "200",
        ),
    };
    let streams = connect_many(&request, &addr, status, clients, None).await?;
    let progress = Arc::new(Progress::default());
    for (stream, rest) in streams {
        tokio::spawn(listen(stream, rest, progress.clone()));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut times_ms = Vec::new();
    for round in 1..=rounds {
        progress.target.store(clients * round, Ordering::SeqCst);
        let start = Instant::now();
        tokio::spawn(trigger(addr.clone(), kind.clone()));
        let wait = async {
            while progress.received.load(Ordering::SeqCst) < clients * round {
                progress.reached.notified().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .map_err(|_| {
                io::Error::other(format!("round {round}: not every client got the message"))
            })?;
        let reached = progress
            .reached_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        times_ms.push(
            reached
                .unwrap_or_else(Instant::now)
                .duration_since(start)
                .as_secs_f64()
                * 1e3,
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut sorted = times_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let all: Vec<String> = times_ms.iter().map(|t| format!("{t:.2}")).collect();
    Ok(format!(
        "{{\"kind\": \"{kind}\", \"clients\": {clients}, \"median_ms\": {:.2}, \"all_ms\": [{}]}}",
        sorted[sorted.len() / 2],
        all.join(", ")
    ))
}

/// Counts the markers arriving on one client's socket.
async fn listen(mut stream: crate::wire::Conn, mut buf: Vec<u8>, progress: Arc<Progress>) {
    loop {
        let found = buf.windows(MARKER.len()).filter(|w| *w == MARKER).count();
        progress.count(found);
        // Keep a marker's possible first bytes for the next read.
        let keep = buf.len().min(MARKER.len() - 1);
        buf.drain(..buf.len() - keep);
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Asks the server to broadcast, and reads its answer.
async fn trigger(addr: String, kind: String) -> io::Result<()> {
    let mut stream = TcpStream::connect(&addr).await?;
    stream.set_nodelay(true)?;
    let request =
        format!("GET /publish/{kind} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(())
}
