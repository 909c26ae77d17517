//! The simulated network between nodes: Raft messages are delayed (a few steps), sometimes
//! lost, and dropped across a partition. Delivery order is by (due step, send order), so a
//! run replays exactly.

use super::super::util::Rng;
use kv::RangeId;
use replication::raft::prelude::Message;
use std::collections::BTreeMap;

/// A message in flight.
pub(crate) struct Envelope {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) range: RangeId,
    pub(crate) msg: Message,
}

/// Messages in flight and the faults that decide their fate.
#[derive(Default)]
pub(crate) struct Net {
    queue: BTreeMap<(u64, u64), Envelope>,
    seq: u64,
    /// A node cut off from every other node.
    pub(crate) isolated: Option<usize>,
    /// Probability that a message is lost.
    pub(crate) loss: f64,
    /// Messages lost or dropped by the partition.
    pub(crate) lost: u64,
    pub(crate) partitioned: u64,
    pub(crate) sent: u64,
}

impl Net {
    /// A network losing each message with probability `loss`.
    pub(crate) fn new(loss: f64) -> Net {
        Net {
            loss,
            ..Net::default()
        }
    }

    /// Sends `env` at step `now`: it arrives 1 to 4 steps later unless lost or partitioned
    /// (then false).
    pub(crate) fn send(&mut self, rng: &mut Rng, now: u64, env: Envelope) -> bool {
        self.sent += 1;
        let cut = self
            .isolated
            .is_some_and(|n| env.from != env.to && (env.from == n || env.to == n));
        if cut {
            self.partitioned += 1;
            return false;
        }
        if rng.chance(self.loss) {
            self.lost += 1;
            return false;
        }
        let due = now + rng.range(1, 4);
        self.seq += 1;
        self.queue.insert((due, self.seq), env);
        true
    }

    /// The messages due at or before `now`, in delivery order.
    pub(crate) fn due(&mut self, now: u64) -> Vec<Envelope> {
        let keep = self.queue.split_off(&(now + 1, 0));
        std::mem::replace(&mut self.queue, keep)
            .into_values()
            .collect()
    }

    /// Messages in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.queue.len()
    }
}
