//! Faults and operator actions, injected at random steps from the schedule RNG: node crashes
//! and restarts, network partitions, membership changes and leader transfers.
//!
//! A crash drops the node's `MultiRaft` and state machine (everything in memory) and keeps its
//! `MemoryEngine`; the restart reopens every replica from it (`LogStore::open` + `add_group`).
//! A `MemoryEngine` keeps every write, synced or not, so this models a process crash on a disk
//! that loses nothing written (or a machine crash where every write was synced): lost
//! unsynced writes are not modelled.
//!
//! Membership changes are proposed on the range's leader: single-replica `ConfChangeV2`s that
//! add a voter or a learner on a node without a replica (always with a fresh replica id, never
//! reused) or remove a voter (never below three) or a learner; and joint changes (a voter
//! move) that promote a learner while removing or demoting a voter, which the group enters and
//! must leave by itself, across crashes, partitions and leader changes (a range that is still
//! joint after healing fails the convergence check). Replicas removed from the applied configuration are destroyed on
//! their node (the replica GC of a real store), leaving a tombstone.

use super::node::{NodeId, SimNode};
use super::{Sim, Slot};
use kv::RangeId;
use raft::prelude::{ConfChangeType, ConfChangeV2};
use replication::joint;
use std::collections::BTreeSet;

/// What kind of membership change a [`Change`] is, for the counters.
enum Kind {
    Add,
    Learner,
    Remove,
    Move,
}

/// A membership change about to be proposed.
struct Change {
    cc: ConfChangeV2,
    /// The replica added or promoted (its id is the next one when `new_node` is set).
    rid: u64,
    /// The node of a replica being added.
    new_node: Option<NodeId>,
    ctx: String,
    kind: Kind,
}

impl Change {
    fn simple(
        t: ConfChangeType,
        rid: u64,
        new_node: Option<NodeId>,
        ctx: String,
        kind: Kind,
    ) -> Change {
        Change {
            cc: joint::simple_change(joint::single(t, rid)),
            rid,
            new_node,
            ctx,
            kind,
        }
    }
}

/// How often each fault happens (probabilities per step) and its limits.
#[derive(Debug, Clone)]
pub struct FaultConfig {
    pub crash: f64,
    pub max_down: usize,
    pub down_steps: (u64, u64),
    pub partition: f64,
    pub partition_steps: (u64, u64),
    pub conf_change: f64,
    pub transfer: f64,
    /// Whether a membership change may remove the leader's own replica.
    pub remove_leader: bool,
}

/// Counters for the report.
#[derive(Debug, Clone, Default)]
pub struct FaultStats {
    pub crashes: u64,
    pub restarts: u64,
    pub partitions: u64,
    pub adds: u64,
    pub removes: u64,
    /// Learners added (promoted later by joint moves, or removed).
    pub learners: u64,
    /// Joint changes proposed: a learner promoted while a voter is removed or demoted.
    pub joint_moves: u64,
    /// Joint configurations applied, and left again (by auto-leave or a later leader).
    pub joint_entered: u64,
    pub joint_left: u64,
    pub transfers: u64,
    /// Nodes killed by the known panic of a leader that applied its own removal.
    pub known_bug_hits: u64,
}

impl Sim {
    /// One step's faults.
    pub fn inject_faults(&mut self) {
        let f = self.cfg.faults.clone();
        let down = self.nodes.values().filter(|s| !s.is_up()).count();
        if down < f.max_down && self.sched.chance(f.crash) {
            let id = 1 + self.sched.below(self.nodes.len() as u64);
            let until = self.now + self.sched.range(f.down_steps.0, f.down_steps.1);
            self.crash(id, until);
        }
        if self.net.partition.is_none() && self.sched.chance(f.partition) {
            self.partition(f.partition_steps);
        }
        if self.sched.chance(f.conf_change) {
            self.change_membership(f.remove_leader);
        }
        if self.sched.chance(f.transfer) {
            self.transfer();
        }
    }

    /// Crashes node `id` (if up) until step `until`.
    pub fn crash(&mut self, id: NodeId, until: u64) {
        if let Some(slot) = self.nodes.get_mut(&id) {
            if let Slot::Up(n) = slot {
                let engine = n.engine.clone();
                *slot = Slot::Down {
                    engine,
                    restart_at: until,
                };
                self.stats.crashes += 1;
                self.trace
                    .event(&["crash", &id.to_string(), &until.to_string()]);
            }
        }
    }

