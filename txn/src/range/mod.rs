//! One range's share of the transaction protocol: the server side.
//!
//! A [`Range`] owns a span of the keyspace and everything the protocol keeps per range: span
//! latches (requests that overlap evaluate one at a time), the timestamp cache (reads push
//! later writes above them), the lock table (unreplicated locks of locking reads), the
//! transaction records anchored in its span, and the push wait queue where transactions wait
//! for the transactions in their way (with deadlock detection).
//!
//! A request is evaluated under latches. When it meets another transaction's intent or lock,
//! evaluation stops with a conflict; the latches are released, and the requester *pushes* the
//! conflicting transaction through its record's range ([`conflict`]): a finished transaction's
//! intent is resolved, an abandoned one (no heartbeat within the expiration) is aborted, a
//! deadlock aborts one of its transactions, and otherwise the requester waits in the pushee's
//! queue. Then the request is evaluated again.
//!
//! Requests reach other ranges (pushes, async intent resolution) through a [`Router`], so the
//! same code works when those ranges live on other nodes.
//!
//! Evaluation reads the local engine and hands its writes to a [`Replicate`]: on a single node
//! that writes the engine; in a cluster it proposes the batch through the range's Raft group
//! and returns once the batch is applied locally (the leaseholder evaluates under latches, so
//! requests that overlap see each other's effects in order).
//!
//! IMPLEMENTATION CAVEATS
//! - The in-memory state (timestamp cache, lock table, wait queue) lives on the leaseholder
//!   only and starts empty with a low-water mark at the lease start (or the restart): locks of
//!   locking reads are lost when the lease moves or the range splits; serializability does not
//!   depend on them (reads are still validated by refresh).
//! - Waiters are not queued fairly per key: they wait on the conflicting transaction and all
//!   retry when it finishes.

mod eval;
mod follower;
mod gc;
pub mod latch;
pub mod locks;
mod record;
mod refresh;
pub mod tscache;
pub use follower::follower_read;
mod waitq;

use crate::api::{Header, Request, Response};
use crate::Result;
use kv::engine::{Engine, WriteBatch};
use kv::mvcc::{Mvcc, TxnMeta};
use kv::{Clock, Timestamp};
use latch::{Latches, Span};
use locks::LockTable;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use tscache::TsCache;
use waitq::WaitQueue;

pub use gc::{check_threshold, gc_threshold_key, read_gc_threshold, stage_gc_threshold};
pub use record::{record_key, record_span, resolve_everywhere};

/// Sends a request to whichever range owns its key (the store now, the distributed sender in
/// a cluster).
pub trait Router: Send + Sync {
    /// Routes and executes one request.
    fn route(&self, h: &Header, req: &Request) -> Result<Response>;
}

/// Where a range's evaluated writes go.
pub trait Replicate: Send + Sync {
    /// Makes `batch` durable (with `sync`, on disk) on the range's replicas and applied to the
    /// local engine before returning. An error means the batch was not applied, except
    /// [`crate::Error::Ambiguous`].
    fn write(&self, batch: WriteBatch, sync: bool) -> Result<()>;
}

/// Writes straight to a local engine: a range with one replica on one node.
pub struct LocalWrite(pub Arc<dyn Engine>);

impl Replicate for LocalWrite {
    fn write(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        Ok(self.0.write(batch, sync)?)
    }
}

/// Settings every range of a store shares.
#[derive(Debug, Clone)]
pub struct RangeConfig {
    /// A pending transaction whose record has not been heartbeat for this long (or that has
    /// no record and started this long ago) may be aborted by anyone it blocks.
    pub txn_expiration_ms: u64,
    /// Whether commits fsync.
    pub sync: bool,
}

impl Default for RangeConfig {
    fn default() -> Self {
        RangeConfig {
            txn_expiration_ms: 5_000,
            sync: true,
        }
    }
}

