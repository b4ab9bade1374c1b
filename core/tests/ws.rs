//! Scenario tests of the WebSocket state machine through its public API.

// The core is sans-IO (core/clippy.toml disallows the clock); a test reads
// the clock only for a starting `now`; the core itself is handed every
// instant.
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use support::pair::Pair;
use tidings_core::close::CloseCode;
use tidings_core::ws::{
    CloseCause, CloseFrame, Closed, Config, Connection, Event, Message, Outgoing, ProtocolError,
    Role, SendError, State, TimeoutKind,
};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A raw frame as a client would send it: masked with `KEY`.
fn masked(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first_byte];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&KEY);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    out
}

fn server() -> Connection {
    let config = Config::default().ping_period(None).pong_wait(None);
    Connection::new(Role::Server, config, Instant::now())
}

fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

fn transmit(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = conn.poll_transmit(&mut out);
    out
}

/// Feeds `input` to a fresh server and expects the connection to fail with
/// `code`, sending a close frame with that code.
fn assert_fails_with(input: &[u8], code: CloseCode) -> ProtocolError {
    let mut server = server();
    server.handle_input(Instant::now(), input);
    let events = events(&mut server);
    let Some(Event::Closed(closed)) = events.last() else {
        panic!("expected a protocol violation, got {events:?}");
    };
    let Closed {
        cause: CloseCause::ProtocolViolation(error),
        sent,
        ..
    } = &**closed
    else {
        panic!("expected a protocol violation, got {events:?}");
    };
    assert_eq!(error.close_code(), code, "{error}");
    assert_eq!(sent.as_ref().map(|f| f.code), Some(code));
    let out = transmit(&mut server);
    assert_eq!(out[0], 0x88, "a close frame is sent");
    assert_eq!(u16::from_be_bytes([out[2], out[3]]), code.0);
    assert_eq!(server.state(), State::Closed);
    error.clone()
}

#[test]
fn rfc_5_7_masked_hello_is_a_text_message() {
    let mut server = server();
    server.handle_input(
        Instant::now(),
        &[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ],
    );
    assert_eq!(
        events(&mut server),
        [Event::Message(Message::Text("Hello".into()))]
    );
}

