//! Errors of the replication layer.

/// A replication error. Every variant except those [`Error::is_deterministic`] accepts
/// means the replica's Raft state cannot be trusted (I/O failure or corruption): the node must
/// stop rather than let replicas diverge.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Stored Raft state does not decode or is inconsistent.
    #[error("corrupt raft state: {0}")]
    Corrupt(String),
    /// The storage engine failed.
    #[error("storage: {0}")]
    Storage(#[from] kv::Error),
    /// raft-rs refused an operation.
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    /// Encoding a protobuf message failed.
    #[error("protobuf: {0}")]
    Protobuf(#[from] protobuf::ProtobufError),
    /// A proposal reached a replica that is not its group's leader.
    #[error("not the raft leader")]
    NotLeader,
    /// No group for the range on this store.
    #[error("no replica of {0} on this store")]
    UnknownRange(kv::RangeId),
    /// A membership change was refused because another one is not finished: the previous
    /// change is not applied yet, or the group is in a joint configuration it has not left.
    #[error("a membership change of the group is still in progress")]
    ChangeInProgress,
    /// A membership change would make voter a learner that has not caught up with the
    /// leader's log yet (it still needs its snapshot or more entries); retry later.
    #[error("learner {0} has not caught up with the leader")]
    LearnerBehind(u64),
}

impl Error {
    /// Whether the error leaves the replica healthy (the caller may retry elsewhere).
    pub fn is_deterministic(&self) -> bool {
        matches!(
            self,
            Error::NotLeader
                | Error::UnknownRange(_)
                | Error::ChangeInProgress
                | Error::LearnerBehind(_)
        )
    }
}

/// A replication result.
pub type Result<T> = std::result::Result<T, Error>;
