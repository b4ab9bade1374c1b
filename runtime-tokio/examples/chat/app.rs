//! The chat room server of the Forge docs ("Chat Room Example"): rooms,
//! join and leave notices, and every message re-stamped and broadcast to
//! the others in its room, all through the server's hub (rooms, filtered
//! encode-once broadcast, statistics).
//!
//! Routes:
//! - `GET /`: the chat page (`index.html`, self-contained).
//! - WebSocket `/ws/chat/:room?user=NAME` (`user` defaults to `anonymous`):
//!   JSON [`ChatMessage`]s both ways.
//! - SSE `GET /events`: room activity and server stats as Server-Sent
//!   Events, with ids, so a reconnecting `EventSource` resumes where it
//!   left off (see [`Feed`]).
//! - WebTransport `/wt/chat/:room?user=NAME` (HTTP/3, on the UDP port of
//!   the same number, when `main` serves it): the same chat, one
//!   unidirectional stream per message each way; `GET /wt.json` tells the
//!   page where it is ([`WebTransportInfo`]), and the page falls back to
//!   WebSocket when the browser or the network cannot.
//! - `GET /stats`: the server's statistics ([`tidings_tokio::hub::Stats`])
//!   as JSON.
//! - `GET /members/:room`: `{"room", "members": [connection ids]}`, the
//!   room's WebSocket members on every node with `--redis` (from the
//!   engine's presence, where a dead node's members disappear within the
//!   presence TTL), else on this server ([`Hub::cluster_members`]).
//! - `GET /asyncapi.json`: the AsyncAPI 3.0 document of the streaming
//!   routes ([`Router::asyncapi`](tidings_tokio::Router::asyncapi)).
//! - `POST /publish/:room?user=NAME` with a JSON body `{"content": "..."}`
//!   (what a WebSocket member sends): the message is stamped and broadcast
//!   to every member of the room as `{"type":"message","user":NAME,...}`,
//!   and goes on the `/events` feed like a member's; `202 Accepted` with
//!   `{"room", "delivered"}`, `400` for a body that is not such JSON (the
//!   server's `max_body_size`, 1 MiB, bounds it). The page, stats and
//!   document can be fetched on one kept-alive connection.
//!
//! The example's `main.rs` serves [`router`]; the tests include this file
//! with `#[path = "../examples/chat/app.rs"] mod chat_app;`. The including
//! crate declares `mod rfc3339` (`examples/common/rfc3339.rs`) at its root.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tidings_framework::server::{RESET_EVENT, Subscription};
use tidings_redis::RedisTopic;
use tidings_tokio::bytes::Bytes;
use tidings_tokio::hub::{Filter, Hub, Payload, Stats};
use tidings_tokio::sse::Event;
use tidings_tokio::webtransport::{Error as WebTransportError, Session};
use tidings_tokio::{
    CloseCode, Connection, Context, Error, Html, IntoResponse, Json, Response, RouteOptions,
    Router, SseContext, SseTopic, StatusCode,
};
use tokio::sync::Notify;

use crate::rfc3339;

/// The chat page.
pub(crate) const INDEX_HTML: &str = include_str!("index.html");

/// A chat message, in both directions: `{ "type", "user", "content", "time" }`.
///
/// Clients may send only `content`: every field defaults to empty, and the
/// server overwrites `type`, `user` and `time` anyway.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

/// The chat's state besides the hub's rooms: the activity feed, and the
/// server's hub once the first handler has seen it (the rooms themselves —
/// the seed's `rooms` and `ChatRoom.clients` — are hub rooms named after the
/// path's `:room`).
#[derive(Debug, Default)]
pub(crate) struct Rooms {
    hub: OnceLock<Arc<Hub>>,
    /// The `/events` feed of what happens in the rooms.
    pub(crate) feed: Feed,
    /// Rings the task that publishes the coalesced statistics events.
    stats_wanted: Arc<Notify>,
    /// Where the chat is over WebTransport, once the server serves it
    /// (`GET /wt.json`).
    pub(crate) webtransport: OnceLock<WebTransportInfo>,
}

/// Events kept for clients that reconnect with `Last-Event-ID`, and how
/// far a listener may fall behind before it gets a `reset` event instead of
/// what it missed: 1,024 is two seconds of a 500 messages/s burst (with
/// 256, a burst on a busy machine left some listeners more than half a
/// second behind, and they lost events), the same bound as the axum chat's
/// broadcast channel in `bench/`. About 150 bytes per chat event, at most
/// [`MAX_MESSAGE`] and a little more: 16 MiB at worst.
pub(crate) const FEED_REPLAY: usize = 1024;

