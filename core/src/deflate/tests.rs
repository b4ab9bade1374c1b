//! Negotiation tables and codec checks, including the inflation bomb. The
//! checks through `ws::Connection` (which need a clock reading, not allowed
//! in core/src) are in core/tests/deflate_connection.rs.

use super::codec::Codec;
use super::*;

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

#[test]
fn codec_inflation_stops_at_the_limit_without_a_large_buffer() {
    let bomb = crate::fuzzing::deflate_zero_bomb(1024); // 1 GiB once inflated
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
        .inflate(
            &crate::fuzzing::deflate_raw(b"hello"),
            true,
            &mut out,
            limit,
        )
        .unwrap();
    assert_eq!(out, b"hello");
}

#[test]
fn empty_messages_in_a_row_keep_the_context_readable() {
    // With context takeover, a second empty message made zlib emit nothing
    // (a repeated sync flush): the empty payload left the peer's inflater
    // inside a stored block (found by the ws_connection fuzz target).
    for level in [0, 1, 6] {
        let config = DeflateConfig::default().level(level).threshold(0);
        let mut server = Codec::new(DeflateParams::default(), &config, true);
        let mut client = Codec::new(DeflateParams::default(), &config, false);
        for message in [&b""[..], b"", b"x", b"", b"", b"hello hello", b""] {
            let mut payload = Vec::new();
            assert!(server.compress(message, &mut payload));
            assert!(!payload.is_empty(), "level {level}: {message:?}");
            let mut out = Vec::new();
            client.inflate(&payload, true, &mut out, 1 << 20).unwrap();
            assert_eq!(out, message, "level {level}");
        }
    }
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
