//! Replica GC: destroying a replica that is no longer a member of its range.
//!
//! A replica normally learns of its removal by applying the membership change that removes it
//! (`apply.rs` destroys it then). But a removed replica often never applies that change: the
//! leader stops sending to it as soon as the change commits, and a replica on a node that was
//! down or partitioned during the change hears nothing at all. Without GC it would keep its
//! Raft group (ticking, campaigning against the range's real members), its Raft log and its
//! copy of the range's data forever, and its stale span would make this store refuse the
//! snapshot of any later replica overlapping it.
//!
//! So, as CockroachDB's replica GC queue does, the store periodically asks the range's current
//! descriptor in the meta records (crate::gc runs [`Store::replica_gc_pass`]) and destroys a
//! replica only when the meta descriptor of *the same range id* proves it removed:
//! - the descriptor lists no replica with this replica's id on this node, and
//! - this replica's id is below the descriptor's `next_replica_id` (a higher id is a replica
//!   being added whose meta record is not written yet: the meta record trails the change), and
//! - the descriptor's generation is above the one this replica applied (a meta record older
//!   than what the replica knows proves nothing).
//!
//! Destruction runs on the Raft thread (which owns the groups), re-checking the replica id and
//! generation there: the data spans go first (user data, transaction records, range-id keys),
//! skipping the user and record spans when another replica on this store now owns part of
//! them (a split or re-add raced with the removal), then the Raft log and state, then the
//! in-memory replica. The data spans go in one synced batch of one range deletion per span
//! (`WriteBatch::delete_range`, a RocksDB range tombstone): its cost does not grow with the
//! replica's size, so destroying a large replica does not stall the Raft thread, and a crash
//! leaves all of the replica's data or none of it.
//!
//! IMPLEMENTATION CAVEATS
//! - The deleted keys stay on disk until RocksDB's compaction reaches them (no compaction of
//!   the span is requested after destruction).
//! - The Raft log and state are still deleted entry by entry (replication's `stage_destroy`,
//!   from its in-memory copy of the log, which is bounded by log truncation).
//! - A range that no longer exists under its id (merged away) is not collected here (a missing
//!   meta record may also be a split's right side whose record is not written yet): every
//!   replica drops its right-hand side when it applies the merge, and empty leftovers that
//!   stray messages re-create are destroyed by `Store::collect_merged_leftovers` (merge.rs).
//!
//! Replica tombstones (CockroachDB's `RangeTombstone`): destroying a replica, here or by
//! applying its removal, leaves an unreplicated key `0x01 's' 't' <range>` holding the lowest
//! replica id this store may still hold for the range (the destroyed id + 1, or the removing
//! descriptor's `next_replica_id`; it only grows). A Raft message or snapshot chunk addressed
//! to a lower replica id of that range (a stray message from a node that still believes the old
//! configuration) no longer re-creates an empty replica; a re-add, which always gets a new,
//! higher id, is not affected. The tombstone stays after the replica is re-added (a few bytes
//! per range ever held).

use super::apply::data_spans;
use super::Store;
use crate::desc::{self, RangeDescriptor};
use kv::engine::WriteBatch;
use kv::keys::LOCAL_PREFIX;
use kv::{RangeId, ReplicaId};
use std::time::{Duration, Instant};

/// Whether the replica `replica` of this node, which applied `local` (None: uninitialised),
/// is proven removed by `meta`, the range's descriptor in the meta records (see the module
/// doc for the three conditions).
pub fn proven_removed(
    node: kv::NodeId,
    replica: ReplicaId,
    local: Option<&RangeDescriptor>,
    meta: &RangeDescriptor,
) -> bool {
    let listed = meta
        .replicas
        .iter()
        .any(|r| r.replica_id == replica && r.node_id == node);
    let older_than_meta = replica.0 < meta.next_replica_id;
    let meta_newer = local.is_none_or(|l| l.generation < meta.generation);
    !listed && older_than_meta && meta_newer
}

/// A replica the pass found removed: its id and the generation it had applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcCandidate {
    /// The range.
    pub range: RangeId,
    /// The local replica's id.
    pub replica: ReplicaId,
    /// The generation of its descriptor (None: uninitialised).
    pub generation: Option<u64>,
}

impl Store {
    /// The local replicas that `meta` (every range descriptor of the meta records) proves
    /// removed from their ranges.
    pub fn replica_gc_candidates(&self, meta: &[RangeDescriptor]) -> Vec<GcCandidate> {
        let mut out = Vec::new();
        for rep in self.replicas() {
            let Some(m) = meta.iter().find(|d| d.range_id == rep.range_id) else {
                continue;
            };
            let local = rep.desc();
            if proven_removed(self.node_id, rep.replica_id, local.as_ref(), m) {
                out.push(GcCandidate {
                    range: rep.range_id,
                    replica: rep.replica_id,
                    generation: local.map(|d| d.generation),
                });
            }
        }
        out
    }

