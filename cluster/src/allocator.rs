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
//! 3. One placement step from [`crate::placement::plan`]: add, promote, demote or remove a
//!    replica, or move the lease to its preferred region. Voters follow the span config's
//!    counts and region constraints (default: the replication factor, spread over regions and
//!    zones); a dead node's replicas are replaced after `dead_after`; decommissioning waits
//!    for a replacement.
//!
//! IMPLEMENTATION CAVEATS
//! - Replicas and leases are not rebalanced by count or load between nodes that all satisfy
//!   the constraints; see crate::placement.
//! - Ranges are not merged.
//! - Removed replicas are not garbage-collected on their (possibly dead) node until it next
//!   hears about the range; they serve nothing.

use crate::desc::{self, NodeRecord, ReplicaKind};
use crate::dist::DistSender;
use crate::placement::{self, Action, Goal, NodeView};
use crate::store::Store;
use kv::{NodeId, RangeId};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One pass of the queues over the ranges this node leads.
pub fn run_once(dist: &Arc<DistSender>) {
    let store = dist.store().clone();
    let Ok(nodes) = dist.node_records() else {
        return;
    };
    let now = store.clock().now();
    let mut views = node_views(&store, &nodes);
    let configs = dist.span_configs();
    // Replica counts per node (a scan of every meta record) only matter when placing a new
    // replica: filled in the first time a plan adds one.
    let mut counted = false;
    for rep in store.replicas() {
        let lease = rep.lease();
        let Some(d) = rep.desc() else { continue };
        // A quiesced follower does not notice its leader's death by itself.
        let (leader, _) = rep.leader();
        if let Some(n) = d.node_of(kv::ReplicaId(leader)) {
            if n != store.node_id && !nodes.iter().any(|l| l.node_id == n && l.live_until > now) {
                store.wake(rep.range_id);
            }
        } else if leader == 0 {
            store.wake(rep.range_id);
        }
        let held = lease.holder == store.node_id && lease.expiration > now;
        let (leader, is_leader) = rep.leader();
        if held && !is_leader {
            if leader != 0 {
                store.transfer_leadership_to_self(rep.range_id);
            }
            continue;
        }
        // The leaseholder decides for its range; an idle range whose lease expired (nobody
        // renews leases of quiet ranges) is decided by its Raft leader, which takes the lease
        // only when there is something to do.
        let decides = held || (is_leader && lease.expiration <= now);
        if !decides {
            continue;
        }
        if split_at_config_boundary(dist, &configs, &d) {
            continue;
        }
        if held && maybe_split(dist, &store, &rep) {
            continue;
        }
        let goal = Goal::new(configs.lookup(&d.start), store.config().replication_factor);
        let mut action = placement::plan(&d, store.node_id, &goal, &views);
        if matches!(action, Some(Action::AddVoter(_) | Action::AddNonVoter(_))) && !counted {
            counted = true;
            let counts = replica_counts(dist);
            for v in &mut views {
                v.replicas = counts.get(&v.node_id).copied().unwrap_or(0);
            }
            action = placement::plan(&d, store.node_id, &goal, &views);
        }
        if action.is_some() && !held {
            if let Err(e) = store.ensure_lease(&rep) {
                tracing::debug!(range = %rep.range_id, error = %e, "cannot take the lease to act");
                continue;
            }
        }
        if let Some(a) = action {
            act(dist, &store, rep.range_id, a);
        }
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
fn act(dist: &Arc<DistSender>, store: &Arc<Store>, range: RangeId, a: Action) {
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
