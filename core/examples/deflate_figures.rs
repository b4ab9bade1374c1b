//! Prints the permessage-deflate figures quoted in `tidings_core::deflate`:
//! the codec crate comparison, compression ratio and throughput on chat
//! messages (the chat example's JSON), and memory per window size.
//!
//! `cargo run --release -p tidings-core --example deflate_figures`
//!
//! Timings are wall-clock on whatever machine runs it (figures, not tests);
//! memory is the growth of the resident set (Linux `/proc/self/statm`) over
//! many codecs, each used once so that its buffers are touched.

// The core is sans-IO (core/clippy.toml disallows the clock); a measurement:
// it times the codec with the wall clock, outside the core.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tidings_core::deflate::{DeflateConfig, DeflateParams, SharedCompressor};
use tidings_core::ws::{Config, Connection, Event, Outgoing, Role};

/// Chat messages as the chat example sends them: `{type, user, content, time}`.
fn chat_messages(n: usize) -> Vec<String> {
    let users = ["ada", "grace", "linus", "margaret", "ken", "barbara"];
    let words = [
        "hello",
        "room",
        "anyone",
        "seen",
        "the",
        "new",
        "build",
        "it",
        "works",
        "on",
        "my",
        "machine",
        "lunch",
        "at",
        "noon",
        "?",
        "deploying",
        "now",
        "thanks",
        "great",
        "idea",
        "let's",
        "ship",
        "tomorrow",
        "tests",
        "are",
        "green",
    ];
    let mut seed = 0x2545_f491_u32;
    let mut next = move |m: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed as usize % m
    };
    (0..n)
        .map(|i| {
            let len = 3 + next(14);
            let content: Vec<&str> = (0..len).map(|_| words[next(words.len())]).collect();
            format!(
                r#"{{"type":"message","user":"{}","content":"{}","time":"2026-11-23T09:{:02}:{:02}Z"}}"#,
                users[next(users.len())],
                content.join(" "),
                (i / 60) % 60,
                i % 60
            )
        })
        .collect()
}

fn mb_per_s(bytes: usize, elapsed: Duration) -> f64 {
    bytes as f64 / elapsed.as_secs_f64() / 1e6
}

/// Raw deflate, one message at a time without context, with flate2 (zlib-rs).
fn zlib_rs_one_shot(messages: &[String]) -> (usize, Duration, Duration) {
    let mut shared = SharedCompressor::new(15, 6);
    let start = Instant::now();
    let compressed: Vec<Vec<u8>> = messages
        .iter()
        .map(|m| shared.compress(m.as_bytes()).unwrap())
        .collect();
    let compress_time = start.elapsed();
    let mut decompress = Decompress::new(false);
    let start = Instant::now();
    for c in &compressed {
        let mut out = Vec::with_capacity(1024);
        decompress
            .decompress_vec(c, &mut out, FlushDecompress::Sync)
            .unwrap();
        decompress
            .decompress_vec(&[0, 0, 0xff, 0xff], &mut out, FlushDecompress::Sync)
            .unwrap();
        black_box(out);
        decompress.reset(false);
    }
    let total = compressed.iter().map(Vec::len).sum();
    (total, compress_time, start.elapsed())
}

/// The same with miniz_oxide (flate2's default backend).
fn miniz_one_shot(messages: &[String]) -> (usize, Duration, Duration) {
    let start = Instant::now();
    let compressed: Vec<Vec<u8>> = messages
        .iter()
        .map(|m| miniz_oxide::deflate::compress_to_vec(m.as_bytes(), 6))
        .collect();
    let compress_time = start.elapsed();
    let start = Instant::now();
    for c in &compressed {
        black_box(miniz_oxide::inflate::decompress_to_vec(c).unwrap());
    }
    let total = compressed.iter().map(Vec::len).sum();
    (total, compress_time, start.elapsed())
}

/// Sends `messages` from a server to a client with `params` (or without
/// deflate): bytes on the wire, send time, receive time.
fn through_connections(
    messages: &[String],
    params: Option<DeflateParams>,
    level: u32,
) -> (usize, Duration, Duration) {
    let now = Instant::now();
    let config = Config::default().deflate(Some(DeflateConfig::default().level(level)));
    let mut server = Connection::new(Role::Server, config.clone(), now).with_deflate(params);
    let mut client =
        Connection::new(Role::Client { mask_seed: [1; 32] }, config, now).with_deflate(params);
    let mut wire = Vec::new();
    let start = Instant::now();
    for m in messages {
        server.send(Outgoing::Text(m)).unwrap();
    }
    let _ = server.poll_transmit(&mut wire);
    let send_time = start.elapsed();
    let start = Instant::now();
    let mut received = 0;
    for chunk in wire.chunks(4096) {
        client.handle_input(now, chunk);
        while let Some(event) = client.poll_event() {
            if let Event::Message(message) = event {
                received += message.len();
            }
        }
    }
    let receive_time = start.elapsed();
    assert_eq!(received, messages.iter().map(String::len).sum::<usize>());
    (wire.len(), send_time, receive_time)
}

