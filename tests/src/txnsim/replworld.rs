//! The world's replicated mode ([`super::SimConfig::replicas`] > 0): range objects read their
//! leaseholder node's own engine and write through that range's Raft group ([`super::repl`]);
//! leases live in the replicated state, so a range object exists only on the node holding a
//! valid lease, and is replaced when the lease moves (transfers, crashes, restarts).

use super::repl::node::Cmd;
use super::repl::{Repl, ReplStats};
use super::world::{SimRange, World};
use kv::engine::WriteBatch;
use kv::mvcc::Mvcc;
use kv::RangeId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use txn::range::latch::Span;
use txn::range::Replicate;
use txn::{Error, Result};

/// Network steps run per virtual millisecond the driver advances (at most this many).
const MAX_STEPS_PER_ADVANCE: u64 = 500;

/// A range object's writes, proposed as `Write` commands under the lease it was made for.
struct ReplWrite {
    repl: Arc<Repl>,
    range: RangeId,
    node: usize,
    lease_seq: u64,
    generation: u64,
    live: Arc<AtomicBool>,
}

impl Replicate for ReplWrite {
    fn write(&self, batch: WriteBatch, _sync: bool) -> Result<()> {
        if !self.live.load(Ordering::SeqCst) {
            return Err(Error::NotLeaseholder { leaseholder: None });
        }
        if batch.has_range_deletions() {
            return Err(Error::Internal(
                "a range's writes cannot include range deletions (not replicated)".into(),
            ));
        }
        let (node, lease_seq, generation) = (self.node, self.lease_seq, self.generation);
        let ops = batch.ops;
        self.repl
            .st
            .lock()
            .propose_and_wait(node, self.range, |id| Cmd::Write {
                id,
                origin: node,
                lease_seq,
                generation,
                ops,
            })
    }
}

fn range_id(i: usize) -> RangeId {
    RangeId(i as u64 + 1)
}

/// Attempts to find a key's range with a settled leaseholder before giving up.
const SETTLE_ATTEMPTS: usize = 3_000;

impl World {
    /// The first range objects: each on its range's first leaseholder.
    pub(crate) fn replicated_ranges(&self, repl: &Arc<Repl>, spans: &[Span]) -> Vec<SimRange> {
        let st = repl.st.lock();
        let leases: Vec<Option<(usize, u64)>> = (0..spans.len())
            .map(|i| st.valid_lease(range_id(i)))
            .collect();
        drop(st);
        spans
            .iter()
            .zip(leases)
            .enumerate()
            .map(|(i, (span, lease))| {
                let (node, seq) = lease.unwrap_or((0, 0));
                self.repl_object(repl, span.clone(), range_id(i), node, seq)
            })
            .collect()
    }

    fn repl_object(
        &self,
        repl: &Arc<Repl>,
        span: Span,
        range: RangeId,
        node: usize,
        seq: u64,
    ) -> SimRange {
        let live = Arc::new(AtomicBool::new(true));
        let (mvcc, generation): (Mvcc, u64) = {
            let st = repl.st.lock();
            let g = st.span_at(node, range).map_or(0, |s| s.1);
            (st.nodes[node].mvcc.clone(), g)
        };
        let writer = Arc::new(ReplWrite {
            repl: repl.clone(),
            range,
            node,
            lease_seq: seq,
            generation,
            live: live.clone(),
        });
        let mut r = self.range_object(span, node, mvcc, writer, live, seq);
        r.range = range.0;
        r
    }

    /// Makes the range list follow the replicated directory (splits applied since): ranges
    /// whose span changed get a retired placeholder that [`World::ensure_holder`] replaces.
    pub(crate) fn sync_ranges(&self) {
        let Some(repl) = &self.repl else { return };
        let view = repl.st.lock().ranges_view();
        let same = {
            let rt = self.rt.lock();
            rt.ranges.len() == view.len()
                && rt
                    .ranges
                    .iter()
                    .zip(&view)
                    .all(|(r, (id, span))| r.range == id.0 && r.obj.span == *span)
        };
        if same || view.is_empty() {
            return;
        }
        let old = std::mem::take(&mut self.rt.lock().ranges);
        let mut fresh = Vec::new();
        let mut kept = Vec::new();
        for (id, span) in view {
            match old.iter().find(|r| r.range == id.0 && r.obj.span == span) {
                Some(r) => {
                    kept.push(r.range);
                    fresh.push(r.clone());
                }
                None => {
                    let p = self.repl_object(repl, span, id, 0, 0);
                    p.live.store(false, Ordering::SeqCst);
                    p.obj.retire();
                    fresh.push(p);
                }
            }
        }
        let mut rt = self.rt.lock();
        for r in old.into_iter().filter(|r| !kept.contains(&r.range)) {
            World::retire(&mut rt, r);
        }
        rt.ranges = fresh;
    }

