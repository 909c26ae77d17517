//! One simulated store: a `MultiRaft` over its own `MemoryEngine`, with a small replicated
//! key-value state machine per range.
//!
//! The state machine keeps everything it owns in the engine, written in the same batch as the
//! Raft applied index, so a crash (drop of this value) followed by [`SimNode::open`] over the
//! same engine restarts from exactly what was applied:
//!
//! ```text
//! 'd' <range u64 BE> 'k' <key>         value (the 8-byte id of the put that wrote it)
//! 'd' <range u64 BE> 'o' <op id BE>    marker: this put was applied (dedup of client retries)
//! 'd' <range u64 BE> 'c'               applied index (8) + hash chain of applied entries (8)
//! 'n' <range u64 BE> 'r'               this store's replica id of the range (node-local)
//! 'n' <range u64 BE> 't'               tombstone: highest replica id removed here (node-local)
//! ```
//!
//! The `'d'` rows are the range's replicated data: snapshots carry exactly them, and the final
//! check compares them across replicas. The hash chain covers every applied entry (index, type,
//! data), so two replicas with equal chains applied the same sequence.
//!
//! Reads go through the log: a read command applied at index i returns the value as of i.

use super::{fnv, Violations};
use kv::engine::{Engine, MemoryEngine, Visit, WriteBatch};
use kv::RangeId;
use raft::prelude::{ConfState, Message, MessageType, Snapshot};
use replication::{Applied, LogStore, MultiRaft, RaftConfig, SnapshotSource, StateMachine};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A node id (1-based).
pub type NodeId = u64;

/// The raft log index every range starts after (what `create_group` is given at bootstrap).
pub const INITIAL_INDEX: u64 = 5;

/// A client command, encoded into a Raft entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// Write `value` to `key`; `op` identifies the client operation (retries reuse it).
    Put { op: u64, key: u16, value: u64 },
    /// Read `key`; `op` identifies this attempt.
    Read { op: u64, key: u16 },
}

impl Cmd {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(19);
        match self {
            Cmd::Put { op, key, value } => {
                v.push(b'P');
                v.extend_from_slice(&op.to_be_bytes());
                v.extend_from_slice(&key.to_be_bytes());
                v.extend_from_slice(&value.to_be_bytes());
            }
            Cmd::Read { op, key } => {
                v.push(b'R');
                v.extend_from_slice(&op.to_be_bytes());
                v.extend_from_slice(&key.to_be_bytes());
            }
        }
        v
    }

    pub fn decode(b: &[u8]) -> Option<Cmd> {
        let op = u64::from_be_bytes(b.get(1..9)?.try_into().ok()?);
        let key = u16::from_be_bytes(b.get(9..11)?.try_into().ok()?);
        match b.first()? {
            b'P' => {
                let value = u64::from_be_bytes(b.get(11..19)?.try_into().ok()?);
                Some(Cmd::Put { op, key, value })
            }
            b'R' => Some(Cmd::Read { op, key }),
            _ => None,
        }
    }
}

/// The replicated state of one range on one replica (mirrors its `'d'` rows).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeData {
    pub kv: BTreeMap<u16, u64>,
    pub ops: BTreeSet<u64>,
    pub applied: u64,
    pub chain: u64,
}

fn data_prefix(range: RangeId) -> Vec<u8> {
    let mut k = vec![b'd'];
    k.extend_from_slice(&range.0.to_be_bytes());
    k
}

fn sub_key(prefix: &[u8], tag: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.push(tag);
    k.extend_from_slice(rest);
    k
}

fn local_key(range: RangeId, tag: u8) -> Vec<u8> {
    let mut k = vec![b'n'];
    k.extend_from_slice(&range.0.to_be_bytes());
    k.push(tag);
    k
}

fn u64_of(v: &[u8]) -> u64 {
    v.get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(u64::MAX)
}

