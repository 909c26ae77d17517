//! Deterministic simulation of the replication layer: N stores, each a `MultiRaft` over its
//! own `MemoryEngine`, several ranges, a replicated key-value state machine, a lossy network,
//! crashes, partitions, membership changes and leader transfers, with checkers at the end.
//!
//! Everything random comes from two seeded RNGs derived from one seed: `sched` (workload,
//! faults, per-node tick phase) and `net` (per-message loss, duplication and delay). Time is a
//! step counter; a node's Raft groups are ticked every `tick_every` steps (with a per-node
//! phase, so nodes' clocks are not in lock step). Maps are `BTreeMap`s, so nothing depends on
//! hash order. Every event is hashed into [`Trace`]: one seed run twice must give one hash.
//!
//! IMPLEMENTATION CAVEATS
//! - raft-rs 0.7 would draw each replica's election timeout from `rand::thread_rng()`; the
//!   simulation pins it (`RaftConfig::{min,max}_election_ticks`), so every run replays exactly
//!   (tested with and without faults).
//! - A `MemoryEngine` keeps every write: lost unsynced writes are not modelled.

pub mod checker;
pub mod faults;
pub mod network;
pub mod node;
mod util;
pub mod workload;

pub use util::{fnv, panic_message, replay_command, Failure, Rng, Trace, Violations};
use util::{quiet_panics, TickOutput};

use faults::{FaultConfig, FaultStats};
use kv::engine::Engine;
use kv::RangeId;
use network::{Envelope, NetConfig, Network};
use node::{NodeId, SimNode};
use raft::prelude::MessageType;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use workload::{WorkConfig, Workload};

/// One range as the cluster knows it: what a real system keeps in its range descriptor.
#[derive(Debug, Clone, Default)]
pub struct Desc {
    /// Voters, of both halves while the configuration is joint.
    pub voters: BTreeSet<u64>,
    /// Learners (including voters being demoted by a joint change).
    pub learners: BTreeSet<u64>,
    /// The last applied configuration is joint: the leader must leave it.
    pub joint: bool,
    pub conf_index: u64,
    pub removed: BTreeSet<u64>,
    pub next_rid: u64,
    /// No new membership change before this step (one is in flight).
    pub cc_deadline: u64,
}

/// Replica addresses and range descriptors.
#[derive(Debug, Clone, Default)]
pub struct Dir {
    /// (range, replica id) -> node. Replica ids are never reused.
    pub addr: BTreeMap<(RangeId, u64), NodeId>,
    pub ranges: BTreeMap<RangeId, Desc>,
}

/// A node: running, or crashed with its engine kept.
pub enum Slot {
    Up(Box<SimNode>),
    Down {
        engine: Arc<dyn Engine>,
        restart_at: u64,
    },
}

impl Slot {
    pub fn is_up(&self) -> bool {
        matches!(self, Slot::Up(_))
    }
}

/// A simulation's settings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub nodes: u64,
    pub ranges: u64,
    /// Steps with workload and faults.
    pub steps: u64,
    /// Upper bound on the final steps spent healing and converging.
    pub settle_steps: u64,
    pub tick_every: u64,
    pub net: NetConfig,
    pub work: WorkConfig,
    pub faults: FaultConfig,
    /// Fail on every panic (default); MERIDIAN_SIM_LENIENT=1 counts the old leader-self-removal
    /// panic instead.
    pub strict: bool,
}

