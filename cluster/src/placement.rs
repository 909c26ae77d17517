//! Where a range's replicas and lease should be: the allocator's decision, as a pure function
//! of the range's descriptor, its span config and the nodes, so it can be tested exhaustively.
//!
//! [`plan`] returns one [`Action`] at a time (the allocator applies it and re-plans on its next
//! pass), in CockroachDB's priority order:
//! 1. replace missing voters (dead or decommissioning nodes, or fewer than wanted), first in a
//!    region whose voter constraint is unmet, promoting a non-voter there when one exists;
//! 2. remove voters on dead or decommissioning nodes, keeping a healthy majority;
//! 3. repair an unmet voter constraint even at full strength (add there; step 4 then removes
//!    the surplus elsewhere);
//! 4. remove surplus voters, from the region with the most voters among those beyond their
//!    constraint; a surplus voter in a region that still needs a replica is demoted to a
//!    non-voter instead;
//! 5. spread voters: a region with two fewer voters than the most crowded one (whose voters
//!    exceed its constraint) gets one (step 4 then takes one from the crowded region);
//! 6. non-voters: remove those on gone nodes, add them where a region's replica constraint is
//!    unmet or more are wanted, remove surplus ones;
//! 7. move the lease to the most preferred region that has a healthy voter.
//!
//! A step that adds a voter (or promotes a non-voter) and whose follow-up would remove or
//! demote another voter is returned as one [`Action::MoveVoter`]: the allocator carries it out
//! as a learner that catches up, then one joint-consensus change that promotes it and removes
//! (or demotes) the old voter, so the range never sits with an even or short voter set between
//! two changes (CockroachDB's atomic replication changes). This covers dead-node replacement,
//! decommissioning, constraint repair, rebalancing across regions and the voter/non-voter
//! swaps of multi-region placement. The leaseholder is never the voter moved away: the plan
//! transfers the lease first.
//!
//! New replicas go where they add the most diversity: the region, then the zone, holding the
//! fewest replicas of this range, then the node holding the fewest replicas overall.
//!
//! IMPLEMENTATION CAVEATS
//! - Constraints are preferences when they cannot be met: with too few live nodes in the home
//!   region, voters are placed elsewhere (availability first) and moved back when nodes return.
//!   CockroachDB treats them as required and leaves the range under-replicated instead.
//! - Leases go to the lowest-id healthy voter of the preferred region. Balancing leases and
//!   replicas by count between nodes that all satisfy the constraints is crate::rebalance's
//!   job, for ranges this planner has nothing to do for (and only by moves after which it
//!   still has nothing to do).

use crate::desc::{RangeDescriptor, ReplicaKind};
use kv::NodeId;
use std::collections::BTreeMap;
use txn::zone::SpanConfig;

/// What the allocator knows about one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// The node.
    pub node_id: NodeId,
    /// Its `region` locality tier ("" without one).
    pub region: String,
    /// Its `zone` locality tier ("" without one).
    pub zone: String,
    /// Its liveness record is current (decommissioning or not).
    pub live: bool,
    /// It may receive replicas: live and not decommissioning.
    pub usable: bool,
    /// Its replicas must go: dead for longer than the dead-after delay, or decommissioning.
    pub gone: bool,
    /// Dead for longer than the dead-after delay.
    pub dead: bool,
    /// Replicas it holds over all ranges.
    pub replicas: usize,
}

/// The placement wanted for one range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Goal {
    /// Voters wanted.
    pub num_voters: usize,
    /// Replicas wanted, voters included.
    pub num_replicas: usize,
    /// Minimum replicas of any kind per region.
    pub constraints: BTreeMap<String, usize>,
    /// Minimum voters per region.
    pub voter_constraints: BTreeMap<String, usize>,
    /// Lease regions, most preferred first.
    pub lease_preferences: Vec<String>,
}

impl Goal {
    /// The goal of a span config, or of the cluster default without one.
    pub fn new(config: Option<&SpanConfig>, replication_factor: usize) -> Goal {
        let Some(c) = config else {
            return Goal {
                num_voters: replication_factor,
                num_replicas: replication_factor,
                ..Goal::default()
            };
        };
        let counts = |v: &[txn::zone::RegionCount]| {
            v.iter()
                .map(|r| (r.region.clone(), r.count as usize))
                .collect()
        };
        Goal {
            num_voters: (c.num_voters as usize).max(1),
            num_replicas: (c.num_replicas.max(c.num_voters) as usize).max(1),
            constraints: counts(&c.constraints),
            voter_constraints: counts(&c.voter_constraints),
            lease_preferences: c.lease_preferences.clone(),
        }
    }
}

