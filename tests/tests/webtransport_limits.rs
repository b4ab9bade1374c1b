//! WebTransport limits ([`Config`]) on tokio, async-std and smol, with
//! Python aioquic as the client (tests/webtransport/wt_scenarios.py,
//! scenario `limits`), against a server with `max_connections` 2,
//! `max_streams` 4, `buffer_size` 64 KiB, `session_queue` 4 and datagrams
//! of at most 100 bytes:
//!
//! - a third QUIC connection is refused;
//! - a fourth bidirectional data stream (the CONNECT stream is the first
//!   of four) waits, by QUIC flow control, until one of the others ends,
//!   then is served;
//! - a reader that stalls during a 10 MB transfer keeps memory bounded:
//!   while it reads nothing for 1 s (at the start, and again half-way), the
//!   bytes that reach the server's UDP socket for that connection — all
//!   that could be buffered for it — stay within the 64 KiB window plus
//!   packet overhead (the transfer would otherwise arrive whole);
//! - datagrams over the size limit, and those that find the session's
//!   queue full, are dropped and counted in
//!   `Stats::webtransport_datagrams_dropped` (3 + 16 of 23).
//!
//! Without aioquic the test is skipped (see [`tidings_tests::aioquic`]).

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use tidings_framework::server::{Context, Router};
use tidings_framework::webtransport::{self, Config, Error, Session};
use tidings_tests::aioquic::{self, RUNTIMES, Tls, lines_of, python_or_skip, run_script};

/// The transfer's size.
const TRANSFER: usize = 10_000_000;
/// The stream receive window.
const WINDOW: usize = 64 << 10;

/// What the slow reader saw: bytes read, and the bytes that reached the
/// socket during each of its two stalls.
#[derive(Debug)]
struct SlowReader {
    read: usize,
    stalls: [u64; 2],
}

#[test]
fn limits_on_every_runtime() {
    let tmp = env!("CARGO_TARGET_TMPDIR");
    let Some(python) = python_or_skip(tmp, "WebTransport limits test") else {
        return;
    };
    for runtime in RUNTIMES {
        println!("--- {runtime}");
        let certs = Tls::new(tmp, &format!("limits-{runtime}"));
        let (report, reports) = channel();
        let config = Config::default()
            .max_connections(2)
            .max_streams(4)
            .buffer_size(WINDOW)
            .session_queue(4)
            .core(tidings_core::webtransport::Config::default().max_datagram_size(100));
        let served = aioquic::serve_router(runtime, router(report), certs.server_config(), config);
        let args = [
            served.port.to_string(),
            certs.ca_pem.display().to_string(),
            "limits".to_owned(),
        ];
        let output = run_script(&python, "wt_scenarios.py", &args);
        let lines = lines_of(&output);
        assert_eq!(lines.len(), 5, "on {runtime}: {lines:?}");
        assert!(
            lines[0].starts_with("third connection refused"),
            "{lines:?}"
        );
        assert_eq!(
            lines[1..],
            [
                "3 of 4 streams echoed, the fourth waits",
                "fourth stream echoed once one ended",
                "slow reader: read 10000000 bytes",
                "datagrams sent, session closed: 0 ",
            ],
            "on {runtime}"
        );
        let slow = slow_report(&reports);
        println!("slow reader on {runtime}: {slow:?}");
        assert_eq!(slow.read, TRANSFER);
        for arrived in slow.stalls {
            // The window, its packets' overhead (under 10 %), and a few
            // acknowledgement-only packets.
            assert!(
                arrived < (WINDOW + WINDOW / 10 + 4096) as u64,
                "{arrived} bytes arrived for a stalled 64 KiB window on {runtime}"
            );
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while served.hub.stats().webtransport_datagrams_dropped < 19 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let stats = served.hub.stats();
        assert_eq!(
            stats.webtransport_datagrams_dropped, 19,
            "3 too large + 16 beyond the queue of 4, on {runtime}"
        );
        assert!(served.stop(), "the server stops on {runtime}");
    }
}

fn slow_report(reports: &Receiver<SlowReader>) -> SlowReader {
    reports
        .recv_timeout(Duration::from_secs(5))
        .expect("the slow reader's report")
}

fn router(report: Sender<SlowReader>) -> Router {
    let report = Mutex::new(report);
    Router::new()
        .webtransport("/echo", |_ctx: Context, session: Session| async move {
            webtransport::echo(session).await;
            Ok(())
        })
        .webtransport("/slow", move |_ctx: Context, session: Session| {
            let report = report.lock().expect("lock").clone();
            async move {
                let slow = slow_reader(&session).await?;
                session
                    .send_message(format!("read {} bytes", slow.read))
                    .await?;
                let _ = report.send(slow);
                session.closed().await;
                Ok(())
            }
        })
        .webtransport("/sink", |_ctx: Context, session: Session| async move {
            // Never reads its datagrams; ends when told.
            session.receive_message().await?;
            Ok(())
        })
}

/// Reads one incoming stream to its end, stalling 1 s at its start and
/// again half-way; measures what reaches the socket during each stall.
async fn slow_reader(session: &Session) -> Result<SlowReader, Error> {
    let received = || session.quic_stats().udp_rx.bytes;
    let mut stalls = [0; 2];
    let before = received();
    let mut recv = session.accept_uni().await?;
    smol::Timer::after(Duration::from_secs(1)).await;
    stalls[0] = received() - before;
    let mut read = 0;
    let mut stalled = false;
    while let Some(chunk) = recv.read().await? {
        read += chunk.len();
        if !stalled && read >= TRANSFER / 2 {
            stalled = true;
            let before = received();
            smol::Timer::after(Duration::from_secs(1)).await;
            stalls[1] = received() - before;
        }
    }
    Ok(SlowReader { read, stalls })
}
