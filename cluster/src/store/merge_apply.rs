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
//! broken invariant: a membership change of the right side begun by a deposed leader raced
//! the freeze, or the frozen replica was lost), that left-hand replica does not apply the
//! merge to data it does not have, and nothing after it: it is *stalled* ([`Applier::stall`]),
//! marked as needing a snapshot ([`desc::needs_snapshot_key`], written with the applied
//! index, so a restart in between finds it), and the Raft thread resets it to an
//! uninitialised replica ([`reset_stored_replica`]: data, descriptor and log go; the Raft
//! term and vote stay, so it never votes twice in a term). It then asks the leader for a
//! snapshot (raftloop.rs) and catches up from it, as a new replica does. The node keeps
//! serving its other ranges.
//!
//! The other direction: a left-hand replica that was cut off during a merge and whose log the
//! leader truncated past the merge receives a snapshot of the merged range, which overlaps
//! its own frozen right-hand replica. That replica is subsumed ([`subsumed_by`]): the
//! snapshot is accepted (raftloop.rs `snapshot_fits`) and replaces it, as the merge would
//! have (its range-id keys and place in the replica list go, a merge tombstone stays, the
//! group is destroyed after the snapshot's batch is written).

use super::apply::{data_spans, Applier, PostAction, Snapshots};
use crate::desc::{self, FreezeRecord, Lease, RangeDescriptor};
use crate::store::{Replica, Store};
use kv::engine::WriteBatch;
use kv::{RangeId, Timestamp};
use raft::prelude::HardState;
use std::collections::BTreeSet;
use std::sync::Arc;

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
                "merge without the frozen right-hand replica here; the left replica waits \
                 for a snapshot"
            );
            self.stall(range, batch);
            return Err(txn::Error::Ambiguous(format!(
                "the merge of {} into {range} could not apply on {}: its replica of {range} \
                 waits for a snapshot",
                rhs.range_id, self.store.node_id
            )));
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
        self.post.push(PostAction::Destroy(rhs.range_id));
        Ok(())
    }
}

impl Applier<'_> {
    /// Stops applying `range` here (see the module doc): nothing more of its log applies in
    /// this iteration, the marker is written with this batch, and the Raft thread resets the
    /// replica afterwards.
    pub(super) fn stall(&mut self, range: RangeId, batch: &mut WriteBatch) {
        batch.put(desc::needs_snapshot_key(range), Vec::new());
        self.stalled.insert(range);
        self.post.push(PostAction::ResetForSnapshot(range));
    }
}

/// Whether the local replica `rep` is a frozen right-hand replica that the merged range `d`
/// (a snapshot's descriptor) subsumed: it is frozen for a merge into `d`'s range and its
/// span lies inside `d`'s (only a merge widens a range, so `d` is the merged range).
pub fn subsumed_by(store: &Store, rep: &Replica, d: &RangeDescriptor) -> bool {
    let Some(local) = rep.desc() else {
        return false;
    };
    let inside = local.start >= d.start
        && match (&d.end, &local.end) {
            (None, _) => true,
            (Some(de), Some(le)) => le <= de,
            (Some(_), None) => false,
        };
    inside
        && rep.lease().is_frozen()
        && store
            .freeze_record(rep.range_id)
            .is_some_and(|f| f.lhs == d.range_id)
}

/// Stages, in a snapshot's batch, the removal of a local right-hand replica the snapshot
/// subsumes (its data is in the snapshot's span, which the snapshot clears and rewrites).
pub(super) fn stage_subsumed(batch: &mut WriteBatch, rhs: RangeId, lhs: RangeId) {
    let (s, e) = desc::range_id_span(rhs);
    batch.delete_range(s, Some(e));
    batch.delete(desc::replica_list_key(rhs));
    batch.put(desc::merged_tombstone_key(rhs), desc::encode(&lhs.0));
}

/// Resets the stored state of a stalled replica (see the module doc) to an uninitialised
/// replica's: its data, descriptor, lease and Raft log go; its Raft term and vote stay (with
/// commit 0, which an empty log requires). The replica-list entry and the needs-snapshot
/// marker stay: the snapshot that initialises it deletes the marker. The Raft group must not
/// be running.
pub(crate) fn reset_stored_replica(store: &Arc<Store>, range: RangeId) -> Result<(), String> {
    let source = Arc::new(Snapshots(Arc::downgrade(store)));
    let mut log = replication::LogStore::open(store.engine.as_ref(), range, source)
        .map_err(|e| e.to_string())?;
    let hs = log.hard_state().clone();
    let mut batch = WriteBatch::new();
    if let Some(d) = store.read_desc(range)? {
        for (s, e) in data_spans(&d) {
            batch.delete_range(s, e);
        }
    }
    log.stage_destroy(&mut batch);
    let kept = HardState {
        term: hs.term,
        vote: hs.vote,
        commit: 0,
        ..HardState::default()
    };
    log.set_hard_state(&mut batch, kept)
        .map_err(|e| e.to_string())?;
    store.engine.write(batch, true).map_err(|e| e.to_string())?;
    tracing::warn!(range = %range, "replica reset; it waits for a snapshot");
    Ok(())
}

/// At store open: finishes the reset of a replica stalled before a restart (marked, but its
/// descriptor still there).
pub(crate) fn reset_if_marked(store: &Arc<Store>, range: RangeId) -> Result<(), String> {
    let marked = store
        .engine
        .get(&desc::needs_snapshot_key(range))
        .map_err(|e| e.to_string())?
        .is_some();
    if marked && store.read_desc(range)?.is_some() {
        reset_stored_replica(store, range)?;
    }
    Ok(())
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
