//! Range changes of the replicated world: splits through the log (and the right-hand
//! replicas they create, also from messages when a snapshot skipped the split), voter moves
//! through a learner and a joint configuration, and replica GC of removed replicas.

use super::net::Envelope;
use super::node::{Cmd, RangeState};
use super::{ok, ReplState, CHANGE_TIMEOUT};
use kv::RangeId;
use replication::raft::prelude::{ConfChangeType, ConfState, MessageType};
use replication::LogStore;
use std::collections::BTreeMap;
use txn::range::latch::Span;
use txn::{Error, Result};

impl ReplState {
    /// A message for a replica the directory places on its node, which has no group for the
    /// range yet (the right side of a split it has not applied, or never will because a
    /// snapshot of the left side skipped it): an empty replica is created, which a snapshot
    /// fills (as the cluster creates uninitialised replicas).
    pub(super) fn maybe_create_uninitialized(&mut self, env: &Envelope) {
        let creates = matches!(
            env.msg.get_msg_type(),
            MessageType::MsgAppend
                | MessageType::MsgHeartbeat
                | MessageType::MsgSnapshot
                | MessageType::MsgRequestVote
                | MessageType::MsgRequestPreVote
        );
        let listed = self
            .members
            .get(&env.range)
            .is_some_and(|m| m.get(&env.msg.to) == Some(&env.to));
        let node = &mut self.nodes[env.to];
        if !creates || !listed || node.rids.contains_key(&env.range) || node.raft.is_none() {
            return;
        }
        if let Err(e) = node.create_learner(env.range, env.msg.to) {
            node.problems
                .push(format!("uninitialised {}: {e}", env.range));
        }
    }

    /// Creates the right-hand groups of the splits `node` just applied, with the left
    /// group's voters, and registers the new ranges in the directory.
    pub(super) fn create_split_replicas(&mut self, n: usize) {
        for (left, right, origin) in std::mem::take(&mut self.nodes[n].splits) {
            if !self.members.contains_key(&right) {
                let m = self.members.get(&left).cloned().unwrap_or_default();
                for (&rid, &node) in &m {
                    self.addr.insert((right, rid), node);
                }
                self.members.insert(right, m);
                let next = self.next_rid.get(&left).copied().unwrap_or(100);
                self.next_rid.insert(right, next);
                self.next_range = self.next_range.max(right.0 + 1);
            }
            let node = &mut self.nodes[n];
            let snapshots = node.snapshots();
            let (Some(raft), Some(&rid)) = (node.raft.as_mut(), node.rids.get(&left)) else {
                continue;
            };
            let voters = raft.conf_state(left).map(|c| c.voters).unwrap_or_default();
            let r = LogStore::open(node.disk.as_ref(), right, snapshots)
                .map_err(|e| e.to_string())
                .and_then(|store| {
                    let conf = ConfState {
                        voters,
                        ..ConfState::default()
                    };
                    raft.create_group(right, rid, store, 5, 5, conf)
                        .map_err(|e| e.to_string())
                });
            match r {
                Ok(()) => {
                    node.rids.insert(right, rid);
                    if origin == n {
                        let _ = raft.campaign(right);
                    }
                }
                Err(e) => node.problems.push(format!("split {left} -> {right}: {e}")),
            }
        }
    }

    /// Splits `range` at `key` through its log, proposed by the leaseholder `holder`.
    pub(crate) fn split(&mut self, range: RangeId, holder: usize, key: Vec<u8>) -> Result<()> {
        let Some(st) = self.nodes[holder].states.get(&range).cloned() else {
            return Err(Error::NotLeaseholder { leaseholder: None });
        };
        let right = self.next_range;
        self.next_range += 1;
        let shown = super::super::world::show_key(&key);
        let r = self.propose_and_wait(holder, range, |id| Cmd::Split {
            id,
            origin: holder,
            lease_seq: st.lease_seq,
            generation: st.generation,
            key,
            right,
        });
        self.events.push(format!(
            "split {range} at {shown} into r{right}: {}",
            ok(&r)
        ));
        r
    }

    /// The ranges in key order with their spans, as the up replicas that applied the most
    /// recent splits know them (the meta ranges' view).
    pub(crate) fn ranges_view(&self) -> Vec<(RangeId, Span)> {
        let mut newest: BTreeMap<RangeId, &RangeState> = BTreeMap::new();
        for (n, node) in self.nodes.iter().enumerate() {
            if !self.up[n] {
                continue;
            }
            for (r, st) in &node.states {
                let listed = self
                    .members
                    .get(r)
                    .is_some_and(|m| m.values().any(|&x| x == n));
                let e = newest.entry(*r).or_insert(st);
                if listed && st.generation > e.generation {
                    *e = st;
                }
            }
        }
        let mut v: Vec<(RangeId, Span)> = newest
            .into_iter()
            .filter(|(r, _)| self.members.contains_key(r))
            .map(|(r, st)| (r, st.span.clone()))
            .collect();
        v.sort_by(|a, b| a.1.start.cmp(&b.1.start));
        v
    }