/// One step towards the goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Add a voter on the node.
    AddVoter(NodeId),
    /// Add a non-voter on the node.
    AddNonVoter(NodeId),
    /// Make the node's non-voter a voter.
    Promote(NodeId),
    /// Make the node's voter a non-voter.
    Demote(NodeId),
    /// Remove the node's replica (either kind).
    Remove(NodeId),
    /// Hand the lease to the node's voter.
    TransferLease(NodeId),
    /// Replace the voter on `from` by one on `to` in one joint change: `to` (a new learner,
    /// or its non-voter) becomes a voter while `from` is removed, or demoted to a non-voter
    /// when `demote`.
    MoveVoter {
        /// The node losing its voter (never the leaseholder).
        from: NodeId,
        /// The node gaining one.
        to: NodeId,
        /// Keep `from` as a non-voter instead of removing it.
        demote: bool,
    },
}

/// The range as seen by the planner.
struct View<'a> {
    d: &'a RangeDescriptor,
    me: NodeId,
    goal: &'a Goal,
    nodes: BTreeMap<NodeId, &'a NodeView>,
}

impl View<'_> {
    fn node(&self, n: NodeId) -> Option<&NodeView> {
        self.nodes.get(&n).copied()
    }
    fn gone(&self, n: NodeId) -> bool {
        self.node(n).is_none_or(|v| v.gone)
    }
    fn dead(&self, n: NodeId) -> bool {
        self.node(n).is_none_or(|v| v.dead)
    }
    fn region(&self, n: NodeId) -> &str {
        self.node(n).map_or("", |v| v.region.as_str())
    }
    fn of_kind(&self, kind: ReplicaKind) -> Vec<NodeId> {
        let reps = self.d.replicas.iter().filter(|r| r.kind == kind);
        reps.map(|r| r.node_id).collect()
    }
    fn healthy(&self, kind: ReplicaKind) -> Vec<NodeId> {
        let all = self.of_kind(kind).into_iter();
        all.filter(|n| !self.gone(*n)).collect()
    }
    /// Healthy replicas of `kind` (None: either) in `region`.
    fn in_region(&self, kind: Option<ReplicaKind>, region: &str) -> usize {
        let reps = self
            .d
            .replicas
            .iter()
            .filter(|r| kind.is_none_or(|k| r.kind == k));
        reps.filter(|r| !self.gone(r.node_id) && self.region(r.node_id) == region)
            .count()
    }
    fn usable(&self) -> usize {
        self.nodes.values().filter(|n| n.usable).count()
    }
    fn target_voters(&self) -> usize {
        self.goal.num_voters.min(self.usable()).max(1)
    }
    fn target_non_voters(&self) -> usize {
        let wanted = self.goal.num_replicas.saturating_sub(self.goal.num_voters);
        wanted.min(self.usable().saturating_sub(self.target_voters()))
    }
    /// A region whose voter constraint is unmet.
    fn unmet_voter_region(&self) -> Option<&str> {
        let vc = self.goal.voter_constraints.iter();
        vc.filter(|(r, n)| self.in_region(Some(ReplicaKind::Voter), r) < **n)
            .map(|(r, _)| r.as_str())
            .find(|r| self.candidates(Some(r), true).next().is_some())
    }
    /// A region whose replica constraint is unmet.
    fn unmet_replica_region(&self) -> Option<&str> {
        let c = self.goal.constraints.iter();
        c.filter(|(r, n)| self.in_region(None, r) < **n)
            .map(|(r, _)| r.as_str())
            .find(|r| self.candidates(Some(r), false).next().is_some())
    }
    /// Usable nodes (in `region`, if given) without a replica, or with a non-voter when
    /// `for_voter` (which can be promoted).
    fn candidates<'s>(
        &'s self,
        region: Option<&'s str>,
        for_voter: bool,
    ) -> impl Iterator<Item = &'s NodeView> + 's {
        self.nodes.values().copied().filter(move |n| {
            let rep = self.d.replica_on(n.node_id);
            let free = rep.is_none()
                || (for_voter && rep.is_some_and(|r| r.kind == ReplicaKind::NonVoter));
            n.usable && free && region.is_none_or(|r| n.region == r)
        })
    }
    /// The most diverse candidate: fewest replicas of this range in its region, then zone,
    /// then fewest replicas overall; a non-voter (already has the data) wins ties for voters.
    fn best(&self, region: Option<&str>, for_voter: bool) -> Option<NodeId> {
        let count = |f: &dyn Fn(&NodeView) -> bool| {
            let reps = self.d.replicas.iter().filter(|r| !self.gone(r.node_id));
            reps.filter(|r| self.node(r.node_id).is_some_and(f)).count()
        };
        self.candidates(region, for_voter)
            .min_by_key(|n| {
                let in_region = count(&|v| v.region == n.region);
                let in_zone = count(&|v| v.region == n.region && v.zone == n.zone);
                let fresh = self.d.replica_on(n.node_id).is_none();
                (in_region, in_zone, fresh, n.replicas, n.node_id)
            })
            .map(|n| n.node_id)
    }
    /// Adds a voter on `node`, promoting its non-voter if it has one.
    fn voter_on(&self, node: NodeId) -> Action {
        match self.d.replica_on(node) {
            Some(_) => Action::Promote(node),
            None => Action::AddVoter(node),
        }
    }
}

