//! An in-memory engine: a B-tree map behind a read-write lock. Used by fast deterministic tests
//! and by in-process simulations. Nothing survives the process.
//!
//! A scan holds the read lock while it visits entries, which gives it its snapshot: writers wait
//! until the scan ends. A batch is applied under the write lock, so readers see all of it or
//! none of it. `sync` is accepted and ignored (there is nothing to make durable).
//!
//! A range deletion removes its keys from the map at once (split and re-join of the B-tree),
//! in order with the batch's other writes.

use super::{BatchStep, Engine, Visit, WriteBatch};
use crate::Result;
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::ops::Bound;

/// An [`Engine`] that keeps everything in memory.
#[derive(Default)]
pub struct MemoryEngine {
    map: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl MemoryEngine {
    /// An empty engine.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Engine for MemoryEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.map.read().get(key).cloned())
    }

    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> Visit,
    ) -> Result<()> {
        let map = self.map.read();
        let upper = match end {
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        };
        if let Some(end) = end {
            if end <= start {
                return Ok(());
            }
        }
        for (k, v) in map.range::<[u8], _>((Bound::Included(start), upper)) {
            if visit(k, v) == Visit::Stop {
                break;
            }
        }
        Ok(())
    }

    fn write(&self, batch: WriteBatch, _sync: bool) -> Result<()> {
        let mut map = self.map.write();
        for step in batch.into_steps() {
            match step {
                BatchStep::Put(k, v) => {
                    map.insert(k, v);
                }
                BatchStep::Delete(k) => {
                    map.remove(&k);
                }
                BatchStep::DeleteRange(start, end) => delete_range(&mut map, start, end),
            }
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }
}

/// Removes the keys of `[start, end)` (to the end of the map when `end` is None).
fn delete_range(map: &mut BTreeMap<Vec<u8>, Vec<u8>>, start: Vec<u8>, end: Option<Vec<u8>>) {
    match end {
        Some(end) => {
            if end <= start {
                return;
            }
            // Cut out the span: [start, ..) then give back [end, ..).
            let mut tail = map.split_off(&start);
            let mut rest = tail.split_off(&end);
            map.append(&mut rest);
        }
        None => {
            map.split_off(&start);
        }
    }
}
