//! The replicated world under the transaction simulation: N nodes, each with its own
//! simulated disk ([`disk`]), engine and Raft groups ([`node`], the replication crate's
//! `MultiRaft` as the cluster's store runs it), talking over a simulated network ([`net`])
//! with delays, loss and partitions; every range a Raft group with `replicas` voters.
//!
//! A range object's writes ([`txn::range::Replicate`]) become a `Write` command proposed on
//! the leaseholder's replica; the proposer "waits" by stepping this world (network, ticks,
//! every node's Raft iteration) until the command applies on its own replica or a deadline
//! passes (then the write is ambiguous, as the cluster's `propose_and_wait`). Everything runs
//! on the driver's thread and every choice comes from one RNG derived from the seed, so a
//! wait is as deterministic as the rest.
//!
//! Leases: a lease names a holder node and the holder's liveness epoch; it is valid while the
//! holder is up in that epoch and has applied it. A restart bumps the epoch (as an
//! epoch-based lease dies with its node's liveness record), so a node never serves from state
//! it lost in a crash: a new lease goes through the log first, and applying it means every
//! earlier command is applied on the new holder. Transfers are proposed by the holder (which
//! stops serving first); an invalid lease is acquired by the Raft leader's node.
//!
//! Faults (chosen by the driver): a node crash (its disk keeps a random prefix of its
//! unsynced writes) and a later restart; a node isolated by a partition and later healed;
//! message loss and delays throughout; a voter moved to a node without a replica (added as
//! a learner, caught up by a snapshot, then promoted while the old voter is removed, in one
//! joint configuration), after which the removed replica is garbage collected.
//!
//! Splits go through the log: a `Split` command (checked against the lease sequence and
//! the range generation, which it bumps) shrinks the range on every replica that applies it
//! and creates the right-hand range there with the same replicas and lease; the node then
//! creates the right-hand Raft group (the cluster's `CreateGroup` post action). A replica
//! that never applies the split (a snapshot of the left side skipped it) gets an empty
//! right-hand replica when the right-hand group's messages reach it, filled by a snapshot.
//! Writes carry the generation they were evaluated under: one evaluated before a split
//! applies is refused on every replica (RangeKeyMismatch), as in the cluster.
//!
//! At the end, every fault heals, every replica catches up with its leader's whole log, and
//! [`ReplState::check_replicas`] compares each replica's data for its range's span with the
//! leaseholder's.
//!
//! IMPLEMENTATION CAVEATS
//! - No merges: the driver's merge choice does nothing in this mode (ranges only split).
//! - The commands and state machine are this simulation's, modelled on
//!   cluster/src/store/apply.rs, not the cluster's own `Command`/`Applier`; leases and
//!   liveness are simplified (an epoch per node, no expiration times, acquisition on the Raft
//!   leader's node, no lease/leader co-location).
//! - Only Raft traffic is on the simulated network: requests from gateways reach the
//!   leaseholder directly (no lost RPCs, no cross-node DistSender retries). No follower reads
//!   and no closed timestamps.
//! - One node is faulty at a time; no disk errors, no torn batches, no multi-node partitions;
//!   messages are delayed and lost, not duplicated.
//! - Network steps do not move the nodes' clocks (proposals wait in steps while the HLCs stay
//!   still); the driver's time advances run up to 500 network steps.
//! - A crash drops every queued asynchronous intent resolution (one queue per run).

mod changes;
mod check;
pub mod disk;
pub mod net;
pub mod node;

use super::util::Rng;
use kv::RangeId;
use net::{Envelope, Net};
use node::{Cmd, Node, RangeState};
use parking_lot::Mutex;
use replication::raft::prelude::{Message, MessageType};
use replication::raft::SnapshotStatus;
use replication::RaftConfig;
use std::collections::{BTreeMap, BTreeSet};
use txn::range::latch::Span;
use txn::{Error, Result};

/// Steps between two Raft ticks of a node (a step is one virtual millisecond of network).
const TICK_EVERY: u64 = 10;
/// Steps a proposal waits for its outcome before it is ambiguous.
const PROPOSAL_TIMEOUT: u64 = 1_500;
/// Steps a lease acquisition may take.
const LEASE_TIMEOUT: u64 = 3_000;
/// Steps a membership change may take.
const CHANGE_TIMEOUT: u64 = 3_000;
/// Steps after which an isolated node's liveness record expires: its epoch is incremented
/// (by the others) and its leases end.
const LIVENESS_EXPIRY: u64 = 900;

