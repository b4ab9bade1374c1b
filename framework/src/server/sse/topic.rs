//! A topic: SSE fan-out with a replay buffer for reconnecting clients.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll, Waker};

use bytes::Bytes;

use tidings_core::sse::{EncodeError, Event};

/// The type of the event a subscriber receives instead of events it can no
/// longer get (see [`SseTopic`]).
pub const RESET_EVENT: &str = "reset";

/// A stream of events shared by many SSE clients, remembering the last
/// `capacity` events so that a client that reconnects with `Last-Event-ID`
/// receives what it missed.
///
/// - [`publish`](Self::publish) encodes an event once, gives it an id if it
///   has none (`1`, `2`, … in publishing order), and keeps the encoded bytes
///   in a ring of the last `capacity` events. Every subscriber writes those
///   same bytes.
/// - [`subscribe`](Self::subscribe) fixes where a client starts: with no
///   last event id, at the next published event; with an id found in the
///   ring, just after it — the missed events follow in order, each once;
///   with an id no longer (or never) in the ring, a **reset event** comes
///   first, then the next published event.
/// - A subscriber that falls more than `capacity` events behind (its task
///   was not scheduled while others published) also receives the reset event
///   and continues with the next published event, rather than silently
///   skipping.
///
/// The reset event is `event: reset` with empty data and, when the topic
/// has published anything, `id:` the newest id, so the next reconnection
/// resumes from there. A client that receives it has lost events and should
/// reload whatever state it derives from them.
///
/// Memory is bounded by `capacity` encoded events; subscribers hold only a
/// position. Ids are per topic and restart at 1 with the process: a client
/// reconnecting to a restarted server with an id the new ring also holds
/// would resume at the wrong place, so give events your own ids (e.g. with
/// a per-process prefix) when that matters.
///
/// ```
/// # use tidings_framework::server::{Router, SseContext, SseTopic};
/// # use tidings_framework::sse::Event;
/// let topic = SseTopic::new(100);
/// let feed = topic.clone();
/// let router = Router::new().sse("/feed", move |ctx: SseContext| {
///     let feed = feed.clone();
///     async move {
///         ctx.subscribe(&feed).await;
///         Ok(())
///     }
/// });
/// assert_eq!(topic.publish(Event::new().data("first")).unwrap(), "1");
/// assert_eq!(topic.publish(Event::new().id("x").data("mine")).unwrap(), "x");
/// # assert_eq!(router.len(), 1);
/// ```
#[derive(Clone)]
pub struct SseTopic {
    inner: Arc<Inner>,
}

struct Inner {
    capacity: usize,
    state: Mutex<State>,
}

struct State {
    ring: VecDeque<Entry>,
    /// Sequence number of the next published event (the first is 1).
    next_seq: u64,
    /// Subscribers waiting for the next event, by subscriber key.
    waiting: Waiting,
    /// An empty map with the capacity of an earlier `waiting`: `publish`
    /// swaps the two and wakes the taken wakers after unlocking, then puts
    /// the drained map back here, so neither map is rebuilt per event.
    spare: Waiting,
    next_key: u64,
}

/// The waiting subscribers' wakers by key: written once per event by
/// every subscriber that caught up, so hashed by [`KeyHasher`].
type Waiting = HashMap<u64, Waker, BuildHasherDefault<KeyHasher>>;

/// Hashes a subscriber's key with one multiplication (Fibonacci hashing),
/// where std's default SipHash took about a tenth of an SSE event's
/// delivery (callgrind, the chat example). The keys are the topic's own
/// counter, never a client's input, so they need no keyed hash.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

struct Entry {
    seq: u64,
    id: String,
    bytes: Bytes,
}

impl std::fmt::Debug for SseTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("SseTopic")
            .field("capacity", &self.inner.capacity)
            .field("len", &state.ring.len())
            .field("published", &(state.next_seq - 1))
            .finish()
    }
}