impl SimConfig {
    /// The CI configuration of a seed: 3 or 5 nodes, loss, duplication, delays, partitions,
    /// crashes, membership changes and leader transfers.
    pub fn with_faults(seed: u64, steps: u64) -> SimConfig {
        let nodes = if seed.is_multiple_of(3) { 5 } else { 3 };
        let ranges = 3;
        SimConfig {
            nodes,
            ranges,
            steps,
            settle_steps: 1500,
            tick_every: 3,
            net: NetConfig {
                drop: 0.03,
                dup: 0.03,
                min_delay: 1,
                max_delay: 5,
            },
            work: WorkConfig {
                clients: 4,
                keys: 6,
                ranges,
                attempt_timeout: 40,
                op_deadline: 150,
                think_max: 4,
            },
            faults: FaultConfig {
                crash: 0.004,
                max_down: (nodes as usize - 1) / 2,
                down_steps: (20, 200),
                partition: 0.004,
                partition_steps: (20, 150),
                conf_change: 0.01,
                transfer: 0.01,
                remove_leader: true,
            },
            // The leader-self-removal panic is fixed: every panic is a violation unless
            // MERIDIAN_SIM_LENIENT asks to count that one (to study old builds).
            strict: std::env::var_os("MERIDIAN_SIM_LENIENT").is_none(),
        }
        .scaled(
            std::env::var("MERIDIAN_SIM_FAULT_SCALE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1.0),
        )
    }

    /// Multiplies every fault and loss probability by `k` (heavier or lighter runs).
    pub fn scaled(mut self, k: f64) -> SimConfig {
        let f = &mut self.faults;
        for p in [
            &mut f.crash,
            &mut f.partition,
            &mut f.conf_change,
            &mut f.transfer,
            &mut self.net.drop,
            &mut self.net.dup,
        ] {
            *p = (*p * k).min(0.5);
        }
        self
    }

    /// A configuration without timeout-driven elections (no crash, partition, loss or leader
    /// removal), which replays exactly: delays, reordering, duplication, membership changes
    /// and leader transfers only.
    pub fn replayable(seed: u64, steps: u64) -> SimConfig {
        let mut c = SimConfig::with_faults(seed, steps);
        c.net.drop = 0.0;
        c.faults = FaultConfig {
            crash: 0.0,
            partition: 0.0,
            remove_leader: false,
            ..c.faults
        };
        c
    }
}

/// What a run did, for the report.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub seed: u64,
    pub trace_hash: u64,
    pub events: u64,
    pub steps: u64,
    pub ops: workload::WorkStats,
    pub checked: checker::CheckStats,
    pub faults: FaultStats,
    pub net: network::NetStats,
}

/// The simulated cluster.
pub struct Sim {
    pub cfg: SimConfig,
    pub now: u64,
    pub sched: Rng,
    pub net_rng: Rng,
    pub nodes: BTreeMap<NodeId, Slot>,
    pub net: Network,
    pub dir: Dir,
    pub work: Workload,
    pub trace: Trace,
    pub violations: Violations,
    pub stats: FaultStats,
    phase: BTreeMap<NodeId, u64>,
}

impl Sim {
    /// Bootstraps every range with three replicas (replica ids 1..=3) and elects the first.
    pub fn new(seed: u64, cfg: SimConfig) -> Result<Sim, String> {
        let mut sched = Rng::new(seed);
        let net_rng = Rng::new(seed ^ 0xA076_1D64_78BD_642F);
        let mut nodes = BTreeMap::new();
        let mut phase = BTreeMap::new();
        for id in 1..=cfg.nodes {
            nodes.insert(id, SimNode::open(id, SimNode::new_engine())?);
            phase.insert(id, sched.below(cfg.tick_every));
        }
        let mut dir = Dir::default();
        for r in 1..=cfg.ranges {
            let range = RangeId(r);
            let mut chosen = Vec::new();
            while chosen.len() < 3 {
                let n = 1 + sched.below(cfg.nodes);
                if !chosen.contains(&n) {
                    chosen.push(n);
                }
            }
            let voters = [1u64, 2, 3];
            for (rid, node) in voters.iter().zip(&chosen) {
                nodes
                    .get_mut(node)
                    .expect("node")
                    .bootstrap(range, *rid, &voters)?;
                dir.addr.insert((range, *rid), *node);
            }
            let first = dir.addr[&(range, 1)];
            nodes
                .get_mut(&first)
                .expect("node")
                .raft
                .campaign(range)
                .map_err(|e| e.to_string())?;
            dir.ranges.insert(
                range,
                Desc {
                    voters: voters.into_iter().collect(),
                    next_rid: 4,
                    ..Desc::default()
                },
            );
        }
        Ok(Sim {
            work: Workload::new(cfg.work.clone()),
            net: Network::new(cfg.net.clone()),
            nodes: nodes
                .into_iter()
                .map(|(id, n)| (id, Slot::Up(Box::new(n))))
                .collect(),
            cfg,
            now: 0,
            sched,
            net_rng,
            dir,
            trace: Trace::new(std::env::var_os("MERIDIAN_SIM_TRACE").is_some()),
            violations: Violations::default(),
            stats: FaultStats::default(),
            phase,
        })
    }

