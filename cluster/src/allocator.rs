//! The background queues of a cluster node: the allocator that keeps every range where its
//! span config (or the cluster default) wants it, and the split queue. Each node runs them for
//! the ranges whose lease (and Raft leadership) it holds, so every range has exactly one node
//! deciding for it.
//!
//! One pass ([`run_once`]) per range, in this order:
//! 1. Leadership follows the lease: a leaseholder that does not lead the Raft group asks the
//!    leader to hand over (writes need the leader to propose quickly).
//! 2. Split where a span config starts or ends inside the range (each range has one
//!    placement), or when the range's data passed the split size (checked only after enough
//!    bytes were written through it since the last check).
//!    Also split where the range's load divides evenly once it served more requests per
//!    second than the load-split threshold for a while (crate::load, crate::load_split).
//! 3. One placement step from [`crate::placement::plan`]: add, promote, demote or remove a
//!    replica, move a voter (a learner that catches up, then one joint-consensus change that
//!    promotes it and removes or demotes the old voter: see crate::store's `replicas.rs`), or
//!    move the lease to its preferred region. Voters follow the span config's
//!    counts and region constraints (default: the replication factor, spread over regions and
//!    zones); a dead node's replicas are replaced after `dead_after`; decommissioning waits
//!    for a replacement.
//!
//! 4. After the ranges, every rebalance interval: crate::rebalance moves leases and voters
//!    between nodes to even out their counts, for ranges that need no placement step.
//!
//! A range that needed nothing is remembered with the state it was judged in ([`QueueMemo`]):
//! later passes skip it while its descriptor, lease and Raft leadership stay the same and the
//! node views and span configs do too, so on an idle node a pass costs a lock and a comparison
//! per range, and planning work is proportional to the ranges that changed.
//!
//! IMPLEMENTATION CAVEATS
//! - Replicas and leases are rebalanced by count, not by load, between nodes that all satisfy
//!   the constraints (crate::rebalance, run at the end of a pass every rebalance interval).
//! - Ranges are merged by crate::merge's queue, not here.
//! - Removed replicas are not garbage-collected on their (possibly dead) node until it next
//!   hears about the range; they serve nothing.

use crate::desc::{self, Lease, NodeRecord, ReplicaKind};
use crate::dist::DistSender;
use crate::load_split;
use crate::placement::{self, Action, Goal, NodeView};
use crate::store::{Replica, Store};
use kv::{NodeId, RangeId};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// What the last passes concluded for ranges that needed nothing: a range whose descriptor,
/// lease and Raft leadership are unchanged, under unchanged node views and span configs,
/// needs nothing again, so a pass costs a lock and a comparison for it instead of a plan
/// (an idle node holding a thousand ranges spent most of its CPU planning them twice a
/// second). Kept by the store ([`Store`]'s `queue_memo`) between passes.
#[derive(Default)]
pub struct QueueMemo {
    /// The node views (replica counts left at 0) the entries were decided under.
    views: Vec<NodeView>,
    /// The span configs the entries were decided under.
    configs: Option<Arc<txn::zone::SpanConfigs>>,
    /// Ranges that needed nothing, with the state they were judged in.
    settled: HashMap<RangeId, Settled>,
    /// The rebalancer's memory (crate::rebalance).
    rebalance: crate::rebalance::RebalanceState,
}

/// The state of a replica when a pass found it needed nothing.
struct Settled {
    desc: desc::RangeDescriptor,
    lease: Lease,
    leader: (u64, bool),
    /// The lease was unexpired.
    lease_valid: bool,
}

impl Settled {
    /// Whether the replica is still in the state it was judged in.
    fn holds(&self, rep: &Replica, now: kv::Timestamp) -> bool {
        let st = rep.state.lock();
        st.desc.as_ref() == Some(&self.desc)
            && st.lease == self.lease
            && st.leader == self.leader
            && (st.lease.expiration > now) == self.lease_valid
    }
}

