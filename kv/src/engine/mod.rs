//! The storage engine trait and its implementations.
//!
//! An [`Engine`] is an ordered map of byte keys to byte values with atomic batched writes. It
//! knows nothing of versions or transactions: MVCC is layered on top ([`crate::mvcc`]).
//!
//! Contract shared by every implementation (checked by the same test suite for each):
//! - Keys iterate in ascending bytewise order.
//! - A [`WriteBatch`] applies atomically: after a crash either all of it or none of it is there.
//! - A write with `sync = true` is durable when `write` returns (the WAL is fsynced); a write
//!   without sync may be lost by a machine crash but never partially applied.
//! - Scans see a consistent snapshot of the engine taken when the scan starts.
//! - A scan visitor must not call back into the engine (the memory engine holds its lock while
//!   visiting): collect what to write and write after the scan.
//! - A batch's writes take effect in the order they were added, range deletions included: a
//!   range deletion removes the keys of its span written before it (earlier batches and earlier
//!   ops of the same batch) and leaves those written after it in the same batch. This is
//!   RocksDB's own rule (each op of a batch gets the next sequence number and a range tombstone
//!   covers only older sequence numbers); the memory engine replays the ops in order.
//!
//! Range deletions exist so that destroying a replica costs one operation per span instead of
//! one per key (in RocksDB a range tombstone: O(1) to write, reclaimed by compaction).

mod memory;
mod rocks;
#[cfg(test)]
mod tests;

pub use memory::MemoryEngine;
pub use rocks::RocksEngine;

use crate::Result;

/// One write in a batch: a put (`Some(value)`) or a delete (`None`).
pub type BatchOp = (Vec<u8>, Option<Vec<u8>>);

/// A range deletion staged in a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeDeletion {
    /// How many of the batch's point ops ([`WriteBatch::ops`]) precede it.
    pub at: usize,
    /// First key deleted.
    pub start: Vec<u8>,
    /// First key after the span (None: no upper bound).
    pub end: Option<Vec<u8>>,
}

/// One write of a batch, in application order (see [`WriteBatch::into_steps`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchStep {
    /// Sets a key.
    Put(Vec<u8>, Vec<u8>),
    /// Removes a key.
    Delete(Vec<u8>),
    /// Removes every key of `[start, end)` (no upper bound when `end` is None).
    DeleteRange(Vec<u8>, Option<Vec<u8>>),
}

/// An ordered list of writes applied atomically.
///
/// Point writes live in [`WriteBatch::ops`] (public: Raft commands carry them as a list);
/// range deletions are kept beside them with their position among the point writes, so the
/// order of everything added is preserved. Code that takes `ops` out of a batch directly sees
/// only the point writes: it must check [`WriteBatch::has_range_deletions`] first (or use
/// [`WriteBatch::into_steps`]). Appending to `ops` keeps the order; inserting into or removing
/// from the middle of `ops` of a batch with range deletions would move them.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    /// The point writes, applied in order.
    pub ops: Vec<BatchOp>,
    /// Range deletions, in the order they were added (their `at` never decreases).
    range_deletions: Vec<RangeDeletion>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push((key, Some(value)));
    }

    /// Adds a delete.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.ops.push((key, None));
    }

    /// Adds a deletion of every key `k` with `start <= k < end` (no upper bound when `end` is
    /// None). It applies in order with the batch's other writes: keys put before it in this
    /// batch are deleted, keys put after it survive. An empty span (`end <= start`) is no
    /// write at all.
    pub fn delete_range(&mut self, start: Vec<u8>, end: Option<Vec<u8>>) {
        if end.as_ref().is_some_and(|e| *e <= start) {
            return;
        }
        self.range_deletions.push(RangeDeletion {
            at: self.ops.len(),
            start,
            end,
        });
    }

    /// The staged range deletions, in order.
    pub fn range_deletions(&self) -> &[RangeDeletion] {
        &self.range_deletions
    }

    /// Whether the batch holds range deletions (then `ops` alone is not the whole batch).
    pub fn has_range_deletions(&self) -> bool {
        !self.range_deletions.is_empty()
    }

    /// Whether the batch has no writes.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.range_deletions.is_empty()
    }

    /// Every write of the batch, in the order it applies.
    pub fn into_steps(self) -> impl Iterator<Item = BatchStep> {
        let mut ranges = self.range_deletions.into_iter().peekable();
        let mut ops = self.ops.into_iter().enumerate().peekable();
        std::iter::from_fn(move || {
            let next_op = ops.peek().map(|(i, _)| *i);
            match (ranges.peek(), next_op) {
                // A range deletion goes before the op at its position (and after every op
                // when its position is past the end).
                (Some(r), Some(i)) if r.at <= i => ranges.next().map(range_step),
                (_, Some(_)) => ops.next().map(|(_, (k, v))| match v {
                    Some(v) => BatchStep::Put(k, v),
                    None => BatchStep::Delete(k),
                }),
                (Some(_), None) => ranges.next().map(range_step),
                (None, None) => None,
            }
        })
    }
}

fn range_step(r: RangeDeletion) -> BatchStep {
    BatchStep::DeleteRange(r.start, r.end)
}

/// What a scan visitor returns: keep going or stop the scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// Visit the next entry.
    Continue,
    /// End the scan.
    Stop,
}

/// A synchronous ordered key-value store.
pub trait Engine: Send + Sync + 'static {
    /// Reads one key.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Visits the entries with `start <= key < end` (no upper bound when `end` is `None`) in
    /// ascending key order, until the visitor returns [`Visit::Stop`].
    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> Visit,
    ) -> Result<()>;

    /// Applies a batch atomically; durable on return when `sync` is true.
    fn write(&self, batch: WriteBatch, sync: bool) -> Result<()>;

    /// Makes every earlier write durable.
    fn sync(&self) -> Result<()>;
}
