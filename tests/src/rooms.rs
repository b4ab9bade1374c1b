//! A room chat for the multi-node tests (in-memory bus and Redis): each
//! WebSocket client of `/ws/{room}` or `/other/{room}` joins the room, is
//! told its id, and every text it sends is broadcast to the room except
//! itself.

use std::time::Duration;

use tidings_framework::hub::{Filter, Payload};
use tidings_framework::server::{Context, Router};
use tidings_framework::{Connection, Error, Message};

use crate::{ClientConfig, TestRuntime, TestServer, client, timeout};

/// How long a test waits for one message.
pub const WAIT: Duration = Duration::from_secs(5);

async fn room_handler(ctx: Context, conn: Connection) -> Result<(), Error> {
    let room = ctx.param("room").unwrap_or("none").to_owned();
    conn.join(&room);
    conn.write(conn.id()).await?;
    loop {
        let Message::Text(text) = conn.read().await? else {
            continue;
        };
        let filter = Filter::room(room.as_str()).except(conn.id());
        ctx.hub().broadcast(Payload::text(text.as_str()), filter);
    }
}

/// `/ws/:room` and `/other/:room`, both served by the room handler.
pub fn room_router() -> Router {
    Router::new()
        .websocket("/ws/:room", room_handler)
        .websocket("/other/:room", room_handler)
}

/// Connects to `path` on `server`; returns the connection and its id.
pub async fn join_room<N: TestRuntime>(server: &TestServer<N>, path: &str) -> (Connection, String) {
    let conn = client::<N>(&server.url(path), ClientConfig::default()).await;
    let id = read_text::<N>(&conn).await;
    (conn, id)
}

/// The next message, which must be a text within [`WAIT`].
///
/// # Panics
/// On anything else.
pub async fn read_text<N: TestRuntime>(conn: &Connection) -> String {
    match timeout::<N, _>(WAIT, conn.read()).await {
        Ok(Ok(Message::Text(text))) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Reads `count` messages from `conn`, each `{sender}{n}` with a one-letter
/// sender among `senders`, and checks that each sender's messages come
/// once each and in order (0, 1, 2, …).
///
/// # Panics
/// On a duplicate, a gap, a message of a sender not in `senders`.
pub async fn expect_in_order<N: TestRuntime>(conn: &Connection, senders: &str, per_sender: usize) {
    let mut next = vec![0; senders.len()];
    for _ in 0..per_sender * senders.len() {
        let got = read_text::<N>(conn).await;
        let (sender, n) = got.split_at(1);
        let slot = senders
            .find(sender)
            .unwrap_or_else(|| panic!("{got}: from an unexpected sender"));
        assert_eq!(
            n.parse::<usize>().ok(),
            Some(next[slot]),
            "order of {sender}"
        );
        next[slot] += 1;
    }
}