/// Loads a range's data rows from the engine.
pub fn load_range(engine: &dyn Engine, range: RangeId) -> RangeData {
    let p = data_prefix(range);
    let end = kv::keys::prefix_end(&p);
    let mut d = RangeData::default();
    engine
        .scan(&p, end.as_deref(), &mut |k, v| {
            match k.get(p.len()) {
                Some(b'k') => {
                    let key = u16::from_be_bytes([k[p.len() + 1], k[p.len() + 2]]);
                    d.kv.insert(key, u64_of(v));
                }
                Some(b'o') => {
                    d.ops.insert(u64_of(&k[p.len() + 1..]));
                }
                Some(b'c') => {
                    d.applied = u64_of(v);
                    d.chain = u64_of(&v[8..]);
                }
                _ => {}
            }
            Visit::Continue
        })
        .expect("memory engine scan");
    d
}

fn stage_rows(batch: &mut WriteBatch, range: RangeId, d: &RangeData) {
    let p = data_prefix(range);
    for (k, v) in &d.kv {
        batch.put(
            sub_key(&p, b'k', &k.to_be_bytes()),
            v.to_be_bytes().to_vec(),
        );
    }
    for op in &d.ops {
        batch.put(sub_key(&p, b'o', &op.to_be_bytes()), Vec::new());
    }
    stage_applied(batch, range, d);
}

fn stage_applied(batch: &mut WriteBatch, range: RangeId, d: &RangeData) {
    let mut v = d.applied.to_be_bytes().to_vec();
    v.extend_from_slice(&d.chain.to_be_bytes());
    batch.put(sub_key(&data_prefix(range), b'c', &[]), v);
}

fn stage_clear(batch: &mut WriteBatch, range: RangeId, d: &RangeData) {
    let p = data_prefix(range);
    for k in d.kv.keys() {
        batch.delete(sub_key(&p, b'k', &k.to_be_bytes()));
    }
    for op in &d.ops {
        batch.delete(sub_key(&p, b'o', &op.to_be_bytes()));
    }
    batch.delete(sub_key(&p, b'c', &[]));
}

/// A snapshot's content: (key, value) pairs, applied op ids, applied index, hash chain.
type SnapshotRows = (Vec<(u16, u64)>, Vec<u64>, u64, u64);

/// Snapshot data: the range's rows, read from the engine (what has been written, which is
/// what the Raft applied index the snapshot is labelled with covers).
struct Snapshots {
    engine: Arc<dyn Engine>,
}

impl SnapshotSource for Snapshots {
    fn snapshot_data(&self, range: RangeId) -> Result<Vec<u8>, String> {
        let d = load_range(self.engine.as_ref(), range);
        let rows: SnapshotRows = (
            d.kv.into_iter().collect(),
            d.ops.into_iter().collect(),
            d.applied,
            d.chain,
        );
        postcard::to_allocvec(&rows).map_err(|e| e.to_string())
    }
}

/// A reply to a client: the op id and, for a read, the value it saw.
#[derive(Debug, Clone)]
pub struct Reply {
    pub op: u64,
    pub read: Option<Option<u64>>,
}

/// A membership change applied on this node.
#[derive(Debug, Clone)]
pub struct ConfApplied {
    pub range: RangeId,
    pub index: u64,
    /// Voters of either half of a joint configuration.
    pub voters: Vec<u64>,
    /// Learners, including voters being demoted to learners when the joint config is left.
    pub learners: Vec<u64>,
    /// The configuration is joint.
    pub joint: bool,
}

/// The sorted union of two id lists.
fn union(a: &[u64], b: &[u64]) -> Vec<u64> {
    let all: std::collections::BTreeSet<u64> = a.iter().chain(b).copied().collect();
    all.into_iter().collect()
}

