//! Transactional reads: one forward pass over a span that sees committed versions, the
//! reader's own intents, and reports what a transaction layer must act on — other
//! transactions' intents (conflicts), values inside the reader's uncertainty interval, and
//! (for locking reads) versions newer than the read timestamp.
//!
//! Per key, the pass meets the intent (meta key) first, then versions newest first:
//! - an intent of the reading transaction supplies the value (its newest non-ignored write);
//!   when every write of it was rolled back, the committed versions below decide;
//! - another transaction's intent at or below the uncertainty limit (any intent, for a locking
//!   read) is a conflict: the key's value is unknown until that transaction finishes;
//! - a version in `(ts, uncertainty_limit]` makes the read uncertain: the writer may have
//!   committed before the reader started, on a clock that ran behind;
//! - the newest version at or below `ts` is the value (a tombstone: no value).
//!
//! It steps over invisible versions a few at a time and seeks past long runs of them
//! ([`MAX_VERSION_STEPS`]), so a key with thousands of versions costs a seek.

use super::intent::{IgnoredSeqs, Intent, TxnId};
use super::{decode_storage_key, decode_value, meta_key, mvcc_key, mvcc_key_end, KeyValue};
use super::{StorageKey, TS_LEN};
use crate::engine::{Engine, Visit};
use crate::{keys, Error, Result, Timestamp};

/// After stepping over this many invisible versions of one key, a scan seeks past them instead
/// (a new engine iterator costs more than a few steps, but far less than thousands).
pub const MAX_VERSION_STEPS: usize = 8;

/// How to read.
#[derive(Debug, Clone, Copy)]
pub struct ReadOpts<'a> {
    /// The read timestamp.
    pub ts: Timestamp,
    /// Versions in `(ts, uncertainty_limit]` make the read uncertain (`ts` or lower: none).
    pub uncertainty_limit: Timestamp,
    /// The reading transaction, whose intents are visible, and its rolled-back sequences.
    pub txn: Option<(TxnId, &'a IgnoredSeqs)>,
    /// A locking read: every other transaction's intent conflicts, and versions newer than
    /// `ts` are reported in [`ReadResult::newer`].
    pub locking: bool,
    /// Read committed data only and do not report intents (tools, tests, debugging).
    pub ignore_intents: bool,
    /// Pass over the reading transaction's own intents to the committed versions beneath
    /// them. A refresh reads this way: a key the transaction read and then wrote must still
    /// fail the refresh when another transaction committed a version of it after the read.
    pub skip_own_intents: bool,
}

impl ReadOpts<'_> {
    /// A plain read of committed data at `ts`, ignoring intents.
    pub fn committed(ts: Timestamp) -> ReadOpts<'static> {
        ReadOpts {
            ts,
            uncertainty_limit: ts,
            txn: None,
            locking: false,
            ignore_intents: true,
            skip_own_intents: false,
        }
    }
}

/// What a read found.
#[derive(Debug, Default)]
pub struct ReadResult {
    /// Visible key-value pairs in key order.
    pub rows: Vec<KeyValue>,
    /// Intents of other transactions that hide a key's value from this read.
    pub conflicts: Vec<(Vec<u8>, Intent)>,
    /// The newest version timestamp found inside the uncertainty interval.
    pub uncertain: Option<Timestamp>,
    /// For locking reads: the newest version timestamp above the read timestamp.
    pub newer: Option<Timestamp>,
    /// Whether the row limit stopped the read before the end of the span.
    pub limited: bool,
}

/// Reads `[start, end)` (`end = None`: to the end of the keyspace), at most `limit` rows.
pub fn read_span(
    engine: &dyn Engine,
    start: &[u8],
    end: Option<&[u8]>,
    limit: usize,
    opts: &ReadOpts<'_>,
) -> Result<ReadResult> {
    let mut state = ScanState::new(opts, limit);
    if limit == 0 {
        state.out.limited = true;
        return Ok(state.out);
    }
    let raw_end = end.map(meta_key);
    drive(engine, meta_key(start), raw_end.as_deref(), &mut state)?;
    Ok(state.out)
}

