//! What crossed the simulated network, by kind: the accounting behind the multi-region
//! promise that a REGIONAL BY ROW statement in its home region, a GLOBAL read or a follower
//! read waits for no other region.
//!
//! Counting "messages between regions" alone cannot show that: a write's Raft appends go to
//! the non-voting replicas (Raft learners) in every other region, and leaseholders publish
//! closed timestamps to them, yet neither is waited for. So the [`super::Filters`] keep three
//! kinds apart, per (sender node, destination node):
//! - **calls** (request/response RPCs: KV batches, pushes, lookups, meta writes, status), the
//!   only traffic a caller blocks on, keyed also by the operation ([`CallKey::op`], e.g.
//!   `Batch/Get`, `Lookup`), the range and the name of the calling thread, so a test can tell
//!   a statement's calls from the node's periodic loops ([`BACKGROUND_THREADS`]);
//! - **notifications**: calls that are one-way in meaning (closed-timestamp updates,
//!   `Closed`): the sender's background thread waits for the ack, nobody else does;
//! - **Raft messages**, keyed by range and message type (`MsgAppend`, `MsgHeartbeat`, ...).
//!   Whether an append was needed for a commit depends on whether its destination is a voter,
//!   which the caller checks against the range descriptor.
//!
//! [`Traffic`] is a snapshot of all counters (with each node's region at snapshot time);
//! [`Traffic::since`] subtracts an earlier snapshot, so tests measure one statement without
//! resetting counters others read.
//!
//! IMPLEMENTATION CAVEATS
//! - Calls from a node to itself never reach the transport and are not counted.
//! - A call's operation is found by decoding the request (postcard [`NodeRequest`]); a request
//!   that does not decode counts as op `?`.
//! - The Raft message type is read from the first protobuf field without a full decode; a
//!   message whose type is the default (`MsgHup`, never sent between nodes) or that does not
//!   start with the type field counts as `MsgHup`/`Msg?`.
//! - Thread names say where a call was made, not who waits for it: a statement that waits on
//!   a lock held by a background transaction is not charged with that transaction's calls.

use super::RaftEnvelope;
use crate::rpc::NodeRequest;
use kv::{NodeId, RangeId};
use std::collections::BTreeMap;
use txn::api::Request;

/// Names of the node threads that run periodic background work (liveness heartbeats, the
/// allocator and span config refresh, closed-timestamp publication, the merge and GC queues):
/// their calls never sit on a client statement's path. Threads named elsewhere (`raft`, `intent-resolver`,
/// `txn-heartbeat`, tokio workers) are not in the list.
pub const BACKGROUND_THREADS: [&str; 6] = [
    "liveness",
    "queues",
    "closedts",
    "closedts-send",
    "merge-queue",
    "gc-queues",
];

/// One counted call, by who called whom for what.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallKey {
    /// The calling node.
    pub from: NodeId,
    /// The called node (`NodeId(0)`: an address the filters do not know).
    pub to: NodeId,
    /// The operation: `Batch/<request>` for KV requests (`Batch/Get`, `Batch/EndTxn`, ...),
    /// else the [`NodeRequest`] variant (`Lookup`, `MetaWrite`, `Closed`, ...).
    pub op: &'static str,
    /// The range the call addressed, when it names one.
    pub range: Option<RangeId>,
    /// The name of the calling thread ("" if unnamed).
    pub thread: String,
}

impl CallKey {
    /// Whether the call is one-way in meaning (a notification nobody but the sender's
    /// background thread waits for): closed-timestamp updates.
    pub fn is_notification(&self) -> bool {
        self.op == "Closed"
    }

    /// Whether the call was made by one of the node's periodic loops ([`BACKGROUND_THREADS`]).
    pub fn is_background(&self) -> bool {
        BACKGROUND_THREADS.contains(&self.thread.as_str())
    }
}

/// One counted Raft message kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RaftKey {
    /// The sending node.
    pub from: NodeId,
    /// The destination node.
    pub to: NodeId,
    /// The range.
    pub range: RangeId,
    /// The raft-rs message type, e.g. `MsgAppend`.
    pub msg_type: &'static str,
}

