//! MVCC reads on the memory engine: a point read of a key with one version and with many,
//! and scans of 100 rows over keys with 1 and 20 versions each.

use criterion::{criterion_group, criterion_main, Criterion};
use kv::engine::MemoryEngine;
use kv::mvcc::Mvcc;
use kv::Timestamp;
use std::hint::black_box;
use std::sync::Arc;

const KEYS: u32 = 10_000;

fn key(i: u32) -> Vec<u8> {
    let mut k = b"/table/1/".to_vec();
    k.extend_from_slice(&i.to_be_bytes());
    k
}

/// `KEYS` keys, each written at timestamps 1..=versions.
fn populated(versions: u64) -> Mvcc {
    let mvcc = Mvcc::new(Arc::new(MemoryEngine::new()));
    for v in 1..=versions {
        let writes: Vec<_> = (0..KEYS)
            .map(|i| (key(i), Some(format!("value-{i}-{v}").into_bytes())))
            .collect();
        mvcc.write(&writes, Timestamp::from_parts(v, 0), false)
            .unwrap();
    }
    mvcc
}

fn bench_mvcc(c: &mut Criterion) {
    for versions in [1u64, 20] {
        let mvcc = populated(versions);
        let newest = Timestamp::from_parts(versions, 0);
        let oldest = Timestamp::from_parts(1, 0);
        let k = key(KEYS / 2);
        c.bench_function(&format!("get_newest_{versions}_versions"), |b| {
            b.iter(|| black_box(mvcc.get(black_box(&k), newest).unwrap()))
        });
        c.bench_function(&format!("get_oldest_{versions}_versions"), |b| {
            b.iter(|| black_box(mvcc.get(black_box(&k), oldest).unwrap()))
        });
        c.bench_function(&format!("scan_100_newest_{versions}_versions"), |b| {
            b.iter(|| black_box(mvcc.scan(black_box(&k), None, newest, 100).unwrap()))
        });
        c.bench_function(&format!("scan_100_oldest_{versions}_versions"), |b| {
            b.iter(|| black_box(mvcc.scan(black_box(&k), None, oldest, 100).unwrap()))
        });
    }
}

criterion_group!(benches, bench_mvcc);
criterion_main!(benches);
