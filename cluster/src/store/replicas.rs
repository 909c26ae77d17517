//! Membership changes: adding and removing a range's replicas through Raft configuration
//! changes (one voter at a time, which Raft makes safe without joint consensus). Non-voting
//! replicas are Raft learners: they receive the log but are not part of any quorum.

use super::{RaftMsg, Store};
use crate::desc::{self, RangeDescriptor, ReplicaDesc, ReplicaKind};
use kv::{NodeId, RangeId, ReplicaId};
use raft::prelude::{ConfChangeSingle, ConfChangeType, ConfChangeV2};
use std::sync::Arc;

impl Store {
    /// Adds a replica of `kind` on `node` to `range` (this node must lead its group). Returns
    /// the new descriptor. The new replica is created on `node` when the first message reaches
    /// it, and catches up from a snapshot. A non-voter is a Raft learner.
    pub fn add_replica(
        self: &Arc<Self>,
        range: RangeId,
        node: NodeId,
        kind: ReplicaKind,
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
            kind,
        });
        new.next_replica_id += 1;
        new.generation += 1;
        self.change(range, &new, conf_change_type(kind), id)?;
        Ok(new)
    }

    /// Makes the replica on `node` a voter (promotion of a learner) or a non-voter (demotion);
    /// one voter changes, so a single-step change is safe. Returns the new descriptor.
    pub fn set_replica_kind(
        self: &Arc<Self>,
        range: RangeId,
        node: NodeId,
        kind: ReplicaKind,
    ) -> Result<RangeDescriptor, txn::Error> {
        let d = self.leader_desc(range)?;
        let Some(r) = d.replica_on(node).cloned() else {
            return Err(txn::Error::Internal(format!(
                "{range} has no replica on {node}"
            )));
        };
        if r.kind == kind {
            return Ok(d);
        }
        let mut new = d.clone();
        for x in new.replicas.iter_mut().filter(|x| x.node_id == node) {
            x.kind = kind;
        }
        new.generation += 1;
        self.change(range, &new, conf_change_type(kind), r.replica_id)?;
        Ok(new)
    }

    /// Removes the replica on `node` from `range`. Returns the new descriptor.
    pub fn remove_replica(
        self: &Arc<Self>,
        range: RangeId,
        node: NodeId,
    ) -> Result<RangeDescriptor, txn::Error> {
        let d = self.leader_desc(range)?;
        let Some(r) = d.replica_on(node).cloned() else {
            return Ok(d);
        };
        let mut new = d.clone();
        new.replicas.retain(|x| x.node_id != node);
        new.generation += 1;
        self.change(range, &new, ConfChangeType::RemoveNode, r.replica_id)?;
        Ok(new)
    }

    fn leader_desc(&self, range: RangeId) -> Result<RangeDescriptor, txn::Error> {
        let rep = self
            .replica(range)
            .ok_or(txn::Error::NotLeaseholder { leaseholder: None })?;
        if !rep.leader().1 {
            return Err(txn::Error::NotLeaseholder { leaseholder: None });
        }
        rep.desc()
            .ok_or(txn::Error::NotLeaseholder { leaseholder: None })
    }

    fn change(
        &self,
        range: RangeId,
        new: &RangeDescriptor,
        kind: ConfChangeType,
        replica: ReplicaId,
    ) -> Result<(), txn::Error> {
        let mut single = ConfChangeSingle::default();
        single.set_change_type(kind);
        single.node_id = replica.0;
        let mut cc = ConfChangeV2::default();
        cc.set_changes(vec![single].into());
        let pid = self.next_id().1;
        let msg = RaftMsg::ConfChange {
            range,
            pid,
            cc,
            context: desc::encode(new),
        };
        self.submit_and_wait(pid, msg, || {
            format!("the membership change of {range} did not apply")
        })
    }
}

/// The Raft change that makes a replica of `kind`.
fn conf_change_type(kind: ReplicaKind) -> ConfChangeType {
    match kind {
        ReplicaKind::Voter => ConfChangeType::AddNode,
        ReplicaKind::NonVoter => ConfChangeType::AddLearnerNode,
    }
}