    /// The span of `range` as `node` applied it.
    pub(crate) fn span_at(&self, node: usize, range: RangeId) -> Option<(Span, u64)> {
        let st = self.nodes.get(node)?.states.get(&range)?;
        Some((st.span.clone(), st.generation))
    }

    /// Destroys replicas the directory no longer lists (replica GC).
    pub(super) fn gc_replicas(&mut self) {
        for n in 0..self.nodes.len() {
            if !self.up[n] {
                continue;
            }
            let mine: Vec<(RangeId, u64)> =
                self.nodes[n].rids.iter().map(|(r, id)| (*r, *id)).collect();
            for (range, rid) in mine {
                let listed = self
                    .members
                    .get(&range)
                    .is_some_and(|m| m.get(&rid) == Some(&n));
                if !listed {
                    if let Err(e) = self.nodes[n].destroy_replica(range) {
                        self.nodes[n].problems.push(format!("replica GC: {e}"));
                    }
                    self.events
                        .push(format!("replica {rid} of {range} on node {n} removed"));
                }
            }
        }
    }

    /// Moves a voter of `range` that is neither on `keep` nor on `to` to node `to` (which
    /// has no replica): learner, snapshot, then one joint change that promotes it and
    /// removes the old voter. The caller keeps the leaseholder as `keep`.
    pub(crate) fn move_voter(&mut self, range: RangeId, keep: usize, to: usize) {
        let members = self.members.get(&range).cloned().unwrap_or_default();
        if !self.up[to] || members.values().any(|&n| n == to) {
            return;
        }
        let victims: Vec<(u64, usize)> = members
            .iter()
            .filter(|(_, &n)| n != keep)
            .map(|(&r, &n)| (r, n))
            .collect();
        if victims.is_empty() {
            return;
        }
        let (old_rid, old_node) = victims[self.rng.below(victims.len() as u64) as usize];
        let rid = self.next_rid.get(&range).copied().unwrap_or(100);
        self.next_rid.insert(range, rid + 1);
        self.addr.insert((range, rid), to);
        if let Err(e) = self.nodes[to].create_learner(range, rid) {
            self.nodes[to].problems.push(format!("learner: {e}"));
            return;
        }
        self.events.push(format!(
            "move {range}: add learner {rid} on node {to}, then remove {old_rid} on node {old_node}"
        ));
        let learner = replication::joint::simple_change(replication::joint::single(
            ConfChangeType::AddLearnerNode,
            rid,
        ));
        let joint = replication::joint::joint_change(vec![
            replication::joint::single(ConfChangeType::AddNode, rid),
            replication::joint::single(ConfChangeType::RemoveNode, old_rid),
        ]);
        let done = self.change(range, learner, |cs| cs.learners.contains(&rid))
            && self.change(range, joint, |cs| {
                cs.voters.contains(&rid)
                    && !cs.voters.contains(&old_rid)
                    && cs.voters_outgoing.is_empty()
            });
        // The descriptor follows what the log decided, whatever the waits saw: a learner is
        // a replica too (it holds data), a removed voter is not.
        let cs = self.applied_conf(range);
        let m = self.members.entry(range).or_default();
        for (r, n) in [(rid, to), (old_rid, old_node)] {
            match &cs {
                Some(cs) if !replication::joint::is_voter(cs, r) && !cs.learners.contains(&r) => {
                    m.remove(&r);
                }
                _ => {
                    m.insert(r, n);
                }
            }
        }
        if done {
            self.stats.moves += 1;
        } else {
            self.stats.moves_abandoned += 1;
        }
        self.events.push(format!(
            "move {range} {}",
            if done { "done" } else { "abandoned" }
        ));
        self.gc_replicas();
    }

    /// The configuration applied by `range`'s leader (None without a live leader).
    fn applied_conf(&mut self, range: RangeId) -> Option<ConfState> {
        let deadline = self.now + CHANGE_TIMEOUT;
        loop {
            if let Some(l) = self.leader_node(range) {
                let raft = self.nodes[l].raft.as_ref()?;
                let applied = raft
                    .status(range)
                    .is_some_and(|s| s.applied == s.last_index);
                if applied {
                    return raft.conf_state(range);
                }
            }
            if self.now >= deadline {
                return None;
            }
            self.step();
        }
    }

    /// Proposes a membership change on the leader until it is accepted, then steps until
    /// the leader's applied configuration satisfies `done`. False on timeout.
    fn change(
        &mut self,
        range: RangeId,
        cc: replication::raft::prelude::ConfChangeV2,
        done: impl Fn(&ConfState) -> bool,
    ) -> bool {
        let deadline = self.now + CHANGE_TIMEOUT;
        let mut proposed = false;
        while self.now < deadline {
            if let Some(l) = self.leader_node(range) {
                let raft = self.nodes[l].raft.as_mut();
                if let Some(raft) = raft {
                    if raft.conf_state(range).is_some_and(|cs| done(&cs)) {
                        return true;
                    }
                    if !proposed {
                        proposed = raft
                            .propose_conf_change(range, Vec::new(), cc.clone())
                            .is_ok();
                    }
                }
            }
            self.step();
        }
        false
    }
}