impl SseTopic {
    /// A topic that remembers the last `capacity` events (at least 1: live
    /// subscribers take events from the ring too).
    pub fn new(capacity: usize) -> Self {
        SseTopic {
            inner: Arc::new(Inner {
                capacity: capacity.max(1),
                state: Mutex::new(State {
                    ring: VecDeque::new(),
                    next_seq: 1,
                    waiting: Waiting::default(),
                    spare: Waiting::default(),
                    next_key: 0,
                }),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Each critical section is a single push, pop or lookup, so a
        // poisoned lock still holds a consistent state.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes `event` to every subscriber and keeps it for replay.
    /// Returns its id: the event's own, or the next number if it had none.
    /// Never waits: slow subscribers are dealt with by their own streams.
    /// The waiting subscribers are woken after the topic is unlocked, so a
    /// subscriber woken on another worker thread finds it free.
    ///
    /// When ids repeat, a reconnecting client resumes after the newest
    /// event with its id.
    ///
    /// # Errors
    /// The [`EncodeError`] of an invalid event name or id; nothing is
    /// published then.
    pub fn publish(&self, event: Event) -> Result<String, EncodeError> {
        let mut state = self.lock();
        let seq = state.next_seq;
        let (event, id) = match event.id_value() {
            Some(id) => {
                let id = id.to_owned();
                (event, id)
            }
            None => {
                let id = seq.to_string();
                (event.id(id.clone()), id)
            }
        };
        let bytes = event.to_bytes()?;
        if state.ring.len() >= self.inner.capacity {
            state.ring.pop_front();
        }
        state.ring.push_back(Entry {
            seq,
            id: id.clone(),
            bytes,
        });
        state.next_seq += 1;
        let mut woken = std::mem::take(&mut state.spare);
        std::mem::swap(&mut woken, &mut state.waiting);
        drop(state);
        // A subscriber dropped from here on may still be woken: a spurious
        // wake, harmless.
        for (_, waker) in woken.drain() {
            waker.wake();
        }
        let mut state = self.lock();
        if state.spare.capacity() < woken.capacity() {
            state.spare = woken;
        }
        Ok(id)
    }

    /// A subscription starting after `last_event_id` (see the type's
    /// documentation). The position is fixed now; events published from now
    /// on are delivered even if the subscription is polled later.
    pub fn subscribe(&self, last_event_id: Option<&str>) -> Subscription {
        let mut state = self.lock();
        let key = state.next_key;
        state.next_key += 1;
        let (next, reset) = match last_event_id {
            None => (state.next_seq, None),
            Some(id) => match state.ring.iter().rev().find(|entry| entry.id == id) {
                Some(entry) => (entry.seq + 1, None),
                None => (state.next_seq, Some(reset_event(&state))),
            },
        };
        Subscription {
            topic: self.clone(),
            key,
            next,
            first: reset.into_iter().collect(),
        }
    }

    /// Whether an event with this id is kept for replay.
    pub fn contains(&self, id: &str) -> bool {
        self.lock().ring.iter().any(|entry| entry.id == id)
    }

    /// A subscription that yields `replay` (encoded events, e.g. read from
    /// a cluster's shared history) first, then this topic's events from the
    /// oldest kept one whose id `is_newer` accepts (or from the next
    /// published one). For ids with an order (a cluster engine's stream
    /// ids) and a topic that started receiving before the history was read,
    /// that is exact: what the topic holds up to the replay's end is
    /// skipped, what came after follows. `None` when events may be missing
    /// in between: the topic is full and even its oldest kept event is
    /// newer (some were evicted).
    pub fn resume_after(
        &self,
        replay: Vec<Bytes>,
        is_newer: impl Fn(&str) -> bool,
    ) -> Option<Subscription> {
        let mut state = self.lock();
        let newer = state.ring.iter().find(|entry| is_newer(&entry.id));
        let next = match newer {
            Some(entry) if entry.seq == state.ring.front().map_or(0, |oldest| oldest.seq) => {
                if state.ring.len() >= self.inner.capacity {
                    return None;
                }
                entry.seq
            }
            Some(entry) => entry.seq,
            None => state.next_seq,
        };
        let key = state.next_key;
        state.next_key += 1;
        Some(Subscription {
            topic: self.clone(),
            key,
            next,
            first: replay.into(),
        })
    }

    /// Events kept for replay now.
    pub fn len(&self) -> usize {
        self.lock().ring.len()
    }

    /// Whether nothing has been published yet.
    pub fn is_empty(&self) -> bool {
        self.lock().ring.is_empty()
    }

    /// The most events kept for replay.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// The id of the newest event, if any.
    pub fn last_id(&self) -> Option<String> {
        self.lock().ring.back().map(|entry| entry.id.clone())
    }
}

/// The reset event: `event: reset`, empty data, and the newest id if any.
fn reset_event(state: &State) -> Bytes {
    let mut event = Event::new().event(RESET_EVENT).data("");
    if let Some(newest) = state.ring.back() {
        event = event.id(newest.id.clone());
    }
    // The name is a constant without line breaks and the id was encoded
    // before, so this cannot fail; an empty event is the harmless fallback.
    event
        .to_bytes()
        .unwrap_or_else(|_| Bytes::from_static(b"\n"))
}

/// A position in an [`SseTopic`]: yields the encoded events from there on,
/// in order (a [`Stream`](futures_core::Stream) of [`Bytes`] that never
/// ends). Forward it to a client with
/// [`SseContext::forward`](super::SseContext::forward).
pub struct Subscription {
    topic: SseTopic,
    key: u64,
    /// Sequence number of the next event to yield.
    next: u64,
    /// Events to yield before anything else: a reset event, or the
    /// replay of a [`resume`](SseTopic::resume).
    first: VecDeque<Bytes>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("next", &self.next)
            .field("first", &self.first.len())
            .finish()
    }
}

impl Subscription {
    /// The next encoded event, or `Pending` (waking `cx` when one is
    /// published).
    pub fn poll_next_bytes(&mut self, cx: &mut TaskContext<'_>) -> Poll<Bytes> {
        if let Some(first) = self.first.pop_front() {
            return Poll::Ready(first);
        }
        let mut state = self.topic.lock();
        let Some(oldest) = state.ring.front().map(|entry| entry.seq) else {
            state.waiting.insert(self.key, cx.waker().clone());
            return Poll::Pending;
        };
        if self.next < oldest {
            // Fell behind the ring: say so, then continue live.
            self.next = state.next_seq;
            return Poll::Ready(reset_event(&state));
        }
        let index = usize::try_from(self.next - oldest).unwrap_or(usize::MAX);
        match state.ring.get(index) {
            Some(entry) => {
                self.next += 1;
                Poll::Ready(entry.bytes.clone())
            }
            None => {
                state.waiting.insert(self.key, cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl futures_core::Stream for Subscription {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Bytes>> {
        self.get_mut().poll_next_bytes(cx).map(Some)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.topic.lock().waiting.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_core::sse::Decoder;

    /// Polls once; `None` when pending.
    fn poll(sub: &mut Subscription) -> Option<(String, String, String)> {
        let mut cx = TaskContext::from_waker(Waker::noop());
        match sub.poll_next_bytes(&mut cx) {
            Poll::Ready(bytes) => {
                let mut decoder = Decoder::new();
                decoder.feed(&bytes).unwrap();
                let event = decoder.poll_event().unwrap();
                Some((event.event_type, event.data, event.last_event_id))
            }
            Poll::Pending => None,
        }
    }

    fn news(n: u32) -> Option<(String, String, String)> {
        Some(("news".into(), format!("n{n}"), n.to_string()))
    }

    fn reset(id: &str) -> Option<(String, String, String)> {
        Some((RESET_EVENT.into(), String::new(), id.into()))
    }

    fn publish(topic: &SseTopic, n: u32) {
        topic
            .publish(Event::new().event("news").data(format!("n{n}")))
            .unwrap();
    }

    #[test]
    fn live_subscriber_gets_each_event_once_in_order() {
        let topic = SseTopic::new(4);
        let mut sub = topic.subscribe(None);
        assert_eq!(poll(&mut sub), None);
        publish(&topic, 1);
        publish(&topic, 2);
        assert_eq!(poll(&mut sub), news(1));
        assert_eq!(poll(&mut sub), news(2));
        assert_eq!(poll(&mut sub), None);
    }

    #[test]
    fn replay_after_a_kept_id_and_reset_for_an_evicted_one() {
        let topic = SseTopic::new(3);
        for n in 1..=5 {
            publish(&topic, n);
        }
        let mut sub = topic.subscribe(Some("3"));
        assert_eq!(poll(&mut sub), news(4));
        assert_eq!(poll(&mut sub), news(5));
        assert_eq!(poll(&mut sub), None);
        let mut stale = topic.subscribe(Some("2"));
        assert_eq!(poll(&mut stale), reset("5"));
        assert_eq!(poll(&mut stale), None);
        publish(&topic, 6);
        assert_eq!(poll(&mut stale), news(6));
        // An empty topic: reset without an id.
        let mut empty = SseTopic::new(3).subscribe(Some("9"));
        assert_eq!(poll(&mut empty), reset(""));
    }

    #[test]
    fn a_subscriber_that_falls_behind_the_ring_gets_a_reset() {
        let topic = SseTopic::new(2);
        let mut sub = topic.subscribe(None);
        for n in 1..=5 {
            publish(&topic, n);
        }
        assert_eq!(poll(&mut sub), reset("5"));
        assert_eq!(poll(&mut sub), None);
        publish(&topic, 6);
        assert_eq!(poll(&mut sub), news(6));
    }

    #[test]
    fn own_ids_are_kept_and_the_newest_duplicate_wins() {
        let topic = SseTopic::new(8);
        assert_eq!(topic.publish(Event::new().id("a").data("1")).unwrap(), "a");
        assert_eq!(topic.publish(Event::new().data("2")).unwrap(), "2");
        assert_eq!(topic.publish(Event::new().id("a").data("3")).unwrap(), "a");
        assert!(topic.publish(Event::new().id("x\ny")).is_err());
        assert_eq!(topic.len(), 3);
        assert_eq!(topic.last_id().as_deref(), Some("a"));
        let mut sub = topic.subscribe(Some("a"));
        assert_eq!(poll(&mut sub), None);
        let mut sub = topic.subscribe(Some("2"));
        assert_eq!(
            poll(&mut sub),
            Some(("message".into(), "3".into(), "a".into()))
        );
    }

    #[test]
    fn resume_replays_then_continues_after_the_named_event() {
        let topic = SseTopic::new(4);
        for n in 1..=3 {
            publish(&topic, n);
        }
        assert!(topic.contains("2") && !topic.contains("9"));
        let newer_than = |n: u32| move |id: &str| id.parse::<u32>().is_ok_and(|id| id > n);
        let replay = vec![
            Event::new()
                .event("old")
                .data("a")
                .id("x1")
                .to_bytes()
                .unwrap(),
            Event::new()
                .event("old")
                .data("b")
                .id("x2")
                .to_bytes()
                .unwrap(),
        ];
        let mut sub = topic.resume_after(replay, newer_than(2)).unwrap();
        assert_eq!(
            poll(&mut sub),
            Some(("old".into(), "a".into(), "x1".into()))
        );
        assert_eq!(
            poll(&mut sub),
            Some(("old".into(), "b".into(), "x2".into()))
        );
        assert_eq!(poll(&mut sub), news(3));
        assert_eq!(poll(&mut sub), None);
        publish(&topic, 4);
        assert_eq!(poll(&mut sub), news(4));
        // Nothing newer kept: from the next published event.
        let mut live = topic.resume_after(Vec::new(), newer_than(9)).unwrap();
        assert_eq!(poll(&mut live), None);
        publish(&topic, 5);
        assert_eq!(poll(&mut live), news(5));
        // Full, and the oldest kept (2) is already newer than 1: 1's
        // successor may have been evicted.
        assert!(topic.resume_after(Vec::new(), newer_than(1)).is_none());
        // Not full: the oldest kept may follow directly.
        let small = SseTopic::new(4);
        publish(&small, 1);
        let mut sub = small.resume_after(Vec::new(), newer_than(0)).unwrap();
        assert_eq!(poll(&mut sub), news(1));
    }

    /// A waker that records whether the topic was unlocked when it woke.
    struct LockProbe {
        topic: SseTopic,
        woken_unlocked: std::sync::atomic::AtomicUsize,
    }

    impl std::task::Wake for LockProbe {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            if self.topic.inner.state.try_lock().is_ok() {
                self.woken_unlocked
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn subscribers_are_woken_after_the_topic_is_unlocked() {
        let topic = SseTopic::new(4);
        let probe = Arc::new(LockProbe {
            topic: topic.clone(),
            woken_unlocked: Default::default(),
        });
        let waker = Waker::from(probe.clone());
        let mut subs: Vec<Subscription> = (0..3).map(|_| topic.subscribe(None)).collect();
        for sub in &mut subs {
            let mut cx = TaskContext::from_waker(&waker);
            assert!(sub.poll_next_bytes(&mut cx).is_pending());
        }
        publish(&topic, 1);
        assert_eq!(
            probe
                .woken_unlocked
                .load(std::sync::atomic::Ordering::SeqCst),
            3
        );
        // Woken ones wait again in the same (reused) map.
        for sub in &mut subs {
            assert_eq!(poll(sub), news(1));
            let mut cx = TaskContext::from_waker(&waker);
            assert!(sub.poll_next_bytes(&mut cx).is_pending());
        }
        assert_eq!(topic.lock().waiting.len(), 3);
        publish(&topic, 2);
        assert_eq!(
            probe
                .woken_unlocked
                .load(std::sync::atomic::Ordering::SeqCst),
            6
        );
        drop(subs);
        assert!(topic.lock().waiting.is_empty());
    }

    #[test]
    fn dropping_a_subscription_unregisters_its_waker() {
        let topic = SseTopic::new(2);
        let mut sub = topic.subscribe(None);
        assert_eq!(poll(&mut sub), None);
        assert_eq!(topic.lock().waiting.len(), 1);
        drop(sub);
        assert!(topic.lock().waiting.is_empty());
    }
}
