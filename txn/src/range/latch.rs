//! Span latches: short-lived mutual exclusion between requests that touch overlapping keys of
//! one range while they evaluate, so that evaluation plus its timestamp-cache update and write
//! is atomic with respect to conflicting requests. Readers share; a writer excludes everyone on
//! its spans. Latches are held only while a request evaluates, never while it waits for a
//! transaction (that wait happens in the push queue with latches released).
//!
//! IMPLEMENTATION CAVEATS
//! - One list of held latches per range, scanned linearly: fine for the few requests that run
//!   concurrently on a range, not for thousands.

use parking_lot::{Condvar, Mutex};

/// A key span `[start, end)`; `end = None` means unbounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// First key.
    pub start: Vec<u8>,
    /// End (exclusive).
    pub end: Option<Vec<u8>>,
}

impl Span {
    /// The span of one key.
    pub fn key(key: &[u8]) -> Span {
        let mut end = key.to_vec();
        end.push(0);
        Span {
            start: key.to_vec(),
            end: Some(end),
        }
    }

    /// Whether two spans share a key.
    pub fn overlaps(&self, other: &Span) -> bool {
        let a_before_b_end = other
            .end
            .as_deref()
            .is_none_or(|e| self.start.as_slice() < e);
        let b_before_a_end = self
            .end
            .as_deref()
            .is_none_or(|e| other.start.as_slice() < e);
        a_before_b_end && b_before_a_end
    }

    /// Whether every key of `other` is in this span.
    pub fn covers(&self, other: &Span) -> bool {
        other.start >= self.start
            && match (&self.end, &other.end) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(e), Some(o)) => o <= e,
            }
    }

    /// Whether the span contains `key`.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.end.as_deref().is_none_or(|e| key < e)
    }
}

/// A span and whether it is written.
#[derive(Debug, Clone)]
pub struct LatchSpan {
    /// The span.
    pub span: Span,
    /// Write (exclusive) or read (shared).
    pub write: bool,
}

struct Held {
    id: u64,
    spans: Vec<LatchSpan>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    held: Vec<Held>,
}

/// The latch manager of one range.
#[derive(Default)]
pub struct Latches {
    state: Mutex<State>,
    released: Condvar,
}

/// Held latches; released on drop.
pub struct LatchGuard<'a> {
    latches: &'a Latches,
    id: u64,
}

impl Drop for LatchGuard<'_> {
    fn drop(&mut self) {
        let mut s = self.latches.state.lock();
        s.held.retain(|h| h.id != self.id);
        drop(s);
        self.latches.released.notify_all();
    }
}

fn conflicts(a: &[LatchSpan], b: &[LatchSpan]) -> bool {
    a.iter().any(|x| {
        b.iter()
            .any(|y| (x.write || y.write) && x.span.overlaps(&y.span))
    })
}

impl Latches {
    /// Waits until no held latch conflicts with `spans`, then holds them.
    pub fn acquire(&self, spans: Vec<LatchSpan>) -> LatchGuard<'_> {
        let mut s = self.state.lock();
        while s.held.iter().any(|h| conflicts(&h.spans, &spans)) {
            self.released.wait(&mut s);
        }
        s.next_id += 1;
        let id = s.next_id;
        s.held.push(Held { id, spans });
        LatchGuard { latches: self, id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_overlap_like_half_open_intervals() {
        let s = |a: &[u8], b: Option<&[u8]>| Span {
            start: a.to_vec(),
            end: b.map(|b| b.to_vec()),
        };
        assert!(s(b"a", Some(b"c")).overlaps(&s(b"b", None)));
        assert!(!s(b"a", Some(b"b")).overlaps(&s(b"b", Some(b"c"))));
        assert!(Span::key(b"a").overlaps(&s(b"a", Some(b"a\0"))));
        assert!(!Span::key(b"a").overlaps(&Span::key(b"a\0")));
        assert!(s(b"", None).contains(b"zz"));
        assert!(s(b"a", Some(b"m")).covers(&s(b"b", Some(b"m"))));
        assert!(!s(b"a", Some(b"m")).covers(&s(b"b", Some(b"n"))));
        assert!(!s(b"a", Some(b"m")).covers(&s(b"b", None)));
        assert!(s(b"a", None).covers(&s(b"b", None)));
    }
}
