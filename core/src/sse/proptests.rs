//! Properties of the encoder and decoder together:
//!
//! - the decoder agrees with a straightforward whole-stream model of the
//!   WHATWG algorithm, written independently of the decoder (it lives in
//!   `crate::fuzzing::sse_model`, shared with the `sse_decoder` fuzz target);
//! - chunk boundaries never change what the decoder yields, errors included;
//! - whatever an [`Event`] holds, decoding its encoding gives it back.

use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::{Index, select};

use super::*;
use crate::fuzzing::sse_model::{Outcome, decode_chunks, reference};

/// Cuts `input` at the given points (duplicates give empty chunks).
fn cut<'a>(input: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for point in points {
        chunks.push(&input[start..point]);
        start = point;
    }
    chunks.push(&input[start..]);
    chunks
}

/// Pieces that exercise every rule when strung together at random.
const TOKENS: &[&[u8]] = &[
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    b":",
    b" ",
    b"  ",
    b"\t",
    b"data",
    b"data:",
    b"data: ",
    b"id",
    b"id: ",
    b"event",
    b"event: ",
    b"retry",
    b"retry: ",
    b"Data",
    b"0",
    b"7",
    b"42",
    b"18446744073709551616",
    b"\0",
    b"x",
    b"message",
    b"\xEF\xBB\xBF",
    b"\xEF",
    b"\xBB",
    b"\xBF",
    b"\xEF\xBB",
    b"\xFF",
    b"\x80",
    b"\xC3",
    b"\xE2\x82",
    b"\xF0\x9F\x98",
    "é".as_bytes(),
    "€".as_bytes(),
    "😀".as_bytes(),
];

/// Streams of random tokens, often starting with a whole or partial BOM.
fn rich_stream() -> impl Strategy<Value = Vec<u8>> {
    const STARTS: &[&[u8]] = &[b"", b"\xEF\xBB\xBF", b"\xEF\xBB", b"\xEF"];
    let start = select(STARTS);
    (start, prop::collection::vec(select(TOKENS), 0..80))
        .prop_map(|(start, tokens)| [start, &tokens.concat()].concat())
}

fn any_stream() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![rich_stream(), any::<Vec<u8>>()]
}

fn limits(max_line_len: usize, max_data_len: usize) -> Limits {
    Limits::default()
        .with_max_line_len(max_line_len)
        .with_max_data_len(max_data_len)
}

/// Text rich in line breaks, spaces, colons and field names.
fn text() -> impl Strategy<Value = String> {
    let pieces = prop::collection::vec(
        select(
            &[
                "\r", "\n", "\r\n", "\n\r", " ", "  ", "\t", ":", "a", "é", "😀", "\0", "data: ",
                "id:", "\u{FEFF}", "",
            ][..],
        ),
        0..12,
    )
    .prop_map(|pieces| pieces.concat());
    prop_oneof![pieces, any::<String>()]
}

/// One event to encode, and whether a keep-alive follows it.
#[derive(Clone, Debug)]
struct Spec {
    comments: Vec<String>,
    retry: Option<u64>,
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
    keep_alive: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    let valid_name = text().prop_map(|s| s.replace(['\r', '\n'], ""));
    let valid_id = text().prop_map(|s| s.replace(['\r', '\n', '\0'], ""));
    (
        prop::collection::vec(text(), 0..3),
        prop::option::of(any::<u64>()),
        prop::option::of(valid_id),
        prop::option::of(valid_name),
        prop::option::of(text()),
        any::<bool>(),
    )
        .prop_map(|(comments, retry, id, event, data, keep_alive)| Spec {
            comments,
            retry,
            id,
            event,
            data,
            keep_alive,
        })
}