/// The largest chat message the server (`main.rs`) takes: a WebSocket or
/// WebTransport message, or a `/publish` body. Bigger ones are refused
/// before they are buffered (WebSocket: close 1009; `/publish`: 413), so
/// that [`FEED_REPLAY`] events of the feed stay a bounded amount of memory.
pub(crate) const MAX_MESSAGE: usize = 16 << 10;

/// The counting events (`messages`, `stats`, `server-stats`) go out at
/// most this often: a change (a join, a leave, a message, a listener coming
/// or going) asks for them, and every change within the interval shares
/// them. So 10,000 listeners connecting cost a few stats events, not one
/// per listener sent to every listener, and a busy room costs one
/// `messages` event per interval, not one per message.
pub(crate) const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// The `server-stats` event (about 1 KB: every counter of the server) goes
/// out at most this often. Its counters change with every message, so while
/// messages flow it would otherwise cost every listener a kilobyte a
/// second; the page shows it as a tooltip, which a refresh every few
/// seconds serves as well.
pub(crate) const SERVER_STATS_INTERVAL: Duration = Duration::from_secs(3);

/// The activity feed behind `/events`: one [`SseTopic`] (ids `1`, `2`, …;
/// the last [`FEED_REPLAY`] events kept for reconnecting clients) carrying
///
/// - `message`: every chat message, `{"room", "user", "content", "time"}`;
/// - `join` and `leave`: `{"room", "user", "members"}` (members after the change);
/// - `messages`: `{"room", "count"}`, a room's message count, soon after
///   messages in it (at most once per [`STATS_INTERVAL`]);
/// - `stats`: [`RoomStats`] `{"rooms": {name: members}, "chatters",
///   "listeners"}`, soon after joins, leaves and `/events` listeners coming
///   or going, at most once per [`STATS_INTERVAL`], and only when it differs
///   from the last `stats` event (a listener that resumes keeps the last one
///   it received, which is then still true);
/// - `server-stats`: the server's [`Stats`] (as served at `/stats`), soon
///   after any of these changes or a message, at most once per
///   [`SERVER_STATS_INTERVAL`].
///
/// On a node of a multi-process chat ([`Rooms::clustered`]) the feed is a
/// [`RedisTopic`] shared by every node: cluster-wide ids, so an
/// `EventSource` that reconnects to another node resumes exactly; member
/// and message counts are then the publishing node's.
#[derive(Debug)]
pub(crate) struct Feed {
    /// The events (on a cluster node: this node's copy of the shared topic).
    pub(crate) topic: SseTopic,
    /// The topic shared by every node, on a node of a multi-process chat.
    cluster: Option<RedisTopic>,
    listeners: AtomicUsize,
    /// Messages per room, dropped with the room, and whether the count
    /// changed since its last `messages` event.
    messages: Mutex<HashMap<String, (u64, bool)>>,
    /// What the last statistics events said, and when.
    last: Mutex<LastStats>,
}

/// The last `stats` event's value and when the last `server-stats` went out.
#[derive(Debug, Default)]
struct LastStats {
    stats: Option<RoomStats>,
    server_stats_at: Option<tokio::time::Instant>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            topic: SseTopic::new(FEED_REPLAY),
            cluster: None,
            listeners: AtomicUsize::new(0),
            messages: Mutex::new(HashMap::new()),
            last: Mutex::default(),
        }
    }
}

impl Feed {
    fn publish(&self, name: &str, data: impl Serialize) {
        // Compact JSON has no line break; the feed's data types (maps with
        // string keys, strings, numbers) always serialize.
        let Ok(data) = serde_json::to_string(&data) else {
            return;
        };
        let event = Event::new().event(name).data(data);
        let _ = match &self.cluster {
            Some(cluster) => cluster.publish(&event),
            None => self.topic.publish(event).map(drop),
        };
    }

    /// A subscription after `last_event_id` (on a cluster node: resumed
    /// from the shared history when this node's copy lacks it).
    async fn subscribe(&self, last_event_id: Option<&str>) -> Subscription {
        match &self.cluster {
            Some(cluster) => cluster.subscribe(last_event_id).await,
            None => self.topic.subscribe(last_event_id),
        }
    }

    /// Counts a message in `room`, for the next `messages` event.
    fn count_message(&self, room: &str) {
        let mut counts = self.messages.lock().unwrap_or_else(|p| p.into_inner());
        let (count, changed) = counts.entry(room.to_owned()).or_default();
        *count += 1;
        *changed = true;
    }