    /// Restarts the crashed nodes whose time has come (all of them when `all`).
    pub fn restart_due(&mut self, all: bool) {
        let now = self.now;
        for (&id, slot) in self.nodes.iter_mut() {
            let Slot::Down { engine, restart_at } = slot else {
                continue;
            };
            if !all && *restart_at > now {
                continue;
            }
            match SimNode::open(id, engine.clone()) {
                Ok(n) => {
                    *slot = Slot::Up(Box::new(n));
                    self.stats.restarts += 1;
                    self.trace.event(&["restart", &id.to_string()]);
                }
                Err(e) => {
                    self.violations.push(format!("n{id}: restart failed: {e}"));
                    *restart_at = u64::MAX;
                }
            }
        }
    }

    fn partition(&mut self, steps: (u64, u64)) {
        let n = self.nodes.len() as u64;
        let size = 1 + self.sched.below(n - 1);
        let mut side = BTreeSet::new();
        while (side.len() as u64) < size {
            side.insert(1 + self.sched.below(n));
        }
        let until = self.now + self.sched.range(steps.0, steps.1);
        self.trace
            .event(&["partition", &format!("{side:?}"), &until.to_string()]);
        self.net.partition = Some(super::network::Partition { side, until });
        self.stats.partitions += 1;
    }

    /// The node whose replica of `range` leads in the highest term, if any is up.
    pub fn leader_node(&self, range: RangeId) -> Option<(NodeId, u64)> {
        let mut best: Option<(u64, NodeId, u64)> = None;
        for (&id, slot) in &self.nodes {
            let Slot::Up(n) = slot else { continue };
            if let (Some((rid, true)), Some(st)) = (n.raft.leader(range), n.raft.status(range)) {
                if best.is_none_or(|(t, _, _)| st.term > t) {
                    best = Some((st.term, id, rid));
                }
            }
        }
        best.map(|(_, id, rid)| (id, rid))
    }

    fn change_membership(&mut self, remove_leader: bool) {
        let range = RangeId(1 + self.sched.below(self.cfg.ranges));
        let now = self.now;
        let desc = self.dir.ranges[&range].clone();
        if desc.cc_deadline > now {
            return;
        }
        let Some((leader, leader_rid)) = self.leader_node(range) else {
            return;
        };
        let voters: Vec<u64> = desc.voters.iter().copied().collect();
        let learners: Vec<u64> = desc.learners.iter().copied().collect();
        let holders: BTreeSet<NodeId> = voters
            .iter()
            .chain(&learners)
            .filter_map(|r| self.dir.addr.get(&(range, *r)).copied())
            .collect();
        let free: Vec<NodeId> = self
            .nodes
            .keys()
            .copied()
            .filter(|n| !holders.contains(n))
            .collect();
        let removable: Vec<u64> = voters
            .iter()
            .copied()
            .filter(|r| remove_leader || *r != leader_rid)
            .collect();
        // A joint move may take the leader out only when the outgoing voters keep a quorum
        // without it: a leader that applied the leave is destroyed (replica GC), and if the
        // others had not learned that the leave committed, they are still joint and their
        // outgoing half would need its vote forever (configurations take effect when applied).
        let movable: Vec<u64> = removable
            .iter()
            .copied()
            .filter(|r| *r != leader_rid || voters.len() >= 3)
            .collect();
        let change = if !learners.is_empty() && !movable.is_empty() && self.sched.chance(0.6) {
            self.joint_move(range, &learners, &movable)
        } else if !learners.is_empty() && self.sched.chance(0.3) {
            let rid = learners[self.sched.below(learners.len() as u64) as usize];
            let node = self.dir.addr[&(range, rid)];
            let ctx = format!("remove-learner r{rid} n{node}");
            Change::simple(ConfChangeType::RemoveNode, rid, None, ctx, Kind::Remove)
        } else if !free.is_empty() && (voters.len() < 3 || self.sched.chance(0.5)) {
            let node = free[self.sched.below(free.len() as u64) as usize];
            let rid = desc.next_rid;
            // Half the additions are learners, which a later joint move promotes.
            let (t, what, kind) = if self.sched.chance(0.5) {
                (ConfChangeType::AddLearnerNode, "add-learner", Kind::Learner)
            } else {
                (ConfChangeType::AddNode, "add", Kind::Add)
            };
            let ctx = format!("{what} r{rid} n{node}");
            Change::simple(t, rid, Some(node), ctx, kind)
        } else {
            if voters.len() < 3 || removable.is_empty() {
                return;
            }
            let rid = removable[self.sched.below(removable.len() as u64) as usize];
            let node = self.dir.addr[&(range, rid)];
            let ctx = format!("remove r{rid} n{node}");
            Change::simple(ConfChangeType::RemoveNode, rid, None, ctx, Kind::Remove)
        };
        let Some(Slot::Up(l)) = self.nodes.get_mut(&leader) else {
            return;
        };
        let res = l
            .raft
            .propose_conf_change(range, change.ctx.clone().into_bytes(), change.cc);
        self.trace.event(&[
            "conf-change",
            &range.to_string(),
            &change.ctx,
            &format!("{res:?}"),
        ]);
        if res.is_err() {
            return;
        }
        let desc = self.dir.ranges.get_mut(&range).expect("range");
        desc.cc_deadline = now + 200;
        if let Some(node) = change.new_node {
            desc.next_rid += 1;
            self.dir.addr.insert((range, change.rid), node);
        }
        match change.kind {
            Kind::Add => self.stats.adds += 1,
            Kind::Learner => self.stats.learners += 1,
            Kind::Remove => self.stats.removes += 1,
            Kind::Move => self.stats.joint_moves += 1,
        }
    }