#[test]
fn server_output_is_unmasked_and_client_output_is_masked() {
    let mut server = server();
    server.send(Outgoing::Text("Hello")).unwrap();
    assert_eq!(
        transmit(&mut server),
        [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']
    );

    let mut client = Connection::new(
        Role::Client { mask_seed: [1; 32] },
        Config::default(),
        Instant::now(),
    );
    client.send(Outgoing::Binary(&[0; 300])).unwrap();
    let out = transmit(&mut client);
    assert_eq!(&out[..2], &[0x82, 0x80 | 126]);
    assert_eq!(out.len(), 2 + 2 + 4 + 300);
}

#[test]
fn fragments_and_interleaved_ping_are_reassembled_and_the_ping_answered() {
    let mut server = server();
    let mut input = masked(0x01, b"Hel");
    input.extend(masked(0x89, b"ping"));
    input.extend(masked(0x00, b"l"));
    input.extend(masked(0x80, b"o"));
    server.handle_input(Instant::now(), &input);
    assert_eq!(
        events(&mut server),
        [
            Event::Ping(Bytes::from_static(b"ping")),
            Event::Message(Message::Text("Hello".into()))
        ]
    );
    assert_eq!(transmit(&mut server), [0x8a, 0x04, b'p', b'i', b'n', b'g']);
}

#[test]
fn auto_pong_can_be_turned_off() {
    let config = Config::default().auto_pong(false);
    let mut server = Connection::new(Role::Server, config, Instant::now());
    server.handle_input(Instant::now(), &masked(0x89, b"x"));
    assert_eq!(events(&mut server), [Event::Ping(Bytes::from_static(b"x"))]);
    assert!(transmit(&mut server).is_empty());
}

#[test]
fn protocol_violations_fail_with_the_right_code() {
    assert_fails_with(
        &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o'],
        CloseCode::PROTOCOL_ERROR,
    ); // unmasked
    assert_fails_with(&masked(0x83, b""), CloseCode::PROTOCOL_ERROR); // reserved opcode
    assert_fails_with(&masked(0xC1, b"a"), CloseCode::PROTOCOL_ERROR); // RSV1 without extension
    assert_fails_with(&masked(0x09, b""), CloseCode::PROTOCOL_ERROR); // fragmented ping
    assert_fails_with(&masked(0x89, &[0; 126]), CloseCode::PROTOCOL_ERROR); // long ping
    assert_fails_with(&masked(0x80, b"a"), CloseCode::PROTOCOL_ERROR); // continuation without start
    let mut two_starts = masked(0x01, b"a");
    two_starts.extend(masked(0x81, b"b"));
    assert_eq!(
        assert_fails_with(&two_starts, CloseCode::PROTOCOL_ERROR),
        ProtocolError::ExpectedContinuation
    );
    assert_fails_with(&masked(0x88, &[0x03]), CloseCode::PROTOCOL_ERROR); // 1-byte close
    assert_fails_with(
        &masked(0x88, &1005u16.to_be_bytes()),
        CloseCode::PROTOCOL_ERROR,
    );
    assert_fails_with(
        &masked(0x88, &999u16.to_be_bytes()),
        CloseCode::PROTOCOL_ERROR,
    );
    assert_fails_with(
        &masked(0x88, &[0x03, 0xe8, 0xff]),
        CloseCode::INVALID_PAYLOAD,
    ); // reason not UTF-8
    assert_fails_with(
        &masked(0x81, &[0xce, 0xba, 0xff]),
        CloseCode::INVALID_PAYLOAD,
    );
    assert_fails_with(&masked(0x81, &[0xce]), CloseCode::INVALID_PAYLOAD); // truncated code point
}

/// A message that arrives as one whole frame is read in one go (see
/// `read_whole_message` in the core); at the header's length boundaries, and
/// against the limits and the masking rule, it ends as the general path
/// would end it.
#[test]
fn whole_frames_at_the_length_boundaries_and_the_limits() {
    for len in [0, 1, 125, 126, 127, 1000, 0xffff, 0x10000] {
        let payload = vec![b'x'; len];
        for first in [0x81, 0x82] {
            let mut server = server();
            server.handle_input(Instant::now(), &masked(first, &payload));
            let expected = if first == 0x81 {
                Message::Text(String::from_utf8(payload.clone()).unwrap().into())
            } else {
                Message::Binary(Bytes::from(payload.clone()))
            };
            assert_eq!(events(&mut server), [Event::Message(expected)], "{len}");
            assert_eq!(server.state(), State::Open);
        }
    }
    let limited = |config: Config, input: &[u8]| {
        let mut server = Connection::new(Role::Server, config, Instant::now());
        server.handle_input(Instant::now(), input);
        let events = events(&mut server);
        match events.last() {
            Some(Event::Closed(closed)) => closed.code(),
            other => panic!("expected the end, got {other:?}"),
        }
    };
    let base = Config::default().ping_period(None).pong_wait(None);
    // Over the frame or the message limit by one byte: 1009.
    for (config, len) in [
        (base.clone().max_frame_size(100), 101),
        (base.clone().max_message_size(200), 201),
        (base.clone().max_frame_size(1000), 1001),
    ] {
        let code = limited(config, &masked(0x82, &vec![0; len]));
        assert_eq!(code, CloseCode::MESSAGE_TOO_BIG, "{len}");
    }
    // A client refuses a masked frame from the server: 1002.
    let mut client = Connection::new(Role::Client { mask_seed: [5; 32] }, base, Instant::now());
    client.handle_input(Instant::now(), &masked(0x81, b"hi"));
    assert!(
        matches!(&events(&mut client)[..], [Event::Closed(c)] if c.code() == CloseCode::PROTOCOL_ERROR)
    );
}

#[test]
fn invalid_utf8_fails_before_the_rest_of_the_frame_arrives() {
    let mut server = server();
    // A text frame announcing 1000 bytes whose first bytes are already invalid.
    let mut payload = vec![b'a'; 1000];
    payload[3] = 0xff;
    let frame = masked(0x01, &payload);
    server.handle_input(Instant::now(), &frame[..20]);
    let events = events(&mut server);
    assert!(
        matches!(
            &events[..],
            [Event::Closed(closed)] if matches!(
                closed.cause,
                CloseCause::ProtocolViolation(ProtocolError::InvalidUtf8)
            )
        ),
        "{events:?}"
    );
}

#[test]
fn invalid_utf8_in_a_later_fragment_fails_before_the_final_fragment() {
    let mut server = server();
    let mut input = masked(0x01, "κόσμε".as_bytes());
    input.extend(masked(0x00, &[0xed, 0xa0, 0x80])); // a surrogate
    server.handle_input(Instant::now(), &input);
    assert_eq!(
        server
            .poll_event()
            .map(|e| matches!(e, Event::Closed(c) if c.code() == CloseCode::INVALID_PAYLOAD)),
        Some(true)
    );
}

#[test]
fn a_huge_frame_is_refused_from_its_header_alone() {
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    header.extend_from_slice(&KEY);
    let error = assert_fails_with(&header, CloseCode::MESSAGE_TOO_BIG);
    assert!(matches!(error, ProtocolError::Frame(_)));
}

#[test]
fn many_small_fragments_over_the_message_limit_fail_with_1009() {
    let config = Config::default().max_message_size(1000);
    let mut server = Connection::new(Role::Server, config, Instant::now());
    let mut input = masked(0x02, &[1; 100]);
    for _ in 0..20 {
        input.extend(masked(0x00, &[1; 100]));
    }
    server.handle_input(Instant::now(), &input);
    let events = events(&mut server);
    assert!(
        matches!(
            &events[..],
            [Event::Closed(closed)] if matches!(
                closed.cause,
                CloseCause::ProtocolViolation(ProtocolError::MessageTooLarge {
                    size: 1000..,
                    max: 1000
                })
            )
        ),
        "{events:?}"
    );
    assert!(server.pending_input() == 0, "buffered input is dropped");
}

#[test]
fn peer_initiated_close_is_echoed_and_the_server_finishes_at_once() {
    let mut server = server();
    let mut input = masked(0x81, b"last");
    input.extend(masked(0x88, &[0x03, 0xe8, b'b', b'y', b'e']));
    input.extend(masked(0x81, b"after close")); // ignored
    server.handle_input(Instant::now(), &input);
    let events = events(&mut server);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0], Event::Message(Message::Text("last".into())));
    let Event::Closed(closed) = &events[1] else {
        panic!()
    };
    assert_eq!(closed.cause, CloseCause::PeerClose);
    assert_eq!(
        closed.received,
        Some(CloseFrame {
            code: CloseCode::NORMAL,
            reason: "bye".into()
        })
    );
    assert_eq!(transmit(&mut server), [0x88, 0x02, 0x03, 0xe8]);
    assert_eq!(server.send(Outgoing::Text("no")), Err(SendError::Closed));
    server.handle_input(Instant::now(), &masked(0x81, b"more"));
    assert_eq!(server.poll_event(), None);
}

