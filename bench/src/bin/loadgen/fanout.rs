//! `loadgen fanout`: the chat contract's broadcast (../shared/DESIGN.md),
//! measured from outside on any server that speaks it (tidings' `chat`
//! example, `chat_axum`).
//!
//! `--ws N` WebSocket members join room `--room` (`/ws/chat/ROOM?user=sub`)
//! and `--sse M` listeners open `/events`, in batches, each read from the
//! moment it connects; once the join notices have stopped arriving
//! (nothing for `--settle-ms`), a publisher joins the room and sends
//! `--count` messages at `--rate` per second, each `{"content": "mSEQ
//! tMICROS"}`. Every member receives it as a chat message and every
//! listener as a `message` event: the load generator finds
//! `"content":"mSEQ tMICROS"` in the raw bytes of both, counts each
//! message once per client (missing and twice are reported, not hidden;
//! missing copies of listeners apart, with the `reset` events they got),
//! and takes the latency from the stamp. The server's CPU time (`--pid`)
//! over the publishing phase, divided by the deliveries, is its cost per
//! delivered message; with `--syscalls 1`, its system calls over the same
//! phase (counted by perf, see `syscalls`) are reported beside it. A
//! server whose clients are not all connected and quiet within
//! `--setup-secs` (300; the joins of N members cost N²/2 notices) is
//! reported as `setup_incomplete`, not measured. Until the first message is sent the clients throw away what
//! they receive unread (a member walks the frame headers to answer
//! pings), and "quiet" means no message bytes (text frames, SSE data):
//! heartbeats do not count.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::proc_stat::cpu_ticks;
use crate::syscalls;
use crate::wire::Conn;
use crate::{Args, connect_many, invalid, wire};

const NEEDLE: &[u8] = b"\"content\":\"m";
/// The start of the event an SSE server sends instead of events a listener
/// can no longer get (tidings' `SseTopic` when the listener fell more than
/// its replay buffer behind): counted, to tell why copies are missing.
const RESET: &[u8] = b"event: reset";
/// Clients connected at once, before their join notices are let through.
const BATCH: usize = 100;

/// Counters every client adds to.
#[derive(Default)]
struct Totals {
    /// Bytes of messages received (WebSocket text frames, SSE reads with a
    /// `data:` field): [`settled`] waits for them to stop. Pings and SSE
    /// keep-alive comments do not count: with 10,000 clients a server's
    /// heartbeats never leave a second of quiet.
    bytes: AtomicU64,
    deliveries: AtomicU64,
    /// Whether the publishing phase has begun. Before, nothing the clients
    /// receive can be a published message (join notices, statistics), so
    /// they throw it away unread: WebSocket members walk the frame headers
    /// only (to answer pings), listeners drop the bytes. The joins of N
    /// members deliver N²/2 notices, and reading them cheaply keeps the
    /// load generator from being the bottleneck of the setup.
    publishing: AtomicBool,
}

/// What one client saw of the published messages.
struct Seen {
    /// A WebSocket member (else an SSE listener).
    ws: bool,
    counts: Vec<u8>,
    latencies_us: Vec<u32>,
    ended_early: bool,
    /// Reset events received while publishing (listeners).
    resets: u32,
}

