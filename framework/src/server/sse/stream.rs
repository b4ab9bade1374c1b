//! One SSE stream on the server: the bounded outbox the handler fills, the
//! pump that writes it to the socket (and reads the socket, to notice a
//! client that goes away), and the session that runs the handler joined
//! with the pump in one task.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;

use crate::error::Error;
use crate::hub::Counters;
use crate::runtime::{Runtime, Transport};
use crate::signal::{Signal, Waiter};
use crate::timer::Timer;
use crate::user_code::{BoxFuture, catch_panic, drop_quietly};
use crate::write_queue::WriteQueue;
use tidings_core::sse::{KEEP_ALIVE, StreamSchedule};

/// Why an SSE stream ended (see [`SseContext::end_reason`](super::SseContext::end_reason)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SseEnd {
    /// The client closed its side of the connection, or the socket failed.
    ClientGone,
    /// The client did not take events fast enough: its queue stayed full
    /// for [`SseConfig::send_timeout`](crate::server::SseConfig::send_timeout).
    /// It was disconnected without the rest of its queue.
    TooSlow,
    /// The server is shutting down; what was queued was still sent.
    Shutdown,
    /// The handler returned; what was queued was still sent.
    HandlerReturned,
    /// The handler panicked; what was queued was still sent.
    HandlerPanicked,
    /// The server closed it through the hub
    /// ([`ConnectionHandle::close`](crate::hub::ConnectionHandle::close));
    /// what was queued was still sent.
    ClosedByServer,
}

impl SseEnd {
    /// Whether the queued events are dropped rather than sent.
    fn aborts(self) -> bool {
        matches!(self, SseEnd::ClientGone | SseEnd::TooSlow)
    }
}

/// Encoded events waiting for the socket, bounded by `capacity` entries.
pub(crate) struct Outbox {
    capacity: usize,
    state: Mutex<State>,
}

struct State {
    queue: WriteQueue,
    end: Option<SseEnd>,
    pump: Option<Waker>,
    /// Tasks waiting for room in the queue.
    senders: Vec<Waker>,
    /// Tasks waiting for the end.
    closed: Vec<Waker>,
}

