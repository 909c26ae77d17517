//! Multi-version concurrency control on top of an [`Engine`].
//!
//! Every write of a user key is a new version stored under `mvcc_key(key, ts)`:
//!
//! ```text
//! escaped(key) 0x00 0x01 !ts(8 bytes big-endian)
//! ```
//!
//! The key is escaped (0x00 -> 0x00 0xff) and terminated by 0x00 0x01, so the versions of one key
//! are contiguous and keys keep their order ("a" < "a\0" < "b"); the inverted timestamp puts the
//! newest version first. A version's value starts with a tag byte: [`TAG_VALUE`] then the bytes,
//! or [`TAG_TOMBSTONE`] for a delete.
//!
//! A read at timestamp `t` sees, per key, the newest version with timestamp <= `t`; a tombstone
//! there means the key is absent.
//!
//! Reads:
//! - A point read seeks to `mvcc_key(key, t)` and takes the first entry before the key's end.
//! - A scan walks the engine in key order. It steps over invisible versions (newer than `t`, or
//!   older than the visible one) a few at a time, and after [`MAX_VERSION_STEPS`] of them on one
//!   key restarts the engine scan at the right place instead, so a key with thousands of versions
//!   costs a seek, not thousands of steps.
//!
//! The local span (raw keys starting with [`keys::LOCAL_PREFIX`]) holds unversioned per-store
//! state in the same engine. Since a user key's first byte is its storage key's first byte,
//! writes refuse user keys in that span and scans and gc jump over it.
//!
//! Golden scripts in `kv/tests/testdata/mvcc` show the behaviour (and the raw layout) for both
//! engines.
//!
//! IMPLEMENTATION CAVEATS
//! - No intents yet (see the crate docs). Garbage collection of old versions is
//!   [`Mvcc::gc`], driven by the caller; it walks the whole keyspace (no per-range GC
//!   threshold or GC queue yet).
//! - No reverse scans yet.

mod gc;
pub mod intent;
pub mod read;

use crate::engine::{Engine, Visit, WriteBatch};
use crate::{keys, Error, Result, Timestamp};
use gc::GcState;
pub use intent::{IgnoredSeqs, Intent, Seq, TxnId, TxnMeta};
pub use read::{find_change, read_key, read_span, ReadOpts, ReadResult, MAX_VERSION_STEPS};
use std::sync::Arc;

/// Tag byte of a live version.
pub const TAG_VALUE: u8 = 1;
/// Tag byte of a deletion tombstone.
pub const TAG_TOMBSTONE: u8 = 0;

/// Length of the version suffix: terminator (2 bytes) + inverted timestamp (8 bytes).
const SUFFIX_LEN: usize = 10;
/// Length of the inverted timestamp at the end of a storage key.
const TS_LEN: usize = 8;

/// Appends the escaped form of a user key (without terminator).
fn escape_into(buf: &mut Vec<u8>, key: &[u8]) {
    for &b in key {
        buf.push(b);
        if b == 0 {
            buf.push(0xff);
        }
    }
}

/// The storage key of one version of `key`.
pub fn mvcc_key(key: &[u8], ts: Timestamp) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + SUFFIX_LEN + 2);
    escape_into(&mut k, key);
    k.extend_from_slice(&[0x00, 0x01]);
    k.extend_from_slice(&(!ts.as_u64()).to_be_bytes());
    k
}

/// The meta key of `key`, which holds its intent. It sorts before every version of `key` and
/// after every version of every smaller key, so it is also the seek key of a scan from `key`.
pub fn meta_key(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 2);
    escape_into(&mut k, key);
    k.extend_from_slice(&[0x00, 0x00]);
    k
}

/// The first storage key after every version of `key`.
fn mvcc_key_end(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 2);
    escape_into(&mut k, key);
    k.extend_from_slice(&[0x00, 0x02]);
    k
}

