//! The bounded queue of messages waiting to be published: by count, by
//! bytes and by age. A batch taken to be sent still counts against the
//! bounds until it is settled (sent, dropped, or put back to be sent
//! again), so the memory the queue holds is bounded while Redis is slow
//! too. Pure bookkeeping (the time comes in as `now`), so it is tested
//! without Redis and without a clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// The bounds of the outgoing queue (see
/// [`RedisConfig::queue`](crate::RedisConfig::queue)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueLimits {
    /// Messages waiting at most. Default 10,000.
    pub messages: usize,
    /// Bytes waiting at most (message bodies). Default 16 MiB.
    pub bytes: usize,
    /// A message older than this is dropped rather than sent late.
    /// Default 10 s.
    pub max_age: Duration,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            messages: 10_000,
            bytes: 16 << 20,
            max_age: Duration::from_secs(10),
        }
    }
}

impl QueueLimits {
    /// Sets [`messages`](Self::messages).
    #[must_use]
    pub fn messages(mut self, messages: usize) -> Self {
        self.messages = messages;
        self
    }

    /// Sets [`bytes`](Self::bytes).
    #[must_use]
    pub fn bytes(mut self, bytes: usize) -> Self {
        self.bytes = bytes;
        self
    }

    /// Sets [`max_age`](Self::max_age).
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }
}

/// One message and where it goes (`T`: a channel, a topic).
#[derive(Debug)]
pub(crate) struct Item<T> {
    pub(crate) target: T,
    pub(crate) message: Bytes,
    queued_at: Instant,
}

/// Messages waiting to be published, oldest first.
#[derive(Debug)]
pub(crate) struct Outgoing<T> {
    items: VecDeque<Item<T>>,
    bytes: usize,
    /// Taken by [`take`](Self::take) and not yet [settled](Self::settle).
    in_flight: usize,
    in_flight_bytes: usize,
    limits: QueueLimits,
}

impl<T> Outgoing<T> {
    pub(crate) fn new(limits: QueueLimits) -> Self {
        Outgoing {
            items: VecDeque::new(),
            bytes: 0,
            in_flight: 0,
            in_flight_bytes: 0,
            limits,
        }
    }

    /// Queues a message; `false` (and nothing queued) when it would go over
    /// the count or byte bound (the messages in flight count too).
    pub(crate) fn push(&mut self, target: T, message: Bytes, now: Instant) -> bool {
        let held = self.bytes + self.in_flight_bytes;
        if self.items.len() + self.in_flight >= self.limits.messages
            || held.saturating_add(message.len()) > self.limits.bytes
        {
            return false;
        }
        self.bytes += message.len();
        self.items.push_back(Item {
            target,
            message,
            queued_at: now,
        });
        true
    }

    /// Drops the messages older than the age bound; returns how many.
    pub(crate) fn expire(&mut self, now: Instant) -> usize {
        let mut expired = 0;
        while let Some(front) = self.items.front() {
            if now.saturating_duration_since(front.queued_at) <= self.limits.max_age {
                break;
            }
            if let Some(item) = self.items.pop_front() {
                self.bytes -= item.message.len();
                expired += 1;
            }
        }
        expired
    }

    /// Takes up to `max` of the oldest messages, to be sent: they count
    /// against the bounds until [`settle`](Self::settle)d.
    pub(crate) fn take(&mut self, max: usize) -> Vec<Item<T>> {
        let n = max.min(self.items.len());
        let batch: Vec<Item<T>> = self.items.drain(..n).collect();
        let bytes = batch.iter().map(|item| item.message.len()).sum::<usize>();
        self.bytes -= bytes;
        self.in_flight += batch.len();
        self.in_flight_bytes += bytes;
        batch
    }

    /// Settles a batch [`take`](Self::take) gave: the messages `again`
    /// picks go back to the front of the queue, in their order and with
    /// their age (sent again next, dropped by [`expire`](Self::expire) when
    /// too old); the others are let go. Returns how many were let go.
    pub(crate) fn settle(
        &mut self,
        batch: Vec<Item<T>>,
        mut again: impl FnMut(&Item<T>) -> bool,
    ) -> usize {
        let mut let_go = 0;
        for item in batch.into_iter().rev() {
            self.in_flight -= 1;
            self.in_flight_bytes -= item.message.len();
            if again(&item) {
                self.bytes += item.message.len();
                self.items.push_front(item);
            } else {
                let_go += 1;
            }
        }
        let_go
    }

