//! Range deletions, checked against both engines by the same functions: span bounds, ordering
//! with the point writes of the same batch, empty and unbounded spans, snapshots, durability.

use super::{BatchStep, Engine, MemoryEngine, RocksEngine, Visit, WriteBatch};

fn keys(e: &dyn Engine, start: &[u8], end: Option<&[u8]>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    e.scan(start, end, &mut |k, _| {
        out.push(k.to_vec());
        Visit::Continue
    })
    .unwrap();
    out
}

fn fill(e: &dyn Engine, ks: &[&[u8]]) {
    let mut b = WriteBatch::new();
    for k in ks {
        b.put(k.to_vec(), k.to_vec());
    }
    e.write(b, false).unwrap();
}

fn v(ks: &[&[u8]]) -> Vec<Vec<u8>> {
    ks.iter().map(|k| k.to_vec()).collect()
}

fn deletes_exactly_the_span(e: &dyn Engine) {
    fill(e, &[b"a", b"b", b"b\x00", b"bz", b"c", b"d"]);
    let mut b = WriteBatch::new();
    b.delete_range(b"b".to_vec(), Some(b"c".to_vec()));
    e.write(b, false).unwrap();
    assert_eq!(keys(e, b"", None), v(&[b"a", b"c", b"d"]));
    assert_eq!(e.get(b"b").unwrap(), None);
    assert_eq!(e.get(b"bz").unwrap(), None);
    assert_eq!(e.get(b"c").unwrap(), Some(b"c".to_vec()));
    // Keys written again after the deletion are visible.
    fill(e, &[b"b"]);
    assert_eq!(keys(e, b"", None), v(&[b"a", b"b", b"c", b"d"]));
}

fn orders_with_point_writes(e: &dyn Engine) {
    fill(e, &[b"k1", b"k2", b"k3"]);
    let mut b = WriteBatch::new();
    b.put(b"k4".to_vec(), b"before".to_vec());
    b.delete_range(b"k".to_vec(), Some(b"l".to_vec()));
    b.put(b"k2".to_vec(), b"after".to_vec());
    b.put(b"k5".to_vec(), b"after".to_vec());
    b.delete(b"k5".to_vec());
    b.put(b"k6".to_vec(), b"x".to_vec());
    b.delete_range(b"k6".to_vec(), Some(b"k7".to_vec()));
    b.put(b"k6".to_vec(), b"last".to_vec());
    e.write(b, false).unwrap();
    assert_eq!(keys(e, b"", None), v(&[b"k2", b"k6"]));
    assert_eq!(e.get(b"k2").unwrap(), Some(b"after".to_vec()));
    assert_eq!(e.get(b"k4").unwrap(), None, "put before the range deletion");
    assert_eq!(e.get(b"k6").unwrap(), Some(b"last".to_vec()));
}

fn empty_and_inverted_spans_delete_nothing(e: &dyn Engine) {
    fill(e, &[b"a", b"b", b"c"]);
    let mut b = WriteBatch::new();
    b.delete_range(b"b".to_vec(), Some(b"b".to_vec()));
    b.delete_range(b"c".to_vec(), Some(b"a".to_vec()));
    assert!(b.is_empty());
    e.write(b, false).unwrap();
    // A span with no keys in it.
    let mut b = WriteBatch::new();
    b.delete_range(b"x".to_vec(), Some(b"y".to_vec()));
    assert!(!b.is_empty());
    e.write(b, false).unwrap();
    assert_eq!(keys(e, b"", None), v(&[b"a", b"b", b"c"]));
}

fn unbounded_span(e: &dyn Engine) {
    // Unbounded on an empty store is fine.
    let mut b = WriteBatch::new();
    b.delete_range(b"m".to_vec(), None);
    e.write(b, false).unwrap();
    fill(e, &[b"a", b"m", b"z", b"\xff\xff\xff"]);
    let mut b = WriteBatch::new();
    b.delete_range(b"m".to_vec(), None);
    b.put(b"zz".to_vec(), b"after".to_vec());
    e.write(b, false).unwrap();
    assert_eq!(keys(e, b"", None), v(&[b"a", b"zz"]));
    // Everything, including the empty key.
    fill(e, &[b""]);
    let mut b = WriteBatch::new();
    b.delete_range(Vec::new(), None);
    e.write(b, false).unwrap();
    assert!(keys(e, b"", None).is_empty());
    // An unbounded span starting past the last key deletes nothing.
    fill(e, &[b"a"]);
    let mut b = WriteBatch::new();
    b.delete_range(b"b".to_vec(), None);
    e.write(b, false).unwrap();
    assert_eq!(keys(e, b"", None), v(&[b"a"]));
}