/// One pass of the queues over the ranges this node leads.
pub fn run_once(dist: &Arc<DistSender>) {
    let store = dist.store().clone();
    let Ok(nodes) = dist.node_records() else {
        return;
    };
    let now = store.clock().now();
    let views = node_views(&store, &nodes);
    let configs = dist.span_configs();
    // Taken out for the pass (a concurrent pass simply starts from nothing).
    let mut memo = std::mem::take(&mut *store.queue_memo.lock());
    let same_configs = memo.configs.as_ref().is_some_and(|c| **c == *configs);
    if memo.views != views || !same_configs {
        memo.settled.clear();
        memo.views = views.clone();
        memo.configs = Some(configs.clone());
    }
    let mut pass = Pass {
        dist,
        store: &store,
        nodes: &nodes,
        now,
        views,
        configs: &configs,
        counted: false,
    };
    let (mut skipped, mut kept) = (0usize, 0usize);
    crate::load::tick(&store);
    let replicas = store.replicas();
    for rep in &replicas {
        let known = memo.settled.get(&rep.range_id);
        if let Some(s) = known.filter(|s| s.holds(rep, now)) {
            // Only the bytes written since the last check can change the outcome.
            let held = s.lease_valid && s.lease.holder == store.node_id;
            if held
                && (maybe_split(dist, &store, rep) || load_split::maybe_split(dist, &store, rep))
            {
                memo.settled.remove(&rep.range_id);
            } else {
                kept += 1;
            }
            skipped += 1;
            continue;
        }
        match pass.visit(rep) {
            Some(s) => {
                memo.settled.insert(rep.range_id, s);
                kept += 1;
            }
            None => {
                memo.settled.remove(&rep.range_id);
            }
        }
    }
    if memo.settled.len() > kept {
        // Some replicas were removed from this store.
        let here: HashSet<RangeId> = replicas.iter().map(|r| r.range_id).collect();
        memo.settled.retain(|r, _| here.contains(r));
    }
    let replicas = replicas.len();
    tracing::trace!(replicas, skipped, settled = kept, "queue pass");
    let views = std::mem::take(&mut pass.views);
    crate::rebalance::run(dist, &views, &configs, &mut memo.rebalance);
    *store.queue_memo.lock() = memo;
}

/// The inputs of one pass.
struct Pass<'a> {
    dist: &'a Arc<DistSender>,
    store: &'a Arc<Store>,
    nodes: &'a [NodeRecord],
    now: kv::Timestamp,
    views: Vec<NodeView>,
    configs: &'a txn::zone::SpanConfigs,
    /// Whether `views` holds replica counts yet.
    counted: bool,
}

impl Pass<'_> {
    /// Does what `rep` needs; returns its state when it needed nothing.
    fn visit(&mut self, rep: &Arc<Replica>) -> Option<Settled> {
        let (dist, store, now) = (self.dist, self.store, self.now);
        let (lease, d, (leader, is_leader)) = {
            let st = rep.state.lock();
            (st.lease.clone(), st.desc.clone()?, st.leader)
        };
        let settled = Settled {
            desc: d.clone(),
            lease: lease.clone(),
            leader: (leader, is_leader),
            lease_valid: lease.expiration > now,
        };
        // A quiesced follower does not notice its leader's death by itself.
        let leader_live = |n: NodeId| {
            self.nodes
                .iter()
                .any(|l| l.node_id == n && l.live_until > now)
        };
        match d.node_of(kv::ReplicaId(leader)) {
            Some(n) if n != store.node_id && !leader_live(n) => {
                store.wake(rep.range_id);
                return None;
            }
            None if leader == 0 => {
                store.wake(rep.range_id);
                return None;
            }
            _ => {}
        }
        let held = lease.holder == store.node_id && lease.expiration > now;
        if held && !is_leader {
            if leader != 0 {
                store.transfer_leadership_to_self(rep.range_id);
            }
            return None;
        }
        // The leaseholder decides for its range; an idle range whose lease expired (nobody
        // renews leases of quiet ranges) is decided by its Raft leader, which takes the lease
        // only when there is something to do.
        let decides = held || (is_leader && lease.expiration <= now);
        if !decides {
            return Some(settled);
        }
        if split_at_config_boundary(dist, self.configs, &d) {
            return None;
        }
        if held && (maybe_split(dist, store, rep) || load_split::maybe_split(dist, store, rep)) {
            return None;
        }
        let Some(action) = self.plan(&d) else {
            return Some(settled);
        };
        if !held {
            if let Err(e) = store.ensure_lease(rep) {
                tracing::debug!(range = %rep.range_id, error = %e, "cannot take the lease to act");
                return None;
            }
        }
        act(dist, store, rep.range_id, action);
        None
    }

    /// The placement step `d` needs, if any.
    fn plan(&mut self, d: &desc::RangeDescriptor) -> Option<Action> {
        let store = self.store;
        let goal = Goal::new(
            self.configs.lookup(&d.start),
            store.config().replication_factor,
        );
        let action = placement::plan(d, store.node_id, &goal, &self.views)?;
        // Replica counts per node (a scan of every meta record) only matter when placing a
        // new replica: filled in the first time a plan adds one.
        if matches!(action, Action::AddVoter(_) | Action::AddNonVoter(_)) && !self.counted {
            self.counted = true;
            let counts = replica_counts(self.dist);
            for v in &mut self.views {
                v.replicas = counts.get(&v.node_id).copied().unwrap_or(0);
            }
            return placement::plan(d, store.node_id, &goal, &self.views);
        }
        Some(action)
    }
}

