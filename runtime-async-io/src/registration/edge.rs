//! Edge-triggered readiness on Linux: every socket is registered once, for
//! reading and writing, with one epoll instance of this crate's own (the
//! [`Poller`]), and that epoll instance is itself a source in async-io's
//! reactor.
//!
//! async-io registers its sources in oneshot mode: each time a task waits,
//! the registration is re-armed with an `epoll_ctl` system call, one per
//! echoed message for a server that reads, answers and waits again. Here a
//! socket's registration never changes until it is closed; the reactor
//! wakes the [`Poller`] when any of its sockets had an event, the poller
//! collects them all with one `epoll_wait` and wakes the tasks that wait,
//! then re-arms its own registration in async-io's reactor: two system
//! calls for a whole turn of the reactor, however many sockets it woke.
//!
//! An edge-triggered event only says that something happened to the socket
//! since the last `epoll_wait`, so each socket counts its events per
//! direction ([`Slot`]). A task takes the count (its [`Mark`]) before a read
//! or write that may find the socket empty or full, and waits only while
//! the count has not moved since: an event that came between that attempt
//! and the wait (even one collected before the task registered its waker)
//! has moved the count, and the task tries again at once.

use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError};
use std::task::{Context, Poll, Wake, Waker};

use async_io::Async;
use rustix::event::{Timespec, epoll};
use slab::Slab;

use super::Direction;

/// The events one `epoll_wait` collects at most, in a buffer on the stack
/// (more are collected by further calls in the same turn).
const BATCH: usize = 256;

/// The count of a socket's events in one direction, taken before an
/// attempt: the wait after it ends once the count moves.
pub(crate) type Mark = usize;

/// A socket's events and waiting tasks, per [`Direction`].
#[derive(Debug, Default)]
struct Slot {
    /// Events seen in each direction (wrapping).
    events: [AtomicUsize; 2],
    /// The direction is closed for good (the peer's end of the stream, an
    /// error): a read that returns data before the end of the stream is
    /// short, and the end comes with no further event, so a wait after it
    /// must end at once (as tokio keeps its "read closed" readiness).
    closed: [AtomicBool; 2],
    /// The task waiting in each direction, woken (and removed) by the next
    /// event.
    wakers: [Mutex<Option<Waker>>; 2],
}

impl Slot {
    /// Counts an event in `direction` and moves the waiting task, if any, to
    /// `wake`.
    fn event(&self, direction: Direction, closed: bool, wake: &mut Vec<Waker>) {
        if closed {
            self.closed[direction as usize].store(true, Ordering::SeqCst);
        }
        self.events[direction as usize].fetch_add(1, Ordering::SeqCst);
        if let Some(waker) = lock(&self.wakers[direction as usize]).take() {
            wake.push(waker);
        }
    }
}

/// The epoll instance every socket is registered with (edge-triggered),
/// itself registered with async-io's reactor; one per process.
#[derive(Debug)]
struct Poller {
    /// The epoll instance, as a source of async-io's reactor: readable when
    /// one of its sockets had an event.
    epoll: Async<OwnedFd>,
    /// The registered sockets, by the key their events carry.
    slots: Mutex<Slab<Arc<Slot>>>,
    /// The tasks one `epoll_wait` wakes (at most one per direction per
    /// event), allocated once (no allocation per turn); its lock is held by
    /// the turn.
    turn: Mutex<Vec<Waker>>,
}

impl Poller {
    /// The process's poller, created (and armed in async-io's reactor) by
    /// the first call.
    fn get() -> io::Result<&'static Arc<Poller>> {
        static POLLER: OnceLock<Arc<Poller>> = OnceLock::new();
        if let Some(poller) = POLLER.get() {
            return Ok(poller);
        }
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let poller = Arc::new(Poller {
            epoll: Async::new(epoll)?,
            slots: Mutex::new(Slab::new()),
            turn: Mutex::new(Vec::with_capacity(2 * BATCH)),
        });
        // Another thread may have created one meanwhile: the first stays,
        // and only it is armed.
        if POLLER.set(poller).is_ok() {
            let poller = POLLER.get().expect("the poller was just set");
            poller.turn();
            return Ok(poller);
        }
        Ok(POLLER.get().expect("another thread set the poller"))
    }

    /// One turn: while async-io's reactor reports the epoll instance
    /// readable, collects its events and wakes the waiting tasks; then arms
    /// the epoll instance in the reactor again, with this poller as the
    /// waker (so the reactor runs the next turn itself, see [`Wake`]).
    ///
    /// Runs inside the reactor's turn (the reactor's wake-ups are one at a
    /// time); a turn that finds another one running leaves it to that one,
    /// which arms the epoll instance when it ends, and arming reports
    /// events that are already there.
    fn turn(self: &Arc<Self>) {
        let mut turn = match self.turn.try_lock() {
            Ok(turn) => turn,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        let waker = Waker::from(Arc::clone(self));
        let mut cx = Context::from_waker(&waker);
        // Ready once after each report of the reactor; Pending when the
        // waker is registered and the epoll instance armed again. An error
        // (arming failed: out of memory) leaves the poller unarmed; there is
        // nothing better to do with it here.
        while let Poll::Ready(Ok(())) = self.epoll.poll_readable(&mut cx) {
            self.collect(&mut turn);
        }
    }

    /// Collects the pending events (in batches of [`BATCH`]) and wakes the
    /// tasks that wait for them.
    fn collect(&self, wake: &mut Vec<Waker>) {
        let mut buffer = [const { MaybeUninit::<epoll::Event>::uninit() }; BATCH];
        loop {
            let events = match epoll::wait(
                self.epoll.get_ref(),
                &mut buffer,
                Some(&Timespec::default()),
            ) {
                Ok((events, _)) => events,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return,
            };
            {
                let slots = lock(&self.slots);
                for event in events.iter() {
                    // Copied out: the event may be a packed struct.
                    let (flags, data) = (event.flags, event.data);
                    let Some(slot) = usize::try_from(data.u64())
                        .ok()
                        .and_then(|key| slots.get(key))
                    else {
                        // A socket closed since the event.
                        continue;
                    };
                    let ended =
                        flags.intersects(epoll::EventFlags::HUP.union(epoll::EventFlags::ERR));
                    if flags.intersects(READ_EVENTS) {
                        let read_closed = ended || flags.contains(epoll::EventFlags::RDHUP);
                        slot.event(Direction::Read, read_closed, wake);
                    }
                    if flags.intersects(WRITE_EVENTS) {
                        slot.event(Direction::Write, ended, wake);
                    }
                }
            }
            let more = events.len() == BATCH;
            // Woken outside the lock of the sockets (a task may close one).
            for waker in wake.drain(..) {
                waker.wake();
            }
            if !more {
                return;
            }
        }
    }
}

