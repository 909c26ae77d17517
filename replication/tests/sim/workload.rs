//! Clients: each runs one operation at a time (a put of a unique value or a read of a random
//! key) through whichever node it believes leads the key's range.
//!
//! An attempt that gets `NotLeader` (or a dropped proposal during a leader transfer) is retried
//! at the leader the node names, or at a random node; an attempt without a reply within
//! `attempt_timeout` steps is retried elsewhere. A put keeps its op id across attempts (the
//! state machine applies an op id once), so it completes when any attempt's apply is reported.
//! An operation still unanswered after `op_deadline` steps ends with an unknown outcome: a put
//! that was ever proposed may still take effect later; a put never proposed failed for sure; a
//! read without an answer tells nothing and is left out of the history checked.
//!
//! Real time is the order of invocation and completion events (one counter for all clients).

use super::node::{Cmd, NodeId};
use super::{Dir, Rng, Slot, Trace, Violations};
use kv::RangeId;
use replication::Error;
use std::collections::BTreeMap;

/// The workload's settings.
#[derive(Debug, Clone)]
pub struct WorkConfig {
    pub clients: usize,
    pub keys: u16,
    pub ranges: u64,
    pub attempt_timeout: u64,
    pub op_deadline: u64,
    pub think_max: u64,
}

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Put(u64),
    Read,
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pending,
    /// The put was applied.
    Ok,
    /// The read returned this value (None: never written).
    Read(Option<u64>),
    /// No answer: a put may or may not have taken effect.
    Unknown,
    /// A put that was never proposed.
    Failed,
}

/// One operation of the history.
#[derive(Debug, Clone)]
pub struct Op {
    pub client: usize,
    pub key: u16,
    pub kind: Kind,
    /// Invocation event (global counter).
    pub call: u64,
    /// Completion event; None when the outcome is unknown.
    pub ret: Option<u64>,
    pub outcome: Outcome,
    pub proposed: bool,
    pub start_step: u64,
}

struct Attempt {
    node: NodeId,
    op_id: u64,
    deadline: u64,
}

#[derive(Default)]
struct Client {
    op: Option<usize>,
    attempt: Option<Attempt>,
    next_at: u64,
    retry_at: u64,
    hints: BTreeMap<RangeId, NodeId>,
}

/// Counters for the report.
#[derive(Debug, Clone, Default)]
pub struct WorkStats {
    pub started: u64,
    pub puts_ok: u64,
    pub reads_ok: u64,
    pub unknown: u64,
    pub failed: u64,
    pub redirects: u64,
    pub timeouts: u64,
}

/// The clients and the history they produce.
pub struct Workload {
    pub cfg: WorkConfig,
    clients: Vec<Client>,
    pub history: Vec<Op>,
    /// Live attempt op id -> client.
    by_op: BTreeMap<u64, usize>,
    next_op: u64,
    events: u64,
    pub stats: WorkStats,
}

/// The range of a key.
pub fn range_of(key: u16, ranges: u64) -> RangeId {
    RangeId(1 + key as u64 % ranges)
}

impl Workload {
    pub fn new(cfg: WorkConfig) -> Workload {
        let clients = (0..cfg.clients).map(|_| Client::default()).collect();
        Workload {
            cfg,
            clients,
            history: Vec::new(),
            by_op: BTreeMap::new(),
            next_op: 0,
            events: 0,
            stats: WorkStats::default(),
        }
    }

    fn event(&mut self) -> u64 {
        self.events += 1;
        self.events
    }

    fn new_op_id(&mut self) -> u64 {
        self.next_op += 1;
        self.next_op
    }

    /// Whether any operation is still running.
    pub fn busy(&self) -> bool {
        self.clients.iter().any(|c| c.op.is_some())
    }