    /// Publishes a `messages` event for each room whose count changed.
    fn publish_message_counts(&self) {
        let changed: Vec<(String, u64)> = {
            let mut counts = self.messages.lock().unwrap_or_else(|p| p.into_inner());
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
            self.publish("messages", json!({ "room": room, "count": count }));
        }
    }
}

impl Rooms {
    /// Rooms of one node of a multi-process chat, whose `/events` feed is
    /// `topic`, shared by every node.
    pub(crate) fn clustered(topic: RedisTopic) -> Self {
        Rooms {
            hub: OnceLock::new(),
            feed: Feed {
                topic: topic.local().clone(),
                cluster: Some(topic),
                ..Feed::default()
            },
            stats_wanted: Arc::default(),
            webtransport: OnceLock::new(),
        }
    }

    /// Records the server's hub (every handler passes it; it is one hub),
    /// and starts the statistics task the first time.
    fn attach(self: &Arc<Self>, hub: &Arc<Hub>) {
        let mut first = false;
        self.hub.get_or_init(|| {
            first = true;
            hub.clone()
        });
        if first {
            tokio::spawn(publish_stats_while_alive(
                Arc::downgrade(self),
                self.stats_wanted.clone(),
            ));
        }
    }

    /// Takes connection or session `id` out of `room`, forgetting the
    /// room's message count once it is empty. Returns whether it was there.
    fn leave(&self, room: &str, id: &str) -> bool {
        let left = self.hub.get().is_some_and(|hub| hub.leave(id, room));
        if left && self.members(room) == 0 {
            let mut counts = self.feed.messages.lock().unwrap_or_else(|p| p.into_inner());
            counts.remove(room);
        }
        left
    }

    /// Publishes a `join` or `leave` event for `user`; the stats follow.
    fn announce(&self, what: &str, room: &str, user: &str) {
        let members = self.members(room);
        self.feed.publish(
            what,
            json!({ "room": room, "user": user, "members": members }),
        );
        self.stats_changed();
    }

    /// Asks for the `stats` and `server-stats` events (coalesced: see
    /// [`STATS_INTERVAL`]).
    fn stats_changed(&self) {
        self.stats_wanted.notify_one();
    }

    /// Publishes the changed `messages` counts, the `stats` event if its
    /// value changed since the last one, and the `server-stats` event if it
    /// is due (see [`SERVER_STATS_INTERVAL`]). Returns whether a
    /// `server-stats` event is still owed (asked for, not yet due).
    fn publish_stats(&self) -> bool {
        let Some(hub) = self.hub.get() else {
            return false;
        };
        self.feed.publish_message_counts();
        let rooms: BTreeMap<String, usize> = hub.rooms().into_iter().collect();
        let chatters: usize = rooms.values().sum();
        let listeners = self.feed.listeners.load(Ordering::SeqCst);
        let stats = RoomStats {
            rooms,
            chatters,
            listeners,
        };
        let mut last = self.feed.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.stats.as_ref() != Some(&stats) {
            self.feed.publish("stats", &stats);
            last.stats = Some(stats);
        }
        let now = tokio::time::Instant::now();
        let due = last
            .server_stats_at
            .is_none_or(|at| now.duration_since(at) >= SERVER_STATS_INTERVAL);
        if due {
            last.server_stats_at = Some(now);
            drop(last);
            self.feed.publish("server-stats", hub.stats());
        }
        !due
    }

    /// The number of connections in `room`.
    pub(crate) fn members(&self, room: &str) -> usize {
        self.hub.get().map_or(0, |hub| hub.members(room).len())
    }

    /// Sends `message` to everyone in `room` but `sender` (a connection's or
    /// session's id; the seed's `room.Broadcast(conn.ID(), msg)`):
    /// serialized and framed once, the bytes shared by every recipient
    /// (WebSocket members get a text message, WebTransport members one
    /// unidirectional stream), without waiting for any of them. Returns how
    /// many it was queued for.
    fn broadcast(&self, room: &str, sender: Option<&str>, message: &ChatMessage) -> usize {
        let (Some(hub), Ok(payload)) = (self.hub.get(), Payload::json(message)) else {
            // No hub yet means no room; a struct of strings always serializes.
            return 0;
        };
        let filter = Filter::room(room);
        let filter = match sender {
            Some(sender) => filter.except(sender),
            None => filter,
        };
        hub.broadcast(payload, filter).delivered
    }

