//! [`RedisEngine`]: the engine, its configuration, and the task that
//! publishes, reconnects and probes.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::{Either, select};
use futures_util::task::AtomicWaker;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, RedisError, Value};
use tidings_framework::hub::cluster::{Arrival, Destination, Engine, Inbox, valid_node_name};
use tidings_framework::hub::{ClusterCounts, EngineStats, EngineStatus};
use tidings_framework::runtime::Runtime;
use tidings_framework::server::BoxFuture;
use tidings_framework::server::{RESET_EVENT, SseTopic};
use tidings_framework::sse::Event;

use crate::keys::{
    APPEND_SCRIPT, Channels, JOIN_SCRIPT, MEMBERS_SCRIPT, NODES_SCRIPT, Target, TopicKeys,
    publisher_id,
};
use crate::outgoing::{Outgoing, QueueLimits};
use crate::stream::read_after;
use crate::topic_wire;

/// Settings of a [`RedisEngine`]; set fields with the chainable methods of
/// the same name.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisConfig {
    /// The first part of every channel name, so that several clusters can
    /// share one Redis. Default `tidings`.
    pub prefix: String,
    /// The bounds of the queue of messages waiting to be published.
    pub queue: QueueLimits,
    /// Messages sent in one pipeline at most. Default 256.
    pub batch: usize,
    /// How often the liveness probe runs. Default 1 s.
    pub probe_interval: Duration,
    /// How long a probe may take to come back before the subscription is
    /// taken for stalled. Default 3 s.
    pub probe_timeout: Duration,
    /// The time limit of every wait for Redis: a connection attempt, a
    /// command, and the wait for a connection that is reconnecting (twice
    /// that for a batch of messages or a history read). Default 2 s.
    pub command_timeout: Duration,
    /// How long a member stays in a room's presence without being
    /// refreshed: a node refreshes its members every third of it, so a dead
    /// node's members disappear within it. Default 10 s.
    pub presence_ttl: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            prefix: "tidings".to_owned(),
            queue: QueueLimits::default(),
            batch: 256,
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_secs(3),
            command_timeout: Duration::from_secs(2),
            presence_ttl: Duration::from_secs(10),
        }
    }
}

impl RedisConfig {
    /// Sets [`prefix`](Self::prefix).
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets [`queue`](Self::queue).
    #[must_use]
    pub fn queue(mut self, queue: QueueLimits) -> Self {
        self.queue = queue;
        self
    }

    /// Sets [`batch`](Self::batch) (at least 1).
    #[must_use]
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Sets [`probe_interval`](Self::probe_interval).
    #[must_use]
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    /// Sets [`probe_timeout`](Self::probe_timeout).
    #[must_use]
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// Sets [`presence_ttl`](Self::presence_ttl) (at least 30 ms).
    #[must_use]
    pub fn presence_ttl(mut self, ttl: Duration) -> Self {
        self.presence_ttl = ttl.max(Duration::from_millis(30));
        self
    }

    /// Sets [`command_timeout`](Self::command_timeout).
    #[must_use]
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }
}

/// Why [`RedisEngine::connect`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The node name is not a
    /// [valid node name](tidings_framework::hub::cluster::valid_node_name).
    #[error("invalid node name {0:?}: 1 to 64 ASCII letters, digits, '-' or '_'")]
    InvalidNode(String),
    /// The URL, the connection or the subscription failed.
    #[error("redis: {0}")]
    Redis(#[from] RedisError),
}

/// A cluster engine over Redis pub/sub (see the [crate](crate) docs).
/// Give it to a server with `ServerConfig::default().engine(engine)`.
///
/// Its background task ends when the engine is dropped (with the last
/// server configuration holding it).
pub struct RedisEngine {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for RedisEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisEngine")
            .field("node", &self.shared.node)
            .finish_non_exhaustive()
    }
}

type Clock = Box<dyn Fn() -> Instant + Send + Sync>;
type Sleep = Box<dyn Fn(Instant) -> BoxFuture<()> + Send + Sync>;
type Random = Box<dyn Fn(&mut [u8]) + Send + Sync>;

