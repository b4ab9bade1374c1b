//! Several servers in one process, one hub across them: three nodes on a
//! `MemoryBus`, on every runtime. Cross-node broadcast with each filter
//! kind and sender exclusion (each message once, in order, own echo
//! ignored), node-prefixed ids, send and close by id on another node (and
//! through a remote `ConnectionHandle`),
//! predicate and local filters staying on their node, and the faults the
//! bus injects: a lost publish, held (delayed) and reordered arrivals, a
//! node cut off and back, each seen in the engine statistics.

use std::sync::Arc;

use tidings_framework::close::CloseCode;
use tidings_framework::hub::cluster::{MemoryBus, MemoryEngine};
use tidings_framework::hub::{Delivery, EngineStatus, Filter, Payload};
use tidings_tests::rooms::{WAIT, expect_in_order, join_room, read_text, room_router};
use tidings_tests::{
    Message, ServerConfig, TestRuntime, TestServer, all_runtimes, expect_closed, start_server,
    timeout,
};

all_runtimes!(
    broadcast_reaches_every_node_once_in_order,
    filters_across_nodes,
    send_and_close_by_id_on_another_node,
    a_handle_to_a_connection_on_another_node,
    faults_lost_held_reordered_and_cut_off,
);

const LIMIT: std::time::Duration = WAIT;

/// Three servers, `a`, `b`, `c`, on one bus.
async fn nodes<N: TestRuntime>() -> Vec<(TestServer<N>, Arc<MemoryEngine>)> {
    let bus = MemoryBus::new();
    let mut nodes = Vec::new();
    for name in ["a", "b", "c"] {
        let engine = bus.engine(name).expect("a fresh node name");
        let config = ServerConfig::default().engine(engine.clone());
        nodes.push((start_server::<N>(room_router(), config).await, engine));
    }
    nodes
}

async fn broadcast_reaches_every_node_once_in_order<N: TestRuntime>() {
    let nodes = nodes::<N>().await;
    let (a1, a1_id) = join_room(&nodes[0].0, "/ws/lobby").await;
    let (a2, _) = join_room(&nodes[0].0, "/ws/lobby").await;
    let (b, b_id) = join_room(&nodes[1].0, "/ws/lobby").await;
    let (c, _) = join_room(&nodes[2].0, "/ws/lobby").await;
    let (elsewhere, _) = join_room(&nodes[2].0, "/ws/kitchen").await;
    assert!(a1_id.starts_with("a.ws_"), "{a1_id}");
    assert!(b_id.starts_with("b.ws_"), "{b_id}");

    for n in 0..20 {
        a1.write(format!("a{n}")).await.unwrap();
        b.write(format!("b{n}")).await.unwrap();
    }
    // Every other member gets each message once, in each sender's order.
    for (conn, senders) in [(&a2, "ab"), (&b, "a"), (&c, "ab"), (&a1, "b")] {
        expect_in_order::<N>(conn, senders, 20).await;
    }
    // Nothing for the other room; the marker proves nothing was queued before it.
    nodes[0]
        .0
        .handle
        .hub()
        .broadcast(Payload::text("marker"), Filter::room("kitchen"));
    assert_eq!(read_text::<N>(&elsewhere).await, "marker");

    let a = nodes[0]
        .0
        .handle
        .hub()
        .stats()
        .engine
        .expect("engine stats");
    assert_eq!(a.node, "a");
    assert_eq!(a.status, EngineStatus::Connected);
    assert_eq!(a.published, 21, "20 messages and the marker");
    assert_eq!(a.received, 20, "b's messages; its own echo is not counted");
    let c = nodes[2].0.handle.hub().stats().engine.unwrap();
    assert_eq!(c.received, 41);
    drop((a1, a2, b, c));
}