/// What placement needs to know of each node.
fn node_views(store: &Store, nodes: &[NodeRecord]) -> Vec<NodeView> {
    let now = store.clock().now();
    let dead_ms = store.config().dead_after.as_millis() as u64;
    let tier = |n: &NodeRecord, k: &str| {
        let t = n.locality.iter().find(|(key, _)| key == k);
        t.map(|(_, v)| v.clone()).unwrap_or_default()
    };
    nodes
        .iter()
        .map(|n| {
            let live = n.live_until > now;
            let dead = n.live_until.physical_ms() + dead_ms < now.physical_ms();
            NodeView {
                node_id: n.node_id,
                region: tier(n, "region"),
                zone: tier(n, "zone"),
                live,
                usable: live && !n.decommissioning,
                gone: dead || n.decommissioning,
                dead,
                replicas: 0,
            }
        })
        .collect()
}

/// Carries out one placement step.
pub(crate) fn act(dist: &Arc<DistSender>, store: &Arc<Store>, range: RangeId, a: Action) {
    tracing::debug!(range = %range, action = ?a, "placement");
    match a {
        Action::AddVoter(n) => change(dist, range, |s| s.add_replica(range, n, ReplicaKind::Voter)),
        Action::AddNonVoter(n) => change(dist, range, |s| {
            s.add_replica(range, n, ReplicaKind::NonVoter)
        }),
        Action::Promote(n) => change(dist, range, |s| {
            s.set_replica_kind(range, n, ReplicaKind::Voter)
        }),
        Action::Demote(n) => change(dist, range, |s| {
            s.set_replica_kind(range, n, ReplicaKind::NonVoter)
        }),
        Action::Remove(n) => change(dist, range, |s| s.remove_replica(range, n)),
        Action::MoveVoter { from, to, demote } => {
            change(dist, range, |s| s.move_voter(range, from, to, demote))
        }
        Action::TransferLease(n) => {
            if let Err(e) = store.transfer_lease(range, n) {
                tracing::debug!(range = %range, to = %n, error = %e, "lease transfer failed");
            }
        }
    }
}

/// Splits a range that spans a span config boundary (a table or a partition with its own
/// placement starts inside it); true if it split.
fn split_at_config_boundary(
    dist: &DistSender,
    configs: &txn::zone::SpanConfigs,
    d: &desc::RangeDescriptor,
) -> bool {
    let Some(key) = configs
        .split_point(&d.start, d.end.as_deref())
        .filter(|k| k.as_slice() >= desc::MIN_SPLIT_KEY)
    else {
        return false;
    };
    match dist.split(&key) {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(range = %d.range_id, error = %e, "config split failed");
            false
        }
    }
}

fn change(
    dist: &Arc<DistSender>,
    range: RangeId,
    f: impl FnOnce(&Arc<Store>) -> Result<crate::desc::RangeDescriptor, txn::Error>,
) {
    match f(dist.store()) {
        Ok(new) => {
            let list = |k: ReplicaKind| {
                let reps = new.replicas.iter().filter(|r| r.kind == k);
                reps.map(|r| r.node_id.0).collect::<Vec<_>>()
            };
            tracing::info!(range = %range, voters = ?list(ReplicaKind::Voter), non_voters = ?list(ReplicaKind::NonVoter), "replicas changed");
            let op = (desc::meta_key(new.end.as_deref()), Some(desc::encode(&new)));
            if let Err(e) = dist.meta_write(vec![op]) {
                tracing::warn!(range = %range, error = %e, "cannot update the meta record");
            }
        }
        Err(e) => tracing::debug!(range = %range, error = %e, "replica change failed"),
    }
}

/// Replicas per node, from the meta records.
fn replica_counts(dist: &DistSender) -> BTreeMap<NodeId, usize> {
    let mut out = BTreeMap::new();
    for d in dist.all_ranges().unwrap_or_default() {
        for r in d.replicas {
            *out.entry(r.node_id).or_default() += 1;
        }
    }
    out
}

/// Splits the range in the middle when it grew past the split size; true if it split.
fn maybe_split(dist: &DistSender, store: &Store, rep: &crate::store::Replica) -> bool {
    let split_bytes = store.config().split_bytes;
    if rep.take_written_bytes_over(split_bytes / 4).is_none() {
        return false;
    }
    let Some(d) = rep.desc() else { return false };
    let (size, middle) = store.size_and_middle(&d, split_bytes.saturating_mul(2));
    if size <= split_bytes {
        return false;
    }
    let Some(key) = middle.filter(|k| k.as_slice() >= desc::MIN_SPLIT_KEY) else {
        return false;
    };
    match dist.split(&key) {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(range = %d.range_id, error = %e, "size split failed");
            false
        }
    }
}
