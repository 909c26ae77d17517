//! The merge queue: joins small adjacent ranges (issue 4), on every node, for the ranges whose
//! lease the node holds. The protocol itself (freeze the right side, wait until every replica
//! applied the freeze, merge through the left side's log) is `store/merge.rs`; this module
//! decides what to merge, prepares the pair, and keeps the meta records right.
//!
//! Every [`MergeConfig::interval`], one scan of the meta records, then for each adjacent pair
//! (left `L`, right `R`), the first pair that qualifies is worked on (one step per pass):
//! - **Qualifies**: neither is range 1 and `L` starts in the table keyspace (the addressing
//!   and system ranges stay apart); no span config boundary lies inside `L ∪ R` (different
//!   zone configs or multi-region placements are never merged); `R`'s split is not sticky
//!   (`SPLIT AT` splits are kept, as CockroachDB keeps manual splits until `UNSPLIT AT`:
//!   `TxnSource::unsplit_at`, `Store::unsplit_local`); the two hold less than [`MergeConfig::range_min_bytes`]
//!   together (default a quarter of `--range-max-bytes`, so a range split by size, whose
//!   halves hold about half of it each, is never merged straight back); this node's replicas
//!   of both have applied the descriptors the meta records show.
//! - **Leases**: this node must hold both. A node holding only `R`'s lease hands it to `L`'s
//!   holder; a lapsed `R` lease is taken when this node leads `R`'s Raft group.
//! - **Colocation**: `R`'s replicas must be on exactly `L`'s nodes (same kinds). If not, the
//!   queue changes `R`'s membership one step at a time with the ordinary replica-change
//!   functions (add a learner and promote it, demote, remove; never the leaseholder's), as
//!   `R`'s Raft leader. It does not use the allocator (helper H2's), which may move them
//!   back: the allocator spreads each range independently.
//! - **Merge**, then one range-1 write replaces the two meta records with the merged one. If
//!   the node dies in between, [`repair_meta`] (every pass, for the ranges this node leases)
//!   finds a local descriptor wider than its meta record and rewrites it; meanwhile a
//!   request routed by the stale record is answered with the merged descriptor (key
//!   mismatch) and re-routed.
//! - **Leftovers**: an empty replica of a merged-away range, re-created on a node by a stray
//!   Raft message from a replica that had not applied the merge yet, is destroyed
//!   (`Store::collect_merged_leftovers`, by the tombstone the merge left on the node).
//! - **Recovery**: a local replica that stays frozen for [`RECOVER_AFTER`] without a merge
//!   running here is settled with `Store::recover_frozen` (fence the left side, unfreeze).
//!
//! IMPLEMENTATION CAVEATS
//! - Stickiness is a marker written by every split except those whose key this node's size
//!   check chose (`Store::note_automatic_split`): splits at span config boundaries stay
//!   sticky even after the configs go, and there is no `SPLIT AT ... WITH EXPIRATION`.
//! - Sizes are counted by scanning the ranges' data (no MVCC statistics), up to the
//!   threshold; a pair found too big is measured again only after [`SIZE_RECHECK`] (or a
//!   descriptor change), so a range that shrank (rows deleted and garbage-collected) merges
//!   up to a minute later.

use crate::desc::{self, RangeDescriptor, ReplicaKind};
use crate::dist::DistSender;
use crate::rpc::{NodeRequest, NodeResponse};
use crate::store::merge::{BeforeMerge, ProbeResult};
use crate::store::merge_apply::colocated;
use crate::store::Store;
use kv::keys::TABLE_PREFIX;
use kv::{NodeId, RangeId};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A right-hand replica frozen this long with no merge running here is settled.
pub const RECOVER_AFTER: Duration = Duration::from_secs(60);

