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

mod memory;
mod rocks;

pub use memory::MemoryEngine;
pub use rocks::RocksEngine;

use crate::Result;

/// One write in a batch: a put (`Some(value)`) or a delete (`None`).
pub type BatchOp = (Vec<u8>, Option<Vec<u8>>);

/// An ordered list of writes applied atomically.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    /// The writes, applied in order.
    pub ops: Vec<BatchOp>,
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

    /// Whether the batch has no writes.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
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
