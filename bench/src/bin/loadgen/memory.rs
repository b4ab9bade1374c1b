//! `loadgen memory`: server RSS per idle connection (after the handshake)
//! and after one echo on each.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Args, connect_many, proc_stat, wire};

pub async fn run(args: &Args) -> io::Result<String> {
    let addr = args.text("addr")?;
    let conns = args.number("conns", 10_000)?;
    let pid = args.number("pid", 0)? as u32;
    let settle = Duration::from_secs_f64(args.float("settle", 1.0)?);

    tokio::time::sleep(settle).await;
    let rss_start = proc_stat::rss_bytes(pid);
    let tls = args.tls()?;
    let request = wire::upgrade_request(&addr, "/bench");
    let mut streams = connect_many(&request, &addr, "101", conns, tls.as_ref()).await?;
    tokio::time::sleep(settle).await;
    let rss_idle = proc_stat::rss_bytes(pid);

    let frame = wire::masked_text_frame(&[b'a'; 16]);
    for (stream, _) in &mut streams {
        stream.write_all(&frame).await?;
        stream.flush().await?;
    }
    for (stream, rest) in &mut streams {
        while wire::complete_frame(rest).is_none() {
            if stream.read_buf(rest).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed",
                ));
            }
        }
    }
    tokio::time::sleep(settle).await;
    let rss_echoed = proc_stat::rss_bytes(pid);
    Ok(summary("conns", conns, [rss_start, rss_idle, rss_echoed]))
}

/// The JSON object of a memory run over `n` connections or sessions
/// (`what`): the server's RSS before, with them idle, and after one echo
/// on each, and the two deltas per connection.
pub fn summary(what: &str, n: usize, [rss_start, rss_idle, rss_echoed]: [u64; 3]) -> String {
    let per_conn = |rss: u64| rss.saturating_sub(rss_start) as f64 / n as f64;
    format!(
        "{{\"{what}\": {n}, \"rss_start\": {rss_start}, \"rss_idle\": {rss_idle}, \"rss_echoed\": {rss_echoed}, \
         \"idle_per_conn\": {:.0}, \"echoed_per_conn\": {:.0}}}",
        per_conn(rss_idle),
        per_conn(rss_echoed)
    )
}
