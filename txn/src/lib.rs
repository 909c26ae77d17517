//! Transactions over MVCC.
//!
//! The SQL layer sees transactions only through the [`Transaction`] and [`TxnSource`] traits
//! defined here: batch-friendly calls (point get, paged scan, buffered put/delete, commit), because
//! in a cluster every call may be a network round trip.
//!
//! The implementation is CockroachDB's protocol over a range request API ([`api`]):
//! - [`range`]: the server side of one range: latches, timestamp cache, lock table, transaction
//!   records, push/wait queues with deadlock detection, request evaluation over MVCC intents.
//! - [`coord`]: the client side, one coordinator per transaction: buffered writes, read spans and
//!   refresh, uncertainty, one-phase and two-phase commit, heartbeats.
//! - [`store`]: the ranges of one engine and the router between them; background intent
//!   resolution and MVCC garbage collection. [`local::LocalTxnManager`] packages a store as a
//!   [`TxnSource`] for a single node.
//!
//! docs/transactions.md explains the protocol, why it is serializable, and every retry error.
//!
//! IMPLEMENTATION CAVEATS
//! - The coordinator reaches ranges through [`sender::Sender`]: the local [`store::Store`] on a
//!   single node, the cluster crate's distributed sender (replicated ranges) in a cluster.
//! - No parallel commits; see the module docs for the rest.

pub mod api;
pub mod coord;
pub mod error;
pub mod local;
pub mod range;
pub mod sender;
pub mod store;
pub mod zone;

pub use error::{Error, Result, RetryReason};
pub use kv::Timestamp;

/// A page of scan results: the rows, and the key to resume from when the span was not
/// exhausted (None when it was).
#[derive(Debug, Default)]
pub struct ScanPage {
    /// Key-value pairs in key order.
    pub rows: Vec<(Vec<u8>, Vec<u8>)>,
    /// Where the next page starts, or None when the span is done.
    pub resume: Option<Vec<u8>>,
}

/// Options for starting a transaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct TxnOptions {
    /// Refuse writes.
    pub read_only: bool,
    /// Read a past snapshot at this timestamp (implies read-only): `AS OF SYSTEM TIME`.
    pub as_of: Option<Timestamp>,
}

/// How strongly a locking read locks the keys it reads.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum LockStrength {
    /// `FOR SHARE` / `FOR KEY SHARE`: other sharers may lock too; writers wait.
    Shared,
    /// `FOR UPDATE` / `FOR NO KEY UPDATE`, and the reads of UPDATE/DELETE: everyone else waits.
    Exclusive,
}

/// One transaction. Reads see the transaction's own writes.
pub trait Transaction: Send {
    /// The timestamp the transaction reads at.
    fn read_ts(&self) -> Timestamp;

    /// Whether writes are refused.
    fn is_read_only(&self) -> bool;