/// Whether anything in `[start, end)` would change a read at `opts.ts` made again at
/// `opts.uncertainty_limit`: returns the timestamp of the first such thing met, a version in
/// `(ts, uncertainty_limit]` or another transaction's intent at or below the limit (or None).
/// This is a refresh's check: it stops at the first finding and never decodes or copies a
/// value, so checking a span costs a pass over its keys, not a read of its rows.
pub fn find_change(
    engine: &dyn Engine,
    start: &[u8],
    end: Option<&[u8]>,
    opts: &ReadOpts<'_>,
) -> Result<Option<Timestamp>> {
    let mut state = ScanState::new(opts, usize::MAX);
    state.probe = true;
    let raw_end = end.map(meta_key);
    // A probing pass stops at its first finding (without a reseek), so the pass ends there.
    drive(engine, meta_key(start), raw_end.as_deref(), &mut state)?;
    if let Some((_, intent)) = state.out.conflicts.first() {
        return Ok(Some(intent.txn.write_ts));
    }
    Ok(state.out.uncertain)
}

/// Runs `state` over the engine from `seek` to `raw_end`, restarting the engine scan where
/// the state asks to seek.
fn drive(
    engine: &dyn Engine,
    mut seek: Vec<u8>,
    raw_end: Option<&[u8]>,
    state: &mut ScanState<'_>,
) -> Result<()> {
    loop {
        engine.scan(&seek, raw_end, &mut |k, v| state.visit(k, v))?;
        if let Some(e) = state.err.take() {
            return Err(e);
        }
        match state.reseek.take() {
            Some(next) => seek = next,
            None => return Ok(()),
        }
    }
}

/// Reads one key.
pub fn read_key(engine: &dyn Engine, key: &[u8], opts: &ReadOpts<'_>) -> Result<ReadResult> {
    let mut state = ScanState::new(opts, 1);
    drive(engine, meta_key(key), Some(&mvcc_key_end(key)), &mut state)?;
    state.out.limited = false;
    Ok(state.out)
}

/// The state of one read across engine scans (it restarts the engine scan to seek).
struct ScanState<'a> {
    opts: &'a ReadOpts<'a>,
    limit: usize,
    out: ReadResult,
    /// The user key being stepped through and how many of its versions were stepped over.
    current: Option<Vec<u8>>,
    steps: usize,
    /// `current`'s version keys without the timestamp: recognises its further versions
    /// without decoding (and allocating) them.
    current_prefix: Vec<u8>,
    /// Whether `current`'s value has been decided (visible version, own intent or conflict).
    current_done: bool,
    /// Whether a version of `current` has been seen (the first one is the newest).
    seen_version: bool,
    /// Where to restart the engine scan, when it stopped to seek.
    reseek: Option<Vec<u8>>,
    err: Option<Error>,
    /// Only looking for a conflict or an uncertain version ([`find_change`]): stop at the
    /// first one, and never decode visible values.
    probe: bool,
}

impl<'a> ScanState<'a> {
    fn new(opts: &'a ReadOpts<'a>, limit: usize) -> Self {
        ScanState {
            opts,
            limit,
            out: ReadResult::default(),
            current: None,
            steps: 0,
            current_prefix: Vec::new(),
            current_done: false,
            seen_version: false,
            reseek: None,
            err: None,
            probe: false,
        }
    }

    /// The timestamp of `raw` when it is another version of the current key.
    fn same_key_version(&self, raw: &[u8]) -> Option<Timestamp> {
        let n = self.current_prefix.len();
        if self.current.is_none() || raw.len() != n + TS_LEN || raw[..n] != self.current_prefix[..]
        {
            return None;
        }
        let mut ts = [0u8; TS_LEN];
        ts.copy_from_slice(&raw[n..]);
        Some(Timestamp::from_u64(!u64::from_be_bytes(ts)))
    }

    fn start_key(&mut self, key: Vec<u8>, raw: &[u8], prefix_len: usize) {
        self.current = Some(key);
        self.current_prefix.clear();
        self.current_prefix.extend_from_slice(&raw[..prefix_len]);
        self.current_prefix.extend_from_slice(&[0x00, 0x01]);
        self.steps = 0;
        self.current_done = false;
        self.seen_version = false;
    }

    fn fail(&mut self, e: Error) -> Visit {
        self.err = Some(e);
        Visit::Stop
    }

