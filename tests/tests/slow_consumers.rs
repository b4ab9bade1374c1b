//! The slow-consumer proof (issue 5, point 4) on every runtime: 100 clients
//! that stop reading and 5 that keep reading are in one room while 10,000
//! broadcasts of 1 KiB go to it. The healthy clients receive every message
//! in order; the stalled ones are closed with 1013 and counted; the
//! process's resident memory grows by less than the bound derived from the
//! outbox limits (printed with the measured figures).
//!
//! The broadcaster never waits on a client, but it is paced by the healthy
//! clients (it stays at most `WINDOW` messages ahead of the slowest), as a
//! producer that healthy consumers can follow must be: a producer faster
//! than every consumer would overflow them all.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tidings_framework::close::CloseCode;
use tidings_framework::hub::{Filter, Payload};
use tidings_framework::server::Context;
use tidings_framework::ws;
use tidings_tests::{
    ClientConfig, Connection, Message, RawClient, Router, ServerConfig, TestRuntime, all_runtimes,
    channel, client, sleep, start_server, wait_until,
};

all_runtimes!(stalled_clients_are_dropped_and_memory_stays_bounded);

const STALLED: usize = 100;
const HEALTHY: usize = 5;
const BROADCASTS: usize = 10_000;
const SIZE: usize = 1024;
const OUTBOX_BYTES: usize = 256 << 10;
const OUTBOX_MESSAGES: usize = 256;
/// How far the broadcaster may run ahead of the slowest healthy client.
const WINDOW: usize = 64;
/// Allocator and runtime noise on top of the outboxes.
const SLACK_BYTES: usize = 24 << 20;

fn message(seq: usize) -> Vec<u8> {
    let mut data = vec![b'.'; SIZE];
    data[..8].copy_from_slice(&(seq as u64).to_be_bytes());
    data
}

async fn stalled_clients_are_dropped_and_memory_stays_bounded<N: TestRuntime>() {
    let (codes_tx, codes_rx) = channel::unbounded::<(String, Option<CloseCode>)>();
    let router = Router::new().websocket("/room", move |ctx: Context, conn: Connection| {
        let codes = codes_tx.clone();
        async move {
            conn.join("room");
            conn.write(conn.id()).await?;
            let _ = conn.closed().await;
            let code = conn
                .close_info()
                .and_then(|closed| closed.sent)
                .map(|sent| sent.code);
            let _ = codes.send((conn.id().to_owned(), code)).await;
            drop(ctx);
            Ok(())
        }
    });
    let config = ServerConfig::default()
        .outbox_bytes(OUTBOX_BYTES)
        .outbox_messages(OUTBOX_MESSAGES)
        .websocket(ws::Config::default().close_timeout(Duration::from_millis(500)));
    let server = start_server::<N>(router, config).await;
    let hub = server.handle.hub().clone();
    let url = server.url("/room");

    let mut stalled = Vec::with_capacity(STALLED);
    for _ in 0..STALLED {
        // Upgraded, then never read from again.
        stalled.push(RawClient::<N>::upgrade(server.addr, "/room").await);
    }
    let progress: Arc<Vec<AtomicUsize>> =
        Arc::new((0..HEALTHY).map(|_| AtomicUsize::new(0)).collect());
    let (done_tx, done_rx) = channel::unbounded::<Result<usize, String>>();
    let mut healthy_ids = Vec::new();
    for i in 0..HEALTHY {
        let conn = client::<N>(&url, ClientConfig::default()).await;
        match conn.read().await {
            Ok(Message::Text(id)) => healthy_ids.push(id.to_string()),
            other => panic!("expected the id, got {other:?}"),
        }
        let progress = progress.clone();
        let done = done_tx.clone();
        N::default().spawn(async move {
            let mut result = Ok(BROADCASTS);
            for seq in 0..BROADCASTS {
                match conn.read().await {
                    Ok(Message::Binary(data)) if data[..] == message(seq)[..] => {}
                    other => {
                        result = Err(format!("message {seq}: got {:?}", other.map(|m| m.len())));
                        break;
                    }
                }
                progress[i].store(seq + 1, Ordering::Relaxed);
            }
            let _ = conn.close().await;
            let _ = done.send(result).await;
        });
    }
    assert!(
        wait_until::<N>(Duration::from_secs(5), || hub.members("room").len()
            == STALLED + HEALTHY)
        .await
    );

    let rss_before = tidings_tests::rss_bytes();
    let mut rss_peak = rss_before;
    let started = Instant::now();
    let mut dropped = 0;
    for seq in 0..BROADCASTS {
        let payload = message(seq);
        let behind = |progress: &[AtomicUsize]| {
            seq - progress
                .iter()
                .map(|p| p.load(Ordering::Relaxed))
                .min()
                .unwrap_or(0)
        };
        if behind(&progress) >= WINDOW {
            // Let the healthy clients catch up half a window per pause, so
            // the timer's granularity is paid once per 32 messages.
            while behind(&progress) > WINDOW / 2 {
                sleep::<N>(Duration::from_millis(1)).await;
            }
        }
        let report = hub.broadcast(Payload::binary(payload), Filter::room("room"));
        dropped += report.dropped;
        if seq % 500 == 0 {
            rss_peak = rss_peak.max(tidings_tests::rss_bytes());
        }
    }
    for _ in 0..HEALTHY {
        let received = done_rx.recv().await.expect("a healthy client's result");
        assert_eq!(received, Ok(BROADCASTS), "a healthy client missed messages");
    }
    let elapsed = started.elapsed();
    rss_peak = rss_peak.max(tidings_tests::rss_bytes());

    // Every stalled connection ended, having sent 1013; the healthy ones
    // closed normally.
    let mut codes = Vec::new();
    for _ in 0..STALLED + HEALTHY {
        codes.push(codes_rx.recv().await.expect("a handler's close code"));
    }
    let slow: Vec<_> = codes
        .iter()
        .filter(|(id, _)| !healthy_ids.contains(id))
        .map(|(_, code)| *code)
        .collect();
    assert_eq!(slow.len(), STALLED);
    assert!(
        slow.iter()
            .all(|code| *code == Some(CloseCode::TRY_AGAIN_LATER)),
        "stalled clients closed with {slow:?}"
    );
    assert_eq!(dropped, STALLED, "each stalled client dropped once");
    let stats = server.handle.hub().stats();
    assert_eq!(stats.slow_clients_dropped, STALLED as u64);

    let bound = (STALLED + HEALTHY) * OUTBOX_BYTES + SLACK_BYTES;
    let growth = rss_peak.saturating_sub(rss_before);
    println!(
        "slow consumers ({}): {BROADCASTS} x {SIZE} B to {STALLED} stalled + {HEALTHY} healthy in {elapsed:?}; \
         RSS before {} KiB, peak {} KiB, growth {} KiB, bound {} KiB \
         ({} clients x {} KiB outbox + {} KiB slack); dropped {dropped}, counted {}",
        std::any::type_name::<N>(),
        rss_before >> 10,
        rss_peak >> 10,
        growth >> 10,
        bound >> 10,
        STALLED + HEALTHY,
        OUTBOX_BYTES >> 10,
        SLACK_BYTES >> 10,
        stats.slow_clients_dropped,
    );
    assert!(
        growth <= bound,
        "RSS grew by {growth} bytes, over the bound of {bound}"
    );
    drop(stalled);
    assert!(wait_until::<N>(Duration::from_secs(5), || hub.is_empty()).await);
}