impl Spec {
    fn to_event(&self) -> Event {
        let mut event = Event::new();
        for comment in &self.comments {
            event = event.comment(comment.as_str());
        }
        if let Some(millis) = self.retry {
            event = event.retry(Duration::from_millis(millis));
        }
        if let Some(id) = &self.id {
            event = event.id(id.as_str());
        }
        if let Some(name) = &self.event {
            event = event.event(name.as_str());
        }
        if let Some(data) = &self.data {
            event = event.data(data.as_str());
        }
        event
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// The incremental decoder, fed random chunks, matches the whole-stream
    /// model on streams full of line breaks, field names, BOMs and invalid
    /// UTF-8.
    #[test]
    fn decoder_matches_the_reference_model(input in any_stream(), cuts in prop::collection::vec(any::<Index>(), 0..8)) {
        let got = decode_chunks(Decoder::new(), &cut(&input, &cuts));
        prop_assert_eq!(got, reference(&input));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// One chunk, random chunks and one byte at a time give the same events,
    /// id, retry and error, with roomy and with tight limits.
    #[test]
    fn chunking_does_not_matter(
        input in any_stream(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
        tight in any::<bool>(),
    ) {
        let limits = if tight { limits(12, 20) } else { Limits::default() };
        let whole = decode_chunks(Decoder::with_limits(limits), &[&input]);
        let random = decode_chunks(Decoder::with_limits(limits), &cut(&input, &cuts));
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        let byte_at_a_time = decode_chunks(Decoder::with_limits(limits), &bytes);
        prop_assert_eq!(&random, &whole);
        prop_assert_eq!(&byte_at_a_time, &whole);
    }

    /// Encoding events and decoding the stream, cut anywhere, gives back each
    /// event with data set (line breaks read back as LF), the latest id and
    /// the latest retry.
    #[test]
    fn encode_then_decode_round_trips(
        specs in prop::collection::vec(spec(), 0..6),
        hint in prop::option::of(any::<u64>()),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let mut stream = Vec::new();
        if let Some(millis) = hint {
            encode_retry(Duration::from_millis(millis), &mut stream);
        }
        let mut expected = Vec::new();
        let mut last_event_id = String::new();
        let mut retry = hint.map(Duration::from_millis);
        for spec in &specs {
            spec.to_event().encode(&mut stream).unwrap();
            if spec.keep_alive {
                stream.extend_from_slice(KEEP_ALIVE);
            }
            if let Some(id) = &spec.id {
                last_event_id.clone_from(id);
            }
            if let Some(millis) = spec.retry {
                retry = Some(Duration::from_millis(millis));
            }
            if let Some(data) = &spec.data {
                let event_type = match spec.event.as_deref() {
                    None | Some("") => "message",
                    Some(name) => name,
                };
                expected.push(DecodedEvent {
                    event_type: event_type.to_owned(),
                    data: data.replace("\r\n", "\n").replace('\r', "\n"),
                    last_event_id: last_event_id.clone(),
                });
            }
        }
        let got = decode_chunks(Decoder::new(), &cut(&stream, &cuts));
        prop_assert_eq!(got, Outcome { events: expected, last_event_id, retry, error: None });
    }

    /// An id encodes exactly when it has no CR, LF or NUL, an event name when
    /// it has no CR or LF; a refused event leaves the buffer untouched.
    #[test]
    fn encode_accepts_exactly_the_valid_names_and_ids(name in text(), id in text()) {
        let mut out = b"before".to_vec();
        let result = Event::new().data("d").event(name.as_str()).id(id.as_str()).encode(&mut out);
        let name_ok = !name.contains(['\r', '\n']);
        let id_ok = !id.contains(['\r', '\n', '\0']);
        prop_assert_eq!(result.is_ok(), name_ok && id_ok);
        if result.is_err() {
            prop_assert_eq!(&out[..], b"before");
        }
    }
}

#[test]
fn the_reference_model_itself_follows_the_rules() {
    // Guard the model against sharing a bug with the decoder by checking it
    // on hand-written cases.
    let out = reference(
        b"\xEF\xBB\xBFid: 1\r\ndata:  a\rdata\n\n: c\nevent: t\ndata: b\n\nretry: 5\ndata: lost",
    );
    assert_eq!(
        out.events,
        [
            DecodedEvent {
                event_type: "message".into(),
                data: " a\n".into(),
                last_event_id: "1".into(),
            },
            DecodedEvent {
                event_type: "t".into(),
                data: "b".into(),
                last_event_id: "1".into(),
            },
        ]
    );
    assert_eq!(out.retry, Some(Duration::from_millis(5)));
}

#[test]
fn keep_alive_and_retry_hint_fire_nothing() {
    let mut stream = Vec::new();
    encode_retry(Duration::from_millis(1234), &mut stream);
    stream.extend_from_slice(KEEP_ALIVE);
    let out = decode_chunks(Decoder::new(), &[&stream]);
    assert_eq!(out.events, Vec::<DecodedEvent>::new());
    assert_eq!(out.retry, Some(Duration::from_millis(1234)));
}

#[test]
fn empty_data_fires_an_event_with_empty_data() {
    let bytes = Event::new().data("").to_bytes().unwrap();
    let out = decode_chunks(Decoder::new(), &[&bytes]);
    assert_eq!(
        out.events,
        [DecodedEvent {
            event_type: "message".into(),
            data: String::new(),
            last_event_id: String::new(),
        }]
    );
}

#[test]
fn an_id_only_event_moves_the_last_event_id_without_firing() {
    let mut stream = Event::new().id("7").to_bytes().unwrap().to_vec();
    Event::new().data("x").encode(&mut stream).unwrap();
    let out = decode_chunks(Decoder::new(), &[&stream[..9]]);
    assert_eq!((out.events.len(), out.last_event_id.as_str()), (0, "7"));
    let out = decode_chunks(Decoder::new(), &[&stream]);
    assert_eq!(out.events[0].last_event_id, "7");
}
