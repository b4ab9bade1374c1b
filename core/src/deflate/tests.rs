//! Negotiation tables, codec checks, the inflation bomb, and round trips of
//! compressed messages through a client and a server `ws::Connection`.

use std::time::Instant;

use flate2::{Compress, Compression};
use proptest::prelude::*;

use super::codec::Codec;
use super::*;
use crate::close::CloseCode;
use crate::frame::{FrameHeader, OpCode, RSV1};
use crate::ws::{CloseCause, Config, Connection, Event, Message, Outgoing, ProtocolError, Role};

fn parse(value: &str) -> Vec<Extension> {
    parse_extensions([value.as_bytes()]).unwrap()
}

/// The server's response to `offer` with `config`, or `None` if declined.
fn respond(config: &DeflateConfig, offer: &str) -> Option<String> {
    let offers = parse_extensions([offer.as_bytes()]).ok()?;
    accept_offers(config, &offers).map(|(_, response)| response)
}

#[test]
fn parser_reads_lists_params_and_quotes() {
    let list = parse(r#" a ; b ;c= "1" , , d;e=x"#);
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].name, "a");
    assert_eq!(
        list[0].params,
        [
            ("b".to_owned(), None),
            ("c".to_owned(), Some("1".to_owned()))
        ]
    );
    assert_eq!(list[1].params, [("e".to_owned(), Some("x".to_owned()))]);
    // Several header lines form one list.
    let list = parse_extensions([&b"a"[..], b"b; c"]).unwrap();
    assert_eq!(list.len(), 2);
    // A quoted comma is not a separator, but it is not a token either.
    assert!(parse_extensions([&br#"a; b="1,2""#[..]]).is_err());
    for bad in [
        "a;",
        "a; =1",
        "a b",
        ";a",
        "a; b=",
        "a; b=\"\"",
        "a; b=\"1",
        "a; b=\"1 2\"",
        "a; b=1 2",
        "a/b",
    ] {
        assert!(parse_extensions([bad.as_bytes()]).is_err(), "{bad:?}");
    }
    assert_eq!(parse_extensions([&b" , "[..]]).unwrap(), []);
}

#[test]
fn server_negotiation_table() {
    let default = DeflateConfig::default();
    let strict = DeflateConfig::default()
        .server_no_context_takeover(true)
        .client_no_context_takeover(true)
        .server_max_window_bits(10)
        .client_max_window_bits(11);
    let table: &[(&DeflateConfig, &str, Option<&str>)] = &[
        (&default, "permessage-deflate", Some("permessage-deflate")),
        (&default, "PerMessage-Deflate", Some("permessage-deflate")),
        (&default, "x-webkit-deflate-frame", None),
        (&default, "", None),
        (
            &default,
            "permessage-deflate; client_max_window_bits",
            Some("permessage-deflate"),
        ),
        (
            &default,
            "permessage-deflate; client_max_window_bits=9",
            Some("permessage-deflate; client_max_window_bits=9"),
        ),
        (
            &default,
            "permessage-deflate; server_max_window_bits=8",
            Some("permessage-deflate; server_max_window_bits=8"),
        ),
        (
            &default,
            "permessage-deflate; server_max_window_bits=\"12\"",
            Some("permessage-deflate; server_max_window_bits=12"),
        ),
        (
            &default,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ),
        // Declined: unknown, repeated, valued flags, missing or bad window bits.
        (&default, "permessage-deflate; foo", None),
        (
            &default,
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            None,
        ),
        (
            &default,
            "permessage-deflate; client_no_context_takeover=1",
            None,
        ),
        (&default, "permessage-deflate; server_max_window_bits", None),
        (
            &default,
            "permessage-deflate; server_max_window_bits=7",
            None,
        ),
        (
            &default,
            "permessage-deflate; server_max_window_bits=16",
            None,
        ),
        (
            &default,
            "permessage-deflate; server_max_window_bits=010",
            None,
        ),
        (
            &default,
            "permessage-deflate; client_max_window_bits=0x9",
            None,
        ),
        (
            &default,
            "permessage-deflate; client_max_window_bits=9; client_max_window_bits=9",
            None,
        ),
        // The first acceptable offer wins.
        (
            &default,
            "permessage-deflate; foo, permessage-deflate; server_max_window_bits=9, permessage-deflate",
            Some("permessage-deflate; server_max_window_bits=9"),
        ),
        (
            &default,
            "x-foo, permessage-deflate; client_max_window_bits=10",
            Some("permessage-deflate; client_max_window_bits=10"),
        ),
        // A server config that requires parameters adds them.
        (
            &strict,
            "permessage-deflate",
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10",
            ),
        ),
        (
            &strict,
            "permessage-deflate; client_max_window_bits; server_max_window_bits=12",
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11",
            ),
        ),
        (
            &strict,
            "permessage-deflate; client_max_window_bits=9; server_max_window_bits=8",
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=9",
            ),
        ),
    ];
    for (config, offer, expected) in table {
        assert_eq!(
            respond(config, offer).as_deref(),
            *expected,
            "offer {offer:?}"
        );
    }
}