    /// The index of the range holding `key`, once the directory, the range list and the
    /// leaseholder agree on its span (stepping the network while a replica catches up).
    pub(crate) fn settle(&self, key: &[u8]) -> Result<usize> {
        for _ in 0..SETTLE_ATTEMPTS {
            self.sync_ranges();
            let i = World::index_for(&self.rt.lock().ranges, key);
            if self.ensure_holder(i)? {
                return Ok(i);
            }
            if let Some(repl) = &self.repl {
                repl.st.lock().step();
            }
        }
        Err(Error::Unavailable(format!(
            "sim: the range of {} did not settle",
            super::world::show_key(key)
        )))
    }

    /// Splits the range holding `key` at `key` through its Raft log.
    pub(crate) fn repl_split(&self, key: &[u8]) {
        let Some(repl) = &self.repl else { return };
        let Ok(i) = self.settle(key) else { return };
        let cur = self.rt.lock().ranges[i].clone();
        if cur.obj.span.start == key {
            return;
        }
        let r = repl
            .st
            .lock()
            .split(RangeId(cur.range), cur.node, key.to_vec());
        self.drain_repl_events();
        if r.is_ok() {
            self.rt.lock().stats.splits += 1;
        }
        self.sync_ranges();
    }

    /// Moves the replicated world's events into the trace.
    pub(crate) fn drain_repl_events(&self) {
        let Some(repl) = &self.repl else { return };
        let events = std::mem::take(&mut repl.st.lock().events);
        let mut rt = self.rt.lock();
        for e in events {
            rt.trace.event(e);
        }
    }

    /// Makes range `i`'s object the one of its valid lease, acquiring a lease if none is
    /// valid; the new object's node first carries the old holder's clock (a lease starts
    /// above every timestamp the previous holder served).
    /// False (nothing changed) while the holder's applied span differs from the list's.
    pub(crate) fn ensure_holder(&self, i: usize) -> Result<bool> {
        let Some(repl) = &self.repl else {
            return Ok(true);
        };
        let range = RangeId(self.rt.lock().ranges[i].range);
        let lease = repl.st.lock().ensure_lease(range);
        self.drain_repl_events();
        let (holder, seq) = lease?;
        let span = repl.st.lock().span_at(holder, range).map(|s| s.0);
        let cur = self.rt.lock().ranges[i].clone();
        if span.as_ref() != Some(&cur.obj.span) {
            return Ok(false);
        }
        if cur.node == holder && cur.lease_seq == seq && cur.live.load(Ordering::SeqCst) {
            return Ok(true);
        }
        self.carry_clock(cur.node, holder);
        let fresh = self.repl_object(repl, cur.obj.span.clone(), range, holder, seq);
        let mut rt = self.rt.lock();
        let old = std::mem::replace(&mut rt.ranges[i], fresh);
        World::retire(&mut rt, old);
        rt.trace
            .event(format!("{range} served by node {holder} (lease {seq})"));
        Ok(true)
    }

    /// A lease transfer of range `i` to another live replica, proposed by the holder, which
    /// stops serving first.
    pub(crate) fn repl_transfer(&self, i: usize) {
        let Some(repl) = &self.repl else { return };
        if !matches!(self.ensure_holder(i), Ok(true)) {
            return;
        }
        let cur = self.rt.lock().ranges[i].clone();
        let range = RangeId(cur.range);
        let Some(to) = repl.st.lock().pick_replica(range, cur.node) else {
            return;
        };
        cur.live.store(false, Ordering::SeqCst);
        cur.obj.retire();
        self.carry_clock(cur.node, to);
        let _ = repl.st.lock().transfer_lease(range, cur.node, to);
        self.rt.lock().stats.transfers += 1;
        self.drain_repl_events();
    }

