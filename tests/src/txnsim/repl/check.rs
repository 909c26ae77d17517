//! The end of a replicated run: heal, catch up, and compare every replica's data with its
//! leaseholder's (plus the injected divergence that proves the comparison works).

use super::{node, ReplState};
use kv::RangeId;

impl ReplState {
    /// Heals every fault, then steps until every replica of every range applied its
    /// leader's whole log (false if that takes too long).
    pub(crate) fn heal_and_catch_up(&mut self) -> bool {
        self.heal();
        self.net.loss = 0.0;
        for _ in 0..30_000 {
            if self.caught_up() {
                return true;
            }
            self.step();
        }
        false
    }

    fn caught_up(&self) -> bool {
        self.members.iter().all(|(&range, m)| {
            let Some(l) = self.leader_node(range) else {
                return false;
            };
            let Some(ls) = self.nodes[l].raft.as_ref().and_then(|r| r.status(range)) else {
                return false;
            };
            ls.commit == ls.last_index
                && m.values().all(|&n| {
                    self.nodes[n]
                        .raft
                        .as_ref()
                        .and_then(|r| r.status(range))
                        .is_some_and(|s| s.applied == ls.last_index)
                })
        })
    }

    /// Replica equality: every replica of every range holds exactly the leaseholder's data
    /// for the range's span (call after [`ReplState::heal_and_catch_up`]).
    pub(crate) fn check_replicas(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let ranges: Vec<RangeId> = self.members.keys().copied().collect();
        for range in ranges {
            let holder = match self.ensure_lease(range) {
                Ok((h, _)) => h,
                Err(e) => {
                    out.push(format!("{range}: no lease after healing: {e}"));
                    continue;
                }
            };
            let Some(span) = self.nodes[holder]
                .states
                .get(&range)
                .map(|s| s.span.clone())
            else {
                continue;
            };
            let want = node::range_data(self.nodes[holder].disk.as_ref(), &span);
            for n in self.replica_nodes(range) {
                let got = node::range_data(self.nodes[n].disk.as_ref(), &span);
                if got != want {
                    let differ = got.iter().zip(&want).position(|(a, b)| a != b);
                    out.push(format!(
                        "{range}: replica on node {n} has {} entries, leaseholder node {holder} \
                         has {} (first difference at entry {:?})",
                        got.len(),
                        want.len(),
                        differ
                    ));
                }
            }
        }
        for (n, node) in self.nodes.iter().enumerate() {
            out.extend(node.problems.iter().map(|p| format!("node {n}: {p}")));
        }
        out
    }

    /// The injected bug [`super::Bug::DivergentReplica`]: a version of `key` written to the
    /// disk of one replica of the first range that is not its leaseholder, behind Raft.
    pub(crate) fn diverge(&mut self, key: &[u8]) {
        let range = RangeId(1);
        let holder = self.valid_lease(range).map(|(h, _)| h);
        let Some(n) = self
            .replica_nodes(range)
            .into_iter()
            .find(|&n| Some(n) != holder)
        else {
            return;
        };
        let mvcc_key = kv::mvcc::meta_key(key);
        let mut b = kv::engine::WriteBatch::new();
        b.put(mvcc_key, b"divergent".to_vec());
        let _ = kv::engine::Engine::write(self.nodes[n].disk.as_ref(), b, true);
        self.events.push(format!("bug: node {n} diverges"));
    }
}
