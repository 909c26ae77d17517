//! Refresh requests at a range: many spans in one request, the parts outside the range
//! handed back for routing, and a write in any span found.

use kv::engine::MemoryEngine;
use kv::mvcc::Mvcc;
use kv::{Clock, Timestamp};
use std::sync::Arc;
use txn::api::{Header, Request};
use txn::range::Router;
use txn::store::{Store, StoreConfig};

fn ts(ms: u64) -> Timestamp {
    Timestamp::from_parts(ms, 0)
}

/// A store split at "m", with "c" and "x" written at 900 and "e" at 950.
fn store() -> Arc<Store> {
    let mvcc = Mvcc::new(Arc::new(MemoryEngine::new()));
    let clock = Arc::new(Clock::manual(1_000, 500));
    let cfg = StoreConfig {
        split_keys: vec![b"m".to_vec()],
        ..StoreConfig::default()
    };
    let store = Store::new(mvcc.clone(), clock, cfg);
    let rows = [
        (b"c".to_vec(), Some(b"1".to_vec())),
        (b"x".to_vec(), Some(b"2".to_vec())),
    ];
    mvcc.write(&rows, ts(900), false).unwrap();
    mvcc.write(&[(b"e".to_vec(), Some(b"3".to_vec()))], ts(950), false)
        .unwrap();
    store
}

fn header(read_ms: u64) -> Header {
    Header {
        txn: None,
        read_ts: ts(read_ms),
        uncertainty_limit: ts(read_ms),
        ignored: Vec::new(),
        observed: Vec::new(),
    }
}

fn span(a: &str, b: &str) -> (Vec<u8>, Option<Vec<u8>>) {
    (a.as_bytes().to_vec(), Some(b.as_bytes().to_vec()))
}

#[test]
fn a_range_checks_its_part_and_hands_back_the_rest() {
    let store = store();
    let left = &store.ranges()[0];
    let req = Request::Refresh {
        spans: vec![
            span("a", "d"),
            span("f", "h"),
            span("k", "p"),
            span("w", "z"),
        ],
        to: ts(1_000),
    };
    let r = left.execute(store.as_ref(), &header(920), &req).unwrap();
    assert_eq!(r.refresh_conflict, None);
    assert_eq!(r.refresh_rest, vec![span("m", "p"), span("w", "z")]);
    // Routed, the rest goes to the right-hand range, which finds nothing either.
    let rest = Request::Refresh {
        spans: r.refresh_rest,
        to: ts(1_000),
    };
    let r = store.route(&header(920), &rest).unwrap();
    assert_eq!((r.refresh_conflict, r.refresh_rest), (None, vec![]));
}

#[test]
fn a_write_in_any_span_fails_the_refresh() {
    let store = store();
    // "e" was written at 950: a read of [d, f) at 920 is no longer valid at 1000.
    let req = Request::Refresh {
        spans: vec![
            span("a", "b"),
            span("c", "d"),
            span("d", "f"),
            span("g", "h"),
        ],
        to: ts(1_000),
    };
    let r = store.route(&header(920), &req).unwrap();
    assert_eq!(r.refresh_conflict, Some(ts(950)));
    // Refreshing only up to 940 is fine.
    let req = Request::Refresh {
        spans: vec![span("a", "b"), span("c", "d"), span("d", "f")],
        to: ts(940),
    };
    assert_eq!(
        store.route(&header(920), &req).unwrap().refresh_conflict,
        None
    );
    // An empty request is refused, not served.
    let empty = Request::Refresh {
        spans: vec![],
        to: ts(940),
    };
    assert!(store.route(&header(920), &empty).is_err());
}
