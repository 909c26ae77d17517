//! Rebalancing by count: spreading leases and replicas evenly over the live nodes once every
//! range is where its constraints want it (issue 4: "an allocator that balances replicas and
//! leases across nodes"). Placement ([`crate::placement::plan`]) always comes first: a range
//! is rebalanced only when the planner has nothing to do for it, and a move is made only if
//! the planner would have nothing to do after it either, so rebalancing never fights the
//! region and zone rules (nor, being judged by the same planner, undoes its own moves).
//!
//! Every [`LoadConfig::rebalance_interval`] the allocator's pass on each node runs
//! [`run`] for the ranges this node decides (it holds the lease, or leads a range whose
//! lease lapsed):
//! - **Leases** ([`lease_target`]). Each node counts leases from the replicas it holds: a
//!   range's lease is its applied lease's holder while unexpired, else its Raft leader's node
//!   (who takes the lease on the next request). A node's fair share is its part of the voters
//!   in those ranges (with balanced replicas, the mean). A lease moves from this node to
//!   another voter of the range when this node holds more than its share (by the threshold
//!   plus one) or the other holds fewer (by the threshold minus one), the two differ by at
//!   least two beyond their shares (so a transfer always narrows the spread and two nodes
//!   never trade a lease back and forth), and the other voter is in the same region. Ranges
//!   with lease preferences (multi-region tables) are never touched: their lease stays where
//!   the planner puts it.
//! - **Replicas** ([`replica_move`]). Replica counts per node come from the meta records. A
//!   voter moves from node X to node Y (one joint-consensus move: a learner on Y that
//!   catches up, then {promote Y, remove X}) when X holds more than its region's mean and Y
//!   fewer, they differ by at least two, X is above the mean by the threshold plus one or Y
//!   below it by the threshold minus one (CockroachDB's `range_rebalance_threshold`), Y is
//!   in X's region, the range's zone diversity does not drop, and the planner accepts the
//!   result. The leaseholder's own replica is not moved (its lease moves first, by the rule
//!   above, and the next leaseholder may then move it).
//!
//! Against thrashing: counts must differ by two (a move never inverts an order), a range that
//! was rebalanced is left alone for [`COOLDOWN_INTERVALS`] intervals, a pass moves at most
//! [`MAX_REPLICA_MOVES_PER_PASS`] replica and [`MAX_LEASE_TRANSFERS_PER_PASS`] leases, a node
//! gets replicas only once it has been seen live for
//! [`LoadConfig::rebalance_target_min_live`], and nothing is rebalanced while any node is
//! draining (live and decommissioning) or suspect (missed its liveness but not yet dead):
//! repairs come first and counts are in flux meanwhile.
//!
//! IMPLEMENTATION CAVEATS
//! - Leases follow their workload ([`crate::follow`]: to the voter whose node sends most of a
//!   range's requests) before counts are balanced, and a busy lease on the node that sends
//!   the most of its requests is not moved for counts. Otherwise by count: neither leases nor replicas are
//!   balanced by load (QPS), and replicas do not move toward their load.
//! - Counts are balanced within each region (leases and replicas only move inside a region);
//!   how many voters each region holds is the planner's business.
//! - Lease counts are each node's view over the ranges it holds a replica of: exact when
//!   every node holds every range (three nodes, three voters), an estimate otherwise.
//! - Only voters move; non-voting replicas are placed by the planner and not rebalanced.

use crate::desc::{RangeDescriptor, ReplicaDesc, ReplicaKind};
use crate::dist::DistSender;
use crate::follow;
use crate::load::LoadConfig;
use crate::placement::{self, Action, Goal, NodeView};
use crate::store::Store;
use kv::{NodeId, RangeId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

/// A range rebalanced is left alone for this many rebalance intervals.
pub const COOLDOWN_INTERVALS: u32 = 3;
/// Replica moves one pass may start (each is a snapshot and a joint change).
pub const MAX_REPLICA_MOVES_PER_PASS: usize = 1;
/// Lease transfers one pass may make.
pub const MAX_LEASE_TRANSFERS_PER_PASS: usize = 16;

/// What the rebalancer remembers between passes (kept in the allocator's memo).
#[derive(Default)]
pub struct RebalanceState {
    last_pass: Option<Instant>,
    /// Since when each usable node has been seen live without interruption.
    live_since: HashMap<NodeId, Instant>,
    /// When each range was last rebalanced here.
    moved: HashMap<RangeId, Instant>,
}

/// Lease counts as one node sees them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeaseCounts {
    /// Leases (effective holders) per node.
    pub leases: BTreeMap<NodeId, usize>,
    /// Voters per node in the same ranges.
    pub voters: BTreeMap<NodeId, usize>,
}