/// What the engine, its push handler, its two tasks and its topics share.
pub(crate) struct Shared {
    node: Arc<str>,
    /// This engine's id as a topic publisher (see [`publisher_id`]).
    pub(crate) publisher_id: String,
    pub(crate) channels: Channels,
    config: RedisConfig,
    clock: Clock,
    /// The runtime's timer (a time limit on every wait for Redis).
    sleep: Sleep,
    random: Random,
    inbox: OnceLock<Inbox>,
    outgoing: Mutex<Outgoing<Target>>,
    /// The connections (clones share them): queries, and subscribing to
    /// topics' channels.
    pub(crate) publisher: OnceLock<ConnectionManager>,
    /// The subscription connection in use (replaced when it stalls).
    pub(crate) subscriber: Mutex<Option<ConnectionManager>>,
    /// Makes subscription connections.
    client: Client,
    /// Which subscription connection's pushes count: a replaced one's (if
    /// it ever woke up) are ignored.
    generation: AtomicU64,
    /// The number of the last subscription connection made.
    connections_made: AtomicU64,
    /// This node's room members (refreshed in Redis every third of the
    /// presence TTL), by room.
    presence: Mutex<HashMap<String, HashSet<String>>>,
    /// This node's copy of each topic, by channel.
    pub(crate) topics: Mutex<HashMap<String, Arc<TopicCopy>>>,
    /// The number of the last topic event queued (numbered under the
    /// `outgoing` lock, so in queue order).
    topic_events: AtomicU64,
    /// Wakes the publishing task when a message is queued or the engine is
    /// dropped.
    waker: AtomicWaker,
    /// Wakes the watching task (probe, subscription, catch-up) when topic
    /// copies wait to catch up or the engine is dropped.
    watcher: AtomicWaker,
    /// Wakes a [`flush`](Engine::flush) when a batch was sent.
    flushed: AtomicWaker,
    closed: AtomicBool,
    /// Set when topic copies wait to catch up (wakes the watching task).
    catch_up: AtomicBool,
    link: Mutex<Link>,
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    reconnects: AtomicU64,
    stalls: AtomicU64,
    gaps: AtomicU64,
    pub(crate) recovered: AtomicU64,
    pub(crate) resets: AtomicU64,
    /// The open connections of every live node, as last read.
    cluster: Mutex<Option<ClusterCounts>>,
}

/// This node's copy of a topic: the events its channel brought, and after
/// a lost subscription the ones it missed, read from the stream.
#[derive(Debug)]
pub(crate) struct TopicCopy {
    pub(crate) local: SseTopic,
    pub(crate) keys: Arc<TopicKeys>,
    state: Mutex<CopyState>,
    /// Set for good once the copy could not be caught up after a lost
    /// subscription (its live subscribers got the reset event): it may
    /// miss events, so clients resume from the stream, not from the copy.
    pub(crate) gapped: AtomicBool,
}

/// What a copy applied, and what waits while it catches up.
#[derive(Debug, Default)]
struct CopyState {
    /// The id of the newest event applied.
    last: Option<String>,
    /// Set from a recovered subscription until the missed events are
    /// applied: live events wait in `pending` meanwhile.
    catching_up: bool,
    /// Live events that came while catching up (at most the capacity).
    pending: Vec<Event>,
    /// More live events came while catching up than `pending` holds.
    overflowed: bool,
}

/// Whether `id` is at or before `last` in the same epoch (already applied).
fn applied(id: Option<&str>, last: Option<&str>) -> bool {
    match (id, last) {
        (Some(id), Some(last)) => {
            let same_epoch = topic_wire::split_id(id).map(|(epoch, _)| epoch)
                == topic_wire::split_id(last).map(|(epoch, _)| epoch);
            same_epoch && !topic_wire::is_newer(id, last)
        }
        _ => false,
    }
}

impl TopicCopy {
    pub(crate) fn new(keys: Arc<TopicKeys>) -> Self {
        TopicCopy {
            local: SseTopic::new(keys.capacity),
            keys,
            state: Mutex::new(CopyState::default()),
            gapped: AtomicBool::new(false),
        }
    }

    /// The id of the newest event applied.
    pub(crate) fn last(&self) -> Option<String> {
        lock(&self.state).last.clone()
    }

    /// The one ordered path into the copy: an event at or before the last
    /// applied one (same epoch) is skipped. Whether it was applied.
    fn apply(&self, state: &mut CopyState, event: Event) -> bool {
        let id = event.id_value().map(str::to_owned);
        if applied(id.as_deref(), state.last.as_deref()) {
            return false;
        }
        if self.local.publish(event).is_err() {
            return false;
        }
        if id.is_some() {
            state.last = id;
        }
        true
    }

    /// A live event from the channel: applied, or kept until the catch-up
    /// is done. Whether it was applied now.
    fn live(&self, event: Event) -> bool {
        let mut state = lock(&self.state);
        if state.catching_up {
            if state.pending.len() < self.keys.capacity {
                state.pending.push(event);
            } else {
                state.overflowed = true;
            }
            return false;
        }
        self.apply(&mut state, event)
    }

    /// The subscription is back: live events wait until the missed ones
    /// are read from the stream ([`caught_up`](Self::caught_up)).
    fn start_catch_up(&self) {
        let mut state = lock(&self.state);
        state.catching_up = true;
        state.pending.clear();
        state.overflowed = false;
    }

    fn is_catching_up(&self) -> bool {
        lock(&self.state).catching_up
    }