#[test]
fn server_params_follow_the_response() {
    let offers = parse("permessage-deflate; client_max_window_bits=9; server_max_window_bits=12");
    let (params, _) = accept_offers(&DeflateConfig::default(), &offers).unwrap();
    assert_eq!(params.client_max_window_bits, 9);
    assert_eq!(params.server_max_window_bits, 12);
    let offers = parse("permessage-deflate");
    let config = DeflateConfig::default().client_max_window_bits(9);
    let (params, response) = accept_offers(&config, &offers).unwrap();
    // Without the client's `client_max_window_bits`, it cannot be limited.
    assert_eq!(params.client_max_window_bits, 15);
    assert_eq!(response, "permessage-deflate");
}

#[test]
fn client_offer_and_response_table() {
    let default = DeflateConfig::default();
    let asking = DeflateConfig::default()
        .server_no_context_takeover(true)
        .client_no_context_takeover(true)
        .server_max_window_bits(10)
        .client_max_window_bits(12);
    assert_eq!(
        client_offer(&asking),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12"
    );
    let verify = |config: &DeflateConfig, response: &str| {
        let list = parse_extensions([response.as_bytes()]).map_err(|_| ())?;
        verify_response(config, &list)
    };
    assert_eq!(verify(&default, ""), Ok(None));
    assert_eq!(
        verify(&default, "permessage-deflate"),
        Ok(Some(DeflateParams::default()))
    );
    let params = verify(
        &default,
        "permessage-deflate; client_max_window_bits=8; server_max_window_bits=9; client_no_context_takeover",
    )
    .unwrap()
    .unwrap();
    assert_eq!(params.client_max_window_bits, 8);
    assert_eq!(params.server_max_window_bits, 9);
    assert!(params.client_no_context_takeover);
    for bad in [
        "x-foo",
        "permessage-deflate, permessage-deflate",
        "permessage-deflate; foo",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate;",
    ] {
        assert_eq!(verify(&default, bad), Err(()), "{bad:?}");
    }
    // What the offer asked for must be honoured.
    assert_eq!(
        verify(&asking, "permessage-deflate; server_no_context_takeover"),
        Err(()),
        "server_max_window_bits=10 was requested"
    );
    assert_eq!(
        verify(&asking, "permessage-deflate; server_max_window_bits=10"),
        Err(()),
        "server_no_context_takeover was requested"
    );
    assert_eq!(
        verify(
            &asking,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=11"
        ),
        Err(())
    );
    assert_eq!(
        verify(
            &asking,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=13"
        ),
        Err(())
    );
    let params = verify(
        &asking,
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=9",
    )
    .unwrap()
    .unwrap();
    assert!(params.client_no_context_takeover, "the client announced it");
    assert_eq!(params.client_max_window_bits, 12);
}

/// Raw DEFLATE of `data` with a sync flush, tail stripped (a peer's message).
fn deflate_raw(data: &[u8]) -> Vec<u8> {
    let mut shared = SharedCompressor::new(15, 1);
    shared.compress(data).unwrap()
}

