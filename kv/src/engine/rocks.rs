//! The RocksDB engine: one database per store directory.
//!
//! Options are chosen for an OLTP store of MVCC versions:
//! - The write-ahead log is on and written on every write (no manual WAL flush), so a write
//!   survives a crash of the process as soon as `write` returns and a crash of the machine when it
//!   was written with `sync = true` (the WAL is fsynced). Recovery uses RocksDB's point-in-time
//!   mode: a torn record at the tail of the WAL (a write that was never acknowledged as synced) is
//!   dropped, everything before it is recovered.
//! - LZ4 on every level (the only compression compiled into this build): cheap enough for the
//!   write path, and MVCC keys share long prefixes that compress well.
//! - A shared LRU block cache that also holds index and filter blocks, so the memory used for
//!   reads is bounded by the cache size; L0 filter and index blocks are pinned.
//! - Whole-key bloom filters (10 bits per key, about 1% false positives) for point `get`s.
//!
//! - Range deletions are RocksDB range tombstones (`DeleteRange`): one record whatever the span
//!   holds; reads skip the covered keys and compaction drops them.
//!
//! IMPLEMENTATION CAVEATS
//! - A range tombstone's keys stay on disk until compaction reaches them (no compaction of the
//!   deleted span is requested), and many live tombstones slow reads that cross them; one per
//!   destroyed span, as replica destruction writes, is cheap.
//! - An unbounded range deletion briefly blocks all other writes (see `RocksEngine::write`).
//! - MVCC point reads are seeks (the newest version at or below a timestamp), which whole-key
//!   bloom filters cannot serve; a prefix extractor over the version-less key would let them skip
//!   SST files, at the cost of prefix-aware iterator options on every scan.
//! - One column family: Raft logs and range state will get their own when replication lands.

use super::{BatchStep, Engine, Visit, WriteBatch};
use crate::{Error, Result};
use parking_lot::RwLock;
use std::path::{Path, PathBuf};

/// Tunables of a RocksDB store.
#[derive(Debug, Clone)]
pub struct RocksOptions {
    /// Size of the block cache (data, index and filter blocks) in bytes.
    pub block_cache_bytes: usize,
    /// Bloom filter bits per key.
    pub bloom_bits_per_key: f64,
}

impl Default for RocksOptions {
    fn default() -> Self {
        RocksOptions {
            block_cache_bytes: 128 << 20,
            bloom_bits_per_key: 10.0,
        }
    }
}

/// An [`Engine`] backed by RocksDB.
pub struct RocksEngine {
    db: rocksdb::DB,
    path: PathBuf,
    /// Held shared by every write and exclusively by a write holding an unbounded range
    /// deletion, which resolves its end from the last key of the store (see [`Self::write`]).
    write_gate: RwLock<()>,
}

/// Data block size: a few MVCC rows per block without making point reads read much.
const BLOCK_SIZE_BYTES: usize = 16 << 10;
/// Sync SST and WAL files in the background every so many bytes (smooths fsync latency).
const BYTES_PER_SYNC: u64 = 1 << 20;
/// Upper bound on background flush and compaction threads.
const MAX_BACKGROUND_JOBS: i32 = 4;
/// Number of RocksDB info log files kept in the store directory.
const KEEP_LOG_FILES: usize = 5;

impl RocksEngine {
    /// Opens (creating if missing) the store at `path` with the default options.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, &RocksOptions::default())
    }

    /// Opens (creating if missing) the store at `path`.
    pub fn open_with(path: &Path, options: &RocksOptions) -> Result<Self> {
        let opts = db_options(options);
        let db = rocksdb::DB::open(&opts, path).map_err(|e| {
            let msg = e.into_string();
            let hint = if msg.contains("lock") || msg.contains("LOCK") {
                " (is another process using this store?)"
            } else {
                ""
            };
            Error::Engine(format!(
                "cannot open RocksDB store at {}: {msg}{hint}",
                path.display()
            ))
        })?;
        Ok(RocksEngine {
            db,
            path: path.to_path_buf(),
            write_gate: RwLock::new(()),
        })
    }

    /// The store directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The database options (see the module docs for the reasoning).
