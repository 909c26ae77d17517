//! Range descriptors, leases, replicated commands, and where they live in the keyspace.
//!
//! Replicated per-range state lives under range-id keys `0x01 'R' <range_id BE> <kind>` (the
//! descriptor and the lease), written only by applying Raft commands, so every replica holds
//! the same. They travel in snapshots with the range's data.
//!
//! Range addressing: range 1 always covers `[start of keyspace, /System)` and so holds every
//! meta record: `0x02 0x01 <end key>` for a range ending at `end`, `0x02 0x02` for the last
//! range. The range holding key `k` is the first meta record after `0x02 0x01 k 0x00`, i.e. the
//! first range whose end is after `k`. Meta records are a lookup index: the authority for a
//! span is the descriptor each replica holds, and a request that reaches the wrong range fails
//! with a key-mismatch error carrying that descriptor, which corrects the sender's cache.
//! Node records live next to them under `0x02 0x00 <node_id BE>`.

use kv::engine::BatchOp;
use kv::keys::{LOCAL_PREFIX, META_PREFIX, SYSTEM_PREFIX};
use kv::{NodeId, RangeId, ReplicaId, Timestamp};
use serde::{Deserialize, Serialize};

/// The first key range 1 never gives up in a split: everything below is addressing.
pub const MIN_SPLIT_KEY: &[u8] = &[SYSTEM_PREFIX];

/// One replica of a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaDesc {
    /// The node holding it.
    pub node_id: NodeId,
    /// Its Raft peer id in the range's group.
    pub replica_id: ReplicaId,
    /// Voter, or a non-voting copy (a Raft learner) kept for follower reads.
    pub kind: ReplicaKind,
}

/// Whether a replica votes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicaKind {
    /// Part of the Raft quorum; may hold the lease.
    #[default]
    Voter,
    /// A Raft learner: receives the log, never votes, never holds the lease.
    NonVoter,
}

/// A range: its span, its replicas and a generation bumped by every split and membership
/// change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeDescriptor {
    /// The range.
    pub range_id: RangeId,
    /// First key.
    pub start: Vec<u8>,
    /// First key after the range (None: the end of the keyspace).
    pub end: Option<Vec<u8>>,
    /// The replicas (voters).
    pub replicas: Vec<ReplicaDesc>,
    /// The next replica id to hand out.
    pub next_replica_id: u64,
    /// Bumped by each split and membership change.
    pub generation: u64,
}

impl RangeDescriptor {
    /// Whether `key` is in the span.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.end.as_deref().is_none_or(|e| key < e)
    }

    /// The replica on `node`.
    pub fn replica_on(&self, node: NodeId) -> Option<&ReplicaDesc> {
        self.replicas.iter().find(|r| r.node_id == node)
    }

    /// The node of replica `id`.
    pub fn node_of(&self, id: ReplicaId) -> Option<NodeId> {
        self.replicas
            .iter()
            .find(|r| r.replica_id == id)
            .map(|r| r.node_id)
    }

    /// Whether the spans of two descriptors overlap.
    pub fn overlaps(&self, other: &RangeDescriptor) -> bool {
        let a_before_b_end = other
            .end
            .as_deref()
            .is_none_or(|e| self.start.as_slice() < e);
        let b_before_a_end = self
            .end
            .as_deref()
            .is_none_or(|e| other.start.as_slice() < e);
        a_before_b_end && b_before_a_end
    }
}

/// The right to serve a range: held by one replica from `start` to `expiration`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Bumped whenever the holder changes; commands carry the sequence they were evaluated
    /// under and are rejected at apply if it moved.
    pub seq: u64,
    /// The holder (NodeId(0): nobody).
    pub holder: NodeId,
    /// The holder's replica.
    pub replica: ReplicaId,
    /// When the lease began (the new holder's timestamp cache starts here).
    pub start: Timestamp,
    /// When it ends; extensions move it forward without changing `seq`.
    pub expiration: Timestamp,
}

