//! The node-to-node request vocabulary carried by [`crate::transport::Transport::call`], and
//! its server side ([`NodeService`], the node's transport [`Handler`]).
//!
//! Requests are postcard-encoded enums. Errors cross the wire as [`WireError`], a mirror of
//! the transaction layer's error classes, so a retryable error stays retryable and an
//! ambiguous commit stays ambiguous on the far side.

use crate::desc::{self, NodeRecord, RangeDescriptor};
use crate::store::serve::ServeError;
use crate::store::Store;
use crate::transport::{Handler, RaftEnvelope};
use kv::engine::{BatchOp, Visit};
use kv::{NodeId, RangeId, Timestamp};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock, Weak};
use txn::api::{Header, Request, Response};
use txn::RetryReason;

/// A request from one node to another.
#[derive(Debug, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // built and encoded once per call; boxing buys nothing
pub enum NodeRequest {
    /// One KV request for the replica of `range` (at its leaseholder).
    Batch {
        /// The range the sender believes holds `key`.
        range: RangeId,
        /// The routing key.
        key: Vec<u8>,
        /// The transaction header.
        header: Header,
        /// The request.
        request: Request,
        /// The node whose DistSender sent it (its lease follows where its load comes from).
        gateway: NodeId,
    },
    /// Which range holds `key` (answered by range 1's leaseholder from the meta records).
    Lookup {
        /// The key.
        key: Vec<u8>,
    },
    /// Every meta record (all range descriptors), in key order, from range 1's leaseholder.
    Ranges,
    /// Plain (non-transactional) writes of addressing records in range 1, at its leaseholder.
    MetaWrite {
        /// The writes.
        ops: Vec<BatchOp>,
    },
    /// Allocates the next value of a counter in range 1 (range ids, node ids).
    AllocId {
        /// The counter's key.
        key: Vec<u8>,
    },
    /// Every node record (from range 1).
    Nodes,
    /// The nodes the receiver knows (id, address), without consulting range 1.
    KnownNodes,
    /// The lease and Raft status of the local replica of `range`.
    ReplicaInfo {
        /// The range.
        range: RangeId,
    },
    /// Splits the range holding `key` at `key` (at its leaseholder); the right side gets
    /// `new_range`.
    Split {
        /// The split key.
        key: Vec<u8>,
        /// The new range's id (allocated by the caller).
        new_range: RangeId,
    },
    /// Removes the split enforcement of the range starting at `key` (`UNSPLIT AT`), at the
    /// receiver's replica of it (it takes the lease if needed); answered with whether the
    /// split was enforced.
    Unsplit {
        /// The range's start key.
        key: Vec<u8>,
    },
    /// A node without an id asks to join; answered with a fresh node id.
    Join,
    /// `meridian init`: bootstrap the cluster on the receiving node.
    Init,
    /// `meridian node status`: every node with liveness and replica counts (the receiver
    /// asks range 1 and the meta records through its sender).
    Status,
    /// `meridian node decommission`: marks a node decommissioning (the allocators then move
    /// its replicas away).
    Decommission {
        /// The node.
        node: NodeId,
    },
    /// Closed timestamps published by a leaseholder (crate::closedts).
    Closed {
        /// The publishing node.
        from: NodeId,
        /// One entry per range.
        updates: Vec<crate::closedts::ClosedUpdate>,
    },
}

/// One row of `meridian node status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeStatusRow {
    /// The node's record.
    pub record: NodeRecord,
    /// Whether its liveness record is current.
    pub is_live: bool,
    /// Replicas it holds (from the meta records).
    pub replicas: u64,
}

/// The lease and Raft view of one replica.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaInfo {
    /// The descriptor as applied there.
    pub desc: Option<RangeDescriptor>,
    /// The lease holder as applied there (NodeId(0): none).
    pub lease_holder: NodeId,
    /// When that lease expires.
    pub lease_expiration: Timestamp,
    /// Whether that replica leads the Raft group.
    pub is_leader: bool,
}

/// An error crossing the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WireError {
    /// txn::Error::Retry.
    Retry {
        /// RetryReason, by position.
        reason: u8,
        /// Detail.
        detail: String,
    },
    /// txn::Error::ReadOnly.
    ReadOnly,
    /// txn::Error::Ambiguous.
    Ambiguous(String),
    /// txn::Error::BelowGcThreshold.
    BelowGc {
        /// The read.
        ts: Timestamp,
        /// The threshold.
        threshold: Timestamp,
    },
    /// Not the leaseholder; the hint.
    NotLeaseholder(Option<NodeId>),
    /// Wrong range; the receiver's replica holding the key, if any.
    Mismatch(Option<RangeDescriptor>),
    /// Range unavailable.
    Unavailable(String),
    /// Anything else (internal, storage).
    Internal(String),
}