#[test]
fn empty_close_is_answered_with_empty_close() {
    let mut server = server();
    server.handle_input(Instant::now(), &masked(0x88, b""));
    let events = events(&mut server);
    assert!(
        matches!(&events[..], [Event::Closed(c)] if c.code() == CloseCode::NO_STATUS && c.is_clean())
    );
    assert_eq!(transmit(&mut server), [0x88, 0x00]);
}

#[test]
fn close_handshake_started_by_the_server() {
    let mut pair = Pair::without_timers();
    pair.server
        .conn
        .close(pair.now, CloseCode::GOING_AWAY, "restart")
        .unwrap();
    assert_eq!(pair.server.conn.state(), State::Closing);
    pair.drive();
    let server = pair.server.closed().unwrap();
    assert_eq!(server.cause, CloseCause::LocalClose);
    assert_eq!(server.code(), CloseCode::GOING_AWAY);
    let client = pair.client.closed().unwrap();
    assert_eq!(client.cause, CloseCause::PeerClose);
    assert_eq!(client.received.as_ref().unwrap().reason, "restart");
    assert!(
        pair.client.saw_eof,
        "the client finished only after the server closed the transport"
    );
}

#[test]
fn client_waits_for_the_servers_eof_within_the_close_timeout() {
    let now = Instant::now();
    let mut client = Connection::new(Role::Client { mask_seed: [3; 32] }, Config::default(), now);
    client.close(now, CloseCode::NORMAL, "").unwrap();
    client.handle_input(now, &[0x88, 0x02, 0x03, 0xe8]);
    assert_eq!(client.poll_event(), None);
    assert_eq!(client.state(), State::AwaitingEof);
    assert_eq!(client.poll_timeout(), Some(now + Duration::from_secs(5)));
    client.handle_timeout(now + Duration::from_secs(4));
    assert_eq!(client.poll_event(), None);
    client.handle_timeout(now + Duration::from_secs(5));
    let Some(Event::Closed(closed)) = client.poll_event() else {
        panic!()
    };
    assert_eq!(closed.cause, CloseCause::LocalClose);
}

