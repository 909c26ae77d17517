//! The transaction coordinator: the client side of the protocol, one per SQL transaction,
//! implementing [`Transaction`] over the range request API.
//!
//! - Writes are buffered here (with their sequence numbers, so savepoints can undo them) and
//!   read back by the transaction's own reads. At commit, when every written and locked key and
//!   the anchor fall in one range and no intent was written yet, the writes travel with the
//!   EndTxn request and commit in one step (the one-phase commit). Otherwise they become intents
//!   in their ranges, then the record at the anchor commits, and the intents are resolved
//!   (those in the anchor's range in the same batch, others in the background). A buffer that
//!   grows past [`MAX_BUFFERED_BYTES`] is flushed as intents early.
//! - Reads go to the ranges at the read timestamp; their spans are remembered. When the
//!   transaction's timestamp must move up (its writes were pushed by the timestamp cache or a
//!   newer version, a read met a value in its uncertainty interval, or a locking read met a
//!   newer version), it *refreshes*: every remembered span is checked for writes between the
//!   old and new timestamps. If none, the transaction simply moves; else it fails with a
//!   retryable error (SQLSTATE 40001) naming the reason.
//! - Locking reads lock keys in their ranges; a transaction holding locks or intents is
//!   heartbeat so that others can tell it from an abandoned one.
//!
//! IMPLEMENTATION CAVEATS
//! - No parallel commits (STAGING records): a multi-range commit writes its intents, then the
//!   record, in sequence.
//! - Uncertainty: reads on the local store use the transaction's start as the observed
//!   timestamp, so a single node never restarts for uncertainty; the interval applies once
//!   ranges are served by other nodes (the range API honours any limit it is given).
//! - Locks taken after a savepoint are kept when rolling back to it.
//! - All transactions have the same priority.

mod heartbeat;
mod parallel;
mod refresh;

pub use heartbeat::{Heartbeater, HEARTBEAT_INTERVAL};

use crate::api::{Header, KeyWrites, Request, Response, WireSpans};
use crate::range::latch::Span;
use crate::sender::Sender;
use crate::{
    Error, LockStrength, Result, RetryReason, ScanPage, Transaction, TxnOptions, TxnSource,
};
use kv::mvcc::{Seq, TxnId, TxnMeta};
use kv::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Buffered write bytes beyond which writes are flushed as intents.
pub const MAX_BUFFERED_BYTES: usize = 8 << 20;
/// Remembered read spans beyond which the transaction can no longer refresh.
pub const MAX_REFRESH_SPANS: usize = 100_000;
/// Attempts to move a read or commit up before giving up with a retry error.
const MAX_BUMPS: usize = 64;
/// How many times a one-phase commit pushed into the future refreshes only the reads in
/// other ranges before it falls back to refreshing everything (which reports a conflict in
/// its own range's reads).
const SPLIT_REFRESHES: usize = 2;
/// The priority every transaction has today.
const NORMAL_PRIORITY: u32 = 1;

/// The buffered writes of one key: (sequence, value or None for a delete), oldest first.
type WriteHistory = Vec<(Seq, Option<Vec<u8>>)>;

/// Starts transactions over a sender (a single node's store or a cluster's distributed
/// sender).
pub struct KvTxnSource {
    store: Arc<dyn Sender>,
    heartbeater: Arc<Heartbeater>,
}

impl KvTxnSource {
    /// A source over `store` (starts its heartbeat thread).
    pub fn new(store: Arc<dyn Sender>) -> Self {
        let heartbeater = Heartbeater::start(&store);
        KvTxnSource { store, heartbeater }
    }

