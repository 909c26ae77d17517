//! A store: the ranges of one node's engine, and the router that hands each request to the
//! range owning its key. In a single-node deployment the store is the whole keyspace; in a
//! cluster (ranges-and-Raft issue) the distributed sender routes over the network to the
//! leaseholder of each range and this store serves the replicas it holds.
//!
//! The store also runs the background work of its ranges: asynchronous intent resolution after
//! a transaction finished, and MVCC garbage collection below `now - ttl` (never above the
//! oldest read timestamp of a transaction running on this node).

use crate::api::{Header, Request, Response};
use crate::range::latch::Span;
use crate::range::{LocalWrite, Range, RangeConfig, ResolveTask, Router};
use crate::{Error, Result};
use kv::mvcc::Mvcc;
use kv::{Clock, Timestamp};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Configuration of a store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Settings shared by the ranges.
    pub range: RangeConfig,
    /// Split points: range boundaries inside the keyspace (tests use them to make
    /// transactions span ranges).
    pub split_keys: Vec<Vec<u8>>,
    /// Versions older than this are garbage collected.
    pub gc_ttl: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            range: RangeConfig::default(),
            split_keys: Vec::new(),
            gc_ttl: Duration::from_secs(4 * 3600),
        }
    }
}

/// The ranges of one engine.
pub struct Store {
    mvcc: Mvcc,
    clock: Arc<Clock>,
    cfg: StoreConfig,
    ranges: Vec<Arc<Range>>,
    /// Read timestamps of running transactions on this node (gc stays below them), and the
    /// last registration token handed out.
    active: Mutex<(u64, BTreeMap<u64, Timestamp>)>,
}

impl Store {
    /// Opens a store over `mvcc` with ranges split at `cfg.split_keys`, and starts its
    /// background intent resolver.
    pub fn new(mvcc: Mvcc, clock: Arc<Clock>, cfg: StoreConfig) -> Arc<Store> {
        let (tx, rx) = mpsc::channel::<ResolveTask>();
        let mut bounds = cfg.split_keys.clone();
        bounds.sort();
        bounds.dedup();
        bounds.retain(|k| !k.is_empty());
        let mut ranges = Vec::new();
        let mut start = Vec::new();
        for b in bounds.into_iter().map(Some).chain([None]) {
            let span = Span {
                start: std::mem::take(&mut start),
                end: b.clone(),
            };
            ranges.push(Arc::new(Range::new(
                span,
                mvcc.clone(),
                clock.clone(),
                cfg.range.clone(),
                tx.clone(),
                Arc::new(LocalWrite(mvcc.engine().clone())),
                // Like a new lease: no read served by this range can be above its start.
                clock.now(),
            )));
            start = b.unwrap_or_default();
        }
        let store = Arc::new(Store {
            mvcc,
            clock,
            cfg,
            ranges,
            active: Mutex::new((0, BTreeMap::new())),
        });
        let weak = Arc::downgrade(&store);
        drop(tx);
        std::thread::Builder::new()
            .name("intent-resolver".into())
            .spawn(move || resolver_loop(weak, rx))
            .ok();
        store
    }

    /// The store's MVCC data.
    pub fn mvcc(&self) -> &Mvcc {
        &self.mvcc
    }

    /// The node's clock.
    pub fn clock(&self) -> &Arc<Clock> {
        &self.clock
    }

    /// The ranges, in key order.
    pub fn ranges(&self) -> &[Arc<Range>] {
        &self.ranges
    }

    /// The range owning `key`.
    pub fn range_for(&self, key: &[u8]) -> &Arc<Range> {
        let i = self
            .ranges
            .partition_point(|r| r.span.end.as_deref().is_some_and(|e| e <= key));
        &self.ranges[i.min(self.ranges.len() - 1)]
    }

