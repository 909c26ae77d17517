//! Follow-the-workload lease placement: a range's lease moves to the voter on the node its
//! requests come from.
//!
//! Every request a leaseholder serves is counted by the node whose DistSender sent it (the
//! gateway that runs the client's SQL; [`crate::load::ReplicaLoad::origin_rates`]). When one
//! other voter's node sends most of a range's requests, serving them there saves each one a
//! network hop (and, across regions, a round trip): the rebalancer ([`crate::rebalance`])
//! transfers the lease there. CockroachDB does this across localities
//! (`kv.allocator.load_based_lease_rebalancing.enabled`); here it applies between any two
//! voters, because inside one zone a hop still costs an RPC and a thread hand-off on both
//! nodes (on the 3-node TPC-C benchmark, spreading leases by count with one gateway cost a
//! third of the throughput).
//!
//! A busy range's lease on the node that sends the most of its requests is **anchored**:
//! the count-based balancing leaves it alone, and balances the leases of idle ranges (and of
//! ranges whose leaseholder's node is not their main origin) only.
//! Against flapping: the other node must send a majority ([`FOLLOW_SHARE`]) and at least
//! [`FOLLOW_RATIO`] times the leaseholder node's own requests, the range must be busy enough
//! to measure ([`FOLLOW_MIN_QPS`]), and a moved range waits out the rebalancer's cooldown;
//! the new leaseholder measures from zero, so it cannot send the lease back before it has
//! seen a majority of its own.
//!
//! IMPLEMENTATION CAVEATS
//! - Requests are counted, not weighed by their cost or by the latency to their origin.
//! - Ranges with lease preferences (multi-region tables) are never moved: their lease stays
//!   in the preferred region, where the planner puts it.
//! - Only voters can take the lease, so a workload on a node without a replica of the range
//!   does not pull it (no replica moves toward the load).

use crate::desc::{RangeDescriptor, ReplicaKind};
use crate::placement::{Goal, NodeView};
use kv::NodeId;

/// A range must serve at least this many requests per second for its lease to follow them.
pub const FOLLOW_MIN_QPS: f64 = 1.0;
/// The share of a range's requests that one other node must send to pull its lease.
pub const FOLLOW_SHARE: f64 = 0.5;
/// How many times the leaseholder node's own requests that node must send.
pub const FOLLOW_RATIO: f64 = 2.0;

fn rate_of(rates: &[(u64, f64)], n: NodeId) -> f64 {
    rates
        .iter()
        .filter(|(o, _)| *o == n.0)
        .map(|(_, r)| r)
        .sum()
}

/// Whether the lease of a busy range on `me`, whose requests came from `rates` (requests/s
/// by origin node), is where its workload is: no other node sends more of its requests. The
/// count balancing leaves such a lease alone. (Not "a majority from `me`": a busy range also
/// serves intent resolutions and pushes sent by other ranges' leaseholders, and those must
/// not make it movable.)
pub fn anchored(me: NodeId, rates: &[(u64, f64)]) -> bool {
    let total: f64 = rates.iter().map(|(_, r)| r).sum();
    let mine = rate_of(rates, me);
    total >= FOLLOW_MIN_QPS && rates.iter().all(|(n, r)| *n == me.0 || *r <= mine)
}

/// The voter the lease of `d` (held by `me`) should move to because its node sends most of
/// the range's requests (see the module doc); None to keep it.
pub fn target(
    d: &RangeDescriptor,
    me: NodeId,
    goal: &Goal,
    nodes: &[NodeView],
    rates: &[(u64, f64)],
) -> Option<NodeId> {
    if !goal.lease_preferences.is_empty() {
        return None;
    }
    let total: f64 = rates.iter().map(|(_, r)| r).sum();
    if total < FOLLOW_MIN_QPS {
        return None;
    }
    let mine = rate_of(rates, me);
    let (node, rate) = d
        .replicas
        .iter()
        .filter(|r| r.kind == ReplicaKind::Voter && r.node_id != me)
        .filter(|r| {
            nodes
                .iter()
                .any(|v| v.node_id == r.node_id && v.usable && v.live)
        })
        .map(|r| (r.node_id, rate_of(rates, r.node_id)))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))?;
    (rate > FOLLOW_SHARE * total && rate >= FOLLOW_RATIO * mine).then_some(node)
}
