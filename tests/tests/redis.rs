//! The Redis engine against a real `redis-server` (started by each test on
//! a free loopback port, stopped by pid), on every runtime: three servers
//! on one Redis as one hub (broadcast once and in order per sender, own
//! echo ignored, filters, send and close by id on another node, the
//! counters), and an outage (redis-server SIGKILLed then restarted): local
//! delivery goes on, the engine reports it, reconnects, resubscribes and
//! cross-node delivery resumes; a subscriber Redis disconnects for going
//! over `client-output-buffer-limit pubsub` is noticed (counted, status)
//! and recovers; an SSE topic across nodes: a client resumes with
//! `Last-Event-ID` on another node (one that saw the events, one started
//! after them) exactly, or gets `reset` for an id of another epoch or one
//! trimmed away; after an outage a node's live SSE clients get `reset`
//! and resumes come from the stream; a node whose subscription Redis
//! dropped while events flowed catches its live SSE clients up from the
//! stream (every event once, in order, no reset); presence across nodes, where a node
//! cut off from Redis (a TCP proxy the test cuts) loses its members within
//! the TTL; a subscription connection that goes silent without an error
//! (a TCP proxy discards what Redis sends on it, both sockets open) is
//! found by the liveness probe, counted as a stall, replaced, and delivery
//! resumes; a drained node flushes its queue, so its members leave the
//! others' view at once, not by the TTL. Skips loudly when redis-server is missing
//! (fails instead under TIDINGS_REQUIRE_REDIS=1, as in CI).

use std::time::{Duration, Instant};

use tidings_framework::close::CloseCode;
use tidings_framework::hub::{ClusterCounts, Delivery, EngineStatus, Filter, Payload};
use tidings_framework::server::RESET_EVENT;
use tidings_framework::testing::SseClient;
use tidings_redis::RedisEngine;
use tidings_tests::redis_nodes::{
    config, engine, expect_ticks, first_live_tick, node, ticks, topic_node, topic_node_at, until,
    until_delivered,
};
use tidings_tests::rooms::{WAIT, expect_in_order, join_room, read_text, room_router};
use tidings_tests::{
    RedisServer, ServerConfig, TcpProxy, TestRuntime, all_runtimes, expect_closed, sleep,
    start_server, timeout,
};

all_runtimes!(
    three_nodes_one_hub_through_redis,
    redis_restart_reconnects_and_delivery_resumes,
    a_subscriber_redis_drops_is_noticed_and_recovers,
    an_sse_topic_resumes_exactly_on_any_node,
    sse_clients_get_reset_after_an_outage,
    a_node_that_lost_its_subscription_resumes_clients_from_the_stream,
    a_node_that_lost_its_subscription_catches_its_live_sse_clients_up,
    presence_across_nodes_and_a_dead_nodes_members_expire,
    a_wedged_subscription_is_probed_resubscribed_and_delivers_again,
    a_drained_nodes_members_leave_at_once,
    a_redis_restart_under_load_loses_some_live_messages_never_reorders_or_duplicates,
);