/// Counters of the replicated world.
#[derive(Debug, Default, Clone)]
pub struct ReplStats {
    /// Network steps run.
    pub steps: u64,
    /// Commands proposed (writes and leases).
    pub proposals: u64,
    /// Proposals that timed out (ambiguous).
    pub ambiguous: u64,
    /// Commands refused at apply (evaluated under an old lease).
    pub refused: u64,
    /// Leases acquired (not transfers).
    pub acquisitions: u64,
    /// Node crashes and restarts.
    pub crashes: u64,
    /// Unsynced writes lost by crashes.
    pub lost_writes: u64,
    /// Partitions (a node isolated).
    pub partitions: u64,
    /// Epochs incremented because an isolated node's liveness expired.
    pub liveness_expiries: u64,
    /// Snapshots refused because another local replica still held part of their span.
    pub snapshots_refused: u64,
    /// Membership changes completed (voter moves).
    pub moves: u64,
    /// Membership changes that did not complete in time.
    pub moves_abandoned: u64,
    /// Messages sent, lost, and dropped by partitions.
    pub msgs_sent: u64,
    pub msgs_lost: u64,
    pub msgs_partitioned: u64,
}

/// The mutable replicated world.
pub(crate) struct ReplState {
    rng: Rng,
    pub(crate) nodes: Vec<Node>,
    pub(crate) up: Vec<bool>,
    net: Net,
    now: u64,
    next_id: u64,
    /// (range, replica id) -> node. Replica ids are never reused.
    addr: BTreeMap<(RangeId, u64), usize>,
    /// Each range's replicas: replica id -> node (the descriptor the cluster keeps in meta).
    pub(crate) members: BTreeMap<RangeId, BTreeMap<u64, usize>>,
    next_rid: BTreeMap<RangeId, u64>,
    /// The next range id a split takes.
    next_range: u64,
    /// When the isolated node was cut off.
    isolated_at: u64,
    /// The injected bug `ServeBeforeApplied`: a lease is valid before its holder applied it.
    pub(crate) serve_unapplied: bool,
    pub(crate) stats: ReplStats,
    /// Events for the run's trace (drained by the world).
    pub(crate) events: Vec<String>,
}

/// The replicated world: one lock, held while stepping (nothing in here calls out).
pub(crate) struct Repl {
    pub(crate) st: Mutex<ReplState>,
}

fn raft_config(node: usize) -> RaftConfig {
    // Staggered, fixed election timeouts: raft-rs would draw them from a thread RNG.
    let min = 10 + 3 * node;
    RaftConfig {
        election_ticks: 10,
        heartbeat_ticks: 2,
        max_log_entries: 200,
        max_size_per_msg: 1 << 16,
        sync: true,
        quiesce_ticks: 20,
        min_election_ticks: min,
        max_election_ticks: min + 1,
    }
}

fn raft_err(e: replication::Error) -> Error {
    Error::Internal(format!("sim raft: {e}"))
}

impl Repl {
    /// `nodes` nodes and one range per span with `replicas` voters on consecutive nodes; the
    /// first replica holds the first lease.
    pub(crate) fn new(seed: u64, nodes: usize, replicas: usize, spans: &[Span]) -> Repl {
        let mut st = ReplState {
            rng: Rng::new(seed ^ 0x7e91),
            nodes: (0..nodes).map(|n| Node::new(raft_config(n))).collect(),
            up: vec![true; nodes],
            net: Net::new(0.01),
            now: 0,
            next_id: 0,
            addr: BTreeMap::new(),
            members: BTreeMap::new(),
            next_rid: BTreeMap::new(),
            next_range: spans.len() as u64 + 1,
            isolated_at: 0,
            serve_unapplied: false,
            stats: ReplStats::default(),
            events: Vec::new(),
        };
        let replicas = replicas.min(nodes).max(1);
        for (i, span) in spans.iter().enumerate() {
            let range = RangeId(i as u64 + 1);
            let first = i % nodes;
            let on: Vec<usize> = (0..replicas).map(|r| (first + r) % nodes).collect();
            let rids: Vec<u64> = (1..=replicas as u64).collect();
            let state = RangeState {
                span: span.clone(),
                lease_seq: 1,
                holder: first,
                epoch: 1,
                generation: 0,
            };
            for (&n, &rid) in on.iter().zip(&rids) {
                if let Err(e) = st.nodes[n].create_replica(range, rid, &state, &rids) {
                    st.nodes[n]
                        .problems
                        .push(format!("bootstrap of {range}: {e}"));
                }
                st.addr.insert((range, rid), n);
            }
            st.members
                .insert(range, on.iter().zip(&rids).map(|(&n, &r)| (r, n)).collect());
            st.next_rid.insert(range, replicas as u64 + 1);
            if let Some(raft) = st.nodes[first].raft.as_mut() {
                let _ = raft.campaign(range);
            }
        }
        Repl { st: Mutex::new(st) }
    }
}

