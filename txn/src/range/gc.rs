//! MVCC garbage collection of one range, and the range's replicated GC threshold.
//!
//! The threshold is the timestamp below which the range's old versions may be gone: a read
//! (or refresh) below it fails with [`Error::BelowGcThreshold`] instead of silently missing
//! versions. It is stored as replicated data of the range, under a local key derived from the
//! range's start key ([`gc_threshold_key`], inside the range's transaction-record span), so it
//! travels with the range's writes through Raft, with snapshots, and is read by followers
//! serving follower reads ([`read_gc_threshold`]) as well as by every new leaseholder.
//!
//! A GC run ([`Range::gc`]) keeps, for every key, the newest version at or below the threshold
//! and everything above it, so every read at or above the threshold sees exactly what it saw
//! before. Order of a run: (1) the threshold is closed on the leaseholder (its timestamp cache's
//! low-water mark rises to it and every write already evaluated is applied: no write can land
//! at or below it afterwards, which could otherwise slip under a version GC removes), (2) the
//! new threshold is written through the range's writer (replicated), (3) the deletions are
//! written through the same writer in bounded batches. A replica that applied any deletion has
//! applied the threshold first, so no replica serves a read the deletions could change.
//!
//! IMPLEMENTATION CAVEATS
//! - The threshold key is keyed by the range's start key: a split must copy the left side's
//!   threshold to the right side's start (the cluster store does, before proposing the split);
//!   merges are not implemented.
//! - Intents and transaction records are never collected here (intents are resolved by their
//!   transactions; abandoned records are removed by pushers).

use super::Range;
use crate::{Error, Result};
use kv::engine::WriteBatch;
use kv::mvcc::Mvcc;
use kv::Timestamp;
use std::sync::atomic::Ordering;

/// The local key holding the GC threshold of the range that starts at `start`: the first key
/// of the range's transaction-record span (no record has it: record keys append an id).
pub fn gc_threshold_key(start: &[u8]) -> Vec<u8> {
    super::record::record_prefix(start)
}

/// The replicated GC threshold of the range starting at `start`, as applied in `mvcc`'s
/// engine (zero when the range was never collected).
pub fn read_gc_threshold(mvcc: &Mvcc, start: &[u8]) -> Result<Timestamp> {
    match mvcc.engine().get(&gc_threshold_key(start))? {
        Some(raw) => postcard::from_bytes(&raw)
            .map_err(|e| Error::Internal(format!("undecodable GC threshold: {e}"))),
        None => Ok(Timestamp::ZERO),
    }
}

/// Stages `threshold` as the GC threshold of the range starting at `start`.
pub fn stage_gc_threshold(batch: &mut WriteBatch, start: &[u8], threshold: Timestamp) {
    if let Ok(raw) = postcard::to_allocvec(&threshold) {
        batch.put(gc_threshold_key(start), raw);
    }
}

/// Fails when `ts` is below `threshold`.
pub fn check_threshold(ts: Timestamp, threshold: Timestamp) -> Result<()> {
    if ts < threshold {
        return Err(Error::BelowGcThreshold { ts, threshold });
    }
    Ok(())
}

impl Range {
    /// Removes the versions no read at or above `threshold` can see, after replicating the new
    /// threshold (see the module doc for the order). Returns how many versions were removed;
    /// 0 without writing anything when `threshold` does not raise the current one.
    pub fn gc(&self, threshold: Timestamp) -> Result<usize> {
        self.check_current()?;
        {
            let mut t = self.gc_threshold.lock();
            if threshold <= *t {
                return Ok(0);
            }
            // Reads below it fail from now on, before any version disappears.
            *t = threshold;
        }
        self.close(threshold);
        let mut batch = WriteBatch::new();
        stage_gc_threshold(&mut batch, &self.span.start, threshold);
        self.writer.write(batch, false)?;
        let writer = self.writer.clone();
        let mut failed = None;
        let removed = self.mvcc.gc_span_with(
            &self.span.start,
            self.span.end.as_deref(),
            threshold,
            &mut |batch| {
                writer.write(batch, false).map_err(|e| {
                    let msg = e.to_string();
                    failed = Some(e);
                    kv::Error::Engine(msg)
                })
            },
        );
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(removed?)
    }

    /// Whether the range object was replaced (split, lease moved): GC stops using it.
    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::SeqCst)
    }
}
