//! [`RedisTopic`]: an SSE topic shared by every node, with cluster-wide ids
//! and history in a Redis stream.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use redis::RedisError;
use tidings_framework::server::{RESET_EVENT, SseTopic, Subscription};
use tidings_framework::sse::{EncodeError, Event};

use crate::engine::{RedisEngine, Shared, TopicCopy, lock};
use crate::keys::{Target, TopicKeys};
use crate::stream::read_after;
use crate::topic_wire;

/// An SSE topic across nodes (Centrifugo's design): events get
/// cluster-wide ids from a Redis stream per topic (with an epoch, trimmed
/// to the topic's capacity), so a client that reconnects to **any** node
/// with `Last-Event-ID` gets exactly the events it missed, in order,
/// without duplicates, or the `reset` event when they are gone (trimmed,
/// or Redis lost the stream: the epoch changed).
///
/// - [`publish`](Self::publish) never waits: the event (its type and data)
///   is queued like every cross-node message, appended to the stream and
///   published to every node in one step (a Lua script), so every node's
///   copy ([`local`](Self::local), an [`SseTopic`]) holds the same events
///   in the same order, with ids `{epoch}-{stream-id}`. The publishing
///   node's clients get it when it comes back from Redis, like everyone's.
/// - [`subscribe`](Self::subscribe) resumes from this node's copy when it
///   holds the client's last id, else from the stream (`XRANGE`), then
///   continues live.
///
/// **Publishing while Redis is away.** An event gets its id only when
/// Redis appends it, so one published while Redis is away (or slow) waits
/// in the engine's bounded queue ([`QueueLimits`](crate::QueueLimits)) and
/// gets its id when Redis is back, after the events published before it
/// on this node: its ids follow this node's order. It is dropped and
/// counted in the engine's `dropped` (never appended later, so no client
/// sees it: the stream has no hole where it would have been) when it does
/// not fit the queue (counted at once), when it waited longer than the
/// age bound, or when Redis refused it (an error reply). An event whose
/// fate is unknown (the connection broke with it in flight, or Redis
/// answered too late) is sent again, in order: each carries its
/// publisher's number (this engine's own, from 1, in queue order) and
/// Redis appends an event only when its number is higher than the last
/// appended (a key per topic and publisher, next to the stream, persisted
/// with it), so an event is never appended twice.
///
/// **Subscribers.** A node whose subscription was down (disconnected,
/// Redis restarted, or stalled and replaced) catches its copy up when it
/// is back: it reads the stream after the last event it received (at most
/// the topic's capacity) and appends the missed events in order, so its
/// live subscribers get every event once, in order, as if live (live
/// events arriving meanwhile wait and are applied after, each once;
/// counted in the engine's `recovered`). With a Redis that persists
/// (`appendonly yes`) this holds across a Redis restart too. Only when
/// that is impossible (Redis lost the stream: the epoch changed, as after
/// a restart without persistence; the last event was trimmed away; the
/// copy never received an event before the subscription was lost) do the
/// copy's live subscribers get the `reset` event (with the id of the last
/// event the node received, from which a reconnecting client resumes
/// through the stream when it still can; counted in `gaps`); from then on
/// that copy goes on live, and clients resume from the stream, never from
/// the copy.
#[derive(Clone)]
pub struct RedisTopic {
    copy: Arc<TopicCopy>,
    keys: Arc<TopicKeys>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RedisTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTopic")
            .field("channel", &self.keys.channel)
            .field("local", &self.copy.local)
            .finish()
    }
}

impl RedisEngine {
    /// The topic `name` (shared by every node that opens it with the same
    /// engine prefix), keeping the last `capacity` events in Redis and in
    /// this node's copy. Subscribes this node to its channel; open each
    /// topic once per node and clone it.
    ///
    /// # Errors
    /// When Redis refuses the subscription.
    pub async fn topic(&self, name: &str, capacity: usize) -> Result<RedisTopic, RedisError> {
        let shared = &self.shared;
        let capacity = capacity.max(1);
        let keys = Arc::new(TopicKeys::new(
            &shared.channels,
            name,
            capacity,
            &shared.publisher_id,
        ));
        let copy = lock(&shared.topics)
            .entry(keys.channel.clone())
            .or_insert_with(|| Arc::new(TopicCopy::new(keys.clone())))
            .clone();
        let subscriber = lock(&shared.subscriber).clone();
        if let Some(mut subscriber) = subscriber {
            shared
                .within(1, subscriber.subscribe(&keys.channel))
                .await?;
        }
        Ok(RedisTopic {
            copy,
            keys,
            shared: shared.clone(),
        })
    }
}

