//! Applying committed commands, snapshots and membership changes: the replicated state
//! machine of every range on the store.
//!
//! Apply is deterministic: it reads only the command and the replica's replicated state (the
//! descriptor and lease as of the previous command), never a clock. A command evaluated under
//! an older lease or descriptor generation is rejected the same way on every replica.
//!
//! A membership change carries the new descriptor in its context, except the empty change
//! that leaves a joint configuration (raft-rs proposes it by itself, and so may any later
//! leader): its descriptor is derived from the configuration left in ([`left_joint`]).
//!
//! Effects on in-memory state (descriptor, lease, the leaseholder's transaction range) and
//! replies to waiting proposers are collected while staging and carried out only after the
//! batch holding the applied writes is written ([`StateMachine::applied_written`]), so a
//! request never evaluates against state the engine does not show yet.

use super::{merge_apply, Replica, Store};

use crate::desc::{self, Command, Lease, RangeDescriptor, ReplicaKind};
use kv::engine::WriteBatch;
use kv::keys::META_PREFIX;
use kv::{RangeId, ReplicaId};
use raft::prelude::{ConfState, Snapshot};
use replication::{Applied, SnapshotSource, StateMachine};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

/// What the Raft thread must do after an iteration (it owns the groups).
pub enum PostAction {
    /// Create the group of a range made by a split.
    CreateGroup {
        /// The range it was split from.
        parent: RangeId,
        /// Its descriptor.
        desc: RangeDescriptor,
        /// The local replica.
        replica: ReplicaId,
    },
    /// The local replica was removed from the range, or its range was merged into the left
    /// neighbour (whose data it now is): drop the group and its Raft state.
    Destroy(RangeId),
    /// The local replica could not apply a merge (`merge_apply.rs`): reset it to an
    /// uninitialised replica that waits for a snapshot.
    ResetForSnapshot(RangeId),
}

enum Effect {
    Reply(u64, Result<(), txn::Error>),
    State {
        range: RangeId,
        desc: Option<RangeDescriptor>,
        lease: Lease,
    },
    Written(RangeId, u64),
    Applied(RangeId, u64),
}

/// The descriptor inside a snapshot message's header (the data travels in chunks:
/// store/snapshot.rs).
pub fn snapshot_desc(data: &[u8]) -> Option<RangeDescriptor> {
    super::snapshot::decode_header(data).ok().map(|h| h.desc)
}

/// The engine spans holding a range's replicated data: its MVCC keys (never the local span),
/// its transaction records, and its range-id keys.
pub fn data_spans(d: &RangeDescriptor) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut start = kv::mvcc::meta_key(&d.start);
    if start.as_slice() < [META_PREFIX].as_slice() {
        start = vec![META_PREFIX];
    }
    let end = d.end.as_deref().map(kv::mvcc::meta_key);
    let (rs, re) = txn::range::record_span(&d.start, d.end.as_deref());
    let (is, ie) = desc::range_id_span(d.range_id);
    vec![(start, end), (rs, Some(re)), (is, Some(ie))]
}

/// Produces snapshots from the store's engine.
pub struct Snapshots(pub Weak<Store>);

impl SnapshotSource for Snapshots {
    fn snapshot_data(&self, range: RangeId) -> Result<Vec<u8>, String> {
        self.snapshot_data_to(range, 0)
    }

    /// A header standing for the range's data, which is spilled and streamed in chunks
    /// (store/snapshot.rs).
    fn snapshot_data_to(&self, range: RangeId, to: u64) -> Result<Vec<u8>, String> {
        let store = self.0.upgrade().ok_or("store stopped")?;
        store.build_snapshot(range, to)
    }
}

/// The state machine for one iteration of the Raft thread.
pub struct Applier<'a> {
    pub(super) store: &'a Arc<Store>,
    pending: &'a mut HashMap<(RangeId, u64), u64>,
    /// Descriptor and lease per range as of the commands staged so far.
    view: HashMap<RangeId, (Option<RangeDescriptor>, Lease)>,
    effects: Vec<Effect>,
    pub(super) post: Vec<PostAction>,
    /// Ranges whose replica stopped applying in this iteration (`merge_apply.rs`).
    pub(super) stalled: HashSet<RangeId>,
}

impl<'a> Applier<'a> {
    /// An applier for one iteration.
    pub fn new(store: &'a Arc<Store>, pending: &'a mut HashMap<(RangeId, u64), u64>) -> Self {
        Applier {
            store,
            pending,
            view: HashMap::new(),
            effects: Vec::new(),
            post: Vec::new(),
            stalled: HashSet::new(),
        }
    }