    fn visit(&mut self, k: &[u8], v: &[u8]) -> Visit {
        if k.first() == Some(&keys::LOCAL_PREFIX) {
            // The local span is one contiguous run of unversioned keys: jump over it.
            self.reseek = Some(vec![keys::LOCAL_PREFIX + 1]);
            return Visit::Stop;
        }
        let vts = match self.same_key_version(k) {
            Some(vts) => vts,
            None => match decode_storage_key(k) {
                Ok(StorageKey::Meta { key, escaped_len }) => {
                    self.start_key(key, k, escaped_len);
                    return self.visit_intent(v);
                }
                Ok(StorageKey::Version {
                    key,
                    ts,
                    escaped_len,
                }) => {
                    if self.current.as_deref() != Some(&key[..]) {
                        self.start_key(key, k, escaped_len);
                    }
                    ts
                }
                Err(e) => return self.fail(e),
            },
        };
        self.visit_version(vts, v)
    }

    fn visit_intent(&mut self, v: &[u8]) -> Visit {
        if self.opts.ignore_intents {
            return Visit::Continue;
        }
        let intent = match Intent::decode(v) {
            Ok(i) => i,
            Err(e) => return self.fail(e),
        };
        let Some(key) = self.current.clone() else {
            return Visit::Stop;
        };
        if let Some((id, ignored)) = self.opts.txn {
            if intent.txn.id == id {
                if self.opts.skip_own_intents {
                    return Visit::Continue;
                }
                if let Some(value) = intent.visible(ignored) {
                    self.current_done = true;
                    if let Some(value) = value {
                        self.out.rows.push((key, value.to_vec()));
                        return self.check_limit();
                    }
                }
                return Visit::Continue;
            }
        }
        let limit = self.opts.ts.max(self.opts.uncertainty_limit);
        if self.opts.locking || intent.txn.write_ts <= limit {
            self.current_done = true;
            self.out.conflicts.push((key, intent));
            if self.probe {
                return Visit::Stop;
            }
        }
        Visit::Continue
    }

    fn visit_version(&mut self, vts: Timestamp, v: &[u8]) -> Visit {
        let Some(key) = self.current.as_deref() else {
            return Visit::Stop;
        };
        let first = !self.seen_version;
        self.seen_version = true;
        if !self.current_done && vts > self.opts.ts {
            if self.opts.locking && first {
                self.out.newer = self.out.newer.max(Some(vts));
            }
            let in_window = vts <= self.opts.uncertainty_limit;
            if in_window {
                self.out.uncertain = self.out.uncertain.max(Some(vts));
                if self.probe {
                    return Visit::Stop;
                }
            }
            self.steps += 1;
            if self.steps <= MAX_VERSION_STEPS {
                return Visit::Continue;
            }
            // Seek to the first version that still matters: inside the window if none of it
            // has been seen yet, else the first visible one.
            let target = if in_window {
                self.opts.ts
            } else {
                self.opts.ts.max(self.opts.uncertainty_limit)
            };
            self.reseek = Some(mvcc_key(key, target));
            return Visit::Stop;
        }
        if self.current_done {
            self.steps += 1;
            if self.steps <= MAX_VERSION_STEPS {
                return Visit::Continue;
            }
            self.reseek = Some(mvcc_key_end(key));
            return Visit::Stop;
        }
        self.current_done = true;
        if self.probe {
            return Visit::Continue;
        }
        match decode_value(v) {
            Ok(Some(value)) => {
                let key = key.to_vec();
                self.out.rows.push((key, value));
                self.check_limit()
            }
            Ok(None) => Visit::Continue,
            Err(e) => self.fail(e),
        }
    }

