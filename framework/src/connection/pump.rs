//! The socket pump: the future that moves bytes between a transport and a
//! connection's protocol state, runs its timers, and closes the transport at
//! the end. Written once for every runtime, over [`Transport`] and [`Runtime`].

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};

use super::shared::{Inner, Shared};
use crate::runtime::{Runtime, Transport};
use crate::signal::Slot;
use crate::wheel::WheelTimer;
use crate::write_queue::WriteQueue;
use tidings_core::close::CloseCode;
use tidings_core::ws::{CloseCause, InputBuffer, State};

/// How long the pump keeps reading (and discarding) after it has closed its
/// side of the transport, so that unread peer data does not turn the close
/// into a reset that could destroy the close frame in flight.
const LINGER: Duration = Duration::from_secs(2);

/// Rounds of read/write work per poll before yielding to other tasks.
const BUDGET: usize = 64;

/// The largest read sized by a frame still being received.
const MAX_READ: usize = 256 << 10;

/// An output buffer larger than this is freed once written instead of
/// being kept for the next frames.
const MAX_KEPT_OUTPUT: usize = 64 << 10;

/// Bytes read (and discarded) per call while lingering.
const LINGER_READ: usize = 512;

thread_local! {
    /// The buffer every pump polled on this thread reads into; the bytes
    /// are handed to the protocol (copied) at once. A connection thus holds
    /// no read buffer of its own, idle or not.
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Reads at most `len` bytes from `io` into this thread's read buffer and
/// passes them to `received`; the result is `poll_read`'s.
#[inline(always)]
fn poll_read_shared<T: Transport>(
    io: &mut T,
    cx: &mut Context<'_>,
    len: usize,
    received: impl FnOnce(&[u8]),
) -> Poll<std::io::Result<usize>> {
    READ_BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => read_into(&mut buf, io, cx, len, received),
        // Entered again from inside a read (a transport that polls another
        // connection): a buffer of its own then.
        Err(_) => read_into(&mut Vec::new(), io, cx, len, received),
    })
}

#[inline(always)]
fn read_into<T: Transport>(
    buf: &mut Vec<u8>,
    io: &mut T,
    cx: &mut Context<'_>,
    len: usize,
    received: impl FnOnce(&[u8]),
) -> Poll<std::io::Result<usize>> {
    if buf.len() < len {
        buf.resize(len, 0);
    }
    let buf = buf.get_mut(..len).unwrap_or_default();
    let result = Pin::new(io).poll_read(cx, buf);
    if let Poll::Ready(Ok(n)) = result {
        // `n <= len` by the AsyncRead contract; clamped all the same.
        received(buf.get(..n.min(len)).unwrap_or_default());
    }
    result
}

/// Reads from `io` into `buf`, the protocol's own receive buffer.
fn read_direct<T: Transport>(
    io: &mut T,
    cx: &mut Context<'_>,
    mut buf: InputBuffer<'_>,
    now: Instant,
) -> Poll<std::io::Result<usize>> {
    let result = Pin::new(io).poll_read(cx, &mut buf);
    if let Poll::Ready(Ok(n)) = result {
        buf.filled(now, n);
    }
    result
}

/// Where the pump is in a connection's life. One byte: the linger
/// deadline is the one armed in the pump's timer (see
/// [`Pump::poll_linger`]).
#[derive(Clone, Copy)]
enum Phase {
    Running,
    CloseTransport,
    Linger,
    Done,
}

/// Drives one connection until its transport is closed.
///
/// It lives in the connection's task, whose size is the memory of every
/// idle connection: with tokio, a task's cell is 104 bytes around its
/// future, rounded up to 128 (see `a_plain_connection_task_stays_small` in
/// `server::serve`), so what is rarely used is out of line or packed (the
/// write state boxed, the shutdown signal reached through the settings,
/// the phase and the shutdown slot in the socket's flag word).
pub(crate) struct Pump<T, R: Runtime> {
    shared: Arc<Shared>,
    socket: Socket<T>,
    rt: R,
    /// The next deadline, in the server's timer wheel.
    timer: WheelTimer,
    /// The waker of the pump's latest poll: the shutdown signal, the armed
    /// sleep and the shared state's pump waker were registered with it, so
    /// a poll with the same waker (most polls) need not register them again.
    registered: Option<Waker>,
}