    /// The actions for the Raft thread.
    pub fn finish(self) -> Vec<PostAction> {
        self.post
    }

    pub(super) fn view(&mut self, range: RangeId) -> &mut (Option<RangeDescriptor>, Lease) {
        let store = self.store;
        self.view
            .entry(range)
            .or_insert_with(|| match store.replica(range) {
                Some(r) => {
                    let st = r.state.lock();
                    (st.desc.clone(), st.lease.clone())
                }
                None => (None, Lease::default()),
            })
    }

    pub(super) fn reply(&mut self, id: (kv::NodeId, u64), r: Result<(), txn::Error>) {
        if id.0 == self.store.node_id {
            self.effects.push(Effect::Reply(id.1, r));
        }
    }

    pub(super) fn state_effect(&mut self, range: RangeId) {
        let (desc, lease) = self.view(range).clone();
        self.effects.push(Effect::State { range, desc, lease });
    }

    fn apply_command(&mut self, range: RangeId, cmd: Command, batch: &mut WriteBatch) {
        let id = cmd.id();
        match cmd {
            Command::Write {
                lease_seq,
                generation,
                ops,
                ..
            } => {
                let (d, lease) = self.view(range).clone();
                let r = if lease.seq != lease_seq {
                    Err(txn::Error::NotLeaseholder {
                        leaseholder: Some(lease.holder).filter(|n| n.0 != 0),
                    })
                } else if d.as_ref().map(|d| d.generation) != Some(generation) {
                    Err(txn::Error::RangeKeyMismatch(format!(
                        "{range} changed while the write was replicated"
                    )))
                } else {
                    let bytes: usize = ops
                        .iter()
                        .map(|(k, v)| k.len() + v.as_ref().map_or(0, |v| v.len()))
                        .sum();
                    batch.ops.extend(ops);
                    self.effects.push(Effect::Written(range, bytes as u64));
                    Ok(())
                };
                self.reply(id, r);
            }
            Command::Lease {
                prev_seq,
                mut lease,
                ..
            } => {
                let cur = self.view(range).1.clone();
                let same_holder = lease.holder == cur.holder;
                let ok = prev_seq == cur.seq
                    && (cur.holder.0 == 0
                        || (same_holder && lease.expiration > cur.expiration)
                        || lease.start > cur.expiration
                        || id.0 == cur.holder);
                let r = if ok {
                    lease.seq = if same_holder { cur.seq } else { cur.seq + 1 };
                    batch.put(desc::lease_key(range), desc::encode(&lease));
                    self.view(range).1 = lease;
                    self.state_effect(range);
                    Ok(())
                } else {
                    Err(txn::Error::NotLeaseholder {
                        leaseholder: Some(cur.holder).filter(|n| n.0 != 0),
                    })
                };
                self.reply(id, r);
            }
            Command::Split {
                generation,
                key,
                new_range,
                ..
            } => {
                let r = self.apply_split(range, generation, key, new_range, batch);
                self.reply(id, r);
            }
            Command::Freeze {
                lease_seq,
                generation,
                lhs,
                ..
            } => {
                let r = self.apply_freeze(range, lease_seq, generation, lhs, batch);
                self.reply(id, r);
            }
            Command::Unfreeze { lease, .. } => {
                let r = self.apply_unfreeze(range, lease, batch);
                self.reply(id, r);
            }
            Command::Merge {
                lease_seq,
                generation,
                rhs,
                gc_threshold,
                ..
            } => {
                let r = self.apply_merge(range, lease_seq, generation, rhs, gc_threshold, batch);
                self.reply(id, r);
            }
            Command::FenceMerge { generation, .. } => {
                let r = self.apply_fence(range, generation, batch);
                self.reply(id, r);
            }
        }
    }