    /// The sender.
    pub fn sender(&self) -> &Arc<dyn Sender> {
        &self.store
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A fresh transaction id: unique within the process by a counter, across processes by the
/// clock and a random hash seed.
fn new_txn_id() -> TxnId {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    h.write_u64(n);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    h.write_u128(nanos);
    TxnId(((h.finish() as u128) << 64) | (n as u128))
}

impl TxnSource for KvTxnSource {
    fn begin(&self, opts: TxnOptions) -> Result<Box<dyn Transaction>> {
        let now = self.store.clock().now();
        let read_ts = opts.as_of.unwrap_or(now);
        let meta = TxnMeta {
            id: new_txn_id(),
            anchor: Vec::new(),
            write_ts: read_ts,
            min_ts: now,
            priority: NORMAL_PRIORITY,
        };
        let token = self.store.register(read_ts);
        Ok(Box::new(Coord {
            store: self.store.clone(),
            heartbeater: self.heartbeater.clone(),
            meta,
            read_ts,
            uncertainty_limit: if opts.as_of.is_some() {
                // A historical read is at a fixed time; nothing is uncertain.
                read_ts
            } else {
                self.store.uncertainty_limit(read_ts)
            },
            // The transaction started by this node's clock: its reading is the first observed
            // timestamp (reads served here are certain above it).
            observed: self.store.node_id().map(|n| (n, now)).into_iter().collect(),
            read_only: opts.read_only || opts.as_of.is_some(),
            buffer: BTreeMap::new(),
            buffered_bytes: 0,
            seq: 0,
            ignored: Vec::new(),
            refresh_spans: Vec::new(),
            refresh_invalid: false,
            lock_keys: BTreeSet::new(),
            intents_written: false,
            heartbeating: false,
            aborted: Arc::new(AtomicBool::new(false)),
            token,
            finished: false,
        }))
    }

    fn now(&self) -> Timestamp {
        self.store.clock().now()
    }
}

/// One transaction's coordinator.
pub struct Coord {
    store: Arc<dyn Sender>,
    heartbeater: Arc<Heartbeater>,
    meta: TxnMeta,
    read_ts: Timestamp,
    uncertainty_limit: Timestamp,
    /// Observed timestamps by node (see [`Header::observed`]).
    observed: Vec<(u64, Timestamp)>,
    read_only: bool,
    /// Buffered writes: key -> (sequence, value or None for delete), oldest first.
    buffer: BTreeMap<Vec<u8>, WriteHistory>,
    buffered_bytes: usize,
    seq: Seq,
    ignored: Vec<(Seq, Seq)>,
    refresh_spans: Vec<Span>,
    refresh_invalid: bool,
    /// Keys holding this transaction's intents or locks.
    lock_keys: BTreeSet<Vec<u8>>,
    intents_written: bool,
    heartbeating: bool,
    aborted: Arc<AtomicBool>,
    token: u64,
    finished: bool,
}

fn retry(reason: RetryReason, detail: String) -> Error {
    Error::Retry { reason, detail }
}

impl Coord {
    fn header(&self) -> Header {
        Header {
            txn: Some(self.meta.clone()),
            read_ts: self.read_ts,
            uncertainty_limit: self.uncertainty_limit.max(self.read_ts),
            ignored: self.ignored.clone(),
            observed: self.observed.clone(),
        }
    }

    fn check_aborted(&self) -> Result<()> {
        if self.aborted.load(Ordering::SeqCst) {
            return Err(retry(
                RetryReason::AbortedRecordFound,
                format!(
                    "txn {} was aborted by a conflicting transaction",
                    self.meta.id
                ),
            ));
        }
        Ok(())
    }

    /// Sets the anchor (first lock or intent) and starts heartbeating.
    fn anchor_at(&mut self, key: &[u8]) {
        if self.meta.anchor.is_empty() {
            // An empty anchor means "not anchored yet", so a scan from the start of the
            // keyspace anchors at the smallest non-empty key instead.
            self.meta.anchor = if key.is_empty() {
                vec![0]
            } else {
                key.to_vec()
            };
        }
        if !self.heartbeating {
            self.heartbeating = true;
            self.heartbeater
                .register(self.header(), self.aborted.clone());
        }
    }

    fn remember_read(&mut self, span: Span) {
        if self.read_only {
            return;
        }
        if self.refresh_spans.len() >= MAX_REFRESH_SPANS {
            self.refresh_invalid = true;
            return;
        }
        self.refresh_spans.push(span);
    }

    /// Condenses the remembered read spans (see [`refresh::condense`]).
    fn condense_refresh_spans(&mut self) {
        self.refresh_spans = refresh::condense(std::mem::take(&mut self.refresh_spans));
    }

    /// The read spans a one-phase commit sends for a server-side refresh: all of them when
    /// few enough (after condensing) that the range may hold them (it checks), else none.
    fn server_refresh_spans(&mut self) -> WireSpans {
        if self.refresh_invalid || self.refresh_spans.is_empty() {
            return Vec::new();
        }
        self.condense_refresh_spans();
        if self.refresh_spans.len() > refresh::SERVER_REFRESH_SPANS {
            return Vec::new();
        }
        self.refresh_spans
            .iter()
            .map(|s| (s.start.clone(), s.end.clone()))
            .collect()
    }

    /// Checks every remembered read span for writes in `(read_ts, to]`; on success the
    /// transaction reads and writes at `to`.
    fn refresh_to(&mut self, to: Timestamp, reason: RetryReason) -> Result<()> {
        if to <= self.read_ts {
            return Ok(());
        }
        let fail = |detail: String| retry(reason, detail);
        if self.refresh_invalid {
            return Err(fail(format!(
                "too many reads to refresh from {} to {}",
                self.read_ts, to
            )));
        }
        self.condense_refresh_spans();
        let h = self.header();
        if let Some(at) = refresh::refresh_all(self.store.as_ref(), &h, &self.refresh_spans, to)? {
            return Err(self.refresh_failed(reason, at, to));
        }
        self.read_ts = to;
        self.meta.write_ts = self.meta.write_ts.max(to);
        Ok(())
    }

    /// The retry error of a refresh to `to` that found a write at `at`.
    fn refresh_failed(&self, reason: RetryReason, at: Timestamp, to: Timestamp) -> Error {
        retry(
            reason,
            format!(
                "a key read by txn {} at {} was written at {} (refreshing to {} failed)",
                self.meta.id, self.read_ts, at, to
            ),
        )
    }

    /// Sends a read, moving the transaction up past uncertain or (locking) newer values.
    fn read(&mut self, req: Request) -> Result<Response> {
        self.check_aborted()?;
        for _ in 0..MAX_BUMPS {
            let r = self.store.route(&self.header(), &req)?;
            self.note_observed(r.observed);
            if let Some(t) = r.uncertain {
                self.refresh_to(t.next(), RetryReason::ReadWithinUncertainty)?;
                continue;
            }
            if let Some(t) = r.newer {
                self.refresh_to(t.next(), RetryReason::WriteTooOld)?;
                continue;
            }
            return Ok(r);
        }
        Err(retry(
            RetryReason::Serializable,
            "the read timestamp kept moving".into(),
        ))
    }

    /// Keeps a node's first clock reading as its observed timestamp.
    fn note_observed(&mut self, observed: Option<(u64, Timestamp)>) {
        if let Some((node, at)) = observed {
            if !self.observed.iter().any(|(n, _)| *n == node) {
                self.observed.push((node, at));
            }
        }
    }

    /// Reads sorted, distinct `keys` with one GetMany request per range, the ranges in
    /// parallel, moving the transaction up past uncertain values like [`Coord::read`].
    fn read_many(&mut self, keys: &[Vec<u8>]) -> Result<BTreeMap<Vec<u8>, Vec<u8>>> {
        self.check_aborted()?;
        if keys.is_empty() {
            return Ok(BTreeMap::new());
        }
        for _ in 0..MAX_BUMPS {
            let h = self.header();
            let store = self.store.as_ref();
            let groups = parallel::by_range(store, keys.to_vec(), |k| k);
            let mut rows = BTreeMap::new();
            let mut uncertain = None;
            for r in parallel::for_each(groups, |g| get_group(store, &h, g)) {
                let got = r?;
                rows.extend(got.rows);
                uncertain = uncertain.max(got.uncertain);
                for o in got.observed {
                    self.note_observed(Some(o));
                }
            }
            match uncertain {
                Some(t) => self.refresh_to(t.next(), RetryReason::ReadWithinUncertainty)?,
                None => return Ok(rows),
            }
        }
        Err(retry(
            RetryReason::Serializable,
            "the read timestamp kept moving".into(),
        ))
    }

    fn buffered(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        self.buffer
            .get(key)
            .and_then(|h| h.last())
            .map(|(_, v)| v.clone())
    }

    fn buffer_write(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        self.check_aborted()?;
        self.seq += 1;
        self.buffered_bytes += key.len() + value.as_ref().map_or(0, |v| v.len()) + 16;
        self.buffer.entry(key).or_default().push((self.seq, value));
        if self.buffered_bytes > MAX_BUFFERED_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffered writes as intents: one Put request per range, the ranges in
    /// parallel (one replication round each, rather than one per key).
    fn flush(&mut self) -> Result<()> {
        let buffer = std::mem::take(&mut self.buffer);
        self.buffered_bytes = 0;
        let Some(first) = buffer.keys().next() else {
            return Ok(());
        };
        self.anchor_at(&first.clone());
        // Every key may hold an intent from here on (a failed request may have written some):
        // an abort must release them all.
        self.lock_keys.extend(buffer.keys().cloned());
        self.intents_written = true;
        let h = self.header();
        let store = self.store.as_ref();
        let groups = parallel::by_range(store, buffer, |w| &w.0);
        let mut wto = false;
        for r in parallel::for_each(groups, |g| put_group(store, &h, g)) {
            let (ts, w) = r?;
            self.meta.write_ts = self.meta.write_ts.max(ts);
            wto |= w;
        }
        if self.meta.write_ts > self.read_ts {
            let reason = if wto {
                RetryReason::WriteTooOld
            } else {
                RetryReason::Serializable
            };
            self.refresh_to(self.meta.write_ts, reason)?;
        }
        Ok(())
    }

    /// Whether every key the commit touches lives in the anchor's range.
    fn one_range(&self) -> bool {
        let anchor = self.store.range_of(&self.meta.anchor);
        self.buffer
            .keys()
            .chain(self.lock_keys.iter())
            .all(|k| self.store.range_of(k) == anchor)
    }

    fn commit_inner(&mut self) -> Result<Timestamp> {
        self.check_aborted()?;
        if self.buffer.is_empty() && self.lock_keys.is_empty() && !self.heartbeating {
            return Ok(self.read_ts);
        }
        if self.meta.anchor.is_empty() {
            if let Some(k) = self.buffer.keys().next() {
                self.meta.anchor = k.clone();
            }
        }
        if !self.intents_written && self.one_range() {
            return self.commit_one_phase();
        }
        self.commit_two_phase()
    }

    /// Writes every buffered write as an intent, then commits the record.
    fn commit_two_phase(&mut self) -> Result<Timestamp> {
        self.flush()?;
        let r = self.store.route(
            &self.header(),
            &Request::EndTxn {
                commit: true,
                one_phase: Vec::new(),
                refreshed_to: None,
                refresh_spans: Vec::new(),
                lock_keys: self.lock_keys.iter().cloned().collect(),
            },
        )?;
        Ok(r.write_ts.unwrap_or(self.meta.write_ts))
    }

    /// Commits the buffered writes with the EndTxn request (the buffer moves into the request,
    /// which is built once and resent after each refresh).
    fn commit_one_phase(&mut self) -> Result<Timestamp> {
        let one_phase = std::mem::take(&mut self.buffer)
            .into_iter()
            .filter_map(|(k, mut h)| h.pop().map(|(_, v)| (k, v)))
            .collect();
        let refresh_spans = self.server_refresh_spans();
        // Every read is listed (or there is none), unless there were too many to list.
        let all_listed =
            !self.refresh_invalid && (self.refresh_spans.is_empty() || !refresh_spans.is_empty());
        let mut req = Request::EndTxn {
            commit: true,
            one_phase,
            refreshed_to: all_listed.then_some(Timestamp::MAX),
            refresh_spans,
            lock_keys: self.lock_keys.iter().cloned().collect(),
        };
        let mut split_refreshes = SPLIT_REFRESHES;
        for _ in 0..MAX_BUMPS {
            let r = match self.store.route(&self.header(), &req) {
                Err(Error::RangeKeyMismatch(_)) => {
                    // The keys turned out to span ranges (routing was stale: a split): put
                    // the writes back and commit in two phases.
                    if let Request::EndTxn { one_phase, .. } = req {
                        let seq = self.seq;
                        for (k, v) in one_phase {
                            self.buffer.insert(k, vec![(seq, v)]);
                        }
                    }
                    return self.commit_two_phase();
                }
                other => other?,
            };
            if r.needs_refresh {
                let clock = self.store.clock();
                let pushed = r.write_ts.unwrap_or(self.meta.write_ts);
                let to = anticipate(pushed, clock.now(), clock.max_offset_ms());
                let reason = if r.write_too_old {
                    RetryReason::WriteTooOld
                } else {
                    RetryReason::Serializable
                };
                if to > pushed && split_refreshes > 0 && all_listed {
                    // Pushed into the future (a global range): refresh only the reads in
                    // other ranges, far ahead, and let the range move the commit just above
                    // its closed timestamp and refresh its own reads there. Refreshing
                    // everything to `to` would make the commit wait until `to`: twice the
                    // lead.
                    split_refreshes -= 1;
                    let local = self.refresh_elsewhere(to, reason)?;
                    if let Request::EndTxn {
                        refreshed_to,
                        refresh_spans,
                        ..
                    } = &mut req
                    {
                        *refreshed_to = Some(to);
                        *refresh_spans = local;
                    }
                    continue;
                }
                self.refresh_to(to, reason)?;
                if let Request::EndTxn { refreshed_to, .. } = &mut req {
                    // Every read is now valid at the transaction's timestamp.
                    *refreshed_to = refreshed_to.map(|t| t.max(to));
                }
                continue;
            }
            return Ok(r.write_ts.unwrap_or(self.meta.write_ts));
        }
        Err(retry(
            RetryReason::Serializable,
            "the commit timestamp kept moving".into(),
        ))
    }

    /// Refreshes to `to` the read spans that lie outside the range of the one-phase commit
    /// (its anchor's); returns the others, for the range to refresh itself. The
    /// transaction's read timestamp stays: those spans are still valid only there.
    fn refresh_elsewhere(&mut self, to: Timestamp, reason: RetryReason) -> Result<WireSpans> {
        let home = self.store.range_of(&self.meta.anchor);
        let (here, elsewhere): (Vec<Span>, Vec<Span>) = self
            .refresh_spans
            .iter()
            .cloned()
            .partition(|s| self.store.range_of(&s.start) == home);
        let h = self.header();
        if let Some(at) = refresh::refresh_all(self.store.as_ref(), &h, &elsewhere, to)? {
            return Err(self.refresh_failed(reason, at, to));
        }
        Ok(here.into_iter().map(|s| (s.start, s.end)).collect())
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.store.unregister(self.token);
        if self.heartbeating {
            self.heartbeater.unregister(self.meta.id);
        }
    }

    fn abort(&mut self) {
        if self.finished {
            return;
        }
        if self.heartbeating || !self.lock_keys.is_empty() {
            let _ = self.store.route(
                &self.header(),
                &Request::EndTxn {
                    commit: false,
                    one_phase: Vec::new(),
                    refreshed_to: None,
                    refresh_spans: Vec::new(),
                    lock_keys: self.lock_keys.iter().cloned().collect(),
                },
            );
        }
        self.finish();
    }

    fn scan_inner(
        &mut self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
        lock: Option<LockStrength>,
    ) -> Result<ScanPage> {
        if lock.is_some() {
            if self.read_only {
                return Err(Error::ReadOnly);
            }
            self.anchor_at(start);
        }
        let limit = limit.max(1);
        let r = self.read(Request::Scan {
            start: start.to_vec(),
            end: end.map(|e| e.to_vec()),
            limit,
            lock,
        })?;
        let covered_end = r.resume.clone().or_else(|| end.map(|e| e.to_vec()));
        self.remember_read(Span {
            start: start.to_vec(),
            end: covered_end.clone(),
        });
        if lock.is_some() {
            self.lock_keys.extend(r.rows.iter().map(|(k, _)| k.clone()));
        }
        let upper = match &covered_end {
            Some(e) => Bound::Excluded(e.as_slice()),
            None => Bound::Unbounded,
        };
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = r.rows.into_iter().collect();
        for (k, h) in self
            .buffer
            .range::<[u8], _>((Bound::Included(start), upper))
        {
            match h.last() {
                Some((_, Some(v))) => {
                    merged.insert(k.clone(), v.clone());
                }
                _ => {
                    merged.remove(k);
                }
            }
        }
        Ok(ScanPage {
            rows: merged.into_iter().collect(),
            resume: r.resume,
        })
    }

    fn get_inner(&mut self, key: &[u8], lock: Option<LockStrength>) -> Result<Option<Vec<u8>>> {
        if lock.is_some() {
            if self.read_only {
                return Err(Error::ReadOnly);
            }
            self.anchor_at(key);
        } else if let Some(v) = self.buffered(key) {
            return Ok(v);
        }
        let r = self.read(Request::Get {
            key: key.to_vec(),
            lock,
        })?;
        self.remember_read(Span::key(key));
        if lock.is_some() {
            self.lock_keys.insert(key.to_vec());
            if let Some(v) = self.buffered(key) {
                return Ok(v);
            }
        }
        Ok(r.rows.into_iter().next().map(|(_, v)| v))
    }
}

impl Transaction for Coord {
    fn read_ts(&self) -> Timestamp {
        self.read_ts
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_inner(key, None)
    }

    fn get_locking(&mut self, key: &[u8], strength: LockStrength) -> Result<Option<Vec<u8>>> {
        self.get_inner(key, Some(strength))
    }

    fn get_many(&mut self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut wanted: Vec<Vec<u8>> = keys
            .iter()
            .filter(|k| self.buffered(k).is_none())
            .cloned()
            .collect();
        wanted.sort();
        wanted.dedup();
        let found = self.read_many(&wanted)?;
        for k in &wanted {
            self.remember_read(Span::key(k));
        }
        Ok(keys
            .iter()
            .map(|k| match self.buffered(k) {
                Some(v) => v,
                None => found.get(k).cloned(),
            })
            .collect())
    }

    fn scan(&mut self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<ScanPage> {
        self.scan_inner(start, end, limit, None)
    }

    fn scan_locking(
        &mut self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
        strength: LockStrength,
    ) -> Result<ScanPage> {
        self.scan_inner(start, end, limit, Some(strength))
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<()> {
        self.buffer_write(key, Some(value))
    }

    fn delete(&mut self, key: Vec<u8>) -> Result<()> {
        self.buffer_write(key, None)
    }

    fn savepoint(&mut self) -> usize {
        self.seq as usize
    }

    fn rollback_to(&mut self, savepoint: usize) {
        let sp = savepoint as Seq;
        if sp >= self.seq {
            return;
        }
        self.buffer.retain(|_, h| {
            h.retain(|(s, _)| *s <= sp);
            !h.is_empty()
        });
        if self.intents_written {
            self.ignored.push((sp + 1, self.seq));
        }
    }

    fn commit(mut self: Box<Self>) -> Result<Timestamp> {
        let result = self.commit_inner();
        match &result {
            Ok(ts) => {
                // Later transactions on this node must read above the commit (it may have
                // been pushed past the clock's last reading). A too-distant timestamp is
                // refused by the clock and changes nothing.
                let _ = self.store.clock().update(*ts);
                commit_wait(self.store.clock(), *ts);
                self.finish()
            }
            Err(_) => self.abort(),
        }
        result
    }

    fn rollback(mut self: Box<Self>) {
        self.abort();
    }
}

impl Drop for Coord {
    fn drop(&mut self) {
        self.abort();
    }
}

/// Commit-wait: returns once this node's clock has passed `ts`. A transaction whose
/// timestamp is in the future (a write to a GLOBAL table, pushed above the range's closed
/// timestamp, or a read moved there by uncertainty) is acknowledged only when the present
/// has caught up with it, so a client that hears of the commit and then reads anywhere
/// reads at a later timestamp and sees it. Timestamps in the past return at once.
/// The wait is bounded by the wall time the gap represents (a manual test clock never moves
/// by itself).
fn commit_wait(clock: &kv::Clock, ts: Timestamp) {
    if clock.peek() >= ts {
        return;
    }
    let now = clock.now();
    let gap = ts.physical_ms().saturating_sub(now.physical_ms()) + 2;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(gap);
    while clock.now() < ts && std::time::Instant::now() < deadline {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        std::thread::sleep(left.min(std::time::Duration::from_millis(20)));
    }
}

/// What [`get_group`] read.
#[derive(Default)]
struct Got {
    rows: Vec<(Vec<u8>, Vec<u8>)>,
    uncertain: Option<Timestamp>,
    observed: Vec<(u64, Timestamp)>,
}

/// Reads one range's keys (routing again any the range handed back).
fn get_group(store: &dyn Sender, h: &Header, keys: Vec<Vec<u8>>) -> Result<Got> {
    let mut got = Got::default();
    let mut groups = vec![keys];
    while let Some(keys) = groups.pop() {
        if keys.is_empty() {
            continue;
        }
        let r = store.route(h, &Request::GetMany { keys })?;
        got.observed.extend(r.observed);
        if r.uncertain.is_some() {
            got.uncertain = got.uncertain.max(r.uncertain);
            continue;
        }
        got.rows.extend(r.rows);
        groups.extend(parallel::by_range(store, r.rest_keys, |k| k));
    }
    Ok(got)
}

/// Writes one range's keys (routing again any the range handed back); returns the highest
/// timestamp an intent landed at and whether a newer committed version pushed one.
fn put_group(store: &dyn Sender, h: &Header, writes: Vec<KeyWrites>) -> Result<(Timestamp, bool)> {
    let mut landed = h.txn.as_ref().map_or(h.read_ts, |t| t.write_ts);
    let mut wto = false;
    let mut groups = vec![writes];
    while let Some(writes) = groups.pop() {
        if writes.is_empty() {
            continue;
        }
        let req = Request::Put { writes };
        let r = store.route(h, &req)?;
        if let Some(ts) = r.write_ts {
            landed = landed.max(ts);
        }
        wto |= r.write_too_old;
        if let (false, Request::Put { mut writes }) = (r.rest_keys.is_empty(), req) {
            writes.retain(|(k, _)| r.rest_keys.binary_search(k).is_ok());
            groups.extend(parallel::by_range(store, writes, |w| &w.0));
        }
    }
    Ok((landed, wto))
}

/// The timestamp to refresh to after a push to `pushed`. A push into the future comes from a
/// global range's closed timestamp, which keeps moving forward with the clock: refreshing to
/// exactly `pushed` would be overtaken again before the commit arrives (a remote client would
/// never commit), so aim as far again ahead. Other pushes (at most the maximum clock offset
/// ahead, e.g. past reads of a node whose clock runs ahead) are unchanged.
fn anticipate(pushed: Timestamp, now: Timestamp, max_offset_ms: u64) -> Timestamp {
    let (p, n) = (pushed.physical_ms(), now.physical_ms());
    if p <= n + max_offset_ms {
        return pushed;
    }
    Timestamp::from_parts(p + (p - n), 0)
}

#[cfg(test)]
mod anticipate_tests {
    use super::anticipate;
    use kv::Timestamp;

    #[test]
    fn only_pushes_beyond_the_clock_offset_aim_further_ahead() {
        let now = Timestamp::from_parts(10_000, 3);
        // Past, present and within-offset pushes are kept as they are.
        for p in [
            Timestamp::from_parts(9_000, 1),
            now,
            Timestamp::from_parts(10_500, 7),
        ] {
            assert_eq!(anticipate(p, now, 500), p);
        }
        // A push 900 ms ahead (a global range's closed timestamp) aims 1,800 ms ahead.
        let global = Timestamp::from_parts(10_900, 4);
        assert_eq!(
            anticipate(global, now, 500),
            Timestamp::from_parts(11_800, 0)
        );
    }
}