/// The next step for range `d`, decided by its leaseholder `me`; None when it is where it
/// should be.
pub fn plan(d: &RangeDescriptor, me: NodeId, goal: &Goal, nodes: &[NodeView]) -> Option<Action> {
    let v = View {
        d,
        me,
        goal,
        nodes: nodes.iter().map(|n| (n.node_id, n)).collect(),
    };
    let action = replace_voters(&v)
        .or_else(|| remove_gone_voters(&v))
        .or_else(|| repair_voter_constraints(&v))
        .or_else(|| remove_surplus_voter(&v))
        .or_else(|| rebalance_voters(&v))
        .or_else(|| non_voters(&v))
        .or_else(|| lease(&v))?;
    Some(as_move(d, me, goal, nodes, action))
}

/// Turns the addition of a voter whose next step would take a voter away into one
/// [`Action::MoveVoter`] (see the module doc); other actions are returned as they are.
fn as_move(
    d: &RangeDescriptor,
    me: NodeId,
    goal: &Goal,
    nodes: &[NodeView],
    action: Action,
) -> Action {
    let (Action::AddVoter(to) | Action::Promote(to)) = action else {
        return action;
    };
    let mut after = d.clone();
    match after.replicas.iter_mut().find(|r| r.node_id == to) {
        Some(r) => r.kind = ReplicaKind::Voter,
        None => after.replicas.push(crate::desc::ReplicaDesc {
            node_id: to,
            replica_id: kv::ReplicaId(after.next_replica_id),
            kind: ReplicaKind::Voter,
        }),
    }
    let v = View {
        d: &after,
        me,
        goal,
        nodes: nodes.iter().map(|n| (n.node_id, n)).collect(),
    };
    let next = replace_voters(&v)
        .or_else(|| remove_gone_voters(&v))
        .or_else(|| repair_voter_constraints(&v))
        .or_else(|| remove_surplus_voter(&v));
    let is_voter = |n: NodeId| {
        d.replica_on(n)
            .is_some_and(|r| r.kind == ReplicaKind::Voter)
    };
    match next {
        Some(Action::Remove(from)) if from != me && from != to && is_voter(from) => {
            Action::MoveVoter {
                from,
                to,
                demote: false,
            }
        }
        Some(Action::Demote(from)) if from != me && from != to && is_voter(from) => {
            Action::MoveVoter {
                from,
                to,
                demote: true,
            }
        }
        _ => action,
    }
}

fn replace_voters(v: &View) -> Option<Action> {
    if v.healthy(ReplicaKind::Voter).len() >= v.target_voters() {
        return None;
    }
    let node = match v.unmet_voter_region() {
        Some(r) => v.best(Some(r), true),
        None => v.best(None, true),
    }?;
    Some(v.voter_on(node))
}

fn remove_gone_voters(v: &View) -> Option<Action> {
    let voters = v.of_kind(ReplicaKind::Voter);
    let healthy = v.healthy(ReplicaKind::Voter).len();
    let node = *voters.iter().find(|n| v.gone(**n))?;
    if node == v.me {
        // Decommissioning ourselves: hand the lease to a healthy voter first.
        let to = v.healthy(ReplicaKind::Voter).into_iter().next()?;
        return Some(Action::TransferLease(to));
    }
    let allowed = if v.dead(node) {
        // Only a surplus dead voter goes (its replacement was added first), and a majority
        // of the current voters stays healthy. Removing one with no replacement gains
        // nothing (the survivors are the quorum either way) and costs the node's quick
        // return: a 3-node cluster would sit at two voters, one more loss from unavailable,
        // until the node is re-added. CockroachDB likewise leaves such a range
        // under-replicated rather than shrinking it.
        voters.len() > v.goal.num_voters && healthy > voters.len() / 2
    } else {
        // Decommissioning waits for the replacement, like CockroachDB: it never lowers a
        // range below the voters it wants (a 3-node cluster cannot decommission a node).
        let alive = v.nodes.values().filter(|n| n.live).count();
        healthy >= v.goal.num_voters.min(alive)
    };
    allowed.then_some(Action::Remove(node))
}