impl ReplState {
    fn send_all(&mut self, from: usize, msgs: Vec<(RangeId, Message)>) {
        for (range, msg) in msgs {
            let Some(&to) = self.addr.get(&(range, msg.to)) else {
                continue;
            };
            let (rid, snapshot) = (msg.to, msg.get_msg_type() == MessageType::MsgSnapshot);
            let env = Envelope {
                from,
                to,
                range,
                msg,
            };
            if !self.net.send(&mut self.rng, self.now, env) && snapshot {
                self.report_snapshot(from, range, rid, SnapshotStatus::Failure);
            }
        }
    }

    /// Steps one message into its replica; false when it was dropped (node down, no such
    /// replica, or a snapshot refused because another local replica overlaps its span).
    fn deliver(&mut self, env: Envelope) -> bool {
        let (to, range) = (env.to, env.range);
        if !self.up[to] {
            return false;
        }
        self.maybe_create_uninitialized(&env);
        let node = &mut self.nodes[to];
        if node.rids.get(&range) != Some(&env.msg.to) {
            return false;
        }
        if env.msg.get_msg_type() == MessageType::MsgSnapshot {
            let span = node::snapshot_span(env.msg.get_snapshot().get_data());
            if span.is_some_and(|s| node.snapshot_overlaps(range, &s)) {
                self.stats.snapshots_refused += 1;
                return false;
            }
        }
        let Some(raft) = node.raft.as_mut() else {
            return false;
        };
        if let Err(e) = raft.step(range, env.msg) {
            if !e.is_deterministic() {
                node.problems
                    .push(format!("node {to}: step into {range}: {e}"));
            }
        }
        true
    }

    /// Tells the sender of a snapshot whether it arrived (raft-rs waits for this before it
    /// sends the replica anything else), as the cluster's snapshot stream does.
    fn report_snapshot(&mut self, from: usize, range: RangeId, rid: u64, s: SnapshotStatus) {
        if let Some(r) = self.nodes[from].raft.as_mut() {
            r.report_snapshot(range, rid, s);
        }
    }

    /// One network step: ticks (each node on its own phase), deliveries, and every node's
    /// Raft iteration.
    pub(crate) fn step(&mut self) {
        self.now += 1;
        self.stats.steps += 1;
        for n in 0..self.nodes.len() {
            if !self.up[n] || !(self.now + 3 * n as u64).is_multiple_of(TICK_EVERY) {
                continue;
            }
            let msgs = match self.nodes[n].raft.as_mut() {
                Some(r) => r.tick(),
                None => continue,
            };
            self.send_all(n, msgs);
        }
        for env in self.net.due(self.now) {
            let snapshot = env.msg.get_msg_type() == MessageType::MsgSnapshot;
            let (from, range, rid) = (env.from, env.range, env.msg.to);
            let delivered = self.deliver(env);
            if snapshot && self.up[from] {
                let s = if delivered {
                    SnapshotStatus::Finish
                } else {
                    SnapshotStatus::Failure
                };
                self.report_snapshot(from, range, rid, s);
            }
        }
        for n in 0..self.nodes.len() {
            if self.up[n] {
                let msgs = self.nodes[n].process(n);
                self.send_all(n, msgs);
                self.create_split_replicas(n);
            }
        }
        self.stats.msgs_sent = self.net.sent;
        self.stats.msgs_lost = self.net.lost;
        self.stats.msgs_partitioned = self.net.partitioned;
    }

    /// Steps `n` times.
    pub(crate) fn steps(&mut self, n: u64) {
        for _ in 0..n {
            self.step();
        }
    }