/// The state machine of one node: every range's data, mirrored in memory.
pub struct KvSm {
    pub node: NodeId,
    pub ranges: BTreeMap<RangeId, RangeData>,
    /// Op ids proposed through this node whose client waits for the apply here.
    pub waiting: BTreeSet<u64>,
    pub replies: Vec<Reply>,
    pub confs: Vec<ConfApplied>,
    /// (range, index, chain) of every applied entry, for the trace.
    pub applied_log: Vec<(RangeId, u64, u64)>,
    pub violations: Violations,
}

impl KvSm {
    fn chain_step(&mut self, range: RangeId, index: u64, tag: u8, data: &[u8]) -> &mut RangeData {
        let node = self.node;
        let d = self.ranges.entry(range).or_default();
        if index != d.applied + 1 {
            self.violations.push(format!(
                "n{node} {range}: applied index {index} after {} (gap or re-application)",
                d.applied
            ));
        }
        d.applied = index;
        d.chain = fnv(d.chain, &[&index.to_be_bytes(), &[tag], data]);
        self.applied_log.push((range, index, d.chain));
        self.ranges.get_mut(&range).expect("just inserted")
    }

    fn apply_cmd(&mut self, range: RangeId, index: u64, data: &[u8], batch: &mut WriteBatch) {
        let d = self.chain_step(range, index, b'N', data);
        let mut reply = None;
        if !data.is_empty() {
            match Cmd::decode(data) {
                Some(Cmd::Put { op, key, value }) => {
                    if d.ops.insert(op) {
                        d.kv.insert(key, value);
                        let p = data_prefix(range);
                        batch.put(
                            sub_key(&p, b'k', &key.to_be_bytes()),
                            value.to_be_bytes().to_vec(),
                        );
                        batch.put(sub_key(&p, b'o', &op.to_be_bytes()), Vec::new());
                    }
                    reply = Some(Reply { op, read: None });
                }
                Some(Cmd::Read { op, key }) => {
                    reply = Some(Reply {
                        op,
                        read: Some(d.kv.get(&key).copied()),
                    });
                }
                None => {}
            }
        }
        let d = &self.ranges[&range];
        stage_applied(batch, range, d);
        if let Some(r) = reply {
            if self.waiting.remove(&r.op) {
                self.replies.push(r);
            }
        }
    }
}

impl StateMachine for KvSm {
    fn apply(&mut self, range: RangeId, entry: Applied<'_>, batch: &mut WriteBatch) {
        match entry {
            Applied::Normal { index, data, .. } => self.apply_cmd(range, index, data, batch),
            Applied::ConfChange {
                index,
                context,
                conf_state,
            } => {
                let d = self.chain_step(range, index, b'C', context);
                let d = d.clone();
                stage_applied(batch, range, &d);
                self.confs.push(ConfApplied {
                    range,
                    index,
                    voters: union(&conf_state.voters, &conf_state.voters_outgoing),
                    learners: union(&conf_state.learners, &conf_state.learners_next),
                    joint: replication::joint::is_joint(conf_state),
                });
            }
        }
    }

    fn apply_snapshot(&mut self, range: RangeId, snap: &Snapshot, batch: &mut WriteBatch) {
        let node = self.node;
        let decoded: Result<SnapshotRows, _> = postcard::from_bytes(snap.get_data());
        let Ok((kv, ops, applied, chain)) = decoded else {
            self.violations
                .push(format!("n{node} {range}: undecodable snapshot"));
            return;
        };
        let index = snap.get_metadata().index;
        if applied != index {
            self.violations.push(format!(
                "n{node} {range}: snapshot labelled index {index} carries data applied to {applied}"
            ));
        }
        if let Some(old) = self.ranges.get(&range) {
            stage_clear(batch, range, old);
        }
        let d = RangeData {
            kv: kv.into_iter().collect(),
            ops: ops.into_iter().collect(),
            applied: index,
            chain,
        };
        stage_rows(batch, range, &d);
        self.applied_log.push((range, index, chain));
        self.ranges.insert(range, d);
    }

