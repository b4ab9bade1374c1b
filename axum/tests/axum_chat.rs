//! The axum_chat example against the chat wire contract: join and leave
//! notices to the room's others, messages re-stamped and broadcast,
//! `/events` with ids and `Last-Event-ID` replay, and axum's own routes
//! beside them.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tidings_axum::{Message, ServerConfig, Tidings, TidingsRouter};
use tidings_tokio::{Connection, EventSourceConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[allow(dead_code, reason = "the example's main is not used here")]
#[path = "../examples/axum_chat.rs"]
mod example;

const WAIT: Duration = Duration::from_secs(5);

async fn read_json(conn: &Connection) -> Value {
    match tokio::time::timeout(WAIT, conn.read())
        .await
        .expect("in time")
        .unwrap()
    {
        Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
        other => panic!("expected text, got {other:?}"),
    }
}

async fn get(addr: SocketAddr, path: &str) -> String {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: chat\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    response
}

/// Waits (at most [`WAIT`]) until `done` holds.
async fn in_time(done: impl Fn() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_of_the_contract_inside_axum() {
    let tidings = Tidings::new(
        TidingsRouter::new(),
        ServerConfig::default(),
        tidings_tokio::Tokio,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hub = tidings.hub().clone();
    tokio::spawn(async move { axum::serve(listener, example::app(tidings)).await.unwrap() });

    let url = |path: &str| format!("ws://{addr}{path}");
    let ann = tidings_tokio::connect(url("/ws/chat/lobby?user=ann"))
        .await
        .unwrap();
    // `connect` returns at the 101; ann's handler joins the room in its own
    // task. Bob's join notice goes only to those already in the room.
    in_time(|| hub.members("lobby").len() == 1).await;
    let bob = tidings_tokio::connect(url("/ws/chat/lobby?user=bob"))
        .await
        .unwrap();
    let joined = read_json(&ann).await;
    assert_eq!(joined["type"], "system");
    assert_eq!(joined["user"], "bob");
    assert_eq!(joined["content"], "bob joined the room");
    assert!(joined["time"].as_str().unwrap().ends_with('Z'), "{joined}");

    bob.write(r#"{"content":"hello, ann","user":"mallory"}"#)
        .await
        .unwrap();
    let said = read_json(&ann).await;
    assert_eq!(said["type"], "message");
    assert_eq!(said["user"], "bob", "the server stamps the sender");
    assert_eq!(said["content"], "hello, ann");
    // Not back to the sender.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), bob.read())
            .await
            .is_err()
    );

    // /events: ids 1 (ann joined), 2 (bob joined), 3 (the message); after
    // Last-Event-ID 1 come 2 and 3.
    let request = http::Request::get(format!("http://{addr}/events"))
        .header("last-event-id", "1")
        .body(())
        .unwrap();
    let config = EventSourceConfig::default().max_retries(Some(0));
    let mut events = tidings_tokio::connect_events_with(request, config)
        .await
        .unwrap();
    let mut next = async || {
        tokio::time::timeout(WAIT, events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    };
    let join = next().await;
    assert_eq!(
        (join.event_type.as_str(), join.last_event_id.as_str()),
        ("join", "2")
    );
    let message = next().await;
    assert_eq!(
        (message.event_type.as_str(), message.last_event_id.as_str()),
        ("message", "3")
    );
    let data: Value = serde_json::from_str(&message.data).unwrap();
    assert_eq!(
        (&data["room"], &data["user"], &data["content"]),
        (&"lobby".into(), &"bob".into(), &"hello, ann".into())
    );

    bob.close().await.unwrap();
    let left = read_json(&ann).await;
    assert_eq!(left["content"], "bob left the room");
    let leave = next().await;
    assert_eq!(leave.event_type, "leave");

    // axum's routes beside the chat.
    assert!(get(addr, "/health").await.ends_with("ok"));
    let page = get(addr, "/").await;
    assert!(page.contains("text/html"), "{page}");
    let stats = get(addr, "/stats").await;
    assert!(
        stats.contains(r#""websocket":{"active":1,"total":2}"#),
        "{stats}"
    );
}