async fn three_nodes_one_hub_through_redis<N: TestRuntime>() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node::<N>(&redis, "a").await;
    let b = node::<N>(&redis, "b").await;
    let c = node::<N>(&redis, "c").await;
    let (a1, a1_id) = join_room(&a, "/ws/lobby").await;
    let (a2, _) = join_room(&a, "/ws/lobby").await;
    let (b1, b1_id) = join_room(&b, "/ws/lobby").await;
    let (c1, _) = join_room(&c, "/ws/lobby").await;
    let (c_other, _) = join_room(&c, "/other/lobby").await;
    assert!(a1_id.starts_with("a.ws_") && b1_id.starts_with("b.ws_"));
    // Every node's open connections, added up in Redis (refreshed every
    // third of the presence TTL).
    until::<N>(a.handle.hub(), "cluster-wide counts", |s| {
        s.cluster == Some(ClusterCounts::new(3, 5, 0))
    })
    .await;

    for n in 0..50 {
        a1.write(format!("a{n}")).await.unwrap();
        b1.write(format!("b{n}")).await.unwrap();
    }
    expect_in_order::<N>(&a2, "ab", 50).await;
    expect_in_order::<N>(&b1, "a", 50).await;
    expect_in_order::<N>(&c1, "ab", 50).await;
    expect_in_order::<N>(&c_other, "ab", 50).await;
    expect_in_order::<N>(&a1, "b", 50).await;

    // A route filter: only c's /other client; then a marker to everyone
    // proves nothing else was queued before it.
    let hub_b = b.handle.hub();
    hub_b.broadcast(Payload::text("route"), Filter::all().route("/other/:room"));
    assert_eq!(read_text::<N>(&c_other).await, "route");
    hub_b.broadcast(Payload::text("marker"), Filter::room("lobby"));
    for conn in [&a1, &a2, &b1, &c1, &c_other] {
        assert_eq!(read_text::<N>(conn).await, "marker");
    }

    // Send and close by id on another node.
    let hub_c = c.handle.hub();
    assert_eq!(
        hub_c.send_to(&a1_id, &Payload::text("to a1")),
        Delivery::Forwarded
    );
    assert_eq!(read_text::<N>(&a1).await, "to a1");
    // The same through a handle: get_connection on c finds a's connection.
    let handle = hub_c.get_connection(&a1_id).expect("a handle to a1");
    assert!(handle.is_remote() && handle.node() == Some("a"));
    assert_eq!(handle.send_text("via handle"), Delivery::Forwarded);
    assert_eq!(read_text::<N>(&a1).await, "via handle");
    assert!(hub_c.close_connection(&b1_id, CloseCode(4001), "moved"));
    let closed = expect_closed(timeout::<N, _>(WAIT, b1.read()).await.expect("in time"));
    let received = closed.received.expect("the server's close frame");
    assert_eq!(
        (received.code, received.reason.as_str()),
        (CloseCode(4001), "moved")
    );

    let stats = engine(a.handle.hub());
    assert_eq!(stats.status, EngineStatus::Connected);
    assert_eq!(stats.published, 50, "a's 50 broadcasts");
    assert_eq!(
        stats.received, 54,
        "b's 50, route, marker, c's two sends; its own echo not counted"
    );
    assert_eq!((stats.dropped, stats.stalls, stats.queued), (0, 0, 0));
    assert_eq!(engine(hub_c).published, 3, "the two sends and the close");
    drop((a2, c1));
}

async fn redis_restart_reconnects_and_delivery_resumes<N: TestRuntime>() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let a = node::<N>(&redis, "a").await;
    let b = node::<N>(&redis, "b").await;
    let (a_local, _) = join_room(&a, "/ws/r").await;
    let (b_remote, _) = join_room(&b, "/ws/r").await;
    let hub_a = a.handle.hub().clone();
    hub_a.broadcast(Payload::text("before"), Filter::room("r"));
    assert_eq!(read_text::<N>(&b_remote).await, "before");

    redis.kill();
    until::<N>(&hub_a, "a sees the outage", |s| {
        matches!(s.status, EngineStatus::Reconnecting { .. })
    })
    .await;
    // Local delivery goes on while Redis is away.
    hub_a.broadcast(Payload::text("during"), Filter::room("r"));
    assert_eq!(read_text::<N>(&a_local).await, "before");
    assert_eq!(read_text::<N>(&a_local).await, "during");

    let outage = Instant::now();
    redis.restart();
    until::<N>(&hub_a, "a reconnects", |s| {
        s.status == EngineStatus::Connected
    })
    .await;
    until::<N>(b.handle.hub(), "b reconnects", |s| {
        s.status == EngineStatus::Connected
    })
    .await;
    // Cross-node delivery resumes: "during" may or may not have crossed
    // (at most once); each attempt is a new message, until one arrives.
    let mut resumed = None;
    for attempt in 0..50 {
        hub_a.broadcast(Payload::text(format!("after{attempt}")), Filter::room("r"));
        let got = loop {
            match timeout::<N, _>(Duration::from_millis(200), b_remote.read()).await {
                Ok(Ok(tidings_tests::Message::Text(text))) if text.as_str() == "during" => continue,
                Ok(Ok(tidings_tests::Message::Text(text))) => break Some(text.to_string()),
                Ok(other) => panic!("{other:?}"),
                Err(_) => break None,
            }
        };
        if let Some(text) = got {
            assert!(text.starts_with("after"), "{text}");
            resumed = Some(outage.elapsed());
            break;
        }
    }
    let resumed = resumed.expect("cross-node delivery resumed");
    eprintln!("cross-node delivery resumed {resumed:?} after redis-server restarted");
    let stats = engine(&hub_a);
    assert!(stats.reconnects >= 1, "{stats:?}");
    assert!(engine(b.handle.hub()).reconnects >= 1);
    drop(a_local);
}