/// A request handed to the background resolver: resolve an intent after its transaction
/// finished (asynchronous cleanup).
pub type ResolveTask = (Header, Request);

/// One range.
pub struct Range {
    /// The keys the range owns.
    pub span: Span,
    mvcc: Mvcc,
    clock: Arc<Clock>,
    cfg: RangeConfig,
    latches: Latches,
    tscache: Mutex<TsCache>,
    locks: Mutex<LockTable>,
    waitq: WaitQueue,
    gc_threshold: Mutex<Timestamp>,
    resolver: Mutex<mpsc::Sender<ResolveTask>>,
    writer: Arc<dyn Replicate>,
    /// Set when the range object is replaced (split, lease moved away): requests that were
    /// already inside it fail with a routing error instead of recording reads in a timestamp
    /// cache nobody consults any more.
    retired: AtomicBool,
    /// The highest timestamp of a value (version or intent) written through this object
    /// ahead of the node's clock, or a bound on those written before it existed (the creator
    /// raises it with [`Range::note_written`]): see [`Range::observed_limit`].
    written: AtomicU64,
}

/// The outcome of one evaluation.
enum Eval {
    Done(Response),
    /// Blocked by `pushee`'s intent or lock on `key`.
    Conflict {
        pushee: TxnMeta,
        key: Vec<u8>,
    },
}