    /// Enters `room` as `user`, for the WebSocket connection or
    /// WebTransport session `id` that `join` puts in the hub's room: the
    /// join notice and the welcome, then the membership whose drop leaves
    /// the room (with the leave notice). The one entry of both routes.
    fn enter<'a>(
        self: &'a Arc<Self>,
        ctx: &Context,
        room: &'a str,
        id: &'a str,
        user: &'a str,
        join: impl FnOnce(&str),
    ) -> Membership<'a> {
        self.attach(ctx.hub());
        join(room);
        let membership = Membership {
            rooms: self,
            room,
            id,
            user,
        };
        self.welcome(room, id, user);
        membership
    }

    /// Announces `user`, member `id` of `room` now, on the feed and to the
    /// room's other members.
    fn welcome(&self, room: &str, id: &str, user: &str) {
        self.announce("join", room, user);
        let joined = ChatMessage::system(user, format!("{user} joined the room"));
        self.broadcast(room, Some(id), &joined);
    }

    /// Takes member `id` out of `room` and says that `user` left, on the
    /// feed and to the room's other members.
    fn farewell(&self, room: &str, id: &str, user: &str) {
        if self.leave(room, id) {
            self.announce("leave", room, user);
        }
        let left = ChatMessage::system(user, format!("{user} left the room"));
        self.broadcast(room, Some(id), &left);
    }

    /// What `user` says in `room`: stamped, on the feed (`message`; the
    /// room's `messages` count follows with the stats), and broadcast to the room's members
    /// but `sender`. Returns how many members it was queued for.
    fn say(&self, room: &str, user: &str, content: String, sender: Option<&str>) -> usize {
        let message = ChatMessage {
            kind: "message".to_owned(),
            user: user.to_owned(),
            time: rfc3339::now(),
            content,
        };
        self.feed.publish(
            "message",
            json!({ "room": room, "user": user, "content": message.content, "time": message.time }),
        );
        self.feed.count_message(room);
        let delivered = self.broadcast(room, sender, &message);
        self.stats_changed();
        delivered
    }
}

/// Removes a connection from its room when the handler ends, however it ends
/// (return, error, or its future being dropped), and announces the leave on
/// the feed if the handler did not. (The hub would take it out of the room
/// when the connection ends anyway; leaving here keeps the announced
/// member count exact.)
struct Membership<'a> {
    rooms: &'a Rooms,
    room: &'a str,
    /// The connection's or session's id.
    id: &'a str,
    user: &'a str,
}

impl Drop for Membership<'_> {
    fn drop(&mut self) {
        if self.rooms.leave(self.room, self.id) {
            self.rooms.announce("leave", self.room, self.user);
        }
    }
}

/// Counts an `/events` listener in the stats while it is connected.
struct Listener<'a> {
    rooms: &'a Rooms,
}

impl<'a> Listener<'a> {
    fn new(rooms: &'a Rooms) -> Self {
        rooms.feed.listeners.fetch_add(1, Ordering::SeqCst);
        rooms.stats_changed();
        Listener { rooms }
    }
}

impl Drop for Listener<'_> {
    fn drop(&mut self) {
        self.rooms.feed.listeners.fetch_sub(1, Ordering::SeqCst);
        self.rooms.stats_changed();
    }
}

/// Publishes the statistics events when asked, at most once per
/// [`STATS_INTERVAL`], until the chat's [`Rooms`] are gone.
async fn publish_stats_while_alive(rooms: Weak<Rooms>, wanted: Arc<Notify>) {
    loop {
        // Wait for a change; look now and then whether the chat still exists
        // (nothing rings once it is gone).
        if tokio::time::timeout(Duration::from_secs(5), wanted.notified())
            .await
            .is_err()
        {
            if rooms.strong_count() == 0 {
                return;
            }
            continue;
        }
        let Some(alive) = rooms.upgrade() else { return };
        let owed = alive.publish_stats();
        drop(alive);
        // Changes in the meantime leave one permit: one more round after
        // this. A `server-stats` event not yet due asks for one too, so the
        // last change is reported even if nothing else happens.
        tokio::time::sleep(STATS_INTERVAL).await;
        if owed {
            wanted.notify_one();
        }
    }
}

/// The chat router with fresh, empty rooms.
#[allow(dead_code, reason = "the tests use it; main builds its rooms itself")]
pub(crate) fn router() -> Router {
    router_with(Arc::new(Rooms::default()))
}