/// A replicated command: everything apply needs is inside it (apply reads no clock).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    /// Writes evaluated by the leaseholder.
    Write {
        /// Proposal identity: (proposing node, node-local id).
        id: (NodeId, u64),
        /// The lease the writes were evaluated under.
        lease_seq: u64,
        /// The descriptor generation they were evaluated under.
        generation: u64,
        /// The writes.
        ops: Vec<BatchOp>,
    },
    /// Takes or extends the lease, if the lease is still `prev_seq`.
    Lease {
        /// Proposal identity.
        id: (NodeId, u64),
        /// The lease the requester saw.
        prev_seq: u64,
        /// The new lease.
        lease: Lease,
    },
    /// Splits the range at `key`: the right-hand side becomes `new_range` with the same
    /// replicas (same replica ids) and a Raft log starting fresh.
    Split {
        /// Proposal identity.
        id: (NodeId, u64),
        /// The generation the split was planned against.
        generation: u64,
        /// The first key of the new range.
        key: Vec<u8>,
        /// The new range's id.
        new_range: RangeId,
    },
    /// First step of a merge, applied by the right-hand range (crate::store::merge): from now
    /// on it serves nothing (its lease becomes [`frozen_lease`], so every write, lease and
    /// split command fails at apply and requests are refused and re-routed) and its data is
    /// final on every replica that applied this. Refused unless the range is still at
    /// `generation` under lease `lease_seq`.
    Freeze {
        /// Proposal identity.
        id: (NodeId, u64),
        /// The lease the freeze was proposed under.
        lease_seq: u64,
        /// The right-hand range's generation the merge was planned against.
        generation: u64,
        /// The left-hand range it will be merged into.
        lhs: RangeId,
    },
    /// Undoes a [`Command::Freeze`] of a merge that can no longer commit: the lease held
    /// before the freeze comes back (with a new sequence).
    Unfreeze {
        /// Proposal identity.
        id: (NodeId, u64),
        /// The lease to restore (from the range's replicated [`FreezeRecord`]).
        lease: Lease,
    },
    /// Second step of a merge, applied by the left-hand range: its span widens over `rhs`
    /// (whose replicas, colocated with the left side's and frozen, are dropped on every node;
    /// their data, in the same engine, now belongs to the left side). Refused unless the left
    /// side is still at `generation` under lease `lease_seq` and ends where `rhs` starts.
    Merge {
        /// Proposal identity.
        id: (NodeId, u64),
        /// The lease of the left-hand range it was proposed under.
        lease_seq: u64,
        /// The left-hand range's generation.
        generation: u64,
        /// The right-hand range's descriptor as frozen.
        rhs: RangeDescriptor,
        /// The merged range's GC threshold: the larger of both sides'.
        gc_threshold: Timestamp,
    },
    /// Bumps the range's generation if it is still `generation`: a merge proposed against
    /// that generation can then never apply, so a frozen right-hand side whose merge outcome
    /// was unknown may be unfrozen.
    FenceMerge {
        /// Proposal identity.
        id: (NodeId, u64),
        /// The generation to fence.
        generation: u64,
    },
}

impl Command {
    /// The proposal identity.
    pub fn id(&self) -> (NodeId, u64) {
        match self {
            Command::Write { id, .. }
            | Command::Lease { id, .. }
            | Command::Split { id, .. }
            | Command::Freeze { id, .. }
            | Command::Unfreeze { id, .. }
            | Command::Merge { id, .. }
            | Command::FenceMerge { id, .. } => *id,
        }
    }
}

fn range_key(range: RangeId, kind: u8) -> Vec<u8> {
    let mut k = vec![LOCAL_PREFIX, b'R'];
    k.extend_from_slice(&range.0.to_be_bytes());
    k.push(kind);
    k
}

/// The key of a range's replicated descriptor.
pub fn desc_key(range: RangeId) -> Vec<u8> {
    range_key(range, b'd')
}

/// The key of a range's replicated lease.
pub fn lease_key(range: RangeId) -> Vec<u8> {
    range_key(range, b'l')
}

/// The key of a frozen range's [`FreezeRecord`] (crate::store::merge).
pub fn freeze_key(range: RangeId) -> Vec<u8> {
    range_key(range, b'f')
}

/// What a [`Command::Freeze`] leaves in the frozen range: the merge it waits for and the
/// lease to restore if that merge is abandoned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreezeRecord {
    /// The left-hand range the frozen range is being merged into.
    pub lhs: RangeId,
    /// The lease before the freeze.
    pub lease: Lease,
}

/// The holder named by a frozen range's lease: no node has this id, so every replica
/// answers "not leaseholder" with a hint the sender cannot use, and it retries elsewhere.
pub const FROZEN_HOLDER: NodeId = NodeId(u64::MAX);

/// The lease a range gets when frozen for a merge (see [`Command::Freeze`]): held by nobody
/// ([`FROZEN_HOLDER`]) forever, so no lease command can succeed it.
pub fn frozen_lease(prev: &Lease) -> Lease {
    Lease {
        seq: prev.seq + 1,
        holder: FROZEN_HOLDER,
        replica: ReplicaId(0),
        start: prev.start,
        expiration: Timestamp::MAX,
    }
}

impl Lease {
    /// Whether this is a frozen range's lease (crate::store::merge).
    pub fn is_frozen(&self) -> bool {
        self.holder == FROZEN_HOLDER
    }
}

/// The span of a range's replicated range-id keys.
pub fn range_id_span(range: RangeId) -> (Vec<u8>, Vec<u8>) {
    (range_key(range, 0), range_key(range, 0xff))
}