    /// Messages waiting (not those in flight).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Messages held: waiting, or in flight (sent, not yet answered).
    pub(crate) fn held(&self) -> usize {
        self.items.len() + self.in_flight
    }

    /// Nothing waiting, nothing in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.items.is_empty() && self.in_flight == 0
    }

    /// Nothing waiting (a batch may be in flight).
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: usize) -> Bytes {
        Bytes::from(vec![0u8; n])
    }

    #[test]
    fn bounded_by_count_bytes_and_age() {
        let t0 = Instant::now();
        let limits = QueueLimits::default()
            .messages(3)
            .bytes(10)
            .max_age(Duration::from_secs(1));
        let mut q = Outgoing::<String>::new(limits);
        assert!(q.push("c".into(), msg(4), t0));
        assert!(q.push("c".into(), msg(4), t0));
        assert!(!q.push("c".into(), msg(4), t0), "12 bytes > 10");
        assert!(q.push("c".into(), msg(2), t0 + Duration::from_millis(900)));
        assert!(!q.push("c".into(), msg(0), t0), "3 messages");
        assert_eq!(q.len(), 3);

        assert_eq!(q.expire(t0 + Duration::from_millis(1000)), 0, "not older");
        assert_eq!(q.expire(t0 + Duration::from_millis(1001)), 2);
        assert_eq!((q.len(), q.bytes), (1, 2));

        let batch = q.take(8);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].message.len(), 2);
        assert!(q.is_empty());
        assert_eq!(q.bytes, 0);
        assert!(
            !q.push("c".into(), msg(10), t0),
            "the 2 bytes in flight count"
        );
        assert_eq!(q.settle(batch, |_| false), 1);
        assert!(q.push("c".into(), msg(10), t0), "room again once settled");
    }

    #[test]
    fn a_batch_in_flight_counts_until_settled_and_may_go_back() {
        let t0 = Instant::now();
        let limits = QueueLimits::default()
            .messages(4)
            .bytes(100)
            .max_age(Duration::from_secs(1));
        let mut q = Outgoing::new(limits);
        for n in 0..4 {
            assert!(q.push(n, msg(10), t0));
        }
        let batch = q.take(3);
        assert_eq!((q.len(), q.held(), q.is_idle()), (1, 4, false));
        assert!(
            !q.push(9, msg(1), t0),
            "3 in flight + 1 waiting = the bound"
        );
        // 0 and 2 go back, in order, ahead of 3; 1 is let go.
        assert_eq!(q.settle(batch, |item| item.target != 1), 1);
        assert_eq!(
            (q.len(), q.bytes, q.in_flight, q.in_flight_bytes),
            (3, 30, 0, 0)
        );
        assert!(q.push(4, msg(10), t0 + Duration::from_millis(500)));
        let order: Vec<_> = q.take(10).into_iter().map(|i| i.target).collect();
        assert_eq!(order, [0, 2, 3, 4]);
        assert!(q.is_empty() && !q.is_idle());
        let batch_of_four = q.settle(Vec::new(), |_| true);
        assert_eq!(batch_of_four, 0, "nothing settled yet: 4 still in flight");
        assert!(!q.push(9, msg(1), t0), "4 in flight");
    }

    #[test]
    fn a_batch_put_back_keeps_its_age() {
        let t0 = Instant::now();
        let limits = QueueLimits::default().max_age(Duration::from_secs(1));
        let mut q = Outgoing::new(limits);
        assert!(q.push(7, msg(10), t0));
        let batch = q.take(1);
        assert_eq!(q.settle(batch, |_| true), 0);
        assert_eq!(q.expire(t0 + Duration::from_millis(1000)), 0);
        assert_eq!(
            q.expire(t0 + Duration::from_millis(1001)),
            1,
            "its first age"
        );
        assert!(q.is_idle());
    }

    #[test]
    fn take_keeps_the_order() {
        let t0 = Instant::now();
        let mut q = Outgoing::new(QueueLimits::default());
        for n in 0..5 {
            assert!(q.push(format!("c{n}"), msg(n), t0));
        }
        let first: Vec<_> = q.take(2).into_iter().map(|i| i.target).collect();
        assert_eq!(first, ["c0", "c1"]);
        let rest: Vec<_> = q.take(10).into_iter().map(|i| i.target).collect();
        assert_eq!(rest, ["c2", "c3", "c4"]);
    }
}
