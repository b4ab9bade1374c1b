//! permessage-deflate through a client and a server `ws::Connection`: RSV1
//! placement, protocol errors, the inflation bomb with 1009, UTF-8 after
//! inflating, shared payloads, and round trips with any parameters.

// The core is sans-IO (core/clippy.toml disallows the clock); a test reads
// the clock only for a starting `now`; the core itself is handed every
// instant.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use proptest::prelude::*;

use tidings_core::close::CloseCode;
use tidings_core::deflate::*;
use tidings_core::frame::{FrameHeader, OpCode, RSV1};
use tidings_core::fuzzing;
use tidings_core::ws::{
    CloseCause, Config, Connection, Event, Message, Outgoing, ProtocolError, Role,
};

// ---- through ws::Connection ---------------------------------------------

fn pair(now: Instant, params: DeflateParams, config: DeflateConfig) -> (Connection, Connection) {
    let ws = Config::default().deflate(Some(config));
    let client = Connection::new(Role::Client { mask_seed: [9; 32] }, ws.clone(), now)
        .with_deflate(Some(params));
    let server = Connection::new(Role::Server, ws, now).with_deflate(Some(params));
    (client, server)
}

fn transfer(from: &mut Connection, to: &mut Connection, now: Instant) -> Vec<Event> {
    let mut wire = Vec::new();
    let _ = from.poll_transmit(&mut wire);
    to.handle_input(now, &wire);
    std::iter::from_fn(|| to.poll_event()).collect()
}

/// A masked client frame with the given first byte bits and payload.
fn client_frame(fin: bool, rsv: u8, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let key = [1, 2, 3, 4];
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask: Some(key),
        payload_len: payload.len() as u64,
    };
    let mut out = Vec::new();
    header.encode_into(&mut out);
    let start = out.len();
    out.extend_from_slice(payload);
    tidings_core::frame::apply_mask(&mut out[start..], key, 0);
    out
}

fn violation(events: &[Event]) -> Option<(CloseCode, ProtocolError)> {
    events.iter().find_map(|event| match event {
        Event::Closed(closed) => match &closed.cause {
            CloseCause::ProtocolViolation(error) => Some((error.close_code(), error.clone())),
            _ => None,
        },
        _ => None,
    })
}

#[test]
fn compressed_messages_flow_both_ways_with_rsv1_on_the_first_frame_only() {
    let now = Instant::now();
    let config = DeflateConfig::default().threshold(10);
    let (mut client, mut server) = pair(now, DeflateParams::default(), config);
    let text = "compress me, compress me, compress me, compress me".repeat(4);
    client.send(Outgoing::Text(&text)).unwrap();
    client.send(Outgoing::Text("short")).unwrap();
    let mut wire = Vec::new();
    let _ = client.poll_transmit(&mut wire);
    assert_eq!(wire[0] & 0x70, 0x40, "RSV1 on the compressed message");
    assert!(wire.len() < text.len() / 2);
    server.handle_input(now, &wire);
    let events: Vec<_> = std::iter::from_fn(|| server.poll_event()).collect();
    assert_eq!(
        events,
        [
            Event::Message(Message::Text(text.as_str().into())),
            Event::Message(Message::Text("short".into())),
        ]
    );
    server.send(Outgoing::Binary(&[7; 300])).unwrap();
    assert_eq!(
        transfer(&mut server, &mut client, now),
        [Event::Message(Message::Binary(vec![7; 300].into()))]
    );
    // Fragmented: RSV1 only on the first frame, none on control frames.
    let mut server = Connection::new(
        Role::Server,
        Config::default()
            .max_outgoing_frame_size(Some(8))
            .deflate(Some(DeflateConfig::default().threshold(0))),
        now,
    )
    .with_deflate(Some(DeflateParams::default()));
    server.send(Outgoing::Text(&text)).unwrap();
    server.send(Outgoing::Ping(b"p")).unwrap();
    let mut wire = Vec::new();
    let _ = server.poll_transmit(&mut wire);
    let rules = tidings_core::frame::DecodeRules {
        allowed_rsv: RSV1,
        mask: tidings_core::frame::MaskRule::Any,
        max_payload: 1 << 20,
    };
    let mut rest = &wire[..];
    let mut rsv = Vec::new();
    while let Some((header, len)) = FrameHeader::decode(rest, &rules).unwrap() {
        rsv.push((header.opcode, header.rsv));
        rest = &rest[len + header.payload_len as usize..];
    }
    assert!(rsv.len() > 3);
    assert_eq!(rsv[0], (OpCode::Text, RSV1));
    assert!(rsv[1..].iter().all(|&(_, bits)| bits == 0), "{rsv:?}");
    assert_eq!(rsv.last().unwrap().0, OpCode::Ping);
    client.handle_input(now, &wire);
    assert_eq!(
        client.poll_event(),
        Some(Event::Message(Message::Text(text.as_str().into())))
    );
}

#[test]
fn rsv1_is_a_protocol_error_unless_negotiated_and_on_a_first_data_frame() {
    let now = Instant::now();
    let compressed = fuzzing::deflate_raw(b"hello");
    let cases: [(bool, Vec<u8>); 4] = [
        (false, client_frame(true, RSV1, OpCode::Text, &compressed)),
        (true, client_frame(true, RSV1, OpCode::Ping, b"")),
        (
            true,
            [
                client_frame(false, RSV1, OpCode::Text, &compressed),
                client_frame(true, RSV1, OpCode::Continuation, &[]),
            ]
            .concat(),
        ),
        (
            true,
            [
                client_frame(false, 0, OpCode::Text, b"a"),
                client_frame(true, RSV1, OpCode::Continuation, &compressed),
            ]
            .concat(),
        ),
    ];
    for (negotiated, input) in cases {
        let mut server = Connection::new(Role::Server, Config::default(), now)
            .with_deflate(negotiated.then(DeflateParams::default));
        server.handle_input(now, &input);
        let events: Vec<_> = std::iter::from_fn(|| server.poll_event()).collect();
        let (code, _) = violation(&events).unwrap_or_else(|| panic!("{events:?}"));
        assert_eq!(code, CloseCode::PROTOCOL_ERROR);
    }
}

