//! Load-based splitting: where to split a range that serves more requests than one range
//! should, so that each side gets about half of them (CockroachDB's load-based splitter).
//!
//! While a range is above the split threshold (crate::load), its leaseholder offers the key
//! of every request it serves to a [`SplitSampler`]: a reservoir of [`RESERVOIR`] candidate
//! keys (each request's key replaces a random candidate with probability `RESERVOIR / seen`,
//! so the candidates are a uniform sample of the requested keys), each counting the requests
//! that fell to its left and to its right since it joined. A candidate is a good split key
//! when enough requests were counted against it and both sides got a fair part of them; the
//! most balanced such candidate wins. A range whose load is one hot key never finds one (all
//! requests are on one side of every candidate), which is right: splitting cannot spread it.
//!
//! The allocator ([`maybe_split`]) asks for a key on each pass for the ranges whose lease
//! its node holds, and splits through the ordinary split path.
//!
//! Row boundaries: a SQL row is one KV pair (sql::storage: `/Table/<t>/<index>/<key>` ->
//! the whole row), so every key a request addresses starts a row or an index entry, and a
//! split there never cuts a row in two, like the size split, which splits at the key of the
//! middle KV pair. Scans are sampled by their start key, which lies between rows too.
//!
//! IMPLEMENTATION CAVEATS
//! - A scan counts as a point at its start key: a range whose load is long scans may be
//!   split inside a span that many scans cover (CockroachDB also counts requests that span a
//!   candidate and avoids such keys).
//! - Load-based splits are sticky (the merge queue never merges them back, as it would merge
//!   small ranges that are busy); CockroachDB merges them once the combined load falls below
//!   the threshold.

use crate::desc::MIN_SPLIT_KEY;
use crate::dist::DistSender;
use crate::store::{Replica, Store};
use std::time::Instant;

/// Candidate keys kept per range (CockroachDB keeps 20).
pub const RESERVOIR: usize = 20;
/// Requests a candidate must have been weighed against before it may be chosen.
pub const MIN_COUNT: u64 = 100;
/// The smaller side must get at least this share of a candidate's requests.
pub const MIN_SIDE_SHARE: f64 = 0.25;

/// A candidate split key and the requests on each side of it since it was sampled.
#[derive(Debug, Clone)]
struct Candidate {
    key: Vec<u8>,
    left: u64,
    right: u64,
}

/// The reservoir of candidate split keys of one range.
#[derive(Debug, Clone, Default)]
pub struct SplitSampler {
    candidates: Vec<Candidate>,
    /// Keys offered so far.
    seen: u64,
    /// xorshift state (0: not seeded yet).
    rng: u64,
}

impl SplitSampler {
    /// Counts a request for `key` against every candidate, then maybe keeps `key` as one.
    pub fn record(&mut self, key: &[u8]) {
        self.seen += 1;
        for c in &mut self.candidates {
            if key < c.key.as_slice() {
                c.left += 1;
            } else {
                c.right += 1;
            }
        }
        let slot = if self.candidates.len() < RESERVOIR {
            None
        } else {
            let r = self.next_random() % self.seen;
            match usize::try_from(r) {
                Ok(i) if i < RESERVOIR => Some(i),
                _ => return,
            }
        };
        let c = Candidate {
            key: key.to_vec(),
            left: 0,
            right: 0,
        };
        match slot {
            Some(i) => self.candidates[i] = c,
            None => self.candidates.push(c),
        }
    }

    fn next_random(&mut self) -> u64 {
        if self.rng == 0 {
            // Any odd seed; the sample needs no secrecy, only spread.
            self.rng = 0x9E37_79B9_7F4A_7C15;
        }
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// The most balanced candidate inside `(start, end)` (never the range's first key, never
    /// in the addressing span) with at least [`MIN_COUNT`] requests weighed against it and
    /// at least [`MIN_SIDE_SHARE`] of them on each side.
    pub fn best(&self, start: &[u8], end: Option<&[u8]>) -> Option<Vec<u8>> {
        self.candidates
            .iter()
            .filter(|c| {
                let k = c.key.as_slice();
                k > start && k >= MIN_SPLIT_KEY && end.is_none_or(|e| k < e)
            })
            .filter_map(|c| {
                let total = c.left + c.right;
                if total < MIN_COUNT {
                    return None;
                }
                let smaller = c.left.min(c.right) as f64 / total as f64;
                (smaller >= MIN_SIDE_SHARE).then_some((c, c.left.abs_diff(c.right)))
            })
            .min_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.key.cmp(&b.0.key)))
            .map(|(c, _)| c.key.clone())
    }
}

/// Splits `rep`'s range (whose lease this node holds) where its load divides evenly, once
/// it stayed above the load threshold long enough; true if it split.
pub fn maybe_split(dist: &DistSender, store: &Store, rep: &Replica) -> bool {
    let cfg = &store.config().load;
    if cfg.split_qps_threshold <= 0.0 {
        return false;
    }
    let Some(d) = rep.desc() else { return false };
    let Some(key) = rep
        .load
        .split_key(Instant::now(), cfg, &d.start, d.end.as_deref())
    else {
        return false;
    };
    let qps = rep.load.qps();
    match dist.split(&key) {
        Ok(()) => {
            tracing::info!(range = %d.range_id, qps, "load-based split");
            true
        }
        Err(e) => {
            tracing::debug!(range = %d.range_id, error = %e, "load-based split failed");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> Vec<u8> {
        let mut k = vec![0x10];
        k.extend_from_slice(&i.to_be_bytes());
        k
    }

    #[test]
    fn uniform_load_splits_near_the_middle() {
        let mut s = SplitSampler::default();
        for round in 0..50u32 {
            for i in 0..100u32 {
                s.record(&key((i * 37 + round) % 100));
            }
        }
        let k = s.best(&[0x10], None).expect("a key");
        assert!(k > key(30) && k < key(70), "{k:?}");
    }

    #[test]
    fn skewed_load_splits_where_the_requests_divide() {
        // 90% of the requests go to keys 0..10 of 0..1000.
        let mut s = SplitSampler::default();
        for i in 0..5000u32 {
            let k = if i % 10 == 0 { 10 + i % 990 } else { i % 10 };
            s.record(&key(k));
        }
        let k = s.best(&[0x10], None).expect("a key");
        assert!(k >= key(1) && k <= key(10), "{k:?}");
    }

    #[test]
    fn one_hot_key_never_splits() {
        let mut s = SplitSampler::default();
        for _ in 0..1000 {
            s.record(&key(5));
        }
        assert_eq!(s.best(&[0x10], None), None);
    }

    #[test]
    fn keys_outside_the_range_or_too_few_requests_are_refused() {
        let mut s = SplitSampler::default();
        for i in 0..50u32 {
            s.record(&key(i));
        }
        assert_eq!(s.best(&[0x10], None), None, "fewer than MIN_COUNT requests");
        for _ in 0..10 {
            for i in 0..50u32 {
                s.record(&key(i));
            }
        }
        assert!(s.best(&[0x10], None).is_some());
        // The range's own start is never a split key; nor is anything at or after its end.
        assert_eq!(s.best(&key(0), Some(&key(1))), None);
        // The addressing span below /System is never split.
        let mut low = SplitSampler::default();
        for i in 0..500u32 {
            low.record(&[0x02, (i % 50) as u8]);
        }
        assert_eq!(low.best(&[], None), None);
    }
}
