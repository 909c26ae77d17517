//! Faults and operator actions, injected at random steps from the schedule RNG: node crashes
//! and restarts, network partitions, membership changes and leader transfers.
//!
//! A crash drops the node's `MultiRaft` and state machine (everything in memory) and keeps its
//! `MemoryEngine`; the restart reopens every replica from it (`LogStore::open` + `add_group`).
//! A `MemoryEngine` keeps every write, synced or not, so this models a process crash on a disk
//! that loses nothing written (or a machine crash where every write was synced): lost
//! unsynced writes are not modelled.
//!
//! Membership changes are single-replica `ConfChangeV2`s proposed on the range's leader: add a
//! replica on a node without one (always with a fresh replica id, never reused) or remove one
//! (never below two voters). Replicas removed from the applied configuration are destroyed on
//! their node (the replica GC of a real store), leaving a tombstone.

use super::node::{NodeId, SimNode};
use super::{Sim, Slot};
use kv::RangeId;
use raft::prelude::{ConfChangeSingle, ConfChangeType, ConfChangeV2};
use std::collections::BTreeSet;

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
        let desc = &self.dir.ranges[&range];
        if desc.cc_deadline > now {
            return;
        }
        let Some((leader, leader_rid)) = self.leader_node(range) else {
            return;
        };
        let voters: Vec<u64> = desc.voters.iter().copied().collect();
        let holders: BTreeSet<NodeId> = voters
            .iter()
            .filter_map(|r| self.dir.addr.get(&(range, *r)).copied())
            .collect();
        let free: Vec<NodeId> = self
            .nodes
            .keys()
            .copied()
            .filter(|n| !holders.contains(n))
            .collect();
        let add = !free.is_empty() && (voters.len() < 3 || self.sched.chance(0.5));
        let mut single = ConfChangeSingle::default();
        let (rid, node) = if add {
            let node = free[self.sched.below(free.len() as u64) as usize];
            single.set_change_type(ConfChangeType::AddNode);
            (desc.next_rid, node)
        } else {
            let removable: Vec<u64> = voters
                .iter()
                .copied()
                .filter(|r| remove_leader || *r != leader_rid)
                .collect();
            if voters.len() < 3 || removable.is_empty() {
                return;
            }
            let rid = removable[self.sched.below(removable.len() as u64) as usize];
            single.set_change_type(ConfChangeType::RemoveNode);
            (rid, self.dir.addr[&(range, rid)])
        };
        single.node_id = rid;
        let mut cc = ConfChangeV2::default();
        cc.set_changes(vec![single].into());
        let ctx = format!("{} r{rid} n{node}", if add { "add" } else { "remove" });
        let Some(Slot::Up(l)) = self.nodes.get_mut(&leader) else {
            return;
        };
        let res = l
            .raft
            .propose_conf_change(range, ctx.clone().into_bytes(), cc);
        self.trace
            .event(&["conf-change", &range.to_string(), &ctx, &format!("{res:?}")]);
        if res.is_ok() {
            let desc = self.dir.ranges.get_mut(&range).expect("range");
            desc.cc_deadline = now + 200;
            if add {
                desc.next_rid += 1;
                self.dir.addr.insert((range, rid), node);
                self.stats.adds += 1;
            } else {
                self.stats.removes += 1;
            }
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
