//! Put and Resolve requests at a range: many keys' intents written (or resolved) as one batch,
//! keys outside the range handed back.

use kv::engine::MemoryEngine;
use kv::mvcc::{Mvcc, TxnId, TxnMeta};
use kv::{Clock, Timestamp};
use std::sync::Arc;
use txn::api::{Header, Request};
use txn::range::Router;
use txn::store::{Store, StoreConfig};

/// A store split at "m".
fn store() -> (Arc<Store>, Mvcc) {
    let mvcc = Mvcc::new(Arc::new(MemoryEngine::new()));
    let clock = Arc::new(Clock::manual(1_000, 500));
    let cfg = StoreConfig {
        split_keys: vec![b"m".to_vec()],
        ..StoreConfig::default()
    };
    (Store::new(mvcc.clone(), clock, cfg), mvcc)
}

fn header(id: u128, anchor: &str) -> Header {
    let ts = Timestamp::from_parts(1_000, 0);
    Header {
        txn: Some(TxnMeta {
            id: TxnId(id),
            anchor: anchor.as_bytes().to_vec(),
            write_ts: ts,
            min_ts: ts,
            priority: 1,
        }),
        read_ts: ts,
        uncertainty_limit: ts,
        ignored: Vec::new(),
        observed: Vec::new(),
    }
}

fn put(keys: &[&str]) -> Request {
    Request::Put {
        writes: keys
            .iter()
            .map(|k| (k.as_bytes().to_vec(), vec![(1, Some(b"v".to_vec()))]))
            .collect(),
    }
}

#[test]
fn a_range_writes_its_keys_and_hands_back_the_others() {
    let (store, mvcc) = store();
    let left = &store.ranges()[0];
    let r = left
        .execute(store.as_ref(), &header(1, "a"), &put(&["a", "b", "x", "y"]))
        .unwrap();
    assert_eq!(r.rest_keys, vec![b"x".to_vec(), b"y".to_vec()]);
    assert!(mvcc.intent(b"a").unwrap().is_some());
    assert!(mvcc.intent(b"b").unwrap().is_some());
    assert!(mvcc.intent(b"x").unwrap().is_none());
    // Routed, the rest lands on the right-hand range.
    let r = store.route(&header(1, "a"), &put(&["x", "y"])).unwrap();
    assert!(r.rest_keys.is_empty());
    assert!(mvcc.intent(b"y").unwrap().is_some());
    // An empty request is refused.
    assert!(store.route(&header(1, "a"), &put(&[])).is_err());
}

/// A value written ahead of the node's clock raises the floor of observed timestamps to it:
/// a reader whose observed timestamp is below it must still find it uncertain.
#[test]
fn a_future_write_raises_the_observed_limit() {
    let (store, _) = store();
    let range = store.ranges()[0].clone();
    let reader = Header {
        uncertainty_limit: Timestamp::from_parts(1_500, 0),
        ..header(9, "a")
    };
    let observed = Timestamp::from_parts(1_000, 0);
    let floor = range.observed_limit(&reader, observed);
    assert!(floor < Timestamp::from_parts(1_100, 0), "{floor:?}");
    // At the clock's reading (1000): no change.
    store.route(&header(1, "a"), &put(&["a"])).unwrap();
    assert_eq!(range.observed_limit(&reader, observed), floor);
    // Ahead of it (1200): the floor moves up to it.
    let mut ahead = header(2, "b");
    if let Some(t) = ahead.txn.as_mut() {
        t.write_ts = Timestamp::from_parts(1_200, 0);
    }
    store.route(&ahead, &put(&["b"])).unwrap();
    assert_eq!(
        range.observed_limit(&reader, observed),
        Timestamp::from_parts(1_200, 0)
    );
}

/// One Resolve request per range resolves every intent of the transaction there, hands back
/// the keys of other ranges, and `resolve_everywhere` follows them to the next range.
#[test]
fn a_range_resolves_its_keys_and_hands_back_the_others() {
    let (store, mvcc) = store();
    let keys = ["a", "b", "x", "y"];
    store.route(&header(1, "a"), &put(&keys[..2])).unwrap();
    store.route(&header(1, "a"), &put(&keys[2..])).unwrap();
    let commit = Timestamp::from_parts(1_000, 5);
    let resolve = |keys: &[&str]| Request::Resolve {
        keys: keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
        txn: TxnId(1),
        commit_ts: Some(commit),
        ignored: Vec::new(),
    };
    let left = &store.ranges()[0];
    let r = left
        .execute(store.as_ref(), &header(1, "a"), &resolve(&keys))
        .unwrap();
    assert_eq!(r.rest_keys, vec![b"x".to_vec(), b"y".to_vec()]);
    assert!(mvcc.intent(b"a").unwrap().is_none());
    assert!(mvcc.intent(b"b").unwrap().is_none());
    assert!(mvcc.intent(b"x").unwrap().is_some());
    // Following the rest resolves the right-hand range's keys too.
    txn::range::resolve_everywhere(store.as_ref(), &header(1, "a"), resolve(&["x", "y"])).unwrap();
    for k in keys {
        assert!(mvcc.intent(k.as_bytes()).unwrap().is_none(), "{k}");
        let v = mvcc
            .get(k.as_bytes(), Timestamp::from_parts(2_000, 0))
            .unwrap();
        assert_eq!(v, Some(b"v".to_vec()), "{k}");
    }
}