/// A decoded storage key.
#[derive(Debug, PartialEq, Eq)]
pub enum StorageKey {
    /// The meta key (intent) of `key`.
    Meta {
        /// The user key.
        key: Vec<u8>,
        /// Length of the escaped user key at the start of the storage key.
        escaped_len: usize,
    },
    /// A version of `key` at `ts`.
    Version {
        /// The user key.
        key: Vec<u8>,
        /// The version's timestamp.
        ts: Timestamp,
        /// Length of the escaped user key at the start of the storage key.
        escaped_len: usize,
    },
}

/// Decodes a storage key from the front: the escape scheme makes the terminator unambiguous
/// (0x00 0xff is an escaped zero byte, 0x00 0x00 ends a meta key, 0x00 0x01 starts a version
/// suffix).
pub fn decode_storage_key(raw: &[u8]) -> Result<StorageKey> {
    let mut key = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b != 0 {
            key.push(b);
            i += 1;
            continue;
        }
        match raw.get(i + 1) {
            Some(0xff) => {
                key.push(0);
                i += 2;
            }
            Some(0x00) if raw.len() == i + 2 => {
                return Ok(StorageKey::Meta {
                    key,
                    escaped_len: i,
                })
            }
            Some(0x01) if raw.len() == i + SUFFIX_LEN => {
                let mut ts = [0u8; TS_LEN];
                ts.copy_from_slice(&raw[i + 2..]);
                return Ok(StorageKey::Version {
                    key,
                    ts: Timestamp::from_u64(!u64::from_be_bytes(ts)),
                    escaped_len: i,
                });
            }
            _ => return Err(Error::Decode("bad mvcc key".into())),
        }
    }
    Err(Error::Decode("mvcc key has no terminator".into()))
}

/// Splits a version's storage key into the user key and the version timestamp.
pub fn decode_mvcc_key(raw: &[u8]) -> Result<(Vec<u8>, Timestamp)> {
    match decode_storage_key(raw)? {
        StorageKey::Version { key, ts, .. } => Ok((key, ts)),
        StorageKey::Meta { .. } => Err(Error::Decode("not a version key".into())),
    }
}

/// One version as seen by a read: its timestamp and its value (`None` for a tombstone).
pub type Version = (Timestamp, Option<Vec<u8>>);

/// A key and its live value, as returned by scans.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Multi-version storage over a shared engine.
#[derive(Clone)]
pub struct Mvcc {
    engine: Arc<dyn Engine>,
}

impl Mvcc {
    /// MVCC over the given engine.
    pub fn new(engine: Arc<dyn Engine>) -> Self {
        Mvcc { engine }
    }

    /// The underlying engine.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// The newest version of `key` at or below `ts`, tombstones included.
    pub fn get_version(&self, key: &[u8], ts: Timestamp) -> Result<Option<Version>> {
        let start = mvcc_key(key, ts);
        let end = mvcc_key_end(key);
        let mut found = None;
        let mut err = None;
        self.engine.scan(&start, Some(&end), &mut |k, v| {
            match decode_mvcc_key(k).and_then(|(_, vts)| Ok((vts, decode_value(v)?))) {
                Ok(version) => found = Some(version),
                Err(e) => err = Some(e),
            }
            Visit::Stop
        })?;
        match err {
            Some(e) => Err(e),
            None => Ok(found),
        }
    }

    /// The live value of `key` at `ts`.
    pub fn get(&self, key: &[u8], ts: Timestamp) -> Result<Option<Vec<u8>>> {
        Ok(self.get_version(key, ts)?.and_then(|(_, v)| v))
    }