/// One cross-region request/response call, kept in a short log for diagnosis
/// ([`super::Filters::recent_cross_region_calls`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTrace {
    /// When it was sent.
    pub at: std::time::Instant,
    /// Who called whom for what (as counted).
    pub key: CallKey,
    /// The routing key of a KV batch or a range lookup (empty for other calls).
    pub routing_key: Vec<u8>,
}

impl std::fmt::Display for CallTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let k = &self.key;
        let range = k.range.map(|r| format!(" r{}", r.0)).unwrap_or_default();
        write!(
            f,
            "n{} -> n{} {}{range} key {} [{}]",
            k.from.0,
            k.to.0,
            k.op,
            self.routing_key.escape_ascii(),
            k.thread
        )
    }
}

/// How many cross-region calls the diagnostic log keeps (the most recent).
pub const TRACE_CAPACITY: usize = 256;

/// A snapshot of the traffic counters (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Each node's region when the snapshot was taken ("" or absent: none).
    pub regions: BTreeMap<NodeId, String>,
    /// Calls (notifications included; see [`CallKey::is_notification`]).
    pub calls: BTreeMap<CallKey, u64>,
    /// Raft messages.
    pub raft: BTreeMap<RaftKey, u64>,
}

impl Traffic {
    /// The region of `node` ("" when unknown).
    pub fn region(&self, node: NodeId) -> &str {
        self.regions.get(&node).map(String::as_str).unwrap_or("")
    }

    /// Whether a message from `a` to `b` crosses regions.
    pub fn crosses(&self, a: NodeId, b: NodeId) -> bool {
        self.region(a) != self.region(b)
    }

    /// The counters added since `earlier` (a snapshot of the same filters); counters that
    /// did not grow are left out. After a reset in between, the counts since the reset.
    pub fn since(&self, earlier: &Traffic) -> Traffic {
        fn diff<K: Ord + Clone>(
            now: &BTreeMap<K, u64>,
            then: &BTreeMap<K, u64>,
        ) -> BTreeMap<K, u64> {
            now.iter()
                .filter_map(|(k, n)| {
                    let before = then.get(k).copied().unwrap_or(0);
                    let d = if *n >= before { n - before } else { *n };
                    (d > 0).then(|| (k.clone(), d))
                })
                .collect()
        }
        Traffic {
            regions: self.regions.clone(),
            calls: diff(&self.calls, &earlier.calls),
            raft: diff(&self.raft, &earlier.raft),
        }
    }

    /// Cross-region request/response calls (notifications left out), with their counts.
    pub fn cross_region_calls(&self) -> Vec<(&CallKey, u64)> {
        self.calls
            .iter()
            .filter(|(k, _)| !k.is_notification() && self.crosses(k.from, k.to))
            .map(|(k, n)| (k, *n))
            .collect()
    }

    /// Cross-region request/response calls made outside the node's periodic loops: the
    /// calls some client statement (or work it started) waited for. See
    /// [`BACKGROUND_THREADS`] for what is excluded.
    pub fn foreground_cross_region_calls(&self) -> Vec<(&CallKey, u64)> {
        self.cross_region_calls()
            .into_iter()
            .filter(|(k, _)| !k.is_background())
            .collect()
    }

    /// Total count of [`Self::foreground_cross_region_calls`].
    pub fn foreground_cross_region_call_count(&self) -> u64 {
        self.foreground_cross_region_calls()
            .iter()
            .map(|(_, n)| n)
            .sum()
    }

    /// Cross-region Raft messages, with their counts.
    pub fn cross_region_raft(&self) -> Vec<(&RaftKey, u64)> {
        self.raft
            .iter()
            .filter(|(k, _)| self.crosses(k.from, k.to))
            .map(|(k, n)| (k, *n))
            .collect()
    }

    /// One line per counter, e.g. `n4 (us-west1) -> n1 (us-east1) Batch/Get r12 [tokio-runtime-worker]: 1`.
    pub fn describe_calls<'a>(
        &self,
        calls: impl IntoIterator<Item = (&'a CallKey, u64)>,
    ) -> Vec<String> {
        calls
            .into_iter()
            .map(|(k, n)| {
                let range = k.range.map(|r| format!(" r{}", r.0)).unwrap_or_default();
                format!(
                    "n{} ({}) -> n{} ({}) {}{range} [{}]: {n}",
                    k.from.0,
                    self.region(k.from),
                    k.to.0,
                    self.region(k.to),
                    k.op,
                    k.thread
                )
            })
            .collect()
    }