pub async fn run(args: &Args) -> io::Result<String> {
    let addr = args.text("addr")?;
    let ws = args.number("ws", 0)?;
    let sse = args.number("sse", 0)?;
    let rate = args.float("rate", 20.0)?;
    let count = args.number("count", 200)?;
    let pid = args.number("pid", 0)? as u32;
    let room = args.0.get("room").cloned().unwrap_or_else(|| "fan".into());
    let settle = Duration::from_millis(args.number("settle-ms", 1000)? as u64);
    let budget = Duration::from_secs(args.number("setup-secs", 300)? as u64);
    if ws + sse == 0 || count == 0 || rate <= 0.0 {
        return Err(invalid(
            "fanout needs --ws or --sse, --count and --rate above 0".into(),
        ));
    }

    let base = Instant::now();
    let totals = Arc::new(Totals::default());
    let (stop_tx, stop) = watch::channel(false);
    let mut clients = Vec::with_capacity(ws + sse);
    let setup = Instant::now();
    let sse_request =
        format!("GET /events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n")
            .into_bytes();
    let ws_request = wire::upgrade_request(&addr, &format!("/ws/chat/{room}?user=sub"));
    for (request, status, n) in [(&sse_request, "200", sse), (&ws_request, "101", ws)] {
        let mut left = n;
        while left > 0 {
            let batch = left.min(BATCH);
            for (stream, rest) in connect_many(request, &addr, status, batch, None).await? {
                clients.push(tokio::spawn(listen(
                    stream,
                    rest,
                    status == "101",
                    count,
                    base,
                    totals.clone(),
                    stop.clone(),
                )));
            }
            left -= batch;
            // Each join sends a notice to every member: let this batch's
            // reach them before the next, so no member falls more than a
            // batch behind (a server may rightly drop a client that does:
            // tidings closes it with 1013 once its outbox is full).
            settled(&totals, Duration::from_millis(100)).await;
            if setup.elapsed() > budget {
                // The joins alone took too long: say so instead of measuring.
                let _ = stop_tx.send(true);
                return Ok(format!(
                    "{{\"ws\": {ws}, \"sse\": {sse}, \"setup_incomplete\": true, \
                     \"connected\": {}, \"setup_s\": {:.1}}}",
                    clients.len(),
                    setup.elapsed().as_secs_f64()
                ));
            }
        }
    }
    settled(&totals, settle).await;
    let setup_secs = setup.elapsed().as_secs_f64();

    let (publisher, _) = wire::connect(
        &addr,
        &wire::upgrade_request(&addr, &format!("/ws/chat/{room}?user=pub")),
        "101",
        None,
    )
    .await?;
    let (mut publisher_in, mut publisher_out) = tokio::io::split(publisher);
    tokio::spawn(async move {
        let mut sink = Vec::with_capacity(4096);
        while matches!(publisher_in.read_buf(&mut sink).await, Ok(n) if n > 0) {
            sink.clear();
        }
    });
    // perf attaches (counters off) while the publisher's own join notice
    // reaches every member: let it pass.
    let mut calls = syscalls::Counting::attach(args, pid)?;
    settled(&totals, settle).await;
    // No message has been sent yet: from here on the clients read what
    // they receive.
    totals.publishing.store(true, Ordering::SeqCst);

    let expected = (count * (ws + sse)) as u64;
    let before = totals.deliveries.load(Ordering::SeqCst);
    calls.enable();
    let cpu_start = cpu_ticks(pid);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for seq in 0..count {
        ticker.tick().await;
        let stamp = base.elapsed().as_micros();
        let text = format!("{{\"content\":\"m{seq} t{stamp}\"}}");
        publisher_out
            .write_all(&wire::masked_text_frame(text.as_bytes()))
            .await?;
    }
    let sent_at = Instant::now();
    // Every copy, or 10 s after the last message.
    while totals.deliveries.load(Ordering::SeqCst) - before < expected
        && sent_at.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cpu = cpu_ticks(pid).since(cpu_start);
    let calls = calls.finish();
    let _ = stop_tx.send(true);

    let mut missing = 0u64;
    let mut missing_sse = 0u64;
    let mut resets = 0u64;
    let mut twice = 0u64;
    let mut ended_early = 0usize;
    let mut latencies = Vec::with_capacity(expected as usize);
    for client in clients {
        let seen = client.await.map_err(io::Error::other)?;
        let missed = seen.counts.iter().filter(|&&c| c == 0).count() as u64;
        missing += missed;
        if !seen.ws {
            missing_sse += missed;
        }
        resets += u64::from(seen.resets);
        twice += seen
            .counts
            .iter()
            .map(|&c| u64::from(c.saturating_sub(1)))
            .sum::<u64>();
        ended_early += usize::from(seen.ended_early);
        latencies.extend(seen.latencies_us);
    }
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |&us| f64::from(us) / 1e3)
    };
    let delivered = latencies.len() as u64;
    Ok(format!(
        "{{\"ws\": {ws}, \"sse\": {sse}, \"rate\": {rate}, \"count\": {count}, \
         \"expected\": {expected}, \"delivered\": {delivered}, \"missing\": {missing}, \
         \"missing_sse\": {missing_sse}, \"sse_resets\": {resets}, \
         \"twice\": {twice}, \"ended_early\": {ended_early}, \
         \"p50_ms\": {:.2}, \"p99_ms\": {:.2}, \"max_ms\": {:.2}, \
         \"cpu_ticks\": {}, \"user_ticks\": {}, {}\"setup_s\": {setup_secs:.1}}}",
        percentile(0.5),
        percentile(0.99),
        percentile(1.0),
        cpu.user + cpu.system,
        cpu.user,
        calls,
    ))
}