    fn apply_split(
        &mut self,
        range: RangeId,
        generation: u64,
        key: Vec<u8>,
        new_range: RangeId,
        batch: &mut WriteBatch,
    ) -> Result<(), txn::Error> {
        let (d, lease) = self.view(range).clone();
        let Some(d) = d else {
            return Err(txn::Error::Internal(
                "split of an uninitialised range".into(),
            ));
        };
        if lease.is_frozen() {
            return Err(txn::Error::RangeKeyMismatch(format!(
                "{range} is frozen for a merge"
            )));
        }
        if d.generation != generation || !d.contains(&key) || key == d.start {
            return Err(txn::Error::RangeKeyMismatch(format!(
                "{range} changed before the split at {key:?} applied"
            )));
        }
        let mut lhs = d.clone();
        lhs.end = Some(key.clone());
        lhs.generation += 1;
        let rhs = RangeDescriptor {
            range_id: new_range,
            start: key,
            end: d.end.clone(),
            replicas: d.replicas.clone(),
            next_replica_id: d.next_replica_id,
            generation: lhs.generation,
        };
        batch.put(desc::desc_key(range), desc::encode(&lhs));
        let local = rhs.replica_on(self.store.node_id).map(|r| r.replica_id);
        if let Some(replica) = local {
            Store::stage_new_range(batch, &rhs, &lease, replica);
        } else {
            batch.put(desc::desc_key(new_range), desc::encode(&rhs));
            batch.put(desc::lease_key(new_range), desc::encode(&lease));
        }
        if range == RangeId(1) {
            // Range 1 holds the meta records: update them in the same command.
            batch.delete(desc::meta_key(d.end.as_deref()));
            batch.put(desc::meta_key(lhs.end.as_deref()), desc::encode(&lhs));
            batch.put(desc::meta_key(rhs.end.as_deref()), desc::encode(&rhs));
        }
        self.view(range).0 = Some(lhs);
        self.state_effect(range);
        if let Some(replica) = local {
            self.post.push(PostAction::CreateGroup {
                parent: range,
                desc: rhs,
                replica,
            });
        }
        Ok(())
    }

    fn apply_conf_change(
        &mut self,
        range: RangeId,
        context: &[u8],
        conf: &ConfState,
        batch: &mut WriteBatch,
    ) {
        let new_desc = if context.is_empty() {
            // Leaving a joint configuration (proposed by raft-rs or by whichever replica
            // leads): the final descriptor follows from the configuration left in.
            let Some(d) = self.view(range).0.clone() else {
                tracing::error!(range = %range, "left a joint configuration without a descriptor");
                return;
            };
            left_joint(&d, conf)
        } else {
            let Ok(d) = desc::decode::<RangeDescriptor>(context) else {
                tracing::error!(range = %range, "membership change without a descriptor");
                return;
            };
            d
        };
        batch.put(desc::desc_key(range), desc::encode(&new_desc));
        let removed = new_desc.replica_on(self.store.node_id).is_none();
        self.view(range).0 = Some(new_desc);
        self.state_effect(range);
        if removed {
            if let Some(d) = self.view(range).0.clone() {
                clear_spans(&d, batch);
                // No stray message may re-create the removed replica (store/replica_gc.rs).
                self.store
                    .stage_replica_tombstone(batch, range, d.next_replica_id);
            }
            batch.delete(desc::replica_list_key(range));
            self.post.push(PostAction::Destroy(range));
        }
    }
}

/// The descriptor after leaving a joint configuration: replicas that are voters of `conf`
/// stay voters, its learners (demoted voters among them) are non-voters, the rest (the
/// removed outgoing voters) are gone. Deterministic: every replica derives the same.
pub fn left_joint(d: &RangeDescriptor, conf: &ConfState) -> RangeDescriptor {
    let mut new = d.clone();
    new.replicas.retain(|r| {
        let id = r.replica_id.0;
        conf.voters.contains(&id) || conf.learners.contains(&id)
    });
    for r in &mut new.replicas {
        r.kind = if conf.voters.contains(&r.replica_id.0) {
            ReplicaKind::Voter
        } else {
            ReplicaKind::NonVoter
        };
    }
    new.generation += 1;
    new
}

/// Stages deletion of every key of a range's replicated data: one range deletion per span,
/// so its cost does not depend on the range's size. It also deletes keys of the spans staged
/// earlier in `batch` (commands applied before it in this iteration); later ones survive.
fn clear_spans(d: &RangeDescriptor, batch: &mut WriteBatch) {
    for (s, e) in data_spans(d) {
        batch.delete_range(s, e);
    }
}

