//! The state a connection's handles and its pump share, behind one mutex,
//! and how the hub sends to it (its [`Recipient`] implementation).

use core::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::task::Waker;
use std::time::Instant;

use parking_lot::{Mutex, MutexGuard};

use crate::hub::{
    Counters, Delivery, Hub, Listing, OutboxLimits, Parcel, Recipient, Registered, SlowConsumer,
    WsFrame,
};
use crate::signal::Signal;
use crate::wheel::Wheel;
use tidings_core::close::CloseCode;
use tidings_core::frame::MAX_HEADER_LEN;
use tidings_core::ws::{self, Closed, Event, Message, Outgoing, SendError};

/// Sizes that bound a connection's buffers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BufferLimits {
    /// Bytes read from the transport per read call.
    pub(crate) read_buffer_size: usize,
    /// Received messages (bytes) kept for the reader before the pump stops
    /// reading the transport (back-pressure).
    pub(crate) inbox_bytes: usize,
    /// Encoded bytes waiting to be written before writers wait.
    pub(crate) write_buffer_size: usize,
}

/// The clock, as a closure over the runtime (the core never reads it itself).
pub(crate) type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// What every connection of a server shares (a client connection has its
/// own): one pointer per connection.
pub(crate) struct Settings {
    pub(crate) limits: BufferLimits,
    pub(crate) clock: Clock,
    /// The connections' deadlines (one driver task sleeps for all).
    pub(crate) wheel: Arc<Wheel>,
    /// The server's hub (`None` for a client connection): here rather than
    /// in every connection's state, which it would make 8 bytes larger.
    pub(crate) hub: Option<Arc<Hub>>,
    /// The server's shutdown signal (`None` for a client connection): here
    /// rather than in every connection's pump, which holds only its slot in
    /// it (see [`Slot`](crate::signal::Slot)).
    pub(crate) shutdown: Option<Arc<Signal>>,
}

/// Identity and addresses of a connection, fixed at creation.
#[derive(Debug)]
pub(crate) struct Info {
    /// Its id, remote address, route, … as the hub's registry reads them
    /// (here rather than in a block of the hub's own: the registry holds
    /// this state). A client connection's is never registered.
    ///
    /// Boxed: 104 bytes, a 112-byte malloc chunk. With glibc and tokio,
    /// each connection's two 128-byte-aligned blocks (its task, its socket
    /// registration) leave pieces of that size over, unused, which the box
    /// then mostly fills, while the shared state's block shrinks by 96
    /// bytes (measured in bench/run's memory part: issue #20, point 6).
    /// The hub reads it through one more pointer.
    pub(crate) listing: Box<Listing>,
    pub(crate) local_addr: Option<SocketAddr>,
    /// Boxed twice: a thin pointer, 8 bytes in every connection's state
    /// rather than 16, for a name that most connections do not have.
    pub(crate) subprotocol: Option<Box<Box<str>>>,
}

pub(crate) struct Shared {
    pub(crate) info: Info,
    /// Shared by every connection of a server.
    pub(crate) settings: Arc<Settings>,
    pub(crate) values: Mutex<http::Extensions>,
    /// Live `Connection` handles: the last one's drop closes the connection.
    pub(crate) handles: AtomicUsize,
    inner: Mutex<Inner>,
}

pub(crate) struct Inner {
    pub(crate) ws: ws::Connection,
    /// The message parsed and not yet read: at most one, since input is
    /// parsed only while none is waiting (see
    /// [`drain_events`](Self::drain_events)).
    pub(crate) inbox: Option<Message>,
    /// Set when the protocol reports the end (boxed: only an ending
    /// connection has one).
    pub(crate) closed: Option<Box<Closed>>,
    /// Set when the pump has written everything, closed the transport and stopped.
    pub(crate) finished: bool,
    /// Bytes the pump has taken from the protocol but not yet written.
    pub(crate) in_flight: usize,
    /// Chunks the pump has taken from the protocol but not yet written
    /// (`u32`: packed with `finished`; a write queue never holds 2^32).
    pub(crate) in_flight_chunks: u32,
    /// The server's statistics, once registered with a hub.
    stats: Option<Arc<Counters>>,
    pump: Option<Waker>,
    reader: Option<Waker>,
    /// Tasks waiting for write capacity, a flush or the end: allocated for
    /// the first one (most connections never have one), then kept.
    #[expect(
        clippy::box_collection,
        reason = "8 bytes in every connection's state instead of a Vec's 24"
    )]
    waiters: Option<Box<Vec<Waker>>>,
}