async fn a_subscriber_redis_drops_is_noticed_and_recovers<N: TestRuntime>() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node::<N>(&redis, "a").await;
    let b = node::<N>(&redis, "b").await;
    let (b_remote, _) = join_room(&b, "/ws/r").await;
    let hub_a = a.handle.hub().clone();
    until_delivered::<N>(&hub_a, &b_remote, "warm").await;

    // A subscriber may hold at most 64 KiB of unsent pub/sub output: one
    // 256 KiB broadcast goes over it, and Redis disconnects every
    // subscriber of the channel (b's and a's own subscription).
    assert_eq!(
        redis.command("CONFIG SET client-output-buffer-limit \"pubsub 64kb 64kb 0\""),
        "+OK"
    );
    hub_a.broadcast(Payload::text("x".repeat(256 << 10)), Filter::room("r"));
    until::<N>(b.handle.hub(), "b notices and reconnects", |s| {
        s.reconnects >= 1
    })
    .await;
    until::<N>(b.handle.hub(), "b connected", |s| {
        s.status == EngineStatus::Connected
    })
    .await;
    until_delivered::<N>(&hub_a, &b_remote, "after").await;
}

async fn an_sse_topic_resumes_exactly_on_any_node<N: TestRuntime>() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, topic_a) = topic_node::<N>(&redis, "a", 100).await;
    let (b, topic_b) = topic_node::<N>(&redis, "b", 100).await;
    let mut on_a = SseClient::<N>::open(a.addr, "/events", &[]).await;
    // Each node's events in its order (two publishers have no order
    // between them, so one publishes after the other's events arrived).
    ticks(&topic_a, 0..5);
    let mut ids = expect_ticks(&mut on_a, 0..5).await;
    ticks(&topic_b, 5..10);
    ids.extend(expect_ticks(&mut on_a, 5..10).await);
    assert!(ids.iter().all(|id| id.split('-').count() == 3), "{ids:?}");
    drop(on_a);

    // Missed 10..15; resume on b (which saw them) after event 4.
    ticks(&topic_a, 10..15);
    let wait = Instant::now();
    while topic_b.local().len() < 15 {
        assert!(wait.elapsed() < Duration::from_secs(5), "b's copy");
        sleep::<N>(Duration::from_millis(10)).await;
    }
    let headers = [("Last-Event-ID", ids[4].as_str())];
    let mut on_b = SseClient::<N>::open(b.addr, "/events", &headers).await;
    expect_ticks(&mut on_b, 5..15).await;
    ticks(&topic_b, 15..16);
    expect_ticks(&mut on_b, 15..16).await;

    // A node started after those events: its copy is empty, so it reads
    // the stream, then continues live without a duplicate.
    let (c, _topic_c) = topic_node::<N>(&redis, "c", 100).await;
    let mut on_c = SseClient::<N>::open(c.addr, "/events", &headers).await;
    expect_ticks(&mut on_c, 5..16).await;
    assert_eq!(engine(c.handle.hub()).recovered, 1, "from the stream");
    assert_eq!(engine(b.handle.hub()).recovered, 0, "from b's copy");
    ticks(&topic_a, 16..17);
    expect_ticks(&mut on_c, 16..17).await;

    // An id of another epoch: reset, then live.
    let headers = [("Last-Event-ID", "0000-1-0")];
    let mut stale = SseClient::<N>::open(c.addr, "/events", &headers).await;
    assert_eq!(stale.next_event().await.event_type, RESET_EVENT);
    assert_eq!(engine(c.handle.hub()).resets, 1);
    ticks(&topic_a, 17..18);
    expect_ticks(&mut stale, 17..18).await;

    let (e, topic_e) = topic_node::<N>(&redis, "e", 3).await;
    // Capacity 3 on a topic of the same name trims the stream to 3 from
    // the next append on.
    ticks(&topic_e, 18..19);
    let wait = Instant::now();
    while topic_e.local().is_empty() {
        assert!(wait.elapsed() < Duration::from_secs(5), "e's copy");
        sleep::<N>(Duration::from_millis(10)).await;
    }
    let headers = [("Last-Event-ID", ids[4].as_str())];
    let mut trimmed = SseClient::<N>::open(e.addr, "/events", &headers).await;
    assert_eq!(trimmed.next_event().await.event_type, RESET_EVENT);
    drop((a, b));
}

