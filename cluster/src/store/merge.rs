//! Merging a range with its right-hand neighbour, at the node holding both leases.
//!
//! Protocol (in the spirit of TiKV's PrepareMerge/CommitMerge and CockroachDB's Subsume; the
//! replicated steps are applied in `store/merge_apply.rs`):
//!
//! 1. Preconditions: this node holds the leases of both ranges, the left side ends where the
//!    right side starts, and both have replicas on exactly the same nodes, of the same kinds
//!    (the merge queue, crate::merge, colocates them first). Neither may be range 1.
//! 2. **Freeze** the right side through its own Raft log ([`Command::Freeze`]): its lease
//!    becomes one held by nobody, forever, so from that entry on every write, lease and split
//!    command fails at apply on every replica, the leaseholder's transaction object is
//!    retired (requests in it fail and retry), and new requests are answered "not
//!    leaseholder" (with a hint the sender cannot use: it backs off and looks the range up
//!    again). Its data is final on each replica that applied the freeze. The previous lease
//!    is kept in the range's [`FreezeRecord`].
//! 3. **Wait for application**: every replica of the right side must report (ReplicaInfo)
//!    the frozen lease and the descriptor the freeze applied to. A replica that is behind
//!    (partitioned, slow) holds the merge back; if it does not catch up within
//!    [`FREEZE_WAIT`], the merge is abandoned and the right side unfrozen. So no replica of
//!    the left side ever applies the merge over right-hand data that is not final.
//! 4. **Merge** through the left side's Raft log ([`Command::Merge`], carrying the frozen
//!    descriptor): every replica widens the left descriptor, drops its right-hand replica
//!    (Raft group, log, range-id keys; the data stays and is now the left side's), and folds
//!    the GC thresholds (the larger of both). The left side's transaction object is retired
//!    by the span change; the next one starts its timestamp cache at this node's clock, which
//!    is above every read either side served (both leases were here, and requests move the
//!    clock), so no write can land below a read the right side served. Closed timestamps do
//!    not regress for the same reason (the merged leaseholder closes below its clock).
//! 5. The caller then rewrites the meta records (crate::merge) in one range-1 command: the
//!    right side's record becomes the merged descriptor, the left side's goes.
//!
//! Outcome of a merge whose proposal timed out: the left side's Raft log decides. The
//! proposer proposes [`Command::FenceMerge`] at the generation the merge was planned against;
//! whichever of the two applies first wins (the other is refused at apply on every replica).
//! Only a fence that applied lets the right side be unfrozen; otherwise the merge happened.
//! The same rule lets any node recover a right side left frozen by a proposer that died
//! ([`Store::recover_frozen`], run by the merge queue).
//!
//! IMPLEMENTATION CAVEATS
//! - Both leases must be on this node; the queue moves the right side's lease to the left
//!   side's holder first (a node holding only the left lease waits).
//! - A membership change of the right side ordered after the freeze would break the merge's
//!   precondition on some node. The merging node leads the right side's group and holds its
//!   membership guard (replicas.rs) from before the freeze, changes are refused once it is
//!   frozen, and other nodes' allocators leave a range whose lease is held; only a change
//!   begun by a deposed leader in the same instant could slip in. A left-hand replica that
//!   then finds no frozen right-hand replica at apply does not merge data it lacks: it is
//!   reset and catches up by snapshot (`merge_apply.rs`).
//! - A left-hand replica that was cut off during the merge and comes back needing a snapshot
//!   (its log truncated past the merge) takes it: the snapshot replaces its subsumed frozen
//!   right-hand replica.

use crate::desc::{self, Command, FreezeRecord, Lease, RangeDescriptor};
use crate::store::merge_apply::{colocated, sticky_key};
use crate::store::{Replica, Store};
use kv::{NodeId, RangeId};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A pair of adjacent ranges at given descriptor generations (left, right).
pub(crate) type PairKey = ((RangeId, u64), (RangeId, u64));

/// A store's in-process state of splits, membership changes and merges: nothing here is
/// replicated or persisted (a restart forgets it, which only makes a split sticky or a pair
/// measured again).
#[derive(Default)]
pub struct MergeState {
    /// Split keys recently chosen by the size or load check (bounded; store/split.rs): a
    /// split at one of them is not sticky.
    pub(crate) automatic_split_keys: Mutex<VecDeque<Vec<u8>>>,
    /// Ranges whose membership is being changed, or which a merge is freezing
    /// (store/replicas.rs `MembershipGuard`).
    pub(crate) membership_busy: Mutex<HashSet<RangeId>>,
    /// Right-hand ranges a merge is running for (crate::merge).
    pub(crate) running: Mutex<HashSet<RangeId>>,
    /// Pairs found too big to merge, and when they were measured (crate::merge).
    pub(crate) too_big: Mutex<HashMap<PairKey, Instant>>,
    /// When each frozen local replica was first seen frozen (crate::merge).
    pub(crate) frozen_since: Mutex<HashMap<RangeId, Instant>>,
}

