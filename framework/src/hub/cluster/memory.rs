//! [`MemoryBus`]: several hubs in one process, each with a
//! [`MemoryEngine`], and the faults a network and a broker cause (lost,
//! delayed, reordered messages, a node cut off), injected on demand.
//!
//! Delivery is synchronous: a publish hands the message to every inbox
//! before it returns (unless a fault holds or drops it), so tests need no
//! clock and no sleeps.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use bytes::Bytes;

use super::{Arrival, Destination, Engine, Inbox, valid_node_name};
use crate::hub::stats::{EngineStats, EngineStatus};

/// Messages a held node keeps at most; beyond, arrivals are dropped (and
/// counted), so a test that forgets to release cannot grow memory forever.
const HELD_MAX: usize = 100_000;

/// An in-process message bus between the [`MemoryEngine`]s made from it.
///
/// ```
/// use tidings_framework::hub::cluster::MemoryBus;
/// let bus = MemoryBus::new();
/// let a = bus.engine("a").unwrap();
/// let b = bus.engine("b").unwrap();
/// // Give `a` and `b` to two servers: `ServerConfig::default().engine(a)`.
/// # let _ = (a, b);
/// ```
#[derive(Debug, Default)]
pub struct MemoryBus {
    engines: Mutex<Vec<Weak<MemoryEngine>>>,
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> Arc<Self> {
        Arc::new(MemoryBus::default())
    }

    /// A new node on the bus, or `None` when `node` is not a
    /// [valid node name](super::valid_node_name) or is taken.
    pub fn engine(self: &Arc<Self>, node: &str) -> Option<Arc<MemoryEngine>> {
        if !valid_node_name(node) {
            return None;
        }
        let mut engines = self.lock();
        engines.retain(|engine| engine.strong_count() > 0);
        if engines
            .iter()
            .filter_map(Weak::upgrade)
            .any(|engine| &*engine.node == node)
        {
            return None;
        }
        let engine = Arc::new(MemoryEngine {
            node: Arc::from(node),
            bus: self.clone(),
            inbox: OnceLock::new(),
            faults: Mutex::new(Faults::default()),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
        });
        engines.push(Arc::downgrade(&engine));
        Some(engine)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Weak<MemoryEngine>>> {
        self.engines.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live engines `to` names.
    fn recipients(&self, to: Destination<'_>) -> Vec<Arc<MemoryEngine>> {
        self.lock()
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|engine| match to {
                Destination::All => true,
                Destination::Node(node) => &*engine.node == node,
            })
            .collect()
    }
}

/// One node's engine on a [`MemoryBus`], with switches for faults.
#[derive(Debug)]
pub struct MemoryEngine {
    node: Arc<str>,
    bus: Arc<MemoryBus>,
    inbox: OnceLock<Inbox>,
    faults: Mutex<Faults>,
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    reconnects: AtomicU64,
}

#[derive(Debug, Default)]
struct Faults {
    /// Cut off: publishes and arrivals are dropped.
    disconnected: bool,
    /// This many of the node's next publishes are lost.
    drop_next: usize,
    /// Arrivals wait in `held` until released.
    holding: bool,
    held: VecDeque<Bytes>,
}

impl MemoryEngine {
    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loses the next `n` messages this node publishes (to every node).
    pub fn drop_next(&self, n: usize) {
        self.faults().drop_next = n;
    }

    /// Holds messages arriving at this node (a delay) until
    /// [`release`](Self::release) or [`release_reversed`](Self::release_reversed).
    pub fn hold(&self) {
        self.faults().holding = true;
    }

    /// Delivers the held messages in the order they arrived, and stops holding.
    pub fn release(&self) {
        let held = self.take_held();
        held.into_iter().for_each(|m| self.apply(&m));
    }

    /// Delivers the held messages in reverse order (reordering), and stops
    /// holding.
    pub fn release_reversed(&self) {
        let held = self.take_held();
        held.into_iter().rev().for_each(|m| self.apply(&m));
    }

    fn take_held(&self) -> VecDeque<Bytes> {
        let mut faults = self.faults();
        faults.holding = false;
        std::mem::take(&mut faults.held)
    }

    /// Cuts this node off the bus: what it publishes and what is published
    /// to it is lost (and counted as dropped) until [`reconnect`](Self::reconnect).
    pub fn disconnect(&self) {
        self.faults().disconnected = true;
    }

    /// Joins the bus again after [`disconnect`](Self::disconnect).
    pub fn reconnect(&self) {
        let mut faults = self.faults();
        if std::mem::replace(&mut faults.disconnected, false) {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A message from the bus: held, dropped or applied.
    fn arrive(&self, message: &Bytes) {
        {
            let mut faults = self.faults();
            if faults.disconnected || (faults.holding && faults.held.len() >= HELD_MAX) {
                drop(faults);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if faults.holding {
                faults.held.push_back(message.clone());
                return;
            }
        }
        self.apply(message);
    }

    fn apply(&self, message: &[u8]) {
        let Some(inbox) = self.inbox.get() else {
            return;
        };
        if let Ok(Arrival::Applied) = inbox.deliver(message) {
            self.received.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Engine for MemoryEngine {
    fn node(&self) -> &str {
        &self.node
    }

    fn attach(&self, inbox: Inbox) {
        let _ = self.inbox.set(inbox);
    }

    fn publish(&self, to: Destination<'_>, message: Bytes) {
        {
            let mut faults = self.faults();
            if faults.disconnected || faults.drop_next > 0 {
                faults.drop_next = faults.drop_next.saturating_sub(1);
                drop(faults);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.published.fetch_add(1, Ordering::Relaxed);
        for engine in self.bus.recipients(to) {
            engine.arrive(&message);
        }
    }

    fn stats(&self) -> EngineStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut stats = EngineStats::new(&*self.node);
        if self.faults().disconnected {
            stats.status = EngineStatus::Down;
        }
        stats.published = load(&self.published);
        stats.received = load(&self.received);
        stats.dropped = load(&self.dropped);
        stats.reconnects = load(&self.reconnects);
        stats
    }
}