    /// The missed events (read from the stream after [`last`](Self::last)),
    /// then the live ones that waited, each once, in order. `false` when
    /// live events overflowed meanwhile (read the stream again).
    fn caught_up(&self, missed: Vec<Event>) -> bool {
        let mut state = lock(&self.state);
        for event in missed {
            self.apply(&mut state, event);
        }
        for event in std::mem::take(&mut state.pending) {
            self.apply(&mut state, event);
        }
        if std::mem::take(&mut state.overflowed) {
            return false;
        }
        state.catching_up = false;
        true
    }

    /// The missed events are gone (another epoch, trimmed, no last id):
    /// the copy's live subscribers get the reset event (with the id of the
    /// last event applied, from which a reconnecting client resumes through
    /// the stream when it can), the copy is gapped for good and goes on
    /// with the live events that waited.
    fn reset(&self) {
        let mut state = lock(&self.state);
        self.gapped.store(true, Ordering::SeqCst);
        let mut reset = Event::new().event(RESET_EVENT).data("");
        if let Some(last) = state.last.take() {
            reset = reset.id(last);
        }
        let _ = self.local.publish(reset);
        for event in std::mem::take(&mut state.pending) {
            self.apply(&mut state, event);
        }
        state.overflowed = false;
        state.catching_up = false;
    }
}

/// The state of the two connections.
#[derive(Debug, Default)]
struct Link {
    /// Since when the subscription is lost (disconnected or stalled).
    subscription_lost: Option<Instant>,
    /// Since when publishing fails.
    publisher_lost: Option<Instant>,
    /// When the probe in flight was sent.
    probe_sent: Option<Instant>,
}

impl RedisEngine {
    /// Connects to the Redis at `url` (`redis://HOST:PORT[/DB]`, RESP3 is
    /// chosen by the engine) as node `node`, subscribes, and starts the
    /// engine's task on `rt`.
    ///
    /// # Errors
    /// An invalid node name; a URL Redis does not accept; Redis not
    /// reachable within [`command_timeout`](RedisConfig::command_timeout).
    pub async fn connect<R: Runtime>(
        rt: R,
        url: &str,
        node: &str,
        config: RedisConfig,
    ) -> Result<Arc<RedisEngine>, ConnectError> {
        if !valid_node_name(node) {
            return Err(ConnectError::InvalidNode(node.to_owned()));
        }
        let info = url.into_connection_info()?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = Client::open(info.set_redis_settings(settings))?;
        let channels = Channels::new(&config.prefix, node);
        let mut nonce = [0u8; 8];
        rt.fill_random(&mut nonce);
        let (clock_rt, sleep_rt, random_rt) = (rt.clone(), rt.clone(), rt.clone());
        let shared = Arc::new(Shared {
            node: Arc::from(node),
            publisher_id: publisher_id(node, nonce),
            channels,
            outgoing: Mutex::new(Outgoing::new(config.queue)),
            config,
            clock: Box::new(move || clock_rt.now()),
            sleep: Box::new(move |deadline| Box::pin(sleep_rt.sleep_until(deadline))),
            random: Box::new(move |buf| random_rt.fill_random(buf)),
            inbox: OnceLock::new(),
            publisher: OnceLock::new(),
            subscriber: Mutex::new(None),
            client: client.clone(),
            generation: AtomicU64::new(0),
            connections_made: AtomicU64::new(0),
            topics: Mutex::new(HashMap::new()),
            topic_events: AtomicU64::new(0),
            presence: Mutex::new(HashMap::new()),
            waker: AtomicWaker::new(),
            watcher: AtomicWaker::new(),
            flushed: AtomicWaker::new(),
            closed: AtomicBool::new(false),
            catch_up: AtomicBool::new(false),
            link: Mutex::new(Link::default()),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            stalls: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            recovered: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            cluster: Mutex::new(None),
        });
        let subscriber = new_subscriber(&shared).await?;
        let publisher = shared
            .within(
                1,
                ConnectionManager::new_with_config(client, manager_config(&shared.config)),
            )
            .await?;
        let _ = shared.publisher.set(publisher.clone());
        // Two tasks, so that a slow or wedged subscription (the probe's
        // PING, a replacement connection, a catch-up) never holds up what
        // this node publishes.
        rt.spawn(publish(rt.clone(), shared.clone(), publisher.clone()));
        rt.spawn(watch(rt.clone(), shared.clone(), publisher, subscriber));
        Ok(Arc::new(RedisEngine { shared }))
    }
}

/// The settings of both connections.
fn manager_config(config: &RedisConfig) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.command_timeout))
        .set_response_timeout(Some(config.command_timeout))
        .set_max_delay(Duration::from_secs(2))
}

