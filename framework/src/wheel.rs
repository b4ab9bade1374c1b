//! One sleep for every WebSocket connection of a server: each pump arms
//! its next deadline in the server's [`Wheel`] (a [`WheelTimer`]), and one
//! driver task sleeps until the earliest of them and wakes the pumps whose
//! deadline has come. An idle connection thus holds a map entry instead of
//! a runtime sleep of its own (~112 bytes on tokio, and an allocation).

use std::collections::BTreeMap;
use std::future::poll_fn;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::runtime::Runtime;

/// The armed deadlines of many connections, and the state of the task that
/// drives them.
pub(crate) struct Wheel {
    /// Deadlines are kept as milliseconds after this instant (no deadline
    /// is earlier: they are all computed from later clock readings).
    epoch: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Armed deadlines, earliest first, with the waker of each armer (see
    /// [`Key`]).
    entries: BTreeMap<Key, Waker>,
    next_id: u64,
    /// Whether a driver task runs (it ends once no deadline is armed).
    running: bool,
    /// The instant the driver sleeps until, and its waker: an earlier
    /// deadline armed meanwhile wakes it.
    driver: Option<(Instant, Waker)>,
}

/// A deadline in whole milliseconds after the epoch (rounded up: it fires
/// at most a millisecond late, never early), shifted left by [`ID_BITS`],
/// with a number that tells apart equal deadlines in the low bits. One
/// `u64` instead of an `(Instant, u64)`: a map entry of 24 bytes instead of
/// 40, the wheel's memory per connection (B-tree nodes about half full).
type Key = u64;

/// The low bits of a [`Key`] that number the deadlines of one millisecond.
const ID_BITS: u32 = 20;

/// The largest deadline a key holds, about 557 years after the epoch.
const MAX_MILLIS: u64 = u64::MAX >> ID_BITS;

impl Wheel {
    /// A wheel whose deadlines all come after `epoch`.
    pub(crate) fn new(epoch: Instant) -> Self {
        Wheel {
            epoch,
            state: Mutex::default(),
        }
    }

    /// `at` in whole milliseconds after the epoch, rounded up.
    fn millis(&self, at: Instant) -> u64 {
        let after = at.saturating_duration_since(self.epoch);
        let millis = after.as_nanos().div_ceil(1_000_000);
        u64::try_from(millis).unwrap_or(u64::MAX).min(MAX_MILLIS)
    }

    /// The instant of `key`'s deadline (the rounded one).
    fn instant(&self, key: Key) -> Instant {
        self.epoch + Duration::from_millis(key >> ID_BITS)
    }

