//! Echoing through the sans-IO `ws::Connection` (server role) allocates
//! nothing per message in steady state, for every message that fits the
//! server's read buffer and for a 64 KiB one (queued without a copy).
//!
//! A counting global allocator counts the allocations (and reallocations)
//! made by this test's thread while counting is switched on. (Here, not in
//! `core/tests`, to share the allocator of `tidings-tests`.) Its own binary,
//! so that no other test shares the allocator.

use std::cell::Cell;
use std::time::Instant;

use tidings_framework::frame::{FrameHeader, OpCode, apply_mask};
use tidings_framework::server::ServerConfig;
use tidings_framework::ws::{Config, Connection, Event, Role};
use tidings_tests::CountingAllocator;

thread_local! {
    /// Allocations of this thread since counting was switched on, or `None`
    /// while off. Const-initialised and without destructor, so reading it
    /// from inside the allocator does not allocate.
    static COUNT: Cell<Option<u64>> = const { Cell::new(None) };
}

fn count_one() {
    let _ = COUNT.try_with(|count| count.set(count.get().map(|n| n + 1)));
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator {
    on_alloc: count_one,
};

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    COUNT.with(|count| count.set(Some(0)));
    f();
    COUNT.with(|count| count.replace(None)).unwrap_or(0)
}

/// A client frame: masked, unfragmented.
fn client_frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let key = [0x0b, 0xad, 0xf0, 0x0d];
    let header = FrameHeader {
        fin: true,
        rsv: 0,
        opcode,
        mask: Some(key),
        payload_len: payload.len() as u64,
    };
    let mut frame = Vec::new();
    header.encode_into(&mut frame);
    let start = frame.len();
    frame.extend_from_slice(payload);
    apply_mask(&mut frame[start..], key, 0);
    frame
}

/// One echo: the frame in, the message out, the answer into `out`. Returns
/// the bytes transmitted.
fn echo_once(conn: &mut Connection, now: Instant, frame: &[u8], out: &mut Vec<u8>) -> usize {
    conn.handle_input(now, frame);
    while let Some(event) = conn.poll_event() {
        match event {
            Event::Message(message) => conn.send_message(&message).expect("send"),
            other => panic!("unexpected event {other:?}"),
        }
    }
    out.clear();
    conn.poll_transmit(out)
}

#[test]
fn echo_allocates_nothing_per_message_in_steady_state() {
    let read_buffer = ServerConfig::default().read_buffer_size;
    let now = Instant::now();
    let mut conn = Connection::new(Role::Server, Config::default(), now);
    let mut out = Vec::new();
    // Payload sizes over every header length, up to a frame that fills the
    // read buffer exactly (4-byte length, 4-byte key).
    // Then payloads queued without a copy (`send_message`).
    let sizes = [0, 1, 16, 125, 126, 512, 1000, read_buffer - 8, 64 << 10];
    let mut failures = Vec::new();
    for size in sizes {
        for (opcode, byte) in [(OpCode::Text, b'a'), (OpCode::Binary, 0xfe)] {
            let frame = client_frame(opcode, &vec![byte; size]);
            let answer_len = size
                + if size < 126 {
                    2
                } else if size <= 0xffff {
                    4
                } else {
                    10
                };
            // Warm-up: buffers grow to their steady-state capacity.
            for _ in 0..16 {
                assert_eq!(echo_once(&mut conn, now, &frame, &mut out), answer_len);
            }
            let count = allocations(|| {
                for _ in 0..1000 {
                    let sent = echo_once(&mut conn, now, &frame, &mut out);
                    assert_eq!(sent, answer_len);
                }
            });
            if count > 0 {
                failures.push(format!(
                    "{opcode:?} {size} B: {count} allocations in 1000 echoes"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_counter_sees_allocations_and_reallocations() {
    let count = allocations(|| {
        let mut v = std::hint::black_box(Vec::<u8>::with_capacity(8));
        v.extend_from_slice(&[0; 64]);
        drop(std::hint::black_box(v));
    });
    // One allocation, one reallocation to grow.
    assert_eq!(count, 2);
}
