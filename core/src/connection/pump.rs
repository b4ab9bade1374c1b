//! The socket pump: the future that moves bytes between a transport and a
//! connection's protocol state, runs its timers, and closes the transport at
//! the end. Written once for every runtime, over [`Transport`] and [`Runtime`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::shared::{Inner, Shared};
use crate::close::CloseCode;
use crate::runtime::{Runtime, Transport};
use crate::signal::{Signal, Waiter};
use crate::timer::Timer;
use crate::write_queue::WriteQueue;
use crate::ws::{CloseCause, State};

/// How long the pump keeps reading (and discarding) after it has closed its
/// side of the transport, so that unread peer data does not turn the close
/// into a reset that could destroy the close frame in flight.
const LINGER: Duration = Duration::from_secs(2);

/// Rounds of read/write work per poll before yielding to other tasks.
const BUDGET: usize = 64;

enum Phase {
    Running,
    CloseTransport,
    Linger(Instant),
    Done,
}

/// Drives one connection until its transport is closed.
pub(crate) struct Pump<T, R: Runtime> {
    shared: Arc<Shared>,
    io: T,
    rt: R,
    read_buf: Vec<u8>,
    /// Chunks taken from the protocol (own frames, shared broadcast frames)
    /// and not yet completely written.
    out: WriteQueue,
    read_done: bool,
    write_failed: bool,
    timer: Timer<R>,
    shutdown: Option<Waiter<Arc<Signal>>>,
    phase: Phase,
}

impl<T: Transport, R: Runtime> Pump<T, R> {
    pub(crate) fn new(shared: Arc<Shared>, io: T, rt: R, shutdown: Option<Arc<Signal>>) -> Self {
        Pump {
            shared,
            io,
            rt,
            read_buf: Vec::new(),
            out: WriteQueue::default(),
            read_done: false,
            write_failed: false,
            timer: Timer::new(),
            shutdown: shutdown.map(Signal::waiter),
            phase: Phase::Running,
        }
    }

    /// Reads, writes and fires timers until the protocol has ended and its
    /// last bytes are written.
    fn poll_running(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let now = self.rt.now();
        // A clone, so the guard does not borrow `self` (the write half's
        // methods take `&mut self`).
        let shared = self.shared.clone();
        let mut inner = shared.lock();
        inner.set_pump_waker(cx.waker());
        if let Some(shutdown) = &mut self.shutdown {
            if shutdown.poll_set(cx).is_ready() {
                self.shutdown = None;
                if inner.ws.state() == State::Open {
                    // Queued after everything already accepted for sending.
                    let _ = inner
                        .ws
                        .close(now, CloseCode::GOING_AWAY, "server shutting down");
                }
            }
        }
        let mut exhausted = true;
        for _ in 0..BUDGET {
            let mut progressed = false;

            // Read while the reader keeps up (back-pressure otherwise). With
            // no message waiting, keep reading: the message being received
            // must complete (the protocol bounds it by the max message size).
            let keep_up =
                inner.inbox.is_empty() || inner.unread_bytes() < self.shared.limits.inbox_bytes;
            if !self.read_done && inner.closed.is_none() && keep_up {
                if self.read_buf.is_empty() {
                    self.read_buf
                        .resize(self.shared.limits.read_buffer_size.max(1), 0);
                }
                match Pin::new(&mut self.io).poll_read(cx, &mut self.read_buf) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                        self.read_done = true;
                        inner.ws.handle_eof(now);
                        progressed = true;
                    }
                    Poll::Ready(Ok(n)) => {
                        // `n <= read_buf.len()` by the AsyncRead contract.
                        inner
                            .ws
                            .handle_input(now, &self.read_buf[..n.min(self.read_buf.len())]);
                        progressed = true;
                    }
                    Poll::Pending => {}
                }
                inner.drain_events();
            }

            if inner
                .ws
                .poll_timeout()
                .is_some_and(|deadline| deadline <= now)
            {
                inner.ws.handle_timeout(now);
                inner.drain_events();
                progressed = true;
            }

