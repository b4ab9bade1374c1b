//! A session's queues from the connection driver to its handler (streams
//! not yet accepted, datagrams not yet read): bounded in items, with
//! memory that grows with what they hold.
//!
//! async-channel's bounded channel allocates every slot when it is made:
//! three queues of 64 slots cost every session kilobytes while it sits
//! idle. Its unbounded channel allocates as items arrive; the driver is
//! the only sender, so checking the length before sending keeps the bound.

/// The driver's end of a session queue.
#[derive(Debug)]
pub(super) struct Sender<T> {
    inner: async_channel::Sender<T>,
    capacity: usize,
}

/// A queue of at most `capacity` items (at least 1).
pub(super) fn bounded<T>(capacity: usize) -> (Sender<T>, async_channel::Receiver<T>) {
    let (inner, receiver) = async_channel::unbounded();
    let capacity = capacity.max(1);
    (Sender { inner, capacity }, receiver)
}

impl<T> Sender<T> {
    /// Queues `item`, or gives it back when the queue is full or its
    /// receiver is gone.
    pub(super) fn try_send(&self, item: T) -> Result<(), T> {
        if self.inner.len() >= self.capacity {
            return Err(item);
        }
        self.inner
            .try_send(item)
            .map_err(|error| error.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::bounded;

    #[test]
    fn holds_at_most_its_capacity_and_takes_more_once_read() {
        let (tx, rx) = bounded(2);
        assert_eq!(tx.try_send(1), Ok(()));
        assert_eq!(tx.try_send(2), Ok(()));
        assert_eq!(tx.try_send(3), Err(3));
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(tx.try_send(3), Ok(()));
        assert_eq!(rx.len(), 2);
    }

    #[test]
    fn gives_the_item_back_when_the_receiver_is_gone() {
        let (tx, rx) = bounded(4);
        drop(rx);
        assert_eq!(tx.try_send(7), Err(7));
    }
}
