//! Membership changes: adding, promoting, demoting, moving and removing a range's replicas
//! through Raft configuration changes, proposed by the node that leads the range's group.
//!
//! Non-voting replicas are Raft learners: they receive the log but are in no quorum. A voter
//! is never added cold (CockroachDB's rule): it joins as a learner, catches up (a snapshot,
//! then the log), and only then becomes a voter, so the quorum never waits on a replica with
//! no data. The Raft leader refuses to promote a learner that has not caught up
//! (`replication::Error::LearnerBehind`); the promotion is retried until it is accepted or
//! [`CATCH_UP`] passes.
//!
//! A voter *move* ([`Store::move_voter`]: rebalancing, constraint repair, a dead or
//! decommissioning node's replacement, a voter/non-voter swap) is one joint-consensus change
//! after the learner step: {promote the new replica, remove (or demote) the old voter}. The
//! descriptor committed with the joint change lists both as voters (the outgoing one still
//! votes in the old half); the group leaves the joint configuration by itself (raft-rs's
//! auto-leave, or any later leader: see `replication::joint`), and applying that empty change
//! derives the final descriptor from the resulting configuration (see `apply.rs`). Each
//! descriptor change commits atomically with its configuration change.
//!
//! The replica being taken away is never the leaseholder or this (leading) node: the
//! allocator transfers the lease first. A range frozen for a merge (store/merge.rs) refuses
//! every change.
//!
//! IMPLEMENTATION CAVEATS
//! - The meta record is updated by the caller after the change (as for splits' callers); if
//!   the proposing node dies between the joint change and the leave, the group still leaves,
//!   but the meta record keeps the joint replica list until the range's next change. Stale
//!   meta records only cost a retry: the descriptor each replica holds is the authority.
//! - A learner left behind by a move that failed (e.g. the node died before promoting it) is
//!   a non-voter in the descriptor; the allocator removes it as a surplus non-voter.

use super::{RaftMsg, Store};
use crate::desc::{self, RangeDescriptor, ReplicaDesc, ReplicaKind};
use kv::{NodeId, RangeId, ReplicaId};
use raft::prelude::{ConfChangeSingle, ConfChangeType, ConfChangeV2};
use replication::joint;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a new learner may take to catch up before its promotion is given up.
pub const CATCH_UP: Duration = Duration::from_secs(30);

/// How long the group may take to leave a joint configuration once it entered it.
const LEAVE_JOINT: Duration = Duration::from_secs(10);

impl Store {
    /// Adds a replica of `kind` on `node` to `range` (this node must lead its group). Returns
    /// the new descriptor. The new replica is created on `node` when the first message reaches
    /// it, and catches up from a snapshot. A voter is added as a learner first and promoted
    /// once it caught up.
    pub fn add_replica(
        self: &Arc<Self>,
        range: RangeId,
        node: NodeId,
        kind: ReplicaKind,
    ) -> Result<RangeDescriptor, txn::Error> {
        let d = self.add_learner(range, node)?;
        match kind {
            ReplicaKind::NonVoter => Ok(d),
            ReplicaKind::Voter => self.set_replica_kind(range, node, ReplicaKind::Voter),
        }
    }

    /// Makes the replica on `node` a voter (promotion of a learner, retried until it caught
    /// up) or a non-voter (demotion); one voter changes, so a single-step change is safe.
    /// Returns the new descriptor.
    pub fn set_replica_kind(
        self: &Arc<Self>,
        range: RangeId,
        node: NodeId,
        kind: ReplicaKind,
    ) -> Result<RangeDescriptor, txn::Error> {
        let d = self.leader_desc(range)?;
        let r = replica_of(&d, node)?;
        if r.kind == kind {
            return Ok(d);
        }
        if kind == ReplicaKind::NonVoter {
            self.not_leaseholder(range, node)?;
        }
        let mut new = d.clone();
        for x in new.replicas.iter_mut().filter(|x| x.node_id == node) {
            x.kind = kind;
        }
        new.generation += 1;
        let cc = joint::simple_change(single(conf_change_type(kind), r.replica_id));
        self.change_retrying(range, &d, &new, cc)?;
        Ok(new)
    }

