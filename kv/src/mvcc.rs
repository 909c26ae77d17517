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
//! IMPLEMENTATION CAVEATS
//! - No intents yet (see the crate docs). Garbage collection of old versions is
//!   [`Mvcc::gc`], driven by the caller.

use crate::engine::{Engine, Visit, WriteBatch};
use crate::{Error, Result, Timestamp};
use std::sync::Arc;

/// Tag byte of a live version.
pub const TAG_VALUE: u8 = 1;
/// Tag byte of a deletion tombstone.
pub const TAG_TOMBSTONE: u8 = 0;

/// Length of the version suffix: terminator (2 bytes) + inverted timestamp (8 bytes).
const SUFFIX_LEN: usize = 10;

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

/// The storage key before which every version of every key >= `key` sorts (i.e. the seek key
/// for a scan starting at `key`).
fn mvcc_seek_key(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 2);
    escape_into(&mut k, key);
    k.extend_from_slice(&[0x00, 0x01]);
    k
}

/// Splits a storage key into the user key and the version timestamp.
pub fn decode_mvcc_key(raw: &[u8]) -> Result<(Vec<u8>, Timestamp)> {
    if raw.len() < SUFFIX_LEN {
        return Err(Error::Decode("mvcc key too short".into()));
    }
    let (escaped, suffix) = raw.split_at(raw.len() - SUFFIX_LEN);
    if suffix[0] != 0x00 || suffix[1] != 0x01 {
        return Err(Error::Decode("mvcc key has no version terminator".into()));
    }
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&suffix[2..]);
    let mut key = Vec::with_capacity(escaped.len());
    let mut i = 0;
    while i < escaped.len() {
        let b = escaped[i];
        key.push(b);
        if b == 0 {
            if escaped.get(i + 1) != Some(&0xff) {
                return Err(Error::Decode("bad escape in mvcc key".into()));
            }
            i += 1;
        }
        i += 1;
    }
    Ok((key, Timestamp::from_u64(!u64::from_be_bytes(ts))))
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
        let end = crate::keys::prefix_end(&mvcc_seek_key(key));
        let mut found = None;
        let mut err = None;
        self.engine.scan(&start, end.as_deref(), &mut |k, v| {
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

    /// The timestamp of the newest version of `key` (tombstones included), at any time.
    pub fn newest_version_ts(&self, key: &[u8]) -> Result<Option<Timestamp>> {
        Ok(self.get_version(key, Timestamp::MAX)?.map(|(ts, _)| ts))
    }

    /// Live values of keys in `[start, end)` at `ts`, in key order, at most `limit` of them.
    /// `end = None` scans to the end of the keyspace.
    pub fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        ts: Timestamp,
        limit: usize,
    ) -> Result<Vec<KeyValue>> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let raw_start = mvcc_seek_key(start);
        let raw_end = end.map(mvcc_seek_key);
        // The user key whose newest visible version has been handled already.
        let mut done_key: Option<Vec<u8>> = None;
        let mut err = None;
        self.engine.scan(&raw_start, raw_end.as_deref(), &mut |k, v| {
            let (key, vts) = match decode_mvcc_key(k) {
                Ok(x) => x,
                Err(e) => {
                    err = Some(e);
                    return Visit::Stop;
                }
            };
            if vts > ts || done_key.as_deref() == Some(&key[..]) {
                return Visit::Continue;
            }
            match decode_value(v) {
                Ok(Some(value)) => out.push((key.clone(), value)),
                Ok(None) => {}
                Err(e) => {
                    err = Some(e);
                    return Visit::Stop;
                }
            }
            done_key = Some(key);
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
    pub fn write(&self, writes: &[(Vec<u8>, Option<Vec<u8>>)], ts: Timestamp, sync: bool) -> Result<()> {
        let mut batch = WriteBatch::new();
        for (key, value) in writes {
            batch.put(mvcc_key(key, ts), encode_value(value.as_deref()));
        }
        self.engine.write(batch, sync)
    }

    /// Removes versions that no read at or above `before` can see: every version older than
    /// the newest one at or below `before`, and that newest one too when it is a tombstone.
    /// Returns how many versions were removed.
    pub fn gc(&self, before: Timestamp) -> Result<usize> {
        let mut batch = WriteBatch::new();
        let mut current: Option<Vec<u8>> = None;
        let mut keep_seen = false;
        let mut err = None;
        self.engine.scan(&[], None, &mut |k, v| {
            let Ok((key, vts)) = decode_mvcc_key(k) else {
                // Not an MVCC key (local keys live under their own prefix).
                return Visit::Continue;
            };
            if current.as_deref() != Some(&key[..]) {
                current = Some(key);
                keep_seen = false;
            }
            if vts > before {
                return Visit::Continue;
            }
            if keep_seen {
                batch.delete(k.to_vec());
            } else {
                keep_seen = true;
                match decode_value(v) {
                    Ok(None) => batch.delete(k.to_vec()),
                    Ok(Some(_)) => {}
                    Err(e) => {
                        err = Some(e);
                        return Visit::Stop;
                    }
                }
            }
            Visit::Continue
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        let n = batch.ops.len();
        if n > 0 {
            self.engine.write(batch, false)?;
        }
        Ok(n)
    }
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
        m.write(&[(b"a".to_vec(), Some(b"1".to_vec()))], ts(10), false).unwrap();
        m.write(&[(b"a".to_vec(), Some(b"2".to_vec()))], ts(20), false).unwrap();
        m.write(&[(b"a".to_vec(), None)], ts(30), false).unwrap();
        assert_eq!(m.get(b"a", ts(5)).unwrap(), None);
        assert_eq!(m.get(b"a", ts(15)).unwrap(), Some(b"1".to_vec()));
        assert_eq!(m.get(b"a", ts(20)).unwrap(), Some(b"2".to_vec()));
        assert_eq!(m.get(b"a", ts(35)).unwrap(), None);
        assert_eq!(m.newest_version_ts(b"a").unwrap(), Some(ts(30)));
    }

    #[test]
    fn scan_skips_old_versions_and_tombstones_and_keeps_key_order() {
        let m = Mvcc::new(Arc::new(MemoryEngine::new()));
        m.write(&[(b"a".to_vec(), Some(b"1".to_vec())), (b"a\0".to_vec(), Some(b"x".to_vec()))], ts(10), false).unwrap();
        m.write(&[(b"b".to_vec(), Some(b"2".to_vec()))], ts(10), false).unwrap();
        m.write(&[(b"a".to_vec(), Some(b"3".to_vec())), (b"b".to_vec(), None)], ts(20), false).unwrap();
        let all = m.scan(b"", None, ts(25), 100).unwrap();
        assert_eq!(all, vec![(b"a".to_vec(), b"3".to_vec()), (b"a\0".to_vec(), b"x".to_vec())]);
        let old = m.scan(b"a", Some(b"c"), ts(15), 100).unwrap();
        assert_eq!(old.len(), 3);
        assert_eq!(m.scan(b"a", Some(b"c"), ts(15), 2).unwrap().len(), 2);
    }

    #[test]
    fn gc_keeps_what_reads_above_the_threshold_can_see() {
        let m = Mvcc::new(Arc::new(MemoryEngine::new()));
        m.write(&[(b"a".to_vec(), Some(b"1".to_vec()))], ts(10), false).unwrap();
        m.write(&[(b"a".to_vec(), Some(b"2".to_vec()))], ts(20), false).unwrap();
        m.write(&[(b"b".to_vec(), Some(b"1".to_vec()))], ts(10), false).unwrap();
        m.write(&[(b"b".to_vec(), None)], ts(20), false).unwrap();
        assert_eq!(m.gc(ts(25)).unwrap(), 3);
        assert_eq!(m.get(b"a", ts(30)).unwrap(), Some(b"2".to_vec()));
        assert_eq!(m.get(b"b", ts(30)).unwrap(), None);
    }
}