const REASONS: [RetryReason; 5] = [
    RetryReason::WriteTooOld,
    RetryReason::Serializable,
    RetryReason::ReadWithinUncertainty,
    RetryReason::AbortedRecordFound,
    RetryReason::PusherAborted,
];

impl From<txn::Error> for WireError {
    fn from(e: txn::Error) -> Self {
        match e {
            txn::Error::Retry { reason, detail } => WireError::Retry {
                reason: REASONS.iter().position(|r| *r == reason).unwrap_or(1) as u8,
                detail,
            },
            txn::Error::ReadOnly => WireError::ReadOnly,
            txn::Error::Ambiguous(s) => WireError::Ambiguous(s),
            txn::Error::BelowGcThreshold { ts, threshold } => WireError::BelowGc { ts, threshold },
            txn::Error::NotLeaseholder { leaseholder } => WireError::NotLeaseholder(leaseholder),
            txn::Error::RangeKeyMismatch(_) => WireError::Mismatch(None),
            txn::Error::Unavailable(s) => WireError::Unavailable(s),
            other => WireError::Internal(other.to_string()),
        }
    }
}

impl From<ServeError> for WireError {
    fn from(e: ServeError) -> Self {
        match e {
            ServeError::Txn(e) => e.into(),
            ServeError::Mismatch(d) => WireError::Mismatch(d),
        }
    }
}

impl WireError {
    /// Back to the transaction layer's error.
    pub fn into_txn(self) -> txn::Error {
        match self {
            WireError::Retry { reason, detail } => txn::Error::Retry {
                reason: REASONS
                    .get(reason as usize)
                    .copied()
                    .unwrap_or(RetryReason::Serializable),
                detail,
            },
            WireError::ReadOnly => txn::Error::ReadOnly,
            WireError::Ambiguous(s) => txn::Error::Ambiguous(s),
            WireError::BelowGc { ts, threshold } => txn::Error::BelowGcThreshold { ts, threshold },
            WireError::NotLeaseholder(n) => txn::Error::NotLeaseholder { leaseholder: n },
            WireError::Mismatch(_) => txn::Error::RangeKeyMismatch("stale routing".into()),
            WireError::Unavailable(s) => txn::Error::Unavailable(s),
            WireError::Internal(s) => txn::Error::Internal(s),
        }
    }
}

/// A response.
#[derive(Debug, Serialize, Deserialize)]
pub enum NodeResponse {
    /// To Batch.
    Batch(Result<Response, WireError>),
    /// To Lookup.
    Lookup(Result<RangeDescriptor, WireError>),
    /// To Split: the new descriptors (None: already split there).
    Split(Result<Option<(RangeDescriptor, RangeDescriptor)>, WireError>),
    /// To MetaWrite, Init.
    Done(Result<(), WireError>),
    /// To Unsplit: whether the split was enforced.
    Unsplit(Result<bool, WireError>),
    /// To AllocId and Join.
    Id(Result<u64, WireError>),
    /// To Join: the new node id and the node records known so far.
    Joined(Result<(u64, Vec<NodeRecord>), WireError>),
    /// To KnownNodes.
    KnownNodes(Vec<(NodeId, String)>),
    /// To Nodes.
    Nodes(Result<Vec<NodeRecord>, WireError>),
    /// To Ranges.
    Ranges(Result<Vec<RangeDescriptor>, WireError>),
    /// To ReplicaInfo.
    ReplicaInfo(Result<ReplicaInfo, WireError>),
    /// To Status.
    Status(Result<Vec<NodeStatusRow>, WireError>),
    /// The request did not decode.
    BadRequest(String),
}

/// What a node does on `Init` (bootstrap its store as range 1's only replica).
pub type InitHook = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

/// The node's server side of the transport.
pub struct NodeService {
    store: OnceLock<Weak<Store>>,
    dist: OnceLock<Weak<crate::dist::DistSender>>,
    /// Serialises counter allocations at range 1's leaseholder.
    alloc: Mutex<()>,
    init: OnceLock<InitHook>,
    inbox_before_store: Mutex<Vec<RaftEnvelope>>,
}

impl Default for NodeService {
    fn default() -> Self {
        NodeService {
            store: OnceLock::new(),
            dist: OnceLock::new(),
            alloc: Mutex::new(()),
            init: OnceLock::new(),
            inbox_before_store: Mutex::new(Vec::new()),
        }
    }
}