    /// What a writer of `key` must know, from one engine seek: its intent, if any, and the
    /// timestamp of its newest committed version (tombstones included).
    pub fn write_state(&self, key: &[u8]) -> Result<(Option<Intent>, Option<Timestamp>)> {
        let mut intent = None;
        let mut newest = None;
        let mut err = None;
        self.engine
            .scan(
                &meta_key(key),
                Some(&mvcc_key_end(key)),
                &mut |k, v| match decode_storage_key(k) {
                    Ok(StorageKey::Meta { .. }) => match Intent::decode(v) {
                        Ok(i) => {
                            intent = Some(i);
                            Visit::Continue
                        }
                        Err(e) => {
                            err = Some(e);
                            Visit::Stop
                        }
                    },
                    Ok(StorageKey::Version { ts, .. }) => {
                        newest = Some(ts);
                        Visit::Stop
                    }
                    Err(e) => {
                        err = Some(e);
                        Visit::Stop
                    }
                },
            )?;
        match err {
            Some(e) => Err(e),
            None => Ok((intent, newest)),
        }
    }

    /// The timestamp of the newest version of `key` (tombstones included), at any time.
    pub fn newest_version_ts(&self, key: &[u8]) -> Result<Option<Timestamp>> {
        Ok(self.get_version(key, Timestamp::MAX)?.map(|(ts, _)| ts))
    }