    /// `now` in whole milliseconds after the epoch, rounded down: the
    /// deadlines up to it have come.
    fn millis_before(&self, now: Instant) -> u64 {
        let after = now.saturating_duration_since(self.epoch).as_millis();
        u64::try_from(after).unwrap_or(u64::MAX).min(MAX_MILLIS)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every operation leaves the map consistent between statements.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Arms `at` for `waker`; whether a driver task must be started.
    fn insert(&self, at: Instant, waker: &Waker) -> (Key, bool) {
        let mut millis = self.millis(at);
        let mut state = self.lock();
        let mut tries = 0u64;
        let key = loop {
            let key = (millis << ID_BITS) | (state.next_id & ((1 << ID_BITS) - 1));
            state.next_id = state.next_id.wrapping_add(1);
            // Taken only after 2^20 arms for the same millisecond.
            if !state.entries.contains_key(&key) {
                break key;
            }
            tries += 1;
            if tries == 1 << ID_BITS && millis < MAX_MILLIS {
                // Every number of this millisecond is armed: the next one
                // (a millisecond late, never early).
                millis += 1;
                tries = 0;
            }
        };
        state.entries.insert(key, waker.clone());
        if !state.running {
            state.running = true;
            return (key, true);
        }
        if state
            .driver
            .as_ref()
            .is_some_and(|(until, _)| self.instant(key) < *until)
        {
            if let Some((_, driver)) = state.driver.take() {
                driver.wake();
            }
        }
        (key, false)
    }

    /// Disarms `key` (nothing if it fired already).
    fn remove(&self, key: &Key) {
        let mut state = self.lock();
        state.entries.remove(key);
        if state.entries.is_empty() {
            // The driver ends now rather than at its stale deadline.
            if let Some((_, driver)) = state.driver.take() {
                driver.wake();
            }
        }
    }

    /// Replaces the waker of `key`'s armer (its task's waker changed).
    fn set_waker(&self, key: &Key, waker: &Waker) {
        if let Some(slot) = self.lock().entries.get_mut(key) {
            slot.clone_from(waker);
        }
    }

    /// Wakes the armers of every deadline up to `now`; the earliest left,
    /// or `None` (then the driver ends: `running` is cleared under the
    /// same lock an arm would look at).
    fn fire(&self, now: Instant) -> Option<Instant> {
        let now = self.millis_before(now);
        let mut state = self.lock();
        state.driver = None;
        while let Some(entry) = state.entries.first_entry() {
            if *entry.key() >> ID_BITS > now {
                return Some(self.instant(*entry.key()));
            }
            entry.remove().wake();
        }
        state.running = false;
        None
    }

    /// Registers the driver, asleep until `until`; `false` if a deadline
    /// earlier than `until` was armed since [`fire`](Self::fire) (or the
    /// wheel emptied): the driver looks again at once.
    fn park(&self, until: Instant, waker: &Waker) -> bool {
        let mut state = self.lock();
        match state.entries.first_key_value() {
            Some((first, _)) if self.instant(*first) >= until => {
                state.driver = Some((until, waker.clone()));
                true
            }
            _ => false,
        }
    }

    /// Marks the driver gone (its task was dropped before it ended, e.g.
    /// with its runtime): the next arm starts another.
    fn driver_dropped(&self) {
        let mut state = self.lock();
        state.running = false;
        state.driver = None;
    }
}

/// The driver: sleeps until the earliest armed deadline, wakes whose
/// deadlines have come, and ends when none is armed.
async fn drive<R: Runtime>(wheel: Arc<Wheel>, rt: R) {
    let mut guard = Running {
        wheel: &wheel,
        ended: false,
    };
    while let Some(next) = wheel.fire(rt.now()) {
        let mut sleep = pin!(rt.sleep_until(next));
        let mut parked = false;
        poll_fn(|cx| {
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            // Parked once: a later poll is a wake from an earlier arm.
            if parked || !wheel.park(next, cx.waker()) {
                return Poll::Ready(());
            }
            parked = true;
            Poll::Pending
        })
        .await;
    }
    guard.ended = true;
}

/// Clears the wheel's `running` if the driver is dropped before it ends.
struct Running<'a> {
    wheel: &'a Wheel,
    ended: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.wheel.driver_dropped();
        }
    }
}

/// One pump's deadline in its server's [`Wheel`] (the `wheel` of the
/// connections' shared settings). A deadline armed for an earlier instant than the
/// one asked for is kept while that instant is still ahead: firing early is
/// harmless (the pump re-checks its deadlines against the clock) and saves
/// re-arming every time a deadline moves later, which happens on every
/// read. Its owner must [`clear`](Self::clear) it before dropping it.
#[derive(Default)]
pub(crate) struct WheelTimer {
    /// The deadline asked for, and its key.
    armed: Option<(Instant, Key)>,
}

impl WheelTimer {
    /// Whether a deadline is armed for an instant after `now`: it wakes
    /// the task then by itself (see [`keep`](Self::keep) for a new waker).
    pub(crate) fn armed_after(&self, now: Instant) -> bool {
        self.armed.is_some_and(|(at, _)| at > now)
    }