/// Waits until no client has received a byte for `quiet`.
async fn settled(totals: &Totals, quiet: Duration) {
    let mut last = totals.bytes.load(Ordering::SeqCst);
    let mut since = Instant::now();
    while since.elapsed() < quiet {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = totals.bytes.load(Ordering::SeqCst);
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
}

/// Reads one client until `stop`, counting the published messages in it.
async fn listen(
    mut stream: Conn,
    mut buf: Vec<u8>,
    ws: bool,
    count: usize,
    base: Instant,
    totals: Arc<Totals>,
    mut stop: watch::Receiver<bool>,
) -> Seen {
    let mut seen = Seen {
        ws,
        counts: vec![0; count],
        latencies_us: Vec::new(),
        ended_early: false,
        resets: 0,
    };
    buf.reserve(8192);
    let mut pongs = Vec::new();
    loop {
        let publishing = totals.publishing.load(Ordering::Relaxed);
        let (consumed, news) = match (ws, publishing) {
            (true, _) => scan_frames(&buf, &mut seen, base, &totals, &mut pongs, publishing),
            (false, true) => {
                let consumed = scan(&buf, &mut seen, base, &totals);
                seen.resets += resets_before(&buf, consumed);
                (consumed, sse_news(&buf))
            }
            (false, false) => (buf.len(), sse_news(&buf)),
        };
        if news > 0 {
            totals.bytes.fetch_add(news as u64, Ordering::Relaxed);
        }
        buf.drain(..consumed);
        // A server may ping and close a member that never answers (tidings'
        // heartbeat does): answer as a browser would.
        for pong in pongs.drain(..) {
            if stream.write_all(&pong).await.is_err() {
                seen.ended_early = !*stop.borrow();
                return seen;
            }
        }
        tokio::select! {
            read = stream.read_buf(&mut buf) => match read {
                Ok(n) if n > 0 => {}
                _ => {
                    seen.ended_early = !*stop.borrow();
                    return seen;
                }
            },
            _ = stop.changed() => return seen,
        }
    }
}

/// Walks the complete WebSocket frames at the start of `buf`: counts the
/// needles in text frames (once `publishing`), queues a pong for each
/// ping; returns how many bytes they took and how many of them were text
/// frames.
fn scan_frames(
    buf: &[u8],
    seen: &mut Seen,
    base: Instant,
    totals: &Totals,
    pongs: &mut Vec<Vec<u8>>,
    publishing: bool,
) -> (usize, usize) {
    let mut at = 0;
    let mut text = 0;
    while let Some((header, len)) = wire::complete_frame_parts(&buf[at..]) {
        let payload = &buf[at + header..at + header + len];
        let opcode = buf[at] & 0x0f;
        if opcode == 0x1 {
            text += header + len;
        }
        match opcode {
            0x1 if publishing => {
                scan(payload, seen, base, totals);
            }
            0x9 => pongs.push(wire::masked_frame(0xA, payload)),
            _ => {}
        }
        at += header + len;
    }
    (at, text)
}

/// The reset events that start before `end` in `buf`. `scan` keeps at most
/// `NEEDLE.len() - 1` bytes, fewer than `RESET`'s length, so each of those
/// is whole in `buf`, and one that starts later is counted on the next read.
fn resets_before(buf: &[u8], end: usize) -> u32 {
    let mut at = 0;
    let mut found = 0;
    while let Some(offset) = find(&buf[at..], RESET) {
        if at + offset >= end {
            break;
        }
        found += 1;
        at += offset + RESET.len();
    }
    found
}

/// How many bytes of an SSE read count as news for [`settled`]: all of
/// them if they hold an event's `data:` field, none for keep-alive
/// comments alone.
fn sse_news(buf: &[u8]) -> usize {
    if find(buf, b"data:").is_some() {
        buf.len()
    } else {
        0
    }
}

/// Counts the complete needles in `buf`; returns how many bytes can go
/// (everything but a possible match cut by the end of the buffer).
fn scan(buf: &[u8], seen: &mut Seen, base: Instant, totals: &Totals) -> usize {
    let mut at = 0;
    let mut done = 0;
    while let Some(offset) = find(&buf[at..], NEEDLE) {
        let start = at + offset + NEEDLE.len();
        let Some((seq, after_seq)) = number(buf, start) else {
            // Cut by the end of the buffer: keep from the needle on.
            return at + offset;
        };
        let stamp = match buf.get(after_seq..after_seq + 2) {
            Some(b" t") => number(buf, after_seq + 2),
            Some(_) => {
                at = after_seq;
                done = at;
                continue;
            }
            None => return at + offset,
        };
        let Some((stamp, end)) = stamp else {
            return at + offset;
        };
        if let Some(slot) = seen.counts.get_mut(seq as usize) {
            *slot = slot.saturating_add(1);
            let now = base.elapsed().as_micros() as u64;
            seen.latencies_us
                .push(u32::try_from(now.saturating_sub(stamp)).unwrap_or(u32::MAX));
            totals.deliveries.fetch_add(1, Ordering::Relaxed);
        }
        at = end;
        done = end;
    }
    // No needle from `at` on: keep only what could be the start of one.
    done.max(buf.len().saturating_sub(NEEDLE.len() - 1))
}

/// The decimal number at `buf[start..]` and the index after it, if a
/// non-digit follows it within the buffer.
fn number(buf: &[u8], start: usize) -> Option<(u64, usize)> {
    let digits = buf
        .get(start..)?
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let end = start + digits;
    if digits == 0 || end >= buf.len() {
        return None;
    }
    let text = std::str::from_utf8(&buf[start..end]).ok()?;
    Some((text.parse().ok()?, end))
}

/// The first `needle` in `haystack`: candidates by the first byte (a plain
/// byte scan the compiler vectorises), then a comparison, so that the load
/// generator keeps up with hundreds of thousands of copies a second.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut at = 0;
    while let Some(offset) = haystack.get(at..)?.iter().position(|&b| b == first) {
        let candidate = at + offset;
        if haystack.get(candidate + 1..candidate + needle.len()) == Some(rest) {
            return Some(candidate);
        }
        at = candidate + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::resets_before;

    #[test]
    fn counts_the_resets_that_start_before_the_end() {
        let buf = b"event: reset\nid: 7\ndata\n\nevent: message\ndata: x\n\nevent: reset\n";
        assert_eq!(resets_before(buf, buf.len()), 2);
        // The second starts at the kept tail: counted with the next read.
        let second = buf.len() - b"event: reset\n".len();
        assert_eq!(resets_before(buf, second), 1);
        assert_eq!(resets_before(b"event: message\n", 15), 0);
    }
}