            // Write what the protocol has queued: its chunks (own frames and
            // shared broadcast frames) as they are, vectored.
            self.take_output(&mut inner);
            if !self.out.is_empty() {
                // Written without the lock, so that broadcasts and writers on
                // other threads are not held up by the system calls.
                drop(inner);
                let written = self.write_output(cx);
                inner = shared.lock();
                match written {
                    Some(wrote) => progressed |= wrote,
                    None => {
                        // The transport is gone: nothing more can be sent.
                        self.read_done = true;
                        inner.ws.handle_eof(now);
                        inner.drain_events();
                        progressed = true;
                    }
                }
            }
            inner.in_flight = self.out.remaining();
            inner.in_flight_chunks = self.out.len();
            if inner.has_write_capacity(self.shared.limits.write_buffer_size) {
                inner.wake_waiters();
            }
            if matches!(&inner.closed, Some(closed) if matches!(closed.cause, CloseCause::Timeout(_)))
                && !self.out.is_empty()
            {
                // A peer that let a timer expire (it stopped reading, e.g.
                // after a slow-consumer close) will not take the rest.
                self.abandon_output();
            }

            let all_sent =
                self.write_failed || (self.out.is_empty() && inner.ws.pending_transmit() == 0);
            if inner.closed.is_some() && all_sent {
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
        // earlier sleep is kept).
        let deadline = inner.ws.poll_timeout();
        drop(inner);
        self.timer.poll(&self.rt, cx, deadline);
        Poll::Pending
    }

    /// Takes the protocol's output (own and shared chunks) into `out`.
    fn take_output(&mut self, inner: &mut Inner) {
        if self.write_failed {
            return;
        }
        while let Some(chunk) = inner.ws.poll_transmit_chunk() {
            self.out.push(chunk);
        }
    }

    /// Writes `out` (vectored) as far as the transport accepts, then
    /// flushes once it is empty. `Some(progressed)`, or `None` when the
    /// transport failed (the output is abandoned).
    fn write_output(&mut self, cx: &mut Context<'_>) -> Option<bool> {
        let mut progressed = false;
        while !self.out.is_empty() {
            match self.out.poll_write(&mut self.io, cx) {
                Poll::Ready(Ok(_)) => progressed = true,
                Poll::Ready(Err(_)) => {
                    self.abandon_output();
                    return None;
                }
                Poll::Pending => break,
            }
        }
        if self.out.is_empty() && progressed {
            let _ = Pin::new(&mut self.io).poll_flush(cx);
        }
        Some(progressed)
    }

    /// Gives up on the output not yet written.
    fn abandon_output(&mut self) {
        self.write_failed = true;
        self.out.clear();
    }

    /// Reads and discards until the peer closes or the linger time is over.
    fn poll_linger(&mut self, cx: &mut Context<'_>, until: Instant) -> Poll<()> {
        if self.read_done || self.rt.now() >= until {
            return Poll::Ready(());
        }
        if self.read_buf.is_empty() {
            self.read_buf.resize(512, 0);
        }
        loop {
            match Pin::new(&mut self.io).poll_read(cx, &mut self.read_buf) {
                Poll::Ready(Ok(n)) if n > 0 => continue,
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => break,
            }
        }
        // Woken at `until` (or earlier): the next poll checks the clock.
        self.timer.poll(&self.rt, cx, Some(until));
        Poll::Pending
    }
}

impl<T: Transport, R: Runtime> Future for Pump<T, R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            match this.phase {
                Phase::Running => match this.poll_running(cx) {
                    Poll::Ready(()) => this.phase = Phase::CloseTransport,
                    Poll::Pending => return Poll::Pending,
                },
                Phase::CloseTransport => {
                    if !this.write_failed && Pin::new(&mut this.io).poll_close(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.timer.clear();
                    this.phase = Phase::Linger(this.rt.now() + LINGER);
                }
                Phase::Linger(until) => match this.poll_linger(cx, until) {
                    Poll::Ready(()) => this.phase = Phase::Done,
                    Poll::Pending => return Poll::Pending,
                },
                Phase::Done => {
                    this.read_buf = Vec::new();
                    this.out.clear();
                    let mut inner = this.shared.lock();
                    inner.finished = true;
                    inner.wake_all();
                    return Poll::Ready(());
                }
            }
        }
    }
}
