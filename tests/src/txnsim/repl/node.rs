//! One simulated node of the replicated world: its disk, its MVCC view of it, its Raft groups
//! (the replication crate's [`MultiRaft`], as the cluster's store runs it) and the replicated
//! state machine that applies the range objects' write batches.
//!
//! Commands ([`Cmd`]) are what the cluster's `Command` is for these ranges, in a small binary
//! form: a `Write` carries a range object's batch and the lease sequence it was evaluated
//! under; a `Lease` moves the lease. Apply is deterministic and checks the lease sequence the
//! same way on every replica (cluster/src/store/apply.rs): a write evaluated under an older
//! lease is rejected everywhere, its proposer told NotLeaseholder.
//!
//! Replicated per-range state ([`RangeState`]: span, lease) is stored under a local key in the
//! same batch as the applied commands, so a restart finds it as of the applied index. The
//! local replica id is stored (synced) when a replica is created.

use super::disk::SimDisk;
use kv::engine::{Engine, Visit, WriteBatch};
use kv::keys::{LOCAL_PREFIX, META_PREFIX};
use kv::mvcc::Mvcc;
use kv::RangeId;
use replication::raft::prelude::{ConfState, Snapshot};
use replication::{Applied, LogStore, MultiRaft, RaftConfig, SnapshotSource, StateMachine};
use std::collections::BTreeMap;
use std::sync::Arc;
use txn::range::latch::Span;

/// A replicated command.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cmd {
    /// A range object's evaluated writes.
    Write {
        /// Proposal id (unique in the run).
        id: u64,
        /// The node that proposed it (the one told the outcome).
        origin: usize,
        /// The lease sequence the batch was evaluated under.
        lease_seq: u64,
        /// The range generation (bumped by splits) it was evaluated under.
        generation: u64,
        /// The point writes.
        ops: Vec<kv::engine::BatchOp>,
    },
    /// A lease acquisition or transfer.
    Lease {
        id: u64,
        origin: usize,
        /// The lease sequence it replaces (refused when another lease came first).
        prev_seq: u64,
        /// The new holder.
        holder: usize,
        /// The holder's liveness epoch (a restart ends every lease of the node).
        epoch: u64,
    },
    /// A split at `key`: the range keeps the left side, `right` (a new range with the same
    /// replicas and lease) gets the rest.
    Split {
        id: u64,
        origin: usize,
        lease_seq: u64,
        generation: u64,
        key: Vec<u8>,
        right: u64,
    },
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

/// A cursor over encoded bytes; every read fails softly on truncated input.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = u32::from_be_bytes(self.take(4)?.try_into().ok()?) as usize;
        Some(self.take(n)?.to_vec())
    }
}

impl Cmd {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Cmd::Write {
                id,
                origin,
                lease_seq,
                generation,
                ops,
            } => {
                out.push(b'W');
                let head = [*id, *origin as u64, *lease_seq, *generation];
                for v in head.into_iter().chain([ops.len() as u64]) {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                for (k, v) in ops {
                    put_bytes(&mut out, k);
                    match v {
                        Some(v) => {
                            out.push(1);
                            put_bytes(&mut out, v);
                        }
                        None => out.push(0),
                    }
                }
            }
            Cmd::Lease {
                id,
                origin,
                prev_seq,
                holder,
                epoch,
            } => {
                out.push(b'L');
                for v in [*id, *origin as u64, *prev_seq, *holder as u64, *epoch] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            Cmd::Split {
                id,
                origin,
                lease_seq,
                generation,
                key,
                right,
            } => {
                out.push(b'S');
                for v in [*id, *origin as u64, *lease_seq, *generation, *right] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                put_bytes(&mut out, key);
            }
        }
        out
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Cmd> {
        let mut c = Cursor(b);
        match c.u8()? {
            b'W' => {
                let (id, origin, lease_seq) = (c.u64()?, c.u64()?, c.u64()?);
                let (generation, n) = (c.u64()?, c.u64()?);
                let mut ops = Vec::new();
                for _ in 0..n {
                    let k = c.bytes()?;
                    let v = match c.u8()? {
                        1 => Some(c.bytes()?),
                        _ => None,
                    };
                    ops.push((k, v));
                }
                Some(Cmd::Write {
                    id,
                    origin: origin as usize,
                    lease_seq,
                    generation,
                    ops,
                })
            }
            b'S' => Some(Cmd::Split {
                id: c.u64()?,
                origin: c.u64()? as usize,
                lease_seq: c.u64()?,
                generation: c.u64()?,
                right: c.u64()?,
                key: c.bytes()?,
            }),
            b'L' => Some(Cmd::Lease {
                id: c.u64()?,
                origin: c.u64()? as usize,
                prev_seq: c.u64()?,
                holder: c.u64()? as usize,
                epoch: c.u64()?,
            }),
            _ => None,
        }
    }
}

/// A range's replicated state besides its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RangeState {
    pub(crate) span: Span,
    /// Lease sequence (0: no lease yet).
    pub(crate) lease_seq: u64,
    /// Lease holder node.
    pub(crate) holder: usize,
    /// The holder's epoch when it got the lease.
    pub(crate) epoch: u64,
    /// Bumped by every split of the range.
    pub(crate) generation: u64,
}