impl<T: Transport, R: Runtime> Pump<T, R> {
    pub(crate) fn new(shared: Arc<Shared>, io: T, rt: R) -> Self {
        Pump {
            shared,
            socket: Socket {
                io,
                output: None,
                read_done: false,
                write_failed: false,
                flush_pending: false,
                phase: Phase::Running,
                shutdown: Slot::NONE,
            },
            rt,
            timer: WheelTimer::default(),
            registered: None,
        }
    }

    /// Reads, writes and fires timers until the protocol has ended and its
    /// last bytes are written. `handler_follows`: the handler that shares
    /// the task is polled next (see [`poll_before_handler`](Self::poll_before_handler)).
    fn poll_running(&mut self, cx: &mut Context<'_>, handler_follows: bool) -> Poll<()> {
        let now = self.rt.now();
        // The guard borrows `self.shared` only: the other fields stay free.
        let shared: &Shared = &self.shared;
        let mut inner = shared.lock();
        let same_waker = self
            .registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()));
        if !same_waker {
            self.registered = Some(cx.waker().clone());
        }
        // Only this poll sets the pump waker: one that is there is this one.
        if !same_waker || !inner.has_pump_waker() {
            inner.set_pump_waker(cx.waker());
        }
        if let Some(signal) = &shared.settings.shutdown
            && signal.is_set_or_register(&mut self.socket.shutdown, cx, same_waker)
        {
            signal.release(&mut self.socket.shutdown);
            if inner.ws.state() == State::Open {
                // Queued after everything already accepted for sending.
                let _ = inner
                    .ws
                    .close(now, CloseCode::GOING_AWAY, "server shutting down");
            }
        }
        // Fire the timers that are due. Once per poll: the clock reading is
        // the same all through it, and reading input only moves deadlines
        // later (a ping or close written here goes out in the loop below).
        // While the connection is open its deadlines only move later, so a
        // sleep armed for an instant still ahead comes no later than the
        // earliest of them: then nothing is due, and the deadlines need not
        // be looked at (most polls, one per message).
        let timer_ahead = inner.ws.state() == State::Open && self.timer.armed_after(now);
        let mut deadline = if timer_ahead {
            None
        } else {
            inner.ws.poll_timeout()
        };
        if deadline.is_some_and(|deadline| deadline <= now) {
            inner.ws.handle_timeout(now);
            inner.drain_events();
            deadline = inner.ws.poll_timeout();
        }
        let mut exhausted = true;
        // A read that returned `Pending` registered this task for the
        // transport's readiness: another read in this poll would only
        // register it again (about 190 instructions with tokio, once per
        // broadcast frame written), so the rounds after it do not read.
        let mut read_pending = false;
        for _ in 0..BUDGET {
            let mut progressed = false;

            // Read while the reader keeps up (back-pressure otherwise). With
            // no message waiting, keep reading: the message being received
            // must complete (the protocol bounds it by the max message size).
            let keep_up =
                inner.inbox.is_none() || inner.unread_bytes() < shared.limits().inbox_bytes;
            if !read_pending && !self.socket.read_done && inner.closed.is_none() && keep_up {
                // What the frame being received still lacks, in one read
                // if it is large (a 64 KiB message in 4 KiB reads would
                // take 16 system calls), straight into the protocol's
                // receive buffer (no copy); else a read buffer's worth.
                // A read buffer's worth more is asked for: a read that
                // comes back short tells the runtime the socket is drained
                // (tokio then skips the read that would fail).
                let wanted = inner.ws.input_wanted().min(MAX_READ);
                let read_size = shared.limits().read_buffer_size.max(1);
                let ws = &mut inner.ws;
                // Straight into the protocol's room: a large frame expected
                // next (the last one was large) is read into a recycled
                // buffer that becomes the frame's, as much as it holds
                // (often the whole frame at once).
                let direct = if ws.expects_large_frame() {
                    Some(wanted.max(read_size))
                } else {
                    (wanted > read_size).then_some(wanted + read_size)
                };
                let read = match direct {
                    Some(len) => read_direct(&mut self.socket.io, cx, ws.input_buffer(len), now),
                    None => poll_read_shared(&mut self.socket.io, cx, read_size, |data| {
                        ws.handle_input(now, data)
                    }),
                };
                match read {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                        self.socket.read_done = true;
                        inner.ws.handle_eof(now);
                        progressed = true;
                    }
                    Poll::Ready(Ok(_)) => progressed = true,
                    Poll::Pending => read_pending = true,
                }
                // Only new input (or its end) can make a new event: input
                // read earlier was parsed then, or is left for the reader,
                // who parses it itself (`Connection::poll_read`).
                if progressed {
                    inner.drain_events_for(handler_follows.then_some(cx.waker()));
                }
            }

            // Write what the protocol has queued: its chunks (own frames and
            // shared broadcast frames) as they are, vectored.
            let took = self.socket.take_output(&mut inner);
            let wrote = self.socket.has_output();
            if wrote || self.socket.flush_pending {
                // Written without the lock, so that broadcasts and writers on
                // other threads are not held up by the system calls.
                drop(inner);
                let written = self.socket.write_output(cx);
                inner = shared.lock();
                match written {
                    Some(wrote) => progressed |= wrote,
                    None => {
                        // The transport is gone: nothing more can be sent.
                        self.socket.read_done = true;
                        inner.ws.handle_eof(now);
                        inner.drain_events();
                        progressed = true;
                    }
                }
            }
            // Without output taken or written, none is held (`wrote` is
            // `has_output` before the write): the count to publish is 0.
            if took || wrote || inner.in_flight != 0 {
                // Else nothing moved since the last publication: the counts
                // and the writers' room are as they were.
                self.socket
                    .publish_in_flight(&mut inner, shared.limits().write_buffer_size);
            }
            if matches!(&inner.closed, Some(closed) if matches!(closed.cause, CloseCause::Timeout(_)))
                && self.socket.has_output()
            {
                // A peer that let a timer expire (it stopped reading, e.g.
                // after a slow-consumer close) will not take the rest.
                self.socket.abandon_output();
            }

            // Whether all was sent is looked at only once the connection
            // has closed (rarely).
            if inner.closed.is_some()
                && (self.socket.write_failed
                    || (!self.socket.has_output() && inner.ws.pending_transmit() == 0))
            {
                inner.wake_waiters();
                return Poll::Ready(());
            }
            if !progressed {
                exhausted = false;
                break;
            }
        }
        if exhausted {
            // Out of budget with work left: yield, but come back at once (no
            // I/O readiness is registered after a read or write that made
            // progress).
            cx.waker().wake_by_ref();
        }

        // Sleep until the next protocol deadline (see `Timer` for why an
        // earlier sleep is kept). While the connection stays open, what
        // happened since the deadline was read (input, sends) only moved
        // deadlines later: the one read above wakes the pump early at
        // worst, and is not asked for again. A close (received, sent or
        // failed) arms the close timeout, which may be earlier.
        let open = inner.ws.state() == State::Open;
        if !open {
            deadline = inner.ws.poll_timeout();
        }
        drop(inner);
        if open && timer_ahead {
            // Registered with this same waker when it was armed or last
            // kept (most polls: the call is skipped, it costs ~20
            // instructions per message).
            if !same_waker {
                self.timer.keep(&self.shared.settings.wheel, cx);
            }
        } else {
            let wheel = &self.shared.settings.wheel;
            self.timer
                .poll(wheel, &self.rt, cx, deadline, now, same_waker);
        }
        Poll::Pending
    }

    /// A full [`poll`](Future::poll) made right before the handler that
    /// shares the task is polled: a message read now does not wake the
    /// handler (it is polled next anyway; a wake would poll the whole task
    /// once more for nothing).
    pub(crate) fn poll_before_handler(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_phases(cx, true)
    }

    /// Writes what a handler queued, right after it ran in the same task
    /// poll as a full [`poll`](Future::poll) of the pump. Reading, the clock,
    /// timers and the shutdown signal were looked at in that poll, and
    /// whatever changes them wakes the task; so unless the connection is
    /// closing (then a full poll), only the output is written here.
    pub(crate) fn poll_output(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !matches!(self.socket.phase, Phase::Running) || self.socket.write_failed {
            return Pin::new(self).poll(cx);
        }
        let shared: &Shared = &self.shared;
        let mut inner = shared.lock();
        if inner.closed.is_some() || inner.ws.state() != State::Open {
            drop(inner);
            return Pin::new(self).poll(cx);
        }
        // No timer to re-arm: what a handler does to an open connection
        // (send data, pings, pongs) moves none of its deadlines; only a
        // close does, and a closing connection took the full poll above.
        for _ in 0..BUDGET {
            if inner.ws.pending_transmit() == 0 || self.socket.has_output() {
                // Nothing new, or what `out` holds waits for write
                // readiness (then the rest is taken once it is written).
                return Poll::Pending;
            }
            self.socket.take_output(&mut inner);
            drop(inner);
            let written = self.socket.write_output(cx);
            inner = shared.lock();
            if written.is_none() {
                // The transport failed: the full poll ends the connection.
                drop(inner);
                return Pin::new(self).poll(cx);
            }
            self.socket
                .publish_in_flight(&mut inner, shared.limits().write_buffer_size);
            // Output queued while the lock was released (a broadcast, a
            // writer on another thread) did not wake the pump, since bytes
            // were in flight: the next round takes it.
        }
        drop(inner);
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Reads and discards until the peer closes or the linger time is over:
    /// the deadline armed in the timer when the transport was closed (kept
    /// there rather than in the phase, 16 bytes in every connection's task;
    /// none armed if the read side had ended then).
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let now = self.rt.now();
        let Some(until) = self.timer.deadline() else {
            return Poll::Ready(());
        };
        if self.socket.read_done || now >= until {
            return Poll::Ready(());
        }
        loop {
            match poll_read_shared(&mut self.socket.io, cx, LINGER_READ, |_| {}) {
                Poll::Ready(Ok(n)) if n > 0 => continue,
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => break,
            }
        }
        // Woken at `until` (or earlier): the next poll checks the clock.
        let wheel = &self.shared.settings.wheel;
        self.timer
            .poll(wheel, &self.rt, cx, Some(until), now, false);
        Poll::Pending
    }
}