async fn sse_clients_get_reset_after_an_outage<N: TestRuntime>() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let (a, topic_a) = topic_node::<N>(&redis, "a", 100).await;
    let (b, _topic_b) = topic_node::<N>(&redis, "b", 100).await;
    let mut live = SseClient::<N>::open(b.addr, "/events", &[]).await;
    let before = first_live_tick(&mut live, &topic_a).await;

    // Redis restarts without persistence: the stream and its epoch are gone.
    redis.kill();
    until::<N>(b.handle.hub(), "b sees the outage", |s| {
        matches!(s.status, EngineStatus::Reconnecting { .. })
    })
    .await;
    redis.restart();
    until::<N>(b.handle.hub(), "b reconnects", |s| {
        s.status == EngineStatus::Connected
    })
    .await;
    until::<N>(a.handle.hub(), "a reconnects", |s| {
        s.status == EngineStatus::Connected
    })
    .await;
    // b's live client is told it may have missed events, with the last id
    // b received.
    let reset = live.next_event().await;
    assert_eq!(engine(b.handle.hub()).gaps, 1, "one topic, one outage");
    assert_eq!(
        (reset.event_type.as_str(), reset.last_event_id.as_str()),
        (RESET_EVENT, before.as_str())
    );
    // Then live again, in the new epoch (each attempt a new event: at most once).
    let mut after = None;
    for n in 1..50u32 {
        ticks(&topic_a, n..n + 1);
        if let Ok(event) = timeout::<N, _>(Duration::from_millis(200), live.next_event()).await {
            assert_eq!(event.event_type, "tick");
            after = Some(event.last_event_id);
            break;
        }
    }
    let after = after.expect("live again after the outage");
    assert_ne!(
        after.split('-').next(),
        before.split('-').next(),
        "a new epoch"
    );
    // Resuming from the old epoch's id on b: from the stream, which lost it.
    let headers = [("Last-Event-ID", before.as_str())];
    let mut resumed = SseClient::<N>::open(b.addr, "/events", &headers).await;
    assert_eq!(resumed.next_event().await.event_type, RESET_EVENT);
}

async fn a_node_that_lost_its_subscription_resumes_clients_from_the_stream<N: TestRuntime>() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, topic_a) = topic_node::<N>(&redis, "a", 100).await;
    let (b, topic_b) = topic_node::<N>(&redis, "b", 100).await;
    let mut on_b = SseClient::<N>::open(b.addr, "/events", &[]).await;
    let first = first_live_tick(&mut on_b, &topic_a).await;
    drop(on_b);

    // Redis drops every subscriber (not the publishing connections): the
    // stream keeps everything, b's copy may miss what came meanwhile.
    assert!(redis.command("CLIENT KILL TYPE pubsub").starts_with(':'));
    ticks(&topic_a, 1..10);
    until::<N>(b.handle.hub(), "b resubscribed", |s| s.reconnects >= 1).await;
    until::<N>(a.handle.hub(), "a published", |s| s.queued == 0).await;
    // Resuming on b after event 0: from the stream, exactly.
    let headers = [("Last-Event-ID", first.as_str())];
    let mut resumed = SseClient::<N>::open(b.addr, "/events", &headers).await;
    expect_ticks(&mut resumed, 1..10).await;
    // Then live, once: publish until one arrives (at most once while the
    // subscriptions come back), each a new event.
    let mut n = 10;
    loop {
        ticks(&topic_b, n..n + 1);
        match timeout::<N, _>(Duration::from_millis(200), resumed.next_event()).await {
            Ok(event) => {
                // One of the attempts (a slow one may come after a later
                // attempt was sent), never an event before 10 again.
                let got: u32 = event.data.parse().expect("a tick");
                assert_eq!(event.event_type, "tick");
                assert!((10..=n).contains(&got), "{got} after 9");
                break;
            }
            Err(_) => {
                n += 1;
                assert!(n < 60, "live again after the subscription came back");
            }
        }
    }
}