    fn applied_written(&mut self) {}

    fn leader_changed(&mut self, _range: RangeId, _leader: u64, _is_leader: bool) {}
}

/// One live node.
pub struct SimNode {
    pub id: NodeId,
    pub engine: Arc<dyn Engine>,
    pub raft: MultiRaft,
    pub sm: KvSm,
    /// Local replica id of every range with a group here.
    pub replicas: BTreeMap<RangeId, u64>,
}

/// The Raft settings of every simulated group: a short log bound so truncation and
/// snapshots happen often.
pub fn raft_config() -> RaftConfig {
    RaftConfig {
        election_ticks: 10,
        heartbeat_ticks: 2,
        max_log_entries: 6,
        max_size_per_msg: 1 << 12,
        sync: true,
        // Pin the election timeout (raft-rs would draw it from an unseeded RNG); nodes still
        // differ through their tick phases.
        min_election_ticks: 10,
        max_election_ticks: 11,
        ..RaftConfig::default()
    }
}

impl SimNode {
    /// A brand-new engine.
    pub fn new_engine() -> Arc<dyn Engine> {
        Arc::new(MemoryEngine::new())
    }

    /// Opens a node over `engine`: every range it holds a (non-tombstoned) replica of gets its
    /// group back from the stored Raft state.
    pub fn open(id: NodeId, engine: Arc<dyn Engine>) -> Result<SimNode, String> {
        let mut raft = MultiRaft::new(engine.clone(), raft_config());
        let mut replicas = BTreeMap::new();
        let mut rows = Vec::new();
        engine
            .scan(b"n", Some(b"o"), &mut |k, v| {
                if k.len() == 10 && k[9] == b'r' {
                    rows.push((RangeId(u64_of(&k[1..9])), u64_of(v)));
                }
                Visit::Continue
            })
            .map_err(|e| e.to_string())?;
        let mut ranges = BTreeMap::new();
        for (range, rid) in rows {
            let src = Arc::new(Snapshots {
                engine: engine.clone(),
            });
            let store = LogStore::open(engine.as_ref(), range, src).map_err(|e| e.to_string())?;
            raft.add_group(range, rid, store)
                .map_err(|e| format!("n{id} {range}: add_group: {e}"))?;
            replicas.insert(range, rid);
            let d = load_range(engine.as_ref(), range);
            if d != RangeData::default() {
                ranges.insert(range, d);
            }
        }
        Ok(SimNode {
            id,
            sm: KvSm {
                node: id,
                ranges,
                waiting: BTreeSet::new(),
                replies: Vec::new(),
                confs: Vec::new(),
                applied_log: Vec::new(),
                violations: Violations::default(),
            },
            engine,
            raft,
            replicas,
        })
    }

    /// Bootstraps a replica of a new range (data empty, log starting after INITIAL_INDEX).
    pub fn bootstrap(&mut self, range: RangeId, rid: u64, voters: &[u64]) -> Result<(), String> {
        let mut batch = WriteBatch::new();
        batch.put(local_key(range, b'r'), rid.to_be_bytes().to_vec());
        let d = RangeData {
            applied: INITIAL_INDEX,
            ..RangeData::default()
        };
        stage_rows(&mut batch, range, &d);
        self.engine.write(batch, true).map_err(|e| e.to_string())?;
        self.sm.ranges.insert(range, d);
        let store = self.log_store(range)?;
        let conf = ConfState {
            voters: voters.to_vec(),
            ..ConfState::default()
        };
        self.raft
            .create_group(range, rid, store, INITIAL_INDEX, INITIAL_INDEX, conf)
            .map_err(|e| e.to_string())?;
        self.replicas.insert(range, rid);
        Ok(())
    }

    fn log_store(&self, range: RangeId) -> Result<LogStore, String> {
        let src = Arc::new(Snapshots {
            engine: self.engine.clone(),
        });
        LogStore::open(self.engine.as_ref(), range, src).map_err(|e| e.to_string())
    }