    /// Lets the network run while virtual time advances by `ms`.
    pub(crate) fn repl_steps(&self, ms: u64) {
        let Some(repl) = &self.repl else { return };
        repl.st.lock().steps(ms.min(MAX_STEPS_PER_ADVANCE));
        self.drain_repl_events();
    }

    /// The replicated faults, one node at a time (so a quorum of three replicas survives):
    /// heals the faulty node if there is one, else crashes a node, isolates one, or moves
    /// a voter of a range to a node without a replica.
    pub(crate) fn node_fault(&self) {
        let Some(repl) = &self.repl else { return };
        let nodes = self.clocks.len() as u64;
        let mut st = repl.st.lock();
        let faulty = st.faulty();
        if let Some(&n) = faulty.first() {
            st.restart(n);
            st.isolate(None);
            drop(st);
            self.drain_repl_events();
            return;
        }
        let (kind, n) = (st.below(3), st.below(nodes) as usize);
        match kind {
            0 => {
                st.crash(n);
                drop(st);
                self.retire_on(n);
            }
            1 => {
                st.isolate(Some(n));
                drop(st);
            }
            _ => {
                drop(st);
                self.move_voter();
            }
        }
        self.drain_repl_events();
    }

    /// A crashed node's range objects are gone, and so are the asynchronous resolutions
    /// queued on the store (one queue for the run: all of them are dropped).
    fn retire_on(&self, node: usize) {
        let dropped = self.resolver_rx.lock().try_iter().count() as u64;
        let mut rt = self.rt.lock();
        for r in rt.ranges.iter().filter(|r| r.node == node) {
            r.live.store(false, Ordering::SeqCst);
            r.obj.retire();
        }
        rt.stats.restarts += 1;
        rt.stats.resolves_dropped += dropped;
    }

    fn move_voter(&self) {
        let Some(repl) = &self.repl else { return };
        self.sync_ranges();
        let n = self.rt.lock().ranges.len() as u64;
        let i = repl.st.lock().below(n) as usize;
        if !matches!(self.ensure_holder(i), Ok(true)) {
            return;
        }
        let (holder, range) = {
            let rt = self.rt.lock();
            (rt.ranges[i].node, RangeId(rt.ranges[i].range))
        };
        let mut st = repl.st.lock();
        let have = st.replica_nodes(range);
        let free: Vec<usize> = (0..self.clocks.len())
            .filter(|n| !have.contains(n) && st.up[*n])
            .collect();
        if free.is_empty() {
            return;
        }
        let to = free[st.below(free.len() as u64) as usize];
        st.move_voter(range, holder, to);
    }

    /// Ends the replicated faults (before the final sweep).
    pub(crate) fn heal_faults(&self) {
        let Some(repl) = &self.repl else { return };
        repl.st.lock().heal();
        self.drain_repl_events();
    }

    /// The engine of the node serving `key` (the one engine when not replicated).
    pub(crate) fn mvcc_for(&self, key: &[u8]) -> Mvcc {
        let Some(repl) = &self.repl else {
            return self.mvcc.clone();
        };
        let i = self
            .settle(key)
            .unwrap_or_else(|_| World::index_for(&self.rt.lock().ranges, key));
        let node = self.rt.lock().ranges[i].node;
        repl.st.lock().nodes[node].mvcc.clone()
    }

    /// After the run: heals every fault, lets every replica catch up, and compares every
    /// replica's data with its leaseholder's. Returns failures and the replicated counters.
    pub(crate) fn check_replicated(&self) -> (Vec<String>, Option<ReplStats>) {
        let Some(repl) = &self.repl else {
            return (Vec::new(), None);
        };
        let mut st = repl.st.lock();
        let mut out = Vec::new();
        if self.cfg.bug == Some(super::Bug::DivergentReplica) {
            st.diverge(&super::driver::key_bytes(0));
        }
        if !st.heal_and_catch_up() {
            out.push(format!(
                "replicas did not catch up after healing: {}",
                st.summary()
            ));
        }
        out.extend(st.check_replicas());
        let summary = st.summary();
        let stats = st.stats.clone();
        drop(st);
        self.drain_repl_events();
        self.trace(summary);
        (out, Some(stats))
    }
}
