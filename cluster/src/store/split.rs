//! Splitting a range at a key, at its leaseholder. The right side inherits the left side's
//! MVCC GC threshold (written at the split key before the split, see crate::gc).

use super::Store;
use crate::desc::{Command, RangeDescriptor, MIN_SPLIT_KEY};
use kv::engine::Visit;
use kv::RangeId;
use std::sync::Arc;

impl Store {
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
            return Ok(None);
        }
        let range = self.ensure_lease(&rep)?;
        // The right side inherits the GC threshold (it is keyed by the range's start key).
        let _gc = self.gc_lock.lock();
        let threshold = range.gc_threshold();
        if threshold > kv::Timestamp::ZERO {
            let mut batch = kv::engine::WriteBatch::new();
            txn::range::stage_gc_threshold(&mut batch, key, threshold);
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
        (
            total,
            middle.filter(|m| desc.contains(m) && *m != desc.start),
        )
    }
}
