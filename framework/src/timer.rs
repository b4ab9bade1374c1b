//! The one sleep a pump keeps armed for its next deadline (the SSE stream
//! pump's; a WebSocket pump arms its server's [`Wheel`](crate::wheel::Wheel)).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::Instant;

use crate::runtime::Runtime;

/// A runtime sleep re-armed on demand for the earliest pending deadline.
///
/// A sleep armed for an earlier instant than the one asked for is kept
/// while that instant is still ahead: firing early is harmless (the caller
/// re-checks its deadlines against the clock) and saves re-creating the
/// timer every time a deadline moves later, which happens on every read.
///
/// A sleep is polled (which registers the task's waker with the runtime's
/// timer) only when it is new or the task's waker changed: a registered
/// sleep wakes the task by itself.
pub(crate) struct Timer<R: Runtime> {
    armed: Option<(Instant, Pin<Box<R::Sleep>>)>,
    /// The waker the armed sleep was last polled with.
    registered: Option<Waker>,
}

impl<R: Runtime> Timer<R> {
    pub(crate) fn new() -> Self {
        Timer {
            armed: None,
            registered: None,
        }
    }

    /// Sleeps towards `deadline` (`None` disarms), `now` being the time of
    /// the caller's latest clock reading. When the sleep fires, the task is
    /// woken to run again and the timer disarms.
    pub(crate) fn poll(
        &mut self,
        rt: &R,
        cx: &mut Context<'_>,
        deadline: Option<Instant>,
        now: Instant,
    ) {
        self.arm(rt, cx, deadline, |at| at <= now);
    }

    /// Arms for `deadline` unless the armed sleep is earlier and not
    /// `passed`, then polls the sleep if its waker must be registered.
    fn arm(
        &mut self,
        rt: &R,
        cx: &mut Context<'_>,
        deadline: Option<Instant>,
        passed: impl Fn(Instant) -> bool,
    ) {
        let Some(deadline) = deadline else {
            self.clear();
            return;
        };
        if self
            .armed
            .as_ref()
            .is_none_or(|(at, _)| *at > deadline || passed(*at))
        {
            self.armed = Some((deadline, Box::pin(rt.sleep_until(deadline))));
            self.registered = None;
        }
        self.keep(cx);
    }

    /// Keeps the armed sleep as it is, polling it if the task's waker is not
    /// the one registered with it (for a caller whose deadlines did not move
    /// earlier than the armed one).
    pub(crate) fn keep(&mut self, cx: &mut Context<'_>) {
        if self
            .registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            return;
        }
        if let Some((_, sleep)) = self.armed.as_mut() {
            if sleep.as_mut().poll(cx).is_ready() {
                self.clear();
                cx.waker().wake_by_ref();
            } else {
                self.registered = Some(cx.waker().clone());
            }
        }
    }

    /// Disarms the timer.
    pub(crate) fn clear(&mut self) {
        self.armed = None;
        self.registered = None;
    }
}
