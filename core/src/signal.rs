//! A one-shot, many-waiter signal (set once, seen by every waiter), used for
//! server shutdown and for "all connections are gone".

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

/// A flag that goes from unset to set once, waking every task that waits.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    set: AtomicBool,
    waiters: Mutex<Vec<Waker>>,
}

impl Signal {
    pub(crate) fn new() -> Self {
        Signal::default()
    }

    /// Sets the flag and wakes every waiter. Later calls do nothing more.
    pub(crate) fn set(&self) {
        self.set.store(true, Ordering::SeqCst);
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|p| p.into_inner()));
        for waker in waiters {
            waker.wake();
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// Whether the flag is set; if not, `cx` is woken when it is.
    pub(crate) fn poll_set(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_set() {
            return Poll::Ready(());
        }
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        // Checked again under the lock: `set` takes the lock after storing.
        if self.is_set() {
            return Poll::Ready(());
        }
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// A future that completes once the flag is set.
    pub(crate) fn wait(&self) -> Wait<'_> {
        Wait { signal: self }
    }
}

/// The future of [`Signal::wait`].
pub(crate) struct Wait<'a> {
    signal: &'a Signal,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.signal.poll_set(cx)
    }
}
