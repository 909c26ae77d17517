//! The GC queues of a node: MVCC GC of the ranges it leases, and replica GC of the replicas it
//! holds that were removed from their ranges.
//!
//! MVCC GC ([`mvcc_gc_pass`]): every [`StoreConfig::gc_interval`], for each range whose Raft
//! group this node leads or whose lease it holds, the leaseholder raises the range's GC
//! threshold to `now - gc_ttl` and removes the versions no read at or above it can see
//! ([`txn::range::Range::gc`]). Both the threshold and the deletions are ordinary replicated
//! writes (Raft commands applied by every replica), so after a run every replica has dropped
//! the same versions and refuses reads below the same threshold, follower reads included. The
//! TTL is CockroachDB's `gc.ttlseconds` (default 4 h), a store setting here.
//!
//! Replica GC ([`replica_gc_pass`]): every [`StoreConfig::replica_gc_interval`], one scan of
//! the meta records, and the store destroys the replicas it proves removed (see
//! `store/replica_gc.rs` for the rules).
//!
//! IMPLEMENTATION CAVEATS
//! - One TTL for the whole store: per-zone `gc.ttlseconds` (span configs) is not consulted.
//! - A run rescans the whole range each interval (CockroachDB first estimates the garbage from
//!   MVCC stats, which Meridian does not keep); protected timestamps (backups, changefeeds) do
//!   not exist, so nothing holds the threshold back except the TTL.
//! - Open transactions do not hold the threshold back (the single-node store's GC does, for
//!   its registered transactions): as in CockroachDB, a transaction whose read timestamp falls
//!   more than the TTL behind fails its next read or refresh with the GC-threshold error
//!   (SQLSTATE 72000) and is retried by the client.
//! - Replica GC deletes a destroyed replica's data with one range deletion per span (cheap on
//!   the Raft thread whatever the replica's size), but the deleted keys stay on disk until
//!   RocksDB's compaction reaches them: no compaction of the span is requested.
//!
//! [`StoreConfig::gc_interval`]: crate::store::StoreConfig::gc_interval
//! [`StoreConfig::replica_gc_interval`]: crate::store::StoreConfig::replica_gc_interval

use crate::dist::DistSender;
use crate::store::Store;
use kv::Timestamp;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// What one MVCC GC pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcStats {
    /// Ranges collected.
    pub ranges: usize,
    /// Versions removed.
    pub versions: usize,
}

/// The GC threshold for a run at `now` with `ttl`: versions needed only by reads older than
/// it may go (zero while the node's clock is younger than the TTL).
pub fn threshold_for(now: Timestamp, ttl: Duration) -> Timestamp {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    match now.physical_ms().checked_sub(ttl_ms) {
        Some(ms) if ms > 0 => Timestamp::from_parts(ms, 0),
        _ => Timestamp::ZERO,
    }
}

/// Runs MVCC GC over every range this node leads or leases (taking or extending the lease when
/// it leads), with the store's TTL.
pub fn mvcc_gc_pass(store: &Arc<Store>) -> GcStats {
    let ttl = store.config().gc_ttl;
    let mut stats = GcStats::default();
    for rep in store.replicas() {
        let mine = rep.leader().1 || rep.lease().holder == store.node_id;
        if !mine || rep.desc().is_none() {
            continue;
        }
        let threshold = threshold_for(store.now(), ttl);
        if threshold == Timestamp::ZERO {
            continue;
        }
        let Ok(range) = store.ensure_lease(&rep) else {
            continue;
        };
        let _split = store.gc_lock.lock();
        if range.is_retired() {
            continue;
        }
        match range.gc(threshold) {
            Ok(n) => {
                stats.ranges += 1;
                stats.versions += n;
                if n > 0 {
                    tracing::debug!(range = %rep.range_id, versions = n, threshold = %threshold, "MVCC GC");
                }
            }
            Err(e) => {
                tracing::debug!(range = %rep.range_id, error = %e, "MVCC GC failed; retried next pass")
            }
        }
    }
    stats
}

/// Reads the meta records once and destroys the local replicas they prove removed; returns
/// how many were destroyed.
pub fn replica_gc_pass(dist: &DistSender) -> Result<usize, txn::Error> {
    let meta = dist.all_ranges()?;
    Ok(dist.store().replica_gc_pass(&meta))
}

/// Starts the node's GC thread: both queues, each at its interval, until `stop`.
pub fn spawn(dist: &Arc<DistSender>, stop: Arc<AtomicBool>) {
    let weak: Weak<DistSender> = Arc::downgrade(dist);
    let cfg = dist.store().config().clone();
    let tick = cfg
        .gc_interval
        .min(cfg.replica_gc_interval)
        .min(Duration::from_millis(500));
    let spawned = std::thread::Builder::new()
        .name("gc-queues".into())
        .spawn(move || {
            let mut next_mvcc = Instant::now() + cfg.gc_interval;
            let mut next_replica = Instant::now() + cfg.replica_gc_interval;
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(tick);
                let Some(d) = weak.upgrade() else { return };
                let now = Instant::now();
                if now >= next_replica {
                    if let Err(e) = replica_gc_pass(&d) {
                        tracing::debug!(error = %e, "replica GC pass failed");
                    }
                    next_replica = Instant::now() + cfg.replica_gc_interval;
                }
                if now >= next_mvcc {
                    mvcc_gc_pass(d.store());
                    next_mvcc = Instant::now() + cfg.gc_interval;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the GC queues");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_trails_now_by_the_ttl() {
        let now = Timestamp::from_parts(10_000_000, 3);
        assert_eq!(
            threshold_for(now, Duration::from_secs(4 * 3600)),
            Timestamp::ZERO
        );
        assert_eq!(
            threshold_for(now, Duration::from_secs(1)),
            Timestamp::from_parts(9_999_000, 0)
        );
    }
}