    /// Proposes `make(id)` on `node`'s replica of `range` and steps until it applies there
    /// (its outcome) or the deadline passes (ambiguous once proposed).
    pub(crate) fn propose_and_wait(
        &mut self,
        node: usize,
        range: RangeId,
        make: impl FnOnce(u64) -> Cmd,
    ) -> Result<()> {
        if !self.up[node] {
            return Err(Error::NotLeaseholder { leaseholder: None });
        }
        self.next_id += 1;
        let id = self.next_id;
        let data = make(id).encode();
        self.stats.proposals += 1;
        let deadline = self.now + PROPOSAL_TIMEOUT;
        let mut proposed = false;
        loop {
            if !proposed {
                let raft = self.nodes[node]
                    .raft
                    .as_mut()
                    .ok_or(Error::NotLeaseholder { leaseholder: None })?;
                match raft.propose(range, data.clone()) {
                    Ok(_) => proposed = true,
                    Err(replication::Error::NotLeader) => {}
                    Err(e) => return Err(raft_err(e)),
                }
            }
            self.step();
            if let Some(r) = self.nodes[node].replies.remove(&id) {
                if r.is_err() {
                    self.stats.refused += 1;
                }
                return r;
            }
            if self.now >= deadline {
                if !proposed {
                    return Err(Error::Unavailable(format!("sim: no leader for {range}")));
                }
                self.stats.ambiguous += 1;
                self.events
                    .push(format!("proposal {id} to {range} on node {node} ambiguous"));
                return Err(Error::Ambiguous(format!(
                    "sim: proposal to {range} timed out"
                )));
            }
        }
    }

    /// The newest lease any live replica applied: (sequence, holder, epoch).
    fn newest_lease(&self, range: RangeId) -> Option<(u64, usize, u64)> {
        (0..self.nodes.len())
            .filter(|&n| self.up[n])
            .filter_map(|n| self.nodes[n].states.get(&range))
            .map(|s| (s.lease_seq, s.holder, s.epoch))
            .max()
    }

    /// The valid lease of `range` as (holder, sequence): its holder is up in the lease's
    /// epoch, still a replica, and has applied it.
    pub(crate) fn valid_lease(&self, range: RangeId) -> Option<(usize, u64)> {
        let (seq, holder, epoch) = self.newest_lease(range)?;
        let h = self.nodes.get(holder)?;
        let applied = h.states.get(&range).map(|s| s.lease_seq);
        let applied = applied == Some(seq) || (self.serve_unapplied && applied.is_some());
        (self.up[holder] && h.epoch == epoch && applied).then_some((holder, seq))
    }

    /// Whether the newest lease's holder is up in its epoch but has not applied it yet.
    fn lease_pending(&self, range: RangeId) -> bool {
        self.newest_lease(range).is_some_and(|(_, holder, epoch)| {
            self.up[holder] && self.nodes[holder].epoch == epoch && self.is_member(range, holder)
        })
    }

    fn is_member(&self, range: RangeId, node: usize) -> bool {
        self.members
            .get(&range)
            .is_some_and(|m| m.values().any(|&n| n == node))
    }

    /// The live node whose replica leads `range`'s Raft group.
    fn leader_node(&self, range: RangeId) -> Option<usize> {
        (0..self.nodes.len()).find(|&n| {
            self.up[n]
                && self.nodes[n]
                    .raft
                    .as_ref()
                    .and_then(|r| r.leader(range))
                    .is_some_and(|(_, me)| me)
        })
    }