fn many_keys(e: &dyn Engine) {
    let mut b = WriteBatch::new();
    for i in 0u32..5_000 {
        b.put([b"r".as_slice(), &i.to_be_bytes()].concat(), vec![7; 100]);
    }
    b.put(b"s".to_vec(), b"outside".to_vec());
    e.write(b, false).unwrap();
    let mut b = WriteBatch::new();
    b.delete_range(b"r".to_vec(), Some(b"s".to_vec()));
    e.write(b, false).unwrap();
    assert_eq!(keys(e, b"", None), v(&[b"s"]));
    assert_eq!(
        e.get(&[b"r".as_slice(), &42u32.to_be_bytes()].concat())
            .unwrap(),
        None
    );
}

macro_rules! both_engines {
    ($($name:ident),*) => {
        mod memory {
            $(#[test]
            fn $name() {
                super::$name(&super::MemoryEngine::new());
            })*
        }
        mod rocks {
            $(#[test]
            fn $name() {
                let dir = tempfile::tempdir().unwrap();
                let e = super::RocksEngine::open(dir.path()).unwrap();
                super::$name(&e);
            })*
        }
    };
}

both_engines!(
    deletes_exactly_the_span,
    orders_with_point_writes,
    empty_and_inverted_spans_delete_nothing,
    unbounded_span,
    many_keys
);

#[test]
fn steps_keep_the_order_of_addition() {
    let mut b = WriteBatch::new();
    b.delete_range(b"a".to_vec(), None);
    b.put(b"p".to_vec(), b"1".to_vec());
    b.delete_range(b"b".to_vec(), Some(b"c".to_vec()));
    b.delete_range(b"d".to_vec(), Some(b"e".to_vec()));
    b.delete(b"q".to_vec());
    b.delete_range(b"f".to_vec(), Some(b"g".to_vec()));
    assert!(b.has_range_deletions());
    assert_eq!(b.range_deletions()[1].at, 1);
    let steps: Vec<BatchStep> = b.into_steps().collect();
    assert_eq!(
        steps,
        vec![
            BatchStep::DeleteRange(b"a".to_vec(), None),
            BatchStep::Put(b"p".to_vec(), b"1".to_vec()),
            BatchStep::DeleteRange(b"b".to_vec(), Some(b"c".to_vec())),
            BatchStep::DeleteRange(b"d".to_vec(), Some(b"e".to_vec())),
            BatchStep::Delete(b"q".to_vec()),
            BatchStep::DeleteRange(b"f".to_vec(), Some(b"g".to_vec())),
        ]
    );
}

#[test]
fn rocks_range_deletion_survives_reopen_and_spares_open_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = RocksEngine::open(dir.path()).unwrap();
        fill(&e, &[b"a", b"b", b"c"]);
        // A scan in progress keeps its snapshot: it sees the keys deleted under it.
        let mut seen = Vec::new();
        e.scan(b"", None, &mut |k, _| {
            if seen.is_empty() {
                let mut b = WriteBatch::new();
                b.delete_range(b"a".to_vec(), Some(b"c".to_vec()));
                // The visitor must not write through the engine; write on another thread.
                std::thread::scope(|s| {
                    s.spawn(|| e.write(b, true).unwrap());
                });
            }
            seen.push(k.to_vec());
            Visit::Continue
        })
        .unwrap();
        assert_eq!(seen, v(&[b"a", b"b", b"c"]));
        assert_eq!(keys(&e, b"", None), v(&[b"c"]));
    }
    let e = RocksEngine::open(dir.path()).unwrap();
    assert_eq!(keys(&e, b"", None), v(&[b"c"]));
    assert_eq!(e.get(b"b").unwrap(), None);
}
