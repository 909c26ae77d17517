//! The engine contract (kv/src/engine/mod.rs), checked against every implementation by one
//! suite: each test is a generic function, instantiated per engine by `engine_suite!`.
//! RocksDB additionally gets durability tests (sync, drop, reopen).

use kv::engine::{Engine, MemoryEngine, RocksEngine, Visit, WriteBatch};
use std::path::Path;

/// Collects `[start, end)` as (key, value) pairs.
fn collect(e: &dyn Engine, start: &[u8], end: Option<&[u8]>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    e.scan(start, end, &mut |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        Visit::Continue
    })
    .unwrap();
    out
}

fn keys_of(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<Vec<u8>> {
    entries.iter().map(|(k, _)| k.clone()).collect()
}

fn put(e: &dyn Engine, k: &[u8], v: &[u8]) {
    let mut b = WriteBatch::new();
    b.put(k.to_vec(), v.to_vec());
    e.write(b, false).unwrap();
}

fn get_put_delete(e: &dyn Engine) {
    assert_eq!(e.get(b"a").unwrap(), None);
    put(e, b"a", b"1");
    assert_eq!(e.get(b"a").unwrap(), Some(b"1".to_vec()));
    put(e, b"a", b"2");
    assert_eq!(e.get(b"a").unwrap(), Some(b"2".to_vec()));
    put(e, b"empty", b"");
    assert_eq!(e.get(b"empty").unwrap(), Some(Vec::new()));
    let mut b = WriteBatch::new();
    b.delete(b"a".to_vec());
    b.delete(b"never-written".to_vec());
    e.write(b, false).unwrap();
    assert_eq!(e.get(b"a").unwrap(), None);
    assert_eq!(e.get(b"empty").unwrap(), Some(Vec::new()));
    // The empty key is a key like any other.
    put(e, b"", b"root");
    assert_eq!(e.get(b"").unwrap(), Some(b"root".to_vec()));
}

fn scan_order_and_bounds(e: &dyn Engine) {
    let keys: [&[u8]; 8] = [b"b", b"a\x00", b"a", b"\xff\xff", b"", b"ab", b"\x00", b"c"];
    for k in keys {
        put(e, k, k);
    }
    let all = keys_of(&collect(e, b"", None));
    let mut sorted: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
    sorted.sort();
    assert_eq!(all, sorted, "bytewise ascending order");
    // start is inclusive, end exclusive.
    assert_eq!(
        keys_of(&collect(e, b"a", Some(b"b"))),
        vec![b"a".to_vec(), b"a\x00".to_vec(), b"ab".to_vec()]
    );
    assert_eq!(
        keys_of(&collect(e, b"a\x00", Some(b"ab"))),
        vec![b"a\x00".to_vec()]
    );
    assert_eq!(
        keys_of(&collect(e, b"c", None)),
        vec![b"c".to_vec(), b"\xff\xff".to_vec()]
    );
    // Empty and inverted ranges yield nothing.
    assert!(collect(e, b"b", Some(b"b")).is_empty());
    assert!(collect(e, b"c", Some(b"a")).is_empty());
    assert!(collect(e, b"bb", Some(b"bc")).is_empty());
    // Values come with their keys.
    assert!(collect(e, b"", None).iter().all(|(k, v)| k == v));
}

fn scan_stops_early(e: &dyn Engine) {
    for i in 0u8..100 {
        put(e, &[i], &[i]);
    }
    let mut seen = Vec::new();
    e.scan(&[10], None, &mut |k, _| {
        seen.push(k[0]);
        if seen.len() == 3 {
            Visit::Stop
        } else {
            Visit::Continue
        }
    })
    .unwrap();
    assert_eq!(seen, vec![10, 11, 12]);
}

fn batch_applies_in_order_and_atomically(e: &dyn Engine) {
    put(e, b"x", b"old");
    let mut b = WriteBatch::new();
    b.put(b"k1".to_vec(), b"1".to_vec());
    b.put(b"k2".to_vec(), b"2".to_vec());
    b.delete(b"x".to_vec());
    b.put(b"k1".to_vec(), b"1-again".to_vec()); // later op wins
    b.put(b"gone".to_vec(), b"g".to_vec());
    b.delete(b"gone".to_vec());
    assert!(!b.is_empty());
    e.write(b, true).unwrap();
    assert_eq!(
        collect(e, b"", None),
        vec![
            (b"k1".to_vec(), b"1-again".to_vec()),
            (b"k2".to_vec(), b"2".to_vec())
        ]
    );
    e.write(WriteBatch::new(), true).unwrap();
    e.sync().unwrap();
}

fn concurrent_batches_are_all_or_nothing(e: &'static dyn Engine) {
    // Writers replace a group of 10 keys with one generation number per batch; a reader's
    // snapshot scan must always see one generation across the group.
    let writer = std::thread::spawn(move || {
        for generation in 0u32..200 {
            let mut b = WriteBatch::new();
            for i in 0u8..10 {
                b.put(vec![b'g', i], generation.to_be_bytes().to_vec());
            }
            e.write(b, false).unwrap();
        }
    });
    for _ in 0..200 {
        let group = collect(e, b"g", Some(b"h"));
        if let Some((_, first)) = group.first() {
            assert_eq!(group.len(), 10, "partial batch visible");
            assert!(
                group.iter().all(|(_, v)| v == first),
                "mixed generations visible"
            );
        }
    }
    writer.join().unwrap();
}

macro_rules! engine_suite {
    ($module:ident, $make:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn get_put_delete() {
                let (e, _guard) = $make;
                super::get_put_delete(&e);
            }

            #[test]
            fn scan_order_and_bounds() {
                let (e, _guard) = $make;
                super::scan_order_and_bounds(&e);
            }

            #[test]
            fn scan_stops_early() {
                let (e, _guard) = $make;
                super::scan_stops_early(&e);
            }

            #[test]
            fn batch_applies_in_order_and_atomically() {
                let (e, _guard) = $make;
                super::batch_applies_in_order_and_atomically(&e);
            }

            #[test]
            fn concurrent_batches_are_all_or_nothing() {
                #[allow(clippy::let_unit_value)]
                let (e, guard) = $make;
                let e: &'static dyn Engine = Box::leak(Box::new(e));
                super::concurrent_batches_are_all_or_nothing(e);
                let _ = &guard;
            }
        }
    };
}