/// How long every replica of the right side has to apply the freeze.
pub const FREEZE_WAIT: Duration = Duration::from_secs(5);

/// How long the outcome of a merge whose proposal timed out is looked for before giving up
/// (the right side then stays frozen until [`Store::recover_frozen`] settles it).
const RESOLVE_WAIT: Duration = Duration::from_secs(15);

/// Why a frozen merge failed.
enum Failed {
    /// The merge did not and never will apply: the right side may be unfrozen.
    Undone(txn::Error),
    /// The outcome is unknown: the right side stays frozen until recovery settles it.
    Unknown(txn::Error),
}

/// What a replica of the right side reports: its applied descriptor and lease holder.
pub type ProbeResult = Option<(Option<RangeDescriptor>, NodeId)>;

/// Asks the replica of a range on a node what it applied (None: no answer).
pub type Probe<'a> = &'a (dyn Fn(NodeId, RangeId) -> ProbeResult + Sync);

/// Test hook run once every replica of the right side applied the freeze, right before the
/// merge is proposed.
pub type BeforeMerge<'a> = &'a (dyn Fn(&RangeDescriptor) + Sync);

impl Store {
    /// Merges range `lhs` with its right-hand neighbour `rhs`; this node must hold both
    /// leases. Returns the merged descriptor (the meta records are the caller's to update).
    pub fn merge_local(
        self: &Arc<Self>,
        lhs: RangeId,
        rhs: RangeId,
        probe: Probe<'_>,
        before_merge: Option<BeforeMerge<'_>>,
    ) -> Result<RangeDescriptor, txn::Error> {
        let (lrep, rrep) = (self.local(lhs)?, self.local(rhs)?);
        self.ensure_lease(&lrep)?;
        self.ensure_lease(&rrep)?;
        // Conf changes of the right side are proposed by its Raft leader: leading it here
        // and holding its membership guard, no change can slip in after the freeze.
        if !rrep.leader().1 {
            self.transfer_leadership_to_self(rhs);
            return Err(txn::Error::NotLeaseholder { leaseholder: None });
        }
        let _membership = crate::store::replicas::MembershipGuard::acquire(self, rhs);
        let (l, r) = (self.desc_of(&lrep)?, self.desc_of(&rrep)?);
        check_pair(&l, &r)?;
        // No GC run raises a threshold (nor a split copies one) while the merge folds them.
        let _gc = self.gc_lock.lock();
        let prev_lease = rrep.lease();
        let freeze = Command::Freeze {
            id: self.next_id(),
            lease_seq: prev_lease.seq,
            generation: r.generation,
            lhs,
        };
        if let Err(e) = self.propose_and_wait(rhs, &freeze) {
            // The freeze may still apply (a timeout is ambiguous): undo it if it did.
            self.unfreeze(rhs, &prev_lease);
            return Err(e);
        }
        tracing::info!(lhs = %lhs, rhs = %rhs, "merge: right side frozen");
        match self.merge_frozen(&lrep, &l, &r, probe, before_merge) {
            Ok(d) => Ok(d),
            Err(Failed::Undone(e)) => {
                self.unfreeze(rhs, &prev_lease);
                Err(e)
            }
            Err(Failed::Unknown(e)) => Err(e),
        }
    }