    /// One step: faults, deliveries, clients, then every up node ticks (on its phase),
    /// processes its groups and sends.
    pub fn step(&mut self, issue: bool, faults: bool) {
        self.now += 1;
        if faults {
            self.inject_faults();
        }
        self.restart_due(false);
        for env in self.net.due(self.now) {
            self.deliver(env);
        }
        self.work.step(
            self.now,
            issue,
            &mut self.sched,
            &mut self.nodes,
            &self.dir,
            &mut self.trace,
            &mut self.violations,
        );
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.process(id);
        }
        self.collect_removed();
    }

    fn deliver(&mut self, env: Envelope) {
        let desc = format!(
            "{}->{} {} {:?} t{} i{} c{}",
            env.from,
            env.to,
            env.range,
            env.msg.get_msg_type(),
            env.msg.term,
            env.msg.index,
            env.msg.commit
        );
        let Some(Slot::Up(n)) = self.nodes.get_mut(&env.to) else {
            self.trace.event(&["lost-down", &desc]);
            return;
        };
        match n.deliver(env.range, env.msg) {
            Ok(what) => self.trace.event(&["deliver", &desc, what]),
            Err(e) => self.violations.push(e),
        }
    }

    fn process(&mut self, id: NodeId) {
        let Some(Slot::Up(n)) = self.nodes.get_mut(&id) else {
            return;
        };
        let mut ticked = Vec::new();
        if (self.now + self.phase[&id]).is_multiple_of(self.cfg.tick_every) {
            ticked = TickOutput::messages(n.raft.tick());
        }
        let leading: Vec<(RangeId, u64)> = n
            .replicas
            .iter()
            .filter(|(r, _)| n.raft.leader(**r).is_some_and(|(_, me)| me))
            .map(|(r, rid)| (*r, *rid))
            .collect();
        let res = {
            let n = &mut **n;
            quiet_panics(|| n.raft.process(&mut n.sm))
        };
        let out = match res {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                self.violations.push(format!("n{id}: process failed: {e}"));
                return;
            }
            Err(panic) => return self.process_panicked(id, &leading, panic),
        };
        for (range, index, chain) in n.sm.applied_log.drain(..) {
            let line = format!("n{id} {range} i{index} h{chain:x}");
            self.trace.event(&["apply", &line]);
        }
        let replies = std::mem::take(&mut n.sm.replies);
        let confs = std::mem::take(&mut n.sm.confs);
        let mut sends = Vec::new();
        for (range, msg) in ticked.into_iter().chain(out) {
            let Some(&to) = self.dir.addr.get(&(range, msg.to)) else {
                continue;
            };
            if msg.get_msg_type() == MessageType::MsgSnapshot {
                // As the cluster does: no delivery report, the leader probes again later.
                n.raft
                    .report_snapshot(range, msg.to, raft::SnapshotStatus::Finish);
            }
            sends.push(Envelope {
                from: id,
                to,
                range,
                msg,
            });
        }
        self.violations.0.append(&mut n.sm.violations.0);
        for env in sends {
            self.trace.event(&[
                "send",
                &format!(
                    "{}->{} {} {:?} t{} i{} lt{} c{} e{} rj{}",
                    env.from,
                    env.to,
                    env.range,
                    env.msg.get_msg_type(),
                    env.msg.term,
                    env.msg.index,
                    env.msg.log_term,
                    env.msg.commit,
                    env.msg.entries.len(),
                    env.msg.reject
                ),
            ]);
            self.net.send(&mut self.net_rng, self.now, env);
        }
        for c in confs {
            let desc = self.dir.ranges.entry(c.range).or_default();
            if c.index > desc.conf_index {
                let new: BTreeSet<u64> = c.voters.iter().copied().collect();
                let learners: BTreeSet<u64> = c.learners.iter().copied().collect();
                let old: Vec<u64> = desc.voters.union(&desc.learners).copied().collect();
                let gone = old
                    .into_iter()
                    .filter(|r| !new.contains(r) && !learners.contains(r));
                desc.removed.extend(gone);
                match (desc.joint, c.joint) {
                    (false, true) => self.stats.joint_entered += 1,
                    (true, false) => self.stats.joint_left += 1,
                    _ => {}
                }
                desc.voters = new;
                desc.learners = learners;
                desc.joint = c.joint;
                desc.conf_index = c.index;
                desc.cc_deadline = 0;
            }
        }
        for r in replies {
            self.work
                .on_reply(self.now, id, r.op, r.read, &mut self.sched, &mut self.trace);
        }
    }

    /// A panic inside `MultiRaft::process` kills the node (as it would kill a store's Raft
    /// thread). When it is the known raft-rs panic of a leader that just applied its own
    /// removal (see `leader_that_removes_itself_steps_down` in simulation.rs) the node is counted
    /// and restarted; any other panic is a violation.
    fn process_panicked(
        &mut self,
        id: NodeId,
        leading: &[(RangeId, u64)],
        panic: Box<dyn std::any::Any + Send>,
    ) {
        let msg = panic_message(&panic);
        let Some(Slot::Up(n)) = self.nodes.get(&id) else {
            return;
        };
        let engine = n.engine.clone();
        let removed_leader = leading
            .iter()
            .find(|(r, rid)| !SimNode::stored_voters(&engine, *r).contains(rid));
        match removed_leader {
            Some((range, rid)) if msg.contains("unwrap()") && !self.cfg.strict => {
                self.stats.known_bug_hits += 1;
                self.trace.event(&[
                    "known-bug",
                    &format!("n{id} {range} leader r{rid} removed itself: {msg}"),
                ]);
            }
            _ => self
                .violations
                .push(format!("n{id}: MultiRaft::process panicked: {msg}")),
        }
        let until = self.now + 1 + self.sched.below(20);
        self.crash(id, until);
    }

    /// Whether every range's voters are up and have applied everything their leader has.
    pub fn converged(&self) -> bool {
        self.dir.ranges.iter().all(|(&range, desc)| {
            let Some((leader, _)) = self.leader_node(range) else {
                return false;
            };
            let Some(Slot::Up(l)) = self.nodes.get(&leader) else {
                return false;
            };
            let Some(ls) = l.raft.status(range) else {
                return false;
            };
            // A group left joint (its leader must leave it, whoever that is now).
            !desc.joint
                && ls.commit == ls.last_index
                && desc.voters.iter().all(|rid| {
                    let node = self.dir.addr[&(range, *rid)];
                    match self.nodes.get(&node) {
                        Some(Slot::Up(n)) => {
                            n.replicas.get(&range) == Some(rid)
                                && n.raft.status(range).is_some_and(|s| s.applied == ls.commit)
                        }
                        _ => false,
                    }
                })
        })
    }

    /// Every range's descriptor and each replica's Raft status, for a failure report.
    pub fn describe_ranges(&self) -> String {
        let mut s = String::new();
        for (range, desc) in &self.dir.ranges {
            s.push_str(&format!(
                "\n    {range}: voters {:?} learners {:?} joint {} (conf index {}), removed {:?}",
                desc.voters, desc.learners, desc.joint, desc.conf_index, desc.removed
            ));
            for (id, slot) in &self.nodes {
                let Slot::Up(n) = slot else {
                    s.push_str(&format!("\n      n{id}: down"));
                    continue;
                };
                if let (Some(rid), Some(st)) = (n.replicas.get(range), n.raft.status(*range)) {
                    s.push_str(&format!(
                        "\n      n{id} r{rid}: term {} commit {} applied {} last {} leader {:?} \
                         progress {:?}",
                        st.term,
                        st.commit,
                        st.applied,
                        st.last_index,
                        n.raft.leader(*range),
                        st.progress
                    ));
                }
            }
        }
        s
    }

    /// Runs the whole simulation and the checkers.
    pub fn run(seed: u64, cfg: SimConfig) -> Result<Report, Failure> {
        let mut sim = Sim::new(seed, cfg).map_err(|e| Failure::new(seed, vec![e], Vec::new()))?;
        for _ in 0..sim.cfg.steps {
            sim.step(true, true);
        }
        // Heal: restart every node, end partitions and loss, let running operations finish.
        sim.restart_due(true);
        sim.net.heal();
        sim.trace.event(&["heal"]);
        let settle_end = sim.now + sim.cfg.settle_steps;
        while sim.now < settle_end && (sim.work.busy() || !sim.converged()) {
            sim.step(false, false);
        }
        // A few more steps so followers learn the final commit index.
        for _ in 0..20 {
            sim.step(false, false);
        }
        sim.work
            .finish(&mut sim.nodes, &mut sim.sched, &mut sim.trace);
        let mut failures = sim.violations.0.clone();
        if !sim.converged() {
            failures.push(format!(
                "replicas did not converge within {} steps after healing:{}",
                sim.cfg.settle_steps,
                sim.describe_ranges()
            ));
        }
        let (mut found, checked) = checker::check_all(&sim);
        failures.append(&mut found);
        if !failures.is_empty() {
            return Err(Failure::new(seed, failures, sim.trace.tail()));
        }
        Ok(Report {
            seed,
            trace_hash: sim.trace.hash,
            events: sim.trace.events,
            steps: sim.now,
            ops: sim.work.stats.clone(),
            checked,
            faults: sim.stats.clone(),
            net: sim.net.stats.clone(),
        })
    }
}
