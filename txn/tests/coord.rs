//! The coordinator over a store with several ranges: snapshot reads, buffered writes,
//! savepoints, one-phase and multi-range commits, and the anomalies SERIALIZABLE forbids.

use kv::engine::MemoryEngine;
use kv::mvcc::Mvcc;
use kv::Clock;
use std::sync::Arc;
use std::time::Duration;
use txn::local::LocalTxnManager;
use txn::range::RangeConfig;
use txn::store::StoreConfig;
use txn::{Error, LockStrength, Transaction, TxnOptions, TxnSource};

/// A store split at "m" so that transactions over a..z span two ranges.
fn manager() -> LocalTxnManager {
    let cfg = StoreConfig {
        range: RangeConfig {
            txn_expiration_ms: 300,
            sync: false,
        },
        split_keys: vec![b"m".to_vec()],
        gc_ttl: Duration::from_secs(3600),
    };
    LocalTxnManager::with_config(
        Mvcc::new(Arc::new(MemoryEngine::new())),
        Arc::new(Clock::system(500)),
        cfg,
    )
}

fn rw(m: &LocalTxnManager) -> Box<dyn Transaction> {
    m.begin(TxnOptions::default()).unwrap()
}

fn put(t: &mut Box<dyn Transaction>, k: &str, v: &str) {
    t.put(k.as_bytes().to_vec(), v.as_bytes().to_vec()).unwrap();
}

fn get(t: &mut Box<dyn Transaction>, k: &str) -> Option<String> {
    t.get(k.as_bytes())
        .unwrap()
        .map(|v| String::from_utf8(v).unwrap())
}

fn is_retry(e: &Error) -> bool {
    e.is_retryable()
}

#[test]
fn reads_see_own_writes_and_a_snapshot_across_ranges() {
    let m = manager();
    let mut t = rw(&m);
    put(&mut t, "a", "1");
    put(&mut t, "z", "26");
    assert_eq!(get(&mut t, "a").as_deref(), Some("1"));
    t.commit().unwrap();
    let mut r = rw(&m);
    let mut w = rw(&m);
    put(&mut w, "a", "2");
    w.commit().unwrap();
    // r started before w committed: it keeps its snapshot.
    assert_eq!(get(&mut r, "a").as_deref(), Some("1"));
    let page = r.scan(b"", None, 100).unwrap();
    // The first range's page ends at the split; the second page holds "z".
    let mut rows = page.rows.clone();
    if let Some(resume) = page.resume {
        rows.extend(r.scan(&resume, None, 100).unwrap().rows);
    }
    assert_eq!(rows.len(), 2);
    r.commit().unwrap();
}

#[test]
fn write_skew_is_rejected() {
    let m = manager();
    let mut init = rw(&m);
    put(&mut init, "a", "on");
    put(&mut init, "z", "on");
    init.commit().unwrap();
    let mut t1 = rw(&m);
    let mut t2 = rw(&m);
    assert_eq!(get(&mut t1, "a").as_deref(), Some("on"));
    assert_eq!(get(&mut t1, "z").as_deref(), Some("on"));
    assert_eq!(get(&mut t2, "a").as_deref(), Some("on"));
    assert_eq!(get(&mut t2, "z").as_deref(), Some("on"));
    put(&mut t1, "a", "off");
    put(&mut t2, "z", "off");
    t1.commit().unwrap();
    let err = t2.commit().unwrap_err();
    assert!(is_retry(&err), "{err}");
    assert!(err.to_string().contains("RETRY_"), "{err}");
}

#[test]
fn lost_update_is_rejected() {
    let m = manager();
    let mut init = rw(&m);
    put(&mut init, "c", "10");
    init.commit().unwrap();
    let mut t1 = rw(&m);
    let mut t2 = rw(&m);
    assert_eq!(get(&mut t1, "c").as_deref(), Some("10"));
    assert_eq!(get(&mut t2, "c").as_deref(), Some("10"));
    put(&mut t1, "c", "11");
    put(&mut t2, "c", "12");
    t1.commit().unwrap();
    assert!(is_retry(&t2.commit().unwrap_err()));
    let mut r = rw(&m);
    assert_eq!(get(&mut r, "c").as_deref(), Some("11"));
}

#[test]
fn blind_writes_commit_above_later_reads() {
    let m = manager();
    let mut w = rw(&m);
    let mut r = rw(&m);
    assert_eq!(get(&mut r, "k"), None);
    r.commit().unwrap();
    // w started before r's read but writes blindly: it moves above the read and commits.
    put(&mut w, "k", "v");
    let read_ts = w.read_ts();
    let ts = w.commit().unwrap();
    assert!(ts > read_ts, "pushed above the read: {ts} > {read_ts}");
}