    /// Destroys the replicas `meta` proves removed; returns how many are gone. Each is handed
    /// to the Raft thread, which re-checks and destroys it; this waits (bounded) until the
    /// replica disappeared from the store.
    pub fn replica_gc_pass(&self, meta: &[RangeDescriptor]) -> usize {
        let mut destroyed = 0;
        for c in self.replica_gc_candidates(meta) {
            tracing::info!(range = %c.range, replica = c.replica.0, "replica GC: removed from its range, destroying");
            self.send_raft(super::RaftMsg::GcReplica {
                range: c.range,
                replica: c.replica,
                generation: c.generation,
            });
            let deadline = Instant::now() + Duration::from_secs(5);
            while self
                .replica(c.range)
                .is_some_and(|r| r.replica_id == c.replica)
            {
                if Instant::now() >= deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            if self
                .replica(c.range)
                .is_none_or(|r| r.replica_id != c.replica)
            {
                destroyed += 1;
            }
        }
        destroyed
    }

    /// On the Raft thread: deletes the replicated data and range-id keys of the replica
    /// `replica` of `range` if it is still the local replica at descriptor `generation`
    /// (anything else means it changed since the GC decision: left alone). Returns whether it
    /// did; the caller then destroys the Raft group and forgets the replica.
    pub(crate) fn destroy_replica_data(
        &self,
        range: RangeId,
        replica: ReplicaId,
        generation: Option<u64>,
    ) -> Result<bool, String> {
        let Some(rep) = self.replica(range) else {
            return Ok(false);
        };
        let local = rep.desc();
        if rep.replica_id != replica || local.as_ref().map(|d| d.generation) != generation {
            return Ok(false);
        }
        if let Some(r) = rep.state.lock().range.take() {
            r.retire();
        }
        let mut spans: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        match &local {
            Some(d) if self.overlaps_other(d) => {
                tracing::warn!(range = %range, "replica GC: another local replica owns part of the span; keeping the span's data");
                let (s, e) = desc::range_id_span(range);
                spans.push((s, Some(e)));
            }
            Some(d) => spans = data_spans(d),
            None => {
                let (s, e) = desc::range_id_span(range);
                spans.push((s, Some(e)));
            }
        }
        let mut batch = WriteBatch::new();
        for (s, e) in spans {
            batch.delete_range(s, e);
        }
        batch.delete(desc::replica_list_key(range));
        self.stage_replica_tombstone(&mut batch, range, replica.0 + 1);
        self.engine.write(batch, true).map_err(|e| e.to_string())?;
        Ok(true)
    }

    /// Whether another local replica's span overlaps `d`'s.
    fn overlaps_other(&self, d: &RangeDescriptor) -> bool {
        self.replicas()
            .iter()
            .any(|r| r.range_id != d.range_id && r.desc().is_some_and(|o| o.overlaps(d)))
    }
}

/// The unreplicated key of `range`'s replica tombstone on this store (see the module doc).
pub fn replica_tombstone_key(range: RangeId) -> Vec<u8> {
    let mut k = vec![LOCAL_PREFIX, b's', b't'];
    k.extend_from_slice(&range.0.to_be_bytes());
    k
}

impl Store {
    /// The lowest replica id of `range` this store may hold (None: no replica of it was ever
    /// destroyed here).
    pub fn replica_tombstone(&self, range: RangeId) -> Option<u64> {
        let raw = self.engine.get(&replica_tombstone_key(range)).ok()??;
        desc::decode::<u64>(&raw).ok()
    }

    /// Whether replica `replica` of `range` was destroyed here (its id is below the tombstone):
    /// messages for it must not re-create it.
    pub fn replica_tombstoned(&self, range: RangeId, replica: ReplicaId) -> bool {
        self.replica_tombstone(range)
            .is_some_and(|next| replica.0 < next)
    }

    /// Stages raising `range`'s tombstone to `next` (never lowers it).
    pub(crate) fn stage_replica_tombstone(
        &self,
        batch: &mut WriteBatch,
        range: RangeId,
        next: u64,
    ) {
        let next = next.max(self.replica_tombstone(range).unwrap_or(0));
        batch.put(replica_tombstone_key(range), desc::encode(&next));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desc::{ReplicaDesc, ReplicaKind};
    use kv::NodeId;

    fn desc(generation: u64, next: u64, reps: &[(u64, u64)]) -> RangeDescriptor {
        RangeDescriptor {
            range_id: RangeId(7),
            start: b"a".to_vec(),
            end: Some(b"m".to_vec()),
            replicas: reps
                .iter()
                .map(|&(n, r)| ReplicaDesc {
                    node_id: NodeId(n),
                    replica_id: ReplicaId(r),
                    kind: ReplicaKind::Voter,
                })
                .collect(),
            next_replica_id: next,
            generation,
        }
    }

    #[test]
    fn only_a_newer_meta_descriptor_without_the_replica_proves_removal() {
        let local = desc(3, 4, &[(1, 1), (2, 2), (3, 3)]);
        let removed = desc(4, 5, &[(1, 1), (2, 2), (4, 4)]);
        let n3 = NodeId(3);
        assert!(proven_removed(n3, ReplicaId(3), Some(&local), &removed));
        // Still listed: a member.
        assert!(!proven_removed(
            NodeId(2),
            ReplicaId(2),
            Some(&local),
            &removed
        ));
        // The meta record is not newer than what the replica applied: proves nothing.
        let stale = desc(3, 4, &[(1, 1), (2, 2)]);
        assert!(!proven_removed(n3, ReplicaId(3), Some(&local), &stale));
        // A replica id the meta record has not allocated yet: being added right now.
        assert!(!proven_removed(NodeId(5), ReplicaId(5), None, &removed));
        // An uninitialised leftover of an older membership is collected.
        assert!(proven_removed(NodeId(9), ReplicaId(2), None, &removed));
        // Same node, re-added under a new id: the old id is gone, the new one is a member.
        let readded = desc(6, 6, &[(1, 1), (2, 2), (3, 5)]);
        assert!(proven_removed(n3, ReplicaId(3), Some(&local), &readded));
        assert!(!proven_removed(n3, ReplicaId(5), None, &readded));
    }
}