/// A new subscription connection, made the one in use once connected (its
/// pushes count, a previous one's no longer do), then subscribed to this
/// node's channels and every open topic's. When it cannot connect, the
/// connection in use stays; when it connected but could not subscribe, it
/// is in use and the error is returned (subscribe again on
/// [`current_subscriber`]).
async fn new_subscriber(shared: &Arc<Shared>) -> Result<ConnectionManager, RedisError> {
    let number = shared.connections_made.fetch_add(1, Ordering::SeqCst) + 1;
    let on_push = {
        let shared = shared.clone();
        move |push: PushInfo| -> Result<(), ()> {
            if shared.generation.load(Ordering::SeqCst) == number {
                shared.on_push(push);
            }
            Ok(())
        }
    };
    let config = manager_config(&shared.config)
        .set_push_sender(on_push)
        .set_automatic_resubscription();
    let mut subscriber = shared
        .within(
            1,
            ConnectionManager::new_with_config(shared.client.clone(), config),
        )
        .await?;
    shared.generation.store(number, Ordering::SeqCst);
    *lock(&shared.subscriber) = Some(subscriber.clone());
    subscribe_all(shared, &mut subscriber).await?;
    Ok(subscriber)
}

/// The subscription connection in use.
fn current_subscriber(shared: &Shared) -> Option<ConnectionManager> {
    lock(&shared.subscriber).clone()
}

/// Subscribes `subscriber` to this node's channels and every open topic's,
/// in one `SUBSCRIBE` (Redis takes them at once: when the first
/// confirmation arrives, every channel is subscribed, so a catch-up it
/// starts misses nothing published after it).
async fn subscribe_all(
    shared: &Shared,
    subscriber: &mut ConnectionManager,
) -> Result<(), RedisError> {
    let mut channels: Vec<String> = shared
        .channels
        .subscribed()
        .into_iter()
        .map(str::to_owned)
        .collect();
    channels.extend(lock(&shared.topics).keys().cloned());
    shared.within(1, subscriber.subscribe(channels)).await
}

impl Drop for RedisEngine {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.waker.wake();
        self.shared.watcher.wake();
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain state, replaced field by field: consistent after a panic.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn count(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// `future`'s result, or a timeout error when it takes longer than the
    /// [`command_timeout`](RedisConfig::command_timeout) times `times`.
    /// Every wait for Redis goes through it: the connection's own response
    /// timeout does not cover the wait for a connection while it
    /// reconnects (its retries with backoff take seconds), which would hold
    /// up the task waiting (its queue's age bound, the probe, a client's
    /// resume).
    pub(crate) async fn within<T>(
        &self,
        times: u32,
        future: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, RedisError> {
        let limit = self.config.command_timeout.saturating_mul(times);
        let Some(deadline) = (self.clock)().checked_add(limit) else {
            return future.await; // no limit
        };
        let future = pin!(future);
        match select(future, (self.sleep)(deadline)).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "redis did not answer in time",
            ))),
        }
    }

    /// A push from the subscription connection (it never waits).
    fn on_push(&self, push: PushInfo) {
        match push.kind {
            PushKind::Message => {
                let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
                    (push.data.first(), push.data.get(1))
                else {
                    return;
                };
                if *channel == self.channels.probe.as_bytes() {
                    let mut link = lock(&self.link);
                    link.probe_sent = None;
                    self.subscription_recovered(&mut link);
                    return;
                }
                if channel.starts_with(self.channels.topic_prefix.as_bytes()) {
                    self.on_topic_event(channel, payload);
                    return;
                }
                let Some(inbox) = self.inbox.get() else {
                    return;
                };
                match inbox.deliver(payload) {
                    Ok(Arrival::Applied) => Self::count(&self.received, 1),
                    Ok(_) => {}
                    Err(_) => Self::count(&self.dropped, 1),
                }
            }
            PushKind::Disconnection => {
                let now = (self.clock)();
                lock(&self.link).subscription_lost.get_or_insert(now);
            }
            PushKind::Subscribe => {
                let mut link = lock(&self.link);
                self.subscription_recovered(&mut link);
            }
            _ => {}
        }
    }

    /// A new event of a topic, from its channel: into this node's copy,
    /// with its cluster-wide id.
    fn on_topic_event(&self, channel: &[u8], payload: &[u8]) {
        let topic = std::str::from_utf8(channel)
            .ok()
            .and_then(|channel| lock(&self.topics).get(channel).cloned());
        let event = topic_wire::published(payload);
        match (topic, event) {
            (Some(topic), Some(event)) => {
                // Counted when it arrives (applied now or after the
                // catch-up, or a duplicate of a caught-up one).
                Self::count(&self.received, 1);
                topic.live(event);
            }
            (Some(_), None) => Self::count(&self.dropped, 1),
            (None, _) => {}
        }
    }

    /// Queues a message (see the [crate](crate) docs for the queue's
    /// rules; a message that does not fit is dropped and counted). A topic
    /// event gets its number here, under the queue's lock: numbers follow
    /// the queue's order.
    pub(crate) fn queue(&self, mut target: Target, message: Bytes) {
        let queued = {
            let mut outgoing = lock(&self.outgoing);
            let topic = if let Target::Topic { seq, .. } = &mut target {
                *seq = self.topic_events.load(Ordering::Relaxed) + 1;
                true
            } else {
                false
            };
            let queued = outgoing.push(target, message, (self.clock)());
            if queued && topic {
                // Only a queued event uses its number.
                self.topic_events.fetch_add(1, Ordering::Relaxed);
            }
            queued
        };
        if queued {
            self.waker.wake();
        } else {
            Self::count(&self.dropped, 1);
        }
    }

    /// The subscription works again (resubscribed, or a probe came back):
    /// counted, and every topic copy catches up from its stream (in the
    /// engine's task; live events wait meanwhile).
    fn subscription_recovered(&self, link: &mut Link) {
        if link.subscription_lost.is_none() {
            return;
        }
        self.recovered(&mut link.subscription_lost);
        let topics: Vec<_> = lock(&self.topics).values().cloned().collect();
        if topics.is_empty() {
            return;
        }
        for topic in topics {
            topic.start_catch_up();
        }
        self.catch_up.store(true, Ordering::SeqCst);
        self.watcher.wake();
    }

    /// A lost connection works again: counted once.
    fn recovered(&self, lost: &mut Option<Instant>) {
        if lost.take().is_some() {
            Self::count(&self.reconnects, 1);
        }
    }

    fn presence_key(&self, room: &str) -> String {
        format!("{}{room}", self.channels.presence_prefix)
    }

    /// Adds to `pipe` the re-adding of every member of this node with a
    /// fresh expiry (one script call per room): a snapshot taken as the
    /// pipeline is built, so that what was queued before is sent before it
    /// and what comes after (a leave) after it. Returns how many commands
    /// were added. Not queued: a refresh never takes a message's place in
    /// the bounded queue, and while Redis is away none piles up.
    fn refresh_presence(&self, pipe: &mut redis::Pipeline, ttl_ms: u64) -> usize {
        let presence = lock(&self.presence);
        for (room, ids) in presence.iter() {
            let join = pipe
                .cmd("EVAL")
                .arg(JOIN_SCRIPT)
                .arg(1)
                .arg(self.presence_key(room))
                .arg(ttl_ms);
            for id in ids {
                join.arg(id);
            }
        }
        presence.len()
    }

    fn channel_of(&self, to: Destination<'_>) -> String {
        match to {
            Destination::Node(node) => format!("{}{node}", self.channels.node_prefix),
            _ => self.channels.all.clone(),
        }
    }
}