impl NodeService {
    /// Attaches the store once it is open (a joining node serves nothing before).
    pub fn set_store(&self, store: &Arc<Store>) {
        let _ = self.store.set(Arc::downgrade(store));
        let early = std::mem::take(&mut *self.inbox_before_store.lock());
        if !early.is_empty() {
            store.deliver_raft(early);
        }
    }

    /// Attaches the node's distributed sender (joins allocate ids through it).
    pub fn set_dist(&self, dist: &Arc<crate::dist::DistSender>) {
        let _ = self.dist.set(Arc::downgrade(dist));
    }

    fn join(&self) -> Result<(u64, Vec<NodeRecord>), WireError> {
        let dist = self.dist.get().and_then(|d| d.upgrade()).ok_or_else(|| {
            WireError::Unavailable("this node has not joined a cluster yet".into())
        })?;
        let id = dist
            .alloc_id(desc::node_id_counter_key())
            .map_err(WireError::from)?;
        let nodes = dist.node_records().map_err(WireError::from)?;
        Ok((id, nodes))
    }

    fn dist(&self) -> Result<Arc<crate::dist::DistSender>, WireError> {
        self.dist
            .get()
            .and_then(|d| d.upgrade())
            .ok_or_else(|| WireError::Unavailable("this node has not joined a cluster yet".into()))
    }

    fn status(&self) -> Result<Vec<NodeStatusRow>, WireError> {
        let dist = self.dist()?;
        let now = dist.store().clock().now();
        let nodes = dist.node_records().map_err(WireError::from)?;
        let ranges = dist.all_ranges().map_err(WireError::from)?;
        Ok(nodes
            .into_iter()
            .map(|record| NodeStatusRow {
                is_live: record.live_until > now,
                replicas: ranges
                    .iter()
                    .filter(|d| d.replica_on(record.node_id).is_some())
                    .count() as u64,
                record,
            })
            .collect())
    }

    fn decommission(&self, node: NodeId) -> Result<(), WireError> {
        let dist = self.dist()?;
        let nodes = dist.node_records().map_err(WireError::from)?;
        let mut rec = nodes
            .into_iter()
            .find(|n| n.node_id == node)
            .ok_or_else(|| {
                WireError::Internal(format!("node {} is not part of the cluster", node.0))
            })?;
        rec.decommissioning = true;
        dist.meta_write(vec![(desc::node_key(node), Some(desc::encode(&rec)))])
            .map_err(WireError::from)
    }

    /// Sets what `Init` does.
    pub fn set_init(&self, hook: InitHook) {
        let _ = self.init.set(hook);
    }

    fn store(&self) -> Result<Arc<Store>, WireError> {
        self.store
            .get()
            .and_then(|s| s.upgrade())
            .ok_or_else(|| WireError::Unavailable("node not initialised yet".into()))
    }

    fn dispatch(&self, req: NodeRequest) -> NodeResponse {
        match req {
            NodeRequest::Batch {
                range,
                key,
                header,
                request,
                gateway,
            } => NodeResponse::Batch(self.store().and_then(|s| {
                s.serve(range, &header, &request, &key, gateway)
                    .map_err(WireError::from)
            })),
            NodeRequest::Lookup { key } => NodeResponse::Lookup(self.lookup(&key)),
            NodeRequest::Ranges => NodeResponse::Ranges(self.ranges()),
            NodeRequest::MetaWrite { ops } => NodeResponse::Done(
                self.store()
                    .and_then(|s| s.write_plain(RangeId(1), ops).map_err(WireError::from)),
            ),
            NodeRequest::AllocId { key } => NodeResponse::Id(self.alloc_id(&key)),
            NodeRequest::Join => NodeResponse::Joined(self.join()),
            NodeRequest::Nodes => NodeResponse::Nodes(self.nodes()),
            NodeRequest::KnownNodes => NodeResponse::KnownNodes(
                self.dist
                    .get()
                    .and_then(|d| d.upgrade())
                    .map(|d| d.known_nodes())
                    .unwrap_or_default(),
            ),
            NodeRequest::ReplicaInfo { range } => {
                NodeResponse::ReplicaInfo(self.replica_info(range))
            }
            NodeRequest::Split { key, new_range } => NodeResponse::Split(
                self.store()
                    .and_then(|s| s.split_at_local(&key, new_range).map_err(WireError::from)),
            ),
            NodeRequest::Unsplit { key } => NodeResponse::Unsplit(
                self.store()
                    .and_then(|s| s.unsplit_local(&key).map_err(WireError::from)),
            ),
            NodeRequest::Status => NodeResponse::Status(self.status()),
            NodeRequest::Decommission { node } => NodeResponse::Done(self.decommission(node)),
            NodeRequest::Closed { updates, .. } => {
                NodeResponse::Done(self.store().map(|s| crate::closedts::receive(&s, &updates)))
            }
            NodeRequest::Init => NodeResponse::Done(match self.init.get() {
                Some(hook) => hook().map_err(WireError::Internal),
                None => Err(WireError::Internal(
                    "this node cannot be initialised".into(),
                )),
            }),
        }
    }

