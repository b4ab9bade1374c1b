//! The chat room server of the Forge docs ("Chat Room Example"): rooms of
//! connections behind a mutex, join and leave notices, and every message
//! re-stamped and broadcast to the others in its room.
//!
//! Routes:
//! - `GET /`: the chat page (`index.html`, self-contained).
//! - WebSocket `/ws/chat/:room?user=NAME` (`user` defaults to `anonymous`):
//!   JSON [`ChatMessage`]s both ways.
//! - `GET /events`: 501, Server-Sent Events come in a later version.
//!
//! The example's `main.rs` serves [`router`]; the tests include this file
//! with `#[path = "../examples/chat/app.rs"] mod chat_app;`. The including
//! crate declares `mod rfc3339` (`examples/common/rfc3339.rs`) at its root.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use http::StatusCode;
use serde::{Deserialize, Serialize};
use tidings_tokio::{Connection, Context, Error, Html, RouteOptions, Router};

use crate::rfc3339;

/// The chat page.
pub(crate) const INDEX_HTML: &str = include_str!("index.html");

/// A chat message, in both directions: `{ "type", "user", "content", "time" }`.
///
/// Clients may send only `content`: every field defaults to empty, and the
/// server overwrites `type`, `user` and `time` anyway.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ChatMessage {
    /// `message` for what users say, `system` for join and leave notices.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// Who said it (for notices: who joined or left).
    pub(crate) user: String,
    /// The text.
    pub(crate) content: String,
    /// When the server handled it, RFC 3339 UTC (`2024-05-01T12:00:00Z`).
    pub(crate) time: String,
}

impl ChatMessage {
    fn system(user: &str, content: String) -> Self {
        ChatMessage {
            kind: "system".to_owned(),
            user: user.to_owned(),
            content,
            time: rfc3339::now(),
        }
    }
}

/// Every room by name, each mapping connection ids to connections (the
/// seed's `rooms` and `ChatRoom.clients`). A room is removed when its last
/// member leaves.
#[derive(Debug, Default)]
pub(crate) struct Rooms {
    rooms: Mutex<HashMap<String, HashMap<String, Connection>>>,
}

impl Rooms {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, HashMap<String, Connection>>> {
        // A panic while holding the lock cannot leave the maps half-updated
        // (each operation is one insert or remove), so poison is ignored.
        self.rooms
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Adds `conn` to `room`, creating the room if needed.
    pub(crate) fn join(&self, room: &str, conn: &Connection) {
        self.lock()
            .entry(room.to_owned())
            .or_default()
            .insert(conn.id().to_owned(), conn.clone());
    }

    /// Removes connection `id` from `room`, and the room once empty.
    pub(crate) fn leave(&self, room: &str, id: &str) {
        let mut rooms = self.lock();
        if let Some(members) = rooms.get_mut(room) {
            members.remove(id);
            if members.is_empty() {
                rooms.remove(room);
            }
        }
    }

    /// The number of connections in `room`.
    #[allow(dead_code, reason = "used by the tests, not by the example")]
    pub(crate) fn members(&self, room: &str) -> usize {
        self.lock().get(room).map_or(0, HashMap::len)
    }

    /// Sends `message` to everyone in `room` but connection `sender` (the
    /// seed's `room.Broadcast(conn.ID(), msg)`). The message is serialized
    /// once; the recipients are copied out of the lock before any write, so
    /// no lock is held across an `.await`. A recipient that has gone away is
    /// skipped (its own handler removes it from the room).
    pub(crate) async fn broadcast(&self, room: &str, sender: &str, message: &ChatMessage) {
        let recipients: Vec<Connection> = match self.lock().get(room) {
            Some(members) => members
                .iter()
                .filter(|(id, _)| id.as_str() != sender)
                .map(|(_, conn)| conn.clone())
                .collect(),
            None => return,
        };
        let text = match serde_json::to_string(message) {
            Ok(text) => text,
            // A struct of strings always serializes.
            Err(_) => return,
        };
        for conn in recipients {
            let _ = conn.write(&text).await;
        }
    }
}

/// Removes a connection from its room when the handler ends, however it ends
/// (return, error, or its future being dropped).
struct Membership<'a> {
    rooms: &'a Rooms,
    room: &'a str,
    id: &'a str,
}

impl Drop for Membership<'_> {
    fn drop(&mut self) {
        self.rooms.leave(self.room, self.id);
    }
}

/// The chat router with fresh, empty rooms.
pub(crate) fn router() -> Router {
    router_with(Arc::new(Rooms::default()))
}

/// The chat router over `rooms` (tests keep a handle to watch membership).
pub(crate) fn router_with(rooms: Arc<Rooms>) -> Router {
    Router::new()
        .get("/", |_ctx: Context| async { Html(INDEX_HTML) })
        .get("/events", |_ctx: Context| async {
            (
                StatusCode::NOT_IMPLEMENTED,
                "Server-Sent Events (/events) are not implemented yet; use /ws/chat/:room\n",
            )
        })
        .websocket_with(
            "/ws/chat/:room",
            move |ctx: Context, conn: Connection| chat(rooms.clone(), ctx, conn),
            RouteOptions::new()
                .summary("Chat room")
                .tags(["chat"])
                .messages::<ChatMessage, ChatMessage>(),
        )
}

/// One user in one room: join notice, then each message re-stamped and
/// broadcast to the others, then the leave notice.
async fn chat(rooms: Arc<Rooms>, ctx: Context, conn: Connection) -> Result<(), Error> {
    let room = ctx.param("room").unwrap_or_default().to_owned();
    let user = match ctx.query("user") {
        Some(user) if !user.is_empty() => user.to_owned(),
        _ => "anonymous".to_owned(),
    };

    rooms.join(&room, &conn);
    let _membership = Membership {
        rooms: &rooms,
        room: &room,
        id: conn.id(),
    };
    let joined = ChatMessage::system(&user, format!("{user} joined the room"));
    rooms.broadcast(&room, conn.id(), &joined).await;

    loop {
        match conn.read_json::<ChatMessage>().await {
            Ok(incoming) => {
                let message = ChatMessage {
                    kind: "message".to_owned(),
                    user: user.clone(),
                    time: rfc3339::now(),
                    content: incoming.content,
                };
                rooms.broadcast(&room, conn.id(), &message).await;
            }
            // Closed, or not a chat message: announce the leave and end (the
            // seed returns nil here, so the connection closes with 1000).
            Err(_) => {
                rooms.leave(&room, conn.id());
                let left = ChatMessage::system(&user, format!("{user} left the room"));
                rooms.broadcast(&room, conn.id(), &left).await;
                return Ok(());
            }
        }
    }
}