async fn a_node_that_lost_its_subscription_catches_its_live_sse_clients_up<N: TestRuntime>() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, topic_a) = topic_node::<N>(&redis, "a", 200).await;
    // b reaches Redis through a proxy; its first connection is the
    // subscription.
    let proxy = TcpProxy::start(redis.port()).expect("a proxy");
    let url = format!("redis://127.0.0.1:{}", proxy.port());
    let (b, _topic_b) = topic_node_at::<N>(&url, "b", 200).await;
    let mut live = SseClient::<N>::open(b.addr, "/events", &[]).await;
    first_live_tick(&mut live, &topic_a).await;

    // a publishes at a steady pace; b's subscription goes silent in the
    // middle (Redis's bytes to it vanish) until the probe replaces it: b
    // misses those live and reads them from the stream.
    for n in 1..150u32 {
        ticks(&topic_a, n..n + 1);
        if n == 20 {
            assert!(proxy.stall(0));
        }
        sleep::<N>(Duration::from_millis(10)).await;
    }
    until::<N>(a.handle.hub(), "a published", |s| s.queued == 0).await;
    until::<N>(b.handle.hub(), "b caught up", |s| {
        s.stalls >= 1 && s.recovered >= 1
    })
    .await;
    // Every event once, in order, no reset (expect_ticks fails on one).
    let mut ids = expect_ticks(&mut live, 1..150).await;
    ids.dedup();
    assert_eq!(ids.len(), 149, "distinct ids");
    // Nothing else queued for the client: the next one is the next live.
    ticks(&topic_a, 150..151);
    expect_ticks(&mut live, 150..151).await;
    let stats = engine(b.handle.hub());
    assert_eq!(
        (stats.gaps, stats.recovered, stats.resets),
        (0, 1, 0),
        "{stats:?}"
    );
    // Some came only from the stream: fewer than the 151 arrived live.
    assert!(stats.received < 151, "none missed live: {stats:?}");
    eprintln!("caught up after a stalled subscription: {stats:?}");
}

async fn a_wedged_subscription_is_probed_resubscribed_and_delivers_again<N: TestRuntime>() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    // a reaches Redis through a proxy; its first connection is the
    // subscription (made before the publishing one).
    let proxy = TcpProxy::start(redis.port()).expect("a proxy");
    let url = format!("redis://127.0.0.1:{}", proxy.port());
    let proxied = RedisEngine::connect(N::default(), &url, "a", config())
        .await
        .expect("connect through the proxy");
    let a = start_server::<N>(room_router(), ServerConfig::default().engine(proxied)).await;
    let b = node::<N>(&redis, "b").await;
    let (a1, _) = join_room(&a, "/ws/lobby").await;
    let hub_a = a.handle.hub().clone();
    let hub_b = b.handle.hub().clone();
    hub_b.broadcast(Payload::text("before"), Filter::room("lobby"));
    assert_eq!(read_text::<N>(&a1).await, "before");
    let accepted = proxy.accepted();
    assert_eq!(accepted, 2, "a's subscription and publishing connections");

    // Wedge the subscription: Redis's bytes to it vanish, no error.
    assert!(proxy.stall(0));
    let wedged = Instant::now();
    until::<N>(&hub_a, "a stall counted", |s| s.stalls >= 1).await;
    let detected = wedged.elapsed();
    // Until a message gets through again, b keeps broadcasting (each is
    // at most once: those sent while wedged are lost).
    let start = Instant::now();
    let mut n = 0;
    loop {
        hub_b.broadcast(Payload::text(format!("after {n}")), Filter::room("lobby"));
        n += 1;
        match timeout::<N, _>(Duration::from_millis(100), a1.read()).await {
            Ok(Ok(tidings_tests::Message::Text(text))) => {
                assert!(text.starts_with("after "), "{text}");
                break;
            }
            Ok(other) => panic!("expected a broadcast, got {other:?}"),
            Err(_) => assert!(
                start.elapsed() < Duration::from_secs(10),
                "no delivery within 10 s of the stall ({:?})",
                engine(&hub_a)
            ),
        }
    }
    let resumed = start.elapsed();
    until::<N>(&hub_a, "connected again", |s| {
        s.status == EngineStatus::Connected
    })
    .await;
    assert!(
        proxy.accepted() > accepted,
        "the wedged subscription was replaced by a new connection"
    );
    eprintln!(
        "wedged subscription: stall detected after {detected:?}, delivery back {resumed:?} later \
         ({n} broadcasts sent meanwhile; stalls {})",
        engine(&hub_a).stalls
    );
}

