//! Refreshing a transaction's reads: checking every span it read for writes between its old
//! read timestamp and a new one.
//!
//! Two things keep a refresh's cost down, which matters most when ranges are far away (a
//! multi-row INSERT into a REGIONAL BY ROW table checks every row's key in every other region:
//! hundreds of point reads across regions):
//! - the spans are grouped by range and each range gets *one* Refresh request carrying all of
//!   its spans (the range hands back the parts it does not hold, after a split, to be routed
//!   again), so a refresh costs one request per range, not one per read;
//! - the ranges' requests run in parallel ([`parallel::for_each`]), so a refresh costs
//!   about one round trip to the farthest range.
//!
//! Spans are merged only when they overlap or touch (lossless). Merging nearby spans into one
//! covering span (as an earlier version did, past 32 spans) saved nothing once a request
//! carries many spans, and cost a great deal: TPC-C's New-Order reads ~15 random `stock` rows
//! and ~15 `item` rows, and the merged spans covered most of both tables, so every refresh
//! scanned ~200,000 rows (61% of a 3-node cluster's gateway CPU) and a one-phase commit
//! refreshing at its range latched whole tables against writers.
//!
//! Without refreshes a transaction that took longer than the closed-timestamp target (3 s) to
//! read could never commit: its writes were pushed above the closed timestamp, and the retry
//! was pushed again.

use super::parallel;
use crate::api::{Header, Request, WireSpans};
use crate::range::latch::Span;
use crate::sender::Sender;
use crate::Result;
use kv::Timestamp;

/// Read spans (after [`condense`]) beyond which a one-phase commit does not send its reads
/// for the range to refresh itself (the coordinator refreshes them if needed).
pub const SERVER_REFRESH_SPANS: usize = 256;

/// Sorts `spans` and merges overlapping and touching ones (lossless).
pub fn condense(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by(|a, b| a.start.cmp(&b.start));
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if last.end.as_ref().is_none_or(|end| s.start <= *end) => {
                last.end = match (last.end.take(), s.end) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
            _ => out.push(s),
        }
    }
    out
}

/// Refreshes every span to `to` under header `h`; returns the timestamp of a write found in
/// one of them (the refresh failed), or None. One Refresh request per range, the ranges in
/// parallel.
pub fn refresh_all(
    store: &dyn Sender,
    h: &Header,
    spans: &[Span],
    to: Timestamp,
) -> Result<Option<Timestamp>> {
    let groups = parallel::by_range(
        store,
        spans.iter().map(|s| (s.start.clone(), s.end.clone())),
        |s| &s.0,
    );
    let mut found = None;
    let mut failed = None;
    for r in parallel::for_each(groups, |g| refresh_group(store, h, g, to)) {
        match r {
            Ok(conflict) => found = found.max(conflict),
            Err(e) => failed = Some(e),
        }
    }
    match failed {
        Some(e) if found.is_none() => Err(e),
        _ => Ok(found),
    }
}

/// Refreshes one range's spans, routing again the parts the range handed back.
fn refresh_group(
    store: &dyn Sender,
    h: &Header,
    spans: WireSpans,
    to: Timestamp,
) -> Result<Option<Timestamp>> {
    let mut groups = vec![spans];
    while let Some(spans) = groups.pop() {
        if spans.is_empty() {
            continue;
        }
        let r = store.route(h, &Request::Refresh { spans, to })?;
        if r.refresh_conflict.is_some() {
            return Ok(r.refresh_conflict);
        }
        groups.extend(parallel::by_range(store, r.refresh_rest, |s| &s.0));
    }
    Ok(None)
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

    fn show(spans: &[Span]) -> Vec<(String, Option<String>)> {
        spans
            .iter()
            .map(|s| {
                (
                    String::from_utf8_lossy(&s.start).into_owned(),
                    s.end
                        .as_ref()
                        .map(|e| String::from_utf8_lossy(e).into_owned()),
                )
            })
            .collect()
    }

    #[test]
    fn overlapping_and_touching_spans_merge_losslessly() {
        let spans = vec![
            span("m", Some("p")),
            span("a", Some("c")),
            span("b", Some("d")),
            span("d", Some("e")),
            span("x", None),
            span("y", Some("z")),
            span("f", Some("g")),
        ];
        let got = condense(spans);
        assert_eq!(
            show(&got),
            vec![
                ("a".into(), Some("e".into())),
                ("f".into(), Some("g".into())),
                ("m".into(), Some("p".into())),
                ("x".into(), None),
            ]
        );
    }

    #[test]
    fn many_point_spans_stay_apart() {
        let keys: Vec<String> = (0..80).map(|i| format!("a{i:02}")).collect();
        let spans: Vec<Span> = keys.iter().rev().map(|k| Span::key(k.as_bytes())).collect();
        let got = condense(spans);
        assert_eq!(got.len(), 80);
        assert_eq!(got[0].start, b"a00".to_vec());
    }
}
