//! The timestamp cache: the highest timestamp at which each key of the range was read, so that
//! a later write to that key lands above every read of it. This is what stops a transaction
//! from rewriting history under a read it did not see (lost updates, write skew across
//! transactions that both read before either writes).
//!
//! A read by transaction T of span S at timestamp t records (S, t, T). A write by transaction
//! W of key k must land above max{t : (S, t, T) recorded, k in S, T != W}; a transaction's own
//! reads do not push its writes.
//!
//! IMPLEMENTATION CAVEATS
//! - Point reads live in a hash map and span reads in a list scanned linearly. When they grow
//!   past [`MAX_ENTRIES`], everything is folded into the low-water mark (the highest timestamp
//!   evicted, remembered with its transaction when only one read there), which is correct but
//!   pushes every other transaction's later writes above it.
//! - Lost on restart: a restarted range starts with a low-water mark at the node's clock.

use super::latch::Span;
use kv::mvcc::TxnId;
use kv::Timestamp;
use std::collections::HashMap;

/// Point entries kept before folding into the low-water mark.
pub const MAX_ENTRIES: usize = 65_536;
/// Span entries kept before folding (each write scans them linearly).
pub const MAX_SPANS: usize = 512;

/// Read timestamps of one range.
#[derive(Debug)]
pub struct TsCache {
    low_water: Timestamp,
    /// The transaction every read at the low-water mark belonged to, when only one did (so a
    /// large transaction's own folded reads do not push its own writes).
    low_water_txn: Option<TxnId>,
    points: HashMap<Vec<u8>, (Timestamp, Option<TxnId>)>,
    spans: Vec<(Span, Timestamp, Option<TxnId>)>,
}

impl TsCache {
    /// An empty cache whose reads are all assumed at or below `low_water`.
    pub fn new(low_water: Timestamp) -> Self {
        TsCache {
            low_water,
            low_water_txn: None,
            points: HashMap::new(),
            spans: Vec::new(),
        }
    }

    /// Records a read of `span` at `ts` by `txn`.
    pub fn record(&mut self, span: &Span, ts: Timestamp, txn: Option<TxnId>) {
        if ts <= self.low_water {
            return;
        }
        if is_point(span) {
            let e = self
                .points
                .entry(span.start.clone())
                .or_insert((Timestamp::ZERO, None));
            if ts > e.0 {
                *e = (ts, txn);
            } else if ts == e.0 && e.1 != txn {
                e.1 = None;
            }
        } else {
            self.spans.push((span.clone(), ts, txn));
        }
        if self.points.len() > MAX_ENTRIES || self.spans.len() > MAX_SPANS {
            self.fold();
        }
    }

    /// The highest read timestamp of `key` by a transaction other than `txn`.
    pub fn max_read(&self, key: &[u8], txn: Option<TxnId>) -> Timestamp {
        let mut max = Timestamp::ZERO;
        let mut consider = |ts: Timestamp, by: Option<TxnId>| {
            if ts > max && (by.is_none() || by != txn) {
                max = ts;
            }
        };
        consider(self.low_water, self.low_water_txn);
        if let Some(&(ts, by)) = self.points.get(key) {
            consider(ts, by);
        }
        for (s, ts, by) in &self.spans {
            if s.contains(key) {
                consider(*ts, *by);
            }
        }
        max
    }

    /// Raises the low-water mark (reads at or below it are assumed everywhere).
    pub fn raise_low_water(&mut self, ts: Timestamp) {
        if ts > self.low_water {
            self.low_water = ts;
            self.low_water_txn = None;
        }
    }

    fn fold(&mut self) {
        let entries = self
            .points
            .values()
            .map(|&(ts, by)| (ts, by))
            .chain(self.spans.iter().map(|(_, ts, by)| (*ts, *by)));
        let mut max = self.low_water;
        let mut owner = self.low_water_txn;
        for (ts, by) in entries {
            if ts > max {
                max = ts;
                owner = by;
            } else if ts == max && owner != by {
                owner = None;
            }
        }
        self.low_water = max;
        self.low_water_txn = owner;
        self.points.clear();
        self.spans.clear();
    }
}

fn is_point(span: &Span) -> bool {
    match &span.end {
        Some(e) => {
            e.len() == span.start.len() + 1 && e.starts_with(&span.start) && e.ends_with(&[0])
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(n: u64) -> Timestamp {
        Timestamp::from_parts(n, 0)
    }

    #[test]
    fn writes_see_other_transactions_reads_only() {
        let mut c = TsCache::new(ts(1));
        c.record(&Span::key(b"a"), ts(10), Some(TxnId(1)));
        c.record(
            &Span {
                start: b"b".to_vec(),
                end: Some(b"d".to_vec()),
            },
            ts(20),
            Some(TxnId(2)),
        );
        assert_eq!(c.max_read(b"a", Some(TxnId(2))), ts(10));
        assert_eq!(c.max_read(b"a", Some(TxnId(1))), ts(1));
        assert_eq!(c.max_read(b"c", Some(TxnId(1))), ts(20));
        assert_eq!(c.max_read(b"d", None), ts(1));
        c.fold();
        assert_eq!(c.max_read(b"zz", Some(TxnId(1))), ts(20));
        // Folded reads of one transaction still do not push that transaction's writes.
        assert_eq!(c.max_read(b"zz", Some(TxnId(2))), Timestamp::ZERO);
    }
}
