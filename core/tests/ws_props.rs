//! Property tests of the WebSocket state machine (proptest, 256 cases each).

// The core is sans-IO (core/clippy.toml disallows the clock); a test reads
// the clock only for a starting `now` (also in support/); the core itself is
// handed every instant.
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::Instant;

use bytes::Bytes;
use proptest::prelude::*;
use support::pair::Pair;
use tidings_core::close::CloseCode;
use tidings_core::ws::{CloseCause, Config, Connection, Event, Message, Outgoing, Role};

/// What a sender sends: data messages and pings.
#[derive(Clone, Debug)]
enum Op {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
}

/// Deterministic filler so large payloads are cheap to generate and shrink.
fn filler(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => ".{0,40}".prop_map(Op::Text),
        4 => prop::collection::vec(any::<u8>(), 0..600).prop_map(Op::Binary),
        1 => (0..=256 * 1024usize, any::<u8>()).prop_map(|(len, seed)| Op::Binary(filler(len, seed))),
        1 => ("[a-zé€𝄞]{1,8}", 0..=20_000usize).prop_map(|(unit, n)| Op::Text(unit.repeat(n))),
        2 => prop::collection::vec(any::<u8>(), 0..=125).prop_map(Op::Ping),
    ]
}

fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![1..8usize, 1..200usize, 1..70_000usize], 1..6)
}

fn quiet() -> Config {
    Config::default().ping_period(None).pong_wait(None)
}

/// Feeds `wire` to `conn` cut by `chunks` (cycled), draining events after each piece.
fn feed_chunked(conn: &mut Connection, wire: &[u8], chunks: &[usize]) -> Vec<Event> {
    let now = Instant::now();
    let mut events = Vec::new();
    let mut rest = wire;
    let mut i = 0;
    while !rest.is_empty() {
        let size = chunks[i % chunks.len()].clamp(1, rest.len());
        i += 1;
        let (piece, tail) = rest.split_at(size);
        conn.handle_input(now, piece);
        events.extend(std::iter::from_fn(|| conn.poll_event()));
        rest = tail;
    }
    events
}

fn expected_event(op: &Op) -> Event {
    match op {
        Op::Text(text) => Event::Message(Message::Text(text.as_str().into())),
        Op::Binary(bytes) => Event::Message(Message::Binary(Bytes::copy_from_slice(bytes))),
        Op::Ping(payload) => Event::Ping(Bytes::copy_from_slice(payload)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// (a) Any sequence of messages, fragmented at random and interleaved
    /// with pings, sent by either role and fed to the other in arbitrary
    /// chunks, arrives identical and in order.
    #[test]
    fn messages_arrive_identical_and_in_order(
        client_sends in any::<bool>(),
        ops in prop::collection::vec(op(), 0..8),
        frame_size in prop::option::of(1..70_000usize),
        chunks in chunk_sizes(),
    ) {
        let now = Instant::now();
        let sender_role = if client_sends { Role::Client { mask_seed: [9; 32] } } else { Role::Server };
        let receiver_role = if client_sends { Role::Server } else { Role::Client { mask_seed: [9; 32] } };
        let mut sender = Connection::new(sender_role, quiet().max_outgoing_frame_size(frame_size), now);
        let mut receiver = Connection::new(receiver_role, quiet(), now);
        for op in &ops {
            let outgoing = match op {
                Op::Text(text) => Outgoing::Text(text),
                Op::Binary(bytes) => Outgoing::Binary(bytes),
                Op::Ping(payload) => Outgoing::Ping(payload),
            };
            sender.send(outgoing).unwrap();
        }
        let mut wire = Vec::new();
        let _ = sender.poll_transmit(&mut wire);
        let events = feed_chunked(&mut receiver, &wire, &chunks);
        let expected: Vec<Event> = ops.iter().map(expected_event).collect();
        prop_assert_eq!(events, expected);
    }
}

/// Raw frames, valid or not, for the chunking-invariance property.
fn raw_frame() -> impl Strategy<Value = Vec<u8>> {
    let first = prop_oneof![
        4 => prop::sample::select(vec![0x81u8, 0x82, 0x01, 0x02, 0x00, 0x80, 0x89, 0x8a, 0x88]),
        1 => any::<u8>(),
    ];
    let payload = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..40),
        2 => ".{0,30}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..400),
        1 => Just(vec![0x03, 0xe8]),
    ];
    (
        first,
        any::<bool>(),
        prop::option::weighted(0.9, any::<[u8; 4]>()),
        payload,
    )
        .prop_map(|(first, short_len, mask, payload)| {
            let mut out = vec![first];
            let mask_bit = if mask.is_some() { 0x80 } else { 0 };
            if payload.len() < 126 && short_len {
                out.push(mask_bit | payload.len() as u8);
            } else {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            }
            if let Some(key) = mask {
                out.extend_from_slice(&key);
                out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
            } else {
                out.extend_from_slice(&payload);
            }
            out
        })
}