engine_suite!(memory, (MemoryEngine::new(), ()));
engine_suite!(rocks, {
    let dir = tempfile::tempdir().unwrap();
    (RocksEngine::open(dir.path()).unwrap(), dir)
});

fn open(path: &Path) -> RocksEngine {
    RocksEngine::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

#[test]
fn rocks_data_survives_drop_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = open(dir.path());
        let mut b = WriteBatch::new();
        b.put(b"synced".to_vec(), b"1".to_vec());
        b.put(b"deleted".to_vec(), b"x".to_vec());
        e.write(b, true).unwrap();
        let mut b = WriteBatch::new();
        b.delete(b"deleted".to_vec());
        b.put(b"unsynced-then-synced".to_vec(), b"2".to_vec());
        e.write(b, false).unwrap();
        e.sync().unwrap();
        assert_eq!(e.path(), dir.path());
    }
    let e = open(dir.path());
    assert_eq!(e.get(b"synced").unwrap(), Some(b"1".to_vec()));
    assert_eq!(e.get(b"deleted").unwrap(), None);
    assert_eq!(e.get(b"unsynced-then-synced").unwrap(), Some(b"2".to_vec()));
    assert_eq!(collect(&e, b"", None).len(), 2);
}

#[test]
fn rocks_open_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the store directory should be.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = RocksEngine::open(&file)
        .err()
        .expect("opening a file as a store must fail");
    let msg = err.to_string();
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    assert!(matches!(err, kv::Error::Engine(_)));

    // A store open twice: the second open fails on RocksDB's lock.
    let store = dir.path().join("store");
    let _first = open(&store);
    let msg = RocksEngine::open(&store)
        .err()
        .expect("second open must fail")
        .to_string();
    assert!(msg.contains(&store.display().to_string()), "{msg}");
    assert!(msg.contains("another process"), "{msg}");
}