async fn a_drained_nodes_members_leave_at_once<N: TestRuntime>() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    // A TTL far longer than the test: members can only leave by their
    // leaves. Commands may take long on a loaded machine: a batch that
    // times out is dropped (at most once), which must not happen here.
    let long = || {
        config()
            .presence_ttl(Duration::from_secs(60))
            .command_timeout(Duration::from_secs(5))
    };
    let connect = |name: &'static str| {
        let url = redis.url();
        async move {
            let engine = RedisEngine::connect(N::default(), &url, name, long())
                .await
                .expect("connect to redis-server");
            start_server::<N>(room_router(), ServerConfig::default().engine(engine)).await
        }
    };
    let a = connect("a").await;
    let b = connect("b").await;
    let (a1, _) = join_room(&a, "/ws/lobby").await;
    let (a2, _) = join_room(&a, "/ws/lobby").await;
    let (b1, b1_id) = join_room(&b, "/ws/lobby").await;
    let hub_b = b.handle.hub().clone();
    let start = Instant::now();
    while hub_b.cluster_members("lobby").await.len() < 3 {
        assert!(start.elapsed() < Duration::from_secs(10), "joins not seen");
        sleep::<N>(Duration::from_millis(20)).await;
    }

    // A thousand messages queued ahead of the leaves the drain makes:
    // the drain returns only once they and the leaves were sent.
    let hub_a = a.handle.hub().clone();
    for n in 0..1000 {
        hub_a.broadcast(Payload::text(format!("m{n}")), Filter::room("elsewhere"));
    }
    let drain = Instant::now();
    assert!(a.handle.shutdown(Duration::from_secs(10)).await, "drained");
    let drained = drain.elapsed();
    let left = engine(&hub_a);
    assert_eq!(left.queued, 0, "flushed: {left:?}");
    assert_eq!(left.dropped, 0, "{left:?}");
    assert_eq!(
        hub_b.cluster_members("lobby").await,
        vec![b1_id],
        "a's members left at once, not after the 60 s TTL"
    );
    eprintln!("drain with 1000 queued messages and 2 leaves: {drained:?}");
    drop((a1, a2, b1));
}

async fn presence_across_nodes_and_a_dead_nodes_members_expire<N: TestRuntime>() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let ttl = Duration::from_millis(600);
    let connect = |url: String, name: &'static str| async move {
        let config = config().presence_ttl(ttl);
        let engine = RedisEngine::connect(N::default(), &url, name, config)
            .await
            .expect("connect to redis-server");
        start_server::<N>(room_router(), ServerConfig::default().engine(engine)).await
    };
    let a = connect(redis.url(), "a").await;
    // b reaches Redis through a proxy: cutting it is b dying, as Redis sees it.
    let proxy = TcpProxy::start(redis.port()).expect("a proxy");
    let b = connect(format!("redis://127.0.0.1:{}", proxy.port()), "b").await;
    let (a1, a1_id) = join_room(&a, "/ws/lobby").await;
    let (a2, a2_id) = join_room(&a, "/ws/lobby").await;
    let (b1, b1_id) = join_room(&b, "/ws/lobby").await;
    let hub_a = a.handle.hub().clone();
    let members_until = |want: Vec<String>, what: &'static str| {
        let hub = hub_a.clone();
        async move {
            let start = Instant::now();
            loop {
                let got = hub.cluster_members("lobby").await;
                if got == want {
                    return start.elapsed();
                }
                assert!(start.elapsed() < Duration::from_secs(10), "{what}: {got:?}");
                sleep::<N>(Duration::from_millis(20)).await;
            }
        }
    };
    let mut all = vec![a1_id.clone(), a2_id.clone(), b1_id.clone()];
    all.sort();
    members_until(all, "all three").await;
    assert_eq!(
        hub_a.members("lobby").len(),
        2,
        "members() stays this node's"
    );

    // A leave is seen everywhere.
    drop(a2);
    let mut two = vec![a1_id.clone(), b1_id.clone()];
    two.sort();
    members_until(two, "a2 left").await;

    // b is cut off: its member expires within the TTL (plus a refresh).
    proxy.cut();
    let gone = members_until(vec![a1_id.clone()], "b's member expired").await;
    assert!(gone < ttl * 3, "expired after {gone:?}");
    eprintln!("a cut-off node's members left after {gone:?} (TTL {ttl:?})");
    drop((a1, b1));
}

async fn a_redis_restart_under_load_loses_some_live_messages_never_reorders_or_duplicates<
    N: TestRuntime,
>() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node::<N>(&redis, "a").await;
    let b = node::<N>(&redis, "b").await;
    let (on_b, _) = join_room(&b, "/ws/r").await;
    let hub_a = a.handle.hub().clone();
    until_delivered::<N>(&hub_a, &on_b, "warm").await;

    // 1,000 messages/s from a for 2 s; redis-server is SIGKILLed after
    // 0.5 s and restarted 0.3 s later.
    const COUNT: u32 = 2_000;
    let rt = N::default();
    let start = rt.now();
    let sender = {
        let hub = hub_a.clone();
        let rt = rt.clone();
        async move {
            for n in 0..COUNT {
                rt.sleep_until(start + Duration::from_millis(u64::from(n)))
                    .await;
                hub.broadcast(Payload::text(n.to_string()), Filter::room("r"));
            }
        }
    };
    rt.spawn(sender);
    // The outage on a thread of its own (restart waits for the server), so
    // that receiving goes on meanwhile.
    let (restarted_tx, restarted_rx) = tidings_tests::channel::bounded(1);
    let mut redis = redis;
    let outage = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        redis.kill();
        let killed = Instant::now();
        std::thread::sleep(Duration::from_millis(300));
        redis.restart();
        let _ = restarted_tx.send_blocking((killed, Instant::now()));
        redis
    });

    let receive = async {
        let mut got: Vec<(u32, Instant)> = Vec::new();
        loop {
            match timeout::<N, _>(Duration::from_secs(2), on_b.read()).await {
                Ok(Ok(tidings_tests::Message::Text(text))) => {
                    let Ok(n) = text.as_str().parse::<u32>() else {
                        continue; // a late "warm" attempt
                    };
                    got.push((n, Instant::now()));
                    if n == COUNT - 1 {
                        break;
                    }
                }
                Ok(other) => panic!("{other:?}"),
                Err(_) => break, // the last ones were lost
            }
        }
        got
    };
    // When b's subscription is back after the restart.
    let hub_b = b.handle.hub().clone();
    let resubscribed = async {
        let (killed, restarted) = restarted_rx.recv().await.expect("the restart");
        while engine(&hub_b).status != EngineStatus::Connected {
            assert!(
                restarted.elapsed() < Duration::from_secs(10),
                "resubscribed"
            );
            sleep::<N>(Duration::from_millis(2)).await;
        }
        (killed, restarted, Instant::now())
    };
    let (got, (killed, restarted, resubscribed)) =
        futures_util::future::join(receive, resubscribed).await;
    let _redis = outage.join().expect("the outage thread");
    let numbers: Vec<u32> = got.iter().map(|(n, _)| *n).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "no duplicate, no reordering"
    );
    let lost = COUNT as usize - numbers.len();
    let back = got
        .iter()
        .find(|(_, at)| *at > restarted)
        .map(|(_, at)| at.duration_since(restarted));
    // The loss window: from the first message lost to the last (one sent
    // per ms), and the longest pause b saw.
    let missing: Vec<u32> = {
        let seen: std::collections::HashSet<u32> = numbers.iter().copied().collect();
        (0..COUNT).filter(|n| !seen.contains(n)).collect()
    };
    let window_ms = match (missing.first(), missing.last()) {
        (Some(first), Some(last)) => last - first + 1,
        _ => 0,
    };
    let pause = got
        .windows(2)
        .map(|w| w[1].1.duration_since(w[0].1))
        .max()
        .unwrap_or_default();
    let stats = engine(&hub_a);
    eprintln!(
        "redis restart under 1,000 msg/s (down {:?}): {lost} of {COUNT} lost to the live path \
         (messages {:?}..={:?}: a {window_ms} ms window; longest pause at b {pause:?}); \
         b resubscribed {:?} after the restart, delivery back {back:?} after it; \
         a's engine: dropped {} (counted as lost by a; the rest were published while b \
         was not subscribed), reconnects {}",
        restarted.duration_since(killed),
        missing.first(),
        missing.last(),
        resubscribed.duration_since(restarted),
        stats.dropped,
        stats.reconnects
    );
    assert!(
        lost < COUNT as usize / 2,
        "most messages arrive ({lost} lost)"
    );
    assert!(back.is_some(), "delivery resumed after the restart");
    assert_eq!(
        numbers.last(),
        Some(&(COUNT - 1)),
        "the last message arrives"
    );
}