/// Settings of the merge queue (`meridian start --merge-queue-enabled`, `--range-min-bytes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeConfig {
    /// Whether the queue merges (CockroachDB's `kv.range_merge.queue_enabled`). Recovery of
    /// frozen ranges and meta repairs run either way.
    pub enabled: bool,
    /// Merge two adjacent ranges when together they hold fewer bytes than this (None: a
    /// quarter of the store's split size).
    pub range_min_bytes: Option<u64>,
    /// Time between passes.
    pub interval: Duration,
}

impl Default for MergeConfig {
    fn default() -> Self {
        MergeConfig {
            enabled: true,
            range_min_bytes: None,
            interval: Duration::from_secs(1),
        }
    }
}

impl MergeConfig {
    /// The merge threshold for a store splitting at `split_bytes`.
    pub fn threshold(&self, split_bytes: u64) -> u64 {
        self.range_min_bytes.unwrap_or(split_bytes / 4)
    }
}

/// How long a pair found too big to merge is not measured again.
pub const SIZE_RECHECK: Duration = Duration::from_secs(60);

/// Starts the queue on its own thread; it stops when `stop` is set or the node goes away.
pub fn spawn(dist: &Arc<DistSender>, cfg: MergeConfig, stop: Arc<AtomicBool>) {
    let weak = Arc::downgrade(dist);
    let spawned = std::thread::Builder::new()
        .name("merge-queue".into())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(cfg.interval);
                let Some(d) = weak.upgrade() else { return };
                run_once(&d, &cfg);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the merge queue");
    }
}

/// One pass (see the module doc). Returns the merged descriptor if it merged.
pub fn run_once(dist: &Arc<DistSender>, cfg: &MergeConfig) -> Option<RangeDescriptor> {
    let store = dist.store().clone();
    recover_pass(&store);
    let all = dist.all_ranges().ok()?;
    repair_meta(dist, &all);
    if !cfg.enabled {
        return None;
    }
    let limit = cfg.threshold(store.config().split_bytes);
    for pair in all.windows(2) {
        let (l, r) = (&pair[0], &pair[1]);
        if !qualifies(dist, &store, l, r, limit) {
            continue;
        }
        if !prepare(&store, l, r) {
            continue;
        }
        match merge_at(dist, l.range_id, None) {
            Ok(d) => return Some(d),
            Err(e) => {
                tracing::debug!(lhs = %l.range_id, rhs = %r.range_id, error = %e, "merge failed");
                return None;
            }
        }
    }
    None
}

/// Merges range `lhs` with its right-hand neighbour: this node must hold both leases and the
/// two must be colocated (the queue's job). Updates the meta records. `before_merge` is a
/// test hook.
pub fn merge_at(
    dist: &Arc<DistSender>,
    lhs: RangeId,
    before_merge: Option<BeforeMerge<'_>>,
) -> Result<RangeDescriptor, txn::Error> {
    let store = dist.store().clone();
    let l = store
        .replica(lhs)
        .and_then(|r| r.desc())
        .ok_or(txn::Error::NotLeaseholder { leaseholder: None })?;
    let end = l
        .end
        .clone()
        .ok_or_else(|| txn::Error::Internal(format!("{lhs} is the last range")))?;
    let rhs = store
        .replica_for_key(&end)
        .map(|r| r.range_id)
        .ok_or_else(|| txn::Error::Internal(format!("no local replica follows {lhs}")))?;
    if !store.merge_state.running.lock().insert(rhs) {
        return Err(txn::Error::Internal(format!("{rhs} is being merged")));
    }
    let probe = |node: NodeId, range: RangeId| probe(dist, node, range);
    let res = store.merge_local(lhs, rhs, &probe, before_merge);
    store.merge_state.running.lock().remove(&rhs);
    let merged = res?;
    tracing::info!(lhs = %lhs, rhs = %rhs, "ranges merged");
    let ops = vec![
        (desc::meta_key(Some(&end)), None),
        (
            desc::meta_key(merged.end.as_deref()),
            Some(desc::encode(&merged)),
        ),
    ];
    if let Err(e) = dist.meta_write(ops) {
        tracing::warn!(lhs = %lhs, error = %e, "merge: meta records not updated yet; the queue repairs them");
    }
    Ok(merged)
}