/// `stats` events of `/events`.
#[derive(Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub(crate) struct RoomStats {
    /// Members per room with anyone in it (on a cluster node: this node's).
    rooms: BTreeMap<String, usize>,
    /// Members of every room.
    chatters: usize,
    /// `/events` listeners.
    listeners: usize,
}

/// `reset` events of `/events` (documentation of their data): the first
/// event for a listener whose `Last-Event-ID` the feed no longer has (it
/// missed events that are gone); its data is empty.
pub(crate) struct ResetEvent;

impl JsonSchema for ResetEvent {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ResetEvent".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "const": "",
            "description": "Empty: some events were missed and are gone; start afresh."
        })
    }
}

/// `join` and `leave` events of `/events` (documentation of their data).
#[derive(JsonSchema)]
#[allow(dead_code, reason = "describes JSON the feed publishes")]
pub(crate) struct RoomChange {
    room: String,
    user: String,
    /// Members after the change.
    members: usize,
}

/// `message` events of `/events` (documentation of their data).
#[derive(JsonSchema)]
#[allow(dead_code, reason = "describes JSON the feed publishes")]
pub(crate) struct ChatMessageEvent {
    room: String,
    user: String,
    content: String,
    /// RFC 3339 UTC.
    time: String,
}

/// `messages` events of `/events` (documentation of their data).
#[derive(JsonSchema)]
#[allow(dead_code, reason = "describes JSON the feed publishes")]
pub(crate) struct MessageCount {
    room: String,
    /// The room's message count so far.
    count: u64,
}

/// The chat router over `rooms` (tests keep a handle to watch membership),
/// with `/asyncapi.json` describing its streaming routes.
pub(crate) fn router_with(rooms: Arc<Rooms>) -> Router {
    let router = chat_routes(rooms);
    let doc = router.asyncapi("tidings chat", env!("CARGO_PKG_VERSION"));
    router.get_with(
        "/asyncapi.json",
        move |_ctx: Context| std::future::ready(Json(doc.clone())),
        RouteOptions::new().summary("AsyncAPI 3.0 document of the streaming routes"),
    )
}

fn chat_routes(rooms: Arc<Rooms>) -> Router {
    let feed_rooms = rooms.clone();
    let publish_rooms = rooms.clone();
    let info_rooms = rooms.clone();
    let wt_rooms = rooms.clone();
    Router::new()
        .get("/", |_ctx: Context| async { Html(INDEX_HTML) })
        .get("/wt.json", move |_ctx: Context| {
            let info = info_rooms.webtransport.get().cloned().unwrap_or_default();
            async move { Json(info) }
        })
        .webtransport_with(
            "/wt/chat/:room",
            move |ctx: Context, session: Session| chat_webtransport(wt_rooms.clone(), ctx, session),
            RouteOptions::new()
                .name("chat-webtransport")
                .summary("Chat room over WebTransport: one unidirectional stream per message")
                .tags(["chat"])
                .messages::<ChatMessage, ChatMessage>(),
        )
        .get(
            "/stats",
            |ctx: Context| async move { Json(ctx.hub().stats()) },
        )
        .get("/members/:room", |ctx: Context| async move {
            let room = ctx.param("room").unwrap_or_default().to_owned();
            let members = ctx.hub().cluster_members(&room).await;
            Json(json!({ "room": room, "members": members }))
        })
        .sse_with(
            "/events",
            move |ctx: SseContext| events(feed_rooms.clone(), ctx),
            RouteOptions::new()
                .name("events")
                .summary("Room activity and server stats")
                .tags(["chat"])
                .sse_event::<ChatMessageEvent>("message")
                .sse_event::<RoomChange>("join")
                .sse_event::<RoomChange>("leave")
                .sse_event::<MessageCount>("messages")
                .sse_event::<RoomStats>("stats")
                .sse_event::<Stats>("server-stats")
                .sse_event::<ResetEvent>(RESET_EVENT),
        )
        .post_with(
            "/publish/:room",
            move |ctx: Context, body: Bytes| publish(publish_rooms.clone(), ctx, body),
            RouteOptions::new()
                .name("publish")
                .summary("Publish a chat message to a room")
                .tags(["chat"]),
        )
        .websocket_with(
            "/ws/chat/:room",
            move |ctx: Context, conn: Connection| chat(rooms.clone(), ctx, conn),
            RouteOptions::new()
                .name("chat")
                .summary("Chat room")
                .tags(["chat"])
                .messages::<ChatMessage, ChatMessage>(),
        )
}

