//! Garbage collection of versions no read can see any more.

use super::{decode_storage_key, decode_value, meta_key, StorageKey, GC_BATCH_MAX};
use crate::engine::{Visit, WriteBatch};
use crate::{keys, Error, Timestamp};

/// The state of one gc pass over the engine, until its batch is full.
pub(super) struct GcState {
    before: Timestamp,
    batch: WriteBatch,
    /// The user key being processed.
    current: Option<Vec<u8>>,
    /// Whether `current`'s newest version at or below `before` has been seen.
    keep_seen: bool,
    /// `current`'s tombstone to delete once its older versions are in the batch.
    tombstone: Option<Vec<u8>>,
    pub(super) resume: Option<Vec<u8>>,
    pub(super) err: Option<Error>,
}

impl GcState {
    pub(super) fn new(before: Timestamp) -> Self {
        GcState {
            before,
            batch: WriteBatch::new(),
            current: None,
            keep_seen: false,
            tombstone: None,
            resume: None,
            err: None,
        }
    }

    /// Ends the current key: its tombstone goes after the versions it hid.
    fn end_key(&mut self) {
        if let Some(t) = self.tombstone.take() {
            self.batch.delete(t);
        }
    }

    pub(super) fn visit(&mut self, k: &[u8], v: &[u8]) -> Visit {
        if k.first() == Some(&keys::LOCAL_PREFIX) {
            return Visit::Continue;
        }
        let Ok(StorageKey::Version { key, ts: vts, .. }) = decode_storage_key(k) else {
            // An intent (never collected) or not an MVCC key: gc never deletes what it does
            // not understand.
            return Visit::Continue;
        };
        if self.current.as_deref() != Some(&key[..]) {
            self.end_key();
            if self.batch.ops.len() >= GC_BATCH_MAX {
                self.resume = Some(meta_key(&key));
                return Visit::Stop;
            }
            self.current = Some(key);
            self.keep_seen = false;
        }
        if vts > self.before {
            return Visit::Continue;
        }
        if self.keep_seen {
            self.batch.delete(k.to_vec());
            return Visit::Continue;
        }
        self.keep_seen = true;
        match decode_value(v) {
            Ok(None) => self.tombstone = Some(k.to_vec()),
            Ok(Some(_)) => {}
            Err(e) => {
                self.err = Some(e);
                return Visit::Stop;
            }
        }
        Visit::Continue
    }

    pub(super) fn finish(&mut self) -> WriteBatch {
        self.end_key();
        std::mem::take(&mut self.batch)
    }
}