    /// Raft message counts summed per (sender region, destination region, message type).
    pub fn raft_by_region_pair(&self) -> BTreeMap<(String, String, &'static str), u64> {
        let mut out = BTreeMap::new();
        for (k, n) in &self.raft {
            let key = (
                self.region(k.from).to_string(),
                self.region(k.to).to_string(),
                k.msg_type,
            );
            *out.entry(key).or_default() += n;
        }
        out
    }
}

/// The live counters kept inside the filters' state.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) calls: BTreeMap<CallKey, u64>,
    pub(crate) raft: BTreeMap<RaftKey, u64>,
    pub(crate) recent: std::collections::VecDeque<CallTrace>,
}

impl Counters {
    pub(crate) fn count_raft(&mut self, env: &RaftEnvelope) {
        let key = RaftKey {
            from: env.from,
            to: env.to,
            range: env.range_id,
            msg_type: raft_msg_type(&env.msg),
        };
        *self.raft.entry(key).or_default() += 1;
    }

    /// Counts a call; a cross-region one is also logged with its routing key.
    pub(crate) fn count_call(&mut self, key: CallKey, cross_region: bool, routing_key: Vec<u8>) {
        if cross_region {
            if self.recent.len() >= TRACE_CAPACITY {
                self.recent.pop_front();
            }
            self.recent.push_back(CallTrace {
                at: std::time::Instant::now(),
                key: key.clone(),
                routing_key,
            });
        }
        *self.calls.entry(key).or_default() += 1;
    }

    pub(crate) fn clear(&mut self) {
        self.calls.clear();
        self.raft.clear();
        self.recent.clear();
    }
}

/// What the filters learn from an encoded [`NodeRequest`].
pub(crate) struct Classified {
    pub(crate) op: &'static str,
    pub(crate) range: Option<RangeId>,
    /// The routing key of a batch or lookup (empty otherwise).
    pub(crate) key: Vec<u8>,
}

impl Classified {
    /// Whether the call is a one-way notification (see [`CallKey::is_notification`]).
    pub(crate) fn is_notification(&self) -> bool {
        self.op == "Closed"
    }
}

/// The operation, range and routing key of an encoded [`NodeRequest`].
pub(crate) fn classify_call(req: &[u8]) -> Classified {
    let Ok(req) = crate::desc::decode::<NodeRequest>(req) else {
        return Classified {
            op: "?",
            range: None,
            key: Vec::new(),
        };
    };
    let (key, op, range) = match req {
        NodeRequest::Batch {
            range,
            key,
            request,
            ..
        } => (key, batch_op(&request), Some(range)),
        NodeRequest::Lookup { key } => (key, "Lookup", None),
        other => {
            let (op, range) = op_of(&other);
            (Vec::new(), op, range)
        }
    };
    Classified { op, range, key }
}

fn op_of(req: &NodeRequest) -> (&'static str, Option<RangeId>) {
    match req {
        NodeRequest::Batch { range, request, .. } => (batch_op(request), Some(*range)),
        NodeRequest::ReplicaInfo { range } => ("ReplicaInfo", Some(*range)),
        NodeRequest::Lookup { .. } => ("Lookup", None),
        NodeRequest::Ranges => ("Ranges", None),
        NodeRequest::MetaWrite { .. } => ("MetaWrite", None),
        NodeRequest::AllocId { .. } => ("AllocId", None),
        NodeRequest::Nodes => ("Nodes", None),
        NodeRequest::KnownNodes => ("KnownNodes", None),
        NodeRequest::Split { .. } => ("Split", None),
        NodeRequest::Unsplit { .. } => ("Unsplit", None),
        NodeRequest::Join => ("Join", None),
        NodeRequest::Init => ("Init", None),
        NodeRequest::Status => ("Status", None),
        NodeRequest::Decommission { .. } => ("Decommission", None),
        NodeRequest::Closed { .. } => ("Closed", None),
    }
}

