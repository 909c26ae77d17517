//! Evaluation of refreshes: checking that nothing was written in a transaction's read spans
//! between its read timestamp and a later one, so its reads stay valid there.
//!
//! One Refresh request carries every read span a coordinator routes to this range (as many
//! as the transaction made: spans are never merged, which would turn a few point reads into
//! a scan of the keys between them). The range checks the parts inside its span and hands
//! back the rest (a split since the coordinator routed them) for the coordinator to route
//! again. A check stops at the first finding and decodes no value ([`Mvcc::find_change`]).

use super::eval::clamp_end;
use super::latch::{LatchSpan, Span};
use super::{Eval, Range};
use crate::api::{Header, Response, WireSpans};
use crate::Result;
use kv::mvcc::ReadOpts;
use kv::Timestamp;

impl Range {
    pub(super) fn eval_refresh(
        &self,
        h: &Header,
        spans: &WireSpans,
        to: Timestamp,
    ) -> Result<Eval> {
        self.check_gc_threshold(h.read_ts)?;
        let mut inside = Vec::with_capacity(spans.len());
        let mut rest = Vec::new();
        for (start, end) in spans {
            let (here, outside) = split_by(&self.span, start, end.as_deref());
            inside.extend(here);
            rest.extend(outside);
        }
        let _latch = self.latches.acquire(
            inside
                .iter()
                .map(|span| LatchSpan {
                    span: span.clone(),
                    write: false,
                })
                .collect(),
        );
        for span in &inside {
            if let Some(at) = self.refresh_conflict(h, span, to)? {
                return Ok(Eval::Done(Response {
                    refresh_conflict: Some(at),
                    ..Response::default()
                }));
            }
        }
        for span in &inside {
            self.record_refreshed(h, span, to);
        }
        Ok(Eval::Done(Response {
            refresh_rest: rest,
            ..Response::default()
        }))
    }

    /// A one-phase commit's server-side refresh of `spans` (all inside this range, latched
    /// for reading by the caller) to `to`: true, and the reads recorded at `to`, when none
    /// of them was written in `(read_ts, to]`.
    pub(super) fn refresh_here(&self, h: &Header, spans: &[Span], to: Timestamp) -> Result<bool> {
        if self.check_gc_threshold(h.read_ts).is_err() {
            // The coordinator's own refresh reports it.
            return Ok(false);
        }
        for span in spans {
            if self.refresh_conflict(h, span, to)?.is_some() {
                return Ok(false);
            }
        }
        for span in spans {
            self.record_refreshed(h, span, to);
        }
        Ok(true)
    }

    /// The timestamp of a write in `(read_ts, to]` in `span` (another transaction's intent
    /// counts; the reader's own intents are looked beneath), if any.
    fn refresh_conflict(
        &self,
        h: &Header,
        span: &Span,
        to: Timestamp,
    ) -> Result<Option<Timestamp>> {
        let opts = ReadOpts {
            ts: h.read_ts,
            uncertainty_limit: to,
            txn: h.txn.as_ref().map(|t| (t.id, &h.ignored[..])),
            locking: false,
            ignore_intents: false,
            skip_own_intents: true,
        };
        Ok(self
            .mvcc
            .find_change(&span.start, span.end.as_deref(), &opts)?)
    }

    /// Records a refreshed read of `span` at `to`.
    fn record_refreshed(&self, h: &Header, span: &Span, to: Timestamp) {
        // The refreshed read now counts as a read at `to`, which may be above every reading
        // of this node's clock (`to` is often a write timestamp bumped past a timestamp-cache
        // entry). Move the clock past it: the object that replaces this one (after a split or
        // lease change) starts its timestamp cache at the clock, and must not let a write in
        // below this read. A `to` beyond the maximum offset is a future-time (global range)
        // timestamp, covered by that range's low-water mark instead, and must not move the
        // clock.
        let _ = self.clock.update(to);
        self.tscache
            .lock()
            .record(span, to, h.txn.as_ref().map(|t| t.id));
    }
}

/// Splits `[start, end)` by `range`: the part inside it (if not empty) and the parts before
/// and after it.
fn split_by(range: &Span, start: &[u8], end: Option<&[u8]>) -> (Option<Span>, WireSpans) {
    let mut outside = Vec::new();
    let mut from = start.to_vec();
    if from < range.start {
        let before_end = match end {
            Some(e) if e <= range.start.as_slice() => e.to_vec(),
            _ => range.start.clone(),
        };
        outside.push((from, Some(before_end)));
        from = range.start.clone();
    }
    let (to, clamped) = clamp_end(range, end);
    if clamped {
        if let Some(range_end) = &to {
            let after_start = from.clone().max(range_end.clone());
            outside.push((after_start, end.map(|e| e.to_vec())));
        }
    }
    let empty = match &to {
        Some(t) => *t <= from,
        None => false,
    };
    let inside = (!empty).then_some(Span {
        start: from,
        end: to,
    });
    (inside, outside)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(a: &str, b: Option<&str>) -> Span {
        Span {
            start: a.as_bytes().to_vec(),
            end: b.map(|b| b.as_bytes().to_vec()),
        }
    }

    fn wire(a: &str, b: Option<&str>) -> (Vec<u8>, Option<Vec<u8>>) {
        (a.as_bytes().to_vec(), b.map(|b| b.as_bytes().to_vec()))
    }

    #[test]
    fn a_span_splits_into_the_part_inside_and_the_parts_outside() {
        let r = span("c", Some("f"));
        assert_eq!(
            split_by(&r, b"d", Some(b"e")),
            (Some(span("d", Some("e"))), vec![])
        );
        assert_eq!(
            split_by(&r, b"a", Some(b"z")),
            (
                Some(span("c", Some("f"))),
                vec![wire("a", Some("c")), wire("f", Some("z"))]
            )
        );
        assert_eq!(
            split_by(&r, b"e", None),
            (Some(span("e", Some("f"))), vec![wire("f", None)])
        );
        assert_eq!(
            split_by(&r, b"a", Some(b"b")),
            (None, vec![wire("a", Some("b"))])
        );
        assert_eq!(
            split_by(&r, b"g", Some(b"h")),
            (None, vec![wire("g", Some("h"))])
        );
        let all = span("", None);
        assert_eq!(split_by(&all, b"a", None), (Some(span("a", None)), vec![]));
    }
}