async fn filters_across_nodes<N: TestRuntime>() {
    let nodes = nodes::<N>().await;
    let (ws_b, _) = join_room(&nodes[1].0, "/ws/r").await;
    let (other_b, other_b_id) = join_room(&nodes[1].0, "/other/r").await;
    let (other_c, _) = join_room(&nodes[2].0, "/other/r").await;
    let hub_a = nodes[0].0.handle.hub();

    // Route filter, with a remote connection excluded by id.
    let report = hub_a.broadcast(
        Payload::text("route"),
        Filter::all()
            .route("/other/:room")
            .except(other_b_id.as_str()),
    );
    assert_eq!(report.delivered, 0, "a has no connection of its own");
    assert_eq!(read_text::<N>(&other_c).await, "route");

    // A predicate, or `local`, stays on its node: b's clients get only the
    // marker that follows.
    hub_a.broadcast(Payload::text("predicate"), Filter::all().matching(|_| true));
    hub_a.broadcast(Payload::text("local"), Filter::all().local());
    // Binary data and the protocol filter cross too.
    hub_a.broadcast(
        Payload::binary(vec![1u8, 2, 3]),
        Filter::room("r").protocol(tidings_framework::Protocol::WebSocket),
    );
    for conn in [&ws_b, &other_b] {
        match timeout::<N, _>(LIMIT, conn.read()).await {
            Ok(Ok(Message::Binary(data))) => assert_eq!(&data[..], [1, 2, 3]),
            other => panic!("expected the binary broadcast, got {other:?}"),
        }
    }
    assert_eq!(
        nodes[0].0.handle.hub().stats().engine.unwrap().published,
        2,
        "the route and the binary broadcasts only"
    );
    drop((ws_b, other_b, other_c));
}

async fn send_and_close_by_id_on_another_node<N: TestRuntime>() {
    let nodes = nodes::<N>().await;
    let (b, b_id) = join_room(&nodes[1].0, "/ws/r").await;
    let (a, a_id) = join_room(&nodes[0].0, "/ws/r").await;
    let hub_c = nodes[2].0.handle.hub();

    assert_eq!(
        hub_c.send_to(&b_id, &Payload::text("to b")),
        Delivery::Forwarded
    );
    assert_eq!(read_text::<N>(&b).await, "to b");
    // On its own node, a send by id is queued directly.
    assert_eq!(
        nodes[0]
            .0
            .handle
            .hub()
            .send_to(&a_id, &Payload::text("to a")),
        Delivery::Queued
    );
    assert_eq!(read_text::<N>(&a).await, "to a");
    assert_eq!(
        nodes[0]
            .0
            .handle
            .hub()
            .send_to("a.ws_999", &Payload::text("x")),
        Delivery::Closed
    );

    assert!(hub_c.close_connection(&b_id, CloseCode(4000), "bye"));
    let closed = expect_closed(timeout::<N, _>(LIMIT, b.read()).await.expect("in time"));
    let received = closed.received.expect("the server's close frame");
    assert_eq!(
        (received.code, received.reason.as_str()),
        (CloseCode(4000), "bye")
    );
    drop(a);
}