    /// Registers a running transaction's read timestamp; returns a token for
    /// [`Store::unregister`].
    pub fn register(&self, read_ts: Timestamp) -> u64 {
        let mut active = self.active.lock();
        active.0 += 1;
        let token = active.0;
        active.1.insert(token, read_ts);
        token
    }

    /// Forgets a transaction registered with [`Store::register`].
    pub fn unregister(&self, token: u64) {
        self.active.lock().1.remove(&token);
    }

    /// Runs one garbage-collection pass over every range; returns versions removed.
    pub fn gc_once(&self) -> Result<usize> {
        let now = self.clock.now();
        let ttl_ms = self.cfg.gc_ttl.as_millis() as u64;
        let mut threshold =
            Timestamp::from_parts(now.physical_ms().saturating_sub(ttl_ms), now.logical());
        if let Some(oldest) = self.active.lock().1.values().min() {
            threshold = threshold.min(*oldest);
        }
        let mut removed = 0;
        for r in &self.ranges {
            removed += r.gc(threshold)?;
        }
        Ok(removed)
    }

    /// Starts a thread that garbage collects every `interval` while the store lives.
    pub fn start_gc(self: &Arc<Self>, interval: Duration) {
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("mvcc-gc".into())
            .spawn(move || loop {
                std::thread::sleep(interval);
                let Some(store) = weak.upgrade() else { return };
                if let Err(e) = store.gc_once() {
                    tracing::warn!(error = %e, "mvcc gc failed");
                }
            })
            .ok();
    }
}

fn resolver_loop(store: Weak<Store>, rx: mpsc::Receiver<ResolveTask>) {
    while let Ok((h, req)) = rx.recv() {
        let Some(store) = store.upgrade() else { return };
        if let Err(e) = crate::range::resolve_everywhere(store.as_ref(), &h, req) {
            tracing::debug!(error = %e, "async intent resolution failed; readers will resolve it");
        }
    }
}

/// The key that decides which range serves a request.
pub fn routing_key<'a>(h: &'a Header, req: &'a Request) -> Result<&'a [u8]> {
    Ok(match req {
        Request::Get { key, .. } => key,
        Request::Resolve { keys, .. } => match keys.first() {
            Some(key) => key,
            None => return Err(Error::Internal("a resolve request without keys".into())),
        },
        Request::GetMany { keys } => match keys.first() {
            Some(key) => key,
            None => return Err(Error::Internal("a read request without keys".into())),
        },
        Request::Put { writes } => match writes.first() {
            Some((key, _)) => key,
            None => return Err(Error::Internal("a write request without writes".into())),
        },
        Request::Scan { start, .. } => start,
        Request::Refresh { spans, .. } => match spans.first() {
            Some((start, _)) => start,
            None => return Err(Error::Internal("a refresh without spans".into())),
        },
        Request::EndTxn { .. } | Request::Heartbeat => match &h.txn {
            Some(t) => &t.anchor,
            None => {
                return Err(Error::Internal(
                    "transaction request without a transaction".into(),
                ))
            }
        },
        Request::Push { pushee, .. } => &pushee.anchor,
        Request::Query { anchor, .. } => anchor,
    })
}

impl crate::sender::Sender for Store {
    fn clock(&self) -> &Arc<Clock> {
        &self.clock
    }

    fn range_of(&self, key: &[u8]) -> u64 {
        let r = self.range_for(key);
        self.ranges
            .iter()
            .position(|x| Arc::ptr_eq(x, r))
            .unwrap_or_default() as u64
    }

    fn uncertainty_limit(&self, read_ts: Timestamp) -> Timestamp {
        read_ts
    }

    fn register(&self, read_ts: Timestamp) -> u64 {
        Store::register(self, read_ts)
    }

    fn unregister(&self, token: u64) {
        Store::unregister(self, token)
    }
}

impl Router for Store {
    fn route(&self, h: &Header, req: &Request) -> Result<Response> {
        let key = routing_key(h, req)?;
        self.range_for(key).execute(self, h, req)
    }
}