fn batch_op(r: &Request) -> &'static str {
    match r {
        Request::Get { .. } => "Batch/Get",
        Request::Scan { .. } => "Batch/Scan",
        Request::Put { .. } => "Batch/Put",
        Request::GetMany { .. } => "Batch/GetMany",
        Request::EndTxn { .. } => "Batch/EndTxn",
        Request::Heartbeat => "Batch/Heartbeat",
        Request::Push { .. } => "Batch/Push",
        Request::Query { .. } => "Batch/Query",
        Request::Resolve { .. } => "Batch/Resolve",
        Request::Refresh { .. } => "Batch/Refresh",
    }
}

/// raft-rs `MessageType` names by number (eraftpb.proto).
const RAFT_TYPES: [&str; 19] = [
    "MsgHup",
    "MsgBeat",
    "MsgPropose",
    "MsgAppend",
    "MsgAppendResponse",
    "MsgRequestVote",
    "MsgRequestVoteResponse",
    "MsgSnapshot",
    "MsgHeartbeat",
    "MsgHeartbeatResponse",
    "MsgUnreachable",
    "MsgSnapStatus",
    "MsgCheckQuorum",
    "MsgTransferLeader",
    "MsgTimeoutNow",
    "MsgReadIndex",
    "MsgReadIndexResp",
    "MsgRequestPreVote",
    "MsgRequestPreVoteResponse",
];

/// The type of a protobuf-encoded raft-rs `Message`: field 1 (`msg_type`, a varint) comes
/// first when present; proto3 leaves it out when it is 0 (`MsgHup`).
pub(crate) fn raft_msg_type(msg: &[u8]) -> &'static str {
    let Some((&tag, rest)) = msg.split_first() else {
        return RAFT_TYPES[0];
    };
    if tag != 0x08 {
        return if tag >> 3 > 1 { RAFT_TYPES[0] } else { "Msg?" };
    }
    let mut v: u64 = 0;
    for (i, b) in rest.iter().take(10).enumerate() {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return usize::try_from(v)
                .ok()
                .and_then(|i| RAFT_TYPES.get(i).copied())
                .unwrap_or("Msg?");
        }
    }
    "Msg?"
}

#[cfg(test)]
mod tests {
    use super::*;
    use protobuf::Message as _;
    use raft::eraftpb::{Message, MessageType};

    #[test]
    fn raft_types_are_read_without_decoding() {
        for t in [
            MessageType::MsgAppend,
            MessageType::MsgHeartbeatResponse,
            MessageType::MsgRequestPreVoteResponse,
            MessageType::MsgHup,
        ] {
            let mut m = Message::default();
            m.set_msg_type(t);
            m.to = 3;
            m.term = 7;
            let bytes = m.write_to_bytes().unwrap();
            assert_eq!(raft_msg_type(&bytes), format!("{t:?}"));
        }
        assert_eq!(raft_msg_type(&[0x08, 0xff]), "Msg?");
    }

    #[test]
    fn calls_are_classified_by_request() {
        let get = NodeRequest::Batch {
            range: RangeId(12),
            key: b"k".to_vec(),
            header: txn::api::Header {
                txn: None,
                read_ts: kv::Timestamp::ZERO,
                uncertainty_limit: kv::Timestamp::ZERO,
                ignored: vec![],
                observed: Vec::new(),
            },
            request: Request::Get {
                key: b"k".to_vec(),
                lock: None,
            },
            gateway: kv::NodeId(1),
        };
        let enc = crate::desc::encode(&get);
        let c = classify_call(&enc);
        assert_eq!(
            (c.op, c.range, c.key),
            ("Batch/Get", Some(RangeId(12)), b"k".to_vec())
        );
        let closed = crate::desc::encode(&NodeRequest::Closed {
            from: NodeId(1),
            updates: vec![],
        });
        let c = classify_call(&closed);
        assert_eq!((c.op, c.range), ("Closed", None));
        assert_eq!(classify_call(b"\xff\xff\xff").op, "?");
    }
}
