//! A transaction interceptor that reads the schema generation once per transaction.
//!
//! Why: the descriptor cache needs the generation on every catalog lookup, and a point read per
//! lookup would cost a large share of what the cache saves (a TPC-C transaction runs tens of
//! statements of one or two point reads each). Within one transaction the generation can only
//! change through the transaction's own writes: a concurrent DDL either committed below the
//! transaction's read timestamp (then the first read saw it) or above it (then the first read
//! is in the read set and the refresh or commit fails with 40001). So the first read goes
//! through the transaction, into its read set, and later reads of the key are answered from
//! memory until the transaction writes or deletes the key itself or rolls back to a savepoint
//! (which may undo such a write); then the next read goes through again.
//!
//! [`GenerationMemo`] wraps the session's transactions ([`wrap`]); every other call is passed
//! through unchanged.
//!
//! IMPLEMENTATION CAVEATS
//! - Every method of [`txn::Transaction`] is forwarded explicitly; a method added to the trait
//!   later with a default body would run the default here instead of the inner transaction's
//!   override until it is forwarded too.

use super::generation::generation_key;
use txn::{LockStrength, Result, ScanPage, Timestamp, Transaction};

/// See the module docs.
pub struct GenerationMemo {
    inner: Box<dyn Transaction>,
    /// The generation key's value as this transaction last read it (outer None: not read yet,
    /// or invalidated by the transaction's own write).
    memo: Option<Option<Vec<u8>>>,
}

/// Wraps `txn` so that it reads the schema generation at most once until it writes it.
pub fn wrap(txn: Box<dyn Transaction>) -> Box<dyn Transaction> {
    Box::new(GenerationMemo {
        inner: txn,
        memo: None,
    })
}

impl Transaction for GenerationMemo {
    fn read_ts(&self) -> Timestamp {
        self.inner.read_ts()
    }

    fn is_read_only(&self) -> bool {
        self.inner.is_read_only()
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if key != generation_key() {
            return self.inner.get(key);
        }
        if let Some(v) = &self.memo {
            return Ok(v.clone());
        }
        let v = self.inner.get(key)?;
        self.memo = Some(v.clone());
        Ok(v)
    }

    fn get_many(&mut self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.iter().any(|k| k.as_slice() == generation_key()) {
            return keys.iter().map(|k| self.get(k)).collect();
        }
        self.inner.get_many(keys)
    }

    fn scan(&mut self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<ScanPage> {
        self.inner.scan(start, end, limit)
    }

    fn get_locking(&mut self, key: &[u8], strength: LockStrength) -> Result<Option<Vec<u8>>> {
        self.inner.get_locking(key, strength)
    }

    fn scan_locking(
        &mut self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
        strength: LockStrength,
    ) -> Result<ScanPage> {
        self.inner.scan_locking(start, end, limit, strength)
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<()> {
        if key == generation_key() {
            self.memo = None;
        }
        self.inner.put(key, value)
    }

    fn delete(&mut self, key: Vec<u8>) -> Result<()> {
        if key == generation_key() {
            self.memo = None;
        }
        self.inner.delete(key)
    }

    fn savepoint(&mut self) -> usize {
        self.inner.savepoint()
    }

    fn rollback_to(&mut self, savepoint: usize) {
        self.memo = None;
        self.inner.rollback_to(savepoint)
    }

    fn commit(self: Box<Self>) -> Result<Timestamp> {
        self.inner.commit()
    }

    fn rollback(self: Box<Self>) {
        self.inner.rollback()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Counts reads of the generation key; stores writes in a map.
    struct Counting {
        reads: Arc<AtomicUsize>,
        data: std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
        saved: Vec<std::collections::BTreeMap<Vec<u8>, Vec<u8>>>,
    }

    impl Transaction for Counting {
        fn read_ts(&self) -> Timestamp {
            Timestamp::default()
        }
        fn is_read_only(&self) -> bool {
            false
        }
        fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
            if key == generation_key() {
                self.reads.fetch_add(1, Ordering::Relaxed);
            }
            Ok(self.data.get(key).cloned())
        }
        fn scan(&mut self, _: &[u8], _: Option<&[u8]>, _: usize) -> Result<ScanPage> {
            Ok(ScanPage::default())
        }
        fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<()> {
            self.data.insert(key, value);
            Ok(())
        }
        fn delete(&mut self, key: Vec<u8>) -> Result<()> {
            self.data.remove(&key);
            Ok(())
        }
        fn savepoint(&mut self) -> usize {
            self.saved.push(self.data.clone());
            self.saved.len() - 1
        }
        fn rollback_to(&mut self, savepoint: usize) {
            if let Some(d) = self.saved.get(savepoint) {
                self.data = d.clone();
            }
        }
        fn commit(self: Box<Self>) -> Result<Timestamp> {
            Ok(Timestamp::default())
        }
        fn rollback(self: Box<Self>) {}
    }

    #[test]
    fn reads_once_until_its_own_write_or_a_savepoint_rollback() {
        let reads = Arc::new(AtomicUsize::new(0));
        let mut t = wrap(Box::new(Counting {
            reads: reads.clone(),
            data: Default::default(),
            saved: Vec::new(),
        }));
        let key = generation_key();
        assert_eq!(t.get(key).unwrap(), None);
        assert_eq!(t.get(key).unwrap(), None);
        assert_eq!(reads.load(Ordering::Relaxed), 1);
        let sp = t.savepoint();
        t.put(key.to_vec(), b"g1".to_vec()).unwrap();
        assert_eq!(
            t.get(key).unwrap(),
            Some(b"g1".to_vec()),
            "own write is seen"
        );
        assert_eq!(t.get(key).unwrap(), Some(b"g1".to_vec()));
        assert_eq!(reads.load(Ordering::Relaxed), 2);
        t.rollback_to(sp);
        assert_eq!(t.get(key).unwrap(), None, "the rolled back write is gone");
        assert_eq!(reads.load(Ordering::Relaxed), 3);
        // Other keys always go through.
        t.put(b"k".to_vec(), b"v".to_vec()).unwrap();
        assert_eq!(t.get(b"k").unwrap(), Some(b"v".to_vec()));
        assert_eq!(t.get(key).unwrap(), None);
        assert_eq!(reads.load(Ordering::Relaxed), 3);
    }
}