impl Range {
    /// A range over `span` of the store's MVCC data, writing through `writer`. Reads served
    /// before now (by this node or an earlier leaseholder, whose lease ended before now) are
    /// covered by the timestamp cache's low-water mark `low_water`.
    pub fn new(
        span: Span,
        mvcc: Mvcc,
        clock: Arc<Clock>,
        cfg: RangeConfig,
        resolver: mpsc::Sender<ResolveTask>,
        writer: Arc<dyn Replicate>,
        low_water: Timestamp,
    ) -> Range {
        // A new leaseholder starts from the replicated threshold (see `gc`).
        let gc_threshold = gc::read_gc_threshold(&mvcc, &span.start).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read the range's GC threshold");
            Timestamp::ZERO
        });
        Range {
            span,
            mvcc,
            clock,
            cfg,
            latches: Latches::default(),
            tscache: Mutex::new(TsCache::new(low_water)),
            locks: Mutex::new(LockTable::default()),
            waitq: WaitQueue::default(),
            gc_threshold: Mutex::new(gc_threshold),
            resolver: Mutex::new(resolver),
            writer,
            retired: AtomicBool::new(false),
            written: AtomicU64::new(low_water.as_u64()),
        }
    }

    /// Marks the range replaced (see the field's doc).
    pub fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
    }

    fn check_current(&self) -> Result<()> {
        if self.retired.load(Ordering::SeqCst) {
            return Err(crate::Error::RangeKeyMismatch(format!(
                "range {:?} was replaced while the request ran",
                self.span
            )));
        }
        Ok(())
    }

    /// RangeKeyMismatch unless the request's routing key lies in this range's span. A caller
    /// routes by a descriptor read before it fetched this object, and a split applied in
    /// between hands it the shrunk left-hand side: a scan evaluated there would read nothing
    /// and resume at the span's end, before its own start (the caller would then scan from
    /// there: another table's rows), and a write would be replicated to the wrong range.
    fn check_key(&self, h: &Header, req: &Request) -> Result<()> {
        let key = crate::store::routing_key(h, req)?;
        if self.span.contains(key) {
            return Ok(());
        }
        Err(crate::Error::RangeKeyMismatch(format!(
            "key {key:?} is outside range {:?}",
            self.span
        )))
    }

    /// Executes a request, pushing and waiting through conflicts.
    pub fn execute(&self, router: &dyn Router, h: &Header, req: &Request) -> Result<Response> {
        self.check_key(h, req)?;
        loop {
            let eval = self.evaluate(router, h, req)?;
            // A read recorded in a retired object's timestamp cache protects nothing: retry it
            // on the current range. Writes are not failed here: their commands were checked
            // against the lease and descriptor at apply, and one that applied must not be
            // reported as failed (a retried one-phase commit would write its values again).
            if matches!(
                req,
                Request::Get { .. }
                    | Request::GetMany { .. }
                    | Request::Scan { .. }
                    | Request::Refresh { .. }
            ) {
                self.check_current()?;
            }
            match eval {
                Eval::Done(r) => return Ok(r),
                Eval::Conflict { pushee, key } => {
                    conflict::handle(router, h, pushee, key)?;
                    // An evaluation that met a conflict wrote nothing, so any request may
                    // move to the current range here. It must: a replaced object's lock
                    // table is never released again (resolves go to the new object), so
                    // evaluating here once more would meet the same lock forever.
                    self.check_current()?;
                }
            }
        }
    }

    fn evaluate(&self, router: &dyn Router, h: &Header, req: &Request) -> Result<Eval> {
        match req {
            Request::Get { key, lock } => self.eval_get(h, key, *lock),
            Request::GetMany { keys } => self.eval_get_many(h, keys),
            Request::Scan {
                start,
                end,
                limit,
                lock,
            } => self.eval_scan(h, start, end.as_deref(), *limit, *lock),
            Request::Put { writes } => self.eval_put(h, writes),
            Request::Resolve {
                keys,
                txn,
                commit_ts,
                ignored,
            } => self.eval_resolve(keys, *txn, *commit_ts, ignored),
            Request::Refresh { spans, to } => self.eval_refresh(h, spans, *to),
            Request::EndTxn {
                commit,
                one_phase,
                refreshed_to,
                refresh_spans,
                lock_keys,
            } => self.eval_end_txn(
                router,
                h,
                *commit,
                one_phase,
                *refreshed_to,
                refresh_spans,
                lock_keys,
            ),
            Request::Heartbeat => self.eval_heartbeat(h).map(Eval::Done),
            Request::Push { pushee, dependents } => {
                self.eval_push(h, pushee, dependents).map(Eval::Done)
            }
            Request::Query { id, anchor } => self.eval_query(*id, anchor).map(Eval::Done),
        }
    }

    /// Notes a value written at `ts`: raises the bound of [`Range::observed_limit`] to it
    /// when it is ahead of this node's clock (a future-time write). A value at or below the
    /// clock's last reading is covered by any later reading, so it needs no note. Every
    /// write through this object calls it before it is proposed; the creator calls it with
    /// a bound on what earlier leaseholders wrote.
    pub fn note_written(&self, ts: Timestamp) {
        if ts > self.clock.peek() {
            self.written.fetch_max(ts.as_u64(), Ordering::SeqCst);
        }
    }

    /// The uncertainty limit for `h` when the serving node observed its clock at `observed`
    /// after the transaction started: a value above that reading cannot have been written
    /// before the transaction started, *if* it was written at or below this node's clock
    /// (evaluating a request moves the clock up to its timestamps). Values written ahead of
    /// the clock (global ranges, transactions pushed into the future) and values written
    /// under an earlier lease are not, so the reading is raised to the
    /// [`Range::note_written`] bound first (CockroachDB raises it to the lease start and
    /// ignores it for synthetic timestamps). Never below the read timestamp.
    pub fn observed_limit(&self, h: &Header, observed: Timestamp) -> Timestamp {
        let floor = observed.max(Timestamp::from_u64(self.written.load(Ordering::SeqCst)));
        h.uncertainty_limit.min(floor).max(h.read_ts)
    }

    /// The current GC threshold.
    pub fn gc_threshold(&self) -> Timestamp {
        *self.gc_threshold.lock()
    }

    /// Number of unreplicated locks held (status, tests).
    pub fn lock_count(&self) -> usize {
        self.locks.lock().len()
    }
}

mod conflict;