impl Shared {
    pub(crate) fn new(info: Info, settings: Arc<Settings>, ws: ws::Connection) -> Self {
        // Counted from the start: every received message is in the
        // server's statistics.
        let stats = settings.hub.as_ref().map(|hub| hub.counters().clone());
        Shared {
            info,
            settings,
            values: Mutex::new(http::Extensions::new()),
            handles: AtomicUsize::new(0),
            inner: Mutex::new(Inner {
                ws,
                inbox: None,
                closed: None,
                finished: false,
                in_flight: 0,
                in_flight_chunks: 0,
                stats,
                pump: None,
                reader: None,
                waiters: None,
            }),
        }
    }

    /// Locks the shared state. A panic while holding the lock (a bug) must not
    /// wedge every other handle, so the lock does not poison (parking_lot's):
    /// the state is plain data that every method leaves consistent between
    /// statements.
    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock()
    }

    /// The buffer sizes.
    pub(crate) fn limits(&self) -> &BufferLimits {
        &self.settings.limits
    }

    pub(crate) fn now(&self) -> Instant {
        (self.settings.clock)()
    }

    fn lock_values(&self) -> MutexGuard<'_, http::Extensions> {
        self.values.lock()
    }

    /// A clone of the stored value of type `T`.
    pub(crate) fn value<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.lock_values().get::<T>().cloned()
    }

    /// Stores a value, replacing one of the same type.
    pub(crate) fn set_value<T: Clone + Send + Sync + 'static>(&self, value: T) {
        self.lock_values().insert(value);
    }

    /// Adds `values`, replacing those of the same types.
    pub(crate) fn extend_values(&self, values: http::Extensions) {
        self.lock_values().extend(values);
    }

    /// Starts the close handshake if the connection is still open.
    pub(crate) fn start_close(&self, code: CloseCode, reason: &str) {
        let mut inner = self.lock();
        if inner.ws.state() == ws::State::Open {
            let _ = inner.ws.close(self.now(), code, reason);
            inner.wake_pump();
        }
    }
}

/// How the hub reaches a WebSocket connection: broadcasts and hub sends are
/// queued in its protocol state (never waiting), bounded by the outbox
/// limits; closes start the close handshake.
impl Recipient for Shared {
    fn offer(&self, parcel: Parcel<'_>, limits: &OutboxLimits, policy: &SlowConsumer) -> Delivery {
        let Parcel::WebSocket(frame) = parcel else {
            return Delivery::Skipped;
        };
        let mut inner = self.lock();
        if inner.closed.is_some() || inner.ws.state() != ws::State::Open {
            return Delivery::Closed;
        }
        let queued = inner.ws.pending_transmit() + inner.in_flight;
        let messages = inner.ws.pending_shared_frames() + inner.in_flight_chunks as usize + 1;
        // What the message will take at most (a message compressed for this
        // connection alone is bounded by its plain size plus a frame header).
        let len = match &frame {
            WsFrame::Shared(frame) => frame.len(),
            WsFrame::Own(message) => message.len() + MAX_HEADER_LEN,
        };
        // An empty outbox takes any one message, however large: the bound is
        // on what a client leaves unread, not on message size.
        if queued > 0 && (queued + len > limits.bytes || messages > limits.messages) {
            // The backlog would only delay the close frame behind what the
            // client is not reading.
            inner.ws.discard_transmit();
            let _ = inner.ws.close(self.now(), policy.code(), policy.reason());
            inner.wake_all();
            return Delivery::Dropped;
        }
        // A pump with bytes in flight waits for the socket and takes the new
        // frame when it can write again: waking it now would only make a
        // stalled client's task spin once per broadcast.
        let pump_idle = inner.in_flight == 0;
        let sent = match frame {
            WsFrame::Shared(frame) => inner.ws.send_shared(frame),
            // Compressed (or not) with the connection's own context, in order
            // with its other frames, so the client's inflater stays in step.
            WsFrame::Own(message) => inner.ws.send(message),
        };
        match sent {
            Ok(()) => {
                if pump_idle {
                    inner.wake_pump();
                }
                Delivery::Queued
            }
            Err(_) => Delivery::Closed,
        }
    }

