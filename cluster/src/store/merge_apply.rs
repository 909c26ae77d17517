//! Applying the replicated steps of a range merge (see `store/merge.rs` for the protocol):
//! freezing the right-hand range, unfreezing it when its merge was abandoned, fencing a merge
//! off the left-hand range, and the merge itself.
//!
//! Everything here is deterministic: it reads the commands and the replicas' applied
//! descriptors and leases (the applier's view), never a clock. The merge reads one thing
//! outside its own range: the local replica of the right-hand range, which must be frozen at
//! exactly the descriptor the command names. The proposer makes sure every replica of the
//! right-hand range applied the freeze before it proposes the merge, and a frozen range
//! changes no more, so every replica of the left side finds the same. If one does not (a
//! broken invariant), applying stops on that node (the Raft thread panics before writing
//! anything) rather than merge data it does not have: the node stops replicating instead of
//! diverging.

use super::Applier;
use crate::desc::{self, FreezeRecord, Lease, RangeDescriptor};
use kv::engine::WriteBatch;
use kv::{RangeId, Timestamp};
use std::collections::BTreeSet;

/// The key marking a split at `start` as sticky (made by `SPLIT AT`): the merge queue leaves
/// the range starting there alone. It is a local key of the range's transaction-record span
/// (right after its GC threshold; record keys append a 16-byte id), so it moves with the
/// range in splits and snapshots.
pub fn sticky_key(start: &[u8]) -> Vec<u8> {
    let mut k = txn::range::gc_threshold_key(start);
    k.push(0);
    k
}