fn db_options(options: &RocksOptions) -> rocksdb::Options {
    let mut table = rocksdb::BlockBasedOptions::default();
    let cache = rocksdb::Cache::new_lru_cache(options.block_cache_bytes);
    table.set_block_cache(&cache);
    table.set_block_size(BLOCK_SIZE_BYTES);
    table.set_bloom_filter(options.bloom_bits_per_key, false);
    table.set_whole_key_filtering(true);
    table.set_cache_index_and_filter_blocks(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);

    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(true);
    opts.set_paranoid_checks(true);
    opts.set_block_based_table_factory(&table);
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    opts.set_bottommost_compression_type(rocksdb::DBCompressionType::Lz4);
    opts.set_wal_recovery_mode(rocksdb::DBRecoveryMode::PointInTime);
    opts.set_level_compaction_dynamic_level_bytes(true);
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    opts.increase_parallelism(cpus.clamp(2, 16) as i32);
    opts.set_max_background_jobs(MAX_BACKGROUND_JOBS);
    opts.set_bytes_per_sync(BYTES_PER_SYNC);
    opts.set_wal_bytes_per_sync(BYTES_PER_SYNC);
    opts.set_keep_log_file_num(KEEP_LOG_FILES);
    opts
}

impl RocksEngine {
    /// The first key after the last key of the store (None: the store is empty).
    fn past_last_key(&self) -> Result<Option<Vec<u8>>> {
        let mut it = self.db.raw_iterator();
        it.seek_to_last();
        if !it.valid() {
            it.status().map_err(engine_err)?;
            return Ok(None);
        }
        Ok(it.key().map(|k| {
            let mut end = k.to_vec();
            end.push(0);
            end
        }))
    }
}

fn engine_err(e: rocksdb::Error) -> Error {
    Error::Engine(e.into_string())
}

impl Engine for RocksEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.get(key).map_err(engine_err)
    }

    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> Visit,
    ) -> Result<()> {
        let mut ro = rocksdb::ReadOptions::default();
        if let Some(end) = end {
            if end <= start {
                return Ok(());
            }
            ro.set_iterate_upper_bound(end.to_vec());
        }
        // The iterator pins an implicit snapshot: the scan sees the engine as of its start.
        let mut it = self.db.raw_iterator_opt(ro);
        it.seek(start);
        while it.valid() {
            let (Some(k), Some(v)) = (it.key(), it.value()) else {
                break;
            };
            if visit(k, v) == Visit::Stop {
                return Ok(());
            }
            it.next();
        }
        it.status().map_err(engine_err)
    }

    /// Translates the batch into one RocksDB batch, op for op (a range deletion becomes a
    /// range tombstone: RocksDB orders it with the batch's other ops by sequence number).
    ///
    /// RocksDB's range deletion needs an end key. An unbounded one ends just after the last
    /// key of the store, read while every other write waits on the write gate, so no key
    /// beyond that end can be written between the read and this batch.
    fn write(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        let unbounded = batch.range_deletions().iter().any(|r| r.end.is_none());
        let _shared;
        let _exclusive;
        let past_last = if unbounded {
            _exclusive = self.write_gate.write();
            self.past_last_key()?
        } else {
            _shared = self.write_gate.read();
            None
        };
        let mut wb = rocksdb::WriteBatch::default();
        for step in batch.into_steps() {
            match step {
                BatchStep::Put(k, v) => wb.put(k, v),
                BatchStep::Delete(k) => wb.delete(k),
                BatchStep::DeleteRange(start, Some(end)) => wb.delete_range(start, end),
                BatchStep::DeleteRange(start, None) => match &past_last {
                    Some(end) if *end > start => wb.delete_range(start.as_slice(), end),
                    // The store holds no key at or after `start`: nothing to delete.
                    _ => {}
                },
            }
        }
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(sync);
        wo.disable_wal(false);
        self.db.write_opt(wb, &wo).map_err(engine_err)
    }

    fn sync(&self) -> Result<()> {
        self.db.flush_wal(true).map_err(engine_err)
    }
}
