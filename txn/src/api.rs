//! The range request API: what a transaction coordinator sends to the range that owns a key.
//!
//! Every request names one key (or a span inside one range) and carries a [`Header`] with the
//! transaction it runs in. Records, intents, locks and the timestamp cache live in the range that
//! owns the key, so the same requests work when ranges live on different nodes: the store routes
//! them today, the distributed sender (ranges-and-Raft issue) routes them over the network.

use crate::LockStrength;
use kv::mvcc::{Seq, TxnId, TxnMeta};
use kv::Timestamp;
use serde::{Deserialize, Serialize};

/// Key spans `[start, end)` (`end = None`: to the end of the keyspace) as requests carry them.
pub type WireSpans = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// One key's writes in a transaction: (sequence number, value or None for a delete), oldest
/// first.
pub type KeyWrites = (Vec<u8>, Vec<(Seq, Option<Vec<u8>>)>);

/// Who is asking, and at what time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    /// The transaction; None for non-transactional requests (pushes by the system).
    pub txn: Option<TxnMeta>,
    /// The read timestamp.
    pub read_ts: Timestamp,
    /// Values in `(read_ts, uncertainty_limit]` make a read uncertain.
    pub uncertainty_limit: Timestamp,
    /// Sequence ranges the transaction rolled back (their intent values are invisible).
    pub ignored: Vec<(Seq, Seq)>,
    /// Observed timestamps: (node, a reading of that node's clock taken after the
    /// transaction started). A leaseholder on a listed node lowers the uncertainty limit to
    /// its reading (see [`crate::range::Range::observed_limit`]): a value above it was
    /// written after the transaction started, so it cannot have to be seen.
    pub observed: Vec<(u64, Timestamp)>,
}

/// The status of a transaction record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnStatus {
    /// Running (heartbeating).
    Pending,
    /// Committed at the record's commit timestamp.
    Committed,
    /// Aborted: its intents are garbage.
    Aborted,
}

/// A transaction record, stored in the range of the transaction's anchor key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TxnRecord {
    /// The transaction.
    pub meta: TxnMeta,
    /// Its status.
    pub status: TxnStatus,
    /// The commit timestamp (when committed).
    pub commit_ts: Timestamp,
    /// The last heartbeat (clock reading of the record's node).
    pub last_heartbeat: Timestamp,
    /// Keys holding the transaction's intents, resolved after it finishes.
    pub lock_keys: Vec<Vec<u8>>,
    /// Rolled-back sequence ranges, needed to resolve its intents.
    pub ignored: Vec<(Seq, Seq)>,
}