/// Time to compress every message with one kept `SharedCompressor`, then
/// with one made for each message (what a broadcast without a kept
/// compressor would pay).
fn shared_compressor_reuse(messages: &[String]) -> (Duration, Duration) {
    let mut kept = SharedCompressor::new(15, 1);
    let start = Instant::now();
    for message in messages {
        black_box(kept.compress(message.as_bytes()));
    }
    let reused = start.elapsed();
    let start = Instant::now();
    for message in messages {
        black_box(SharedCompressor::new(15, 1).compress(message.as_bytes()));
    }
    (reused, start.elapsed())
}

fn per_message_us(elapsed: Duration, messages: usize) -> f64 {
    elapsed.as_secs_f64() * 1e6 / messages as f64
}

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Resident bytes per compressor and per decompressor with `bits`, each
/// having handled one 64 KiB message.
fn memory_per_codec(bits: u8, text: &[u8]) -> (usize, usize) {
    const N: usize = 200;
    let before = resident_bytes();
    let mut compressors = Vec::with_capacity(N);
    for _ in 0..N {
        let mut c = Compress::new_with_window_bits(Compression::new(6), false, bits);
        let mut out = Vec::with_capacity(text.len());
        c.compress_vec(text, &mut out, FlushCompress::Sync).unwrap();
        compressors.push(c);
    }
    let compress = resident_bytes().saturating_sub(before) / N;
    let mut sample = Compress::new_with_window_bits(Compression::new(6), false, bits);
    let mut compressed = Vec::with_capacity(text.len());
    sample
        .compress_vec(text, &mut compressed, FlushCompress::Sync)
        .unwrap();
    let before = resident_bytes();
    let mut decompressors = Vec::with_capacity(N);
    let mut out = Vec::with_capacity(text.len() * 2);
    for _ in 0..N {
        let mut d = Decompress::new_with_window_bits(false, bits);
        out.clear();
        d.decompress_vec(&compressed, &mut out, FlushDecompress::Sync)
            .unwrap();
        decompressors.push(d);
    }
    let decompress = resident_bytes().saturating_sub(before) / N;
    black_box((compressors, decompressors));
    (compress, decompress)
}

fn main() {
    let messages = chat_messages(20_000);
    let raw: usize = messages.iter().map(String::len).sum();
    println!(
        "{} chat messages, {raw} bytes (average {} bytes), e.g. {}",
        messages.len(),
        raw / messages.len(),
        messages[0]
    );

    println!("\n== codec crates, level 6, each message alone (no context takeover)");
    for (name, (size, compress, inflate)) in [
        ("flate2 + zlib-rs", zlib_rs_one_shot(&messages)),
        ("miniz_oxide", miniz_one_shot(&messages)),
    ] {
        println!(
            "{name:18} ratio {:.3}  compress {:7.1} MB/s  inflate {:7.1} MB/s",
            size as f64 / raw as f64,
            mb_per_s(raw, compress),
            mb_per_s(raw, inflate),
        );
    }

    println!("\n== through ws::Connection (server -> client), chat messages");
    let takeover = DeflateParams::default();
    let mut no_takeover = DeflateParams::default();
    no_takeover.server_no_context_takeover = true;
    no_takeover.client_no_context_takeover = true;
    let cases = [
        ("no deflate", None, 6),
        ("context takeover, level 1", Some(takeover), 1),
        ("context takeover, level 6", Some(takeover), 6),
        ("context takeover, level 9", Some(takeover), 9),
        ("no context takeover, level 6", Some(no_takeover), 6),
    ];
    for (name, params, level) in cases {
        let (wire, send, receive) = through_connections(&messages, params, level);
        println!(
            "{name:30} wire {wire:8} bytes  ratio {:.3}  send {:7.1} MB/s ({:8.0} msg/s)  receive {:7.1} MB/s",
            wire as f64 / raw as f64,
            mb_per_s(raw, send),
            messages.len() as f64 / send.as_secs_f64(),
            mb_per_s(raw, receive),
        );
    }

    println!("\n== SharedCompressor (broadcast), level 1, window 2^15, chat messages");
    let (reused, fresh) = shared_compressor_reuse(&messages);
    println!(
        "kept between messages {:6.2} us/msg   made per message {:6.2} us/msg",
        per_message_us(reused, messages.len()),
        per_message_us(fresh, messages.len()),
    );

    println!("\n== memory per codec (resident, after one 64 KiB message), level 6");
    let text: Vec<u8> = messages
        .concat()
        .into_bytes()
        .into_iter()
        .take(64 << 10)
        .collect();
    for bits in [15u8, 12, 9] {
        let (compress, decompress) = memory_per_codec(bits, &text);
        println!(
            "window bits {bits:2}: compressor {:4} KiB  decompressor {:4} KiB",
            compress / 1024,
            decompress / 1024
        );
    }
}
