//! Splitting a range at a key, at its leaseholder. The right side inherits the left side's
//! MVCC GC threshold (written at the split key before the split, see crate::gc).
//!
//! Splits are *sticky* (CockroachDB's manual splits: the merge queue never undoes them, see
//! `store/merge.rs`) unless the key was chosen by the size-based split check
//! ([`Store::size_and_middle`]) of this node: a marker local key at the split key, written
//! through the left side's Raft log before the split, moves to the right side with its data.
//! `Store::unsplit_local` (SQL `UNSPLIT AT`) removes it.

use super::Store;
use crate::desc::{Command, RangeDescriptor, MIN_SPLIT_KEY};
use kv::engine::Visit;
use kv::RangeId;
use std::sync::Arc;

/// How many automatically chosen split keys a store remembers (see
/// [`Store::note_automatic_split`]). A key missing there (the list overflowed, another node
/// chose it) only makes the split sticky, i.e. never merged automatically: the safe side.
const AUTOMATIC_SPLIT_KEYS_MAX: usize = 256;

impl Store {
    fn note_size_split_key(&self, key: &[u8]) {
        let mut keys = self.merge_state.automatic_split_keys.lock();
        if keys.len() >= AUTOMATIC_SPLIT_KEYS_MAX {
            keys.pop_front();
        }
        keys.push_back(key.to_vec());
    }

    fn take_size_split_key(&self, key: &[u8]) -> bool {
        let mut keys = self.merge_state.automatic_split_keys.lock();
        match keys.iter().position(|k| k == key) {
            Some(i) => keys.remove(i).is_some(),
            None => false,
        }
    }

    /// Splits the local replica's range that holds `key` at `key`, the new right-hand range
    /// getting id `new_range`. Returns the two descriptors (left, right), or `None` when the
    /// range already starts at `key`.
    pub fn split_at_local(
        self: &Arc<Self>,
        key: &[u8],
        new_range: RangeId,
    ) -> Result<Option<(RangeDescriptor, RangeDescriptor)>, txn::Error> {
        if key < MIN_SPLIT_KEY {
            return Err(txn::Error::Internal(
                "ranges cannot be split inside the addressing span (below /System)".into(),
            ));
        }
        let rep = self
            .replica_for_key(key)
            .ok_or_else(|| txn::Error::RangeKeyMismatch("no local replica holds the key".into()))?;
        let desc = rep
            .desc()
            .ok_or(txn::Error::NotLeaseholder { leaseholder: None })?;
        if desc.start == key {
            // A `SPLIT AT` of an existing boundary makes it sticky (CockroachDB's too).
            if !self.take_size_split_key(key) && !self.is_sticky(key) {
                self.ensure_lease(&rep)?;
                self.write_plain(rep.range_id, vec![(merge_sticky_key(key), Some(vec![1]))])?;
            }
            return Ok(None);
        }
        let range = self.ensure_lease(&rep)?;
        // The right side inherits the GC threshold (it is keyed by the range's start key).
        let _gc = self.gc_lock.lock();
        let threshold = range.gc_threshold();
        let mut batch = kv::engine::WriteBatch::new();
        if threshold > kv::Timestamp::ZERO {
            txn::range::stage_gc_threshold(&mut batch, key, threshold);
        }
        if !self.take_size_split_key(key) {
            batch.put(merge_sticky_key(key), vec![1]);
        }
        if batch.has_range_deletions() {
            // Commands carry point writes only; nothing above stages a range deletion.
            return Err(txn::Error::Internal(
                "split: range deletions cannot be replicated".into(),
            ));
        }
        if !batch.is_empty() {
            self.write_plain(rep.range_id, batch.ops)?;
        }
        let cmd = Command::Split {
            id: self.next_id(),
            generation: desc.generation,
            key: key.to_vec(),
            new_range,
        };
        self.propose_and_wait(rep.range_id, &cmd)?;
        let lhs = rep
            .desc()
            .ok_or_else(|| txn::Error::Internal("split range lost its descriptor".into()))?;
        let mut rhs = lhs.clone();
        rhs.range_id = new_range;
        rhs.start = key.to_vec();
        rhs.end = desc.end.clone();
        Ok(Some((lhs, rhs)))
    }

    /// Marks the next split at `key` proposed by this node as automatic (not sticky: the
    /// merge queue may merge it away once the ranges are small). Splits chosen by load or
    /// size call this before splitting; `SPLIT AT` does not.
    pub fn note_automatic_split(&self, key: &[u8]) {
        self.note_size_split_key(key);
    }

    /// The approximate bytes of a range's MVCC data (stops counting past `limit`).
    pub fn range_bytes(&self, desc: &RangeDescriptor, limit: u64) -> u64 {
        let spans = super::apply::data_spans(desc);
        let (start, end) = &spans[0];
        let mut total = 0u64;
        let _ = self.engine.scan(start, end.as_deref(), &mut |k, v| {
            total += (k.len() + v.len()) as u64;
            if total > limit {
                Visit::Stop
            } else {
                Visit::Continue
            }
        });
        total
    }

    /// The approximate bytes of a range's MVCC data, and the key in the middle of them (the
    /// split point when the range is too large). Stops counting at `limit` bytes.
    pub fn size_and_middle(&self, desc: &RangeDescriptor, limit: u64) -> (u64, Option<Vec<u8>>) {
        let spans = super::apply::data_spans(desc);
        let (start, end) = &spans[0];
        let mut total = 0u64;
        let _ = self.engine.scan(start, end.as_deref(), &mut |k, v| {
            total += (k.len() + v.len()) as u64;
            if total > limit {
                Visit::Stop
            } else {
                Visit::Continue
            }
        });
        let half = total / 2;
        let mut seen = 0u64;
        let mut middle = None;
        let _ = self.engine.scan(start, end.as_deref(), &mut |k, v| {
            seen += (k.len() + v.len()) as u64;
            if seen >= half {
                if let Ok(sk) = kv::mvcc::decode_storage_key(k) {
                    let key = match sk {
                        kv::mvcc::StorageKey::Meta { key, .. } => key,
                        kv::mvcc::StorageKey::Version { key, .. } => key,
                    };
                    middle = Some(key);
                }
                return Visit::Stop;
            }
            Visit::Continue
        });
        let middle = middle.filter(|m| desc.contains(m) && *m != desc.start);
        // The allocator splits at the middle when the size passes half its limit.
        if let Some(m) = middle.as_ref().filter(|_| total > limit / 2) {
            self.note_size_split_key(m);
        }
        (total, middle)
    }
}

fn merge_sticky_key(key: &[u8]) -> Vec<u8> {
    super::merge_apply::sticky_key(key)
}
