//! Figures of the Redis engine (#19's closing note), on tokio against a
//! real redis-server: cross-node delivery latency (p50, p99) against
//! same-node at fixed rates of 1 KiB broadcasts, the highest of those rates
//! with a cross-node p99 under 50 ms, and Redis bytes per message. A
//! measurement, not a check of the code: run it with
//! `cargo test -p tidings-tests --release --test redis_figures -- --ignored --nocapture`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tidings_framework::hub::{Filter, Payload};
use tidings_redis::{RedisConfig, RedisEngine};
use tidings_tests::rooms::{join_room, room_router};
use tidings_tests::{Message, RedisServer, ServerConfig, Tokio, run_tokio, start_server, timeout};

const SIZE: usize = 1024;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture (release build)"]
fn figures() {
    run_tokio(async {
        let Some(redis) = RedisServer::start() else {
            return;
        };
        let mut servers = Vec::new();
        for name in ["a", "b"] {
            let engine = RedisEngine::connect(Tokio, &redis.url(), name, RedisConfig::default())
                .await
                .expect("connect");
            servers.push(
                start_server::<Tokio>(room_router(), ServerConfig::default().engine(engine)).await,
            );
        }
        let (mut local, _) = join_room(&servers[0], "/ws/r").await;
        let (mut remote, _) = join_room(&servers[1], "/ws/r").await;
        let hub = servers[0].handle.hub().clone();
        let mut best = None;
        for rate in [1_000u64, 5_000, 10_000, 20_000, 40_000, 80_000] {
            let count = (rate / 2) as usize; // half a second of traffic
            let sent: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(Vec::with_capacity(count)));
            let in0 = redis.info("total_net_input_bytes").unwrap_or(0);
            let out0 = redis.info("total_net_output_bytes").unwrap_or(0);
            let start = Instant::now();
            let gap = Duration::from_nanos(1_000_000_000 / rate);
            let sender = {
                let hub = hub.clone();
                let sent = sent.clone();
                async move {
                    for n in 0..count {
                        let due = start + gap * n as u32;
                        let now = Instant::now();
                        if due > now {
                            tokio::time::sleep(due - now).await;
                        }
                        let mut text = format!("{n:08}");
                        text.push_str(&"x".repeat(SIZE - text.len()));
                        sent.lock().unwrap().push(Instant::now());
                        hub.broadcast(Payload::text(text), Filter::room("r"));
                    }
                    start.elapsed()
                }
            };
            let receive = |conn: tidings_framework::Connection, sent: Arc<Mutex<Vec<Instant>>>| async move {
                let mut latencies = Vec::with_capacity(count);
                while latencies.len() < count {
                    match timeout::<Tokio, _>(Duration::from_secs(5), conn.read()).await {
                        Ok(Ok(Message::Text(text))) => {
                            let n: usize = text.as_str()[..8].parse().unwrap();
                            let at = sent.lock().unwrap()[n];
                            latencies.push(at.elapsed());
                        }
                        _ => break,
                    }
                }
                (conn, latencies)
            };
            let (took, (local_conn, mut same), (remote_conn, mut cross)) =
                futures_util::future::join3(
                    sender,
                    receive(local, sent.clone()),
                    receive(remote, sent.clone()),
                )
                .await;
            local = local_conn;
            remote = remote_conn;
            let in1 = redis.info("total_net_input_bytes").unwrap_or(0);
            let out1 = redis.info("total_net_output_bytes").unwrap_or(0);
            same.sort();
            cross.sort();
            let lost = count - cross.len();
            let p99 = percentile(&cross, 0.99);
            println!(
                "rate {rate}/s (achieved {:.0}/s), {count} x 1 KiB: same-node p50 {:?} p99 {:?}; cross-node p50 {:?} p99 {:?}, lost {lost}; \
                 redis bytes per message: in {} out {}",
                count as f64 / took.as_secs_f64(),
                percentile(&same, 0.5),
                percentile(&same, 0.99),
                percentile(&cross, 0.5),
                p99,
                (in1 - in0) / count as u64,
                (out1 - out0) / count as u64,
            );
            if p99 < Duration::from_millis(50) && lost == 0 {
                best = Some(rate);
            }
        }
        println!("highest rate tried with cross-node p99 < 50 ms and nothing lost: {best:?}/s");
        assert!(
            best.is_some(),
            "not even 1,000 messages/s with p99 under 50 ms"
        );
    });
}
