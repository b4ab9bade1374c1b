//! One test per WHATWG parsing rule (CONFORMANCE.md rules 1-9), each run on
//! the whole input, byte at a time, and split at every possible point.

use super::*;

/// What a decoder makes of a whole stream: the events, then the last event id
/// and the retry delay after `finish`.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    events: Vec<DecodedEvent>,
    last_event_id: String,
    retry: Option<Duration>,
}

fn run(decoder: &mut Decoder, chunks: &[&[u8]]) -> Outcome {
    for chunk in chunks {
        decoder.feed(chunk).unwrap();
    }
    decoder.finish();
    let mut events = Vec::new();
    while let Some(event) = decoder.poll_event() {
        events.push(event);
    }
    Outcome {
        events,
        last_event_id: decoder.last_event_id().to_owned(),
        retry: decoder.retry(),
    }
}

/// Decodes `input` whole, byte at a time and in two pieces split at every
/// point; checks they all agree and returns the outcome.
fn decode(input: &[u8]) -> Outcome {
    let whole = run(&mut Decoder::new(), &[input]);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(&mut Decoder::new(), &bytes), whole, "byte at a time");
    for split in 0..=input.len() {
        let (a, b) = input.split_at(split);
        assert_eq!(run(&mut Decoder::new(), &[a, b]), whole, "split at {split}");
    }
    whole
}

fn ev(event_type: &str, data: &str, last_event_id: &str) -> DecodedEvent {
    DecodedEvent {
        event_type: event_type.into(),
        data: data.into(),
        last_event_id: last_event_id.into(),
    }
}

fn events(input: &[u8]) -> Vec<DecodedEvent> {
    decode(input).events
}

fn datas(input: &[u8]) -> Vec<String> {
    events(input).into_iter().map(|e| e.data).collect()
}

// Rule 1: UTF-8, invalid bytes become U+FFFD.

#[test]
fn multibyte_characters_split_across_chunks_decode_whole() {
    assert_eq!(datas("data: é€😀\n\n".as_bytes()), ["é€😀"]);
}

#[test]
fn invalid_utf8_becomes_u_fffd_like_from_utf8_lossy() {
    let bad: &[u8] = b"\xFF\xC3\x28\xE2\x82\xF0\x9F\x98\xED\xA0\x80\xC0\xAF\x80end";
    let mut input = b"data: ".to_vec();
    input.extend_from_slice(bad);
    input.extend_from_slice(b"\n\n");
    assert_eq!(datas(&input), [String::from_utf8_lossy(bad).into_owned()]);
    assert!(datas(&input)[0].starts_with("\u{FFFD}\u{FFFD}("));
}

#[test]
fn a_line_break_ends_an_incomplete_sequence() {
    // The truncated euro sign is one U+FFFD; the LF is still a line break.
    assert_eq!(datas(b"data: \xE2\x82\ndata: x\n\n"), ["\u{FFFD}\nx"]);
}

#[test]
fn invalid_bytes_in_event_type_and_id_are_replaced_too() {
    assert_eq!(
        events(b"event: \xFF\nid: \xC3\ndata\n\n"),
        [ev("\u{FFFD}", "", "\u{FFFD}")]
    );
}

// Rule 2: one leading BOM is stripped, even split.

#[test]
fn a_leading_bom_is_stripped() {
    assert_eq!(datas(b"\xEF\xBB\xBFdata: x\n\n"), ["x"]);
}