    /// The deadline armed (asked for), if any; it stays armed after it
    /// fires, until [`clear`](Self::clear) or another one.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.armed.map(|(at, _)| at)
    }

    /// Arms towards `deadline` (`None` disarms), `now` being the time of
    /// the caller's latest clock reading; `same_waker`: the task's waker
    /// is the one the armed deadline was last registered with. When the
    /// deadline comes, the task is woken.
    pub(crate) fn poll<R: Runtime>(
        &mut self,
        wheel: &Arc<Wheel>,
        rt: &R,
        cx: &mut Context<'_>,
        deadline: Option<Instant>,
        now: Instant,
        same_waker: bool,
    ) {
        let Some(deadline) = deadline else {
            self.clear(wheel);
            return;
        };
        match self.armed {
            Some((at, _)) if at <= deadline && at > now => {
                if !same_waker {
                    self.keep(wheel, cx);
                }
            }
            _ => {
                self.clear(wheel);
                let (key, start) = wheel.insert(deadline, cx.waker());
                self.armed = Some((deadline, key));
                if start {
                    rt.spawn(drive(wheel.clone(), rt.clone()));
                }
            }
        }
    }

    /// Keeps the armed deadline, registering the task's waker with it (the
    /// caller's waker changed since it was armed or last kept).
    pub(crate) fn keep(&mut self, wheel: &Wheel, cx: &mut Context<'_>) {
        if let Some((_, key)) = &self.armed {
            wheel.set_waker(key, cx.waker());
        }
    }

    /// Disarms the deadline.
    pub(crate) fn clear(&mut self, wheel: &Wheel) {
        if let Some((_, key)) = self.armed.take() {
            wheel.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use std::time::Duration;

    /// Counts its wakes.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        (count.clone(), Waker::from(count))
    }

    #[test]
    fn deadlines_fire_in_order_and_the_driver_ends_when_none_is_left() {
        let t0 = Instant::now();
        let wheel = Wheel::new(t0);
        let (first, first_waker) = counter();
        let (second, second_waker) = counter();
        let (a, start) = wheel.insert(t0 + Duration::from_secs(2), &first_waker);
        assert!(start, "the first arm starts the driver");
        let (_, start) = wheel.insert(t0 + Duration::from_secs(1), &second_waker);
        assert!(!start, "one driver for every deadline");
        assert_eq!(wheel.fire(t0), Some(t0 + Duration::from_secs(1)));
        assert_eq!(
            wheel.fire(t0 + Duration::from_secs(1)),
            Some(wheel.instant(a))
        );
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        wheel.remove(&a);
        assert_eq!(wheel.fire(t0 + Duration::from_secs(3)), None);
        assert_eq!(
            first.0.load(Ordering::SeqCst),
            0,
            "a removed deadline never fires"
        );
        let (_, start) = wheel.insert(t0, &first_waker);
        assert!(start, "an ended driver is started again");
    }

    #[test]
    fn an_earlier_deadline_wakes_the_parked_driver() {
        let t0 = Instant::now();
        let wheel = Wheel::new(t0);
        let (_, waker) = counter();
        let (driver, driver_waker) = counter();
        wheel.insert(t0 + Duration::from_secs(5), &waker);
        let next = wheel.fire(t0).unwrap();
        assert!(wheel.park(next, &driver_waker));
        wheel.insert(t0 + Duration::from_secs(9), &waker);
        assert_eq!(driver.0.load(Ordering::SeqCst), 0, "a later one does not");
        wheel.insert(t0 + Duration::from_secs(1), &waker);
        assert_eq!(driver.0.load(Ordering::SeqCst), 1);
        // Armed between `fire` and `park`: the driver does not sleep past it.
        let next = wheel.fire(t0).unwrap();
        wheel.insert(t0, &waker);
        assert!(!wheel.park(next, &driver_waker));
    }

    #[test]
    fn a_deadline_between_milliseconds_fires_at_the_next_one_not_before() {
        let t0 = Instant::now();
        let wheel = Wheel::new(t0);
        let (count, waker) = counter();
        let at = t0 + Duration::from_micros(1_500);
        let (first, _) = wheel.insert(at, &waker);
        let (second, _) = wheel.insert(at, &waker);
        assert_ne!(first, second, "equal deadlines have keys of their own");
        assert_eq!(wheel.fire(at), Some(t0 + Duration::from_millis(2)));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        assert_eq!(wheel.fire(t0 + Duration::from_millis(2)), None);
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_full_millisecond_passes_its_next_arms_to_the_next_one() {
        let t0 = Instant::now();
        let wheel = Wheel::new(t0);
        let (_, waker) = counter();
        let at = t0 + Duration::from_millis(1);
        for _ in 0..1u64 << ID_BITS {
            wheel.insert(at, &waker);
        }
        let (key, _) = wheel.insert(at, &waker);
        assert_eq!(wheel.instant(key), t0 + Duration::from_millis(2));
        assert_eq!(wheel.lock().entries.len(), (1 << ID_BITS) + 1);
    }

    #[test]
    fn a_dropped_driver_is_replaced_at_the_next_arm() {
        let wheel = Wheel::new(Instant::now());
        let (_, waker) = counter();
        let (key, _) = wheel.insert(Instant::now(), &waker);
        wheel.driver_dropped();
        wheel.remove(&key);
        let (_, start) = wheel.insert(Instant::now(), &waker);
        assert!(start);
    }
}