async fn a_handle_to_a_connection_on_another_node<N: TestRuntime>() {
    let nodes = nodes::<N>().await;
    let (b, b_id) = join_room(&nodes[1].0, "/ws/r").await;
    let (b2, b2_id) = join_room(&nodes[1].0, "/ws/r").await;
    let hub_c = nodes[2].0.handle.hub();

    let handle = hub_c
        .get_connection(&b_id)
        .expect("a handle to b's connection");
    assert!(handle.is_remote());
    assert_eq!(
        (handle.id(), handle.node(), handle.protocol()),
        (
            b_id.as_str(),
            Some("b"),
            tidings_framework::Protocol::WebSocket
        )
    );
    assert!(handle.info().is_none(), "details stay on b");
    assert_eq!(handle.get::<String>(), None, "values stay on b");
    assert_eq!(handle.send_text("via handle"), Delivery::Forwarded);
    assert_eq!(read_text::<N>(&b).await, "via handle");
    assert_eq!(
        handle.send(&Payload::binary(vec![7u8])),
        Delivery::Forwarded
    );
    match timeout::<N, _>(LIMIT, b.read()).await {
        Ok(Ok(Message::Binary(data))) => assert_eq!(&data[..], [7]),
        other => panic!("expected the binary send, got {other:?}"),
    }

    // The protocol comes from the id; ids no server gives have no handle;
    // this node's ids are looked up here (none open on c).
    let sse = hub_c.get_connection("b.sse_12").expect("an SSE id of b");
    assert_eq!(sse.protocol(), tidings_framework::Protocol::Sse);
    for bad in ["b.http_1", "b.ws_", "b.ws_1x", "b.", "b.ws_1.2", "c.ws_1"] {
        assert!(hub_c.get_connection(bad).is_none(), "{bad}");
    }
    // A send to a connection b does not have is dropped there: b's other
    // client sees nothing before the next message to it.
    let gone = hub_c.get_connection("b.ws_999").expect("made from the id");
    assert_eq!(gone.send_text("nobody"), Delivery::Forwarded);
    hub_c.get_connection(&b2_id).expect("b2").send_text("to b2");
    assert_eq!(read_text::<N>(&b2).await, "to b2");

    // Closing through the handle.
    handle.close_with(CloseCode(4002), "via handle");
    let closed = expect_closed(timeout::<N, _>(LIMIT, b.read()).await.expect("in time"));
    let received = closed.received.expect("the server's close frame");
    assert_eq!(
        (received.code, received.reason.as_str()),
        (CloseCode(4002), "via handle")
    );
    // On its own node, the handle is the local one.
    let local = nodes[1].0.handle.hub().get_connection(&b2_id).expect("b2");
    assert!(!local.is_remote());
    assert_eq!(local.node(), Some("b"));
    assert!(local.info().is_some());
    drop(b2);
}

async fn faults_lost_held_reordered_and_cut_off<N: TestRuntime>() {
    let nodes = nodes::<N>().await;
    let (b, _) = join_room(&nodes[1].0, "/ws/r").await;
    let (hub_a, engine_a) = (nodes[0].0.handle.hub(), &nodes[0].1);
    let engine_b = &nodes[1].1;
    let say = |text: &str| {
        hub_a.broadcast(Payload::text(text), Filter::room("r"));
    };

    // Lost: the next publish of a never arrives.
    engine_a.drop_next(1);
    say("lost");
    say("after loss");
    assert_eq!(read_text::<N>(&b).await, "after loss");
    assert_eq!(hub_a.stats().engine.unwrap().dropped, 1);

    // Held (a delay) then released in reverse (reordered): had anything
    // arrived while held, "one" would come first.
    engine_b.hold();
    say("one");
    say("two");
    engine_b.release_reversed();
    assert_eq!(read_text::<N>(&b).await, "two");
    assert_eq!(read_text::<N>(&b).await, "one");

    // Held, then released in order.
    engine_b.hold();
    say("three");
    say("four");
    engine_b.release();
    assert_eq!(read_text::<N>(&b).await, "three");
    assert_eq!(read_text::<N>(&b).await, "four");

    // Cut off: what arrives meanwhile is lost and counted; back again, it flows.
    engine_b.disconnect();
    let stats = nodes[1].0.handle.hub().stats().engine.unwrap();
    assert_eq!(stats.status, EngineStatus::Down);
    say("while away");
    engine_b.reconnect();
    say("back");
    assert_eq!(read_text::<N>(&b).await, "back");
    let stats = nodes[1].0.handle.hub().stats().engine.unwrap();
    assert_eq!((stats.dropped, stats.reconnects), (1, 1));
    assert_eq!(stats.status, EngineStatus::Connected);
    assert_eq!(stats.received, 6, "after loss, one..four, back");
}

#[test]
fn node_names_are_checked_and_unique() {
    let bus = MemoryBus::new();
    let a = bus.engine("a").unwrap();
    assert!(bus.engine("a").is_none(), "taken");
    assert!(bus.engine("a.b").is_none(), "a dot would break ids");
    drop(a);
    assert!(bus.engine("a").is_some(), "free again once dropped");
}