/// One user in one room: join notice, then each message re-stamped and
/// broadcast to the others, then the leave notice.
async fn chat(rooms: Arc<Rooms>, ctx: Context, conn: Connection) -> Result<(), Error> {
    let (room, user) = room_and_user(&ctx);
    let _membership = rooms.enter(&ctx, &room, conn.id(), &user, |room| {
        conn.join(room);
    });

    loop {
        match conn.read_json::<ChatMessage>().await {
            Ok(incoming) => {
                rooms.say(&room, &user, incoming.content, Some(conn.id()));
            }
            // Closed, or not a chat message: announce the leave and end. A
            // message that is not a chat message closes with 1003 and a reason that says what was expected; the seed
            // returns nil here, which would close with 1000 as if all were
            // well.
            Err(error) => {
                rooms.farewell(&room, conn.id(), &user);
                if let Error::Json(_) = error {
                    let _ = conn
                        .close_with(CloseCode::UNSUPPORTED_DATA, NOT_A_CHAT_MESSAGE)
                        .await;
                }
                return Ok(());
            }
        }
    }
}

/// One user in one room over WebTransport (`/wt/chat/:room?user=NAME`),
/// the WebSocket route's twin: a chat message is one unidirectional stream
/// each way ([`Session::receive_message`], and the hub's broadcasts, which
/// reach a WebTransport member as one stream per message); a message that
/// is not a chat message closes the session with code 1003 and the same
/// reason as the WebSocket route.
async fn chat_webtransport(
    rooms: Arc<Rooms>,
    ctx: Context,
    session: Session,
) -> Result<(), WebTransportError> {
    let (room, user) = room_and_user(&ctx);
    let _membership = rooms.enter(&ctx, &room, session.id(), &user, |room| {
        session.join(room);
    });
    let ended = loop {
        let Ok(message) = session.receive_message().await else {
            break Ok(());
        };
        match serde_json::from_slice::<ChatMessage>(&message) {
            Ok(incoming) => {
                rooms.say(&room, &user, incoming.content, Some(session.id()));
            }
            Err(_) => break session.close(1003, NOT_A_CHAT_MESSAGE).await,
        }
    };
    rooms.farewell(&room, session.id(), &user);
    ended
}

/// The room (the path's `:room`) and the user (`?user=`, `anonymous` when
/// absent or empty) of a request.
fn room_and_user(ctx: &Context) -> (String, String) {
    let room = ctx.param("room").unwrap_or_default().to_owned();
    let user = match ctx.query("user") {
        Some(user) if !user.is_empty() => user.to_owned(),
        _ => "anonymous".to_owned(),
    };
    (room, user)
}

/// Where the page finds the chat over WebTransport (`GET /wt.json`):
/// `{"port", "certificate_sha256"}` (the hash for
/// `serverCertificateHashes`, `null` for a certificate browsers trust), or
/// `{"port": null}` when the server has no WebTransport.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct WebTransportInfo {
    /// The UDP port of HTTP/3.
    pub(crate) port: Option<u16>,
    /// The SHA-256 of a self-signed certificate, in hex.
    pub(crate) certificate_sha256: Option<String>,
}

/// The close reason for a message that is not a chat message.
pub(crate) const NOT_A_CHAT_MESSAGE: &str = r#"expected a JSON chat message: {"content": "..."}"#;

/// `POST /publish/:room?user=NAME` with `{"content": "..."}`: what a member
/// would say, said by `NAME` (default `anonymous`) to every member.
async fn publish(rooms: Arc<Rooms>, ctx: Context, body: Bytes) -> Response {
    let Ok(incoming) = serde_json::from_slice::<ChatMessage>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            "expected JSON {\"content\": \"...\"}",
        )
            .into_response();
    };
    let (room, user) = room_and_user(&ctx);
    rooms.attach(ctx.hub());
    let delivered = rooms.say(&room, &user, incoming.content, None);
    let mut response = Json(json!({ "room": room, "delivered": delivered })).into_response();
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

/// One `/events` listener: what it missed since its `Last-Event-ID` (or a
/// `reset` event if that is too old), then the feed live. Its subscription
/// is taken before it is counted, so its first new event is the `stats`
/// that counts it.
async fn events(rooms: Arc<Rooms>, ctx: SseContext) -> Result<(), Error> {
    rooms.attach(ctx.hub());
    let subscription = rooms.feed.subscribe(ctx.last_event_id()).await;
    let _listener = Listener::new(&rooms);
    ctx.forward(subscription).await;
    Ok(())
}