impl Engine for RedisEngine {
    fn node(&self) -> &str {
        &self.shared.node
    }

    fn attach(&self, inbox: Inbox) {
        let _ = self.shared.inbox.set(inbox);
    }

    fn publish(&self, to: Destination<'_>, message: Bytes) {
        let channel = self.shared.channel_of(to);
        self.shared.queue(Target::Channel(channel), message);
    }

    /// Resolves once every queued message and presence update was sent
    /// (or dropped, counted, when Redis failed it); while Redis is away it
    /// waits: the caller bounds it (a server's drain does, with its
    /// deadline). One flush at a time.
    fn flush(&self) -> Option<BoxFuture<()>> {
        let shared = self.shared.clone();
        Some(Box::pin(async move {
            poll_fn(|cx| {
                shared.flushed.register(cx.waker());
                let idle = lock(&shared.outgoing).is_idle();
                if idle || shared.closed.load(Ordering::SeqCst) {
                    return Poll::Ready(());
                }
                shared.waker.wake();
                Poll::Pending
            })
            .await;
        }))
    }

    fn joined(&self, room: &str, id: &str) {
        let shared = &self.shared;
        lock(&shared.presence)
            .entry(room.to_owned())
            .or_default()
            .insert(id.to_owned());
        let key = shared.presence_key(room);
        shared.queue(Target::Join(key), Bytes::copy_from_slice(id.as_bytes()));
    }

    fn left(&self, room: &str, id: &str) {
        let shared = &self.shared;
        {
            let mut presence = lock(&shared.presence);
            if let Some(ids) = presence.get_mut(room) {
                ids.remove(id);
                if ids.is_empty() {
                    presence.remove(room);
                }
            }
        }
        let key = shared.presence_key(room);
        shared.queue(Target::Leave(key), Bytes::copy_from_slice(id.as_bytes()));
    }

    fn members(&self, room: &str) -> Option<BoxFuture<Vec<String>>> {
        let shared = self.shared.clone();
        let room = room.to_owned();
        Some(Box::pin(async move {
            let key = shared.presence_key(&room);
            let reply = match shared.publisher.get().cloned() {
                Some(mut conn) => {
                    let mut members = redis::cmd("EVAL");
                    members.arg(MEMBERS_SCRIPT).arg(1).arg(&key);
                    let reply = members.query_async::<Vec<String>>(&mut conn);
                    shared.within(1, reply).await
                }
                None => Err(RedisError::from(std::io::Error::other("not connected"))),
            };
            let mut ids = reply.unwrap_or_else(|_| {
                // Redis away: this node's members, the part it knows.
                lock(&shared.presence)
                    .get(&room)
                    .map(|ids| ids.iter().cloned().collect())
                    .unwrap_or_default()
            });
            ids.sort();
            ids
        }))
    }