    /// A voter move in one joint change: a learner becomes a voter while a voter is removed
    /// or (sometimes) demoted to a learner; the group leaves the joint configuration by itself.
    fn joint_move(&mut self, range: RangeId, learners: &[u64], removable: &[u64]) -> Change {
        let promote = learners[self.sched.below(learners.len() as u64) as usize];
        let victim = removable[self.sched.below(removable.len() as u64) as usize];
        let demote = self.sched.chance(0.3);
        let out = if demote {
            ConfChangeType::AddLearnerNode
        } else {
            ConfChangeType::RemoveNode
        };
        let changes = vec![
            joint::single(ConfChangeType::AddNode, promote),
            joint::single(out, victim),
        ];
        let what = if demote { "demote" } else { "remove" };
        Change {
            cc: joint::joint_change(changes),
            rid: promote,
            new_node: None,
            ctx: format!("joint {range} promote r{promote} {what} r{victim}"),
            kind: Kind::Move,
        }
    }

    fn transfer(&mut self) {
        let range = RangeId(1 + self.sched.below(self.cfg.ranges));
        let Some((leader, leader_rid)) = self.leader_node(range) else {
            return;
        };
        let others: Vec<u64> = self.dir.ranges[&range]
            .voters
            .iter()
            .copied()
            .filter(|r| *r != leader_rid)
            .collect();
        if others.is_empty() {
            return;
        }
        let to = others[self.sched.below(others.len() as u64) as usize];
        if let Some(Slot::Up(l)) = self.nodes.get_mut(&leader) {
            let res = l.raft.transfer_leader(range, to);
            self.trace.event(&[
                "transfer",
                &range.to_string(),
                &to.to_string(),
                &format!("{res:?}"),
            ]);
            self.stats.transfers += 1;
        }
    }

    /// Destroys replicas that the applied configuration no longer has.
    pub fn collect_removed(&mut self) {
        for (&id, slot) in self.nodes.iter_mut() {
            let Slot::Up(n) = slot else { continue };
            let gone: Vec<RangeId> = n
                .replicas
                .iter()
                .filter(|(r, rid)| {
                    self.dir
                        .ranges
                        .get(r)
                        .is_some_and(|d| d.removed.contains(rid))
                })
                .map(|(r, _)| *r)
                .collect();
            for r in gone {
                if let Err(e) = n.destroy(r) {
                    self.violations.push(e);
                }
                self.trace.event(&["gc", &id.to_string(), &r.to_string()]);
            }
        }
    }
}
