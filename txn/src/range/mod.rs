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
//! IMPLEMENTATION CAVEATS
//! - Ranges are not replicated yet (ranges-and-Raft issue): evaluation writes straight to the
//!   store's engine. Each range's in-memory state (timestamp cache, lock table, wait queue) is
//!   lost on restart; the timestamp cache restarts at the clock's reading, like a new lease
//!   (safe on one node, whose reads all used its own clock).
//! - Waiters are not queued fairly per key: they wait on the conflicting transaction and all
//!   retry when it finishes.

mod eval;
pub mod latch;
pub mod locks;
mod record;
pub mod tscache;
mod waitq;

use crate::api::{Header, Request, Response};
use crate::Result;
use kv::mvcc::{Mvcc, TxnMeta};
use kv::{Clock, Timestamp};
use latch::{Latches, Span};
use locks::LockTable;
use parking_lot::Mutex;
use std::sync::mpsc;
use std::sync::Arc;
use tscache::TsCache;
use waitq::WaitQueue;

pub use record::record_key;

/// Sends a request to whichever range owns its key (the store now, the distributed sender in
/// a cluster).
pub trait Router: Send + Sync {
    /// Routes and executes one request.
    fn route(&self, h: &Header, req: &Request) -> Result<Response>;
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
    /// A range over `span` of the store's MVCC data.
    pub fn new(
        span: Span,
        mvcc: Mvcc,
        clock: Arc<Clock>,
        cfg: RangeConfig,
        resolver: mpsc::Sender<ResolveTask>,
    ) -> Range {
        // Like a new lease: no read served by this range can be above its start.
        let low_water = clock.now();
        Range {
            span,
            mvcc,
            clock,
            cfg,
            latches: Latches::default(),
            tscache: Mutex::new(TsCache::new(low_water)),
            locks: Mutex::new(LockTable::default()),
            waitq: WaitQueue::default(),
            gc_threshold: Mutex::new(Timestamp::ZERO),
            resolver: Mutex::new(resolver),
        }
    }

    /// Executes a request, pushing and waiting through conflicts.
    pub fn execute(&self, router: &dyn Router, h: &Header, req: &Request) -> Result<Response> {
        loop {
            match self.evaluate(router, h, req)? {
                Eval::Done(r) => return Ok(r),
                Eval::Conflict { pushee, key } => conflict::handle(router, h, pushee, key)?,
            }
        }
    }

    fn evaluate(&self, router: &dyn Router, h: &Header, req: &Request) -> Result<Eval> {
        match req {
            Request::Get { key, lock } => self.eval_get(h, key, *lock),
            Request::Scan {
                start,
                end,
                limit,
                lock,
            } => self.eval_scan(h, start, end.as_deref(), *limit, *lock),
            Request::Put { key, value, seq } => self.eval_put(h, key, value.as_deref(), *seq),
            Request::Resolve {
                key,
                txn,
                commit_ts,
                ignored,
            } => self.eval_resolve(key, *txn, *commit_ts, ignored),
            Request::Refresh { start, end, to } => self.eval_refresh(h, start, end.as_deref(), *to),
            Request::EndTxn {
                commit,
                one_phase,
                can_bump,
                lock_keys,
            } => self.eval_end_txn(router, h, *commit, one_phase, *can_bump, lock_keys),
            Request::Heartbeat => self.eval_heartbeat(h).map(Eval::Done),
            Request::Push { pushee, dependents } => {
                self.eval_push(h, pushee, dependents).map(Eval::Done)
            }
            Request::Query { id, anchor } => self.eval_query(*id, anchor).map(Eval::Done),
        }
    }

    /// Removes versions older than `threshold` in this range; reads below it fail afterwards.
    pub fn gc(&self, threshold: Timestamp) -> Result<usize> {
        {
            let mut t = self.gc_threshold.lock();
            if threshold <= *t {
                return Ok(0);
            }
            *t = threshold;
        }
        Ok(self
            .mvcc
            .gc_span(&self.span.start, self.span.end.as_deref(), threshold)?)
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