impl<T, R: Runtime> Drop for Pump<T, R> {
    fn drop(&mut self) {
        // The wheel holds the armed deadline (and a waker of this task).
        self.timer.clear(&self.shared.settings.wheel);
        if let Some(signal) = &self.shared.settings.shutdown {
            signal.release(&mut self.socket.shutdown);
        }
    }
}

/// The transport and the output taken from the protocol, not yet written.
struct Socket<T> {
    io: T,
    /// What was taken from the protocol and not yet written: boxed at the
    /// first write and then kept (no allocation per message), 8 bytes in
    /// an idle connection's task instead of 80.
    output: Option<Box<Output>>,
    /// The transport's read side ended (its end, or an error).
    read_done: bool,
    write_failed: bool,
    /// A flush returned `Pending`: the transport still holds bytes (a TLS
    /// stream buffers what the socket did not take), so it is flushed again
    /// when the task wakes, though `out` is empty. Never set on TCP, whose
    /// flush does nothing.
    flush_pending: bool,
    /// The pump's phase and its slot in the server's shutdown signal: here,
    /// in the word the flags leave mostly unused, rather than in a word
    /// each of the pump's own.
    phase: Phase,
    shutdown: Slot,
}

/// The output of a [`Socket`].
#[derive(Default)]
struct Output {
    /// The protocol's own frames, taken by swapping buffers with it when
    /// nothing else was queued (see `take_output`), not yet written: written
    /// before `out`, which holds what was taken after them.
    own: BytesMut,
    /// Chunks taken from the protocol (own frames, shared broadcast frames)
    /// and not yet completely written.
    out: WriteQueue,
}

