//! Refreshing a transaction's reads: checking every span it read for writes between its old
//! read timestamp and a new one.
//!
//! Two things keep a refresh's cost independent of how many reads the transaction made, which
//! matters most when ranges are far away (a multi-row INSERT into a REGIONAL BY ROW table
//! checks every row's key in every other region: hundreds of point reads across regions):
//! - the spans are *condensed* first: overlapping and touching spans are merged (lossless),
//!   and past [`CONDENSE_ABOVE`] spans, consecutive spans that start in the same *far* range
//!   become one span covering them. That is conservative: a write between two read keys now
//!   fails the refresh, a false conflict (a retry), never a missed one;
//! - the spans are refreshed in parallel, at most [`PARALLEL`] at a time, so a refresh costs
//!   about one round trip to the farthest range rather than one per span.
//!
//! Without this a transaction that took longer than the closed-timestamp target (3 s) to read
//! could never commit: its writes were pushed above the closed timestamp, the refresh took as
//! long as the reads again, and the next attempt was pushed again.
//!
//! Merging is only worth it where a round trip is expensive. A range is *near* when one of the
//! transaction's reads from it came back within [`NEAR_RTT`] (a far range, in another region,
//! never answers that fast; a near one almost always does at least once, however loaded the
//! machine); spans in near ranges are never merged. Merging there cost far more than it saved:
//! TPC-C's New-Order reads ~15 random `stock` rows and ~15 `item` rows (over 32 spans), and the
//! merged spans covered most of both tables, so every refresh scanned ~200,000 rows (61% of the
//! gateway's CPU on a 3-node cluster) and a one-phase commit refreshing at its range latched
//! whole tables against writers.

use crate::api::{Header, Request};
use crate::range::latch::Span;
use crate::sender::Sender;
use crate::Result;
use kv::Timestamp;

/// Span count above which spans in one range are merged.
pub const CONDENSE_ABOVE: usize = 32;
/// Refresh requests in flight at once.
pub const PARALLEL: usize = 8;
/// A read answered within this marks its range as near (see the module docs).
pub const NEAR_RTT: std::time::Duration = std::time::Duration::from_millis(4);

/// Sorts `spans` and merges overlapping and touching ones; above [`CONDENSE_ABOVE`] spans,
/// also merges consecutive spans whose starts lie in the same range (by `range_of`) when
/// `far(range)` says that range is expensive to reach.
pub fn condense(
    mut spans: Vec<Span>,
    range_of: impl Fn(&[u8]) -> u64,
    far: impl Fn(u64) -> bool,
) -> Vec<Span> {
    spans.sort_by(|a, b| a.start.cmp(&b.start));
    let merged = merge_while(spans, |last, next| match &last.end {
        None => true,
        Some(end) => next.start <= *end,
    });
    if merged.len() <= CONDENSE_ABOVE {
        return merged;
    }
    merge_while(merged, |last, next| {
        let range = range_of(&last.start);
        range == range_of(&next.start) && far(range)
    })
}

/// Folds each span into the previous one while `join(previous, span)` holds.
fn merge_while(spans: Vec<Span>, join: impl Fn(&Span, &Span) -> bool) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if join(last, &s) => {
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
/// one of them (the refresh failed), or None.
pub fn refresh_all(
    store: &dyn Sender,
    h: &Header,
    spans: &[Span],
    to: Timestamp,
) -> Result<Option<Timestamp>> {
    if spans.len() <= 1 {
        return refresh_group(store, h, spans.iter(), to);
    }
    let workers = spans.len().min(PARALLEL);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let group = spans.iter().skip(w).step_by(workers);
                scope.spawn(move || refresh_group(store, h, group, to))
            })
            .collect();
        let mut found = None;
        let mut failed = None;
        for handle in handles {
            match handle.join() {
                Ok(Ok(conflict)) => found = found.max(conflict),
                Ok(Err(e)) => failed = Some(e),
                Err(_) => failed = Some(crate::Error::Internal("a refresh worker panicked".into())),
            }
        }
        match failed {
            Some(e) if found.is_none() => Err(e),
            _ => Ok(found),
        }
    })
}

/// Refreshes `spans` one after another (each possibly over several ranges).
fn refresh_group<'a>(
    store: &dyn Sender,
    h: &Header,
    spans: impl Iterator<Item = &'a Span>,
    to: Timestamp,
) -> Result<Option<Timestamp>> {
    for span in spans {
        let mut start = span.start.clone();
        loop {
            let r = store.route(
                h,
                &Request::Refresh {
                    start: start.clone(),
                    end: span.end.clone(),
                    to,
                },
            )?;
            if r.refresh_conflict.is_some() {
                return Ok(r.refresh_conflict);
            }
            match r.resume {
                Some(next) => start = next,
                None => break,
            }
        }
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
        let got = condense(spans, |_| 0, |_| true);
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
    fn many_spans_merge_per_range() {
        // 40 point spans, in two ranges split at "k".
        let keys: Vec<String> = (0..20)
            .map(|i| format!("a{i:02}"))
            .chain((0..20).map(|i| format!("m{i:02}")))
            .collect();
        let spans: Vec<Span> = keys.iter().map(|k| Span::key(k.as_bytes())).collect();
        let got = condense(spans, |k| u64::from(k >= b"k".as_slice()), |_| true);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].start, b"a00".to_vec());
        assert_eq!(got[0].end, Some(b"a19\0".to_vec()));
        assert_eq!(got[1].start, b"m00".to_vec());
        assert_eq!(got[1].end, Some(b"m19\0".to_vec()));
        // Every original key is still covered.
        for k in &keys {
            assert!(got.iter().any(|s| s.contains(k.as_bytes())), "{k}");
        }
    }

    #[test]
    fn many_spans_in_a_near_range_stay_apart() {
        // 40 point spans in range 0 (near) and 40 in range 1 (far), split at "k".
        let keys: Vec<String> = (0..40)
            .map(|i| format!("a{i:02}"))
            .chain((0..40).map(|i| format!("m{i:02}")))
            .collect();
        let spans: Vec<Span> = keys.iter().map(|k| Span::key(k.as_bytes())).collect();
        let range_of = |k: &[u8]| u64::from(k >= b"k".as_slice());
        let got = condense(spans, range_of, |r| r == 1);
        assert_eq!(got.len(), 41);
        assert!(got[..40].iter().all(|s| range_of(&s.start) == 0));
        assert_eq!(got[40].start, b"m00".to_vec());
        assert_eq!(got[40].end, Some(b"m39\0".to_vec()));
    }

    #[test]
    fn few_spans_in_one_range_stay_apart() {
        let spans = vec![Span::key(b"a"), Span::key(b"c")];
        assert_eq!(condense(spans, |_| 7, |_| true).len(), 2);
    }
}