fn byte_stream() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![8 => raw_frame(), 1 => prop::collection::vec(any::<u8>(), 0..20)],
        0..12,
    )
    .prop_map(|pieces| pieces.concat())
}

/// Everything observable from feeding `wire` in the given chunks, then EOF.
fn observe(role: &Role, wire: &[u8], chunks: &[usize]) -> (Vec<Event>, Vec<u8>) {
    let now = Instant::now();
    let mut conn = Connection::new(role.clone(), quiet().max_message_size(300), now);
    let mut events = feed_chunked(&mut conn, wire, chunks);
    conn.handle_eof(now);
    events.extend(std::iter::from_fn(|| conn.poll_event()));
    let mut out = Vec::new();
    let _ = conn.poll_transmit(&mut out);
    (events, out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// (c) Feeding any byte stream in one chunk, byte by byte or in random
    /// chunks yields the same events and the same output bytes, for both roles.
    #[test]
    fn chunking_does_not_change_events_or_output(
        wire in byte_stream(),
        client in any::<bool>(),
        chunks in chunk_sizes(),
    ) {
        let role = if client { Role::Client { mask_seed: [5; 32] } } else { Role::Server };
        let whole = observe(&role, &wire, &[usize::MAX]);
        prop_assert_eq!(&observe(&role, &wire, &[1]), &whole);
        prop_assert_eq!(&observe(&role, &wire, &chunks), &whole);
    }

    /// (e) The close handshake completes from either side under arbitrary
    /// chunking, after the messages sent before it have been delivered.
    #[test]
    fn close_handshake_completes_from_either_side(
        client_closes in any::<bool>(),
        code in prop_oneof![1000..=1003u16, 1007..=1014u16, 3000..=4999u16],
        reason in "[a-z é]{0,40}",
        before in prop::collection::vec(".{0,20}", 0..4),
        chunks in chunk_sizes(),
    ) {
        let mut pair = Pair::without_timers();
        pair.chunks = chunks;
        for text in &before {
            pair.client.conn.send(Outgoing::Text(text)).unwrap();
            pair.server.conn.send(Outgoing::Text(text)).unwrap();
        }
        let now = pair.now;
        let code = CloseCode(code);
        if client_closes {
            pair.client.conn.close(now, code, &reason).unwrap();
        } else {
            pair.server.conn.close(now, code, &reason).unwrap();
        }
        pair.drive();
        for side in [&pair.client, &pair.server] {
            let texts: Vec<String> = side.events.iter().filter_map(|e| match e {
                Event::Message(Message::Text(t)) => Some(t.to_string()),
                _ => None,
            }).collect();
            prop_assert_eq!(&texts, &before);
        }
        let (initiator, responder) = if client_closes { (&pair.client, &pair.server) } else { (&pair.server, &pair.client) };
        let initiator = initiator.closed().expect("initiator closed");
        let responder = responder.closed().expect("responder closed");
        prop_assert_eq!(&initiator.cause, &CloseCause::LocalClose);
        prop_assert_eq!(&responder.cause, &CloseCause::PeerClose);
        prop_assert_eq!(responder.received.as_ref().map(|f| (f.code, f.reason.as_str())), Some((code, reason.as_str())));
        prop_assert_eq!(initiator.received.as_ref().map(|f| f.code), Some(code), "the code is echoed");
        prop_assert!(pair.client.saw_eof, "the server closed the transport first");
    }
}