#[test]
fn savepoints_undo_later_buffered_writes() {
    let m = manager();
    let mut t = rw(&m);
    put(&mut t, "a", "1");
    let sp = t.savepoint();
    put(&mut t, "a", "2");
    put(&mut t, "b", "x");
    t.rollback_to(sp);
    assert_eq!(get(&mut t, "a").as_deref(), Some("1"));
    assert_eq!(get(&mut t, "b"), None);
    t.commit().unwrap();
    let mut r = rw(&m);
    assert_eq!(get(&mut r, "a").as_deref(), Some("1"));
    assert_eq!(get(&mut r, "b"), None);
}

#[test]
fn locking_reads_make_writers_wait_instead_of_fail() {
    let m = Arc::new(manager());
    let mut init = rw(&m);
    put(&mut init, "n", "0");
    init.commit().unwrap();
    // Two increments with FOR UPDATE semantics, concurrently, many times: no retry errors,
    // no lost increments.
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let mut t = rw(&m);
                    let v = t
                        .get_locking(b"n", LockStrength::Exclusive)
                        .unwrap()
                        .unwrap();
                    let n: i64 = String::from_utf8(v).unwrap().parse().unwrap();
                    t.put(b"n".to_vec(), (n + 1).to_string().into_bytes())
                        .unwrap();
                    t.commit().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut r = rw(&m);
    assert_eq!(get(&mut r, "n").as_deref(), Some("100"));
}

#[test]
fn deadlocks_abort_one_transaction() {
    let m = Arc::new(manager());
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let run = |first: &'static [u8], second: &'static [u8]| {
        let m = m.clone();
        let barrier = barrier.clone();
        std::thread::spawn(move || {
            let mut t = rw(&m);
            t.get_locking(first, LockStrength::Exclusive).unwrap();
            barrier.wait();
            match t.get_locking(second, LockStrength::Exclusive) {
                Ok(_) => t.commit().map(|_| ()),
                Err(e) => Err(e),
            }
        })
    };
    let a = run(b"a", b"z");
    let b = run(b"z", b"a");
    let ra = a.join().unwrap();
    let rb = b.join().unwrap();
    let failures: Vec<_> = [&ra, &rb].iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(failures.len(), 1, "{ra:?} {rb:?}");
    assert!(is_retry(failures[0]), "{:?}", failures[0]);
}

#[test]
fn read_only_and_as_of_refuse_writes_and_read_the_past() {
    let m = manager();
    let mut t = rw(&m);
    put(&mut t, "h", "old");
    let old_ts = t.commit().unwrap();
    let mut t = rw(&m);
    put(&mut t, "h", "new");
    t.commit().unwrap();
    let mut past = m
        .begin(TxnOptions {
            read_only: true,
            as_of: Some(old_ts),
        })
        .unwrap();
    assert_eq!(get(&mut past, "h").as_deref(), Some("old"));
    assert!(matches!(
        past.put(b"h".to_vec(), b"x".to_vec()),
        Err(Error::ReadOnly)
    ));
}

#[test]
fn gc_removes_old_versions_but_not_below_running_readers() {
    let cfg = StoreConfig {
        gc_ttl: Duration::ZERO,
        ..StoreConfig::default()
    };
    let m = LocalTxnManager::with_config(
        Mvcc::new(Arc::new(MemoryEngine::new())),
        Arc::new(Clock::system(500)),
        cfg,
    );
    let write = |v: &str| {
        let mut t = rw(&m);
        put(&mut t, "g", v);
        t.commit().unwrap()
    };
    let first = write("1");
    write("2");
    let mut reader = rw(&m);
    write("3");
    // The reader's snapshot (value 2) survives gc; version 1 does not.
    assert_eq!(m.store().gc_once().unwrap(), 1);
    assert_eq!(get(&mut reader, "g").as_deref(), Some("2"));
    drop(reader);
    assert_eq!(m.store().gc_once().unwrap(), 1);
    let mut past = m
        .begin(TxnOptions {
            read_only: true,
            as_of: Some(first),
        })
        .unwrap();
    let err = past.get(b"g").unwrap_err();
    assert!(matches!(err, Error::BelowGcThreshold { .. }), "{err}");
}

