//! Raft log append through [`LogStore`]: what the multi-raft loop does per ready for each
//! range with new entries. Staging `n` entries of 256-byte commands (protobuf-encoded, one
//! engine key each) plus the hard state into a write batch, and writing that batch to the
//! engine (memory, and RocksDB without fsync, so the figure is the CPU cost rather than this
//! machine's disk). The log is truncated behind a moving applied index every 1,024 entries,
//! as the loop keeps it short, so the in-memory copy stays small however long criterion runs.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use kv::engine::{Engine, MemoryEngine, RocksEngine, WriteBatch};
use kv::RangeId;
use replication::raft::prelude::{Entry, HardState};
use replication::{LogStore, SnapshotSource};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

/// Bytes of one command (a small SQL write's batch).
const COMMAND_BYTES: usize = 256;
/// Entries kept before the log is truncated.
const KEEP: u64 = 1024;

struct NoSnapshots;

impl SnapshotSource for NoSnapshots {
    fn snapshot_data(&self, _range: RangeId) -> Result<Vec<u8>, String> {
        Err("benchmarks take no snapshots".into())
    }
}

/// A replica's log.
struct Log {
    store: LogStore,
    engine: Arc<dyn Engine>,
}

/// `n` new entries from index `next` on.
fn entries(next: &Cell<u64>, n: usize) -> Vec<Entry> {
    (0..n)
        .map(|_| {
            let index = next.get();
            next.set(index + 1);
            Entry {
                term: 1,
                index,
                data: vec![0xAB; COMMAND_BYTES].into(),
                ..Entry::default()
            }
        })
        .collect()
}

impl Log {
    fn new(engine: Arc<dyn Engine>) -> Log {
        let store =
            LogStore::open(engine.as_ref(), RangeId(7), Arc::new(NoSnapshots)).expect("open log");
        Log { store, engine }
    }

    /// Stages `ents` and the hard state, and writes the batch (no fsync).
    fn append(&mut self, ents: &[Entry]) {
        let mut batch = WriteBatch::new();
        self.store.stage_append(&mut batch, ents).expect("append");
        let last = ents.last().map_or(0, |e| e.index);
        let hs = HardState {
            term: 1,
            vote: 1,
            commit: last,
            ..HardState::default()
        };
        self.store
            .set_hard_state(&mut batch, hs)
            .expect("hard state");
        if last >= KEEP && last % KEEP < ents.len() as u64 {
            self.store.stage_applied(&mut batch, last);
            self.store.stage_truncate(&mut batch, last - KEEP / 2);
        }
        self.engine.write(batch, false).expect("write");
    }
}

fn bench_append(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("scratch dir");
    let engines: Vec<(&str, Arc<dyn Engine>)> = vec![
        ("memory", Arc::new(MemoryEngine::new())),
        (
            "rocksdb",
            Arc::new(RocksEngine::open(dir.path()).expect("open rocksdb")),
        ),
    ];
    for (name, engine) in engines {
        let mut log = Log::new(engine);
        let next = Cell::new(1);
        for n in [1usize, 16] {
            c.bench_function(&format!("{name}/append_{n}x{COMMAND_BYTES}B"), |b| {
                b.iter_batched(
                    || entries(&next, n),
                    |ents| {
                        log.append(&ents);
                        black_box(log.store.log_len())
                    },
                    BatchSize::SmallInput,
                )
            });
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_append
}
criterion_main!(benches);