impl LeaseCounts {
    /// Counts one range: its voters and its effective leaseholder.
    pub fn add(&mut self, d: &RangeDescriptor, holder: NodeId) {
        *self.leases.entry(holder).or_default() += 1;
        for r in d.replicas.iter().filter(|r| r.kind == ReplicaKind::Voter) {
            *self.voters.entry(r.node_id).or_default() += 1;
        }
    }

    fn leases_of(&self, n: NodeId) -> f64 {
        self.leases.get(&n).copied().unwrap_or(0) as f64
    }

    /// The node's fair share of the leases: its part of the voters.
    pub fn share(&self, n: NodeId) -> f64 {
        let slots: usize = self.voters.values().sum();
        let total: usize = self.leases.values().sum();
        if slots == 0 {
            return 0.0;
        }
        self.voters.get(&n).copied().unwrap_or(0) as f64 * total as f64 / slots as f64
    }

    /// Records a transfer.
    pub fn moved(&mut self, from: NodeId, to: NodeId) {
        if let Some(c) = self.leases.get_mut(&from) {
            *c = c.saturating_sub(1);
        }
        *self.leases.entry(to).or_default() += 1;
    }
}

fn view_of(nodes: &[NodeView], n: NodeId) -> Option<&NodeView> {
    nodes.iter().find(|v| v.node_id == n)
}

/// The voter that should take the lease of range `d` from its leaseholder `me`, by lease
/// counts (see the module doc); None to keep it.
pub fn lease_target(
    d: &RangeDescriptor,
    me: NodeId,
    goal: &Goal,
    nodes: &[NodeView],
    counts: &LeaseCounts,
    threshold: f64,
) -> Option<NodeId> {
    if !goal.lease_preferences.is_empty() {
        return None;
    }
    let mine = view_of(nodes, me)?;
    let (my_leases, my_share) = (counts.leases_of(me), counts.share(me));
    let excess = |n: NodeId| counts.leases_of(n) - counts.share(n);
    let over = my_leases > my_share * (1.0 + threshold) + 1.0;
    d.replicas
        .iter()
        .filter(|r| r.kind == ReplicaKind::Voter && r.node_id != me)
        .filter_map(|r| view_of(nodes, r.node_id))
        .filter(|v| v.usable && v.live && v.region == mine.region)
        .filter(|v| {
            let (leases, share) = (counts.leases_of(v.node_id), counts.share(v.node_id));
            let under = leases < share * (1.0 - threshold) - 1.0;
            (over || under)
                && excess(me) > 0.0
                && excess(v.node_id) < 0.0
                && excess(me) - excess(v.node_id) >= 2.0
        })
        .min_by(|a, b| {
            let (ea, eb) = (excess(a.node_id), excess(b.node_id));
            ea.total_cmp(&eb).then(a.node_id.cmp(&b.node_id))
        })
        .map(|v| v.node_id)
}

/// The voter move `(from, to)` that evens out replica counts for range `d` (decided by its
/// leaseholder `me`), if any: see the module doc. `counts` are replicas per node;
/// `eligible` the nodes that may receive one.
pub fn replica_move(
    d: &RangeDescriptor,
    me: NodeId,
    goal: &Goal,
    nodes: &[NodeView],
    counts: &BTreeMap<NodeId, usize>,
    eligible: &BTreeSet<NodeId>,
    threshold: f64,
) -> Option<(NodeId, NodeId)> {
    if placement::plan(d, me, goal, nodes).is_some() {
        return None;
    }
    let count = |n: NodeId| counts.get(&n).copied().unwrap_or(0) as f64;
    let mean = |region: &str| {
        let members: Vec<f64> = nodes
            .iter()
            .filter(|v| v.usable && v.region == region)
            .map(|v| count(v.node_id))
            .collect();
        members.iter().sum::<f64>() / members.len().max(1) as f64
    };
    let mut best: Option<(f64, NodeId, NodeId)> = None;
    let voters = d.replicas.iter().filter(|r| r.kind == ReplicaKind::Voter);
    for x in voters.filter(|r| r.node_id != me) {
        let Some(xv) = view_of(nodes, x.node_id).filter(|v| v.usable && v.live) else {
            continue;
        };
        let m = mean(&xv.region);
        let cx = count(x.node_id);
        for yv in nodes.iter().filter(|v| {
            v.usable
                && v.live
                && v.region == xv.region
                && eligible.contains(&v.node_id)
                && d.replica_on(v.node_id).is_none()
        }) {
            let cy = count(yv.node_id);
            let worth = (cx > m * (1.0 + threshold) + 1.0) || (cy < m * (1.0 - threshold) - 1.0);
            if !(worth && cx > m && cy < m && cx - cy >= 2.0) {
                continue;
            }
            if !keeps_diversity(d, nodes, xv, yv) {
                continue;
            }
            let after = moved(d, x.node_id, yv.node_id);
            if placement::plan(&after, me, goal, nodes).is_some() {
                continue;
            }
            let gain = cx - cy;
            if best.is_none_or(|(g, _, _)| gain > g) {
                best = Some((gain, x.node_id, yv.node_id));
            }
        }
    }
    best.map(|(_, from, to)| (from, to))
}