impl Outbox {
    pub(crate) fn new(capacity: usize) -> Self {
        Outbox {
            capacity: capacity.max(1),
            state: Mutex::new(State {
                queue: WriteQueue::default(),
                end: None,
                pump: None,
                senders: Vec::new(),
                closed: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent (single pushes,
        // pops and flag sets), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `bytes` if there is room; otherwise registers `cx` to be woken
    /// when room frees or the stream ends.
    pub(crate) fn poll_push(
        &self,
        cx: &mut TaskContext<'_>,
        bytes: &Bytes,
    ) -> Poll<Result<(), SseEnd>> {
        let mut state = self.lock();
        if let Some(end) = state.end {
            return Poll::Ready(Err(end));
        }
        if state.queue.len() < self.capacity {
            state.queue.push(bytes.clone());
            // A push from the stream's own task (its handler, polled by
            // `Session::poll`, which polls the pump right after it) needs
            // no wake: that would only poll the whole session once more.
            if let Some(pump) = &state.pump {
                if !pump.will_wake(cx.waker()) {
                    pump.wake_by_ref();
                }
            }
            return Poll::Ready(Ok(()));
        }
        register(&mut state.senders, cx.waker());
        // The pump measures how long a sender has been waiting.
        if let Some(pump) = &state.pump {
            pump.wake_by_ref();
        }
        Poll::Pending
    }

    /// Queues `bytes` without waiting (a broadcast): when the queue holds
    /// `capacity` entries or would go over `max_bytes` (an empty queue takes
    /// any one event), the client is too slow and the stream ends
    /// ([`SseEnd::TooSlow`]) instead.
    pub(crate) fn offer(&self, bytes: &Bytes, max_bytes: usize) -> Offer {
        let mut state = self.lock();
        if state.end.is_some() {
            return Offer::Ended;
        }
        // An empty queue takes any one event, however large.
        if !state.queue.is_empty()
            && (state.queue.len() >= self.capacity
                || state.queue.remaining().saturating_add(bytes.len()) > max_bytes)
        {
            end(&mut state, SseEnd::TooSlow);
            return Offer::Overflow;
        }
        state.queue.push(bytes.clone());
        if let Some(pump) = &state.pump {
            pump.wake_by_ref();
        }
        Offer::Queued
    }

    /// Ready with the reason once the stream has ended.
    pub(crate) fn poll_end(&self, cx: &mut TaskContext<'_>) -> Poll<SseEnd> {
        let mut state = self.lock();
        match state.end {
            Some(end) => Poll::Ready(end),
            None => {
                register(&mut state.closed, cx.waker());
                Poll::Pending
            }
        }
    }

    pub(crate) fn end_reason(&self) -> Option<SseEnd> {
        self.lock().end
    }

    /// Ends the stream with `reason` unless it has already ended.
    pub(crate) fn end(&self, reason: SseEnd) {
        end(&mut self.lock(), reason);
    }
}

/// What [`Outbox::offer`] did.
pub(crate) enum Offer {
    Queued,
    /// The outbox was full: the stream was ended as too slow.
    Overflow,
    /// The stream had ended already.
    Ended,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("end", &self.end_reason())
            .finish()
    }
}

fn register(wakers: &mut Vec<Waker>, waker: &Waker) {
    if !wakers.iter().any(|w| w.will_wake(waker)) {
        wakers.push(waker.clone());
    }
}

fn end(state: &mut State, reason: SseEnd) {
    if state.end.is_some() {
        return;
    }
    state.end = Some(reason);
    if reason.aborts() {
        state.queue.clear();
    }
    for waker in state.senders.drain(..).chain(state.closed.drain(..)) {
        waker.wake();
    }
    if let Some(pump) = &state.pump {
        pump.wake_by_ref();
    }
}

/// The error `send` returns once the stream has ended: [`Error::Closed`]
/// (cause `Eof`, no close frames — SSE has none), so `?` and
/// [`Error::is_closed`] treat it as the normal end of a handler.
pub(crate) fn closed_error() -> Error {
    Error::Closed(Box::new(tidings_core::ws::Closed {
        cause: tidings_core::ws::CloseCause::Eof,
        sent: None,
        received: None,
    }))
}

/// Rounds of read/write work per poll before yielding to other tasks.
const BUDGET: usize = 64;

/// The timings a pump enforces.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timings {
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) send_timeout: Duration,
}

/// Moves an outbox to a transport: writes (vectored, then one flush), reads
/// and discards whatever the client sends so its FIN or RST is seen at once,
/// sends keep-alive comments, enforces the slow-client timeout, and ends the
/// stream on shutdown. When keep-alives and the timeout are due is the
/// core's [`StreamSchedule`]; the pump reads the clock and arms the timer.
pub(crate) struct Pump<T, R: Runtime> {
    outbox: Arc<Outbox>,
    io: T,
    rt: R,
    /// Where a slow client's disconnection is counted.
    counters: Arc<Counters>,
    schedule: StreamSchedule,
    write_failed: bool,
    /// A flush returned `Pending`: the transport (e.g. TLS) still holds
    /// bytes, flushed again at the next wake though nothing new was written.
    flush_pending: bool,
    timer: Timer<R>,
    shutdown: Option<Waiter<Arc<Signal>>>,
    closing: bool,
}

impl<T: Transport, R: Runtime> Pump<T, R> {
    pub(crate) fn new(
        outbox: Arc<Outbox>,
        io: T,
        rt: R,
        timings: Timings,
        counters: Arc<Counters>,
        shutdown: Arc<Signal>,
    ) -> Self {
        let now = rt.now();
        Pump {
            outbox,
            io,
            rt,
            counters,
            schedule: StreamSchedule::new(timings.keep_alive, timings.send_timeout, now),
            write_failed: false,
            flush_pending: false,
            timer: Timer::new(),
            shutdown: Some(shutdown.waiter()),
            closing: false,
        }
    }

    fn poll_running(&mut self, cx: &mut TaskContext<'_>) -> Poll<()> {
        let now = self.rt.now();
        let outbox = self.outbox.clone();
        let mut state = outbox.lock();
        // Only this poll sets the pump waker, and it polls the shutdown
        // waiter with the same one: while it is unchanged, the waiter holds
        // it too and need not be polled again.
        let same_waker = state.pump.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        if !same_waker {
            state.pump = Some(cx.waker().clone());
        }
        if self
            .shutdown
            .as_mut()
            .is_some_and(|shutdown| shutdown.is_set_or_register(cx, same_waker))
        {
            self.shutdown = None;
            end(&mut state, SseEnd::Shutdown);
        }

        let mut wrote = false;
        let mut exhausted = true;
        // Once a read returned `Pending` (this task is registered for the
        // transport's readiness), the rounds after it do not read again:
        // that would only register it again, once per event written.
        let mut read_pending = false;
        for _ in 0..BUDGET {
            let mut progressed = false;
            if state.end.is_none() && !read_pending {
                match self.read_and_discard(cx, &mut state) {
                    Poll::Ready(()) => progressed = true,
                    Poll::Pending => read_pending = true,
                }
            }
            if state.end.is_some_and(SseEnd::aborts) {
                return Poll::Ready(());
            }
            let idle = state.queue.is_empty() && state.end.is_none();
            if self.schedule.keep_alive_due(now, idle) {
                state.queue.push(Bytes::from_static(KEEP_ALIVE));
            }
            if !state.queue.is_empty() {
                match self.write_some(cx, &mut state) {
                    Poll::Ready(Ok(())) => {
                        self.schedule.handle_write(now);
                        wrote = true;
                        progressed = true;
                    }
                    Poll::Ready(Err(())) => {
                        self.write_failed = true;
                        end(&mut state, SseEnd::ClientGone);
                        return Poll::Ready(());
                    }
                    Poll::Pending => {}
                }
            }
            if !progressed {
                exhausted = false;
                break;
            }
        }
        if wrote || self.flush_pending {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.flush_pending = false,
                Poll::Pending => self.flush_pending = true,
                Poll::Ready(Err(_)) => {
                    self.write_failed = true;
                    end(&mut state, SseEnd::ClientGone);
                    return Poll::Ready(());
                }
            }
        }
        if exhausted {
            cx.waker().wake_by_ref();
        }
        if state.end.is_some() && state.queue.is_empty() {
            return Poll::Ready(());
        }

        // The slow-client policy: a full queue, a sender waiting, and nothing
        // leaving the queue for `send_timeout`.
        let blocked = state.queue.len() >= self.outbox.capacity && !state.senders.is_empty();
        self.schedule.handle_blocked(now, blocked);
        if self.schedule.timed_out(now) {
            self.counters
                .sse_send_timeouts
                .fetch_add(1, Ordering::SeqCst);
            end(&mut state, SseEnd::TooSlow);
            return Poll::Ready(());
        }
        let idle = state.queue.is_empty() && state.end.is_none();
        drop(state);

        let deadline = self.schedule.poll_timeout(idle);
        self.timer.poll(&self.rt, cx, deadline, now);
        Poll::Pending
    }

    /// Reads once and throws the bytes away; on end of stream or an error
    /// the client is gone. `Ready` when anything happened. The bytes go
    /// to the stack, not to a buffer every idle stream would keep.
    fn read_and_discard(&mut self, cx: &mut TaskContext<'_>, state: &mut State) -> Poll<()> {
        let mut discarded = [0; 512];
        match Pin::new(&mut self.io).poll_read(cx, &mut discarded) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                end(state, SseEnd::ClientGone);
                Poll::Ready(())
            }
            Poll::Ready(Ok(_)) => Poll::Ready(()),
            Poll::Pending => Poll::Pending,
        }
    }

    /// One vectored write of the queue's head; removes what was fully
    /// written. `Ready(Ok)` when bytes were written, `Ready(Err)` when the
    /// transport failed.
    fn write_some(&mut self, cx: &mut TaskContext<'_>, state: &mut State) -> Poll<Result<(), ()>> {
        match state.queue.poll_write(&mut self.io, cx) {
            Poll::Ready(Ok(done)) => {
                if done > 0 {
                    // An entry left the queue: a waiting sender has room.
                    self.schedule.handle_drained();
                    for waker in state.senders.drain(..) {
                        waker.wake();
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(_)) => Poll::Ready(Err(())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: Transport, R: Runtime> Future for Pump<T, R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        if !this.closing {
            if this.poll_running(cx).is_pending() {
                return Poll::Pending;
            }
            this.closing = true;
            this.timer.clear();
        }
        if !this.write_failed && Pin::new(&mut this.io).poll_close(cx).is_pending() {
            return Poll::Pending;
        }
        Poll::Ready(())
    }
}

/// The handler and the pump of one stream, polled together in one task.
/// When the handler returns, the stream ends after its queue is written;
/// when the stream ends first, the handler keeps running until it returns
/// (its sends fail and `closed()` is ready, so it should return promptly).
pub(crate) struct Session<T, R: Runtime> {
    pub(crate) pump: Option<Pump<T, R>>,
    pub(crate) handler: Option<BoxFuture<Result<(), Error>>>,
    pub(crate) outbox: Arc<Outbox>,
}

impl<T: Transport, R: Runtime> Session<T, R> {
    fn poll_pump(&mut self, cx: &mut TaskContext<'_>) {
        if let Some(pump) = self.pump.as_mut() {
            if Pin::new(pump).poll(cx).is_ready() {
                self.pump = None;
            }
        }
    }
}

impl<T: Transport, R: Runtime> Future for Session<T, R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        // The handler first, then the pump once: what the handler queued is
        // written in this same poll, and one pump round per wake does both
        // the writing and the reading (a client gone or a stream ended by
        // the pump wakes the handler's `closed()` for the next poll).
        if let Some(handler) = this.handler.as_mut() {
            match catch_panic(|| handler.as_mut().poll(cx)) {
                Some(Poll::Ready(_)) => {
                    this.handler = None;
                    this.outbox.end(SseEnd::HandlerReturned);
                }
                Some(Poll::Pending) => {}
                None => {
                    // See `catch_panic` for why this is unwind safe.
                    drop_quietly(this.handler.take());
                    this.outbox.end(SseEnd::HandlerPanicked);
                }
            }
        }
        this.poll_pump(cx);
        if this.pump.is_none() && this.handler.is_none() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