#[test]
fn close_handshake_times_out_when_the_peer_never_answers() {
    let mut pair = Pair::without_timers();
    pair.client
        .conn
        .close(pair.now, CloseCode::NORMAL, "")
        .unwrap();
    // The server never gets to answer: its transport is never driven.
    let deadline = pair.client.conn.poll_timeout().unwrap();
    assert_eq!(deadline, pair.now + Duration::from_secs(5));
    pair.client.conn.handle_timeout(deadline);
    let Some(Event::Closed(closed)) = pair.client.conn.poll_event() else {
        panic!()
    };
    assert_eq!(
        closed.cause,
        CloseCause::Timeout(TimeoutKind::CloseHandshake)
    );
    assert!(!closed.is_clean());
}

#[test]
fn keep_alive_pings_keep_a_responsive_peer_alive() {
    let config = Config::default(); // ping every 54 s, pong wait 60 s
    let mut pair = Pair::new(Config::default().ping_period(None).pong_wait(None), config);
    pair.advance(Duration::from_secs(600));
    let pings = pair
        .client
        .events
        .iter()
        .filter(|e| matches!(e, Event::Ping(_)))
        .count();
    let pongs = pair
        .server
        .events
        .iter()
        .filter(|e| matches!(e, Event::Pong(_)))
        .count();
    assert_eq!(pings, 11, "one ping every 54 s for 600 s");
    assert_eq!(pongs, 11);
    assert_eq!(pair.server.conn.state(), State::Open);
}

#[test]
fn pong_wait_expiry_closes_a_silent_peer() {
    let now = Instant::now();
    let mut server = Connection::new(Role::Server, Config::default(), now);
    assert_eq!(server.poll_timeout(), Some(now + Duration::from_secs(54)));
    server.handle_timeout(now + Duration::from_secs(54));
    assert_eq!(transmit(&mut server), [0x89, 0x00], "keep-alive ping");
    assert_eq!(server.poll_timeout(), Some(now + Duration::from_secs(60)));
    server.handle_timeout(now + Duration::from_secs(59));
    assert_eq!(server.poll_event(), None);
    server.handle_timeout(now + Duration::from_secs(60));
    let Some(Event::Closed(closed)) = server.poll_event() else {
        panic!()
    };
    assert_eq!(closed.cause, CloseCause::Timeout(TimeoutKind::PongWait));
    assert_eq!(closed.code(), CloseCode::ABNORMAL);
    assert_eq!(server.poll_timeout(), None);
}

#[test]
fn idle_timeout_starts_the_close_handshake() {
    let config = Config::default().idle_timeout(Some(Duration::from_secs(30)));
    let no_timers = Config::default().ping_period(None).pong_wait(None);
    let mut pair = Pair::new(no_timers, config);
    pair.advance(Duration::from_secs(20));
    pair.client.conn.send(Outgoing::Text("still here")).unwrap();
    pair.drive();
    pair.advance(Duration::from_secs(29));
    assert_eq!(
        pair.server.conn.state(),
        State::Open,
        "the message reset the idle timer"
    );
    pair.advance(Duration::from_secs(2));
    let closed = pair.server.closed().expect("server closed");
    assert_eq!(closed.cause, CloseCause::LocalClose);
    assert_eq!(closed.sent.as_ref().unwrap().code, CloseCode::GOING_AWAY);
}

#[test]
fn eof_without_close_is_abnormal_but_delivers_what_arrived() {
    let mut server = server();
    let mut input = masked(0x82, b"ab");
    input.extend(&masked(0x82, b"cd")[..4]);
    server.handle_input(Instant::now(), &input);
    server.handle_eof(Instant::now());
    let events = events(&mut server);
    assert_eq!(
        events[0],
        Event::Message(Message::Binary(Bytes::from_static(b"ab")))
    );
    let Event::Closed(closed) = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(closed.cause, CloseCause::Eof);
    assert_eq!(closed.code(), CloseCode::ABNORMAL);
}