impl RangeState {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_bytes(&mut out, &self.span.start);
        match &self.span.end {
            Some(e) => {
                out.push(1);
                put_bytes(&mut out, e);
            }
            None => out.push(0),
        }
        for v in [
            self.lease_seq,
            self.holder as u64,
            self.epoch,
            self.generation,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out
    }

    fn decode(c: &mut Cursor<'_>) -> Option<RangeState> {
        let start = c.bytes()?;
        let end = match c.u8()? {
            1 => Some(c.bytes()?),
            _ => None,
        };
        Some(RangeState {
            span: Span { start, end },
            lease_seq: c.u64()?,
            holder: c.u64()? as usize,
            epoch: c.u64()?,
            generation: c.u64()?,
        })
    }
}

fn local_key(tag: u8, range: RangeId) -> Vec<u8> {
    let mut k = vec![LOCAL_PREFIX, tag];
    k.extend_from_slice(&range.0.to_be_bytes());
    k
}

/// Key of a range's replicated [`RangeState`].
fn state_key(range: RangeId) -> Vec<u8> {
    local_key(b'z', range)
}

/// Key of the local replica id (unreplicated).
fn replica_key(range: RangeId) -> Vec<u8> {
    local_key(b'y', range)
}

/// The engine spans holding a range's replicated data: its MVCC keys and its transaction
/// records (with the GC threshold, stored under the records' prefix).
pub(crate) fn data_spans(span: &Span) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut start = kv::mvcc::meta_key(&span.start);
    if start.as_slice() < [META_PREFIX].as_slice() {
        start = vec![META_PREFIX];
    }
    let end = span.end.as_deref().map(kv::mvcc::meta_key);
    let (rs, re) = txn::range::record_span(&span.start, span.end.as_deref());
    vec![(start, end), (rs, Some(re))]
}

/// Every replicated entry of `span` in `engine`, with the range's state (for snapshots and
/// the replica-equality checker).
pub(crate) fn range_data(engine: &dyn Engine, span: &Span) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut kvs = Vec::new();
    for (s, e) in data_spans(span) {
        let _ = engine.scan(&s, e.as_deref(), &mut |k, v| {
            kvs.push((k.to_vec(), v.to_vec()));
            Visit::Continue
        });
    }
    kvs
}

/// Snapshots from a node's disk: the range's state and data as applied.
struct Snapshots(Arc<SimDisk>);

impl SnapshotSource for Snapshots {
    fn snapshot_data(&self, range: RangeId) -> Result<Vec<u8>, String> {
        let raw = self
            .0
            .get(&state_key(range))
            .map_err(|e| e.to_string())?
            .ok_or("no range state")?;
        let st = RangeState::decode(&mut Cursor(&raw)).ok_or("bad range state")?;
        let mut out = Vec::new();
        put_bytes(&mut out, &raw);
        for (k, v) in range_data(self.0.as_ref(), &st.span) {
            put_bytes(&mut out, &k);
            put_bytes(&mut out, &v);
        }
        Ok(out)
    }
}

/// The span a snapshot's payload covers (None when it does not decode).
pub(crate) fn snapshot_span(data: &[u8]) -> Option<Span> {
    let raw = Cursor(data).bytes()?;
    RangeState::decode(&mut Cursor(&raw)).map(|s| s.span)
}