    /// Makes sure `range` has a valid lease, acquiring one on the Raft leader's node when
    /// it has none (or waiting for a holder to apply its lease). Returns (holder, sequence).
    pub(crate) fn ensure_lease(&mut self, range: RangeId) -> Result<(usize, u64)> {
        let deadline = self.now + LEASE_TIMEOUT;
        loop {
            self.expire_isolated();
            if let Some(v) = self.valid_lease(range) {
                return Ok(v);
            }
            if self.now >= deadline {
                return Err(Error::Unavailable(format!("sim: no lease for {range}")));
            }
            if self.lease_pending(range) {
                self.step();
                continue;
            }
            let Some(cand) = self.leader_node(range) else {
                self.step();
                continue;
            };
            let Some(prev) = self.nodes[cand].states.get(&range).map(|s| s.lease_seq) else {
                self.step();
                continue;
            };
            let epoch = self.nodes[cand].epoch;
            let r = self.propose_and_wait(cand, range, |id| Cmd::Lease {
                id,
                origin: cand,
                prev_seq: prev,
                holder: cand,
                epoch,
            });
            match r {
                Ok(()) => {
                    self.stats.acquisitions += 1;
                    self.events
                        .push(format!("lease of {range} acquired by node {cand}"));
                }
                Err(Error::NotLeaseholder { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Moves the valid lease of `range` from `from` to `to` (proposed by `from`).
    pub(crate) fn transfer_lease(&mut self, range: RangeId, from: usize, to: usize) -> Result<()> {
        let Some((holder, seq)) = self.valid_lease(range) else {
            return Ok(());
        };
        if holder != from || !self.up[to] || !self.is_member(range, to) {
            return Ok(());
        }
        let epoch = self.nodes[to].epoch;
        let r = self.propose_and_wait(from, range, |id| Cmd::Lease {
            id,
            origin: from,
            prev_seq: seq,
            holder: to,
            epoch,
        });
        self.events
            .push(format!("lease of {range}: node {from} -> {to}: {}", ok(&r)));
        r
    }

    /// The replica nodes of `range`.
    pub(crate) fn replica_nodes(&self, range: RangeId) -> Vec<usize> {
        self.members
            .get(&range)
            .map(|m| m.values().copied().collect())
            .unwrap_or_default()
    }

    /// Nodes down or isolated.
    pub(crate) fn faulty(&self) -> Vec<usize> {
        let mut f: Vec<usize> = (0..self.nodes.len()).filter(|&n| !self.up[n]).collect();
        f.extend(self.net.isolated);
        f
    }

    /// Crashes `node`: its disk keeps a random prefix of its unsynced writes.
    pub(crate) fn crash(&mut self, node: usize) {
        let unsynced = self.nodes[node].disk.unsynced();
        let keep = self.rng.below(unsynced as u64 + 1) as usize;
        let lost = self.nodes[node].crash(keep);
        self.up[node] = false;
        self.stats.crashes += 1;
        self.stats.lost_writes += lost as u64;
        self.events.push(format!(
            "node {node} crashes ({lost} of {unsynced} unsynced writes lost)"
        ));
        self.wake_all();
    }

    /// Restarts a crashed node from its disk (a new epoch).
    pub(crate) fn restart(&mut self, node: usize) {
        if self.up[node] {
            return;
        }
        if let Err(e) = self.nodes[node].restart() {
            self.nodes[node].problems.push(format!("restart: {e}"));
        }
        self.up[node] = true;
        self.events.push(format!("node {node} restarts"));
        self.gc_replicas();
    }

    /// An isolated node cannot heartbeat its liveness record: once it expired, another node
    /// increments its epoch and every lease it held ends (the node itself stops serving at
    /// the same moment: the simulation has no clock gap between the two).
    fn expire_isolated(&mut self) {
        let Some(n) = self.net.isolated else { return };
        if self.now >= self.isolated_at + LIVENESS_EXPIRY && self.up[n] {
            self.nodes[n].epoch += 1;
            self.isolated_at = u64::MAX / 2;
            self.stats.liveness_expiries += 1;
            self.events
                .push(format!("node {n}: liveness expired, epoch incremented"));
        }
    }

    /// Cuts `node` off from every other node (None heals).
    pub(crate) fn isolate(&mut self, node: Option<usize>) {
        if node.is_some() {
            self.stats.partitions += 1;
            self.isolated_at = self.now;
        }
        self.net.isolated = node;
        self.events.push(format!("partition: {node:?} isolated"));
        self.wake_all();
    }

    /// Wakes every quiesced group (the cluster does so when a node's liveness changes).
    fn wake_all(&mut self) {
        for n in &mut self.nodes {
            if let Some(r) = n.raft.as_mut() {
                let ranges: Vec<RangeId> = r.ranges().collect();
                for range in ranges {
                    r.wake(range);
                }
            }
        }
    }

    /// Restarts every crashed node and heals the partition.
    pub(crate) fn heal(&mut self) {
        self.isolate(None);
        for n in 0..self.nodes.len() {
            self.restart(n);
        }
    }

    /// A random member of `range` other than `not`, up, for a lease transfer.
    pub(crate) fn pick_replica(&mut self, range: RangeId, not: usize) -> Option<usize> {
        let cands: Vec<usize> = self
            .replica_nodes(range)
            .into_iter()
            .filter(|&n| n != not && self.up[n])
            .collect();
        (!cands.is_empty()).then(|| cands[self.rng.below(cands.len() as u64) as usize])
    }

    /// A random number below `n` from the world's RNG.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.rng.below(n)
    }

    /// Members, in-flight messages and time, for a final trace line.
    pub(crate) fn summary(&self) -> String {
        let m: BTreeSet<String> = self
            .members
            .iter()
            .map(|(r, m)| format!("{r}:{:?}", m.values().collect::<Vec<_>>()))
            .collect();
        format!(
            "replicas {m:?}, {} messages in flight at step {}",
            self.net.in_flight(),
            self.now
        )
    }
}

fn ok(r: &Result<()>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => super::world::error_kind(e),
    }
}