    fn close(&self, code: CloseCode, reason: &str) {
        self.start_close(code, reason);
    }

    fn values(&self, f: &mut dyn FnMut(&http::Extensions)) {
        f(&self.lock_values());
    }
}

/// The hub reads a WebSocket connection's listing in its state.
impl Registered for Shared {
    fn listing(&self) -> &Listing {
        &self.info.listing
    }
}

impl Inner {
    /// Moves the protocol's events into the shared state and wakes whoever
    /// waits for them, parsing only until one message is waiting.
    ///
    /// Frames after an unread message stay unparsed: a protocol error after
    /// it is then detected when the reader asks for the next message, after
    /// the handler has answered this one (as Autobahn's strict cases 3.2,
    /// 4.1.3, 5.15 … expect), and input is parsed no faster than it is read.
    pub(crate) fn drain_events(&mut self) {
        self.drain_events_for(None);
    }

    /// As [`drain_events`](Self::drain_events), but a reader that would be
    /// woken with `polled_next` is not: the caller polls it right after
    /// (the pump before the handler of its own task, or the reader itself).
    /// Waking it would only make the runtime poll the whole task again.
    /// Returns whether it parsed (there was input to parse or an end to
    /// report).
    #[inline]
    pub(crate) fn drain_events_for(&mut self, polled_next: Option<&Waker>) -> bool {
        // A message waiting, or nothing to parse (a reader's poll after it
        // took the last message, once per message): inlined, no call.
        let parse = self.inbox.is_none() && self.ws.may_have_event();
        if parse {
            self.parse_events_for(polled_next);
        }
        parse
    }

    /// [`drain_events_for`](Self::drain_events_for) once there is input to
    /// parse or an end to report.
    fn parse_events_for(&mut self, polled_next: Option<&Waker>) {
        while self.inbox.is_none() {
            let Some(event) = self.ws.poll_event() else {
                break;
            };
            match event {
                Event::Message(message) => {
                    if let Some(stats) = &self.stats {
                        stats.received(message.len());
                    }
                    self.inbox = Some(message);
                    let reader_next = polled_next.is_some_and(|next| {
                        self.reader
                            .as_ref()
                            .is_some_and(|reader| reader.will_wake(next))
                    });
                    if !reader_next {
                        wake(&mut self.reader);
                    }
                }
                Event::Closed(closed) => {
                    self.closed = Some(closed);
                    self.wake_all();
                }
                // Pings are answered by the protocol; pongs only prove liveness.
                _ => {}
            }
        }
    }

    /// Queues a message, counting data messages in the statistics.
    pub(crate) fn send(&mut self, message: Outgoing<'_>) -> Result<(), SendError> {
        let len = match message {
            Outgoing::Text(text) => Some(text.len()),
            Outgoing::Binary(data) => Some(data.len()),
            _ => None,
        };
        self.ws.send(message)?;
        if let (Some(stats), Some(len)) = (&self.stats, len) {
            stats.sent(len);
        }
        Ok(())
    }