    /// The voters of `range` in the configuration stored on `engine` (empty when none).
    pub fn stored_voters(engine: &Arc<dyn Engine>, range: RangeId) -> Vec<u64> {
        let src = Arc::new(Snapshots {
            engine: engine.clone(),
        });
        LogStore::open(engine.as_ref(), range, src)
            .map(|s| s.conf_state().voters.clone())
            .unwrap_or_default()
    }

    fn tombstone(&self, range: RangeId) -> u64 {
        match self.engine.get(&local_key(range, b't')) {
            Ok(Some(v)) => u64_of(&v),
            _ => 0,
        }
    }

    /// Steps a delivered message, creating an uninitialised replica when the message is
    /// addressed to a replica this node does not have yet (it was just added to the range),
    /// and replacing a stale replica when the message is for a newer replica id here.
    /// Returns a description of what happened, for the trace.
    pub fn deliver(&mut self, range: RangeId, msg: Message) -> Result<&'static str, String> {
        // Vote requests create the replica too: a voter just added and still empty must be
        // able to vote, or a range whose other voters lost their leader cannot elect one.
        let creates = matches!(
            msg.get_msg_type(),
            MessageType::MsgAppend
                | MessageType::MsgHeartbeat
                | MessageType::MsgSnapshot
                | MessageType::MsgRequestVote
                | MessageType::MsgRequestPreVote
        );
        match self.replicas.get(&range).copied() {
            Some(rid) if rid == msg.to => {}
            Some(rid) if rid > msg.to => return Ok("stale-to"),
            Some(_) if !creates => return Ok("newer-to-ignored"),
            Some(_) => {
                self.destroy(range)?;
                self.create_uninitialized(range, msg.to)?;
            }
            None if msg.to <= self.tombstone(range) || !creates => return Ok("no-replica"),
            None => self.create_uninitialized(range, msg.to)?,
        }
        match self.raft.step(range, msg) {
            Ok(()) => Ok("stepped"),
            // A forwarded proposal reaching a replica that no longer leads (or is handing
            // leadership over): the client times out and retries. `MultiRaft::step` reports it
            // as `Error::Raft`, which `Error::is_deterministic` calls untrustworthy state.
            Err(replication::Error::Raft(raft::Error::ProposalDropped)) => Ok("proposal-dropped"),
            Err(e) => Err(format!("n{} {range}: step: {e}", self.id)),
        }
    }

    fn create_uninitialized(&mut self, range: RangeId, rid: u64) -> Result<(), String> {
        let mut batch = WriteBatch::new();
        batch.put(local_key(range, b'r'), rid.to_be_bytes().to_vec());
        self.engine.write(batch, true).map_err(|e| e.to_string())?;
        let store = self.log_store(range)?;
        self.raft
            .add_group(range, rid, store)
            .map_err(|e| format!("n{} {range}: add uninitialised: {e}", self.id))?;
        self.replicas.insert(range, rid);
        Ok(())
    }

    /// Removes this node's replica of `range` (it was removed from the range): Raft state,
    /// data rows and replica id go, a tombstone stays so late messages do not re-create it.
    pub fn destroy(&mut self, range: RangeId) -> Result<(), String> {
        let Some(rid) = self.replicas.remove(&range) else {
            return Ok(());
        };
        self.raft
            .destroy_group(range)
            .map_err(|e| format!("n{} {range}: destroy: {e}", self.id))?;
        let mut batch = WriteBatch::new();
        if let Some(d) = self.sm.ranges.remove(&range) {
            stage_clear(&mut batch, range, &d);
        }
        batch.delete(local_key(range, b'r'));
        batch.put(local_key(range, b't'), rid.to_be_bytes().to_vec());
        self.engine.write(batch, true).map_err(|e| e.to_string())
    }
}