/// The flags that wake a reader: data, the end of the stream (the peer's
/// shutdown or close), an error.
const READ_EVENTS: epoll::EventFlags = epoll::EventFlags::IN
    .union(epoll::EventFlags::PRI)
    .union(epoll::EventFlags::RDHUP)
    .union(epoll::EventFlags::HUP)
    .union(epoll::EventFlags::ERR);

/// The flags that wake a writer: room, or the end of the connection.
const WRITE_EVENTS: epoll::EventFlags = epoll::EventFlags::OUT
    .union(epoll::EventFlags::HUP)
    .union(epoll::EventFlags::ERR);

/// The reactor wakes the poller when the epoll instance is readable: the
/// wake-up runs a turn.
impl Wake for Poller {
    fn wake(self: Arc<Self>) {
        self.turn();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.turn();
    }
}

/// A socket registered, edge-triggered, with the process's [`Poller`] until
/// it is dropped.
pub(crate) struct Registration {
    socket: TcpStream,
    slot: Arc<Slot>,
    /// The socket's key in the poller's slots (and in its events).
    key: usize,
    poller: &'static Poller,
}

impl Registration {
    /// Registers `socket` (and makes it non-blocking): one `epoll_ctl`, the
    /// only one until it is dropped.
    pub(crate) fn new(socket: TcpStream) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let poller = Poller::get()?;
        let slot = Arc::new(Slot::default());
        let key = lock(&poller.slots).insert(Arc::clone(&slot));
        let interest = READ_EVENTS.union(WRITE_EVENTS).union(epoll::EventFlags::ET);
        if let Err(error) = epoll::add(
            poller.epoll.get_ref(),
            &socket,
            epoll::EventData::new_u64(key as u64),
            interest,
        ) {
            lock(&poller.slots).remove(key);
            return Err(error.into());
        }
        Ok(Registration {
            socket,
            slot,
            key,
            poller,
        })
    }

    /// The socket.
    pub(crate) fn get_ref(&self) -> &TcpStream {
        &self.socket
    }

    /// The socket's event count in `direction`, to take before an attempt
    /// that may find the socket empty (or full) and to wait with after it.
    pub(crate) fn mark(&self, direction: Direction) -> Mark {
        self.slot.events[direction as usize].load(Ordering::SeqCst)
    }

    /// Ready when an event in `direction` came after `mark` was taken, or
    /// the direction is closed; registers the task's waker otherwise (no
    /// system call).
    pub(crate) fn poll_ready(
        &self,
        direction: Direction,
        mark: Mark,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let ready = || {
            self.slot.closed[direction as usize].load(Ordering::SeqCst)
                || self.mark(direction) != mark
        };
        if ready() {
            return Poll::Ready(Ok(()));
        }
        {
            let mut waiting = lock(&self.slot.wakers[direction as usize]);
            match &*waiting {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => *waiting = Some(cx.waker().clone()),
            }
        }
        // An event counted before the waker was stored found no waker to
        // take: look again (the poller counts an event, then takes the waker
        // under the lock the store above took, so it sees the count or the
        // waker).
        if ready() {
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Closing the socket would remove it from the epoll instance too,
        // unless the descriptor was duplicated; the key is free only after.
        let _ = epoll::delete(self.poller.epoll.get_ref(), &self.socket);
        lock(&self.poller.slots).try_remove(self.key);
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("socket", &self.socket)
            .field("key", &self.key)
            .finish()
    }
}

/// Locks `mutex`, whether or not a panic poisoned it (the data it guards
/// stays consistent: wakers and counts).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
