//! Receive and send path pieces: UTF-8 validation (simdutf8, as the core
//! uses it, against `std::str::from_utf8`), frame header decode + unmask,
//! frame encode, and one whole echo through the sans-IO `ws::Connection`.
//!
//! Run with `cargo bench -p tidings-core --bench codec`. Throughput is in
//! decimal bytes of payload.

// The core is sans-IO (core/clippy.toml disallows the clock); a benchmark:
// the clock is read for a starting `now` outside the measured core.
#![allow(clippy::disallowed_methods)]
// `criterion_group!` defines an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use tidings_core::frame::{DecodeRules, FrameHeader, MaskRule, OpCode, apply_mask};
use tidings_core::ws::{Config, Connection, Event, Outgoing, Role};

const SIZES: [usize; 3] = [16, 512, 64 * 1024];
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(1));
}

/// ASCII, or mostly two- and three-byte code points.
fn text(size: usize, ascii: bool) -> Vec<u8> {
    let unit = if ascii {
        "hello, world! "
    } else {
        "ünïcødé €uro — ∑ "
    };
    let mut text = unit.repeat(size / unit.len() + 1);
    while text.len() > size {
        text.pop();
    }
    text.into_bytes()
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    configure(&mut group);
    for size in SIZES {
        for ascii in [true, false] {
            let bytes = text(size, ascii);
            let id = format!("{}B/{}", bytes.len(), if ascii { "ascii" } else { "mixed" });
            group.throughput(Throughput::BytesDecimal(bytes.len() as u64));
            group.bench_function(BenchmarkId::new("std", &id), |b| {
                b.iter(|| std::str::from_utf8(black_box(&bytes)).is_ok())
            });
            group.bench_function(BenchmarkId::new("simdutf8_basic", &id), |b| {
                b.iter(|| simdutf8::basic::from_utf8(black_box(&bytes)).is_ok())
            });
        }
    }
    group.finish();
}

/// A masked client frame carrying `size` bytes.
fn client_frame(opcode: OpCode, size: usize) -> Vec<u8> {
    let header = FrameHeader {
        fin: true,
        rsv: 0,
        opcode,
        mask: Some(KEY),
        payload_len: size as u64,
    };
    let mut frame = Vec::new();
    header.encode_into(&mut frame);
    let start = frame.len();
    frame.extend(text(size, true));
    apply_mask(&mut frame[start..], KEY, 0);
    frame
}

fn decode(c: &mut Criterion) {
    let rules = DecodeRules {
        allowed_rsv: 0,
        mask: MaskRule::Required,
        max_payload: 1 << 30,
    };
    let mut group = c.benchmark_group("decode_unmask");
    configure(&mut group);
    for size in SIZES {
        let frame = client_frame(OpCode::Binary, size);
        let mut work = frame.clone();
        group.throughput(Throughput::BytesDecimal(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                let Ok(Some((header, len))) = FrameHeader::decode(black_box(&work), &rules) else {
                    unreachable!("a complete frame")
                };
                let key = header.mask.unwrap_or_default();
                apply_mask(&mut work[len..], key, 0);
                header.payload_len
            })
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    configure(&mut group);
    for size in SIZES {
        let payload = text(size, true);
        let mut out = Vec::with_capacity(size + 16);
        group.throughput(Throughput::BytesDecimal(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                out.clear();
                let header = FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: OpCode::Text,
                    mask: None,
                    payload_len: payload.len() as u64,
                };
                header.encode_into(&mut out);
                out.extend_from_slice(black_box(&payload));
                out.len()
            })
        });
    }
    group.finish();
}

/// handle_input of a masked text frame, poll_event, send the message back,
/// poll_transmit into a reused buffer: the server's whole per-message work
/// without I/O.
fn echo(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws_echo");
    configure(&mut group);
    let now = Instant::now();
    for size in SIZES {
        let frame = client_frame(OpCode::Text, size);
        let mut conn = Connection::new(Role::Server, Config::default(), now);
        let mut out = Vec::new();
        group.throughput(Throughput::BytesDecimal(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                conn.handle_input(now, black_box(&frame));
                while let Some(event) = conn.poll_event() {
                    if let Event::Message(message) = event {
                        let _ = conn.send(Outgoing::from(&message));
                    }
                }
                out.clear();
                conn.poll_transmit(&mut out)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, utf8, decode, encode, echo);
criterion_main!(benches);