    fn stats(&self) -> EngineStats {
        let shared = &self.shared;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut stats = EngineStats::new(&*shared.node);
        stats.status = if shared.closed.load(Ordering::SeqCst) {
            EngineStatus::Down
        } else {
            let link = lock(&shared.link);
            match link
                .subscription_lost
                .into_iter()
                .chain(link.publisher_lost)
                .min()
            {
                Some(since) => EngineStatus::Reconnecting {
                    for_ms: u64::try_from(
                        (shared.clock)()
                            .saturating_duration_since(since)
                            .as_millis(),
                    )
                    .unwrap_or(u64::MAX),
                },
                None => EngineStatus::Connected,
            }
        };
        stats.published = load(&shared.published);
        stats.received = load(&shared.received);
        stats.dropped = load(&shared.dropped);
        stats.reconnects = load(&shared.reconnects);
        stats.stalls = load(&shared.stalls);
        stats.gaps = load(&shared.gaps);
        stats.recovered = load(&shared.recovered);
        stats.resets = load(&shared.resets);
        stats.cluster = *lock(&shared.cluster);
        // Waiting or in flight: not yet known to be sent.
        stats.queued = lock(&shared.outgoing).held();
        stats
    }
}

/// The publishing task: sends what is queued in pipelines (one at a time,
/// in order) with, every third of the presence TTL, the refresh of this
/// node's members; renews a lost publishing connection with backoff; ends
/// when the engine is dropped.
///
/// A pipeline that fails as a whole (the connection broke, or Redis did not
/// answer in time: what it did of it is unknown) is settled by
/// [`Target::sent_again`]: topic appends and presence updates go back to
/// the front of the queue, to be sent again in order once Redis answers
/// (an event already appended is not appended twice, see
/// [`APPEND_SCRIPT`]); broadcasts and sends are dropped and counted (at
/// most once). A command Redis refuses (an error reply) is dropped and
/// counted; a refusal that says Redis is busy or loading also makes the
/// task wait for it as for a lost connection.
async fn publish<R: Runtime>(rt: R, shared: Arc<Shared>, mut publisher: ConnectionManager) {
    let presence_ttl_ms = u64::try_from(shared.config.presence_ttl.as_millis()).unwrap_or(u64::MAX);
    let appended_ttl_ms = {
        // Longer than any event waits to be sent again (its age bound).
        let ttl =
            (shared.config.queue.max_age.saturating_mul(2)).saturating_add(Duration::from_secs(60));
        u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
    };
    let mut next_refresh = rt.now();
    let mut backoff = Duration::ZERO;
    loop {
        let lost = lock(&shared.link).publisher_lost.is_some();
        let deadline = if lost {
            // Tried again soon even with nothing queued, so the status
            // comes back.
            next_refresh.min(rt.now() + shared.config.probe_interval)
        } else {
            next_refresh
        };
        wait_for_work(&rt, &shared, deadline).await;
        if shared.closed.load(Ordering::SeqCst) {
            return;
        }
        let now = rt.now();
        let expired = lock(&shared.outgoing).expire(now);
        Shared::count(&shared.dropped, expired);
        if expired > 0 {
            shared.flushed.wake();
        }

        if lock(&shared.link).publisher_lost.is_some() {
            let ping = redis::cmd("PING");
            let ping = shared
                .within(1, ping.query_async::<Value>(&mut publisher))
                .await;
            if ping.is_err() {
                backoff = (backoff * 2).clamp(Duration::from_millis(50), Duration::from_secs(2));
                rt.sleep_until(rt.now() + backoff).await;
                continue;
            }
            backoff = Duration::ZERO;
            let mut link = lock(&shared.link);
            shared.recovered(&mut link.publisher_lost);
        }

        let refresh = now >= next_refresh;
        if refresh {
            next_refresh = now + shared.config.presence_ttl / 3;
        }
        let batch = {
            // Again: waiting for Redis above may have made some too old,
            // and a message older than the bound is never sent late.
            let mut outgoing = lock(&shared.outgoing);
            Shared::count(&shared.dropped, outgoing.expire(rt.now()));
            outgoing.take(shared.config.batch)
        };
        let mut pipe = redis::pipe();
        for item in &batch {
            match &item.target {
                Target::Channel(channel) => {
                    pipe.cmd("PUBLISH").arg(channel).arg(&item.message[..]);
                }
                Target::Join(key) => {
                    let join = pipe.cmd("EVAL").arg(JOIN_SCRIPT).arg(1).arg(key);
                    join.arg(presence_ttl_ms);
                    for id in item.message.split(|&b| b == b'\n') {
                        join.arg(id);
                    }
                }
                Target::Leave(key) => {
                    pipe.cmd("ZREM").arg(key).arg(&item.message[..]);
                }
                Target::Topic { keys, seq } => {
                    let mut epoch = [0u8; 8];
                    (shared.random)(&mut epoch);
                    let epoch: String = epoch.iter().map(|b| format!("{b:02x}")).collect();
                    pipe.cmd("EVAL")
                        .arg(APPEND_SCRIPT)
                        .arg(4)
                        .arg(&keys.stream)
                        .arg(&keys.epoch)
                        .arg(&keys.channel)
                        .arg(&keys.appended)
                        .arg(keys.capacity)
                        .arg(&item.message[..])
                        .arg(epoch)
                        .arg(*seq)
                        .arg(appended_ttl_ms);
                }
            }
        }
        let refreshes = if refresh {
            shared.refresh_presence(&mut pipe, presence_ttl_ms)
        } else {
            0
        };
        if batch.is_empty() && refreshes == 0 {
            shared.flushed.wake();
            continue;
        }
        // Each command's reply on its own: one refused command is not the
        // batch's failure.
        pipe.ignore_errors();
        let sent = pipe.query_async::<Vec<Value>>(&mut publisher);
        match shared.within(2, sent).await {
            Ok(replies) => {
                let (mut published, mut refused, mut busy) = (0, 0, false);
                for (item, reply) in batch.iter().zip(&replies) {
                    match reply {
                        Value::ServerError(error) => {
                            refused += 1;
                            busy |= matches!(
                                error.code(),
                                "LOADING" | "BUSY" | "MASTERDOWN" | "TRYAGAIN"
                            );
                        }
                        // Messages to other nodes; presence updates are
                        // not. (A topic event already appended by an
                        // earlier try counts now: that try's fate was
                        // unknown.)
                        _ if !matches!(item.target, Target::Join(_) | Target::Leave(_)) => {
                            published += 1;
                        }
                        _ => {}
                    }
                }
                Shared::count(&shared.published, published);
                Shared::count(&shared.dropped, refused);
                lock(&shared.outgoing).settle(batch, |_| false);
                if busy {
                    let now = rt.now();
                    lock(&shared.link).publisher_lost.get_or_insert(now);
                }
            }
            Err(_) => {
                // Sent or not, unknown: sent again when it may be (see
                // above), else dropped and counted.
                let dropped = lock(&shared.outgoing).settle(batch, |item| item.target.sent_again());
                Shared::count(&shared.dropped, dropped);
                let now = rt.now();
                lock(&shared.link).publisher_lost.get_or_insert(now);
            }
        }
        shared.flushed.wake();
    }
}

