//! Payload masking: `tidings_core::frame::apply_mask` against the bytewise loop.
//!
//! Run with `cargo bench -p tidings-core --bench mask`. Each case is named
//! `{size}B/off{offset}/+{start}`: `offset` is the position within the payload
//! passed to `apply_mask`, `start` how many bytes past a 64-byte boundary the
//! slice begins. Throughput is printed in decimal GB/s.

// `criterion_group!` defines an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tidings_core::frame::apply_mask;

/// The obvious loop: one byte and one key lookup at a time.
fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(offset + i) & 3];
    }
}

const SIZES: [usize; 4] = [16, 512, 4 * 1024, 64 * 1024];

/// (offset, start): aligned, each offset 1..=3, and unaligned starts.
const CASES: [(usize, usize); 7] = [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1), (0, 3), (1, 7)];

fn bench(c: &mut Criterion) {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut group = c.benchmark_group("apply_mask");
    group.warm_up_time(std::time::Duration::from_secs(1));
    group.measurement_time(std::time::Duration::from_secs(2));
    for size in SIZES {
        let mut storage = vec![0x5au8; size + 64 + 8];
        // A 64-byte boundary inside the allocation, so `start` means the same
        // misalignment whatever the allocator returned.
        let base = storage.as_ptr().align_offset(64);
        group.throughput(Throughput::BytesDecimal(size as u64));
        for (offset, start) in CASES {
            let at = base + start;
            let buf = &mut storage[at..at + size];
            let id = format!("{size}B/off{offset}/+{start}");
            group.bench_function(BenchmarkId::new("naive", &id), |b| {
                b.iter(|| naive(black_box(&mut *buf), black_box(key), black_box(offset)))
            });
            group.bench_function(BenchmarkId::new("words", &id), |b| {
                b.iter(|| apply_mask(black_box(&mut *buf), black_box(key), black_box(offset)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