#[test]
fn only_one_bom_is_stripped() {
    // The second BOM is part of the field name, which becomes unknown.
    assert_eq!(
        datas(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n"),
        Vec::<String>::new()
    );
}

#[test]
fn a_partial_bom_is_content() {
    // EF BB then 'd' is an invalid sequence: the name is "\u{FFFD}data".
    assert_eq!(datas(b"\xEF\xBBdata: x\n\n"), Vec::<String>::new());
    assert_eq!(datas(b"\xEFdata: x\n\n"), Vec::<String>::new());
}

#[test]
fn a_bom_later_in_the_stream_is_kept() {
    assert_eq!(datas(b"data: \xEF\xBB\xBFx\n\n"), ["\u{FEFF}x"]);
}

// Rule 3: CRLF, LF, lone CR; CR at a chunk end then LF is one break.

#[test]
fn all_three_line_endings_work_and_mix() {
    assert_eq!(
        datas(b"data: a\r\ndata: b\rdata: c\ndata: d\r\r"),
        ["a\nb\nc\nd"]
    );
    assert_eq!(datas(b"data: a\n\rdata: b\r\n\n"), ["a", "b"]);
}

#[test]
fn crlf_split_across_chunks_is_one_line_break() {
    // Were it two breaks, the empty line would fire "a" on its own.
    let whole = run(
        &mut Decoder::new(),
        &[b"data: a\r", b"\ndata: b\r", b"\n\r\n"],
    );
    assert_eq!(whole.events, [ev("message", "a\nb", "")]);
}

#[test]
fn a_cr_at_a_chunk_end_ends_the_line_at_once() {
    let mut decoder = Decoder::new();
    decoder.feed(b"data: a\n\r").unwrap();
    // The CR is a complete blank line: the event fires before any LF arrives.
    assert_eq!(decoder.poll_event(), Some(ev("message", "a", "")));
    decoder.feed(b"data: b\n\n").unwrap();
    assert_eq!(decoder.poll_event(), Some(ev("message", "b", "")));
}

// Rule 4: blank line dispatches, `:` starts a comment.

#[test]
fn comments_are_ignored_anywhere() {
    assert_eq!(
        datas(b": hello\ndata: a\n:data: no\n:\ndata: b\n\n: bye\n"),
        ["a\nb"]
    );
}

#[test]
fn each_blank_line_dispatches() {
    assert_eq!(
        datas(b"data: a\n\ndata: b\n\n\n\ndata: c\n\n"),
        ["a", "b", "c"]
    );
}

// Rule 5: name before the first colon, one leading space removed.

#[test]
fn exactly_one_leading_space_is_removed() {
    assert_eq!(datas(b"data:x\n\n"), ["x"]);
    assert_eq!(datas(b"data: x\n\n"), ["x"]);
    assert_eq!(datas(b"data:  x\n\n"), [" x"]);
    assert_eq!(datas(b"data: \n\n"), [""]);
    assert_eq!(datas(b"data: x \n\n"), ["x "]);
}

#[test]
fn a_tab_is_not_stripped() {
    assert_eq!(datas(b"data:\tx\n\n"), ["\tx"]);
    assert_eq!(datas(b"data: \tx\n\n"), ["\tx"]);
}

#[test]
fn the_value_is_everything_after_the_first_colon() {
    assert_eq!(datas(b"data: a:b: c\n\n"), ["a:b: c"]);
    assert_eq!(datas(b"data::x\n\n"), [":x"]);
}

#[test]
fn a_line_without_colon_is_a_field_with_an_empty_value() {
    assert_eq!(datas(b"data\n\n"), [""]);
    assert_eq!(datas(b"data\ndata\n\n"), ["\n"]);
    assert_eq!(
        events(b"event: x\nevent\ndata: y\n\n"),
        [ev("message", "y", "")]
    );
    let out = decode(b"id: 1\n\nid\n\n");
    assert_eq!(out.last_event_id, "");
}

#[test]
fn a_space_before_the_colon_is_part_of_the_name() {
    assert_eq!(datas(b"data : x\n\n"), Vec::<String>::new());
}

// Rule 6: case-sensitive names, unknown names ignored.

#[test]
fn field_names_are_case_sensitive_and_unknown_ones_ignored() {
    assert_eq!(
        datas(b"Data: a\nDATA: b\nEvent: x\nfoo: bar\nretry2: 1\ndata: c\n\n"),
        ["c"]
    );
    let out = decode(b"ID: 9\nRetry: 5\n\n");
    assert_eq!((out.last_event_id.as_str(), out.retry), ("", None));
}

// Rule 7: event, data, id, retry.

#[test]
fn event_sets_the_type_and_the_last_one_wins() {
    assert_eq!(
        events(b"event: a\nevent: b\ndata: 1\n\n"),
        [ev("b", "1", "")]
    );
    assert_eq!(events(b"event:  sp\ndata\n\n"), [ev(" sp", "", "")]);
}

#[test]
fn nul_is_kept_in_data_and_event_type() {
    assert_eq!(events(b"event: a\0\ndata: \0\n\n"), [ev("a\0", "\0", "")]);
}

#[test]
fn an_id_containing_nul_is_ignored() {
    assert_eq!(
        events(b"id: 1\ndata: a\n\nid: 2\0\ndata: b\n\nid: \0\n\n"),
        [ev("message", "a", "1"), ev("message", "b", "1")]
    );
}

#[test]
fn the_id_persists_across_events_and_an_empty_id_clears_it() {
    assert_eq!(
        events(b"id: 1\ndata: a\n\ndata: b\n\nid:\ndata: c\n\nid:  x\ndata: d\n\n"),
        [
            ev("message", "a", "1"),
            ev("message", "b", "1"),
            ev("message", "c", ""),
            ev("message", "d", " x"),
        ]
    );
}

#[test]
fn retry_accepts_only_ascii_digits() {
    let retry = |input: &[u8]| decode(input).retry;
    assert_eq!(retry(b"retry: 1500\n"), Some(Duration::from_millis(1500)));
    assert_eq!(retry(b"retry:007\n"), Some(Duration::from_millis(7)));
    assert_eq!(retry(b"retry: 0\n"), Some(Duration::ZERO));
    assert_eq!(
        retry(b"retry: 18446744073709551615\n"),
        Some(Duration::from_millis(u64::MAX))
    );
    for bad in [
        &b"retry: 15x\n"[..],
        b"retry: -1\n",
        b"retry: +1\n",
        b"retry: 1.5\n",
        b"retry:  15\n",
        b"retry: 15 \n",
        b"retry: \n",
        b"retry\n",
        b"retry: \xD9\xA1\n", // ARABIC-INDIC DIGIT ONE is not an ASCII digit
        b"retry: 18446744073709551616\n",
    ] {
        assert_eq!(retry(bad), None, "{:?}", String::from_utf8_lossy(bad));
    }
    // An invalid value leaves the previous one in place.
    assert_eq!(
        retry(b"retry: 10\nretry: x\nretry:\n"),
        Some(Duration::from_millis(10))
    );
}

// Rule 8: dispatch.

#[test]
fn the_last_event_id_is_kept_even_when_nothing_fires() {
    let out = decode(b"id: 5\n\n");
    assert_eq!(out.events, Vec::<DecodedEvent>::new());
    assert_eq!(out.last_event_id, "5");
    assert_eq!(events(b"id: 5\n\ndata: x\n\n"), [ev("message", "x", "5")]);
}

#[test]
fn an_id_takes_effect_only_at_the_blank_line() {
    let mut decoder = Decoder::new();
    decoder.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n").unwrap();
    assert_eq!(decoder.last_event_id(), "1");
    decoder.feed(b"\n").unwrap();
    assert_eq!(decoder.last_event_id(), "2");
}

#[test]
fn empty_data_fires_nothing_and_resets_the_type() {
    assert_eq!(events(b"event: x\n\ndata: y\n\n"), [ev("message", "y", "")]);
    assert_eq!(
        events(b"event: x\nid: 3\nretry: 1\n\n"),
        Vec::<DecodedEvent>::new()
    );
}

#[test]
fn the_type_is_reset_after_each_event_and_defaults_to_message() {
    assert_eq!(
        events(b"event: a\ndata: 1\n\ndata: 2\n\nevent:\ndata: 3\n\n"),
        [
            ev("a", "1", ""),
            ev("message", "2", ""),
            ev("message", "3", "")
        ]
    );
}

#[test]
fn only_one_trailing_lf_is_dropped() {
    assert_eq!(datas(b"data: a\ndata:\n\n"), ["a\n"]);
    assert_eq!(datas(b"data\ndata\ndata\n\n"), ["\n\n"]);
}

// Rule 9: an incomplete event at the end of the stream is discarded.

#[test]
fn an_incomplete_event_at_the_end_is_discarded() {
    assert_eq!(datas(b"data: a\n\ndata: b\n"), ["a"]);
    assert_eq!(datas(b"data: a\n\ndata: b"), ["a"]);
    assert_eq!(datas(b"data: a\n\ndata: b\r"), ["a"]);
    // The id of the discarded event never becomes the last event id.
    assert_eq!(decode(b"id: 1\n\nid: 2\ndata: x\n").last_event_id, "1");
}

#[test]
fn retry_takes_effect_even_in_a_discarded_event() {
    assert_eq!(
        decode(b"data: x\nretry: 42\n").retry,
        Some(Duration::from_millis(42))
    );
}

// finish() and reconnection.

#[test]
fn after_finish_a_new_stream_keeps_the_id_and_strips_its_own_bom() {
    let mut decoder = Decoder::new();
    decoder
        .feed(b"retry: 9\nid: 3\ndata: a\n\nevent: t\ndata: par")
        .unwrap();
    decoder.finish();
    decoder.feed(b"\xEF\xBB\xBFdata: b\n\nid: 4\n\n").unwrap();
    let got: Vec<_> = std::iter::from_fn(|| decoder.poll_event()).collect();
    assert_eq!(got, [ev("message", "a", "3"), ev("message", "b", "3")]);
    assert_eq!(decoder.last_event_id(), "4");
    assert_eq!(decoder.retry(), Some(Duration::from_millis(9)));
}

// Limits.

fn limited(max_line_len: usize, max_data_len: usize) -> Decoder {
    Decoder::with_limits(
        Limits::default()
            .with_max_line_len(max_line_len)
            .with_max_data_len(max_data_len),
    )
}

#[test]
fn default_limits_are_one_and_sixteen_mib() {
    let limits = Limits::default();
    assert_eq!(
        (limits.max_line_len, limits.max_data_len),
        (1 << 20, 16 << 20)
    );
}

#[test]
fn a_line_at_the_limit_passes_and_one_byte_more_fails_however_chunked() {
    let ok = b"data: 12345\n\n"; // the line is 11 bytes
    let too_long = b"data: 123456\n\n";
    for chunk_size in 1..=too_long.len() {
        let mut decoder = limited(11, 100);
        for chunk in ok.chunks(chunk_size) {
            decoder.feed(chunk).unwrap();
        }
        assert_eq!(decoder.poll_event(), Some(ev("message", "12345", "")));

        let mut decoder = limited(11, 100);
        let result: Result<(), _> = too_long
            .chunks(chunk_size)
            .try_for_each(|c| decoder.feed(c));
        assert_eq!(result, Err(DecodeError::LineTooLong { limit: 11 }));
    }
}

#[test]
fn the_line_limit_applies_to_every_field_but_not_to_comments() {
    for line in [
        &b"event: 1234567"[..],
        b"id: 123456789",
        b"unknown: 1234",
        b"0123456789ab",
    ] {
        let mut decoder = limited(11, 100);
        let mut input = line.to_vec();
        input.push(b'\n');
        assert_eq!(
            decoder.feed(&input),
            Err(DecodeError::LineTooLong { limit: 11 }),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
    let comment = [&b":"[..], &[b'x'; 1000], b"\ndata: ok\n\n"].concat();
    for chunk_size in [1, 7, comment.len()] {
        let mut decoder = limited(11, 100);
        for chunk in comment.chunks(chunk_size) {
            decoder.feed(chunk).unwrap();
        }
        assert_eq!(decoder.poll_event(), Some(ev("message", "ok", "")));
    }
}

#[test]
fn the_data_limit_counts_decoded_bytes_and_line_feeds() {
    // "ab\ncd\n" is 6 bytes in the data buffer.
    let mut decoder = limited(100, 6);
    decoder.feed(b"data: ab\ndata: cd\n\n").unwrap();
    assert_eq!(decoder.poll_event(), Some(ev("message", "ab\ncd", "")));
    let mut decoder = limited(100, 5);
    assert_eq!(
        decoder.feed(b"data: ab\ndata: cd\n\n"),
        Err(DecodeError::DataTooLarge { limit: 5 })
    );
    // One invalid byte decodes to U+FFFD, three bytes: "\u{FFFD}\n" is 4.
    let mut decoder = limited(100, 3);
    assert_eq!(
        decoder.feed(b"data: \xFF\n"),
        Err(DecodeError::DataTooLarge { limit: 3 })
    );
    let mut decoder = limited(100, 4);
    decoder.feed(b"data: \xFF\n\n").unwrap();
    assert_eq!(decoder.poll_event(), Some(ev("message", "\u{FFFD}", "")));
}

#[test]
fn the_data_limit_is_per_event() {
    let mut decoder = limited(100, 3);
    decoder.feed(b"data: ab\n\ndata: cd\n\n").unwrap();
    assert_eq!(decoder.poll_event().map(|e| e.data), Some("ab".into()));
    assert_eq!(decoder.poll_event().map(|e| e.data), Some("cd".into()));
}

#[test]
fn an_error_is_sticky_until_finish_and_earlier_events_survive() {
    let mut decoder = limited(8, 100);
    let err = DecodeError::LineTooLong { limit: 8 };
    assert_eq!(decoder.feed(b"data: a\n\ndata: 123456789\n\n"), Err(err));
    assert_eq!(decoder.feed(b"data: b\n\n"), Err(err));
    assert_eq!(decoder.poll_event(), Some(ev("message", "a", "")));
    assert_eq!(decoder.poll_event(), None);
    decoder.finish();
    decoder.feed(b"data: c\n\n").unwrap();
    assert_eq!(decoder.poll_event(), Some(ev("message", "c", "")));
}

#[test]
fn many_events_share_one_long_id() {
    // A long id followed by many tiny events is stored once, not per event.
    let mut decoder = Decoder::new();
    let long_id = "i".repeat(1000);
    decoder.feed(format!("id: {long_id}\n").as_bytes()).unwrap();
    decoder.feed(&b"data\n\n".repeat(100)).unwrap();
    let first = decoder.queue.front().map(|q| Arc::clone(&q.last_event_id));
    let back = decoder.queue.back().map(|q| Arc::clone(&q.last_event_id));
    assert!(matches!((first, back), (Some(a), Some(b)) if Arc::ptr_eq(&a, &b)));
    assert_eq!(decoder.poll_event().map(|e| e.last_event_id), Some(long_id));
}
