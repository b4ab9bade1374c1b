//! Nodes of a cluster on a test's [`RedisServer`], for
//! the Redis engine tests: room chat servers ([`node`]), SSE servers of
//! one topic ([`topic_node`]), and waiting on an engine's statistics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tidings_framework::hub::{EngineStats, Filter, Hub, Payload};
use tidings_framework::server::{Router, SseContext};
use tidings_framework::sse::Event;
use tidings_framework::testing::SseClient;
use tidings_redis::{RedisConfig, RedisEngine, RedisTopic};

use crate::rooms::room_router;
use crate::{Connection, Message, RedisServer, ServerConfig, TestRuntime, TestServer};
use crate::{sleep, start_server, timeout};

/// A quick probe, so an outage is seen within a second.
pub fn config() -> RedisConfig {
    RedisConfig::default()
        .probe_interval(Duration::from_millis(200))
        .probe_timeout(Duration::from_millis(600))
        .command_timeout(Duration::from_millis(500))
        .presence_ttl(Duration::from_millis(900))
}

/// A room chat server ([`room_router`]) for node `name` on `redis`.
pub async fn node<N: TestRuntime>(redis: &RedisServer, name: &str) -> TestServer<N> {
    node_with(&redis.url(), name, config()).await
}

/// [`node`] on the Redis at `url`, with `config`.
pub async fn node_with<N: TestRuntime>(
    url: &str,
    name: &str,
    config: RedisConfig,
) -> TestServer<N> {
    let engine = RedisEngine::connect(N::default(), url, name, config)
        .await
        .expect("connect to redis-server");
    start_server::<N>(room_router(), ServerConfig::default().engine(engine)).await
}

/// The engine statistics of `hub`.
///
/// # Panics
/// When the hub has no engine.
pub fn engine(hub: &Arc<Hub>) -> EngineStats {
    hub.stats().engine.expect("an engine")
}

/// Waits (at most 10 s) until `condition` holds for the node's engine stats.
///
/// # Panics
/// When it does not.
pub async fn until<N: TestRuntime>(
    hub: &Arc<Hub>,
    what: &str,
    condition: impl Fn(&EngineStats) -> bool,
) {
    let start = Instant::now();
    while !condition(&engine(hub)) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what}: not within 10 s ({:?})",
            engine(hub)
        );
        sleep::<N>(Duration::from_millis(20)).await;
    }
}

/// Sends `text`-numbered broadcasts from `hub` to room `r` until `conn`
/// gets one (each attempt a new message: delivery is at most once), at
/// most 50 attempts of 200 ms.
///
/// # Panics
/// When none arrives.
pub async fn until_delivered<N: TestRuntime>(hub: &Arc<Hub>, conn: &Connection, text: &str) {
    for attempt in 0..50 {
        hub.broadcast(Payload::text(format!("{text}{attempt}")), Filter::room("r"));
        loop {
            match timeout::<N, _>(Duration::from_millis(200), conn.read()).await {
                Ok(Ok(Message::Text(got))) if got.as_str().starts_with(text) => {
                    return;
                }
                Ok(Ok(_)) => continue,
                Ok(Err(error)) => panic!("{error}"),
                Err(_) => break,
            }
        }
    }
    panic!("{text}: cross-node delivery did not resume");
}

/// A server for node `name` serving `/events` from topic `feed` (capacity
/// `capacity`) of its engine; returns the server and the topic.
pub async fn topic_node<N: TestRuntime>(
    redis: &RedisServer,
    name: &str,
    capacity: usize,
) -> (TestServer<N>, RedisTopic) {
    topic_node_at(&redis.url(), name, capacity).await
}

/// [`topic_node`] on the Redis at `url`.
pub async fn topic_node_at<N: TestRuntime>(
    url: &str,
    name: &str,
    capacity: usize,
) -> (TestServer<N>, RedisTopic) {
    topic_node_with(url, name, capacity, config()).await
}

/// [`topic_node`] on the Redis at `url`, with `config`.
pub async fn topic_node_with<N: TestRuntime>(
    url: &str,
    name: &str,
    capacity: usize,
    config: RedisConfig,
) -> (TestServer<N>, RedisTopic) {
    let engine = RedisEngine::connect(N::default(), url, name, config)
        .await
        .expect("connect to redis-server");
    let topic = engine
        .topic("feed", capacity)
        .await
        .expect("open the topic");
    let feed = topic.clone();
    let router = Router::new().sse("/events", move |ctx: SseContext| {
        let feed = feed.clone();
        async move {
            let subscription = feed.subscribe(ctx.last_event_id()).await;
            ctx.forward(subscription).await;
            Ok(())
        }
    });
    let server = start_server::<N>(router, ServerConfig::default().engine(engine)).await;
    (server, topic)
}

/// Publishes `range` as `tick` events (data: the number).
///
/// # Panics
/// Never for these events (a `tick` type has no line break).
pub fn ticks(topic: &RedisTopic, range: std::ops::Range<u32>) {
    for n in range {
        topic
            .publish(&Event::new().event("tick").data(n.to_string()))
            .unwrap();
    }
}

/// Publishes ticks on `topic` until the live client `sse` (opened without
/// a last event id) receives one; returns its id. The client has the
/// stream's head before the node's handler has subscribed, so a tick
/// published at once can go by unseen; one published after it subscribed
/// arrives. Reads until the last tick published, so none is left unread.
///
/// # Panics
/// On an event that is not a tick, or none after 20 attempts of a second.
pub async fn first_live_tick<N: TestRuntime>(sse: &mut SseClient<N>, topic: &RedisTopic) -> String {
    for n in 0..20u32 {
        ticks(topic, n..n + 1);
        while let Ok(event) = timeout::<N, _>(Duration::from_secs(1), sse.next_event()).await {
            assert_eq!(event.event_type, "tick", "{event:?}");
            if event.data == n.to_string() {
                return event.last_event_id;
            }
        }
    }
    panic!("no tick reached the live client");
}

/// Reads the next `range` ticks, in order; returns their ids.
///
/// # Panics
/// On anything else (a `reset`, another number), or nothing in time.
pub async fn expect_ticks<N: TestRuntime>(
    sse: &mut SseClient<N>,
    range: std::ops::Range<u32>,
) -> Vec<String> {
    let mut ids = Vec::new();
    for n in range {
        let event = sse.next_event().await;
        assert_eq!(
            (event.event_type.as_str(), event.data.as_str()),
            ("tick", &*n.to_string())
        );
        ids.push(event.last_event_id);
    }
    ids
}