impl Output {
    /// A new (empty) output, boxed: once per connection, at its first
    /// write, out of the pump's hot path.
    #[cold]
    #[inline(never)]
    fn boxed() -> Box<Output> {
        Box::default()
    }
}

impl<T: Transport> Socket<T> {
    /// Whether output taken from the protocol is still to be written.
    fn has_output(&self) -> bool {
        self.output
            .as_ref()
            .is_some_and(|output| !output.own.is_empty() || !output.out.is_empty())
    }

    /// Tells the writers how much output is still being written, and wakes
    /// those waiting for room if there is room.
    fn publish_in_flight(&self, inner: &mut Inner, write_buffer_size: usize) {
        self.record_in_flight(inner);
        if inner.has_write_capacity(write_buffer_size) {
            inner.wake_waiters();
        }
    }

    /// Records how much output is being written (taken from the protocol,
    /// not yet written): what `flush`, the writers' capacity check and the
    /// slow-consumer policy count next to the protocol's own queue.
    fn record_in_flight(&self, inner: &mut Inner) {
        let (bytes, chunks) = self.output.as_ref().map_or((0, 0), |output| {
            let own = output.own.len();
            (
                own + output.out.remaining(),
                usize::from(own > 0) + output.out.len(),
            )
        });
        inner.in_flight = bytes;
        inner.in_flight_chunks = u32::try_from(chunks).unwrap_or(u32::MAX);
    }