/// Whether replacing the replica on `x` by one on `y` keeps the range's zones as spread:
/// `y`'s zone holds no more of the other replicas than `x`'s.
fn keeps_diversity(d: &RangeDescriptor, nodes: &[NodeView], x: &NodeView, y: &NodeView) -> bool {
    let in_zone = |v: &NodeView| {
        d.replicas
            .iter()
            .filter(|r| r.node_id != x.node_id)
            .filter_map(|r| view_of(nodes, r.node_id))
            .filter(|o| o.region == v.region && o.zone == v.zone)
            .count()
    };
    in_zone(y) <= in_zone(x)
}

/// `d` with the voter on `from` replaced by one on `to`.
fn moved(d: &RangeDescriptor, from: NodeId, to: NodeId) -> RangeDescriptor {
    let mut after = d.clone();
    after.replicas.retain(|r| r.node_id != from);
    after.replicas.push(ReplicaDesc {
        node_id: to,
        replica_id: kv::ReplicaId(after.next_replica_id),
        kind: ReplicaKind::Voter,
    });
    after.next_replica_id += 1;
    after
}

/// A range this node decides, as the rebalancer sees it.
struct Decided {
    rep: Arc<crate::store::Replica>,
    desc: RangeDescriptor,
    /// This node holds an unexpired lease (else it leads a range whose lease lapsed).
    held: bool,
    /// Requests per second by origin node (measured while this node held the lease).
    origins: Vec<(u64, f64)>,
    /// The lease is older than [`LEASE_SETTLE_MS`]: its workload has been measured.
    settled: bool,
}

/// A lease acquired less than this long ago keeps its holder: its requests have not been
/// measured yet, so neither its workload nor its anchoring is known (without this, a lease
/// that just followed its workload could be moved back for counts before it is anchored).
pub const LEASE_SETTLE_MS: u64 = 2_500;

/// One rebalancing pass, if one is due (called by the allocator's pass with its node views
/// and span configs).
pub fn run(
    dist: &Arc<DistSender>,
    views: &[NodeView],
    configs: &txn::zone::SpanConfigs,
    state: &mut RebalanceState,
) {
    let store = dist.store().clone();
    let cfg = store.config().load.clone();
    let now = Instant::now();
    for v in views {
        if v.usable && v.live {
            state.live_since.entry(v.node_id).or_insert(now);
        } else {
            state.live_since.remove(&v.node_id);
        }
    }
    if !cfg.rebalance
        || state
            .last_pass
            .is_some_and(|t| now - t < cfg.rebalance_interval)
    {
        return;
    }
    state.last_pass = Some(now);
    let cooldown = cfg.rebalance_interval * COOLDOWN_INTERVALS;
    state.moved.retain(|_, t| now - *t < cooldown);
    let draining = views.iter().any(|v| v.live && !v.usable);
    let suspect = views.iter().any(|v| !v.live && !v.dead && !v.gone);
    if draining || suspect {
        return;
    }
    let (counts, decided) = lease_view(&store);
    let decided: Vec<Decided> = decided
        .into_iter()
        .filter(|d| !state.moved.contains_key(&d.rep.range_id))
        .collect();
    if decided.is_empty() {
        return;
    }
    let goal = |d: &RangeDescriptor| {
        Goal::new(configs.lookup(&d.start), store.config().replication_factor)
    };
    let moved_leases = rebalance_leases(&store, views, &cfg, counts, &decided, &goal);
    for r in &moved_leases {
        state.moved.insert(*r, now);
    }
    let eligible: BTreeSet<NodeId> = state
        .live_since
        .iter()
        .filter(|(_, t)| now - **t >= cfg.rebalance_target_min_live)
        .map(|(n, _)| *n)
        .collect();
    let rest: Vec<&Decided> = decided
        .iter()
        .filter(|d| !moved_leases.contains(&d.rep.range_id))
        .collect();
    for r in rebalance_replicas(dist, views, &cfg, &rest, &eligible, &goal) {
        state.moved.insert(r, now);
    }
}

