//! MVCC reads on the memory engine and on RocksDB (a scratch directory, data flushed into
//! the memtable only, as a hot working set would be): a point read of a key with one version
//! and with many, the transactional point read the SQL layer issues (intents and uncertainty
//! checked), and scans of 100 rows over keys with 1 and 20 versions each.
//!
//! Keys are real table keys: `/Table/104/1/<i64 primary key>`.

use criterion::{criterion_group, criterion_main, Criterion};
use kv::encoding::{encode_i64, Direction};
use kv::engine::{Engine, MemoryEngine, RocksEngine};
use kv::mvcc::{Mvcc, ReadOpts};
use kv::Timestamp;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

const KEYS: i64 = 10_000;

fn key(i: i64) -> Vec<u8> {
    let mut k = kv::keys::index_prefix(104, 1);
    encode_i64(&mut k, i, Direction::Asc);
    k
}

/// `KEYS` keys, each written at timestamps 1..=versions.
fn populate(engine: Arc<dyn Engine>, versions: u64) -> Mvcc {
    let mvcc = Mvcc::new(engine);
    for v in 1..=versions {
        let writes: Vec<_> = (0..KEYS)
            .map(|i| (key(i), Some(format!("value-{i}-{v}").into_bytes())))
            .collect();
        mvcc.write(&writes, Timestamp::from_parts(v, 0), false)
            .expect("populate");
    }
    mvcc
}

fn bench_engine(c: &mut Criterion, name: &str, mvcc: &Mvcc, versions: u64) {
    let newest = Timestamp::from_parts(versions, 0);
    let oldest = Timestamp::from_parts(1, 0);
    let k = key(KEYS / 2);
    c.bench_function(&format!("{name}/get_newest_{versions}_versions"), |b| {
        b.iter(|| black_box(mvcc.get(black_box(&k), newest).unwrap()))
    });
    c.bench_function(&format!("{name}/get_oldest_{versions}_versions"), |b| {
        b.iter(|| black_box(mvcc.get(black_box(&k), oldest).unwrap()))
    });
    // What a SQL point select asks of a range: intents and the uncertainty interval checked.
    let txn_read = ReadOpts {
        uncertainty_limit: Timestamp::from_parts(versions + 500, 0),
        ignore_intents: false,
        skip_own_intents: false,
        ..ReadOpts::committed(newest)
    };
    c.bench_function(&format!("{name}/read_one_txn_{versions}_versions"), |b| {
        b.iter(|| black_box(mvcc.read_one(black_box(&k), &txn_read).unwrap()))
    });
    c.bench_function(
        &format!("{name}/scan_100_newest_{versions}_versions"),
        |b| b.iter(|| black_box(mvcc.scan(black_box(&k), None, newest, 100).unwrap())),
    );
    c.bench_function(
        &format!("{name}/scan_100_oldest_{versions}_versions"),
        |b| b.iter(|| black_box(mvcc.scan(black_box(&k), None, oldest, 100).unwrap())),
    );
}

fn bench_mvcc(c: &mut Criterion) {
    for versions in [1u64, 20] {
        let mem = populate(Arc::new(MemoryEngine::new()), versions);
        bench_engine(c, "memory", &mem, versions);
        let dir = tempfile::tempdir().expect("scratch dir");
        let rocks = RocksEngine::open(dir.path()).expect("open rocksdb");
        let rocks = populate(Arc::new(rocks), versions);
        bench_engine(c, "rocksdb", &rocks, versions);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_mvcc
}
criterion_main!(benches);
