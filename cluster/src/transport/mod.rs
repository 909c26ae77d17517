//! Inter-node transport: how one node's Raft messages and requests reach another node.
//!
//! Two kinds of traffic cross it:
//! - **Raft messages** ([`RaftEnvelope`]): fire-and-forget, batched per destination node. Raft
//!   tolerates loss, duplication and reordering, so [`Transport::send_raft`] never blocks and
//!   never reports errors; a message to an unreachable node is dropped (and counted).
//! - **Calls** ([`Transport::call`]): one request, one response, opaque bytes both ways (the
//!   node layer encodes its own request enum with postcard). KV batches for a range's
//!   leaseholder, joins and status travel this way. A call is synchronous for the caller: the
//!   transaction layer above is synchronous, and its threads are plain threads or tokio
//!   `block_in_place` sections.
//!
//! The receiving side is a [`Handler`] the node registers with the transport.
//!
//! Implementations (all behind the same trait, so in-process clusters, the deterministic
//! tests and real processes run the same node code):
//! - [`local`]: an in-process registry of handlers by node id (in-process clusters, `demo`):
//!   [`LocalNetwork`] and its per-node [`LocalTransport`].
//! - [`grpc`]: tonic, one batched Raft message stream per peer and a unary call RPC:
//!   [`GrpcTransport`] sends; [`grpc::service_with_shutdown`] is the receiving tonic service.
//! - [`filter`]: wraps another transport and injects latency by locality pair (a region-to-region
//!   RTT matrix), drops messages, or partitions chosen nodes, since these machines have no
//!   kernel traffic shaping: [`FilteredTransport`] per node, [`Filters`] shared by the network.
//! - [`traffic`]: what the filters count, by kind: request/response calls (per operation,
//!   range and calling thread) apart from one-way Raft and closed-timestamp traffic, so tests
//!   can show that a statement waited for no other region ([`Traffic`]).
//! - [`latency`]: the region-to-region RTT matrix the filters apply ([`LatencyMatrix`]: the
//!   built-in three-region geography, `--simulated-latency` parsing, scaling).
//!
//! HAZARD: raft-rs decodes Raft messages with protobuf 2.x, which has an advisory about deep
//! recursion on untrusted input. Only peers' Raft messages reach that decoder; client bytes
//! never do.

pub mod filter;
pub mod grpc;
pub mod latency;
pub mod local;
pub mod traffic;

pub use filter::{FilteredTransport, Filters};
pub use grpc::GrpcTransport;
pub use latency::LatencyMatrix;
pub use local::{LocalNetwork, LocalTransport};
pub use traffic::{CallKey, RaftKey, Traffic};

use kv::{NodeId, RangeId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One Raft message for one range, addressed node to node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftEnvelope {
    /// The range whose Raft group the message belongs to.
    pub range_id: RangeId,
    /// The sending node.
    pub from: NodeId,
    /// The destination node.
    pub to: NodeId,
    /// The raft-rs `Message`, protobuf-encoded (opaque here).
    pub msg: Vec<u8>,
}

/// Why a call failed before the remote handler answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The destination is not known (no address for the node id).
    #[error("unknown node {0}")]
    UnknownNode(NodeId),
    /// The destination could not be reached (connection refused, partitioned, node stopped).
    #[error("node {node} unreachable: {detail}")]
    Unreachable {
        /// The destination.
        node: NodeId,
        /// What failed.
        detail: String,
    },
    /// The call did not complete within its deadline; it may or may not have executed.
    #[error("call to node {0} timed out")]
    Timeout(NodeId),
}

/// Where a call goes: a known node, or an address (joining nodes know only addresses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A node whose address the transport knows.
    Node(NodeId),
    /// A `host:port` gRPC address.
    Addr(String),
}

/// The receiving side of a node: the transport calls it on incoming traffic.
pub trait Handler: Send + Sync + 'static {
    /// Incoming Raft messages (must not block: queue them for the node's Raft loop).
    fn raft(&self, batch: Vec<RaftEnvelope>);
    /// An incoming call; returns the response bytes. May block (the transport runs it on a
    /// blocking thread).
    fn call(&self, req: Vec<u8>) -> Vec<u8>;
}

/// Sends traffic to other nodes.
pub trait Transport: Send + Sync + 'static {
    /// Queues Raft messages for their destination nodes (`to` of each envelope). Never blocks.
    fn send_raft(&self, batch: Vec<RaftEnvelope>);
    /// Calls the handler of `to` with `req` and waits (bounded by `timeout`) for its response.
    fn call(
        &self,
        to: &Target,
        req: Vec<u8>,
        timeout: std::time::Duration,
    ) -> Result<Vec<u8>, TransportError>;
    /// Records the gRPC address of a node (learned from joins and gossip).
    fn set_addr(&self, node: NodeId, addr: String);
}

/// A shared transport.
pub type SharedTransport = Arc<dyn Transport>;
