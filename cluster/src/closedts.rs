//! Closed timestamps: how leaseholders let every other replica serve reads.
//!
//! Every [`INTERVAL`] each node closes a timestamp on the ranges it leases
//! ([`txn::range::Range::close`]: no write at or below it will be evaluated any more, and all
//! earlier writes are applied) and tells the other replicas of each range, over the node RPC
//! (a side channel: no Raft traffic, so quiesced ranges stay quiet), the pair (closed
//! timestamp, Raft index applied when it was closed). A replica that has applied that index
//! holds every value at or below the timestamp, and serves reads at or below it itself
//! ([`txn::range::follower_read`]): `AS OF SYSTEM TIME follower_read_timestamp()` reads and
//! every read of a GLOBAL table, from the nearest replica.
//!
//! Two targets:
//! - ordinary ranges close `now - LAG` (CockroachDB's 3 s), refreshed every second;
//!   `follower_read_timestamp()` is 4.8 s in the past, so it is always closed;
//! - ranges whose span config asks for global reads close `now + lead` ([`lead_ms`]), every
//!   interval: their writes are pushed into the future and wait until the clock passes their
//!   commit timestamp before they are acknowledged (commit-wait, in the coordinator), while a
//!   present-time read, uncertainty window included, is below the closed timestamp on every
//!   replica and is served locally.
//!
//! Promises survive lease changes: a new leaseholder's timestamp cache starts at its lease
//! start (above any ordinary closed timestamp, which lags by more than the maximum clock
//! offset) and, on a global range, at `now + lead + max offset` (above anything the previous
//! holder, whose clock was at most the max offset ahead, can have closed).
//!
//! Leases: closed timestamps are published only under a live lease, and leases are
//! expiration-based (taken and extended on demand). So that an idle range keeps serving
//! follower and GLOBAL reads, this loop also keeps alive the leases of ranges placed for
//! reads away from the leaseholder (GLOBAL, with non-voters, or constrained to regions; see
//! [`keep_leases`]): one Raft proposal per such range every half lease. Other idle ranges'
//! leases lapse 6 s after their last request, after which a range costs one lock and one
//! comparison per second here; the 100 ms rounds are skipped altogether when no span config
//! asks for global reads. The replicas keep the last closed timestamp they learned; a follower
//! read above it goes to the leaseholder path, which takes the lease again.
//!
//! IMPLEMENTATION CAVEATS
//! - Keeping leases alive costs a proposal per multi-region range every 3 s; CockroachDB's
//!   epoch-based leases (valid while the holder's liveness record is) cost nothing per range.
//! - Closing waits for the range's writes in flight (a write latch over the range); a write
//!   stuck in replication delays this node's closed timestamps for every range behind it.
//! - After a restart a replica knows its applied index only once it applies a new entry (an
//!   election appends one); until then it refuses follower reads.

use crate::dist::DistSender;
use crate::rpc::NodeRequest;
use crate::store::{Replica, Store};
use kv::{NodeId, RangeId, Timestamp};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use txn::zone::{SpanConfig, SpanConfigs};

/// How often global ranges' closed timestamps are published.
pub const INTERVAL: Duration = Duration::from_millis(100);
/// Ordinary ranges are published every this many intervals.
const ORDINARY_EVERY: u64 = 10;
/// How far behind the present ordinary ranges close.
pub const LAG: Duration = Duration::from_secs(3);
/// The least time between two lease proposals of [`keep_leases`] for one range.
const KEEP_EVERY: Duration = Duration::from_millis(250);
/// Allowance for the publication to reach the farthest replica.
const NETWORK_ALLOWANCE_MS: u64 = 400;
/// Pending (not yet applied) closed timestamps kept per replica.
const MAX_PENDING: usize = 4;

/// How far ahead of the present global ranges close: the maximum clock offset (a reader's
/// uncertainty window), plus publication delay and transit.
pub fn lead_ms(max_offset_ms: u64) -> u64 {
    max_offset_ms + 2 * INTERVAL.as_millis() as u64 + NETWORK_ALLOWANCE_MS
}

/// One published closed timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedUpdate {
    /// The range.
    pub range: RangeId,
    /// Closed: no write at or below it will happen.
    pub ts: Timestamp,
    /// Every write at or below `ts` is at or below this Raft index.
    pub index: u64,
}