    /// Steps 3 and 4 (see the module doc) once `r` is frozen.
    fn merge_frozen(
        self: &Arc<Self>,
        lrep: &Arc<Replica>,
        l: &RangeDescriptor,
        r: &RangeDescriptor,
        probe: Probe<'_>,
        before_merge: Option<BeforeMerge<'_>>,
    ) -> Result<RangeDescriptor, Failed> {
        self.await_frozen(r, probe).map_err(Failed::Undone)?;
        if let Some(hook) = before_merge {
            hook(r);
        }
        let gc = |start: &[u8]| txn::range::read_gc_threshold(&self.mvcc, start);
        let gc_threshold = gc(&l.start)
            .and_then(|a| gc(&r.start).map(|b| a.max(b)))
            .map_err(Failed::Undone)?;
        // The merged range's next transaction object must be built on this node (whose clock
        // is above every read the right side served): the merge applies only under the left
        // lease held here now.
        self.ensure_lease(lrep).map_err(Failed::Undone)?;
        let left_lease = lrep.lease();
        if left_lease.holder != self.node_id {
            return Err(Failed::Undone(txn::Error::NotLeaseholder {
                leaseholder: Some(left_lease.holder),
            }));
        }
        let merge = Command::Merge {
            id: self.next_id(),
            lease_seq: left_lease.seq,
            generation: l.generation,
            rhs: r.clone(),
            gc_threshold,
        };
        match self.propose_and_wait(lrep.range_id, &merge) {
            Ok(()) => self.desc_of(lrep).map_err(Failed::Unknown),
            Err(txn::Error::Ambiguous(msg)) => match self.settle(lrep, l, r) {
                Ok(true) => self.desc_of(lrep).map_err(Failed::Unknown),
                Ok(false) => Err(Failed::Undone(txn::Error::Ambiguous(msg))),
                Err(e) => Err(Failed::Unknown(e)),
            },
            // Refused (deterministically, on every replica) or never proposed.
            Err(e) => Err(Failed::Undone(e)),
        }
    }

    fn local(&self, range: RangeId) -> Result<Arc<Replica>, txn::Error> {
        self.replica(range)
            .ok_or(txn::Error::NotLeaseholder { leaseholder: None })
    }

    fn desc_of(&self, rep: &Replica) -> Result<RangeDescriptor, txn::Error> {
        rep.desc()
            .ok_or(txn::Error::NotLeaseholder { leaseholder: None })
    }