#[test]
fn local_misuse_is_refused_without_queuing() {
    let mut server = server();
    assert_eq!(
        server.send(Outgoing::Ping(&[0; 126])),
        Err(SendError::ControlPayloadTooLong(126))
    );
    assert_eq!(
        server.close(Instant::now(), CloseCode::NO_STATUS, ""),
        Err(SendError::InvalidCloseCode(1005))
    );
    assert_eq!(
        server.close(Instant::now(), CloseCode::NORMAL, &"x".repeat(124)),
        Err(SendError::CloseReasonTooLong(124))
    );
    assert_eq!(server.pending_transmit(), 0);
    server
        .close(Instant::now(), CloseCode::NORMAL, &"x".repeat(123))
        .unwrap();
    assert_eq!(
        server.close(Instant::now(), CloseCode::NORMAL, ""),
        Err(SendError::Closed)
    );
    assert_eq!(
        server.send(Outgoing::Binary(b"late")),
        Err(SendError::Closed)
    );
}

#[test]
fn large_messages_are_fragmented_when_configured() {
    let config = Config::default()
        .max_outgoing_frame_size(Some(1000))
        .ping_period(None)
        .pong_wait(None);
    let mut pair = Pair::new(config, Config::default().ping_period(None).pong_wait(None));
    let text = "é".repeat(1500); // 3000 bytes: a code point straddles each frame boundary
    pair.client.conn.send(Outgoing::Text(&text)).unwrap();
    let mut wire = Vec::new();
    let _ = pair.client.conn.poll_transmit(&mut wire);
    assert_eq!(wire[0], 0x01, "first frame: text, not final");
    assert_eq!(wire.len(), 3 * (2 + 2 + 4 + 1000));
    pair.server.conn.handle_input(pair.now, &wire);
    assert_eq!(
        pair.server.conn.poll_event(),
        Some(Event::Message(Message::Text(text.into())))
    );
}

#[test]
fn poll_transmit_appends_to_a_non_empty_buffer() {
    let mut server = server();
    server.send(Outgoing::Binary(b"x")).unwrap();
    let mut out = vec![9];
    assert_eq!(server.poll_transmit(&mut out), 3);
    assert_eq!(out, [9, 0x82, 0x01, b'x']);
    assert_eq!(server.poll_transmit(&mut out), 0);
}

#[test]
fn zero_timer_durations_disable_the_timers() {
    let now = Instant::now();
    let config = Config::default()
        .ping_period(Some(Duration::ZERO))
        .pong_wait(Some(Duration::ZERO))
        .idle_timeout(Some(Duration::ZERO));
    let mut server = Connection::new(Role::Server, config, now);
    assert_eq!(server.poll_timeout(), None, "nothing is due forever");
    server.handle_timeout(now);
    assert_eq!(server.state(), State::Open);
    assert!(transmit(&mut server).is_empty());
}

