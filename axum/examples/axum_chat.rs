//! The chat of tidings' wire contract inside an axum 0.8 app, on tokio:
//!
//! - `GET /ws/chat/{room}?user=NAME`: a WebSocket ([`WsUpgrade`]) whose
//!   connection is a tidings `Connection` in the app's hub; the room's
//!   others get `{"type":"system","user","content":"NAME joined the room","time"}`
//!   on join (and `… left the room` on leave), and every `{"content"}` a
//!   member sends as `{"type":"message","user","content","time"}`;
//! - `GET /events`: Server-Sent Events with ids ([`SseRequest`] over an
//!   [`SseTopic`]): `message` (`{"room","user","content","time"}`), `join`
//!   and `leave` (`{"room","user","members"}`); a reconnecting
//!   `EventSource` resumes after its `Last-Event-ID`;
//! - beside them, ordinary axum routes: `GET /` (the chat page of
//!   tidings-tokio's chat example), `GET /health`, `GET /stats` (the hub's
//!   statistics as JSON); the whole app inside tower-http's `TraceLayer`.
//!
//! ```sh
//! cargo run --release -p tidings-axum --example axum_chat -- [ADDR]
//! ```
//!
//! (default ADDR `127.0.0.1:8080`; prints `listening on ADDR`). Ctrl-C or
//! SIGTERM drains it: axum's graceful shutdown, then tidings' (1001 to
//! every chatter, the end of every event stream).

use std::time::Duration;

use axum::extract::{FromRef, Path, Query, State};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tidings_axum::hub::{Filter, Payload};
use tidings_axum::tidings::sse::Event;
use tidings_axum::{
    Connection, ServerConfig, SseRequest, SseResponse, SseTopic, Tidings, TidingsRouter, WsUpgrade,
};
use tower_http::trace::TraceLayer;

#[path = "../../runtime-tokio/examples/common/rfc3339.rs"]
mod rfc3339;

/// The chat page (the same as tidings-tokio's chat example serves).
const INDEX_HTML: &str = include_str!("../../runtime-tokio/examples/chat/index.html");

/// Events kept for clients that reconnect with `Last-Event-ID`.
const FEED_REPLAY: usize = 256;

/// The app's state: the tidings server (its hub holds the rooms) and the
/// `/events` feed.
#[derive(Clone)]
struct Chat {
    tidings: Tidings,
    feed: SseTopic,
}

impl FromRef<Chat> for Tidings {
    fn from_ref(chat: &Chat) -> Tidings {
        chat.tidings.clone()
    }
}

/// A chat message, both ways; clients may send only `content`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct ChatMessage {
    #[serde(rename = "type")]
    kind: String,
    user: String,
    content: String,
    time: String,
}

impl ChatMessage {
    fn new(kind: &str, user: &str, content: String) -> Self {
        ChatMessage {
            kind: kind.to_owned(),
            user: user.to_owned(),
            content,
            time: rfc3339::now(),
        }
    }
}

#[derive(Deserialize)]
struct Who {
    user: Option<String>,
}

impl Chat {
    fn publish(&self, name: &str, data: serde_json::Value) {
        // Compact JSON has no line break: the event always encodes.
        let _ = self
            .feed
            .publish(Event::new().event(name).data(data.to_string()));
    }

    /// Tells the room's others (everyone but `conn`) and the feed.
    fn announce(&self, conn: &Connection, room: &str, user: &str, what: &str) {
        let notice = ChatMessage::new("system", user, format!("{user} {what} the room"));
        let others = Filter::room(room).except(conn.id());
        if let Ok(payload) = Payload::json(&notice) {
            self.tidings.hub().broadcast(payload, others);
        }
        let members = self.tidings.hub().members(room).len();
        let event = if what == "joined" { "join" } else { "leave" };
        self.publish(
            event,
            json!({ "room": room, "user": user, "members": members }),
        );
    }

    /// One member's session: join, relay each message, leave.
    async fn member(
        self,
        conn: Connection,
        room: String,
        user: String,
    ) -> Result<(), tidings_axum::tidings::Error> {
        conn.join(&room);
        self.announce(&conn, &room, &user, "joined");
        let result = self.relay(&conn, &room, &user).await;
        conn.leave(&room);
        self.announce(&conn, &room, &user, "left");
        result
    }

    async fn relay(
        &self,
        conn: &Connection,
        room: &str,
        user: &str,
    ) -> Result<(), tidings_axum::tidings::Error> {
        loop {
            let incoming: ChatMessage = match conn.read_json().await {
                Ok(message) => message,
                Err(error) if error.is_closed() => return Ok(()),
                // Not a chat message: skip it.
                Err(tidings_axum::tidings::Error::Json(_)) => continue,
                Err(error) => return Err(error),
            };
            let message = ChatMessage::new("message", user, incoming.content);
            let others = Filter::room(room).except(conn.id());
            self.tidings
                .hub()
                .broadcast(Payload::json(&message)?, others);
            self.publish(
                "message",
                json!({ "room": room, "user": user, "content": message.content, "time": message.time }),
            );
        }
    }
}

async fn chat(
    State(chat): State<Chat>,
    Path(room): Path<String>,
    Query(who): Query<Who>,
    upgrade: WsUpgrade,
) -> impl IntoResponse {
    let user = who
        .user
        .filter(|user| !user.is_empty())
        .unwrap_or_else(|| "anonymous".to_owned());
    upgrade.on_upgrade(move |conn| chat.member(conn, room, user))
}

async fn events(State(chat): State<Chat>, sse: SseRequest) -> SseResponse {
    sse.subscribe(&chat.feed)
}

async fn stats(State(chat): State<Chat>) -> axum::Json<tidings_axum::hub::Stats> {
    axum::Json(chat.tidings.hub().stats())
}

/// The app on `tidings`.
pub(crate) fn app(tidings: Tidings) -> axum::Router {
    let state = Chat {
        tidings,
        feed: SseTopic::new(FEED_REPLAY),
    };
    axum::Router::new()
        .route("/", get(|| async { Html(INDEX_HTML) }))
        .route("/health", get(|| async { "ok" }))
        .route("/stats", get(stats))
        .route("/ws/chat/{room}", get(chat))
        .route("/events", get(events))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let tidings = Tidings::new(
        TidingsRouter::new(),
        ServerConfig::default(),
        tidings_tokio::Tokio,
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    let app = app(tidings.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(tidings_tokio::shutdown_signal()?)
        .await?;
    let drained = tidings.shutdown(Duration::from_secs(10)).await;
    std::process::exit(if drained { 0 } else { 1 });
}
