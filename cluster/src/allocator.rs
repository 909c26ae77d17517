//! The background queues of a cluster node: the allocator that keeps every range at its
//! replication factor, and the split queue. Each node runs them for the ranges whose lease
//! (and Raft leadership) it holds, so every range has exactly one node deciding for it.
//!
//! One pass ([`run_once`]) per range, in this order:
//! 1. Leadership follows the lease: a leaseholder that does not lead the Raft group asks the
//!    leader to hand over (writes need the leader to propose quickly).
//! 2. Split when the range's data passed the split size (checked only after enough bytes were
//!    written through it since the last check).
//! 3. Replicas: add one on a live node without a replica while the range has fewer voters
//!    than `min(replication factor, live nodes)`; remove a replica on a node that is
//!    decommissioning or has been dead longer than `dead_after` (after its replacement was
//!    added, or at once if the range would keep a majority); drop extra voters. The lease
//!    moves off a decommissioning node before its replica is removed.
//!
//! IMPLEMENTATION CAVEATS
//! - Placement ignores localities and load: a new replica goes to the live node holding the
//!   fewest replicas (ties by node id); leases are not rebalanced across nodes yet.
//! - Ranges are not merged.
//! - Removed replicas are not garbage-collected on their (possibly dead) node until it next
//!   hears about the range; they serve nothing.

use crate::desc::{self, NodeRecord};
use crate::dist::DistSender;
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
    let dead_ms = store.config().dead_after.as_millis() as u64;
    let live: Vec<&NodeRecord> = nodes
        .iter()
        .filter(|n| n.live_until > now && !n.decommissioning)
        .collect();
    let dead = |n: NodeId| {
        nodes
            .iter()
            .find(|r| r.node_id == n)
            .is_none_or(|r| r.live_until.physical_ms() + dead_ms < now.physical_ms())
    };
    let decommissioning = |n: NodeId| nodes.iter().any(|r| r.node_id == n && r.decommissioning);
    let gone = |n: NodeId| dead(n) || decommissioning(n);
    // Nodes alive now, decommissioning or not.
    let alive = nodes.iter().filter(|n| n.live_until > now).count();
    // Replica counts per node (a scan of every meta record): only computed when a range
    // needs a new replica.
    let mut counts: Option<BTreeMap<NodeId, usize>> = None;
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
        if lease.holder != store.node_id || lease.expiration <= now {
            continue;
        }
        let (leader, is_leader) = rep.leader();
        if !is_leader {
            if leader != 0 {
                store.transfer_leadership_to_self(rep.range_id);
            }
            continue;
        }
        if maybe_split(dist, &store, &rep) {
            continue;
        }
        let target = store.config().replication_factor.min(live.len()).max(1);
        let healthy = d.replicas.iter().filter(|r| !gone(r.node_id)).count();
        if healthy < target {
            let counts = counts.get_or_insert_with(|| replica_counts(dist));
            let candidate = live
                .iter()
                .filter(|n| d.replica_on(n.node_id).is_none())
                .min_by_key(|n| (counts.get(&n.node_id).copied().unwrap_or(0), n.node_id));
            if let Some(n) = candidate {
                change(dist, rep.range_id, |s| {
                    s.add_replica(rep.range_id, n.node_id)
                });
                continue;
            }
        }
        let removable = d
            .replicas
            .iter()
            .find(|r| gone(r.node_id))
            .map(|r| r.node_id)
            .or_else(|| {
                (d.replicas.len() > target)
                    .then(|| d.replicas.iter().rev().find(|r| r.node_id != store.node_id))
                    .flatten()
                    .map(|r| r.node_id)
            });
        if let Some(node) = removable {
            if node == store.node_id {
                // Decommissioning ourselves: hand the lease to a healthy replica first.
                if let Some(to) = d.replicas.iter().find(|r| !gone(r.node_id)) {
                    let _ = store.transfer_lease(rep.range_id, to.node_id);
                }
                continue;
            }
            let allowed = if dead(node) {
                // Keep a majority of the current voters healthy through the removal.
                healthy > d.replicas.len() / 2
            } else if decommissioning(node) {
                // Like CockroachDB, decommissioning waits until the replica's replacement
                // exists: it never lowers a range below its replication factor (a 3-node
                // cluster with 3 replicas cannot decommission a node until a 4th joins).
                healthy >= store.config().replication_factor.min(alive)
            } else {
                d.replicas.len() > target
            };
            if allowed {
                change(dist, rep.range_id, |s| s.remove_replica(rep.range_id, node));
            }
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
            tracing::info!(range = %range, replicas = ?new.replicas.iter().map(|r| r.node_id.0).collect::<Vec<_>>(), "replicas changed");
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