/// `send_message` puts the same bytes on the wire as `send`, and queues a
/// large payload of a server connection without copying it.
#[test]
fn send_message_matches_send_and_shares_large_payloads() {
    use tidings_core::frame::{FrameHeader, OpCode};
    use tidings_core::ws::{Utf8Bytes, ZERO_COPY_MIN};

    // What a frame of `payload` is, by the header encoder: one final
    // frame, or `max`-byte fragments.
    let expected = |opcode: OpCode, payload: &[u8], max: Option<usize>| {
        let mut out = Vec::new();
        let chunks: Vec<&[u8]> = match max {
            Some(max) if payload.len() > max => payload.chunks(max).collect(),
            _ => vec![payload],
        };
        for (i, chunk) in chunks.iter().enumerate() {
            FrameHeader {
                fin: i + 1 == chunks.len(),
                rsv: 0,
                opcode: if i == 0 { opcode } else { OpCode::Continuation },
                mask: None,
                payload_len: chunk.len() as u64,
            }
            .encode_into(&mut out);
            out.extend_from_slice(chunk);
        }
        out
    };

    let now = Instant::now();
    let wire = |conn: &mut Connection| {
        let mut out = Vec::new();
        let _ = conn.poll_transmit(&mut out);
        out
    };
    let fragmented = Config::default().max_outgoing_frame_size(Some(1000));
    for (config, max) in [(Config::default(), None), (fragmented, Some(1000))] {
        for size in [
            0,
            16,
            125,
            126,
            1000,
            1001,
            ZERO_COPY_MIN - 1,
            ZERO_COPY_MIN,
            70_000,
        ] {
            let text = "x".repeat(size);
            let messages = [
                Message::Binary(Bytes::from(vec![7u8; size])),
                Message::Text(Utf8Bytes::try_from_bytes(Bytes::from(text)).expect("UTF-8")),
            ];
            for message in messages {
                let mut by_send = Connection::new(Role::Server, config.clone(), now);
                by_send.send(Outgoing::from(&message)).expect("send");
                let mut by_message = Connection::new(Role::Server, config.clone(), now);
                by_message.send_message(&message).expect("send_message");
                assert_eq!(by_message.pending_transmit(), by_send.pending_transmit());
                let sent = wire(&mut by_send);
                assert_eq!(wire(&mut by_message), sent, "{size} B");
                let opcode = match message {
                    Message::Text(_) => OpCode::Text,
                    Message::Binary(_) => OpCode::Binary,
                };
                assert_eq!(sent, expected(opcode, message.as_bytes(), max), "{size} B");
            }
        }
    }

    // The payload's own bytes are what goes out, after a header chunk.
    let payload = Bytes::from(vec![1u8; ZERO_COPY_MIN]);
    let mut conn = Connection::new(Role::Server, Config::default(), now);
    conn.send_message(&Message::Binary(payload.clone()))
        .expect("send_message");
    let header = conn.poll_transmit_chunk().expect("the header");
    assert_eq!(header.as_ref(), [0x82, 126, 0x10, 0x00]);
    let body = conn.poll_transmit_chunk().expect("the payload");
    assert_eq!(body.as_ptr(), payload.as_ptr());
    assert!(conn.poll_transmit_chunk().is_none());
}

/// Feeds `wire` to `conn` the way the pump does: a first `handle_input` of
/// `first` bytes, then reads into [`Connection::input_buffer`] sized by
/// `input_wanted` (plus `extra`), each delivering at most `chunk` bytes
/// (plain `handle_input` reads while no frame is in progress).
fn feed_direct(conn: &mut Connection, wire: &[u8], first: usize, chunk: usize, extra: usize) {
    let now = Instant::now();
    let (head, mut rest) = wire.split_at(first.min(wire.len()));
    conn.handle_input(now, head);
    while !rest.is_empty() {
        // The protocol learns the frame's length once it parses the header.
        let mut parsed = Vec::new();
        while let Some(event) = conn.poll_event() {
            parsed.push(event);
        }
        assert!(parsed.is_empty(), "no event before the frame is complete");
        let wanted = conn.input_wanted();
        if wanted == 0 {
            // Between frames (or within a header): a plain read.
            let n = chunk.min(rest.len());
            conn.handle_input(now, &rest[..n]);
            rest = &rest[n..];
            continue;
        }
        let mut buf = conn.input_buffer(wanted + extra);
        let n = chunk.min(buf.len()).min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        buf.filled(now, n);
        rest = &rest[n..];
    }
}

#[test]
fn reading_into_the_input_buffer_gives_the_same_message_as_handle_input() {
    let payload: Vec<u8> = (0..70_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let wire = masked(0x81, &payload);
    for (first, chunk, extra) in [(4096, usize::MAX, 4096), (10, 1000, 0), (4096, 7, 3)] {
        let mut conn = server();
        feed_direct(&mut conn, &wire, first, chunk, extra);
        match events(&mut conn).as_slice() {
            [Event::Message(Message::Text(text))] => {
                assert_eq!(
                    text.as_bytes(),
                    payload.as_slice(),
                    "first {first} chunk {chunk}"
                );
            }
            other => panic!("first {first} chunk {chunk}: {other:?}"),
        }
        assert_eq!(conn.pending_input(), 0, "the unfilled room was given back");
    }
}

#[test]
fn input_wanted_grows_the_buffer_no_faster_than_bytes_arrive() {
    // A header announcing 16 MiB, then nothing: the first read must not ask
    // for 16 MiB of room.
    let mut conn = Connection::new(
        Role::Server,
        Config::default().max_message_size(32 << 20),
        Instant::now(),
    );
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(16u64 << 20).to_be_bytes());
    header.extend_from_slice(&KEY);
    header.extend_from_slice(&[0; 100]);
    conn.handle_input(Instant::now(), &header);
    assert!(conn.poll_event().is_none());
    let first = conn.input_wanted();
    assert!(first <= 4096, "asked for {first} bytes after 100 arrived");
    // Each filled read may at most double what is held.
    let mut held = conn.pending_input();
    for _ in 0..6 {
        let wanted = conn.input_wanted();
        assert!(
            wanted <= held.max(first) * 2,
            "wanted {wanted} holding {held}"
        );
        let buf = conn.input_buffer(wanted);
        let n = buf.len();
        buf.filled(Instant::now(), n);
        assert!(conn.poll_event().is_none());
        held = conn.pending_input();
    }
}

