//! Regression test: a range object refuses requests whose key lies outside its span.
//!
//! In a cluster, a node checks a request's key against its replica's descriptor and then
//! fetches the leaseholder's range object. A split applying in between hands the request to
//! the new left-hand object, whose span no longer holds the key. A scan evaluated there used to
//! read nothing and answer "resume at my end", a key *before* the scan's start, so the caller
//! went on scanning from the split point: the rows of the neighbouring table and its index
//! entries came back for a point lookup (seen as `malformed row value: unknown format`, an
//! index entry decoded as a row), and a put evaluated there was replicated to the wrong
//! range. The object must answer RangeKeyMismatch, which sends the request back to routing.

use kv::engine::MemoryEngine;
use kv::mvcc::{Mvcc, TxnId, TxnMeta};
use kv::{Clock, Timestamp};
use std::sync::Arc;
use txn::api::{Header, Request};
use txn::range::Router;
use txn::store::{Store, StoreConfig};

fn store() -> (Arc<Store>, Mvcc) {
    let mvcc = Mvcc::new(Arc::new(MemoryEngine::new()));
    let clock = Arc::new(Clock::manual(1_000, 500));
    let cfg = StoreConfig {
        split_keys: vec![b"m".to_vec()],
        ..StoreConfig::default()
    };
    let store = Store::new(mvcc.clone(), clock, cfg);
    let at = Timestamp::from_parts(900, 0);
    let rows = [
        (b"c".to_vec(), Some(b"left".to_vec())),
        (b"x".to_vec(), Some(b"right".to_vec())),
    ];
    mvcc.write(&rows, at, false).unwrap();
    (store, mvcc)
}

fn header(store: &Store) -> Header {
    let now = store.clock().now();
    Header {
        txn: None,
        read_ts: now,
        uncertainty_limit: now,
        ignored: Vec::new(),
        observed: Vec::new(),
    }
}

fn mismatch(r: &txn::Result<txn::api::Response>) -> bool {
    matches!(r, Err(txn::Error::RangeKeyMismatch(_)))
}

#[test]
fn a_range_refuses_reads_outside_its_span() {
    let (store, _) = store();
    let h = header(&store);
    let (left, right) = (&store.ranges()[0], &store.ranges()[1]);
    let scan = Request::Scan {
        start: b"x".to_vec(),
        end: Some(b"y".to_vec()),
        limit: 10,
        lock: None,
    };
    // The left range [, m) must not answer a scan of [x, y): before the fix it returned no row
    // and the resume key "m", before the scan's start.
    let r = left.execute(store.as_ref(), &h, &scan);
    assert!(mismatch(&r), "{r:?}");
    let get = Request::Get {
        key: b"x".to_vec(),
        lock: None,
    };
    assert!(mismatch(&left.execute(store.as_ref(), &h, &get)));
    // A request on the range that holds the key, or routed, is served.
    let ok = right.execute(store.as_ref(), &h, &scan).unwrap();
    assert_eq!(ok.rows, vec![(b"x".to_vec(), b"right".to_vec())]);
    assert_eq!(ok.resume, None);
    let routed = store.route(&h, &scan).unwrap();
    assert_eq!(routed.rows, ok.rows);
    // The span's end is outside it; its start inside.
    let at_end = Request::Scan {
        start: b"m".to_vec(),
        end: None,
        limit: 10,
        lock: None,
    };
    assert!(mismatch(&left.execute(store.as_ref(), &h, &at_end)));
    assert!(right.execute(store.as_ref(), &h, &at_end).is_ok());
}

#[test]
fn a_range_refuses_writes_outside_its_span() {
    let (store, mvcc) = store();
    let now = store.clock().now();
    let meta = TxnMeta {
        id: TxnId(7),
        anchor: b"x".to_vec(),
        write_ts: now,
        min_ts: now,
        priority: 1,
    };
    let h = Header {
        txn: Some(meta),
        ..header(&store)
    };
    let put = Request::Put {
        writes: vec![(b"x".to_vec(), vec![(1, Some(b"new".to_vec()))])],
    };
    // In a cluster the left range's writer would replicate this intent to the left range's
    // replicas only: the right range would never see the write.
    assert!(mismatch(&store.ranges()[0].execute(
        store.as_ref(),
        &h,
        &put
    )));
    assert!(mvcc.intent(b"x").unwrap().is_none());
    store.ranges()[1].execute(store.as_ref(), &h, &put).unwrap();
    assert!(mvcc.intent(b"x").unwrap().is_some());
}