fn overlaps(a: &Span, b: &Span) -> bool {
    let a_before_b = a.end.as_ref().is_some_and(|e| *e <= b.start);
    let b_before_a = b.end.as_ref().is_some_and(|e| *e <= a.start);
    !a_before_b && !b_before_a
}

/// A node of the replicated world.
pub(crate) struct Node {
    pub(crate) disk: Arc<SimDisk>,
    pub(crate) mvcc: Mvcc,
    /// The Raft groups (None while the node is down).
    pub(crate) raft: Option<MultiRaft>,
    /// Applied range state (rebuilt from the disk on restart).
    pub(crate) states: BTreeMap<RangeId, RangeState>,
    /// The local replica id of each range with a replica here.
    pub(crate) rids: BTreeMap<RangeId, u64>,
    /// Outcomes of commands this node proposed, by id.
    pub(crate) replies: BTreeMap<u64, txn::Result<()>>,
    /// Liveness epoch: bumped by every restart.
    pub(crate) epoch: u64,
    /// Apply problems (undecodable commands, snapshots): reported as violations.
    pub(crate) problems: Vec<String>,
    /// Splits applied by the last iteration whose right-hand replica must be created:
    /// (left, right, proposer).
    pub(crate) splits: Vec<(RangeId, RangeId, usize)>,
    cfg: RaftConfig,
}

impl Node {
    /// A fresh node with nothing on its disk.
    pub(crate) fn new(cfg: RaftConfig) -> Node {
        let disk = Arc::new(SimDisk::new());
        let engine: Arc<dyn Engine> = disk.clone();
        Node {
            mvcc: Mvcc::new(engine.clone()),
            raft: Some(MultiRaft::new(engine, cfg.clone())),
            disk,
            states: BTreeMap::new(),
            rids: BTreeMap::new(),
            replies: BTreeMap::new(),
            epoch: 1,
            problems: Vec::new(),
            splits: Vec::new(),
            cfg,
        }
    }

    /// Creates a replica of `range` (id `rid`) with initial state `st` and members `voters`.
    pub(crate) fn create_replica(
        &mut self,
        range: RangeId,
        rid: u64,
        st: &RangeState,
        voters: &[u64],
    ) -> Result<(), String> {
        let mut b = WriteBatch::new();
        b.put(replica_key(range), rid.to_be_bytes().to_vec());
        b.put(state_key(range), st.encode());
        self.disk.write(b, true).map_err(|e| e.to_string())?;
        self.states.insert(range, st.clone());
        self.rids.insert(range, rid);
        let store = self.log_store(range)?;
        let conf = ConfState {
            voters: voters.to_vec(),
            ..ConfState::default()
        };
        let raft = self.raft.as_mut().ok_or("node down")?;
        raft.create_group(range, rid, store, 5, 5, conf)
            .map_err(|e| e.to_string())
    }

    /// Creates an empty replica of `range` (id `rid`) that a snapshot will fill: a learner
    /// being added.
    pub(crate) fn create_learner(&mut self, range: RangeId, rid: u64) -> Result<(), String> {
        let mut b = WriteBatch::new();
        b.put(replica_key(range), rid.to_be_bytes().to_vec());
        self.disk.write(b, true).map_err(|e| e.to_string())?;
        self.rids.insert(range, rid);
        let store = self.log_store(range)?;
        let raft = self.raft.as_mut().ok_or("node down")?;
        raft.add_group(range, rid, store).map_err(|e| e.to_string())
    }

    /// Destroys the local replica of `range`: its group, Raft state, range state and data.
    pub(crate) fn destroy_replica(&mut self, range: RangeId) -> Result<(), String> {
        if let Some(raft) = self.raft.as_mut() {
            raft.destroy_group(range).map_err(|e| e.to_string())?;
        }
        let mut b = WriteBatch::new();
        if let Some(st) = self.states.remove(&range) {
            for (s, e) in data_spans(&st.span) {
                b.delete_range(s, e);
            }
        }
        b.delete(state_key(range));
        b.delete(replica_key(range));
        self.rids.remove(&range);
        self.disk.write(b, true).map_err(|e| e.to_string())
    }

    fn log_store(&self, range: RangeId) -> Result<LogStore, String> {
        LogStore::open(self.disk.as_ref(), range, self.snapshots()).map_err(|e| e.to_string())
    }