    /// Queues a message (sharing a large payload's bytes, see
    /// [`ws::Connection::send_message`]), counting it in the statistics.
    #[inline]
    pub(crate) fn send_message(&mut self, message: &Message) -> Result<(), SendError> {
        self.ws.send_message(message)?;
        if let Some(stats) = &self.stats {
            stats.sent(message.len());
        }
        Ok(())
    }

    /// Whether a pump waker is registered (none after it was woken).
    pub(crate) fn has_pump_waker(&self) -> bool {
        self.pump.is_some()
    }

    pub(crate) fn set_pump_waker(&mut self, waker: &Waker) {
        set_waker(&mut self.pump, waker);
    }

    pub(crate) fn set_reader_waker(&mut self, waker: &Waker) {
        set_waker(&mut self.reader, waker);
    }

    /// Registers a task waiting for write capacity, a flush or the end.
    pub(crate) fn add_waiter(&mut self, waker: &Waker) {
        let waiters = self.waiters.get_or_insert_default();
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
    }

    pub(crate) fn wake_pump(&mut self) {
        wake(&mut self.pump);
    }

    /// Wakes the pump unless it runs in the task of `current`: a handler
    /// and its pump share a task, which polls the pump right after the
    /// handler, so waking it would only cost an extra poll.
    #[inline]
    pub(crate) fn wake_pump_from(&mut self, current: &Waker) {
        if self
            .pump
            .as_ref()
            .is_some_and(|pump| !pump.will_wake(current))
        {
            self.wake_pump();
        }
    }

    /// Received bytes not yet handed to the reader: unread messages and
    /// unparsed input. The pump stops reading the transport above the limit.
    #[inline]
    pub(crate) fn unread_bytes(&self) -> usize {
        self.inbox.as_ref().map_or(0, Message::len) + self.ws.pending_input()
    }

    pub(crate) fn wake_reader(&mut self) {
        wake(&mut self.reader);
    }

    #[inline]
    pub(crate) fn wake_waiters(&mut self) {
        // The common case, on every pump round: no waiter, no call.
        if let Some(waiters) = self.waiters.as_mut().filter(|waiters| !waiters.is_empty()) {
            wake_each(waiters);
        }
    }

    pub(crate) fn wake_all(&mut self) {
        self.wake_pump();
        self.wake_reader();
        self.wake_waiters();
    }

    /// Whether a writer may queue more: the protocol's output plus what the
    /// pump is writing is under the write buffer size.
    #[inline]
    pub(crate) fn has_write_capacity(&self, limit: usize) -> bool {
        self.ws.pending_transmit() + self.in_flight < limit
    }
}

fn set_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(current) if current.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

/// Wakes and removes every waker of `waiters`.
fn wake_each(waiters: &mut Vec<Waker>) {
    for waker in waiters.drain(..) {
        waker.wake();
    }
}

fn wake(slot: &mut Option<Waker>) {
    if let Some(waker) = slot.take() {
        waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every open connection holds one `Shared` (and its `ws::Connection`)
    /// for its whole life, idle or not: 10,000 idle connections cost 10,000
    /// times these sizes. Rarely used state (close handshake, fragmented
    /// messages, client masking, deflate) is boxed and the configuration is
    /// shared, so that an idle connection stays small; these bounds catch a
    /// field that makes every connection heavier by accident.
    #[test]
    fn per_connection_state_stays_small() {
        let sizes = (
            size_of::<ws::Connection>(),
            size_of::<Inner>(),
            size_of::<Shared>(),
        );
        eprintln!("ws::Connection, Inner, Shared: {sizes:?}");
        assert!(sizes.0 <= 208, "ws::Connection is {} bytes", sizes.0);
        assert!(sizes.1 <= 320, "Inner is {} bytes", sizes.1);
        // 408 (the hub's listing boxed apart): with the `Arc`'s counts, 424
        // bytes, a 432-byte malloc chunk (8 bytes more would take a
        // 448-byte one).
        assert!(sizes.2 <= 408, "Shared is {} bytes", sizes.2);
    }
}
