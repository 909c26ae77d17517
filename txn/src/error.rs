//! Errors of the transaction layer.

use std::fmt;

/// Result type of the txn crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Why a transaction must be retried. The names match CockroachDB's so that clients and
/// runbooks written for it recognise them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    /// Another transaction committed a write to a key this one also wrote, after this one's
    /// read timestamp.
    WriteTooOld,
    /// Another transaction committed a write to a key this one read, after this one's read
    /// timestamp, so the reads can no longer be serialised at the commit timestamp.
    Serializable,
    /// A read found a value written after the transaction started, on a clock that may have
    /// been behind (inside the uncertainty interval), and the transaction's earlier reads could
    /// not be moved to after it.
    ReadWithinUncertainty,
    /// The transaction's record was found aborted: a conflicting transaction found it
    /// abandoned (no heartbeat) or chose it as a deadlock victim.
    AbortedRecordFound,
    /// The transaction was chosen to abort to break a deadlock it was part of.
    PusherAborted,
}

impl fmt::Display for RetryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RetryReason::WriteTooOld => "RETRY_WRITE_TOO_OLD",
            RetryReason::Serializable => "RETRY_SERIALIZABLE",
            RetryReason::ReadWithinUncertainty => "ReadWithinUncertaintyIntervalError",
            RetryReason::AbortedRecordFound => {
                "TransactionAbortedError(ABORT_REASON_ABORTED_RECORD_FOUND)"
            }
            RetryReason::PusherAborted => "TransactionAbortedError(ABORT_REASON_PUSHER_ABORTED)",
        })
    }
}

/// A transaction-layer error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The transaction conflicted and must be retried from the start (SQLSTATE 40001).
    #[error("restart transaction: TransactionRetryWithProtoRefreshError: {reason}: {detail}")]
    Retry {
        /// The classified reason.
        reason: RetryReason,
        /// A human-readable description of the conflict.
        detail: String,
    },
    /// A write was attempted in a read-only transaction (SQLSTATE 25006).
    #[error("cannot execute write in a read-only transaction")]
    ReadOnly,
    /// The commit's outcome is unknown (SQLSTATE 40003); never retried blindly.
    #[error("result is ambiguous: {0}")]
    Ambiguous(String),
    /// A read below the range's garbage-collection threshold: the versions it needs are gone.
    #[error("batch timestamp {ts} must be after replica GC threshold {threshold}")]
    BelowGcThreshold {
        /// The read timestamp.
        ts: kv::Timestamp,
        /// The range's threshold.
        threshold: kv::Timestamp,
    },
    /// A broken invariant inside the transaction layer (a bug, reported rather than panicking).
    #[error("internal transaction error: {0}")]
    Internal(String),
    /// The request's keys are not (all) in the range it reached: its routing was stale
    /// (the range split or merged). The sender refreshes its routing and retries.
    #[error("key range mismatch: {0}")]
    RangeKeyMismatch(String),
    /// The replica that received the request does not hold the range's lease; `leaseholder`
    /// is its best guess of who does. The sender retries there.
    #[error("not leaseholder{}", .leaseholder.map(|n| format!(" (try {n})")).unwrap_or_default())]
    NotLeaseholder {
        /// The node believed to hold the lease.
        leaseholder: Option<kv::NodeId>,
    },
    /// No replica of a range could serve the request in time (no quorum, nodes down).
    #[error("range unavailable: {0}")]
    Unavailable(String),
    /// The storage layer failed.
    #[error(transparent)]
    Storage(#[from] kv::Error),
}

impl Error {
    /// Whether retrying the whole transaction may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Retry { .. })
    }
}