    /// The snapshot source of this node's replicas.
    pub(crate) fn snapshots(&self) -> Arc<dyn SnapshotSource> {
        Arc::new(Snapshots(self.disk.clone()))
    }

    /// Whether a snapshot of `range` covering `span` must be refused: another replica here
    /// still holds part of that span (the left side has not applied the split that created
    /// `range`; its later commands would overwrite the snapshot's newer data), as the
    /// cluster refuses it.
    pub(crate) fn snapshot_overlaps(&self, range: RangeId, span: &Span) -> bool {
        self.states
            .iter()
            .any(|(r, st)| *r != range && overlaps(&st.span, span))
    }

    /// A crash: the groups and in-memory state are gone, the disk keeps its first `keep`
    /// unsynced writes. Returns how many writes were lost.
    pub(crate) fn crash(&mut self, keep: usize) -> usize {
        self.raft = None;
        self.states.clear();
        self.rids.clear();
        self.replies.clear();
        self.disk.crash(keep)
    }

    /// A restart: reopens every replica found on the disk with a new epoch.
    pub(crate) fn restart(&mut self) -> Result<(), String> {
        let engine: Arc<dyn Engine> = self.disk.clone();
        let mut raft = MultiRaft::new(engine, self.cfg.clone());
        self.epoch += 1;
        let mut found = Vec::new();
        let lo = vec![LOCAL_PREFIX, b'y'];
        let hi = vec![LOCAL_PREFIX, b'y' + 1];
        let _ = self.disk.scan(&lo, Some(&hi), &mut |k, v| {
            found.push((k.to_vec(), v.to_vec()));
            Visit::Continue
        });
        for (k, v) in found {
            let range = Cursor(&k[2..]).u64().ok_or("bad replica key")?;
            let rid = Cursor(&v).u64().ok_or("bad replica id")?;
            let range = RangeId(range);
            // A learner that never received its snapshot has no state yet.
            if let Some(raw) = self
                .disk
                .get(&state_key(range))
                .map_err(|e| e.to_string())?
            {
                let st = RangeState::decode(&mut Cursor(&raw)).ok_or("bad range state")?;
                self.states.insert(range, st);
            }
            self.rids.insert(range, rid);
            raft.add_group(range, rid, self.log_store(range)?)
                .map_err(|e| e.to_string())?;
        }
        self.raft = Some(raft);
        Ok(())
    }

    /// One iteration of the node's Raft loop; returns the messages to send.
    pub(crate) fn process(
        &mut self,
        node: usize,
    ) -> Vec<(RangeId, replication::raft::prelude::Message)> {
        let Some(raft) = self.raft.as_mut() else {
            return Vec::new();
        };
        let mut sm = Sm {
            node,
            states: &mut self.states,
            rids: &self.rids,
            replies: &mut self.replies,
            problems: &mut self.problems,
            splits: &mut self.splits,
        };
        match raft.process(&mut sm) {
            Ok(out) => out,
            Err(e) => {
                self.problems
                    .push(format!("node {node}: raft process failed: {e}"));
                Vec::new()
            }
        }
    }
}

/// The replicated state machine of one node for one iteration.
struct Sm<'a> {
    node: usize,
    states: &'a mut BTreeMap<RangeId, RangeState>,
    rids: &'a BTreeMap<RangeId, u64>,
    replies: &'a mut BTreeMap<u64, txn::Result<()>>,
    problems: &'a mut Vec<String>,
    splits: &'a mut Vec<(RangeId, RangeId, usize)>,
}