/// The watching task: runs the liveness probe (and replaces a stalled
/// subscription), catches topic copies up after a lost subscription, and
/// counts every node's connections every third of the presence TTL; ends
/// when the engine is dropped, letting go of the subscription connection.
async fn watch<R: Runtime>(
    rt: R,
    shared: Arc<Shared>,
    mut publisher: ConnectionManager,
    mut subscriber: ConnectionManager,
) {
    let mut next_probe = rt.now() + shared.config.probe_interval;
    let presence_ttl_ms = u64::try_from(shared.config.presence_ttl.as_millis()).unwrap_or(u64::MAX);
    let mut next_count = rt.now();
    // A catch-up Redis did not answer: tried again with the next probe.
    let mut catch_up_retry = false;
    loop {
        wait_to_watch(&rt, &shared, next_probe.min(next_count)).await;
        if shared.closed.load(Ordering::SeqCst) {
            break;
        }
        let now = rt.now();
        if shared.catch_up.swap(false, Ordering::SeqCst) {
            catch_up_retry = !catch_up(&shared, &mut publisher).await;
        }
        if now >= next_probe {
            if std::mem::take(&mut catch_up_retry) {
                shared.catch_up.store(true, Ordering::SeqCst);
            }
            probe(&shared, &mut publisher, &mut subscriber, now).await;
            next_probe = rt.now() + shared.config.probe_interval;
        }
        if now >= next_count {
            let counts = count_nodes(&shared, &mut publisher, presence_ttl_ms).await;
            *lock(&shared.cluster) = counts;
            next_count = now + shared.config.presence_ttl / 3;
        }
    }
    // The subscription connection's push handler holds `shared`: as long
    // as `shared` holds the connection, neither would ever be freed (and
    // the connection would stay open, subscribed). Let go of it.
    let current = lock(&shared.subscriber).take();
    drop((current, subscriber));
}

