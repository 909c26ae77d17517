//! The simulated network: every Raft message between nodes goes through here.
//!
//! Each sent message is dropped with probability `drop`, otherwise delivered once (or twice
//! with probability `dup`) after its own random delay in steps, so messages overtake each
//! other (reordering). A partition splits the nodes into two sides for a while: messages
//! crossing it are dropped when they are delivered (so messages already in flight when it
//! starts are lost too). Every random choice comes from the simulation's network RNG.

use super::node::NodeId;
use super::Rng;
use kv::RangeId;
use raft::prelude::Message;
use std::collections::{BTreeMap, BTreeSet};

/// Loss, duplication and delay settings.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Probability that a message is lost.
    pub drop: f64,
    /// Probability that a message is delivered twice.
    pub dup: f64,
    /// Smallest delay in steps (at least 1: nothing is delivered in the step it is sent).
    pub min_delay: u64,
    /// Largest delay in steps.
    pub max_delay: u64,
}

/// A message in flight.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub from: NodeId,
    pub to: NodeId,
    pub range: RangeId,
    pub msg: Message,
}

/// An active partition: `side` cannot talk to the other nodes until `until`.
#[derive(Debug, Clone)]
pub struct Partition {
    pub side: BTreeSet<NodeId>,
    pub until: u64,
}

/// Counters for the report.
#[derive(Debug, Clone, Default)]
pub struct NetStats {
    pub sent: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub cut: u64,
    pub delivered: u64,
}

/// Messages in flight, keyed by (delivery step, send sequence): a deterministic order.
pub struct Network {
    pub cfg: NetConfig,
    queue: BTreeMap<(u64, u64), Envelope>,
    seq: u64,
    pub partition: Option<Partition>,
    pub stats: NetStats,
}

impl Network {
    pub fn new(cfg: NetConfig) -> Network {
        Network {
            cfg,
            queue: BTreeMap::new(),
            seq: 0,
            partition: None,
            stats: NetStats::default(),
        }
    }

    /// Sends a message at step `now`; returns how many copies were queued (0: dropped).
    pub fn send(&mut self, rng: &mut Rng, now: u64, env: Envelope) -> u32 {
        self.stats.sent += 1;
        if rng.chance(self.cfg.drop) {
            self.stats.dropped += 1;
            return 0;
        }
        let copies = if rng.chance(self.cfg.dup) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = rng.range(self.cfg.min_delay.max(1), self.cfg.max_delay.max(1));
            self.seq += 1;
            self.queue.insert((now + delay, self.seq), env.clone());
        }
        copies
    }

    /// Whether `a` and `b` can talk now.
    pub fn connected(&self, a: NodeId, b: NodeId) -> bool {
        match &self.partition {
            Some(p) => p.side.contains(&a) == p.side.contains(&b),
            None => true,
        }
    }

    /// Removes and returns the messages due at or before `now` that cross no partition, in
    /// delivery order; ends the partition when its time is up.
    pub fn due(&mut self, now: u64) -> Vec<Envelope> {
        if self.partition.as_ref().is_some_and(|p| p.until <= now) {
            self.partition = None;
        }
        let mut out = Vec::new();
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let env = entry.remove();
            if self.connected(env.from, env.to) {
                self.stats.delivered += 1;
                out.push(env);
            } else {
                self.stats.cut += 1;
            }
        }
        out
    }

    /// Ends partitions, loss and duplication (the final, healed phase).
    pub fn heal(&mut self) {
        self.partition = None;
        self.cfg.drop = 0.0;
        self.cfg.dup = 0.0;
    }
}
