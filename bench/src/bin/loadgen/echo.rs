//! `loadgen echo`: N connections, each keeping K messages in flight; counts
//! the echoes received in the measuring window and their round-trip times.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::wire::Conn;
use crate::{Args, connect_many, proc_stat, syscalls, wire};

/// What one connection measured.
struct Tally {
    messages: u64,
    latencies_ns: Vec<u64>,
}

/// The measuring window: echoes received in `[from, until)` count.
#[derive(Clone, Copy)]
struct Window {
    from: Instant,
    until: Instant,
}

pub async fn run(args: &Args) -> io::Result<String> {
    let addr = args.text("addr")?;
    let conns = args.number("conns", 1)?;
    let size = args.number("size", 16)?;
    let inflight = args.number("inflight", 1)?.max(1);
    let warmup = Duration::from_secs_f64(args.float("warmup", 0.5)?);
    let secs = Duration::from_secs_f64(args.float("secs", 2.0)?);
    let pid = args.number("pid", 0)? as u32;

    let frame = wire::masked_text_frame(&vec![b'a'; size]);
    let frame_len = frame.len();
    let batch: Arc<[u8]> = frame.repeat(inflight).into();
    let tls = args.tls()?;
    let request = wire::upgrade_request(&addr, "/bench");
    let streams = connect_many(&request, &addr, "101", conns, tls.as_ref()).await?;

    let from = Instant::now() + warmup;
    let window = Window {
        from,
        until: from + secs,
    };
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|(stream, _)| tokio::spawn(drive(stream, batch.clone(), frame_len, inflight, window)))
        .collect();
    let mut calls = syscalls::Counting::attach(args, pid)?;
    tokio::time::sleep_until(window.from).await;
    calls.enable();
    let cpu_start = proc_stat::cpu_ticks(pid);
    tokio::time::sleep_until(window.until).await;
    let cpu = proc_stat::cpu_ticks(pid).since(cpu_start);
    let calls = calls.finish();

    let mut messages = 0;
    let mut latencies = Vec::new();
    for task in tasks {
        let tally = task.await.map_err(io::Error::other)??;
        messages += tally.messages;
        latencies.extend(tally.latencies_ns);
    }
    Ok(summary(messages, secs, latencies, cpu, &calls))
}

/// The JSON object of an echo run: `messages` echoed in the window of
/// `secs`, their round trips, the server's CPU time over the window, and
/// `extra` fields (`"name": value, ` each) first.
pub fn summary(
    messages: u64,
    secs: Duration,
    mut latencies_ns: Vec<u64>,
    cpu: proc_stat::CpuTicks,
    extra: &str,
) -> String {
    latencies_ns.sort_unstable();
    let percentile = |p: f64| {
        let at = ((latencies_ns.len() as f64 - 1.0) * p).round() as usize;
        latencies_ns.get(at).map_or(0.0, |&ns| ns as f64 / 1e3)
    };
    format!(
        "{{{extra}\"messages\": {messages}, \"secs\": {}, \"rate\": {:.1}, \"p50_us\": {:.1}, \"p99_us\": {:.1}, \"cpu_ticks\": {}, \"user_ticks\": {}, \"system_ticks\": {}}}",
        secs.as_secs_f64(),
        messages as f64 / secs.as_secs_f64(),
        percentile(0.50),
        percentile(0.99),
        cpu.user + cpu.system,
        cpu.user,
        cpu.system,
    )
}

/// Keeps `inflight` messages in flight on `stream` until the window ends:
/// every read answers all the echoes it completed with one write.
async fn drive(
    mut stream: Conn,
    batch: Arc<[u8]>,
    frame_len: usize,
    inflight: usize,
    window: Window,
) -> io::Result<Tally> {
    let mut tally = Tally {
        messages: 0,
        latencies_ns: Vec::new(),
    };
    let mut sent = VecDeque::with_capacity(inflight);
    let mut buf = Vec::with_capacity((2 * batch.len()).max(64 << 10));
    stream.write_all(&batch).await?;
    stream.flush().await?;
    sent.extend(std::iter::repeat_n(Instant::now(), inflight));
    loop {
        if buf.capacity() - buf.len() < frame_len {
            buf.reserve(frame_len.max(64 << 10));
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed",
            ));
        }
        let now = Instant::now();
        let mut consumed = 0;
        let mut completed = 0;
        while let Some(len) = wire::complete_frame(&buf[consumed..]) {
            consumed += len;
            completed += 1;
            let sent_at = sent.pop_front().unwrap_or(now);
            if now >= window.from && now < window.until {
                tally.messages += 1;
                tally.latencies_ns.push((now - sent_at).as_nanos() as u64);
            }
        }
        buf.drain(..consumed);
        if now >= window.until {
            return Ok(tally);
        }
        if completed > 0 {
            stream.write_all(&batch[..completed * frame_len]).await?;
            stream.flush().await?;
            sent.extend(std::iter::repeat_n(Instant::now(), completed));
        }
    }
}