    /// Moves the voter on `from` to `to` (see the module doc): `to` is added as a learner
    /// (or its non-voter is used), catches up, and one joint change makes it a voter while
    /// `from` is removed, or demoted to a non-voter when `demote`. Returns once the group left
    /// the joint configuration, with the final descriptor.
    pub fn move_voter(
        self: &Arc<Self>,
        range: RangeId,
        from: NodeId,
        to: NodeId,
        demote: bool,
    ) -> Result<RangeDescriptor, txn::Error> {
        if from == self.node_id || from == to {
            return Err(txn::Error::Internal(format!(
                "{range}: {from} cannot give its voter to {to} (transfer the lease first)"
            )));
        }
        self.not_leaseholder(range, from)?;
        let old = replica_of(&self.leader_desc(range)?, from)?;
        if old.kind != ReplicaKind::Voter {
            return Err(txn::Error::Internal(format!(
                "{range} has no voter on {from}"
            )));
        }
        let d = self.add_learner(range, to)?;
        let new_rep = replica_of(&d, to)?;
        if new_rep.kind == ReplicaKind::Voter {
            return Err(txn::Error::Internal(format!(
                "{range} already has a voter on {to}"
            )));
        }
        // The joint descriptor: both are voters (the old one votes in the outgoing half).
        let mut joint_desc = d.clone();
        for x in joint_desc.replicas.iter_mut().filter(|x| x.node_id == to) {
            x.kind = ReplicaKind::Voter;
        }
        joint_desc.generation += 1;
        let out = if demote {
            ConfChangeType::AddLearnerNode
        } else {
            ConfChangeType::RemoveNode
        };
        let cc = joint::joint_change(vec![
            single(ConfChangeType::AddNode, new_rep.replica_id),
            single(out, old.replica_id),
        ]);
        self.change_retrying(range, &d, &joint_desc, cc)?;
        self.await_leave(range, joint_desc.generation)
    }

    /// Removes the replica on `node` from `range` (never the leaseholder's). Returns the new
    /// descriptor.
    pub fn remove_replica(
        self: &Arc<Self>,
        range: RangeId,
        node: NodeId,
    ) -> Result<RangeDescriptor, txn::Error> {
        let d = self.leader_desc(range)?;
        let Some(r) = d.replica_on(node).cloned() else {
            return Ok(d);
        };
        self.not_leaseholder(range, node)?;
        let mut new = d.clone();
        new.replicas.retain(|x| x.node_id != node);
        new.generation += 1;
        let cc = joint::simple_change(single(ConfChangeType::RemoveNode, r.replica_id));
        self.change_retrying(range, &d, &new, cc)?;
        Ok(new)
    }

    /// Adds a learner (a non-voter in the descriptor) on `node` unless it has a replica;
    /// returns the descriptor.
    fn add_learner(
        self: &Arc<Self>,
        range: RangeId,
        node: NodeId,
    ) -> Result<RangeDescriptor, txn::Error> {
        let d = self.leader_desc(range)?;
        if d.replica_on(node).is_some() {
            return Ok(d);
        }
        let mut new = d.clone();
        let id = ReplicaId(d.next_replica_id);
        new.replicas.push(ReplicaDesc {
            node_id: node,
            replica_id: id,
            kind: ReplicaKind::NonVoter,
        });
        new.next_replica_id += 1;
        new.generation += 1;
        let cc = joint::simple_change(single(ConfChangeType::AddLearnerNode, id));
        self.change_retrying(range, &d, &new, cc)?;
        Ok(new)
    }

    fn leader_desc(&self, range: RangeId) -> Result<RangeDescriptor, txn::Error> {
        let rep = self
            .replica(range)
            .ok_or(txn::Error::NotLeaseholder { leaseholder: None })?;
        if !rep.leader().1 {
            return Err(txn::Error::NotLeaseholder { leaseholder: None });
        }
        if rep.lease().is_frozen() {
            // A range frozen for a merge must keep its replicas until the merge applies on
            // every one of them (store/merge.rs).
            return Err(txn::Error::RangeKeyMismatch(format!(
                "{range} is frozen for a merge; its replicas cannot change"
            )));
        }
        rep.desc()
            .ok_or(txn::Error::NotLeaseholder { leaseholder: None })
    }

    /// Fails when `node` holds the lease of `range` (it must be transferred first).
    fn not_leaseholder(&self, range: RangeId, node: NodeId) -> Result<(), txn::Error> {
        let rep = self
            .replica(range)
            .ok_or(txn::Error::NotLeaseholder { leaseholder: None })?;
        let lease = rep.lease();
        if lease.holder == node && lease.expiration > self.clock().now() {
            return Err(txn::Error::Internal(format!(
                "{range}: {node} holds the lease; transfer it before taking its replica away"
            )));
        }
        Ok(())
    }

