//! The chat of the contract (../shared/DESIGN.md, "The chat wire contract")
//! on axum 0.8, written as an axum user would: one
//! `tokio::sync::broadcast` channel per room, one for `/events`, a task per
//! WebSocket member that forwards its room's channel to its socket. The
//! anchor of `loadgen fanout` (`BENCH_PARTS=fanout bench/run`), beside
//! tidings' own `chat` example. `chat_axum [ADDR]`.
//!
//! - `GET /ws/chat/{room}?user=NAME`: join and leave notices and every
//!   `{"content"}` re-stamped as `{"type":"message","user","content","time"}`,
//!   sent to the room's other members.
//! - `GET /events`: SSE with ids: `message` (`room`, `user`, `content`,
//!   `time`), `join` and `leave` (`room`, `user`) events, and once a
//!   second (as tidings' chat at most once a second) `messages` (`room`,
//!   `count`) for rooms with new messages and, when it changed, `stats`
//!   (`rooms`: members per room, `chatters`, `listeners`). No replay (axum has none to offer;
//!   tidings' chat keeps 256 events for it), no server statistics.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::serve::{Listener, ListenerExt};
use futures_util::{SinkExt, Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast;

#[path = "../../../runtime-tokio/examples/common/rfc3339.rs"]
mod rfc3339;

/// Messages a room's channel holds for its slowest member; one that falls
/// further behind skips what it missed (`RecvError::Lagged`).
const ROOM_CAPACITY: usize = 1024;
/// The same for `/events` listeners.
const EVENTS_CAPACITY: usize = 1024;

/// A room message: the sender's member id (skipped by the sender's own
/// forwarder) and the JSON text.
type RoomMessage = (u64, Utf8Bytes);

#[derive(Clone)]
struct Chat {
    rooms: Arc<Mutex<HashMap<String, broadcast::Sender<RoomMessage>>>>,
    /// Messages per room, and whether the count changed since the last tick.
    counts: Arc<Mutex<HashMap<String, (u64, bool)>>>,
    events: broadcast::Sender<(u64, Arc<str>, Arc<str>)>,
    next_member: Arc<AtomicU64>,
    next_event: Arc<AtomicU64>,
}

impl Chat {
    fn room(&self, name: &str) -> broadcast::Sender<RoomMessage> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms
            .entry(name.to_owned())
            .or_insert_with(|| broadcast::channel(ROOM_CAPACITY).0)
            .clone()
    }

    fn forget_if_empty(&self, name: &str) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if rooms.get(name).is_some_and(|tx| tx.receiver_count() == 0) {
            rooms.remove(name);
        }
    }

    fn count_message(&self, room: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let (count, changed) = counts.entry(room.to_owned()).or_default();
        *count += 1;
        *changed = true;
    }

    /// The once-a-second counting events, when something changed since the
    /// last ones (`last`: the stats they carried).
    fn publish_counts(&self, last: &mut Option<serde_json::Value>) {
        let changed: Vec<(String, u64)> = {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            counts
                .iter_mut()
                .filter(|(_, (_, changed))| *changed)
                .map(|(room, (count, changed))| {
                    *changed = false;
                    (room.clone(), *count)
                })
                .collect()
        };
        for (room, count) in changed {
            self.event("messages", json!({ "room": room, "count": count }));
        }
        let rooms: HashMap<String, usize> = {
            let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
            rooms
                .iter()
                .map(|(name, tx)| (name.clone(), tx.receiver_count()))
                .collect()
        };
        let chatters: usize = rooms.values().sum();
        let listeners = self.events.receiver_count();
        let stats = json!({ "rooms": rooms, "chatters": chatters, "listeners": listeners });
        if last.as_ref() != Some(&stats) {
            self.event("stats", stats.clone());
            *last = Some(stats);
        }
    }

    fn event(&self, kind: &str, data: serde_json::Value) {
        let id = self.next_event.fetch_add(1, Ordering::Relaxed) + 1;
        let _ = self
            .events
            .send((id, Arc::from(kind), Arc::from(data.to_string())));
    }
}

#[derive(Deserialize)]
struct Incoming {
    #[serde(default)]
    content: String,
}

async fn chat_route(
    ws: WebSocketUpgrade,
    Path(room): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    State(chat): State<Chat>,
) -> Response {
    let user = query
        .get("user")
        .filter(|user| !user.is_empty())
        .cloned()
        .unwrap_or_else(|| "anonymous".to_owned());
    ws.on_upgrade(move |socket| member(socket, chat, room, user))
}

fn system(user: &str, content: String) -> Utf8Bytes {
    json!({ "type": "system", "user": user, "content": content, "time": rfc3339::now() })
        .to_string()
        .into()
}

async fn member(socket: WebSocket, chat: Chat, room: String, user: String) {
    let me = chat.next_member.fetch_add(1, Ordering::Relaxed);
    let tx = chat.room(&room);
    let mut rx = tx.subscribe();
    let _ = tx.send((me, system(&user, format!("{user} joined the room"))));
    chat.event("join", json!({ "room": room, "user": user }));

    let (mut sink, mut stream) = socket.split();
    let mut forward = tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok((from, text)) if from != me => {
                    if sink.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let Ok(incoming) = serde_json::from_str::<Incoming>(&text) else { break };
                    let time = rfc3339::now();
                    let out = json!({ "type": "message", "user": user, "content": incoming.content, "time": time });
                    let _ = tx.send((me, out.to_string().into()));
                    chat.count_message(&room);
                    chat.event(
                        "message",
                        json!({ "room": room, "user": user, "content": incoming.content, "time": time }),
                    );
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = &mut forward => break,
        }
    }
    forward.abort();
    let _ = tx.send((me, system(&user, format!("{user} left the room"))));
    chat.event("leave", json!({ "room": room, "user": user }));
    drop(tx);
    chat.forget_if_empty(&room);
}

fn events(chat: Chat) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(chat.events.subscribe(), |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok((id, kind, data)) => {
                    let event = Event::default()
                        .id(id.to_string())
                        .event(&*kind)
                        .data(&*data);
                    return Some((Ok(event), rx));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let chat = Chat {
        rooms: Arc::default(),
        events: broadcast::channel(EVENTS_CAPACITY).0,
        next_member: Arc::default(),
        next_event: Arc::default(),
        counts: Arc::default(),
    };
    let ticking = chat.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        let mut last = None;
        loop {
            tick.tick().await;
            if ticking.events.receiver_count() > 0 {
                ticking.publish_counts(&mut last);
            }
        }
    });
    let app = axum::Router::new()
        .route("/ws/chat/{room}", get(chat_route))
        .route(
            "/events",
            get(|State(chat): State<Chat>| async move {
                Sse::new(events(chat)).keep_alive(KeepAlive::default())
            }),
        )
        .with_state(chat);
    let listener = tokio::net::TcpListener::bind(tidings_bench::addr_arg())
        .await?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