impl StateMachine for Applier<'_> {
    fn apply(&mut self, range: RangeId, entry: Applied<'_>, batch: &mut WriteBatch) {
        let index = match &entry {
            Applied::Normal { index, .. } | Applied::ConfChange { index, .. } => *index,
        };
        if self.stalled.contains(&range) {
            // Nothing applies after a merge this replica could not apply (merge_apply.rs);
            // its proposers hear so at once.
            if let Some(pid) = self.pending.remove(&(range, index)) {
                let err = txn::Error::NotLeaseholder { leaseholder: None };
                self.effects.push(Effect::Reply(pid, Err(err)));
            }
            return;
        }
        self.effects.push(Effect::Applied(range, index));
        match entry {
            Applied::Normal { index, data, .. } => {
                let cmd = if data.is_empty() {
                    None
                } else {
                    match desc::decode::<Command>(data) {
                        Ok(c) => Some(c),
                        Err(e) => {
                            tracing::error!(range = %range, index, error = %e, "undecodable command skipped");
                            None
                        }
                    }
                };
                if let Some(pid) = self.pending.remove(&(range, index)) {
                    let ours = cmd
                        .as_ref()
                        .is_some_and(|c| c.id() == (self.store.node_id, pid));
                    if !ours {
                        // Another entry took our proposal's place: it was never applied.
                        self.effects.push(Effect::Reply(
                            pid,
                            Err(txn::Error::NotLeaseholder { leaseholder: None }),
                        ));
                    }
                }
                if let Some(cmd) = cmd {
                    self.apply_command(range, cmd, batch);
                }
            }
            Applied::ConfChange {
                index,
                context,
                conf_state,
            } => {
                if let Some(pid) = self.pending.remove(&(range, index)) {
                    self.effects.push(Effect::Reply(pid, Ok(())));
                }
                self.apply_conf_change(range, context, conf_state, batch);
            }
        }
    }

    fn apply_snapshot(&mut self, range: RangeId, snap: &Snapshot, batch: &mut WriteBatch) {
        let data = match super::snapshot::decode_header(snap.get_data()) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(range = %range, error = %e, "undecodable snapshot");
                return;
            }
        };
        if self.stalled.contains(&range) {
            return;
        }
        if let Some(old) = self.view(range).0.clone() {
            clear_spans(&old, batch);
        }
        // A frozen right-hand replica this merged range subsumed goes with the snapshot
        // (merge_apply.rs; raftloop.rs accepted the snapshot only over such replicas).
        for rep in self.store.replicas() {
            let overlaps = rep.range_id != range
                && self
                    .view(rep.range_id)
                    .0
                    .as_ref()
                    .is_some_and(|d| d.overlaps(&data.desc));
            if !overlaps {
                continue;
            }
            if !merge_apply::subsumed_by(self.store, &rep, &data.desc) {
                tracing::error!(range = %range, other = %rep.range_id, "snapshot overlaps a replica it does not subsume");
                continue;
            }
            merge_apply::stage_subsumed(batch, rep.range_id, range);
            *self.view(rep.range_id) = (None, Lease::default());
            self.post.push(PostAction::Destroy(rep.range_id));
        }
        batch.delete(desc::needs_snapshot_key(range));
        clear_spans(&data.desc, batch);
        if let Err(e) = self.store.stage_received_snapshot(range, &data, batch) {
            tracing::error!(range = %range, error = %e, "snapshot data incomplete");
        }
        *self.view(range) = (Some(data.desc), data.lease);
        self.state_effect(range);
        let index = snap.get_metadata().index;
        self.effects.push(Effect::Applied(range, index));
    }

    fn applied_written(&mut self) {
        for e in std::mem::take(&mut self.effects) {
            match e {
                Effect::Reply(pid, r) => {
                    if let Some(w) = self.store.waiters.lock().remove(&pid) {
                        let _ = w.reply.try_send(r);
                    }
                }
                Effect::State { range, desc, lease } => {
                    if let Some(rep) = self.store.replica(range) {
                        self.store.install_state(&rep, desc, lease);
                    }
                }
                Effect::Written(range, bytes) => {
                    if let Some(rep) = self.store.replica(range) {
                        rep.state.lock().written_bytes += bytes;
                    }
                }
                Effect::Applied(range, index) => {
                    if let Some(rep) = self.store.replica(range) {
                        rep.state.lock().applied_index = index;
                    }
                }
            }
        }
        self.view.clear();
    }

    fn leader_changed(&mut self, range: RangeId, leader: u64, is_leader: bool) {
        if let Some(rep) = self.store.replica(range) {
            rep.state.lock().leader = (leader, is_leader);
        }
    }
}

impl Replica {
    /// Whether this replica has a descriptor (initialised by bootstrap, split or snapshot).
    pub fn initialized(&self) -> bool {
        self.state.lock().desc.is_some()
    }
}
