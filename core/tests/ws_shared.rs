//! Shared (pre-encoded) frames on the connection state machine: the order
//! of own and shared frames, zero-copy chunks, reuse of the staging buffer,
//! the client's refusal, discarding a backlog before a close, and shared
//! frames compressed once (permessage-deflate) next to each connection's own
//! compressed messages.

// The core is sans-IO (core/clippy.toml disallows the clock); a test reads
// the clock once per call only for a starting `now`; the core itself is
// handed every instant.
#![allow(clippy::disallowed_methods)]

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

// ---- compressed shared frames --------------------------------------------
// (The codec needs the `deflate` feature, on by default.)
#[cfg(feature = "deflate")]
mod compressed {
    use super::*;
    use tidings_core::deflate::{DeflateConfig, DeflateParams, SharedCompressor};
    use tidings_core::ws::{Event, Message};

    fn params(server_no_context_takeover: bool, server_bits: u8) -> DeflateParams {
        let mut params = DeflateParams::default();
        params.server_no_context_takeover = server_no_context_takeover;
        params.server_max_window_bits = server_bits;
        params
    }

    /// A server and a client connection that negotiated `params`, compressing
    /// from 16 bytes on and sending frames of at most `max_frame` bytes.
    fn deflate_pair(params: DeflateParams, max_frame: Option<usize>) -> (Connection, Connection) {
        let now = Instant::now();
        let config = Config::default()
            .max_outgoing_frame_size(max_frame)
            .deflate(Some(DeflateConfig::default().threshold(16)));
        let server = Connection::new(Role::Server, config.clone(), now).with_deflate(Some(params));
        let client = Connection::new(Role::Client { mask_seed: [3; 32] }, config, now)
            .with_deflate(Some(params));
        (server, client)
    }

    /// Everything `server` queued, as the client reads it.
    fn deliver(server: &mut Connection, client: &mut Connection) -> Vec<Event> {
        let mut wire = Vec::new();
        let _ = server.poll_transmit(&mut wire);
        client.handle_input(Instant::now(), &wire);
        std::iter::from_fn(|| client.poll_event()).collect()
    }

    fn texts(messages: &[String]) -> Vec<Event> {
        messages
            .iter()
            .map(|text| Event::Message(Message::Text(text.as_str().into())))
            .collect()
    }

    /// Similar chat lines: they compress well, best with context takeover.
    fn chat(i: usize) -> String {
        format!(
            r#"{{"type":"message","user":"user{}","content":"hello number {i}, hello again"}}"#,
            i % 7
        )
    }

    #[test]
    fn a_message_compressed_once_is_shared_and_read_by_every_matching_client() {
        let text: String = (0..40).map(chat).collect();
        let mut compressor = SharedCompressor::new(12, 1);
        let config = Config::default().max_outgoing_frame_size(Some(100));
        let frame =
            SharedFrame::compressed(Outgoing::Text(&text), &mut compressor, &config).unwrap();
        assert!(frame.len() < text.len() / 2, "{} bytes", frame.len());
        assert_eq!(frame.payload_len(), text.len());
        assert_eq!(
            frame.as_bytes()[0],
            0x41,
            "RSV1 on the first frame, not FIN"
        );

        // Windows of 2^12 and more, no context takeover: all take it.
        for bits in [12, 13, 15] {
            let (mut server, mut client) = deflate_pair(params(true, bits), Some(100));
            assert!(server.accepts_shared_compression(compressor.window_bits()));
            server.send_shared(&frame).unwrap();
            server.send_shared(&frame).unwrap();
            let first = server.poll_transmit_chunk().unwrap();
            assert_eq!(first.as_ptr(), frame.bytes().as_ptr(), "not copied");
            assert_eq!(first.len(), frame.len());
            client.handle_input(Instant::now(), &first);
            let mut events: Vec<_> = std::iter::from_fn(|| client.poll_event()).collect();
            events.extend(deliver(&mut server, &mut client));
            assert_eq!(events, texts(&[text.clone(), text.clone()]));
        }
        // A smaller window, or context takeover: not allowed.
        assert!(
            !deflate_pair(params(true, 11), None)
                .0
                .accepts_shared_compression(12)
        );
        assert!(
            !deflate_pair(params(false, 15), None)
                .0
                .accepts_shared_compression(12)
        );
    }

    #[test]
    fn own_compressed_messages_and_shared_frames_interleave_without_breaking_the_context() {
        let mut compressor = SharedCompressor::new(15, 1);
        let config = Config::default();
        for takeover in [true, false] {
            for max_frame in [None, Some(40)] {
                let (mut server, mut client) = deflate_pair(params(!takeover, 15), max_frame);
                let mut sent = Vec::new();
                let mut received = Vec::new();
                for i in 0..60 {
                    let text = if i % 5 == 4 {
                        "short".to_owned()
                    } else {
                        chat(i)
                    };
                    match i % 3 {
                        // The connection's own message, compressed with its context.
                        0 => server.send(Outgoing::Text(&text)).unwrap(),
                        // A plain shared frame: outside the compression context.
                        1 => server
                            .send_shared(&SharedFrame::new(Outgoing::Text(&text), &config).unwrap())
                            .unwrap(),
                        // Compressed once: only where the server resets its context.
                        _ if !takeover => server
                            .send_shared(
                                &SharedFrame::compressed(
                                    Outgoing::Text(&text),
                                    &mut compressor,
                                    &config,
                                )
                                .unwrap(),
                            )
                            .unwrap(),
                        _ => server.send(Outgoing::Text(&text)).unwrap(),
                    }
                    sent.push(text);
                    if i % 4 == 3 {
                        received.extend(deliver(&mut server, &mut client));
                    }
                }
                received.extend(deliver(&mut server, &mut client));
                assert_eq!(
                    received,
                    texts(&sent),
                    "takeover {takeover}, frames {max_frame:?}"
                );
            }
        }
    }
}