#[test]
fn an_input_buffer_dropped_unfilled_adds_nothing() {
    let mut conn = server();
    let wire = masked(0x82, &[7; 300]);
    conn.handle_input(Instant::now(), &wire[..50]);
    assert!(conn.poll_event().is_none());
    let before = conn.pending_input();
    drop(conn.input_buffer(1000));
    assert_eq!(conn.pending_input(), before);
    conn.handle_input(Instant::now(), &wire[50..]);
    assert!(
        matches!(events(&mut conn).as_slice(), [Event::Message(m)] if m.as_bytes() == [7; 300])
    );
}

#[test]
fn input_buffer_is_ignored_after_the_close_handshake() {
    let mut conn = server();
    conn.handle_input(Instant::now(), &masked(0x88, &1000u16.to_be_bytes()));
    let _ = events(&mut conn);
    assert_eq!(conn.state(), State::Closed);
    let mut buf = conn.input_buffer(10);
    buf[..2].copy_from_slice(&[0x81, 0x00]);
    buf.filled(Instant::now(), 2);
    assert_eq!(conn.pending_input(), 0);
}

/// Feeds `wire` the way the pump does, collecting events as they come: a
/// plain read (`handle_input`, at most 4 KiB) unless the frame being
/// received wants more, then a read into `input_buffer` with `extra` more
/// room than wanted (also while a large frame is expected, after a read
/// that would have blocked: a room dropped unfilled); every read delivers
/// at most `chunk` bytes.
fn pump_like(conn: &mut Connection, wire: &[u8], chunk: usize, extra: usize) -> Vec<Event> {
    let now = Instant::now();
    let mut rest = wire;
    let mut out = Vec::new();
    while !rest.is_empty() {
        out.extend(events(conn));
        let wanted = conn.input_wanted();
        let expected = conn.expects_large_frame();
        if expected {
            drop(conn.input_buffer(4096));
            assert!(
                conn.expects_large_frame(),
                "a read that blocked changes nothing"
            );
        }
        let n = if wanted <= 4096 && !expected {
            let n = chunk.min(rest.len()).min(4096);
            conn.handle_input(now, &rest[..n]);
            n
        } else {
            let mut buf = conn.input_buffer(wanted.max(4096) + extra);
            let n = chunk.min(buf.len()).min(rest.len());
            buf[..n].copy_from_slice(&rest[..n]);
            buf.filled(now, n);
            n
        };
        rest = &rest[n..];
    }
    out.extend(events(conn));
    out
}

fn letters(len: usize, first: u8) -> Vec<u8> {
    (0..len).map(|i| first + (i % 26) as u8 - b'a').collect()
}