    /// Live values of keys in `[start, end)` at `ts`, in key order, at most `limit` of them.
    /// `end = None` scans to the end of the keyspace. Keys in the local span (starting with
    /// [`keys::LOCAL_PREFIX`]) are never MVCC keys and are skipped.
    pub fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        ts: Timestamp,
        limit: usize,
    ) -> Result<Vec<KeyValue>> {
        Ok(read_span(
            self.engine.as_ref(),
            start,
            end,
            limit,
            &ReadOpts::committed(ts),
        )?
        .rows)
    }

    /// A transactional read of `[start, end)` (see [`read`]).
    pub fn read(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
        opts: &ReadOpts<'_>,
    ) -> Result<ReadResult> {
        read_span(self.engine.as_ref(), start, end, limit, opts)
    }

    /// The first change in `[start, end)` that a read at `opts.ts` would see when made again at
    /// `opts.uncertainty_limit`, if any (see [`find_change`]): a refresh's check.
    pub fn find_change(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        opts: &ReadOpts<'_>,
    ) -> Result<Option<Timestamp>> {
        find_change(self.engine.as_ref(), start, end, opts)
    }

    /// A transactional read of one key (see [`read`]).
    pub fn read_one(&self, key: &[u8], opts: &ReadOpts<'_>) -> Result<ReadResult> {
        read_key(self.engine.as_ref(), key, opts)
    }

    /// The intent on `key`, if any.
    pub fn intent(&self, key: &[u8]) -> Result<Option<Intent>> {
        match self.engine.get(&meta_key(key))? {
            Some(raw) => Ok(Some(Intent::decode(&raw)?)),
            None => Ok(None),
        }
    }

    /// Adds writing `intent` on `key` to `batch` (replacing any intent there).
    pub fn put_intent(batch: &mut WriteBatch, key: &[u8], intent: &Intent) -> Result<()> {
        check_user_key(key)?;
        batch.put(meta_key(key), intent.encode());
        Ok(())
    }

    /// Adds resolving `intent` on `key` to `batch`: the meta key goes away and, when the
    /// transaction committed at `commit_ts`, its newest non-ignored value becomes a version
    /// there. A transaction that rolled back every write to the key leaves nothing.
    pub fn resolve_intent(
        batch: &mut WriteBatch,
        key: &[u8],
        intent: &Intent,
        commit_ts: Option<Timestamp>,
        ignored: &IgnoredSeqs,
    ) {
        batch.delete(meta_key(key));
        if let (Some(ts), Some(value)) = (commit_ts, intent.visible(ignored)) {
            batch.put(mvcc_key(key, ts), encode_value(value));
        }
    }

    /// Adds a committed version of `key` at `ts` to `batch` (`None`: a tombstone).
    pub fn put_version(
        batch: &mut WriteBatch,
        key: &[u8],
        ts: Timestamp,
        value: Option<&[u8]>,
    ) -> Result<()> {
        check_user_key(key)?;
        batch.put(mvcc_key(key, ts), encode_value(value));
        Ok(())
    }

    /// Every stored version (tombstones included) of keys in `[start, end)`, newest first per
    /// key, at most `limit` of them. For debugging, tests and tools; reads use [`Mvcc::scan`].
    pub fn scan_versions(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Version)>> {
        let mut out = Vec::new();
        let mut err = None;
        let raw_end = end.map(meta_key);
        if limit == 0 {
            return Ok(out);
        }
        self.engine
            .scan(&meta_key(start), raw_end.as_deref(), &mut |k, v| {
                if k.first() == Some(&keys::LOCAL_PREFIX) {
                    return Visit::Continue;
                }
                let entry = match decode_storage_key(k) {
                    Ok(StorageKey::Meta { .. }) => return Visit::Continue,
                    Ok(StorageKey::Version { key, ts, .. }) => {
                        decode_value(v).map(|value| (key, (ts, value)))
                    }
                    Err(e) => Err(e),
                };
                match entry {
                    Ok(entry) => out.push(entry),
                    Err(e) => {
                        err = Some(e);
                        return Visit::Stop;
                    }
                }
                if out.len() >= limit {
                    Visit::Stop
                } else {
                    Visit::Continue
                }
            })?;
        match err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Writes new versions at `ts` atomically: `Some(value)` puts, `None` deletes (tombstone).
    /// A key in the local span ([`keys::LOCAL_PREFIX`]) is refused with [`Error::InvalidKey`].
    pub fn write(
        &self,
        writes: &[(Vec<u8>, Option<Vec<u8>>)],
        ts: Timestamp,
        sync: bool,
    ) -> Result<()> {
        let mut batch = WriteBatch::new();
        for (key, value) in writes {
            Self::put_version(&mut batch, key, ts, value.as_deref())?;
        }
        self.engine.write(batch, sync)
    }

    /// Removes versions that no read at or above `before` can see: every version older than
    /// the newest one at or below `before`, and that newest one too when it is a tombstone.
    /// Returns how many versions were removed.
    ///
    /// Deletions are written in batches of about [`GC_BATCH_MAX`], split only between keys, and
    /// a tombstone is deleted in the same batch as (after) the versions it hides, so a crash
    /// mid-way never resurrects a deleted value.
    ///
    /// HAZARD: `before` must be at or below every timestamp a read may still use and below any
    /// timestamp a new write may get; a write at or below `before` racing with gc may be lost.
    /// Intents are never removed by gc.
    pub fn gc(&self, before: Timestamp) -> Result<usize> {
        self.gc_span(b"", None, before)
    }

    /// [`Mvcc::gc`] restricted to the user keys in `[start, end)`.
    pub fn gc_span(&self, start: &[u8], end: Option<&[u8]>, before: Timestamp) -> Result<usize> {
        let engine = self.engine.clone();
        self.gc_span_with(start, end, before, &mut |batch| engine.write(batch, false))
    }

    /// [`Mvcc::gc_span`] handing each batch of deletions to `write` instead of the engine (a
    /// replicated range proposes them through Raft).
    pub fn gc_span_with(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        before: Timestamp,
        write: &mut dyn FnMut(WriteBatch) -> Result<()>,
    ) -> Result<usize> {
        let mut removed = 0;
        let mut resume = meta_key(start);
        let raw_end = end.map(meta_key);
        loop {
            let mut state = GcState::new(before);
            self.engine
                .scan(&resume, raw_end.as_deref(), &mut |k, v| state.visit(k, v))?;
            if let Some(e) = state.err.take() {
                return Err(e);
            }
            let batch = state.finish();
            removed += batch.ops.len();
            if !batch.is_empty() {
                write(batch)?;
            }
            match state.resume.take() {
                Some(next) => resume = next,
                None => return Ok(removed),
            }
        }
    }
}

/// Most deletions gc buffers before writing them (it stops at the next key boundary).
pub const GC_BATCH_MAX: usize = 1024;