/// 70,000 point reads overflow the timestamp cache (65,536 points), which folds them into its
/// low-water mark: the transaction's own folded reads must not push its writes (they did, and
/// the commit failed with "the commit timestamp kept moving").
#[test]
fn a_large_transaction_commits_in_one_phase() {
    let m = manager();
    let mut t = rw(&m);
    for i in 0..70_000u32 {
        let k = format!("b{i:06}");
        assert_eq!(t.get(k.as_bytes()).unwrap(), None);
        t.put(k.into_bytes(), b"v".to_vec()).unwrap();
    }
    t.commit().unwrap();
}

/// Writes past the 8 MiB buffer become intents in both ranges; a savepoint rollback afterwards
/// hides the rolled-back intents from the transaction's own reads and from the commit.
#[test]
fn savepoints_undo_writes_flushed_as_intents() {
    let m = manager();
    let mut t = rw(&m);
    put(&mut t, "a", "1");
    let sp = t.savepoint();
    let big = vec![b'x'; 100 << 10];
    for i in 0..100 {
        // Half in each range ("b..." < "m" <= "x...").
        let k = if i % 2 == 0 {
            format!("b{i:03}")
        } else {
            format!("x{i:03}")
        };
        t.put(k.into_bytes(), big.clone()).unwrap();
    }
    assert!(
        m.mvcc().intent(b"a").unwrap().is_some(),
        "the buffer was flushed as intents"
    );
    put(&mut t, "a", "2");
    t.rollback_to(sp);
    assert_eq!(get(&mut t, "a").as_deref(), Some("1"));
    assert_eq!(t.get(b"b000").unwrap(), None);
    assert_eq!(t.get(b"x001").unwrap(), None);
    t.commit().unwrap();
    let mut r = rw(&m);
    assert_eq!(get(&mut r, "a").as_deref(), Some("1"));
    let page = r.scan(b"b", Some(b"y"), 1000).unwrap();
    let mut rows = page.rows;
    if let Some(resume) = page.resume {
        rows.extend(r.scan(&resume, Some(b"y"), 1000).unwrap().rows);
    }
    assert!(
        rows.is_empty(),
        "rolled-back writes committed: {}",
        rows.len()
    );
}

/// A locking read that finds a version newer than its read timestamp moves the transaction up
/// (when its earlier reads allow) instead of failing; with a stale plain read of the same key
/// first, it fails with RETRY_WRITE_TOO_OLD.
#[test]
fn locking_reads_move_past_newer_versions_or_fail() {
    let m = manager();
    let mut fresh = rw(&m);
    let mut stale = rw(&m);
    assert_eq!(get(&mut stale, "k"), None);
    let mut w = rw(&m);
    put(&mut w, "k", "new");
    w.commit().unwrap();
    let v = fresh.get_locking(b"k", LockStrength::Exclusive).unwrap();
    assert_eq!(v.as_deref(), Some(&b"new"[..]));
    put(&mut fresh, "k", "newer");
    fresh.commit().unwrap();
    let err = stale
        .get_locking(b"k", LockStrength::Exclusive)
        .unwrap_err();
    assert!(err.to_string().contains("RETRY_WRITE_TOO_OLD"), "{err}");
}

/// A locking scan from the start of the keyspace locks what it returns, and committing releases
/// the locks.
#[test]
fn a_locking_scan_from_the_empty_key_anchors_and_releases() {
    let m = manager();
    let mut init = rw(&m);
    put(&mut init, "a", "1");
    init.commit().unwrap();
    let mut t = rw(&m);
    let page = t
        .scan_locking(b"", Some(b"b"), 10, LockStrength::Exclusive)
        .unwrap();
    assert_eq!(page.rows.len(), 1);
    put(&mut t, "a", "2");
    t.commit().unwrap();
    assert_eq!(m.store().range_for(b"a").lock_count(), 0);
    let mut r = rw(&m);
    assert_eq!(get(&mut r, "a").as_deref(), Some("2"));
}

/// Counts the Refresh requests coordinators send (server-side refreshes send none), and the
/// Put and GetMany requests (`puts`).
struct CountingSender {
    inner: Arc<txn::store::Store>,
    refreshes: std::sync::atomic::AtomicUsize,
    puts: std::sync::atomic::AtomicUsize,
}