#[test]
fn inflation_bomb_is_stopped_with_1009() {
    let now = Instant::now();
    // Above the bomb's compressed size (about 1 MiB), far below its 1 GiB.
    let limit = 4 << 20;
    let mut server = Connection::new(Role::Server, Config::default().max_message_size(limit), now)
        .with_deflate(Some(DeflateParams::default()));
    let frame = client_frame(
        true,
        RSV1,
        OpCode::Binary,
        &fuzzing::deflate_zero_bomb(1024),
    );
    server.handle_input(now, &frame);
    let events: Vec<_> = std::iter::from_fn(|| server.poll_event()).collect();
    let (code, error) = violation(&events).unwrap();
    assert_eq!(code, CloseCode::MESSAGE_TOO_BIG);
    assert_eq!(
        error,
        ProtocolError::MessageTooLarge {
            size: limit as u64 + 1,
            max: limit
        }
    );
}

#[test]
fn inflated_text_is_checked_as_utf8() {
    let now = Instant::now();
    let mut server = Connection::new(Role::Server, Config::default(), now)
        .with_deflate(Some(DeflateParams::default()));
    let frame = client_frame(true, RSV1, OpCode::Text, &fuzzing::deflate_raw(b"ok \xff"));
    server.handle_input(now, &frame);
    let events: Vec<_> = std::iter::from_fn(|| server.poll_event()).collect();
    assert_eq!(violation(&events).unwrap().1, ProtocolError::InvalidUtf8);
}

#[test]
fn shared_payloads_only_where_this_side_resets_its_compressor() {
    let now = Instant::now();
    let mut reset = DeflateParams::default();
    reset.server_no_context_takeover = true;
    reset.server_max_window_bits = 12;
    let server =
        |params| Connection::new(Role::Server, Config::default(), now).with_deflate(Some(params));
    assert!(server(reset).accepts_shared_compression(12));
    assert!(server(reset).accepts_shared_compression(9));
    assert!(!server(reset).accepts_shared_compression(13));
    assert!(!server(DeflateParams::default()).accepts_shared_compression(9));
    assert!(!Connection::new(Role::Server, Config::default(), now).accepts_shared_compression(9));
}

fn arb_params() -> impl Strategy<Value = DeflateParams> {
    (any::<bool>(), any::<bool>(), 8u8..=15, 8u8..=15).prop_map(|(snct, cnct, sbits, cbits)| {
        let mut params = DeflateParams::default();
        params.server_no_context_takeover = snct;
        params.client_no_context_takeover = cnct;
        params.server_max_window_bits = sbits;
        params.client_max_window_bits = cbits;
        params
    })
}

/// Chat-like or random messages: text from a small vocabulary, or bytes.
fn arb_message() -> impl Strategy<Value = (bool, Vec<u8>)> {
    prop_oneof![
        prop::collection::vec(
            prop::sample::select(vec!["hello ", "world ", "é ", "{\"a\":1} ", "€€ ", "x"]),
            0..200
        )
        .prop_map(|words| (true, words.concat().into_bytes())),
        prop::collection::vec(any::<u8>(), 0..2000).prop_map(|bytes| (false, bytes)),
        (0usize..3000).prop_map(|n| (false, vec![b'a'; n])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Messages sent both ways through compressing endpoints, with any
    /// parameters, fragment size and input chunking, arrive intact.
    #[test]
    fn round_trip_with_any_parameters(
        params in arb_params(),
        level in 0u32..=9,
        threshold in 0usize..100,
        frame_size in prop::option::of(1usize..300),
        chunk in 1usize..500,
        messages in prop::collection::vec(arb_message(), 1..12),
    ) {
        let now = Instant::now();
        let deflate = DeflateConfig::default().level(level).threshold(threshold);
        let ws = Config::default().max_outgoing_frame_size(frame_size).deflate(Some(deflate));
        let mut client = Connection::new(Role::Client { mask_seed: [3; 32] }, ws.clone(), now)
            .with_deflate(Some(params));
        let mut server = Connection::new(Role::Server, ws, now).with_deflate(Some(params));
        for client_sends in [true, false] {
            let (from, to) = if client_sends {
                (&mut client, &mut server)
            } else {
                (&mut server, &mut client)
            };
            let mut expected = Vec::new();
            for (text, bytes) in &messages {
                if *text {
                    let text = std::str::from_utf8(bytes).unwrap();
                    from.send(Outgoing::Text(text)).unwrap();
                    expected.push(Event::Message(Message::Text(text.into())));
                } else {
                    from.send(Outgoing::Binary(bytes)).unwrap();
                    expected.push(Event::Message(Message::Binary(bytes.clone().into())));
                }
            }
            let mut wire = Vec::new();
            let _ = from.poll_transmit(&mut wire);
            let mut events = Vec::new();
            for piece in wire.chunks(chunk) {
                to.handle_input(now, piece);
                events.extend(std::iter::from_fn(|| to.poll_event()));
            }
            prop_assert_eq!(events, expected);
        }
    }
}
