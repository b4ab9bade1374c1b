//! A session as the hub sees it: a [`Recipient`] whose messages go, in a
//! task of the session's own, out as datagrams or one unidirectional
//! stream each ([`BroadcastMode`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use tidings_core::close::CloseCode;

use super::BroadcastMode;
use super::Error;
use super::session::Link;
use crate::hub::{Counters, Delivery, OutboxLimits, Parcel, Recipient, SlowConsumer};

/// What the delivery task takes from the outbox.
enum Out {
    Message(Bytes),
    /// Close after the messages before it.
    Close(u32, String),
}

/// The hub's seam to one session: a bounded outbox (messages and bytes
/// counted here, the channel itself unbounded so that a close always gets
/// in) drained by [`deliver`].
pub(super) struct Outbox {
    tx: async_channel::Sender<Out>,
    /// To drop the backlog of a session closed as a slow consumer.
    rx: async_channel::Receiver<Out>,
    queued: Arc<Queued>,
    mode: BroadcastMode,
    max_datagram_size: usize,
    link: Link,
    counters: Arc<Counters>,
    values: Arc<http::Extensions>,
    closing: AtomicBool,
}

/// Messages and bytes in an outbox.
#[derive(Default)]
struct Queued {
    messages: AtomicUsize,
    bytes: AtomicUsize,
}

impl Queued {
    fn take(&self, len: usize) {
        self.messages.fetch_sub(1, Ordering::Relaxed);
        self.bytes.fetch_sub(len, Ordering::Relaxed);
    }
}

impl Outbox {
    /// A session's outbox, and its delivery task started on the session's
    /// runtime.
    pub(super) fn start(
        link: Link,
        mode: BroadcastMode,
        max_datagram_size: usize,
        counters: Arc<Counters>,
        values: Arc<http::Extensions>,
    ) -> Arc<Self> {
        let (tx, rx) = async_channel::unbounded();
        let queued = Arc::new(Queued::default());
        link.runtime.spawn(Box::pin(deliver(
            rx.clone(),
            queued.clone(),
            link.clone(),
            mode,
            counters.clone(),
        )));
        Arc::new(Outbox {
            tx,
            rx,
            queued,
            mode,
            max_datagram_size,
            link,
            counters,
            values,
            closing: AtomicBool::new(false),
        })
    }

    fn full(&self, len: usize, limits: &OutboxLimits) -> bool {
        let messages = self.queued.messages.load(Ordering::Relaxed);
        let bytes = self.queued.bytes.load(Ordering::Relaxed);
        messages > 0 && (messages >= limits.messages || bytes + len > limits.bytes)
    }
}

impl Recipient for Outbox {
    fn offer(&self, parcel: Parcel<'_>, limits: &OutboxLimits, policy: &SlowConsumer) -> Delivery {
        let Parcel::WebTransport(message) = parcel else {
            return Delivery::Skipped;
        };
        if self.closing.load(Ordering::Relaxed) || self.tx.is_closed() {
            return Delivery::Closed;
        }
        let len = message.len();
        match self.mode {
            BroadcastMode::Datagrams if len > self.max_datagram_size || self.full(len, limits) => {
                self.counters.datagrams_dropped(1);
                return Delivery::Skipped;
            }
            BroadcastMode::Datagrams => {}
            BroadcastMode::UniStreams if self.full(len, limits) => {
                self.closing.store(true, Ordering::Relaxed);
                while let Ok(out) = self.rx.try_recv() {
                    if let Out::Message(message) = out {
                        self.queued.take(message.len());
                    }
                }
                self.link
                    .close_now(u32::from(u16::from(policy.code())), policy.reason());
                return Delivery::Dropped;
            }
            BroadcastMode::UniStreams => {}
        }
        self.queued.messages.fetch_add(1, Ordering::Relaxed);
        self.queued.bytes.fetch_add(len, Ordering::Relaxed);
        if self.tx.try_send(Out::Message(message.clone())).is_err() {
            self.queued.take(len);
            return Delivery::Closed;
        }
        Delivery::Queued
    }

    fn close(&self, code: CloseCode, reason: &str) {
        if !self.closing.swap(true, Ordering::Relaxed) {
            let code = u32::from(u16::from(code));
            if self
                .tx
                .try_send(Out::Close(code, reason.to_owned()))
                .is_err()
            {
                self.link.close_now(code, reason);
            }
        }
    }

    fn values(&self, f: &mut dyn FnMut(&http::Extensions)) {
        f(&self.values);
    }
}

/// Sends what the outbox holds until the session or the outbox is gone.
async fn deliver(
    rx: async_channel::Receiver<Out>,
    queued: Arc<Queued>,
    link: Link,
    mode: BroadcastMode,
    counters: Arc<Counters>,
) {
    while let Ok(out) = rx.recv().await {
        let message = match out {
            Out::Message(message) => message,
            Out::Close(code, reason) => {
                link.close_now(code, &reason);
                return;
            }
        };
        queued.take(message.len());
        let sent = match mode {
            BroadcastMode::Datagrams => link.send_datagram(message).await.inspect_err(|_| {
                counters.datagrams_dropped(1);
            }),
            BroadcastMode::UniStreams => match link.open_uni().await {
                Ok(mut send) => match send.write(message).await {
                    Ok(()) => send.finish(),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            },
        };
        if let Err(Error::SessionClosed | Error::Connection(_)) = sent {
            // The session or its connection is over: nothing more goes
            // out. (A stream the peer stopped loses its message only.)
            return;
        }
    }
}