    /// Waits until every replica of `r` applied its freeze.
    fn await_frozen(&self, r: &RangeDescriptor, probe: Probe<'_>) -> Result<(), txn::Error> {
        let deadline = Instant::now() + FREEZE_WAIT;
        let mut pending: Vec<NodeId> = r.replicas.iter().map(|x| x.node_id).collect();
        loop {
            pending.retain(|n| {
                !matches!(probe(*n, r.range_id),
                    Some((Some(d), holder)) if d == *r && holder == desc::FROZEN_HOLDER)
            });
            if pending.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(txn::Error::Unavailable(format!(
                    "merge of {} abandoned: the replicas on {pending:?} did not apply its \
                     freeze within {FREEZE_WAIT:?}",
                    r.range_id
                )));
            }
            self.wake(r.range_id);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Decides the outcome of a merge of `l` and `r` whose proposal timed out: true if it
    /// applied, false if a fence now keeps it from ever applying.
    fn settle(
        &self,
        lrep: &Replica,
        l: &RangeDescriptor,
        r: &RangeDescriptor,
    ) -> Result<bool, txn::Error> {
        let deadline = Instant::now() + RESOLVE_WAIT;
        loop {
            let cur = self.desc_of(lrep)?;
            if cur.generation > l.generation {
                // Only the merge widens a range.
                return Ok(cur.end == r.end);
            }
            let fence = Command::FenceMerge {
                id: self.next_id(),
                generation: l.generation,
            };
            match self.propose_and_wait(lrep.range_id, &fence) {
                Ok(()) => return Ok(false),
                Err(_) if Instant::now() < deadline => {
                    self.wake(lrep.range_id);
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Best effort: proposes the unfreeze of `rhs` (a no-op unless it is frozen). A right
    /// side left frozen is settled later by [`Store::recover_frozen`].
    fn unfreeze(&self, rhs: RangeId, prev: &Lease) {
        let cmd = Command::Unfreeze {
            id: self.next_id(),
            lease: prev.clone(),
        };
        match self.propose_and_wait(rhs, &cmd) {
            Ok(()) => tracing::info!(rhs = %rhs, "merge abandoned; right side unfrozen"),
            Err(e) => {
                tracing::warn!(rhs = %rhs, error = %e, "unfreeze failed; the merge queue retries")
            }
        }
    }

    /// The freeze record of a local replica (None: not frozen).
    pub fn freeze_record(&self, range: RangeId) -> Option<FreezeRecord> {
        let raw = self.engine.get(&desc::freeze_key(range)).ok()??;
        desc::decode(&raw).ok()
    }

    /// Settles a right-hand range left frozen by a merge that is not running any more (its
    /// proposer died or gave up): fences the left side at its current generation through its
    /// Raft log and, once the fence applied (the merge can never apply after it), unfreezes
    /// the right side. Does nothing when the merge applied (the left side covers the right
    /// side's start) or when the local replicas cannot tell. Returns whether it unfroze.
    pub fn recover_frozen(self: &Arc<Self>, rhs: RangeId) -> Result<bool, txn::Error> {
        let Some(record) = self.freeze_record(rhs) else {
            return Ok(false);
        };
        let rrep = self.local(rhs)?;
        let r = self.desc_of(&rrep)?;
        let lrep = self.local(record.lhs)?;
        let l = self.desc_of(&lrep)?;
        if l.end.as_deref() != Some(r.start.as_slice()) {
            // Merged already (this node's right-hand replica goes when it applies the
            // merge), or the local left side is behind: nothing safe to do here.
            return Ok(false);
        }
        let fence = Command::FenceMerge {
            id: self.next_id(),
            generation: l.generation,
        };
        self.propose_and_wait(record.lhs, &fence)?;
        let cmd = Command::Unfreeze {
            id: self.next_id(),
            lease: record.lease,
        };
        self.propose_and_wait(rhs, &cmd)?;
        tracing::info!(lhs = %record.lhs, rhs = %rhs, "recovered a range left frozen by an unfinished merge");
        Ok(true)
    }

    /// Destroys the uninitialised replicas of ranges merged away on this store: a Raft
    /// message from a replica that had not applied the merge yet (a vote request of its
    /// frozen right side, say) re-creates an empty replica, which no meta record would ever
    /// prove removed. Returns how many were handed to the Raft thread.
    pub fn collect_merged_leftovers(&self) -> usize {
        let mut n = 0;
        for rep in self.replicas() {
            if rep.initialized() {
                continue;
            }
            let key = desc::merged_tombstone_key(rep.range_id);
            if matches!(self.engine.get(&key), Ok(Some(_))) {
                self.send_raft(crate::store::RaftMsg::GcReplica {
                    range: rep.range_id,
                    replica: rep.replica_id,
                    generation: None,
                });
                n += 1;
            }
        }
        n
    }

    /// Test hook: destroys the local replica of `range` as replica GC does, whatever its
    /// membership (tests use it to make a node lose its frozen right-hand replica, the broken
    /// invariant `merge_apply.rs` survives). Returns whether the destruction was handed to
    /// the Raft thread.
    #[doc(hidden)]
    pub fn destroy_replica_for_testing(&self, range: RangeId) -> bool {
        let Some(rep) = self.replica(range) else {
            return false;
        };
        self.send_raft(crate::store::RaftMsg::GcReplica {
            range,
            replica: rep.replica_id,
            generation: rep.desc().map(|d| d.generation),
        });
        true
    }

    /// Whether a split made at `start` is sticky (`SPLIT AT`): the merge queue keeps it.
    pub fn is_sticky(&self, start: &[u8]) -> bool {
        matches!(self.engine.get(&sticky_key(start)), Ok(Some(_)))
    }

    /// Removes the stickiness of the split at `start` (CockroachDB's `UNSPLIT AT`), through
    /// the Raft log of the range starting there, under its lease (taken here if it lapsed).
    /// Returns whether the split was sticky (false: nothing to do). Fails with a key
    /// mismatch when no local replica starts at `start` (this replica may be behind).
    pub fn unsplit_local(self: &Arc<Self>, start: &[u8]) -> Result<bool, txn::Error> {
        let rep = self
            .replica_for_key(start)
            .filter(|r| r.desc().is_some_and(|d| d.start == start));
        let Some(rep) = rep else {
            return Err(txn::Error::RangeKeyMismatch(
                "no local replica starts at the key".into(),
            ));
        };
        if !self.is_sticky(start) {
            return Ok(false);
        }
        let ops = vec![(sticky_key(start), None)];
        self.write_plain(rep.range_id, ops)?;
        Ok(true)
    }

    /// Whether this node holds `rep`'s lease and may serve under it (outside the stasis
    /// period before its expiration).
    pub fn lease_valid_here(&self, rep: &Replica) -> bool {
        let lease = rep.lease();
        lease.holder == self.node_id
            && lease.expiration.physical_ms()
                > self.clock().now().physical_ms() + self.clock().max_offset_ms()
    }
}

/// The merge's static preconditions on the two descriptors.
pub fn check_pair(l: &RangeDescriptor, r: &RangeDescriptor) -> Result<(), txn::Error> {
    if l.range_id == RangeId(1) || r.range_id == RangeId(1) {
        return Err(txn::Error::Internal(
            "range 1 (addressing) is never merged".into(),
        ));
    }
    if l.end.as_deref() != Some(r.start.as_slice()) {
        return Err(txn::Error::RangeKeyMismatch(format!(
            "{} does not end where {} starts",
            l.range_id, r.range_id
        )));
    }
    if !colocated(l, r) {
        return Err(txn::Error::Internal(format!(
            "{} and {} do not have replicas on the same nodes",
            l.range_id, r.range_id
        )));
    }
    Ok(())
}