fn repair_voter_constraints(v: &View) -> Option<Action> {
    let region = v.unmet_voter_region()?;
    Some(v.voter_on(v.best(Some(region), true)?))
}

fn remove_surplus_voter(v: &View) -> Option<Action> {
    // Voters on gone nodes are step 2's business (it keeps a healthy majority).
    let voters = v.healthy(ReplicaKind::Voter);
    if voters.len() <= v.target_voters() {
        return None;
    }
    let in_region = |r: &str| v.in_region(Some(ReplicaKind::Voter), r);
    let required = |r: &str| v.goal.voter_constraints.get(r).copied().unwrap_or(0);
    // The voter whose region has the most voters beyond its constraint, then whose zone is
    // most crowded; never one a voter constraint still needs.
    let victim = voters
        .iter()
        .filter(|n| in_region(v.region(**n)) > required(v.region(**n)))
        .max_by_key(|n| {
            let r = v.region(**n);
            let zone = v.node(**n).map_or("", |x| x.zone.as_str());
            let same_zone = voters
                .iter()
                .filter(|m| v.region(**m) == r && v.node(**m).is_some_and(|x| x.zone == zone))
                .count();
            (
                in_region(r),
                in_region(r) - required(r),
                same_zone,
                **n != v.me,
                n.0,
            )
        })
        .copied()?;
    if victim == v.me {
        let to = v
            .healthy(ReplicaKind::Voter)
            .into_iter()
            .find(|n| *n != v.me)?;
        return Some(Action::TransferLease(to));
    }
    let region = v.region(victim);
    let needs_replica =
        v.in_region(None, region) <= v.goal.constraints.get(region).copied().unwrap_or(0);
    let wants_non_voters = v.of_kind(ReplicaKind::NonVoter).len() < v.target_non_voters();
    if needs_replica || wants_non_voters {
        Some(Action::Demote(victim))
    } else {
        Some(Action::Remove(victim))
    }
}

/// Spreads voters over regions: when the most crowded region holds voters beyond its
/// constraint and another region with room has at least two fewer, adds a voter there (step 4
/// then removes one from the crowded region).
fn rebalance_voters(v: &View) -> Option<Action> {
    let voters = v.healthy(ReplicaKind::Voter);
    if voters.len() != v.target_voters() {
        return None;
    }
    let count = |r: &str| v.in_region(Some(ReplicaKind::Voter), r);
    let required = |r: &str| v.goal.voter_constraints.get(r).copied().unwrap_or(0);
    let crowded = voters
        .iter()
        .map(|n| v.region(*n))
        .filter(|r| count(r) > required(r))
        .map(count)
        .max()?;
    let target = v
        .nodes
        .values()
        .filter(|n| v.candidates(Some(&n.region), true).next().is_some())
        .map(|n| n.region.as_str())
        .filter(|r| count(r) + 1 < crowded)
        .min_by_key(|r| (count(r), *r))?;
    Some(v.voter_on(v.best(Some(target), true)?))
}

fn non_voters(v: &View) -> Option<Action> {
    let all = v.of_kind(ReplicaKind::NonVoter);
    if let Some(n) = all.iter().find(|n| v.gone(**n)) {
        return Some(Action::Remove(*n));
    }
    let target = v.target_non_voters();
    if all.len() < target || v.goal.num_replicas > v.goal.num_voters {
        if let Some(r) = v.unmet_replica_region() {
            return v.best(Some(r), false).map(Action::AddNonVoter);
        }
    }
    if all.len() < target {
        return v.best(None, false).map(Action::AddNonVoter);
    }
    if all.len() > target {
        let required = |r: &str| v.goal.constraints.get(r).copied().unwrap_or(0);
        return all
            .iter()
            .filter(|n| v.in_region(None, v.region(**n)) > required(v.region(**n)))
            .max_by_key(|n| (v.in_region(None, v.region(**n)), n.0))
            .map(|n| Action::Remove(*n));
    }
    None
}

fn lease(v: &View) -> Option<Action> {
    let voters = v.healthy(ReplicaKind::Voter);
    for region in &v.goal.lease_preferences {
        if v.region(v.me) == region {
            return None;
        }
        let usable = |n: &NodeId| v.node(*n).is_some_and(|x| x.usable);
        if let Some(n) = voters
            .iter()
            .filter(|n| usable(n))
            .find(|n| v.region(**n) == region)
        {
            return Some(Action::TransferLease(*n));
        }
    }
    None
}

#[cfg(test)]
#[path = "placement_tests.rs"]
mod tests;
