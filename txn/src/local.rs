//! Serializable transactions on one store by optimistic concurrency control (see the crate
//! docs for the protocol and why it is serializable).

use crate::{Error, Result, RetryReason, ScanPage, Transaction, TxnOptions, TxnSource};
use kv::mvcc::Mvcc;
use kv::{Clock, Timestamp};
use parking_lot::Mutex;
use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

/// Bound on remembered commits when no transaction is active long enough to need them; the
/// log is trimmed to what active transactions may conflict with.
const MAX_RECENT_COMMITS_IDLE: usize = 0;

/// A savepoint undo entry: a key and its previous buffered state (None = was not buffered).
type UndoEntry = (Vec<u8>, Option<Option<Vec<u8>>>);

/// A span a transaction read: `[start, end)`, `end = None` meaning unbounded.
#[derive(Debug, Clone)]
struct ReadSpan {
    start: Vec<u8>,
    end: Option<Vec<u8>>,
}

impl ReadSpan {
    fn contains(&self, key: &[u8]) -> bool {
        key >= &self.start[..] && self.end.as_deref().is_none_or(|e| key < e)
    }
}

/// A committed transaction's write set, kept while some active transaction started before it.
struct CommitRecord {
    commit_ts: Timestamp,
    keys: Vec<Vec<u8>>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    /// Active read-write transactions: id -> read timestamp.
    active: BTreeMap<u64, Timestamp>,
    /// Recent commits in commit-timestamp order.
    recent: VecDeque<CommitRecord>,
}

impl State {
    fn trim(&mut self) {
        let oldest = self.active.values().min().copied();
        match oldest {
            Some(oldest) => {
                while self.recent.front().is_some_and(|c| c.commit_ts <= oldest) {
                    self.recent.pop_front();
                }
            }
            None => {
                while self.recent.len() > MAX_RECENT_COMMITS_IDLE {
                    self.recent.pop_front();
                }
            }
        }
    }
}

struct Inner {
    mvcc: Mvcc,
    clock: Arc<Clock>,
    state: Mutex<State>,
    /// Whether commits fsync before returning.
    sync: bool,
}

/// Starts and commits serializable transactions on one store.
#[derive(Clone)]
pub struct LocalTxnManager {
    inner: Arc<Inner>,
}

impl LocalTxnManager {
    /// A manager over `mvcc`, timestamping with `clock`. With `sync`, a commit is durable
    /// (fsynced) before it is acknowledged.
    pub fn new(mvcc: Mvcc, clock: Arc<Clock>, sync: bool) -> Self {
        LocalTxnManager {
            inner: Arc::new(Inner {
                mvcc,
                clock,
                state: Mutex::new(State::default()),
                sync,
            }),
        }
    }

    /// The MVCC store underneath.
    pub fn mvcc(&self) -> &Mvcc {
        &self.inner.mvcc
    }

    /// The oldest read timestamp of an active read-write transaction, if any.
    pub fn oldest_active_read_ts(&self) -> Option<Timestamp> {
        self.inner.state.lock().active.values().min().copied()
    }

    /// Starts a transaction (also available through [`TxnSource`]).
    pub fn begin_local(&self, opts: TxnOptions) -> LocalTxn {
        let mut state = self.inner.state.lock();
        // The read timestamp is taken under the commit lock, so every commit with a lower
        // timestamp has been fully written before this snapshot is read.
        let now = self.inner.clock.now();
        let (read_ts, read_only) = match opts.as_of {
            Some(ts) => (ts.min(now), true),
            None => (now, opts.read_only),
        };
        let id = state.next_id;
        state.next_id += 1;
        if !read_only {
            state.active.insert(id, read_ts);
        }
        LocalTxn {
            id,
            read_ts,
            read_only,
            inner: self.inner.clone(),
            writes: BTreeMap::new(),
            undo: Vec::new(),
            reads: Vec::new(),
            finished: false,
        }
    }
}

impl TxnSource for LocalTxnManager {
    fn begin(&self, opts: TxnOptions) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(self.begin_local(opts)))
    }

    fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }
}

/// A transaction on a [`LocalTxnManager`].
pub struct LocalTxn {
    id: u64,
    read_ts: Timestamp,
    read_only: bool,
    inner: Arc<Inner>,
    /// Buffered writes: key -> new value (None = delete).
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Undo log for savepoints.
    undo: Vec<UndoEntry>,
    reads: Vec<ReadSpan>,
    finished: bool,
}