#[test]
fn large_frames_received_apart_keep_their_bytes_and_what_follows_them() {
    // Large frames (received into buffers of their own) between small
    // ones, every read possibly running past a frame's end.
    let large_text = letters(70_000, b'a');
    let large_binary: Vec<u8> = (0..20_000u32).map(|i| (i * 7) as u8).collect();
    let mut wire = masked(0x81, &large_text);
    wire.extend(masked(0x82, &large_binary));
    wire.extend(masked(0x81, b"small"));
    wire.extend(masked(0x82, &large_binary));
    for (chunk, extra) in [
        (usize::MAX, 4096),
        (4096, 4096),
        (1000, 0),
        (65_536, 100),
        (7, 3),
    ] {
        let mut conn = server();
        let events = pump_like(&mut conn, &wire, chunk, extra);
        let payloads: Vec<&[u8]> = events
            .iter()
            .map(|event| match event {
                Event::Message(message) => message.as_bytes(),
                other => panic!("chunk {chunk}: {other:?}"),
            })
            .collect();
        assert_eq!(
            payloads,
            [&large_text[..], &large_binary, b"small", &large_binary],
            "chunk {chunk} extra {extra}"
        );
        assert!(matches!(&events[0], Event::Message(Message::Text(_))));
        assert!(matches!(&events[1], Event::Message(Message::Binary(_))));
        assert_eq!(conn.pending_input(), 0, "chunk {chunk} extra {extra}");
    }
}

#[test]
fn what_follows_a_large_frame_is_parsed_as_from_handle_input() {
    // After a large frame the next read goes into a recycled buffer (a
    // large frame is expected): a large frame, a small one, a ping, a
    // header the checks refuse (RSV2 set) or one cut short must give the
    // same events as the same bytes fed through `handle_input`.
    let large = letters(40_000, b'a');
    let mut refused = masked(0x82, &large);
    refused[0] |= 0x20;
    let tails: [(&str, Vec<u8>); 5] = [
        ("large", masked(0x82, &large)),
        ("small", masked(0x81, b"small")),
        ("ping", masked(0x89, b"p")),
        ("refused", refused),
        ("cut", masked(0x82, &large)[..3].to_vec()),
    ];
    for (name, tail) in tails {
        let head = masked(0x82, &large);
        let mut wire = head.clone();
        wire.extend_from_slice(&tail);
        for chunk in [usize::MAX, 4096, 5] {
            // The tail arrives apart: its first read is the expected one.
            let mut direct = server();
            let mut got = pump_like(&mut direct, &head, chunk, 4096);
            assert!(direct.expects_large_frame(), "{name} chunk {chunk}");
            got.extend(pump_like(&mut direct, &tail, chunk, 4096));
            let mut plain = server();
            plain.handle_input(Instant::now(), &wire);
            let want = events(&mut plain);
            assert_eq!(
                format!("{got:?}"),
                format!("{want:?}"),
                "{name} chunk {chunk}"
            );
            assert_eq!(
                direct.pending_input(),
                plain.pending_input(),
                "{name} chunk {chunk}"
            );
        }
    }
}

#[test]
fn a_recycled_buffer_never_shows_an_earlier_message() {
    let mut conn = server();
    for (len, first) in [
        (60_000, b'a'),
        (30_000, b'n'),
        (45_000, b'c'),
        (60_000, b'x'),
    ] {
        let payload = letters(len, first);
        let events = pump_like(&mut conn, &masked(0x82, &payload), 4096, 4096);
        match events.as_slice() {
            [Event::Message(message)] => assert!(message.as_bytes() == payload, "len {len}"),
            other => panic!("{other:?}"),
        }
        // Dropped here: the next message may reuse its buffer.
    }
}

#[test]
fn a_held_large_message_is_not_overwritten_by_the_next() {
    let mut conn = server();
    let first = letters(50_000, b'a');
    let second = letters(50_000, b'k');
    let held = pump_like(&mut conn, &masked(0x82, &first), 4096, 4096);
    let next = pump_like(&mut conn, &masked(0x82, &second), 4096, 4096);
    assert!(matches!(held.as_slice(), [Event::Message(m)] if m.as_bytes() == first));
    assert!(matches!(next.as_slice(), [Event::Message(m)] if m.as_bytes() == second));
}

#[test]
fn invalid_utf8_in_a_large_frame_fails_before_the_frame_is_complete() {
    let mut payload = letters(200_000, b'a');
    payload[30_000] = 0xff;
    let wire = masked(0x81, &payload);
    let mut conn = server();
    // Only the first 64 KiB arrive: the error is found in them.
    let events = pump_like(&mut conn, &wire[..65_536], 4096, 4096);
    assert!(
        matches!(
            events.as_slice(),
            [Event::Closed(closed)] if matches!(
                closed.cause,
                CloseCause::ProtocolViolation(ProtocolError::InvalidUtf8)
            )
        ),
        "{events:?}"
    );
}
