//! A client/server pair of [`Connection`]s joined by an in-memory transport
//! and driven by a virtual clock, in the manner of quinn-proto's `Pair`.
//!
//! Bytes move between the two only when [`Pair::drive`] runs; each transfer is
//! cut into chunks by a caller-chosen schedule. When a side reports
//! [`Event::Closed`] its transport is closed: its last output is delivered,
//! then the other side sees end of stream.

#![allow(dead_code, unreachable_pub)] // Each test binary uses a different part of the harness.

use std::time::{Duration, Instant};

use tidings_core::ws::{Config, Connection, Event, Role};

/// One side of the pair.
pub struct Side {
    pub conn: Connection,
    pub events: Vec<Event>,
    /// The transport is closed (after this side's `Closed` event).
    pub transport_closed: bool,
    /// The peer's transport closed and this side was told.
    pub saw_eof: bool,
}

impl Side {
    fn new(conn: Connection) -> Self {
        Side {
            conn,
            events: Vec::new(),
            transport_closed: false,
            saw_eof: false,
        }
    }

    /// The events seen so far, taken.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Whether the terminal event has been seen.
    pub fn closed(&self) -> Option<&tidings_core::ws::Closed> {
        self.events.iter().find_map(|event| match event {
            Event::Closed(closed) => Some(&**closed),
            _ => None,
        })
    }
}

/// A connected client and server with a shared virtual clock.
pub struct Pair {
    pub now: Instant,
    pub client: Side,
    pub server: Side,
    /// Chunk sizes used, in turn, to cut each transfer (empty: one chunk).
    pub chunks: Vec<usize>,
    next_chunk: usize,
}

impl Pair {
    pub fn new(client_config: Config, server_config: Config) -> Self {
        let now = Instant::now();
        Pair {
            now,
            client: Side::new(Connection::new(
                Role::Client { mask_seed: [7; 32] },
                client_config,
                now,
            )),
            server: Side::new(Connection::new(Role::Server, server_config, now)),
            chunks: Vec::new(),
            next_chunk: 0,
        }
    }

    /// A pair with default configurations and no timers, for tests that do
    /// not care about keep-alive.
    pub fn without_timers() -> Self {
        let config = Config::default().ping_period(None).pong_wait(None);
        Pair::new(config.clone(), config)
    }

    /// Moves bytes both ways and collects events until nothing changes.
    pub fn drive(&mut self) {
        for _ in 0..10_000 {
            let a = self.step(true);
            let b = self.step(false);
            if !a && !b {
                return;
            }
        }
        panic!("pair did not settle");
    }

    /// Advances the virtual clock by `by`, firing due timers on both sides,
    /// and drives the pair after each firing.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        loop {
            let next = [
                self.client.conn.poll_timeout(),
                self.server.conn.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .filter(|&at| at <= target)
            .min();
            let Some(at) = next else { break };
            self.now = self.now.max(at);
            self.client.conn.handle_timeout(self.now);
            self.server.conn.handle_timeout(self.now);
            self.drive();
        }
        self.now = target;
        self.drive();
    }

    /// One transfer from `from_client`'s side to the other. Returns whether
    /// anything happened.
    fn step(&mut self, from_client: bool) -> bool {
        let now = self.now;
        let chunks = self.chunks.clone();
        let (from, to) = if from_client {
            (&mut self.client, &mut self.server)
        } else {
            (&mut self.server, &mut self.client)
        };
        let mut progressed = drain_events(from);
        let mut wire = Vec::new();
        let _ = from.conn.poll_transmit(&mut wire);
        if !wire.is_empty() && !to.transport_closed {
            progressed = true;
            let mut rest = &wire[..];
            while !rest.is_empty() {
                let size = if chunks.is_empty() {
                    rest.len()
                } else {
                    let size = chunks[self.next_chunk % chunks.len()].max(1);
                    self.next_chunk += 1;
                    size.min(rest.len())
                };
                let (chunk, tail) = rest.split_at(size);
                to.conn.handle_input(now, chunk);
                progressed |= drain_events(to);
                rest = tail;
            }
        }
        if from.closed().is_some() && !from.transport_closed {
            from.transport_closed = true;
            progressed = true;
        }
        if from.transport_closed && !to.saw_eof {
            to.saw_eof = true;
            to.conn.handle_eof(now);
            drain_events(to);
            progressed = true;
        }
        progressed
    }
}

fn drain_events(side: &mut Side) -> bool {
    let mut any = false;
    while let Some(event) = side.conn.poll_event() {
        side.events.push(event);
        any = true;
    }
    any
}