/// What a replica knows of its range's closed timestamps.
#[derive(Debug, Clone, Default)]
pub struct Closed {
    /// Closed and applied here: reads at or below it can be served.
    usable: Timestamp,
    /// Closed, but their index is not applied here yet: (ts, index), oldest first.
    pending: Vec<(Timestamp, u64)>,
}

impl Closed {
    /// Learns that `ts` is closed as of `index`, with `applied` applied here.
    pub fn learn(&mut self, ts: Timestamp, index: u64, applied: u64) {
        if ts <= self.usable {
            return;
        }
        if index <= applied {
            self.usable = ts;
        } else {
            self.pending.push((ts, index));
            if self.pending.len() > MAX_PENDING {
                self.pending.remove(0);
            }
        }
        self.promote(applied);
    }

    /// The newest closed timestamp whose index is applied (`applied`).
    pub fn at(&mut self, applied: u64) -> Timestamp {
        self.promote(applied);
        self.usable
    }

    fn promote(&mut self, applied: u64) {
        let usable = &mut self.usable;
        self.pending.retain(|(ts, index)| {
            if *index <= applied {
                *usable = (*usable).max(*ts);
                false
            } else {
                *ts > *usable
            }
        });
    }
}

/// Starts the publishing thread of a node.
pub fn spawn(dist: &Arc<DistSender>, stop: Arc<AtomicBool>) {
    let weak: Weak<DistSender> = Arc::downgrade(dist);
    let busy: Arc<Mutex<BTreeSet<NodeId>>> = Arc::default();
    let _ = std::thread::Builder::new()
        .name("closedts".into())
        .spawn(move || {
            let mut round = 0u64;
            let mut kept = HashMap::new();
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(INTERVAL);
                let Some(d) = weak.upgrade() else { return };
                let ordinary = round.is_multiple_of(ORDINARY_EVERY);
                round += 1;
                keep_leases(&d, &mut kept);
                let out = close_round(&d, ordinary);
                publish(&d, out, &busy);
            }
        });
}

/// Closes the ranges this node leases; returns the updates per destination node.
fn close_round(dist: &Arc<DistSender>, ordinary: bool) -> BTreeMap<NodeId, Vec<ClosedUpdate>> {
    let store = dist.store().clone();
    // Never wait for a refresh here (the allocator refreshes the copy): this loop must keep
    // its 100 ms pace.
    let configs = dist.span_configs_cached();
    let mut out: BTreeMap<NodeId, Vec<ClosedUpdate>> = BTreeMap::new();
    // Between ordinary rounds only global ranges are published: without any global span
    // config there is nothing to do, and the replicas are not even visited.
    if !ordinary && !has_global(&configs) {
        return out;
    }
    let now = store.clock().now();
    let lead = lead_ms(store.clock().max_offset_ms());
    for rep in store.replicas() {
        let Some(c) = candidate(&rep, &store, &configs, now, ordinary) else {
            continue;
        };
        let ts = if c.global {
            Timestamp::from_parts(now.physical_ms() + lead, 0)
        } else {
            Timestamp::from_parts(now.physical_ms().saturating_sub(LAG.as_millis() as u64), 0)
        };
        // Without a transaction object nothing is in flight, and the object created later
        // starts above `ts` (see the module docs).
        if let Some(r) = c.range {
            r.close(ts);
        }
        // Read after closing: every write evaluated below `ts` has applied by now.
        let index = {
            let mut st = rep.state.lock();
            let applied = st.applied_index;
            st.closed.learn(ts, applied, applied);
            applied
        };
        let update = ClosedUpdate {
            range: rep.range_id,
            ts,
            index,
        };
        for node in c.others {
            out.entry(node).or_default().push(update);
        }
    }
    out
}

/// Whether any span config asks for global reads.
fn has_global(configs: &SpanConfigs) -> bool {
    configs.configs().any(|c| c.global_reads)
}

/// Whether a range under `c` is placed for reads away from its leaseholder: GLOBAL, or with
/// non-voters, or constrained to regions (a multi-region database's tables and the catalog).
fn serves_followers(c: &SpanConfig) -> bool {
    c.global_reads
        || c.num_non_voters() > 0
        || !c.constraints.is_empty()
        || !c.voter_constraints.is_empty()
}

