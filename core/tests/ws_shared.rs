//! Shared (pre-encoded) frames on the connection state machine: the order
//! of own and shared frames, zero-copy chunks, reuse of the staging buffer,
//! the client's refusal, and discarding a backlog before a close.

use std::time::Instant;

use bytes::Bytes;
use tidings_core::close::CloseCode;
use tidings_core::ws::{Config, Connection, Outgoing, Role, SendError, SharedFrame};

fn server() -> Connection {
    Connection::new(Role::Server, Config::default(), Instant::now())
}

#[test]
fn own_and_shared_frames_keep_their_order() {
    let shared = SharedFrame::text("shared");
    let mut a = server();
    let mut b = server();
    for conn in [&mut a, &mut b] {
        conn.send(Outgoing::Text("one")).unwrap();
        conn.send_shared(&shared).unwrap();
        conn.send(Outgoing::Binary(b"two")).unwrap();
        assert_eq!(conn.pending_transmit(), 5 + 8 + 5);
        assert_eq!(conn.pending_shared_frames(), 1);
    }
    let mut copied = Vec::new();
    assert_eq!(a.poll_transmit(&mut copied), 18);
    assert_eq!(copied, b"\x81\x03one\x81\x06shared\x82\x03two");
    assert_eq!(a.pending_transmit(), 0);

    let chunks: Vec<Bytes> = std::iter::from_fn(|| b.poll_transmit_chunk()).collect();
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[1].as_ptr(), shared.bytes().as_ptr(), "not copied");
    assert_eq!(chunks.concat(), copied);
    assert_eq!(b.pending_shared_frames(), 0);
}

#[test]
fn the_staging_buffer_is_reused_once_a_chunk_is_dropped() {
    let mut conn = server();
    conn.send(Outgoing::Text("first message")).unwrap();
    let first = conn.poll_transmit_chunk().unwrap();
    let address = first.as_ptr();
    drop(first);
    conn.send(Outgoing::Text("second")).unwrap();
    assert_eq!(conn.poll_transmit_chunk().unwrap().as_ptr(), address);
}

#[test]
fn shared_frames_are_refused_by_clients_and_after_close() {
    let mut client = Connection::new(
        Role::Client { mask_seed: [1; 32] },
        Config::default(),
        Instant::now(),
    );
    let frame = SharedFrame::binary(b"x");
    assert_eq!(
        client.send_shared(&frame),
        Err(SendError::SharedFrameOnClient)
    );
    let mut conn = server();
    conn.close(Instant::now(), CloseCode::NORMAL, "").unwrap();
    assert_eq!(conn.send_shared(&frame), Err(SendError::Closed));
}

#[test]
fn discarding_drops_the_backlog_and_the_close_comes_next() {
    let mut conn = server();
    conn.send_shared(&SharedFrame::text("backlog")).unwrap();
    conn.send(Outgoing::Text("own")).unwrap();
    conn.discard_transmit();
    assert_eq!(conn.pending_transmit(), 0);
    assert_eq!(conn.pending_shared_frames(), 0);
    conn.close(Instant::now(), CloseCode::TRY_AGAIN_LATER, "slow")
        .unwrap();
    let mut out = Vec::new();
    let _ = conn.poll_transmit(&mut out);
    assert_eq!(out, b"\x88\x06\x03\xf5slow");
}

#[test]
fn control_frames_and_limits() {
    let config = Config::default();
    let ping = SharedFrame::new(Outgoing::Ping(b"p"), &config).unwrap();
    assert_eq!(ping.as_bytes(), b"\x89\x01p");
    let long = [0u8; 126];
    assert_eq!(
        SharedFrame::new(Outgoing::Pong(&long), &config),
        Err(SendError::ControlPayloadTooLong(126))
    );
}