/// Starts at most [`MAX_REPLICA_MOVES_PER_PASS`] voter moves among `ranges` (which this
/// node decides) towards even replica counts; returns the ranges moved.
fn rebalance_replicas(
    dist: &Arc<DistSender>,
    views: &[NodeView],
    cfg: &LoadConfig,
    ranges: &[&Decided],
    eligible: &BTreeSet<NodeId>,
    goal: &dyn Fn(&RangeDescriptor) -> Goal,
) -> Vec<RangeId> {
    let store = dist.store();
    let mut out = Vec::new();
    if ranges.is_empty() || eligible.is_empty() {
        return out;
    }
    // One scan of the meta records per pass, updated by the moves made.
    let mut counts = replica_counts(dist);
    for d in ranges {
        if out.len() >= MAX_REPLICA_MOVES_PER_PASS {
            break;
        }
        let (g, me, t) = (goal(&d.desc), store.node_id, cfg.rebalance_threshold);
        let Some((from, to)) = replica_move(&d.desc, me, &g, views, &counts, eligible, t) else {
            continue;
        };
        if !d.held && store.ensure_lease(&d.rep).is_err() {
            continue;
        }
        tracing::info!(range = %d.rep.range_id, from = %from, to = %to, "rebalancing a replica by count");
        let (range, demote) = (d.rep.range_id, false);
        crate::allocator::act(dist, store, range, Action::MoveVoter { from, to, demote });
        out.push(range);
        if let Some(c) = counts.get_mut(&from) {
            *c = c.saturating_sub(1);
        }
        *counts.entry(to).or_default() += 1;
    }
    out
}

/// Lease counts over this node's replicas, and the ranges this node decides.
fn lease_view(store: &Store) -> (LeaseCounts, Vec<Decided>) {
    let now = store.clock().now();
    let mut counts = LeaseCounts::default();
    let mut decided = Vec::new();
    for rep in store.replicas() {
        let (desc, lease, (leader, _)) = {
            let st = rep.state.lock();
            let Some(d) = st.desc.clone() else { continue };
            (d, st.lease.clone(), st.leader)
        };
        if lease.is_frozen() {
            continue;
        }
        let valid = lease.holder.0 != 0 && lease.expiration > now;
        let holder = if valid {
            lease.holder
        } else {
            match desc.node_of(kv::ReplicaId(leader)) {
                Some(n) if leader != 0 => n,
                _ => continue,
            }
        };
        counts.add(&desc, holder);
        if holder == store.node_id {
            let origins = rep.load.origin_rates();
            let settled = !valid || lease.start.add_ms(LEASE_SETTLE_MS) <= now;
            decided.push(Decided {
                rep,
                desc,
                held: valid,
                origins,
                settled,
            });
        }
    }
    (counts, decided)
}

/// Transfers leases to the node their requests come from ([`crate::follow`]), then away from
/// this node while it holds more than its share (leases anchored by their own node's
/// requests excepted); returns the ranges whose lease moved.
fn rebalance_leases(
    store: &Arc<Store>,
    views: &[NodeView],
    cfg: &LoadConfig,
    mut counts: LeaseCounts,
    decided: &[Decided],
    goal: &dyn Fn(&RangeDescriptor) -> Goal,
) -> Vec<RangeId> {
    let me = store.node_id;
    let mut out = Vec::new();
    for d in decided {
        if out.len() >= MAX_LEASE_TRANSFERS_PER_PASS {
            break;
        }
        if !d.settled {
            continue;
        }
        let g = goal(&d.desc);
        let t = cfg.rebalance_threshold;
        let follow = follow::target(&d.desc, me, &g, views, &d.origins);
        let by_count = || {
            if follow::anchored(me, &d.origins) {
                None
            } else {
                lease_target(&d.desc, me, &g, views, &counts, t)
            }
        };
        let Some(to) = follow.or_else(by_count) else {
            continue;
        };
        if placement::plan(&d.desc, me, &g, views).is_some() {
            // Placement work pending: the allocator's plan decides the lease meanwhile.
            continue;
        }
        if !d.held && store.ensure_lease(&d.rep).is_err() {
            continue;
        }
        match store.transfer_lease(d.rep.range_id, to) {
            Ok(()) => {
                let why = if follow.is_some() {
                    "its workload"
                } else {
                    "count"
                };
                tracing::debug!(range = %d.rep.range_id, to = %to, why, "lease rebalanced");
                counts.moved(me, to);
                out.push(d.rep.range_id);
            }
            Err(e) => {
                tracing::debug!(range = %d.rep.range_id, to = %to, error = %e, "lease rebalance failed")
            }
        }
    }
    out
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

/// Lease counts as `store` sees them (see [`LeaseCounts`]): for tests and status.
pub fn lease_counts(store: &Store) -> LeaseCounts {
    lease_view(store).0
}

#[cfg(test)]
#[path = "rebalance_tests.rs"]
mod tests;