/// The meta record key of a range ending at `end`.
pub fn meta_key(end: Option<&[u8]>) -> Vec<u8> {
    match end {
        Some(e) => {
            let mut k = vec![META_PREFIX, 0x01];
            k.extend_from_slice(e);
            k
        }
        None => vec![META_PREFIX, 0x02],
    }
}

/// Where a lookup of `key` starts scanning meta records.
pub fn meta_lookup_start(key: &[u8]) -> Vec<u8> {
    let mut k = vec![META_PREFIX, 0x01];
    k.extend_from_slice(key);
    k.push(0);
    k
}

/// The end of the meta record span.
pub fn meta_end() -> Vec<u8> {
    vec![META_PREFIX, 0x03]
}

/// The key of a node record.
pub fn node_key(node: NodeId) -> Vec<u8> {
    let mut k = vec![META_PREFIX, 0x00];
    k.extend_from_slice(&node.0.to_be_bytes());
    k
}

/// The span of node records.
pub fn node_span() -> (Vec<u8>, Vec<u8>) {
    (vec![META_PREFIX, 0x00], vec![META_PREFIX, 0x01])
}

/// A node of the cluster, as recorded in range 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// The node.
    pub node_id: NodeId,
    /// Its gRPC address.
    pub addr: String,
    /// Its SQL address.
    pub sql_addr: String,
    /// Its locality tiers, e.g. [("region", "us-east1"), ("zone", "a")].
    pub locality: Vec<(String, String)>,
    /// Liveness: the node promises to be alive until this time (renewed by heartbeats).
    pub live_until: Timestamp,
    /// Whether it is being decommissioned (the allocator moves its replicas away).
    pub decommissioning: bool,
}

/// The local (unreplicated) key holding this store's node id.
pub fn store_ident_key() -> Vec<u8> {
    vec![LOCAL_PREFIX, b's', b'i']
}

/// The local key holding the list of ranges with a replica on this store.
pub fn replica_list_key(range: RangeId) -> Vec<u8> {
    let mut k = vec![LOCAL_PREFIX, b's', b'r'];
    k.extend_from_slice(&range.0.to_be_bytes());
    k
}

/// The local (unreplicated) key remembering that `range` was merged away on this store: a
/// replica of it re-created later by a stray Raft message is a leftover (crate::merge).
pub fn merged_tombstone_key(range: RangeId) -> Vec<u8> {
    let mut k = vec![LOCAL_PREFIX, b's', b'm'];
    k.extend_from_slice(&range.0.to_be_bytes());
    k
}

/// The local (unreplicated) key marking a replica that could not apply a merge (its frozen
/// right-hand replica was missing): its state is reset and it waits for a snapshot
/// (crate::store::merge_apply).
pub fn needs_snapshot_key(range: RangeId) -> Vec<u8> {
    let mut k = vec![LOCAL_PREFIX, b's', b'n'];
    k.extend_from_slice(&range.0.to_be_bytes());
    k
}

/// The span of [`replica_list_key`]s.
pub fn replica_list_span() -> (Vec<u8>, Vec<u8>) {
    (
        vec![LOCAL_PREFIX, b's', b'r'],
        vec![LOCAL_PREFIX, b's', b's'],
    )
}

/// The counter of range ids (in range 1, plain key).
pub fn range_id_counter_key() -> Vec<u8> {
    vec![META_PREFIX, 0x00, 0xff, b'r']
}

/// The counter of node ids (in range 1, plain key).
pub fn node_id_counter_key() -> Vec<u8> {
    vec![META_PREFIX, 0x00, 0xff, b'n']
}

/// Encodes with postcard (these types always encode).
pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_allocvec(v).unwrap_or_default()
}

/// Decodes with postcard.
pub fn decode<'a, T: Deserialize<'a>>(raw: &'a [u8]) -> Result<T, String> {
    postcard::from_bytes(raw).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_lookup_finds_the_first_range_ending_after_the_key() {
        let ends: Vec<Vec<u8>> = vec![meta_key(Some(b"b")), meta_key(Some(b"d")), meta_key(None)];
        let find = |k: &[u8]| {
            let start = meta_lookup_start(k);
            ends.iter().position(|e| *e >= start).unwrap()
        };
        assert_eq!(find(b"a"), 0);
        assert_eq!(find(b"b"), 1);
        assert_eq!(find(b"c"), 1);
        assert_eq!(find(b"d"), 2);
        assert_eq!(find(b"zzz"), 2);
        // Node records and counters sort before every meta record.
        assert!(node_key(NodeId(u64::MAX)) < meta_key(Some(b"")));
        assert!(node_id_counter_key() < meta_key(Some(b"")));
    }
}
