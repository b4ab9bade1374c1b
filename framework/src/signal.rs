//! A one-shot, many-waiter signal (set once, seen by every waiter), used for
//! server shutdown and for "all connections are gone".
//!
//! Every connection's task waits on the shutdown signal and re-polls it
//! each time it runs, so a poll must not cost O(waiters): each waiter owns a
//! slot in the signal (a [`Waiter`]) where its waker is kept, replaced only
//! when it changes, and freed when the waiter is dropped (a finished task's
//! waker is not kept until shutdown).

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A flag that goes from unset to set once, waking every task that waits.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    set: AtomicBool,
    waiters: Mutex<Slots>,
}

/// The wakers of the waiters, by slot; freed slots are reused.
#[derive(Debug, Default)]
struct Slots {
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Signal {
    pub(crate) fn new() -> Self {
        Signal::default()
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // Every slot is replaced whole: a panic elsewhere leaves them consistent.
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the flag and wakes every waiter. Later calls do nothing more.
    pub(crate) fn set(&self) {
        self.set.store(true, Ordering::SeqCst);
        let wakers: Vec<Waker> = self
            .lock()
            .wakers
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for waker in wakers {
            waker.wake();
        }
    }

    #[inline]
    pub(crate) fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// A future that completes once the flag is set.
    pub(crate) fn wait(&self) -> Waiter<&Self> {
        Waiter::new(self)
    }

    /// A waiter that owns its signal, for a task that polls it among other
    /// things ([`Waiter::poll_set`]).
    pub(crate) fn waiter(self: Arc<Self>) -> Waiter<Arc<Self>> {
        Waiter::new(self)
    }
}

/// One task's wait on a [`Signal`]: a future, or polled with
/// [`poll_set`](Self::poll_set). Its slot is freed when it is dropped.
#[derive(Debug)]
pub(crate) struct Waiter<S: Deref<Target = Signal>> {
    signal: S,
    slot: Slot,
}

/// A waiter's slot in its signal, for a waiter that keeps the signal
/// elsewhere and passes it to each call ([`Signal::poll_slot`],
/// [`Signal::release`]): 4 bytes in a connection's task, where a
/// [`Waiter`] takes 16 (a WebSocket connection reaches the server's
/// shutdown signal through its settings).
#[derive(Debug)]
pub(crate) struct Slot(u32);

impl Slot {
    /// No slot taken yet.
    pub(crate) const NONE: Slot = Slot(u32::MAX);
}

impl Signal {
    /// Whether the flag is set, for a caller that knows whether `cx`'s
    /// waker is the one it polled `slot` with last (`same_waker`): then
    /// the flag is only read (that waker is woken when it is set), without
    /// the lock, which every waiter shares; otherwise
    /// [`poll_slot`](Self::poll_slot) registers the new one.
    #[inline]
    pub(crate) fn is_set_or_register(
        &self,
        slot: &mut Slot,
        cx: &mut Context<'_>,
        same_waker: bool,
    ) -> bool {
        if same_waker {
            return self.is_set();
        }
        self.poll_slot(slot, cx).is_ready()
    }

    /// Whether the flag is set; if not, `cx` is woken when it is, its waker
    /// kept in `slot` (taken now if it has none). O(1).
    pub(crate) fn poll_slot(&self, slot: &mut Slot, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_set() {
            return Poll::Ready(());
        }
        let mut slots = self.lock();
        // Checked again under the lock: `set` takes the lock after storing.
        if self.is_set() {
            return Poll::Ready(());
        }
        match slots.wakers.get_mut(slot.0 as usize) {
            Some(Some(waker)) if waker.will_wake(cx.waker()) => {}
            Some(kept) => *kept = Some(cx.waker().clone()),
            None => {
                let waker = Some(cx.waker().clone());
                let taken = match slots.free.pop() {
                    Some(free) => {
                        if let Some(kept) = slots.wakers.get_mut(free) {
                            *kept = waker;
                        }
                        free
                    }
                    None => {
                        slots.wakers.push(waker);
                        slots.wakers.len() - 1
                    }
                };
                // Fewer than 2^32 - 1 waiters: `NONE` is never a slot.
                *slot = Slot(u32::try_from(taken).unwrap_or(u32::MAX));
            }
        }
        Poll::Pending
    }

    /// Frees `slot`, if it has one.
    pub(crate) fn release(&self, slot: &mut Slot) {
        let Slot(taken) = std::mem::replace(slot, Slot::NONE);
        if taken != Slot::NONE.0 {
            let taken = taken as usize;
            let mut slots = self.lock();
            if let Some(waker) = slots.wakers.get_mut(taken) {
                *waker = None;
                slots.free.push(taken);
            }
        }
    }
}

impl<S: Deref<Target = Signal>> Waiter<S> {
    fn new(signal: S) -> Self {
        Waiter {
            signal,
            slot: Slot::NONE,
        }
    }

    /// [`Signal::is_set_or_register`] with this waiter's slot.
    #[inline]
    pub(crate) fn is_set_or_register(&mut self, cx: &mut Context<'_>, same_waker: bool) -> bool {
        self.signal
            .is_set_or_register(&mut self.slot, cx, same_waker)
    }

    /// Whether the flag is set; if not, `cx` is woken when it is. O(1).
    pub(crate) fn poll_set(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.signal.poll_slot(&mut self.slot, cx)
    }
}

impl<S: Deref<Target = Signal>> Drop for Waiter<S> {
    fn drop(&mut self) {
        self.signal.release(&mut self.slot);
    }
}

impl<S: Deref<Target = Signal> + Unpin> Future for Waiter<S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // `Waiter` is `Unpin` (no field is pinned).
        self.get_mut().poll_set(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn slots(signal: &Signal) -> (usize, usize) {
        let slots = signal.lock();
        (slots.wakers.iter().flatten().count(), slots.free.len())
    }

    #[test]
    fn one_slot_per_waiter_reused_after_drop_and_woken_once_set() {
        let signal = Arc::new(Signal::new());
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut a = signal.clone().waiter();
        let mut b = signal.clone().waiter();
        for _ in 0..3 {
            assert!(a.poll_set(&mut cx).is_pending());
            assert!(b.poll_set(&mut cx).is_pending());
        }
        assert_eq!(slots(&signal), (2, 0), "re-polling keeps one slot each");
        drop(a);
        assert_eq!(slots(&signal), (1, 1), "a dropped waiter frees its slot");
        let mut c = signal.clone().waiter();
        assert!(c.poll_set(&mut cx).is_pending());
        assert_eq!(slots(&signal), (2, 0), "the free slot is reused");

        signal.set();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert!(b.poll_set(&mut cx).is_ready());
        assert!(c.poll_set(&mut cx).is_ready());
        assert!(signal.clone().waiter().poll_set(&mut cx).is_ready());
        drop((b, c));
        assert_eq!(slots(&signal), (0, 2));
    }
}