#[test]
fn shared_compressor_output_inflates_on_a_codec_and_strips_the_tail() {
    let message = b"the quick brown fox jumps over the lazy dog; the quick brown fox".repeat(20);
    let mut shared = SharedCompressor::new(10, 6);
    let payload = shared.compress(&message).unwrap();
    assert!(!payload.ends_with(&[0, 0, 0xff, 0xff]));
    assert!(payload.len() < message.len() / 4);
    // The same bytes again: nothing was carried over from the first message.
    assert_eq!(shared.compress(&message).unwrap(), payload);
    for bits in [10, 15] {
        let params = DeflateParams {
            server_max_window_bits: bits,
            ..DeflateParams::default()
        };
        let mut client = Codec::new(params, &DeflateConfig::default(), false);
        let mut out = Vec::new();
        client.inflate(&payload, true, &mut out, 1 << 20).unwrap();
        assert_eq!(out, message);
    }
}

/// A compressed stream that inflates to `mib` MiB of zeros: the sync-flushed
/// compression of 1 MiB of zeros, repeated (each piece ends byte-aligned
/// with an empty stored block, so the concatenation is one valid stream).
fn zero_bomb(mib: usize) -> Vec<u8> {
    let mut compress = Compress::new_with_window_bits(Compression::best(), false, 15);
    let mut piece = Vec::with_capacity(4096);
    compress
        .compress_vec(&vec![0; 1 << 20], &mut piece, flate2::FlushCompress::Sync)
        .unwrap();
    assert!(piece.ends_with(&[0, 0, 0xff, 0xff]) && piece.len() < 2048);
    piece.repeat(mib)
}

#[test]
fn codec_inflation_stops_at_the_limit_without_a_large_buffer() {
    let bomb = zero_bomb(1024); // 1 GiB once inflated
    assert!(bomb.len() < (1 << 20) + (1 << 19), "{} bytes", bomb.len());
    let mut codec = Codec::new(DeflateParams::default(), &DeflateConfig::default(), true);
    let mut out = Vec::new();
    let limit = 1 << 20;
    assert_eq!(
        codec.inflate(&bomb, true, &mut out, limit),
        Err(InflateError::TooLarge { size: limit + 1 })
    );
    assert!(out.capacity() <= limit + 1, "capacity {}", out.capacity());
    // The codec is usable again afterwards.
    let mut out = Vec::new();
    codec
        .inflate(&deflate_raw(b"hello"), true, &mut out, limit)
        .unwrap();
    assert_eq!(out, b"hello");
}

#[test]
fn codec_rejects_corrupt_data() {
    let mut codec = Codec::new(DeflateParams::default(), &DeflateConfig::default(), true);
    let mut out = Vec::new();
    // Block type 3 is reserved.
    assert_eq!(
        codec.inflate(&[0xff, 0xff, 0xff], true, &mut out, 1 << 20),
        Err(InflateError::Corrupt)
    );
}

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
    crate::frame::apply_mask(&mut out[start..], key, 0);
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
    let rules = crate::frame::DecodeRules {
        allowed_rsv: RSV1,
        mask: crate::frame::MaskRule::Any,
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
    let compressed = deflate_raw(b"hello");
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
    let frame = client_frame(true, RSV1, OpCode::Binary, &zero_bomb(1024));
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
    let frame = client_frame(true, RSV1, OpCode::Text, &deflate_raw(b"ok \xff"));
    server.handle_input(now, &frame);
    let events: Vec<_> = std::iter::from_fn(|| server.poll_event()).collect();
    assert_eq!(violation(&events).unwrap().1, ProtocolError::InvalidUtf8);
}

#[test]
fn shared_payloads_only_where_this_side_resets_its_compressor() {
    let now = Instant::now();
    let reset = DeflateParams {
        server_no_context_takeover: true,
        server_max_window_bits: 12,
        ..DeflateParams::default()
    };
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
        DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: sbits,
            client_max_window_bits: cbits,
        }
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

#[test]
fn fuzz_property_holds_on_seeds() {
    for seed in [
        &b"\x00\x07\x07\x06\x00\x07\x07\x06permessage-deflate; client_max_window_bits"[..],
        b"\x03\x02\x01\x09\x01\x00\x05\x01x, permessage-deflate; server_max_window_bits=\"8\"",
        b"\x02\x00\x00\x00\x03\x07\x00\x06permessage-deflate; foo",
        b"",
    ] {
        crate::fuzzing::deflate_negotiation(seed);
    }
}