/// What the replica of `range` on `node` applied: its descriptor and lease holder.
fn probe(dist: &DistSender, node: NodeId, range: RangeId) -> ProbeResult {
    if node == dist.store().node_id {
        let rep = dist.store().replica(range)?;
        return Some((rep.desc(), rep.lease().holder));
    }
    match dist.call(node, NodeRequest::ReplicaInfo { range }) {
        Ok(NodeResponse::ReplicaInfo(Ok(i))) => Some((i.desc, i.lease_holder)),
        _ => None,
    }
}

/// Whether `l` and `r` may be merged (see the module doc), judged from this node.
fn qualifies(
    dist: &Arc<DistSender>,
    store: &Arc<Store>,
    l: &RangeDescriptor,
    r: &RangeDescriptor,
    limit: u64,
) -> bool {
    if l.range_id == RangeId(1) || l.start.as_slice() < [TABLE_PREFIX].as_slice() {
        return false;
    }
    let (Some(lrep), Some(rrep)) = (store.replica(l.range_id), store.replica(r.range_id)) else {
        return false;
    };
    if lrep.desc().as_ref() != Some(l) || rrep.desc().as_ref() != Some(r) {
        return false;
    }
    if rrep.lease().is_frozen() || lrep.lease().is_frozen() || store.is_sticky(&r.start) {
        return false;
    }
    let here = store.lease_valid_here(&lrep) || store.lease_valid_here(&rrep) || lrep.leader().1;
    if !here {
        return false;
    }
    let configs = dist.span_configs_cached();
    if configs.split_point(&l.start, r.end.as_deref()).is_some() {
        return false;
    }
    small_enough(store, l, r, limit)
}

/// Whether `l` and `r` hold fewer than `limit` bytes together. A pair found too big is not
/// scanned again for [`SIZE_RECHECK`] unless one side's descriptor changes (sizes are
/// counted by scanning, up to `limit`).
fn small_enough(store: &Arc<Store>, l: &RangeDescriptor, r: &RangeDescriptor, limit: u64) -> bool {
    let key = ((l.range_id, l.generation), (r.range_id, r.generation));
    let now = Instant::now();
    {
        let mut memo = store.merge_state.too_big.lock();
        memo.retain(|_, at| now.duration_since(*at) < SIZE_RECHECK);
        if memo.contains_key(&key) {
            return false;
        }
    }
    let size = store.range_bytes(l, limit);
    let small = size < limit && size + store.range_bytes(r, limit) < limit;
    if !small {
        store.merge_state.too_big.lock().insert(key, now);
    }
    small
}

/// Brings both leases to this node and the right side's replicas onto the left side's
/// nodes, one step at a time; true when the pair is ready to merge.
fn prepare(store: &Arc<Store>, l: &RangeDescriptor, r: &RangeDescriptor) -> bool {
    let (Some(lrep), Some(rrep)) = (store.replica(l.range_id), store.replica(r.range_id)) else {
        return false;
    };
    let now = store.clock().now();
    let held_elsewhere = |lease: &desc::Lease| {
        lease.holder != store.node_id && lease.holder.0 != 0 && lease.expiration > now
    };
    if !store.lease_valid_here(&lrep) {
        let lease = lrep.lease();
        if held_elsewhere(&lease) {
            // We hold only the right side's lease: give it to the left side's holder.
            if store.lease_valid_here(&rrep) && r.replica_on(lease.holder).is_some() {
                if let Err(e) = store.transfer_lease(r.range_id, lease.holder) {
                    tracing::debug!(rhs = %r.range_id, error = %e, "merge: lease transfer failed");
                }
            }
            return false;
        }
        // Lapsed: the left side's Raft leader takes it.
        if !lrep.leader().1 || store.ensure_lease(&lrep).is_err() {
            return false;
        }
    }
    if !store.lease_valid_here(&rrep) {
        if held_elsewhere(&rrep.lease()) {
            return false; // Its holder's queue hands it over.
        }
        if !rrep.leader().1 || store.ensure_lease(&rrep).is_err() {
            store.transfer_leadership_to_self(r.range_id);
            return false;
        }
    }
    if colocated(l, r) {
        return true;
    }
    if let Err(e) = colocate_step(store, l, r) {
        tracing::debug!(rhs = %r.range_id, error = %e, "merge: colocation step failed");
    }
    false
}