/// Catches up every topic copy that waits for it: the events after its last
/// one, read from its stream (at most its capacity), applied in order before
/// the live ones that came meanwhile; when they are gone (another epoch,
/// trimmed away, no last id) the copy's live subscribers get the reset
/// event. `false` when Redis did not answer for some (they wait; try again).
async fn catch_up(shared: &Shared, publisher: &mut ConnectionManager) -> bool {
    let topics: Vec<_> = lock(&shared.topics)
        .values()
        .filter(|topic| topic.is_catching_up())
        .cloned()
        .collect();
    let mut done = true;
    for topic in topics {
        // Live events overflowing the wait: read again from the new last
        // event, a few times, then give up with a reset.
        let mut rounds = 0;
        loop {
            rounds += 1;
            let missed = match topic.last() {
                Some(last) => {
                    let read = read_after(publisher, &topic.keys, &last, None);
                    shared.within(2, read).await
                }
                None => Ok(None),
            };
            match missed {
                Ok(Some(entries)) => {
                    let events = entries
                        .into_iter()
                        .filter_map(|(id, body)| topic_wire::event(id, &body))
                        .collect();
                    if topic.caught_up(events) {
                        Shared::count(&shared.recovered, 1);
                        break;
                    }
                    if rounds < 4 {
                        continue;
                    }
                    Shared::count(&shared.gaps, 1);
                    topic.reset();
                }
                Ok(None) => {
                    Shared::count(&shared.gaps, 1);
                    topic.reset();
                }
                Err(_) => done = false,
            }
            break;
        }
    }
    done
}

/// Records this node's open connections and reads every live node's
/// (`None` when Redis does not answer).
async fn count_nodes(
    shared: &Shared,
    publisher: &mut ConnectionManager,
    ttl_ms: u64,
) -> Option<ClusterCounts> {
    let own = shared.inbox.get()?.open_connections()?;
    let mut count = redis::cmd("EVAL");
    count
        .arg(NODES_SCRIPT)
        .arg(1)
        .arg(&shared.channels.nodes)
        .arg(&*shared.node)
        .arg(ttl_ms)
        .arg(own.websocket)
        .arg(own.sse);
    let totals: Vec<usize> = shared.within(1, count.query_async(publisher)).await.ok()?;
    match totals[..] {
        [nodes, websocket, sse] => Some(ClusterCounts::new(nodes, websocket, sse)),
        _ => None,
    }
}

/// Waits until a message is queued, the engine is dropped, or `deadline`.
async fn wait_for_work<R: Runtime>(rt: &R, shared: &Shared, deadline: Instant) {
    let mut sleep = pin!(rt.sleep_until(deadline));
    poll_fn(|cx| {
        shared.waker.register(cx.waker());
        if shared.closed.load(Ordering::SeqCst) || !lock(&shared.outgoing).is_empty() {
            return Poll::Ready(());
        }
        sleep.as_mut().poll(cx)
    })
    .await;
}

/// Waits until topic copies wait to catch up, the engine is dropped, or
/// `deadline`.
async fn wait_to_watch<R: Runtime>(rt: &R, shared: &Shared, deadline: Instant) {
    let mut sleep = pin!(rt.sleep_until(deadline));
    poll_fn(|cx| {
        shared.watcher.register(cx.waker());
        if shared.closed.load(Ordering::SeqCst) || shared.catch_up.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        sleep.as_mut().poll(cx)
    })
    .await;
}

/// The liveness probe: a probe still unanswered after the timeout means the
/// subscription stopped delivering (counted as a stall; subscribe again); a
/// PING on the subscription connection makes it reconnect if it dropped;
/// then a new probe is published to this node's probe channel.
async fn probe(
    shared: &Arc<Shared>,
    publisher: &mut ConnectionManager,
    subscriber: &mut ConnectionManager,
    now: Instant,
) {
    let stalled = {
        let mut link = lock(&shared.link);
        let late = link
            .probe_sent
            .is_some_and(|sent| now.saturating_duration_since(sent) > shared.config.probe_timeout);
        if late {
            link.probe_sent = None;
            if link.subscription_lost.is_none() {
                link.subscription_lost = Some(now);
                Shared::count(&shared.stalls, 1);
            }
        }
        late
    };
    if stalled {
        // A silent connection stays silent (no error makes the manager
        // reconnect it): a new one replaces it. When none can be made now
        // (Redis away), subscribe again on the one in use (the old one,
        // which reconnects once its errors show it dropped).
        match new_subscriber(shared).await {
            Ok(fresh) => *subscriber = fresh,
            Err(_) => {
                if let Some(current) = current_subscriber(shared) {
                    *subscriber = current;
                }
                let _ = subscribe_all(shared, subscriber).await;
            }
        }
    }
    let ping = redis::cmd("PING");
    let _ = shared
        .within(1, ping.query_async::<Value>(subscriber))
        .await;
    {
        // Marked before it is sent: the echo may come back before the
        // PUBLISH's answer.
        let mut link = lock(&shared.link);
        if link.probe_sent.is_some() {
            return;
        }
        link.probe_sent = Some(now);
    }
    let mut publish = redis::cmd("PUBLISH");
    publish.arg(&shared.channels.probe).arg("probe");
    let sent = shared
        .within(1, publish.query_async::<Value>(publisher))
        .await;
    if sent.is_err() {
        lock(&shared.link).probe_sent = None;
    }
}