impl Applier<'_> {
    /// [`crate::desc::Command::Freeze`].
    pub(super) fn apply_freeze(
        &mut self,
        range: RangeId,
        lease_seq: u64,
        generation: u64,
        lhs: RangeId,
        batch: &mut WriteBatch,
    ) -> Result<(), txn::Error> {
        let (d, lease) = self.view(range).clone();
        let Some(d) = d else {
            return Err(txn::Error::Internal(
                "freeze of an uninitialised range".into(),
            ));
        };
        if lease.is_frozen() {
            return Err(txn::Error::RangeKeyMismatch(format!(
                "{range} is already frozen for a merge"
            )));
        }
        if lease.seq != lease_seq {
            return Err(txn::Error::NotLeaseholder {
                leaseholder: Some(lease.holder).filter(|n| n.0 != 0),
            });
        }
        if d.generation != generation {
            return Err(txn::Error::RangeKeyMismatch(format!(
                "{range} changed before its freeze applied"
            )));
        }
        let record = FreezeRecord {
            lhs,
            lease: lease.clone(),
        };
        batch.put(desc::freeze_key(range), desc::encode(&record));
        let frozen = desc::frozen_lease(&lease);
        batch.put(desc::lease_key(range), desc::encode(&frozen));
        self.view(range).1 = frozen;
        self.state_effect(range);
        Ok(())
    }

    /// [`crate::desc::Command::Unfreeze`]: the lease before the freeze comes back under a new
    /// sequence (commands evaluated before the freeze stay rejected). Nothing to do when the
    /// range is not frozen.
    pub(super) fn apply_unfreeze(
        &mut self,
        range: RangeId,
        prev: Lease,
        batch: &mut WriteBatch,
    ) -> Result<(), txn::Error> {
        let cur = self.view(range).1.clone();
        if !cur.is_frozen() {
            return Ok(());
        }
        let lease = Lease {
            seq: cur.seq + 1,
            ..prev
        };
        batch.delete(desc::freeze_key(range));
        batch.put(desc::lease_key(range), desc::encode(&lease));
        self.view(range).1 = lease;
        self.state_effect(range);
        Ok(())
    }

    /// [`crate::desc::Command::FenceMerge`]: a generation bump with no other change.
    pub(super) fn apply_fence(
        &mut self,
        range: RangeId,
        generation: u64,
        batch: &mut WriteBatch,
    ) -> Result<(), txn::Error> {
        let Some(mut d) = self.view(range).0.clone() else {
            return Err(txn::Error::Internal(
                "fence of an uninitialised range".into(),
            ));
        };
        if d.generation != generation {
            return Err(txn::Error::RangeKeyMismatch(format!(
                "{range} is no longer at generation {generation}"
            )));
        }
        d.generation += 1;
        batch.put(desc::desc_key(range), desc::encode(&d));
        self.view(range).0 = Some(d);
        self.state_effect(range);
        Ok(())
    }

    /// [`crate::desc::Command::Merge`].
    pub(super) fn apply_merge(
        &mut self,
        range: RangeId,
        lease_seq: u64,
        generation: u64,
        rhs: RangeDescriptor,
        gc_threshold: Timestamp,
        batch: &mut WriteBatch,
    ) -> Result<(), txn::Error> {
        let (d, lease) = self.view(range).clone();
        let Some(d) = d else {
            return Err(txn::Error::Internal(
                "merge into an uninitialised range".into(),
            ));
        };
        if lease.seq != lease_seq || lease.is_frozen() {
            return Err(txn::Error::NotLeaseholder {
                leaseholder: Some(lease.holder).filter(|n| n.0 != 0),
            });
        }
        if d.generation != generation || d.end.as_deref() != Some(rhs.start.as_slice()) {
            return Err(txn::Error::RangeKeyMismatch(format!(
                "{range} changed before its merge with {} applied",
                rhs.range_id
            )));
        }
        if rhs.range_id == range || !colocated(&d, &rhs) {
            return Err(txn::Error::Internal(format!(
                "{range} and {} are not colocated",
                rhs.range_id
            )));
        }
        let (local, local_lease) = self.view(rhs.range_id).clone();
        if local.as_ref() != Some(&rhs) || !local_lease.is_frozen() {
            // See the module doc: the proposer saw this replica frozen at `rhs`, and a frozen
            // range does not change. Writing the merge would serve data this node lacks.
            tracing::error!(
                lhs = %range, rhs = %rhs.range_id, local = ?local,
                "merge applied without the frozen right-hand replica; stopping replication"
            );
            panic!(
                "merge of {} into {range}: the local right-hand replica is not frozen at the \
                 merged descriptor",
                rhs.range_id
            );
        }
        let mut merged = d.clone();
        merged.end = rhs.end.clone();
        merged.generation = d.generation.max(rhs.generation) + 1;
        batch.put(desc::desc_key(range), desc::encode(&merged));
        // The right side's range-id keys (descriptor, lease, freeze record) and its place in
        // the store's replica list go; its MVCC data and transaction records, in the same
        // engine and inside the merged span, are the left side's from now on.
        let (s, e) = desc::range_id_span(rhs.range_id);
        batch.delete_range(s, Some(e));
        batch.delete(desc::replica_list_key(rhs.range_id));
        batch.put(
            desc::merged_tombstone_key(rhs.range_id),
            desc::encode(&range.0),
        );
        batch.delete(txn::range::gc_threshold_key(&rhs.start));
        batch.delete(sticky_key(&rhs.start));
        if gc_threshold > Timestamp::ZERO {
            txn::range::stage_gc_threshold(batch, &merged.start, gc_threshold);
        }
        self.view(range).0 = Some(merged);
        self.state_effect(range);
        *self.view(rhs.range_id) = (None, Lease::default());
        self.post.push(super::PostAction::Destroy(rhs.range_id));
        Ok(())
    }
}

/// Whether two ranges have replicas on exactly the same nodes, of the same kinds.
pub fn colocated(a: &RangeDescriptor, b: &RangeDescriptor) -> bool {
    let set = |d: &RangeDescriptor| -> BTreeSet<(u64, bool)> {
        d.replicas
            .iter()
            .map(|r| (r.node_id.0, r.kind == desc::ReplicaKind::Voter))
            .collect()
    };
    set(a) == set(b)
}