impl Sm<'_> {
    fn apply_cmd(&mut self, range: RangeId, data: &[u8], batch: &mut WriteBatch) {
        let Some(cmd) = Cmd::decode(data) else {
            self.problems.push(format!(
                "node {}: undecodable command in {range}",
                self.node
            ));
            return;
        };
        let Some(st) = self.states.get_mut(&range) else {
            self.problems
                .push(format!("node {}: command for unknown {range}", self.node));
            return;
        };
        let refused = |st: &RangeState| txn::Error::NotLeaseholder {
            leaseholder: Some(kv::NodeId(st.holder as u64 + 1)),
        };
        let changed = |range: RangeId| {
            txn::Error::RangeKeyMismatch(format!("{range} changed while the write was replicated"))
        };
        let (id, origin, r) = match cmd {
            Cmd::Write {
                id,
                origin,
                lease_seq,
                generation,
                ops,
            } => {
                let r = if lease_seq != st.lease_seq {
                    Err(refused(st))
                } else if generation != st.generation {
                    Err(changed(range))
                } else {
                    batch.ops.extend(ops);
                    Ok(())
                };
                (id, origin, r)
            }
            Cmd::Split {
                id,
                origin,
                lease_seq,
                generation,
                key,
                right,
            } => {
                let inside = key > st.span.start && st.span.end.as_ref().is_none_or(|e| key < *e);
                let r = if lease_seq != st.lease_seq {
                    Err(refused(st))
                } else if generation != st.generation || !inside {
                    Err(changed(range))
                } else {
                    let rs = RangeState {
                        span: Span {
                            start: key.clone(),
                            end: st.span.end.take(),
                        },
                        generation: 0,
                        ..st.clone()
                    };
                    st.span.end = Some(key);
                    st.generation += 1;
                    batch.put(state_key(range), st.encode());
                    let right = RangeId(right);
                    // A right-hand replica created meanwhile (by a message from its group)
                    // gets its state from a snapshot instead.
                    if let (None, Some(&rid)) = (self.rids.get(&right), self.rids.get(&range)) {
                        batch.put(state_key(right), rs.encode());
                        batch.put(replica_key(right), rid.to_be_bytes().to_vec());
                        self.states.insert(right, rs);
                        self.splits.push((range, right, origin));
                    }
                    Ok(())
                };
                (id, origin, r)
            }
            Cmd::Lease {
                id,
                origin,
                prev_seq,
                holder,
                epoch,
            } => {
                let r = if prev_seq == st.lease_seq {
                    st.lease_seq += 1;
                    st.holder = holder;
                    st.epoch = epoch;
                    batch.put(state_key(range), st.encode());
                    Ok(())
                } else {
                    Err(refused(st))
                };
                (id, origin, r)
            }
        };
        if origin == self.node {
            self.replies.insert(id, r);
        }
    }
}

impl StateMachine for Sm<'_> {
    fn apply(&mut self, range: RangeId, entry: Applied<'_>, batch: &mut WriteBatch) {
        match entry {
            Applied::Normal { data, .. } if !data.is_empty() => self.apply_cmd(range, data, batch),
            _ => {}
        }
    }

    fn apply_snapshot(&mut self, range: RangeId, snap: &Snapshot, batch: &mut WriteBatch) {
        let mut c = Cursor(snap.get_data());
        let parsed = c.bytes().and_then(|raw| {
            let st = RangeState::decode(&mut Cursor(&raw))?;
            let mut kvs = Vec::new();
            while !c.0.is_empty() {
                kvs.push((c.bytes()?, c.bytes()?));
            }
            Some((raw, st, kvs))
        });
        let Some((raw, st, kvs)) = parsed else {
            self.problems.push(format!(
                "node {}: undecodable snapshot of {range}",
                self.node
            ));
            return;
        };
        // Only the snapshot's own span: the rest of an older, wider span (before a split the
        // snapshot is past) may belong to the right-hand replica here.
        for (s, e) in data_spans(&st.span) {
            batch.delete_range(s, e);
        }
        for (k, v) in kvs {
            batch.put(k, v);
        }
        batch.put(state_key(range), raw);
        self.states.insert(range, st);
    }

    fn applied_written(&mut self) {}

    fn leader_changed(&mut self, _range: RangeId, _leader: u64, _is_leader: bool) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_and_truncation_fails_softly() {
        let w = Cmd::Write {
            id: 7,
            origin: 2,
            lease_seq: 3,
            generation: 2,
            ops: vec![(b"a".to_vec(), Some(b"x".to_vec())), (b"b".to_vec(), None)],
        };
        let raw = w.encode();
        assert_eq!(Cmd::decode(&raw), Some(w));
        assert_eq!(Cmd::decode(&raw[..raw.len() - 1]), None);
        let l = Cmd::Lease {
            id: 1,
            origin: 0,
            prev_seq: 4,
            holder: 1,
            epoch: 2,
        };
        assert_eq!(Cmd::decode(&l.encode()), Some(l));
        let s = Cmd::Split {
            id: 2,
            origin: 1,
            lease_seq: 4,
            generation: 0,
            key: b"k005".to_vec(),
            right: 9,
        };
        assert_eq!(Cmd::decode(&s.encode()), Some(s));
    }
}