    /// Reads one key.
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Reads several keys (the results in the order of `keys`). A distributed implementation
    /// sends one request per range, the ranges at once, instead of one round trip per key.
    fn get_many(&mut self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// Reads keys in `[start, end)` (`end = None`: to the end of the keyspace), at most about
    /// `limit` rows per page.
    fn scan(&mut self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<ScanPage>;

    /// Reads one key and locks it against other writers and lockers until the transaction
    /// ends (`SELECT ... FOR UPDATE / FOR SHARE`, and the row lookups of UPDATE and DELETE).
    /// A conflicting lock held by another transaction makes this wait (or push it).
    /// Implementations without locks fall back to a plain read, which is still serializable.
    fn get_locking(&mut self, key: &[u8], strength: LockStrength) -> Result<Option<Vec<u8>>> {
        let _ = strength;
        self.get(key)
    }

    /// [`Transaction::scan`] that also locks every key it returns (see
    /// [`Transaction::get_locking`]).
    fn scan_locking(
        &mut self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
        strength: LockStrength,
    ) -> Result<ScanPage> {
        let _ = strength;
        self.scan(start, end, limit)
    }

    /// Buffers a write of `key`.
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<()>;

    /// Buffers a deletion of `key`.
    fn delete(&mut self, key: Vec<u8>) -> Result<()>;

    /// Marks a savepoint: [`Transaction::rollback_to`] with the returned token undoes every
    /// write made after it.
    fn savepoint(&mut self) -> usize;

    /// Undoes the writes made since the savepoint.
    fn rollback_to(&mut self, savepoint: usize);

    /// Commits; returns the commit timestamp. A retryable error means nothing was written.
    fn commit(self: Box<Self>) -> Result<Timestamp>;

    /// Abandons the transaction; its writes are discarded.
    fn rollback(self: Box<Self>);
}

/// Something that starts transactions: a single node's store, or a cluster node's
/// distributed sender. It also answers the range questions SQL asks (`SHOW RANGES`,
/// `ALTER TABLE ... SPLIT AT`, `SHOW CLUSTER`-style node listings).
pub trait TxnSource: Send + Sync {
    /// Starts a transaction.
    fn begin(&self, opts: TxnOptions) -> Result<Box<dyn Transaction>>;

    /// The current time of this node's clock.
    fn now(&self) -> Timestamp;

    /// The ranges overlapping `[start, end)`, in key order.
    fn ranges(&self, start: &[u8], end: Option<&[u8]>) -> Result<Vec<RangeInfo>> {
        let _ = (start, end);
        Ok(vec![RangeInfo {
            range_id: 1,
            start: Vec::new(),
            end: None,
            replicas: vec![1],
            non_voters: Vec::new(),
            leaseholder: Some(1),
        }])
    }

    /// Splits the range holding `key` so that a range starts at `key` (nothing to do when one
    /// already does).
    fn split_at(&self, key: &[u8]) -> Result<()> {
        let _ = key;
        Err(Error::Internal(
            "this node does not split ranges (single-node store)".into(),
        ))
    }

    /// Removes the split enforcement of the range starting at `key` (CockroachDB's `UNSPLIT
    /// AT`): the merge queue may then merge it into its left neighbour. Returns whether the
    /// split was enforced (false: nothing to do). The caller checks first that a range
    /// starts at `key`.
    fn unsplit_at(&self, key: &[u8]) -> Result<bool> {
        let _ = key;
        Err(Error::Internal(
            "this node does not merge ranges (single-node store)".into(),
        ))
    }

    /// The nodes of the cluster.
    fn nodes(&self) -> Result<Vec<NodeInfo>> {
        Ok(Vec::new())
    }

    /// This node's locality tiers, e.g. `[("region", "us-east1"), ("zone", "b")]` (empty when
    /// it was started without `--locality`). `gateway_region()` is its region.
    fn locality(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// One range, as `SHOW RANGES` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeInfo {
    /// The range id.
    pub range_id: u64,
    /// First key.
    pub start: Vec<u8>,
    /// First key after it (None: end of the keyspace).
    pub end: Option<Vec<u8>>,
    /// Node ids holding a voting replica.
    pub replicas: Vec<u64>,
    /// Node ids holding a non-voting replica (a copy for follower reads).
    pub non_voters: Vec<u64>,
    /// The node holding the lease, if known.
    pub leaseholder: Option<u64>,
}

/// One node, as `SHOW CLUSTER` / `crdb_internal.gossip_nodes` print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Node id.
    pub node_id: u64,
    /// gRPC address.
    pub address: String,
    /// SQL address.
    pub sql_address: String,
    /// Locality, e.g. `region=us-east1,zone=a`.
    pub locality: String,
    /// Whether its liveness record is current.
    pub is_live: bool,
    /// Whether it is being decommissioned.
    pub decommissioning: bool,
    /// Number of ranges it holds a replica of (None: unknown).
    pub ranges: Option<u64>,
    /// Number of leases it holds (None: unknown).
    pub leases: Option<u64>,
}
