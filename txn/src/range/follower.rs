//! Closed timestamps and follower reads: the two halves of serving reads without the
//! leaseholder.
//!
//! The leaseholder *closes* a timestamp `c` ([`Range::close`]): it promises that it will never
//! again evaluate a write at or below `c` (its timestamp cache's low-water mark rises to `c`,
//! so later writes are pushed above it), then waits until every write evaluated before the
//! promise has been applied (a write latch over the whole range is granted only when all
//! writes in flight released theirs, which they do after applying). From then on, any replica
//! that has applied the same log prefix holds every value at or below `c`, and can serve a
//! non-locking read at such a timestamp ([`follower_read`]) without a timestamp cache: no
//! write can land below it any more.
//!
//! A follower read that meets an intent cannot tell whether its transaction committed: it is
//! refused, and the sender retries at the leaseholder, which resolves it.
//!
//! A follower read below the range's replicated GC threshold (see `gc.rs`) fails with the
//! same error the leaseholder returns: the versions it would need may be gone on this replica.

use super::latch::{LatchSpan, Span};
use super::Range;
use crate::api::{Header, Request, Response};
use crate::Result;
use kv::mvcc::{Mvcc, ReadOpts};
use kv::Timestamp;

impl Range {
    /// Closes `ts`: no write at or below it will be evaluated here from now on, and every write
    /// evaluated before has been applied when this returns.
    pub fn close(&self, ts: Timestamp) {
        self.tscache.lock().raise_low_water(ts);
        let _all = self.latches.acquire(vec![LatchSpan {
            span: self.span.clone(),
            write: true,
        }]);
    }
}

/// Serves a non-locking read of `span` (the replica's span) from `mvcc` for a follower whose
/// applied state is closed at or above `h.uncertainty_limit`. Returns None when the request
/// cannot be served here: not a plain read, or an intent is in the way. Fails below the
/// range's GC threshold as applied on this replica.
pub fn follower_read(
    mvcc: &Mvcc,
    span: &Span,
    h: &Header,
    req: &Request,
) -> Result<Option<Response>> {
    if matches!(
        req,
        Request::Get { lock: None, .. }
            | Request::GetMany { .. }
            | Request::Scan { lock: None, .. }
    ) {
        let threshold = super::gc::read_gc_threshold(mvcc, &span.start)?;
        super::gc::check_threshold(h.read_ts, threshold)?;
    }
    let opts = ReadOpts {
        ts: h.read_ts,
        uncertainty_limit: h.uncertainty_limit,
        txn: h.txn.as_ref().map(|t| (t.id, &h.ignored[..])),
        locking: false,
        ignore_intents: false,
        skip_own_intents: false,
    };
    let mut resp = Response::default();
    let res = match req {
        Request::Get { key, lock: None } => mvcc.read_one(key, &opts)?,
        Request::GetMany { keys } => {
            let mut all = kv::mvcc::ReadResult::default();
            for key in keys {
                if !span.contains(key) {
                    resp.rest_keys.push(key.clone());
                    continue;
                }
                let res = mvcc.read_one(key, &opts)?;
                all.rows.extend(res.rows);
                all.conflicts.extend(res.conflicts);
                all.uncertain = all.uncertain.max(res.uncertain);
            }
            all
        }
        Request::Scan {
            start,
            end,
            limit,
            lock: None,
        } => {
            let (end, clamped) = super::eval::clamp_end(span, end.as_deref());
            let res = mvcc.read(start, end.as_deref(), *limit, &opts)?;
            if res.limited {
                let mut e = res.rows.last().map(|(k, _)| k.clone()).unwrap_or_default();
                e.push(0);
                resp.resume = Some(e);
            } else if clamped {
                resp.resume = end;
            }
            res
        }
        _ => return Ok(None),
    };
    if !res.conflicts.is_empty() {
        return Ok(None);
    }
    if res.uncertain.is_some() {
        resp.uncertain = res.uncertain;
        resp.resume = None;
        return Ok(Some(resp));
    }
    resp.rows = res.rows;
    Ok(Some(resp))
}
