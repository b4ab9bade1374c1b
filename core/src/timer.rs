//! The one sleep a pump keeps armed for its next deadline, shared by the
//! WebSocket pump and the SSE stream pump.

use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::Instant;

use crate::runtime::Runtime;

/// A runtime sleep re-armed on demand for the earliest pending deadline.
///
/// A sleep armed for an earlier instant than the one asked for is kept:
/// firing early is harmless (the caller re-checks its deadlines against the
/// clock) and saves re-creating the timer every time a deadline moves later,
/// which happens on every read.
pub(crate) struct Timer<R: Runtime> {
    armed: Option<(Instant, Pin<Box<R::Sleep>>)>,
}

impl<R: Runtime> Timer<R> {
    pub(crate) fn new() -> Self {
        Timer { armed: None }
    }

    /// Sleeps towards `deadline` (`None` disarms). When the sleep fires, the
    /// task is woken to run again and the timer disarms.
    pub(crate) fn poll(&mut self, rt: &R, cx: &mut Context<'_>, deadline: Option<Instant>) {
        let Some(deadline) = deadline else {
            self.armed = None;
            return;
        };
        if self.armed.as_ref().is_none_or(|(at, _)| *at > deadline) {
            self.armed = Some((deadline, Box::pin(rt.sleep_until(deadline))));
        }
        if let Some((_, sleep)) = self.armed.as_mut() {
            if sleep.as_mut().poll(cx).is_ready() {
                self.armed = None;
                cx.waker().wake_by_ref();
            }
        }
    }

    /// Disarms the timer.
    pub(crate) fn clear(&mut self) {
        self.armed = None;
    }
}
