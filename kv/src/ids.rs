//! Identity newtypes shared by every layer above: nodes, stores' ranges and the replicas of a
//! range. They are distinct types so a `RangeId` cannot be passed where a `NodeId` is meant.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A node of the cluster (one process, one store). Ids start at 1; 0 means "not assigned yet".
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct NodeId(pub u64);

/// A range: a span of the keyspace replicated by one Raft group. Range 1 is created when the
/// cluster is initialised; splits allocate the rest.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct RangeId(pub u64);

/// One replica of one range: its Raft peer id, unique within the range and never reused.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct ReplicaId(pub u64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

impl fmt::Display for RangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