impl RedisTopic {
    /// Publishes `event` (its type and data; an id, comments or retry of
    /// its own are not kept: the cluster gives the id) to every node's
    /// subscribers, without waiting.
    ///
    /// # Errors
    /// An event type with a line break; nothing is published then.
    pub fn publish(&self, event: &Event) -> Result<(), EncodeError> {
        let body = topic_wire::body(event)?;
        let target = Target::Topic {
            keys: self.keys.clone(),
            seq: 0, // numbered when queued
        };
        self.shared.queue(target, body);
        Ok(())
    }

    /// A subscription after `last_event_id`: from this node's copy when it
    /// holds that id; else the missed events from the stream followed by
    /// the live ones; else (too old, trimmed, another epoch, Redis away)
    /// the `reset` event, then live. Forward it with
    /// `SseContext::forward`.
    pub async fn subscribe(&self, last_event_id: Option<&str>) -> Subscription {
        let local = &self.copy.local;
        let Some(id) = last_event_id else {
            return local.subscribe(None);
        };
        // A copy that may miss events (its subscription was lost once)
        // resumes from the stream.
        if !self.copy.gapped.load(Ordering::SeqCst) && local.contains(id) {
            return local.subscribe(Some(id));
        }
        // The replay ends at this node's last event (when of the same
        // epoch): a copy catching up appends what came after in order.
        let until = self.copy.last().filter(|last| {
            topic_wire::split_id(last).map(|(epoch, _)| epoch)
                == topic_wire::split_id(id).map(|(epoch, _)| epoch)
        });
        if let Ok(Some((replay, last))) = self.history_after(id, until.as_deref()).await {
            // This node subscribed to the topic's channel before reading
            // the history: what its copy holds after `last` completes it.
            let is_newer = |kept: &str| topic_wire::is_newer(kept, &last);
            if let Some(subscription) = local.resume_after(replay, is_newer) {
                Shared::count(&self.shared.recovered, 1);
                return subscription;
            }
        }
        // Not found anywhere: the reset event (with the newest id this
        // node has), then live. (Not `local.subscribe(Some(id))`: a gapped
        // copy may hold `id` before its gap.)
        let mut reset = Event::new().event(RESET_EVENT).data("");
        if let Some(newest) = local.last_id() {
            reset = reset.id(newest);
        }
        let reset = reset
            .to_bytes()
            .unwrap_or_else(|_| Bytes::from_static(b"\n"));
        Shared::count(&self.shared.resets, 1);
        local
            .resume_after(vec![reset], |_| false)
            .unwrap_or_else(|| local.subscribe(None))
    }

    /// This node's copy: the events it received, with their cluster-wide
    /// ids (read-only use: publish through [`publish`](Self::publish)).
    pub fn local(&self) -> &SseTopic {
        &self.copy.local
    }

    /// The encoded events after `id` in the stream (up to `until`, when
    /// given), and the id of the newest of them (`id` itself when none
    /// came after); `None` when `id` is not of this stream's epoch or no
    /// longer in it.
    async fn history_after(
        &self,
        id: &str,
        until: Option<&str>,
    ) -> Result<Option<(Vec<Bytes>, String)>, RedisError> {
        let Some(mut conn) = self.shared.publisher.get().cloned() else {
            return Ok(None);
        };
        let read = read_after(&mut conn, &self.keys, id, until);
        let Some(after) = self.shared.within(2, read).await? else {
            return Ok(None);
        };
        let mut last = id.to_owned();
        let mut replay = Vec::new();
        for (cluster_id, body) in after {
            let Some(bytes) = topic_wire::event(cluster_id.clone(), &body)
                .and_then(|event| event.to_bytes().ok())
            else {
                continue;
            };
            replay.push(bytes);
            last = cluster_id;
        }
        Ok(Some((replay, last)))
    }
}
