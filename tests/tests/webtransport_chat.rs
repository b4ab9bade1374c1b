//! The chat example over WebTransport: its `/wt/chat/:room` route (the
//! example's `app.rs`, served with `Server::with_webtransport` as its
//! `main` does) with a WebSocket member in the same room. bob joins over
//! WebTransport (Python aioquic, `wt_scenarios.py chat`), ann over
//! WebSocket (the tidings client): each hears the other's join, message
//! and leave; a message that is not a chat message closes bob's session
//! with 1003 and the same reason as the WebSocket route. On tokio: the chat
//! is a tokio example.

#[path = "../../runtime-tokio/examples/chat/app.rs"]
#[allow(dead_code, reason = "the test uses part of the example")]
mod chat_app;
#[path = "../../runtime-tokio/examples/common/rfc3339.rs"]
mod rfc3339;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tidings_framework::webtransport::Config;
use tidings_tests::aioquic::{self, Tls, lines_of, python_or_skip, run_script};
use tidings_tests::{TEST_TIMEOUT, Tokio, wait_until};

/// The next chat message ann receives, as JSON.
async fn next(ann: &tidings_tokio::Connection) -> Value {
    let message = tokio::time::timeout(Duration::from_secs(20), ann.read())
        .await
        .expect("a message in time")
        .expect("the connection is open");
    serde_json::from_slice(message.as_bytes()).expect("JSON")
}

#[test]
fn the_chat_over_webtransport_meets_a_websocket_member() {
    let tmp = env!("CARGO_TARGET_TMPDIR");
    let Some(python) = python_or_skip(tmp, "chat over WebTransport") else {
        return;
    };
    let certs = Tls::new(tmp, "chat");
    let rooms = Arc::new(chat_app::Rooms::default());
    let served = aioquic::serve_router(
        "tokio",
        chat_app::router_with(rooms.clone()),
        certs.server_config(),
        Config::default(),
    );
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let ann = runtime.block_on(async {
        let ann =
            tidings_tokio::connect(format!("ws://{}/ws/chat/lobby?user=ann", served.tcp).as_str())
                .await
                .expect("ann joins");
        // `connect` returns at the 101; ann's handler joins the room in its
        // own task, and bob's join notice goes only to those already in it.
        let in_room = wait_until::<Tokio>(TEST_TIMEOUT, || rooms.members("lobby") == 1).await;
        assert!(in_room, "ann is in the room");
        ann
    });
    let args = [
        served.port.to_string(),
        certs.ca_pem.display().to_string(),
        "chat".to_owned(),
    ];
    let bob = std::thread::spawn(move || run_script(&python, "wt_scenarios.py", &args));
    runtime.block_on(async {
        let joined = next(&ann).await;
        assert_eq!(
            (&joined["type"], &joined["content"]),
            (&json!("system"), &json!("bob joined the room"))
        );
        let said = next(&ann).await;
        assert_eq!(
            (&said["type"], &said["user"], &said["content"]),
            (
                &json!("message"),
                &json!("bob"),
                &json!("hello from webtransport")
            )
        );
        ann.write(json!({ "content": "hi bob" }).to_string())
            .await
            .expect("ann writes");
        let left = next(&ann).await;
        assert_eq!(left["content"], "bob left the room", "{left}");
    });
    let output = bob.join().expect("the client thread");
    assert_eq!(
        lines_of(&output),
        [
            "joined: 200".to_owned(),
            "message from ann: hi bob".to_owned(),
            format!("closed: 1003 {}", chat_app::NOT_A_CHAT_MESSAGE),
        ]
    );
    let stats = served.hub.stats();
    assert_eq!(stats.webtransport.total, 1, "{stats:?}");
    assert_eq!(stats.routes["/wt/chat/:room"].total, 1);
    assert!(served.stop(), "the server stops");
}