/// One membership change of `r` toward `l`'s replica set.
fn colocate_step(
    store: &Arc<Store>,
    l: &RangeDescriptor,
    r: &RangeDescriptor,
) -> Result<(), txn::Error> {
    if !store.replica(r.range_id).is_some_and(|x| x.leader().1) {
        store.transfer_leadership_to_self(r.range_id);
        return Ok(());
    }
    for want in &l.replicas {
        match r.replica_on(want.node_id) {
            None => {
                store.add_replica(r.range_id, want.node_id, want.kind)?;
                return Ok(());
            }
            Some(have) if have.kind != want.kind => {
                store.set_replica_kind(r.range_id, want.node_id, want.kind)?;
                return Ok(());
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = r
        .replicas
        .iter()
        .find(|x| l.replica_on(x.node_id).is_none() && x.node_id != store.node_id)
    {
        if extra.kind == ReplicaKind::Voter && r.replicas.len() <= l.replicas.len() {
            return Ok(());
        }
        store.remove_replica(r.range_id, extra.node_id)?;
    }
    Ok(())
}

/// Rewrites the meta records of ranges this node leases whose local descriptor is wider than
/// their record (a merge whose proposer stopped before updating them).
pub fn repair_meta(dist: &DistSender, all: &[RangeDescriptor]) {
    let store = dist.store();
    for rec in all {
        let Some(rep) = store.replica(rec.range_id) else {
            continue;
        };
        let Some(local) = rep.desc() else { continue };
        let grew = local.start == rec.start
            && local.generation > rec.generation
            && rec
                .end
                .as_deref()
                .is_some_and(|e| local.contains(e) && local.end.as_deref() != Some(e));
        if !grew || !store.lease_valid_here(&rep) {
            continue;
        }
        let mut ops: Vec<kv::engine::BatchOp> = all
            .iter()
            .filter(|x| x.end.as_deref().is_some_and(|e| local.contains(e)))
            .map(|x| (desc::meta_key(x.end.as_deref()), None))
            .collect();
        ops.push((
            desc::meta_key(local.end.as_deref()),
            Some(desc::encode(&local)),
        ));
        match dist.meta_write(ops) {
            Ok(()) => tracing::info!(range = %local.range_id, "merge: meta records repaired"),
            Err(e) => tracing::debug!(range = %local.range_id, error = %e, "meta repair failed"),
        }
    }
}

/// Settles local replicas frozen for longer than [`RECOVER_AFTER`] with no merge running.
fn recover_pass(store: &Arc<Store>) {
    store.collect_merged_leftovers();
    let now = Instant::now();
    let frozen: Vec<RangeId> = store
        .replicas()
        .iter()
        .filter(|r| r.lease().is_frozen())
        .map(|r| r.range_id)
        .collect();
    let mut due = Vec::new();
    {
        let mut since = store.merge_state.frozen_since.lock();
        since.retain(|r, _| frozen.contains(r));
        let running = store.merge_state.running.lock();
        for r in frozen {
            let first = *since.entry(r).or_insert(now);
            let busy = running.contains(&r);
            if !busy && now.duration_since(first) >= RECOVER_AFTER {
                due.push(r);
            }
        }
    }
    for r in due {
        match store.recover_frozen(r) {
            Ok(_) => {}
            Err(e) => tracing::debug!(range = %r, error = %e, "frozen range recovery failed"),
        }
    }
}