/// Refuses user keys in the local span, whose storage keys would mix with local state.
fn check_user_key(key: &[u8]) -> Result<()> {
    if key.first() == Some(&keys::LOCAL_PREFIX) {
        return Err(Error::InvalidKey(
            "MVCC keys must not start with the local prefix 0x01".into(),
        ));
    }
    Ok(())
}

fn encode_value(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        Some(v) => {
            let mut out = Vec::with_capacity(v.len() + 1);
            out.push(TAG_VALUE);
            out.extend_from_slice(v);
            out
        }
        None => vec![TAG_TOMBSTONE],
    }
}

fn decode_value(raw: &[u8]) -> Result<Option<Vec<u8>>> {
    match raw.first() {
        Some(&TAG_VALUE) => Ok(Some(raw[1..].to_vec())),
        Some(&TAG_TOMBSTONE) => Ok(None),
        _ => Err(Error::Decode("bad mvcc value tag".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::MemoryEngine;

    fn ts(n: u64) -> Timestamp {
        Timestamp::from_parts(n, 0)
    }

    #[test]
    fn reads_see_newest_version_at_or_below() {
        let m = Mvcc::new(Arc::new(MemoryEngine::new()));
        m.write(&[(b"a".to_vec(), Some(b"1".to_vec()))], ts(10), false)
            .unwrap();
        m.write(&[(b"a".to_vec(), Some(b"2".to_vec()))], ts(20), false)
            .unwrap();
        m.write(&[(b"a".to_vec(), None)], ts(30), false).unwrap();
        assert_eq!(m.get(b"a", ts(5)).unwrap(), None);
        assert_eq!(m.get(b"a", ts(15)).unwrap(), Some(b"1".to_vec()));
        assert_eq!(m.get(b"a", ts(20)).unwrap(), Some(b"2".to_vec()));
        assert_eq!(m.get(b"a", ts(35)).unwrap(), None);
        assert_eq!(m.newest_version_ts(b"a").unwrap(), Some(ts(30)));
        assert_eq!(m.write_state(b"a").unwrap(), (None, Some(ts(30))));
        assert_eq!(m.write_state(b"b").unwrap(), (None, None));
    }

    #[test]
    fn scan_skips_old_versions_and_tombstones_and_keeps_key_order() {
        let m = Mvcc::new(Arc::new(MemoryEngine::new()));
        m.write(
            &[
                (b"a".to_vec(), Some(b"1".to_vec())),
                (b"a\0".to_vec(), Some(b"x".to_vec())),
            ],
            ts(10),
            false,
        )
        .unwrap();
        m.write(&[(b"b".to_vec(), Some(b"2".to_vec()))], ts(10), false)
            .unwrap();
        m.write(
            &[(b"a".to_vec(), Some(b"3".to_vec())), (b"b".to_vec(), None)],
            ts(20),
            false,
        )
        .unwrap();
        let all = m.scan(b"", None, ts(25), 100).unwrap();
        assert_eq!(
            all,
            vec![
                (b"a".to_vec(), b"3".to_vec()),
                (b"a\0".to_vec(), b"x".to_vec())
            ]
        );
        let old = m.scan(b"a", Some(b"c"), ts(15), 100).unwrap();
        assert_eq!(old.len(), 3);
        assert_eq!(m.scan(b"a", Some(b"c"), ts(15), 2).unwrap().len(), 2);
    }

    #[test]
    fn gc_keeps_what_reads_above_the_threshold_can_see() {
        let m = Mvcc::new(Arc::new(MemoryEngine::new()));
        m.write(&[(b"a".to_vec(), Some(b"1".to_vec()))], ts(10), false)
            .unwrap();
        m.write(&[(b"a".to_vec(), Some(b"2".to_vec()))], ts(20), false)
            .unwrap();
        m.write(&[(b"b".to_vec(), Some(b"1".to_vec()))], ts(10), false)
            .unwrap();
        m.write(&[(b"b".to_vec(), None)], ts(20), false).unwrap();
        assert_eq!(m.gc(ts(25)).unwrap(), 3);
        assert_eq!(m.get(b"a", ts(30)).unwrap(), Some(b"2".to_vec()));
        assert_eq!(m.get(b"b", ts(30)).unwrap(), None);
    }

    #[test]
    fn local_span_is_refused_and_skipped() {
        let engine = Arc::new(MemoryEngine::new());
        let m = Mvcc::new(engine.clone());
        let err = m.write(
            &[(vec![keys::LOCAL_PREFIX, 1], Some(b"x".to_vec()))],
            ts(10),
            false,
        );
        assert!(matches!(err, Err(Error::InvalidKey(_))));
        // Unversioned local state written straight to the engine, around MVCC keys.
        let mut b = WriteBatch::new();
        b.put(
            vec![keys::LOCAL_PREFIX, b'r', 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
            vec![0],
        );
        b.put(vec![keys::LOCAL_PREFIX, b's'], b"state".to_vec());
        engine.write(b, false).unwrap();
        m.write(
            &[
                (vec![0], Some(b"zero".to_vec())),
                (vec![2], Some(b"two".to_vec())),
            ],
            ts(10),
            false,
        )
        .unwrap();
        m.write(&[(vec![2], None)], ts(20), false).unwrap();
        let all = m.scan(b"", None, ts(15), 100).unwrap();
        assert_eq!(
            all,
            vec![(vec![0], b"zero".to_vec()), (vec![2], b"two".to_vec())]
        );
        assert_eq!(m.scan_versions(b"", None, 100).unwrap().len(), 3);
        assert_eq!(m.gc(ts(30)).unwrap(), 2);
        assert_eq!(
            engine.get(&[keys::LOCAL_PREFIX, b's']).unwrap(),
            Some(b"state".to_vec())
        );
    }

    #[test]
    fn scan_seeks_over_many_versions() {
        let m = Mvcc::new(Arc::new(MemoryEngine::new()));
        for t in 1..=100 {
            m.write(
                &[(b"k".to_vec(), Some(t.to_string().into_bytes()))],
                ts(t),
                false,
            )
            .unwrap();
        }
        m.write(
            &[
                (b"j".to_vec(), Some(b"j".to_vec())),
                (b"l".to_vec(), Some(b"l".to_vec())),
            ],
            ts(50),
            false,
        )
        .unwrap();
        for (at, k) in [(50, "50"), (100, "100"), (75, "75"), (1, "1")] {
            let rows = m.scan(b"", None, ts(at), 10).unwrap();
            let got: Vec<_> = rows
                .iter()
                .map(|(k, v)| (k.as_slice(), v.as_slice()))
                .collect();
            if at >= 50 {
                assert_eq!(
                    got,
                    vec![(&b"j"[..], &b"j"[..]), (b"k", k.as_bytes()), (b"l", b"l")]
                );
            } else {
                assert_eq!(got, vec![(&b"k"[..], k.as_bytes())]);
            }
        }
    }

    #[test]
    fn gc_batches_split_between_keys_and_remove_everything_hidden() {
        let m = Mvcc::new(Arc::new(MemoryEngine::new()));
        let n = GC_BATCH_MAX + 10;
        let keys: Vec<Vec<u8>> = (0..n as u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let puts: Vec<_> = keys
            .iter()
            .map(|k| (k.clone(), Some(b"v".to_vec())))
            .collect();
        let dels: Vec<_> = keys.iter().map(|k| (k.clone(), None)).collect();
        m.write(&puts, ts(10), false).unwrap();
        m.write(&dels, ts(20), false).unwrap();
        assert_eq!(m.gc(ts(30)).unwrap(), 2 * n);
        assert!(m.scan_versions(b"", None, usize::MAX).unwrap().is_empty());
    }
}