    /// Takes the protocol's output (own and shared chunks) into `out`, and
    /// counts it in flight before the caller releases the lock to write it:
    /// while it is being written, a `flush` on another thread must still
    /// find it (queued or in flight). Whether anything was taken.
    fn take_output(&mut self, inner: &mut Inner) -> bool {
        // Most rounds find nothing queued: then nothing changes.
        if self.write_failed || inner.ws.pending_transmit() == 0 {
            return false;
        }
        let output = match self.output.as_deref_mut() {
            Some(output) => output,
            None => self.output.insert(Output::boxed()),
        };
        // Only own frames, with nothing before them still to write: taken
        // whole into `own` (no reference count, no new allocation).
        if output.own.is_empty()
            && output.out.is_empty()
            && inner.ws.poll_transmit_into(&mut output.own)
        {
            self.record_in_flight(inner);
            return true;
        }
        // Counted down by each chunk taken: no call that finds nothing.
        while inner.ws.pending_transmit() > 0 {
            let Some(chunk) = inner.ws.poll_transmit_chunk() else {
                break;
            };
            output.out.push(chunk);
        }
        self.record_in_flight(inner);
        true
    }

    /// Writes `out` (vectored) as far as the transport accepts, then
    /// flushes once it is empty (again until a flush completes, see
    /// `flush_pending`). `Some(progressed)`, or `None` when the transport
    /// failed (the output is abandoned).
    fn write_output(&mut self, cx: &mut Context<'_>) -> Option<bool> {
        let mut progressed = false;
        if let Some(output) = self.output.as_deref_mut() {
            let own = &mut output.own;
            while !own.is_empty() {
                match Pin::new(&mut self.io).poll_write(cx, own) {
                    Poll::Ready(Ok(n)) if n > 0 => {
                        progressed = true;
                        if n >= own.len() {
                            // Kept whole for the next swap, unless a large
                            // message made it large.
                            if own.capacity() > MAX_KEPT_OUTPUT {
                                *own = BytesMut::new();
                            }
                            own.clear();
                        } else {
                            own.advance(n);
                        }
                    }
                    Poll::Ready(_) => {
                        self.abandon_output();
                        return None;
                    }
                    Poll::Pending => return Some(progressed),
                }
            }
            while !output.out.is_empty() {
                match output.out.poll_write(&mut self.io, cx) {
                    Poll::Ready(Ok(_)) => progressed = true,
                    Poll::Ready(Err(_)) => {
                        self.abandon_output();
                        return None;
                    }
                    Poll::Pending => break,
                }
            }
        }
        if !self.has_output() && (progressed || self.flush_pending) {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.flush_pending = false,
                Poll::Pending => self.flush_pending = true,
                Poll::Ready(Err(_)) => {
                    self.abandon_output();
                    return None;
                }
            }
        }
        Some(progressed)
    }

    /// Gives up on the output not yet written.
    fn abandon_output(&mut self) {
        self.write_failed = true;
        self.flush_pending = false;
        self.release_output();
    }

    /// Drops the output not yet written, and the buffer kept for the next
    /// swap with the protocol.
    fn release_output(&mut self) {
        self.output = None;
    }
}

impl<T: Transport, R: Runtime> Future for Pump<T, R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_phases(cx, false)
    }
}

impl<T: Transport, R: Runtime> Pump<T, R> {
    /// [`poll`](Future::poll), told whether the handler is polled next.
    fn poll_phases(&mut self, cx: &mut Context<'_>, handler_follows: bool) -> Poll<()> {
        loop {
            match self.socket.phase {
                Phase::Running => match self.poll_running(cx, handler_follows) {
                    Poll::Ready(()) => self.socket.phase = Phase::CloseTransport,
                    Poll::Pending => return Poll::Pending,
                },
                Phase::CloseTransport => {
                    if !self.socket.write_failed
                        && Pin::new(&mut self.socket.io).poll_close(cx).is_pending()
                    {
                        return Poll::Pending;
                    }
                    let wheel = &self.shared.settings.wheel;
                    self.timer.clear(wheel);
                    if !self.socket.read_done {
                        // The linger deadline (see `poll_linger`).
                        let now = self.rt.now();
                        let until = Some(now + LINGER);
                        self.timer.poll(wheel, &self.rt, cx, until, now, false);
                    }
                    self.socket.phase = Phase::Linger;
                }
                Phase::Linger => match self.poll_linger(cx) {
                    Poll::Ready(()) => self.socket.phase = Phase::Done,
                    Poll::Pending => return Poll::Pending,
                },
                Phase::Done => {
                    self.timer.clear(&self.shared.settings.wheel);
                    self.socket.release_output();
                    let mut inner = self.shared.lock();
                    inner.finished = true;
                    inner.wake_all();
                    return Poll::Ready(());
                }
            }
        }
    }
}