    /// Range 1's leaseholder reads the meta records.
    fn lookup(&self, key: &[u8]) -> Result<RangeDescriptor, WireError> {
        let s = self.store()?;
        let rep = s
            .replica(RangeId(1))
            .ok_or(WireError::NotLeaseholder(None))?;
        s.ensure_lease(&rep).map_err(WireError::from)?;
        let start = desc::meta_lookup_start(key);
        let mut found = None;
        s.engine()
            .scan(&start, Some(&desc::meta_end()), &mut |_, v| {
                found = desc::decode::<RangeDescriptor>(v).ok();
                Visit::Stop
            })
            .map_err(|e| WireError::Internal(e.to_string()))?;
        found.ok_or_else(|| WireError::Internal(format!("no meta record for key {key:?}")))
    }

    /// Range 1's leaseholder lists every meta record.
    fn ranges(&self) -> Result<Vec<RangeDescriptor>, WireError> {
        let s = self.store()?;
        let rep = s
            .replica(RangeId(1))
            .ok_or(WireError::NotLeaseholder(None))?;
        s.ensure_lease(&rep).map_err(WireError::from)?;
        let mut out = Vec::new();
        s.engine()
            .scan(
                &desc::meta_key(Some(&[])),
                Some(&desc::meta_end()),
                &mut |_, v| {
                    if let Ok(d) = desc::decode::<RangeDescriptor>(v) {
                        out.push(d);
                    }
                    Visit::Continue
                },
            )
            .map_err(|e| WireError::Internal(e.to_string()))?;
        Ok(out)
    }

    fn alloc_id(&self, key: &[u8]) -> Result<u64, WireError> {
        let s = self.store()?;
        let rep = s
            .replica(RangeId(1))
            .ok_or(WireError::NotLeaseholder(None))?;
        let _g = self.alloc.lock();
        s.ensure_lease(&rep).map_err(WireError::from)?;
        let cur: u64 = match s
            .engine()
            .get(key)
            .map_err(|e| WireError::Internal(e.to_string()))?
        {
            Some(raw) => desc::decode(&raw).map_err(WireError::Internal)?,
            None => 0,
        };
        let next = cur + 1;
        s.write_plain(RangeId(1), vec![(key.to_vec(), Some(desc::encode(&next)))])
            .map_err(WireError::from)?;
        Ok(next)
    }

    fn nodes(&self) -> Result<Vec<NodeRecord>, WireError> {
        let s = self.store()?;
        let rep = s
            .replica(RangeId(1))
            .ok_or(WireError::NotLeaseholder(None))?;
        s.ensure_lease(&rep).map_err(WireError::from)?;
        let (start, end) = desc::node_span();
        let mut out = Vec::new();
        s.engine()
            .scan(&start, Some(&end), &mut |_, v| {
                if let Ok(n) = desc::decode::<NodeRecord>(v) {
                    out.push(n);
                }
                Visit::Continue
            })
            .map_err(|e| WireError::Internal(e.to_string()))?;
        Ok(out)
    }

    fn replica_info(&self, range: RangeId) -> Result<ReplicaInfo, WireError> {
        let s = self.store()?;
        let rep = s.replica(range).ok_or(WireError::Mismatch(None))?;
        let lease = rep.lease();
        Ok(ReplicaInfo {
            desc: rep.desc(),
            lease_holder: lease.holder,
            lease_expiration: lease.expiration,
            is_leader: rep.leader().1,
        })
    }

    /// Handles a request from this node itself without the transport.
    pub fn call_local(&self, req: NodeRequest) -> NodeResponse {
        self.dispatch(req)
    }
}

impl Handler for NodeService {
    fn raft(&self, batch: Vec<RaftEnvelope>) {
        match self.store.get().and_then(|s| s.upgrade()) {
            Some(s) => s.deliver_raft(batch),
            None => {
                // Messages before the store opened (a node still joining): keep a few.
                let mut early = self.inbox_before_store.lock();
                if early.len() < 1024 {
                    early.extend(batch);
                }
            }
        }
    }

    fn call(&self, req: Vec<u8>) -> Vec<u8> {
        let resp = match desc::decode::<NodeRequest>(&req) {
            Ok(r) => self.dispatch(r),
            Err(e) => NodeResponse::BadRequest(e),
        };
        desc::encode(&resp)
    }
}