/// A request to one range.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// Read one key (locking it when `lock` is set).
    Get {
        /// The key.
        key: Vec<u8>,
        /// Lock strength for a locking read.
        lock: Option<LockStrength>,
    },
    /// Read several keys (sorted, distinct; not locking). Routed by the first key; the range
    /// reads the keys it holds and hands back the others ([`Response::rest_keys`]) for the
    /// sender to route again: a batch of point lookups costs one request per range.
    GetMany {
        /// The keys.
        keys: Vec<Vec<u8>>,
    },
    /// Read `[start, end)` clamped to the range, at most `limit` rows.
    Scan {
        /// First key.
        start: Vec<u8>,
        /// End (exclusive); None = unbounded.
        end: Option<Vec<u8>>,
        /// Row limit.
        limit: usize,
        /// Lock strength for a locking read.
        lock: Option<LockStrength>,
    },
    /// Write intents: for each key (sorted, distinct), its writes in order. Routed by the first
    /// key; the range writes the keys it holds as one replicated batch and hands back the
    /// others ([`Response::unwritten`]) for the sender to route again, so a transaction's
    /// writes cost one replication round per range rather than one per key.
    Put {
        /// The keys and their writes.
        writes: Vec<KeyWrites>,
    },
    /// Finish the transaction at its anchor's range.
    EndTxn {
        /// Commit (true) or abort.
        commit: bool,
        /// One-phase commit: these writes are applied directly as committed versions.
        one_phase: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        /// Up to where the transaction's reads that are *not* in `refresh_spans` are known
        /// valid: a one-phase commit may move up to it (refreshing `refresh_spans` here).
        /// `Timestamp::MAX` when every read is listed (or there are none); None when only
        /// the transaction's write timestamp is (too many reads to list).
        refreshed_to: Option<Timestamp>,
        /// Read spans `[start, end)` sent for a server-side refresh: if they all lie in this
        /// range, a one-phase commit that must move up refreshes them here, under its
        /// latches, instead of answering `needs_refresh` (which costs the coordinator a round
        /// trip, and for a global range a second lead of commit-wait, since the closed
        /// timestamp moves on meanwhile).
        refresh_spans: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        /// Keys with intents or locks of the transaction, to resolve or release.
        lock_keys: Vec<Vec<u8>>,
    },
    /// Keep the record alive (creating it when missing).
    Heartbeat,
    /// Find out a transaction's fate, waiting (bounded) while it is pending.
    Push {
        /// The transaction in the way.
        pushee: TxnMeta,
        /// Transactions known to wait (transitively) for the pusher.
        dependents: Vec<TxnId>,
    },
    /// The record's status and the transactions waiting for it.
    Query {
        /// The transaction.
        id: TxnId,
        /// Its anchor.
        anchor: Vec<u8>,
    },
    /// Resolve the intents of `txn` on `keys` and release its locks there: one request (one
    /// replicated write) per range. Routed by the first key; the range resolves the keys it
    /// holds and hands back the others ([`Response::rest_keys`]) for the next range.
    Resolve {
        /// The keys (at least one).
        keys: Vec<Vec<u8>>,
        /// The transaction.
        txn: TxnId,
        /// Commit timestamp, or None for an abort.
        commit_ts: Option<Timestamp>,
        /// Rolled-back sequence ranges.
        ignored: Vec<(Seq, Seq)>,
    },
    /// Check that nothing was written in any of `spans` in `(read_ts, to]`, and protect them up
    /// to `to` in the timestamp cache. The request is routed by its first span's start; the
    /// range checks the parts of the spans it holds and returns the rest
    /// ([`Response::refresh_rest`]) for the sender to route again, so one request per range
    /// refreshes any number of reads there.
    Refresh {
        /// The spans, sorted by start key (not empty).
        spans: WireSpans,
        /// The new read timestamp.
        to: Timestamp,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Response {
    /// Rows read.
    pub rows: Vec<(Vec<u8>, Vec<u8>)>,
    /// Where a clamped or limited scan stopped (resume from here).
    pub resume: Option<Vec<u8>>,
    /// A read found a value in its uncertainty interval at this timestamp.
    pub uncertain: Option<Timestamp>,
    /// A locking read found a committed version newer than its read timestamp.
    pub newer: Option<Timestamp>,
    /// Where a write landed (or the commit timestamp of an EndTxn).
    pub write_ts: Option<Timestamp>,
    /// Why a write landed above the requested timestamp: a newer committed version
    /// (write too old) rather than the timestamp cache.
    pub write_too_old: bool,
    /// A one-phase commit could not commit at the requested timestamp without a refresh: the
    /// coordinator refreshes to `write_ts` and retries.
    pub needs_refresh: bool,
    /// The status found by Push / Query / Heartbeat.
    pub status: Option<TxnStatus>,
    /// The commit timestamp found by Push / Query.
    pub commit_ts: Option<Timestamp>,
    /// The pushee's rolled-back sequence ranges (needed to resolve its intents).
    pub ignored: Vec<(Seq, Seq)>,
    /// Transactions waiting for the queried one (Query).
    pub dependents: Vec<TxnId>,
    /// Refresh failed: a write at this timestamp.
    pub refresh_conflict: Option<Timestamp>,
    /// The parts of a Refresh's spans outside the serving range, not checked: the sender
    /// routes them again.
    pub refresh_rest: WireSpans,
    /// The keys of a Put or GetMany outside the serving range, not handled: the sender
    /// routes them again.
    pub rest_keys: Vec<Vec<u8>>,
    /// The serving node and its clock's reading when the request arrived (leaseholder
    /// evaluations only): the coordinator's next observed timestamp for that node.
    pub observed: Option<(u64, Timestamp)>,
}