    /// Proposes `cc` (turning descriptor `base` into `new`) until the leader accepts it: it
    /// refuses while the previous change is unfinished or a learner to promote has not caught
    /// up ([`ChangeError::RefusedForNow`]). Gives up when this node stops leading, the
    /// descriptor changed underneath, or [`CATCH_UP`] passed (then the refusal's error,
    /// `Unavailable`).
    fn change_retrying(
        &self,
        range: RangeId,
        base: &RangeDescriptor,
        new: &RangeDescriptor,
        cc: ConfChangeV2,
    ) -> Result<(), txn::Error> {
        let deadline = Instant::now() + CATCH_UP;
        let mut backoff = Duration::from_millis(5);
        loop {
            match self.change(range, new, cc.clone()) {
                Ok(()) => return Ok(()),
                Err(ChangeError::RefusedForNow(_)) if Instant::now() < deadline => {}
                Err(ChangeError::RefusedForNow(e) | ChangeError::Failed(e)) => return Err(e),
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(200));
            if self.leader_desc(range)? != *base {
                return Err(txn::Error::RangeKeyMismatch(format!(
                    "{range} changed while its membership change waited"
                )));
            }
        }
    }

    /// Waits until the group left the joint configuration entered at descriptor generation
    /// `joint_generation` (the leave bumps it); returns the final descriptor.
    fn await_leave(
        &self,
        range: RangeId,
        joint_generation: u64,
    ) -> Result<RangeDescriptor, txn::Error> {
        let deadline = Instant::now() + LEAVE_JOINT;
        loop {
            let d = self.replica(range).and_then(|r| r.desc());
            if let Some(d) = d.filter(|d| d.generation > joint_generation) {
                return Ok(d);
            }
            if Instant::now() >= deadline {
                return Err(txn::Error::Ambiguous(format!(
                    "{range} entered a joint configuration and did not leave it within \
                     {LEAVE_JOINT:?} (its leader will)"
                )));
            }
            self.wake(range);
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn change(
        &self,
        range: RangeId,
        new: &RangeDescriptor,
        cc: ConfChangeV2,
    ) -> Result<(), ChangeError> {
        // Serialised with a merge freezing this range on this node (store/merge.rs): a
        // change is either applied before the freeze is proposed or refused after it.
        let _guard = MembershipGuard::acquire(self, range);
        if self.replica(range).is_some_and(|r| r.lease().is_frozen()) {
            return Err(ChangeError::Failed(txn::Error::RangeKeyMismatch(format!(
                "{range} is frozen for a merge; its replicas cannot change"
            ))));
        }
        let pid = self.next_id().1;
        let refused = Arc::new(parking_lot::Mutex::new(false));
        let msg = RaftMsg::ConfChange {
            range,
            pid,
            cc,
            context: desc::encode(new),
            refused: refused.clone(),
        };
        let r = self.submit_and_wait(pid, msg, || {
            format!("the membership change of {range} did not apply")
        });
        match r {
            Ok(()) => Ok(()),
            // The Raft thread sets the flag before it answers the waiter.
            Err(e) if *refused.lock() => Err(ChangeError::RefusedForNow(e)),
            Err(e) => Err(ChangeError::Failed(e)),
        }
    }
}

/// Why [`Store::change`] did not make a membership change.
enum ChangeError {
    /// The leader refused it for now (the previous change is unfinished, or the learner to
    /// promote is behind): retrying may succeed. The error says why (`Unavailable`).
    RefusedForNow(txn::Error),
    /// Anything else: not retried.
    Failed(txn::Error),
}

/// The replica of `d` on `node`.
fn replica_of(d: &RangeDescriptor, node: NodeId) -> Result<ReplicaDesc, txn::Error> {
    d.replica_on(node)
        .cloned()
        .ok_or_else(|| txn::Error::Internal(format!("{} has no replica on {node}", d.range_id)))
}

fn single(t: ConfChangeType, replica: ReplicaId) -> ConfChangeSingle {
    joint::single(t, replica.0)
}

/// The Raft change that makes a replica of `kind`.
fn conf_change_type(kind: ReplicaKind) -> ConfChangeType {
    match kind {
        ReplicaKind::Voter => ConfChangeType::AddNode,
        ReplicaKind::NonVoter => ConfChangeType::AddLearnerNode,
    }
}

/// Held while a membership change of a range is proposed and applied, and by a merge from
/// before it freezes the range until it is merged or unfrozen (the store's
/// `merge_state.membership_busy`).
pub struct MembershipGuard<'a> {
    store: &'a Store,
    range: RangeId,
}

impl<'a> MembershipGuard<'a> {
    /// Waits until no change or merge of `range` runs on `store`, then holds it.
    pub fn acquire(store: &'a Store, range: RangeId) -> MembershipGuard<'a> {
        loop {
            if store.merge_state.membership_busy.lock().insert(range) {
                return MembershipGuard { store, range };
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for MembershipGuard<'_> {
    fn drop(&mut self) {
        self.store
            .merge_state
            .membership_busy
            .lock()
            .remove(&self.range);
    }
}