/// Keeps the leases of ranges whose other replicas serve reads alive, so that their closed
/// timestamps keep flowing while they are idle (see [`Store::keep_lease`]). `kept` throttles
/// the proposals: one per range per [`KEEP_EVERY`], however slow a cross-region commit is.
/// Nothing is visited in a cluster without such span configs (one region: the idle cost
/// stays at zero).
fn keep_leases(dist: &Arc<DistSender>, kept: &mut HashMap<RangeId, Instant>) {
    let configs = dist.span_configs_cached();
    if !configs.configs().any(serves_followers) {
        return;
    }
    let store = dist.store();
    let now = store.clock().now();
    let at = Instant::now();
    kept.retain(|_, t| at.duration_since(*t) < KEEP_EVERY);
    for rep in store.replicas() {
        if kept.contains_key(&rep.range_id) {
            continue;
        }
        let start = match rep.state.lock().desc.as_ref() {
            Some(d) => d.start.clone(),
            None => continue,
        };
        if configs.lookup(&start).is_some_and(serves_followers) && store.keep_lease(&rep, now) {
            kept.insert(rep.range_id, at);
        }
    }
}

/// A range this node closes in this round.
struct Candidate {
    /// The leaseholder's transaction object, if one exists.
    range: Option<Arc<txn::range::Range>>,
    /// The span config asks for global reads.
    global: bool,
    /// The nodes of the other replicas.
    others: Vec<NodeId>,
}

/// Whether `rep` is closed in this round, decided under one short hold of its state lock and
/// without copying anything for the ranges this node does not lease (on an idle node, the
/// leases of idle ranges have lapsed: the common case is a lock, a comparison and nothing).
fn candidate(
    rep: &Replica,
    store: &Store,
    configs: &SpanConfigs,
    now: Timestamp,
    ordinary: bool,
) -> Option<Candidate> {
    let mut st = rep.state.lock();
    if st.lease.holder != store.node_id || st.lease.expiration <= now {
        return None;
    }
    let desc = st.desc.as_ref()?;
    let global = configs.lookup(&desc.start).is_some_and(|c| c.global_reads);
    if !global && !ordinary {
        st.global_reads = false;
        return None;
    }
    let others = desc.replicas.iter().map(|r| r.node_id);
    let others = others.filter(|n| *n != store.node_id).collect();
    st.global_reads = global;
    Some(Candidate {
        range: st.range.clone(),
        global,
        others,
    })
}

/// Sends each node its updates, one call in flight per node (a slow node does not hold up
/// the others, and its updates are simply superseded by the next round's).
fn publish(
    dist: &Arc<DistSender>,
    out: BTreeMap<NodeId, Vec<ClosedUpdate>>,
    busy: &Arc<Mutex<BTreeSet<NodeId>>>,
) {
    for (node, updates) in out {
        if !busy.lock().insert(node) {
            continue;
        }
        let d = dist.clone();
        let done = busy.clone();
        let from = dist.store().node_id;
        let spawned = std::thread::Builder::new()
            .name("closedts-send".into())
            .spawn(move || {
                let _ = d.call(node, NodeRequest::Closed { from, updates });
                done.lock().remove(&node);
            });
        if spawned.is_err() {
            busy.lock().remove(&node);
        }
    }
}

/// Records updates received from a leaseholder.
pub fn receive(store: &Store, updates: &[ClosedUpdate]) {
    for u in updates {
        if let Some(rep) = store.replica(u.range) {
            let mut st = rep.state.lock();
            let applied = st.applied_index;
            st.closed.learn(u.ts, u.index, applied);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ms: u64) -> Timestamp {
        Timestamp::from_parts(ms, 0)
    }

    #[test]
    fn closed_timestamps_become_usable_once_their_index_is_applied() {
        let mut c = Closed::default();
        c.learn(ts(10), 5, 3);
        assert_eq!(c.at(3), Timestamp::ZERO);
        c.learn(ts(20), 7, 3);
        assert_eq!(c.at(5), ts(10));
        assert_eq!(c.at(6), ts(10));
        assert_eq!(c.at(7), ts(20));
        // Older news changes nothing.
        c.learn(ts(15), 1, 7);
        assert_eq!(c.at(7), ts(20));
        c.learn(ts(30), 7, 7);
        assert_eq!(c.at(7), ts(30));
    }

    #[test]
    fn pending_updates_are_bounded() {
        let mut c = Closed::default();
        for i in 1..=10 {
            c.learn(ts(i * 10), 100 + i, 0);
        }
        assert!(c.pending.len() <= MAX_PENDING);
        assert_eq!(c.at(1000), ts(100));
    }
}