    /// One step of every client: start new operations (when `issue`), time out attempts and
    /// operations, submit pending attempts.
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &mut self,
        now: u64,
        issue: bool,
        rng: &mut Rng,
        nodes: &mut BTreeMap<NodeId, Slot>,
        dir: &Dir,
        trace: &mut Trace,
        violations: &mut Violations,
    ) {
        for c in 0..self.clients.len() {
            if self.clients[c].op.is_none() {
                if !issue || now < self.clients[c].next_at {
                    continue;
                }
                self.start(c, now, rng, trace);
            }
            let op = self.clients[c].op.expect("started above");
            if let Some(a) = &self.clients[c].attempt {
                if now >= a.deadline {
                    self.stats.timeouts += 1;
                    let range = range_of(self.history[op].key, self.cfg.ranges);
                    self.drop_attempt(c, nodes);
                    self.clients[c].hints.remove(&range);
                    self.clients[c].retry_at = now + 1;
                }
            }
            if now >= self.history[op].start_step + self.cfg.op_deadline {
                self.give_up(c, now, rng, nodes, trace);
                continue;
            }
            if self.clients[c].attempt.is_none() && now >= self.clients[c].retry_at {
                self.submit(c, now, rng, nodes, dir, trace, violations);
            }
        }
    }

    fn start(&mut self, c: usize, now: u64, rng: &mut Rng, trace: &mut Trace) {
        let key = rng.below(self.cfg.keys as u64) as u16;
        let kind = if rng.chance(0.5) {
            Kind::Put(self.new_op_id())
        } else {
            Kind::Read
        };
        let call = self.event();
        self.history.push(Op {
            client: c,
            key,
            kind,
            call,
            ret: None,
            outcome: Outcome::Pending,
            proposed: false,
            start_step: now,
        });
        self.stats.started += 1;
        let cl = &mut self.clients[c];
        cl.op = Some(self.history.len() - 1);
        cl.retry_at = now;
        trace.event(&["invoke", &c.to_string(), &format!("{key}:{kind:?}")]);
    }

    fn drop_attempt(&mut self, c: usize, nodes: &mut BTreeMap<NodeId, Slot>) {
        if let Some(a) = self.clients[c].attempt.take() {
            let is_put = self.clients[c]
                .op
                .is_some_and(|op| matches!(self.history[op].kind, Kind::Put(_)));
            // A put's earlier attempts may still apply: the node that applies it answers.
            if !is_put {
                self.by_op.remove(&a.op_id);
                if let Some(Slot::Up(n)) = nodes.get_mut(&a.node) {
                    n.sm.waiting.remove(&a.op_id);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn submit(
        &mut self,
        c: usize,
        now: u64,
        rng: &mut Rng,
        nodes: &mut BTreeMap<NodeId, Slot>,
        dir: &Dir,
        trace: &mut Trace,
        violations: &mut Violations,
    ) {
        let op = self.clients[c].op.expect("running");
        let (key, kind) = (self.history[op].key, self.history[op].kind);
        let range = range_of(key, self.cfg.ranges);
        let node = match self.clients[c].hints.get(&range) {
            Some(n) => *n,
            None => 1 + rng.below(nodes.len() as u64),
        };
        let Some(Slot::Up(n)) = nodes.get_mut(&node) else {
            self.clients[c].hints.remove(&range);
            self.clients[c].retry_at = now + 1 + rng.below(3);
            return;
        };
        let (op_id, cmd) = match kind {
            Kind::Put(v) => (
                v,
                Cmd::Put {
                    op: v,
                    key,
                    value: v,
                },
            ),
            Kind::Read => {
                let id = self.new_op_id();
                (id, Cmd::Read { op: id, key })
            }
        };
        n.sm.waiting.insert(op_id);
        let res = n.raft.propose(range, cmd.encode());
        trace.event(&[
            "propose",
            &c.to_string(),
            &node.to_string(),
            &format!("{res:?}"),
        ]);
        match res {
            Ok(_) => {
                self.history[op].proposed = true;
                self.by_op.insert(op_id, c);
                self.clients[c].attempt = Some(Attempt {
                    node,
                    op_id,
                    deadline: now + self.cfg.attempt_timeout,
                });
                return;
            }
            Err(Error::NotLeader) => {
                self.stats.redirects += 1;
                let hint = n
                    .raft
                    .leader(range)
                    .and_then(|(rid, _)| dir.addr.get(&(range, rid)).copied());
                match hint {
                    Some(h) if h != node => self.clients[c].hints.insert(range, h),
                    _ => self.clients[c].hints.remove(&range),
                };
            }
            // A leader refuses proposals while it hands leadership over.
            Err(Error::Raft(raft::Error::ProposalDropped)) | Err(Error::UnknownRange(_)) => {
                self.stats.redirects += 1;
                self.clients[c].hints.remove(&range);
            }
            Err(e) => violations.push(format!("n{node} {range}: propose failed: {e}")),
        }
        if kind == Kind::Read {
            n.sm.waiting.remove(&op_id);
        }
        self.clients[c].retry_at = now + 1 + rng.below(2);
    }

    fn give_up(
        &mut self,
        c: usize,
        now: u64,
        rng: &mut Rng,
        nodes: &mut BTreeMap<NodeId, Slot>,
        trace: &mut Trace,
    ) {
        self.drop_attempt(c, nodes);
        let op = self.clients[c].op.take().expect("running");
        let h = &mut self.history[op];
        h.outcome = match (h.kind, h.proposed) {
            (Kind::Put(v), true) => {
                self.by_op.remove(&v);
                self.stats.unknown += 1;
                Outcome::Unknown
            }
            (Kind::Put(v), false) => {
                self.by_op.remove(&v);
                self.stats.failed += 1;
                Outcome::Failed
            }
            (Kind::Read, _) => {
                self.stats.unknown += 1;
                Outcome::Unknown
            }
        };
        trace.event(&["give-up", &c.to_string(), &format!("{:?}", h.outcome)]);
        self.clients[c].next_at = now + 1 + rng.below(self.cfg.think_max);
    }

    /// A node applied an operation this client waits for.
    pub fn on_reply(
        &mut self,
        now: u64,
        node: NodeId,
        op_id: u64,
        read: Option<Option<u64>>,
        rng: &mut Rng,
        trace: &mut Trace,
    ) {
        let Some(c) = self.by_op.remove(&op_id) else {
            return;
        };
        let Some(op) = self.clients[c].op.take() else {
            return;
        };
        let ret = self.event();
        let range = range_of(self.history[op].key, self.cfg.ranges);
        let h = &mut self.history[op];
        h.ret = Some(ret);
        h.outcome = match read {
            Some(v) => {
                self.stats.reads_ok += 1;
                Outcome::Read(v)
            }
            None => {
                self.stats.puts_ok += 1;
                Outcome::Ok
            }
        };
        trace.event(&[
            "reply",
            &c.to_string(),
            &node.to_string(),
            &format!("{:?}", h.outcome),
        ]);
        let cl = &mut self.clients[c];
        cl.attempt = None;
        cl.hints.insert(range, node);
        cl.next_at = now + 1 + rng.below(self.cfg.think_max);
    }

    /// Ends every running operation (the run is over): unknown outcomes.
    pub fn finish(&mut self, nodes: &mut BTreeMap<NodeId, Slot>, rng: &mut Rng, trace: &mut Trace) {
        for c in 0..self.clients.len() {
            if self.clients[c].op.is_some() {
                self.give_up(c, u64::MAX / 2, rng, nodes, trace);
            }
        }
    }
}