impl txn::range::Router for CountingSender {
    fn route(
        &self,
        h: &txn::api::Header,
        req: &txn::api::Request,
    ) -> txn::Result<txn::api::Response> {
        if matches!(req, txn::api::Request::Refresh { .. }) {
            self.refreshes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        if matches!(
            req,
            txn::api::Request::Put { .. } | txn::api::Request::GetMany { .. }
        ) {
            self.puts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        self.inner.route(h, req)
    }
}

impl txn::sender::Sender for CountingSender {
    fn clock(&self) -> &Arc<Clock> {
        txn::sender::Sender::clock(self.inner.as_ref())
    }
    fn range_of(&self, key: &[u8]) -> u64 {
        self.inner.range_of(key)
    }
    fn uncertainty_limit(&self, read_ts: kv::Timestamp) -> kv::Timestamp {
        self.inner.uncertainty_limit(read_ts)
    }
    fn register(&self, read_ts: kv::Timestamp) -> u64 {
        self.inner.register(read_ts)
    }
    fn unregister(&self, token: u64) {
        self.inner.unregister(token)
    }
}

/// A manager, a sender over its store that counts Refresh requests, and a transaction
/// source using that sender.
fn counting() -> (
    LocalTxnManager,
    Arc<CountingSender>,
    txn::coord::KvTxnSource,
) {
    let m = manager();
    let sender = Arc::new(CountingSender {
        inner: m.store().clone(),
        refreshes: Default::default(),
        puts: Default::default(),
    });
    let src = txn::coord::KvTxnSource::new(sender.clone());
    (m, sender, src)
}

#[test]
fn a_pushed_one_phase_commit_refreshes_its_reads_at_the_range() {
    use std::sync::atomic::Ordering::SeqCst;
    let (_m, sender, src) = counting();
    let begin = || src.begin(TxnOptions::default()).unwrap();

    // t1 reads "a"; a later reader of "b" pushes t1's write of "b" above t1's read
    // timestamp. "a" and "b" share a range, so the commit refreshes "a" there: no Refresh
    // request, and the commit succeeds.
    let mut t1 = begin();
    assert_eq!(get(&mut t1, "a"), None);
    let mut later = begin();
    assert_eq!(get(&mut later, "b"), None);
    later.commit().unwrap();
    put(&mut t1, "b", "1");
    t1.commit().unwrap();
    assert_eq!(sender.refreshes.load(SeqCst), 0);

    // The same, but "a" was written after t2 read it: the range's refresh fails, the
    // coordinator's own refresh fails too, and t2 gets a retry error.
    let mut t2 = begin();
    assert_eq!(get(&mut t2, "a"), None);
    let mut w = begin();
    put(&mut w, "a", "x");
    w.commit().unwrap();
    let mut later = begin();
    assert_eq!(get(&mut later, "c"), None);
    later.commit().unwrap();
    put(&mut t2, "c", "1");
    let e = t2.commit().unwrap_err();
    assert!(is_retry(&e), "{e}");
    assert!(sender.refreshes.load(SeqCst) >= 1);
}

/// A one-phase commit pushed into the future (its range closed a timestamp ahead of the
/// clock, as a GLOBAL table's range does) refreshes only its reads in other ranges, and
/// commits just above the closed timestamp: one lead of commit-wait, not the two that
/// refreshing everything to the anticipated timestamp would cost.
#[test]
fn a_commit_pushed_into_the_future_refreshes_only_other_ranges() {
    use std::sync::atomic::Ordering::SeqCst;
    let (m, sender, src) = counting();
    let begin = || src.begin(TxnOptions::default()).unwrap();
    let clock = m.store().clock().clone();
    let lead_ms = 1_000;

    // t reads "x" (the other range) and "a", and writes "b" (the range split at "m").
    let mut t = begin();
    assert_eq!(get(&mut t, "x"), None);
    assert_eq!(get(&mut t, "a"), None);
    put(&mut t, "b", "1");
    let now = clock.now().physical_ms();
    m.store()
        .range_for(b"b")
        .close(kv::Timestamp::from_parts(now + lead_ms, 0));
    let ts = t.commit().unwrap();
    let ahead = ts.physical_ms() - now;
    assert!(
        (lead_ms..lead_ms + 400).contains(&ahead),
        "committed {ahead} ms ahead, not just above the closed timestamp ({lead_ms} ms)"
    );
    assert_eq!(sender.refreshes.load(SeqCst), 1, "only \"x\" is refreshed");
    assert!(clock.now() > ts, "acknowledged after commit-wait");

    // The same, but "x" was written after t2 read it: the refresh fails (a retry error).
    let mut t2 = begin();
    assert_eq!(get(&mut t2, "x"), None);
    let mut w = begin();
    put(&mut w, "x", "1");
    w.commit().unwrap();
    put(&mut t2, "c", "1");
    let now = clock.now().physical_ms();
    m.store()
        .range_for(b"c")
        .close(kv::Timestamp::from_parts(now + lead_ms, 0));
    let e = t2.commit().unwrap_err();
    assert!(is_retry(&e), "{e}");
    assert_eq!(get(&mut begin(), "c"), None, "nothing of t2 was written");
}

/// A refresh sends one Refresh request per range, carrying every span the transaction read
/// there (spans are never merged into scans of the keys between them), and finds a write in
/// any of them.
#[test]
fn a_refresh_sends_one_request_per_range() {
    use std::sync::atomic::Ordering::SeqCst;
    let (_m, sender, src) = counting();
    let begin = || src.begin(TxnOptions::default()).unwrap();
    let keys: Vec<String> = (0..20)
        .map(|i| format!("a{i:02}"))
        .chain((0..20).map(|i| format!("n{i:02}")))
        .collect();

    // t reads 40 keys in two ranges; later readers of "b" and "y" push t's writes there.
    let mut t = begin();
    for k in &keys {
        assert_eq!(get(&mut t, k), None);
    }
    let mut later = begin();
    assert_eq!(get(&mut later, "b"), None);
    assert_eq!(get(&mut later, "y"), None);
    later.commit().unwrap();
    put(&mut t, "b", "1");
    put(&mut t, "y", "1");
    t.commit().unwrap();
    assert_eq!(sender.refreshes.load(SeqCst), 2);

    // The same, but one key read in the middle of a range was written meanwhile: the
    // refresh finds it and the commit fails with a retry error.
    sender.refreshes.store(0, SeqCst);
    let mut t = begin();
    for k in &keys {
        assert_eq!(get(&mut t, k), None);
    }
    let mut w = begin();
    put(&mut w, "a13", "x");
    w.commit().unwrap();
    let mut later = begin();
    assert_eq!(get(&mut later, "c"), None);
    assert_eq!(get(&mut later, "z"), None);
    later.commit().unwrap();
    put(&mut t, "c", "1");
    put(&mut t, "z", "1");
    let e = t.commit().unwrap_err();
    assert!(is_retry(&e), "{e}");
    assert!((1..=2).contains(&sender.refreshes.load(SeqCst)));
}

/// A two-phase commit writes its intents with one Put request per range.
#[test]
fn intents_are_written_with_one_request_per_range() {
    use std::sync::atomic::Ordering::SeqCst;
    let (m, sender, src) = counting();
    let mut t = src.begin(TxnOptions::default()).unwrap();
    for i in 0..10 {
        put(&mut t, &format!("a{i}"), "1");
        put(&mut t, &format!("n{i}"), "2");
    }
    put(&mut t, "a3", "3");
    t.commit().unwrap();
    assert_eq!(sender.puts.load(SeqCst), 2);
    let mut r = rw(&m);
    assert_eq!(get(&mut r, "a3").as_deref(), Some("3"));
    assert_eq!(get(&mut r, "n9").as_deref(), Some("2"));
    assert_eq!(m.store().range_for(b"a").lock_count(), 0);
}

/// A batch of point reads costs one GetMany request per range, sees the transaction's own
/// buffered writes, and answers in the order asked (duplicates and missing keys included).
#[test]
fn a_batch_of_reads_sends_one_request_per_range() {
    use std::sync::atomic::Ordering::SeqCst;
    let (_m, sender, src) = counting();
    let mut w = src.begin(TxnOptions::default()).unwrap();
    for k in ["a1", "a2", "n1", "n2"] {
        put(&mut w, k, k);
    }
    w.commit().unwrap();
    sender.puts.store(0, SeqCst);
    let mut t = src.begin(TxnOptions::default()).unwrap();
    put(&mut t, "a3", "mine");
    let keys: Vec<Vec<u8>> = ["n2", "a1", "zz", "a3", "a2", "n1", "a1"]
        .iter()
        .map(|k| k.as_bytes().to_vec())
        .collect();
    let got: Vec<Option<String>> = t
        .get_many(&keys)
        .unwrap()
        .into_iter()
        .map(|v| v.map(|v| String::from_utf8(v).unwrap()))
        .collect();
    let want = [
        Some("n2"),
        Some("a1"),
        None,
        Some("mine"),
        Some("a2"),
        Some("n1"),
        Some("a1"),
    ];
    assert_eq!(got, want.map(|v| v.map(String::from)).to_vec());
    assert_eq!(sender.puts.load(SeqCst), 2);
    t.commit().unwrap();
}