    fn check_limit(&mut self) -> Visit {
        if self.out.rows.len() >= self.limit {
            self.out.limited = true;
            Visit::Stop
        } else {
            Visit::Continue
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{MemoryEngine, WriteBatch};
    use crate::mvcc::{Mvcc, TxnMeta};
    use std::sync::Arc;

    fn ts(n: u64) -> Timestamp {
        Timestamp::from_parts(n, 0)
    }

    fn intent(id: u128, at: u64, value: &[u8]) -> Intent {
        Intent {
            txn: TxnMeta {
                id: TxnId(id),
                anchor: b"a".to_vec(),
                write_ts: ts(at),
                min_ts: ts(at),
                priority: 1,
            },
            history: vec![(1, Some(value.to_vec()))],
        }
    }

    fn opts(at: u64, limit: u64, txn: Option<u128>) -> ReadOpts<'static> {
        ReadOpts {
            ts: ts(at),
            uncertainty_limit: ts(limit),
            txn: txn.map(|id| (TxnId(id), &[][..])),
            locking: false,
            ignore_intents: false,
            skip_own_intents: false,
        }
    }

    #[test]
    fn intents_conflict_or_are_visible_to_their_writer() {
        let m = Mvcc::new(Arc::new(MemoryEngine::new()));
        m.write(&[(b"k".to_vec(), Some(b"old".to_vec()))], ts(10), false)
            .unwrap();
        let mut b = WriteBatch::new();
        Mvcc::put_intent(&mut b, b"k", &intent(1, 20, b"new")).unwrap();
        m.engine().write(b, false).unwrap();
        // The writer sees its own value; another reader above the intent conflicts.
        let own = m.read_one(b"k", &opts(25, 25, Some(1))).unwrap();
        assert_eq!(own.rows, vec![(b"k".to_vec(), b"new".to_vec())]);
        let other = m.read_one(b"k", &opts(25, 25, Some(2))).unwrap();
        assert!(other.rows.is_empty());
        assert_eq!(other.conflicts.len(), 1);
        // A reader below the intent (and its uncertainty window) reads the old value.
        let below = m.read(b"", None, 10, &opts(15, 15, Some(2))).unwrap();
        assert_eq!(below.rows, vec![(b"k".to_vec(), b"old".to_vec())]);
        assert!(below.conflicts.is_empty());
        // Resolving as committed at 30 turns the intent into a version.
        let i = m.intent(b"k").unwrap().unwrap();
        let mut b = WriteBatch::new();
        Mvcc::resolve_intent(&mut b, b"k", &i, Some(ts(30)), &[]);
        m.engine().write(b, false).unwrap();
        assert_eq!(m.get(b"k", ts(30)).unwrap(), Some(b"new".to_vec()));
        assert_eq!(m.get(b"k", ts(29)).unwrap(), Some(b"old".to_vec()));
        // A reader at 25 with uncertainty up to 35 must not ignore the version at 30.
        let unc = m.read(b"", None, 10, &opts(25, 35, None)).unwrap();
        assert_eq!(unc.uncertain, Some(ts(30)));
        let locking = ReadOpts {
            locking: true,
            ..opts(25, 25, None)
        };
        assert_eq!(m.read_one(b"k", &locking).unwrap().newer, Some(ts(30)));
    }

    #[test]
    fn find_change_reports_the_first_newer_version_or_foreign_intent() {
        let m = Mvcc::new(Arc::new(MemoryEngine::new()));
        for (k, at) in [("a", 10), ("b", 10), ("c", 30), ("d", 10)] {
            m.write(
                &[(k.as_bytes().to_vec(), Some(b"v".to_vec()))],
                ts(at),
                false,
            )
            .unwrap();
        }
        let probe = |from: &str, to: &str, at: u64, limit: u64, txn: Option<u128>| {
            let o = ReadOpts {
                skip_own_intents: true,
                ..opts(at, limit, txn)
            };
            m.find_change(from.as_bytes(), Some(to.as_bytes()), &o)
                .unwrap()
        };
        // Nothing newer than 20 in [a, c); "c" was written at 30.
        assert_eq!(probe("a", "c", 20, 40, None), None);
        assert_eq!(probe("a", "e", 20, 40, None), Some(ts(30)));
        assert_eq!(probe("a", "e", 20, 29, None), None);
        // Another transaction's intent on "b" at 25 is a change; the reader's own is looked
        // beneath (nothing newer there).
        let mut b = WriteBatch::new();
        Mvcc::put_intent(&mut b, b"b", &intent(7, 25, b"new")).unwrap();
        m.engine().write(b, false).unwrap();
        assert_eq!(probe("a", "c", 20, 40, Some(8)), Some(ts(25)));
        assert_eq!(probe("a", "c", 20, 40, Some(7)), None);
        assert_eq!(probe("a", "c", 20, 24, Some(8)), None);
    }
}