impl LocalTxn {
    fn buffer(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let prev = self.writes.insert(key.clone(), value);
        self.undo.push((key, prev));
        Ok(())
    }

    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            let mut state = self.inner.state.lock();
            state.active.remove(&self.id);
            state.trim();
        }
    }

    /// Checks this transaction against commits after its read timestamp.
    fn validate(&self, state: &State) -> Result<()> {
        for commit in state.recent.iter().rev() {
            if commit.commit_ts <= self.read_ts {
                break;
            }
            for key in &commit.keys {
                if self.writes.contains_key(key) {
                    return Err(Error::Retry {
                        reason: RetryReason::WriteTooOld,
                        detail: format!(
                            "a key written by this transaction was rewritten at {} after its read timestamp {}",
                            commit.commit_ts, self.read_ts
                        ),
                    });
                }
                if self.reads.iter().any(|s| s.contains(key)) {
                    return Err(Error::Retry {
                        reason: RetryReason::Serializable,
                        detail: format!(
                            "a key read by this transaction was written at {} after its read timestamp {}",
                            commit.commit_ts, self.read_ts
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

impl Transaction for LocalTxn {
    fn read_ts(&self) -> Timestamp {
        self.read_ts
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.writes.get(key) {
            return Ok(v.clone());
        }
        if !self.read_only {
            let mut end = key.to_vec();
            end.push(0);
            self.reads.push(ReadSpan {
                start: key.to_vec(),
                end: Some(end),
            });
        }
        Ok(self.inner.mvcc.get(key, self.read_ts)?)
    }

    fn scan(&mut self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<ScanPage> {
        let limit = limit.max(1);
        let stored = self.inner.mvcc.scan(start, end, self.read_ts, limit)?;
        // When the page is full, it covers [start, successor(last key)); otherwise all of it.
        let covered_end: Option<Vec<u8>> = if stored.len() >= limit {
            let mut e = stored.last().map(|(k, _)| k.clone()).unwrap_or_default();
            e.push(0);
            Some(e)
        } else {
            end.map(|e| e.to_vec())
        };
        if !self.read_only {
            self.reads.push(ReadSpan {
                start: start.to_vec(),
                end: covered_end.clone(),
            });
        }
        let upper = match &covered_end {
            Some(e) => Bound::Excluded(e.as_slice()),
            None => Bound::Unbounded,
        };
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = stored.into_iter().collect();
        for (k, v) in self
            .writes
            .range::<[u8], _>((Bound::Included(start), upper))
        {
            match v {
                Some(v) => {
                    merged.insert(k.clone(), v.clone());
                }
                None => {
                    merged.remove(k);
                }
            }
        }
        let resume = if stored_was_full(&covered_end, end) {
            covered_end
        } else {
            None
        };
        Ok(ScanPage {
            rows: merged.into_iter().collect(),
            resume,
        })
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<()> {
        self.buffer(key, Some(value))
    }

    fn delete(&mut self, key: Vec<u8>) -> Result<()> {
        self.buffer(key, None)
    }

    fn savepoint(&mut self) -> usize {
        self.undo.len()
    }

    fn rollback_to(&mut self, savepoint: usize) {
        while self.undo.len() > savepoint {
            let Some((key, prev)) = self.undo.pop() else {
                break;
            };
            match prev {
                Some(v) => {
                    self.writes.insert(key, v);
                }
                None => {
                    self.writes.remove(&key);
                }
            }
        }
    }

    fn commit(mut self: Box<Self>) -> Result<Timestamp> {
        if self.writes.is_empty() {
            self.finish();
            return Ok(self.read_ts);
        }
        let inner = self.inner.clone();
        let mut state = inner.state.lock();
        let result = self.validate(&state).and_then(|()| {
            let commit_ts = inner.clock.now();
            let writes: Vec<(Vec<u8>, Option<Vec<u8>>)> =
                std::mem::take(&mut self.writes).into_iter().collect();
            inner.mvcc.write(&writes, commit_ts, inner.sync)?;
            state.recent.push_back(CommitRecord {
                commit_ts,
                keys: writes.into_iter().map(|(k, _)| k).collect(),
            });
            Ok(commit_ts)
        });
        self.finished = true;
        state.active.remove(&self.id);
        state.trim();
        result
    }

    fn rollback(mut self: Box<Self>) {
        self.finish();
    }
}

/// Whether a page ended before the requested end (so there is more to scan).
fn stored_was_full(covered_end: &Option<Vec<u8>>, end: Option<&[u8]>) -> bool {
    match (covered_end, end) {
        (Some(c), Some(e)) => c.as_slice() < e,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

impl Drop for LocalTxn {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kv::engine::MemoryEngine;

    fn manager() -> LocalTxnManager {
        let mvcc = Mvcc::new(Arc::new(MemoryEngine::new()));
        LocalTxnManager::new(mvcc, Arc::new(Clock::manual(1000, 500)), false)
    }

    fn rw(m: &LocalTxnManager) -> Box<dyn Transaction> {
        m.begin(TxnOptions::default()).unwrap()
    }

    #[test]
    fn reads_see_own_writes_and_snapshot() {
        let m = manager();
        let mut t1 = rw(&m);
        t1.put(b"a".to_vec(), b"1".to_vec()).unwrap();
        assert_eq!(t1.get(b"a").unwrap(), Some(b"1".to_vec()));
        let mut t2 = rw(&m);
        assert_eq!(t2.get(b"a").unwrap(), None);
        t1.commit().unwrap();
        assert_eq!(t2.get(b"a").unwrap(), None, "snapshot must not move");
        let mut t3 = rw(&m);
        assert_eq!(t3.get(b"a").unwrap(), Some(b"1".to_vec()));
    }

    #[test]
    fn write_skew_is_rejected() {
        let m = manager();
        let mut setup = rw(&m);
        setup.put(b"x".to_vec(), b"1".to_vec()).unwrap();
        setup.put(b"y".to_vec(), b"1".to_vec()).unwrap();
        setup.commit().unwrap();
        let mut t1 = rw(&m);
        let mut t2 = rw(&m);
        t1.get(b"x").unwrap();
        t1.get(b"y").unwrap();
        t2.get(b"x").unwrap();
        t2.get(b"y").unwrap();
        t1.put(b"x".to_vec(), b"0".to_vec()).unwrap();
        t2.put(b"y".to_vec(), b"0".to_vec()).unwrap();
        t1.commit().unwrap();
        let err = t2.commit().unwrap_err();
        assert!(err.is_retryable(), "{err}");
    }

    #[test]
    fn lost_update_is_rejected() {
        let m = manager();
        let mut t1 = rw(&m);
        let mut t2 = rw(&m);
        t1.put(b"x".to_vec(), b"1".to_vec()).unwrap();
        t2.put(b"x".to_vec(), b"2".to_vec()).unwrap();
        t1.commit().unwrap();
        assert!(matches!(
            t2.commit(),
            Err(Error::Retry {
                reason: RetryReason::WriteTooOld,
                ..
            })
        ));
    }

    #[test]
    fn paged_scan_merges_buffered_writes_and_resumes() {
        let m = manager();
        let mut t = rw(&m);
        for k in [b"a", b"b", b"c", b"d"] {
            t.put(k.to_vec(), k.to_vec()).unwrap();
        }
        t.commit().unwrap();
        let mut t = rw(&m);
        t.delete(b"b".to_vec()).unwrap();
        t.put(b"bb".to_vec(), b"new".to_vec()).unwrap();
        let mut keys = Vec::new();
        let mut start = b"a".to_vec();
        loop {
            let page = t.scan(&start, Some(b"z"), 2).unwrap();
            keys.extend(page.rows.into_iter().map(|(k, _)| k));
            match page.resume {
                Some(r) => start = r,
                None => break,
            }
        }
        assert_eq!(
            keys,
            vec![b"a".to_vec(), b"bb".to_vec(), b"c".to_vec(), b"d".to_vec()]
        );
    }

    #[test]
    fn savepoints_undo_later_writes() {
        let m = manager();
        let mut t = rw(&m);
        t.put(b"a".to_vec(), b"1".to_vec()).unwrap();
        let sp = t.savepoint();
        t.put(b"a".to_vec(), b"2".to_vec()).unwrap();
        t.put(b"b".to_vec(), b"2".to_vec()).unwrap();
        t.rollback_to(sp);
        assert_eq!(t.get(b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(t.get(b"b").unwrap(), None);
    }

    #[test]
    fn read_only_refuses_writes() {
        let m = manager();
        let mut t = m
            .begin(TxnOptions {
                read_only: true,
                as_of: None,
            })
            .unwrap();
        assert!(matches!(
            t.put(b"a".to_vec(), b"1".to_vec()),
            Err(Error::ReadOnly)
        ));
    }
}
