//! Session tests on a local store: AS OF SYSTEM TIME, isolation and access modes, locking
//! reads (observed through a recording transaction wrapper).

use super::as_of::decimal_text;
use super::Session;
use crate::context::NoVirtualTables;
use crate::testutil::{self, Hooked, TxnHooks};
use crate::Error;
use kv::{Clock, Timestamp};
use parking_lot::Mutex;
use std::sync::Arc;
use txn::LockStrength;

/// Locking calls seen: (key, strength, was a scan).
type LockLog = Arc<Mutex<Vec<(Vec<u8>, LockStrength, bool)>>>;

/// Hooks that record the locking reads of every transaction.
struct RecordLocks {
    log: LockLog,
}

impl TxnHooks for RecordLocks {
    fn read(&self, key: &[u8], lock: Option<LockStrength>, scan: bool) {
        if let Some(l) = lock {
            self.log.lock().push((key.to_vec(), l, scan));
        }
    }
}

pub(super) struct Harness {
    session: Session,
    clock: Arc<Clock>,
    log: LockLog,
}

/// Milliseconds after the HLC epoch of the wall clock, moved by `offset_ms`.
fn wall_physical_ms(offset_ms: i64) -> u64 {
    Timestamp::from_unix_ms(chrono::Utc::now().timestamp_millis() + offset_ms).physical_ms()
}

/// A session on a fresh store whose manual clock starts `offset_ms` from the wall clock.
pub(super) fn harness(offset_ms: i64) -> Harness {
    let clock = Arc::new(Clock::manual(wall_physical_ms(offset_ms), 500));
    let inner = testutil::local_store_on(clock.clone());
    let log: LockLog = Arc::default();
    let txns = Hooked::new(inner, RecordLocks { log: log.clone() });
    let session = Session::new(txns, Arc::new(NoVirtualTables), "root", "defaultdb");
    Harness {
        session,
        clock,
        log,
    }
}

impl Harness {
    pub(super) fn q(&mut self, sql: &str) -> Vec<String> {
        testutil::ok(&mut self.session, sql)
    }

    pub(super) fn err(&mut self, sql: &str) -> Error {
        testutil::err(&mut self.session, sql)
    }

    /// Moves the manual clock forward.
    pub(super) fn advance_ms(&self, ms: u64) {
        let now = self.session.txns.now();
        self.clock.set_physical_ms(now.physical_ms() + ms);
    }

    pub(super) fn now(&self) -> Timestamp {
        self.session.txns.now()
    }
}

#[test]
fn as_of_system_time_reads_the_old_value() {
    let mut h = harness(0);
    h.q("CREATE TABLE t (k INT PRIMARY KEY, v TEXT)");
    h.q("INSERT INTO t VALUES (1, 'old')");
    let then = decimal_text(h.now());
    h.advance_ms(20_000);
    h.q("UPDATE t SET v = 'new' WHERE k = 1");
    assert_eq!(h.q("SELECT v FROM t"), ["new"]);
    let sql = format!("SELECT v FROM t AS OF SYSTEM TIME '{then}'");
    assert_eq!(h.q(&sql), ["old"]);
    // The decimal as a number, and relative forms.
    assert_eq!(
        h.q(&format!("SELECT v FROM t AS OF SYSTEM TIME {then}")),
        ["old"]
    );
    assert_eq!(
        h.q("SELECT v FROM t AS OF SYSTEM TIME '-10s' WHERE k = 1"),
        ["old"]
    );
    // 90 s ago the table did not exist yet: the catalog is read at that time too.
    assert_eq!(
        h.err("SELECT v FROM t AS OF SYSTEM TIME '-1m30s'").code,
        "42P01"
    );
    assert_eq!(h.q("SELECT v FROM t AS OF SYSTEM TIME '-100ms'"), ["old"]);
    h.advance_ms(1_000);
    assert_eq!(h.q("SELECT v FROM t AS OF SYSTEM TIME '-100ms'"), ["new"]);
    // now() in an AOST statement is the time read at.
    assert_eq!(
        h.q("SELECT now() < transaction_timestamp() + interval '1s' FROM t AS OF SYSTEM TIME '-10s'"),
        ["t"]
    );
    // The implicit AOST transaction is read-only and the session goes back to normal.
    assert_eq!(h.q("SHOW transaction_read_only"), ["off"]);
    h.q("UPDATE t SET v = 'newer' WHERE k = 1");
    assert_eq!(h.q("SELECT v FROM t"), ["newer"]);
}

#[test]
fn as_of_system_time_timestamp_and_now_forms() {
    // The store's clock runs 60 s behind the wall clock, so wall-clock expressions can point
    // between two writes.
    let mut h = harness(-60_000);
    h.q("CREATE TABLE t (k INT PRIMARY KEY, v TEXT)");
    h.q("INSERT INTO t VALUES (1, 'old')");
    h.advance_ms(30_000); // the store is now 30 s behind
    h.q("UPDATE t SET v = 'new' WHERE k = 1");
    assert_eq!(
        h.q("SELECT v FROM t AS OF SYSTEM TIME now() - interval '45s'"),
        ["old"]
    );
    let at = chrono::Utc::now() - chrono::Duration::seconds(45);
    let sql = format!(
        "SELECT v FROM t AS OF SYSTEM TIME '{}'",
        at.format("%Y-%m-%d %H:%M:%S%.3f")
    );
    assert_eq!(h.q(&sql), ["old"]);
    // follower_read_timestamp() is 4.8 s before now: ahead of this store's clock.
    let e = h.err("SELECT v FROM t AS OF SYSTEM TIME follower_read_timestamp()");
    assert_eq!(e.code, "22023");
    assert!(
        e.message.contains("cannot specify timestamp in the future"),
        "{}",
        e.message
    );
    assert_eq!(
        h.q("SELECT now() - follower_read_timestamp() = interval '4.8s'"),
        ["t"]
    );
}

#[test]
fn as_of_system_time_errors() {
    let mut h = harness(0);
    h.q("CREATE TABLE t (k INT PRIMARY KEY, v TEXT)");
    h.advance_ms(5_000);
    let e = h.err("SELECT * FROM t AS OF SYSTEM TIME '2999-01-01 00:00:00'");
    assert!(e.message.contains("cannot specify timestamp in the future"));
    assert_eq!(
        h.err("SELECT * FROM t AS OF SYSTEM TIME '10s'").code,
        "22023"
    );
    assert_eq!(
        h.err("SELECT * FROM t AS OF SYSTEM TIME 'soon'").code,
        "22023"
    );
    assert_eq!(
        h.err("SELECT * FROM t AS OF SYSTEM TIME true").code,
        "22023"
    );
    let e = h.err("SELECT * FROM t AS OF SYSTEM TIME '-1s' FOR UPDATE");
    assert_eq!(e.code, "25006");
    assert_eq!(
        e.message,
        "cannot execute SELECT FOR UPDATE in a read-only transaction"
    );
    // In an ordinary explicit transaction an AOST SELECT is an error.
    h.q("BEGIN");
    let e = h.err("SELECT * FROM t AS OF SYSTEM TIME '-1s'");
    assert_eq!(e.code, "0A000");
    assert!(
        e.message.contains("inconsistent AS OF SYSTEM TIME"),
        "{}",
        e.message
    );
    assert_eq!(h.err("SELECT 1").code, "25P02");
    h.q("ROLLBACK");
}

#[test]
fn begin_and_set_transaction_as_of_system_time() {
    let mut h = harness(0);
    h.q("CREATE TABLE t (k INT PRIMARY KEY, v TEXT)");
    h.q("INSERT INTO t VALUES (1, 'old')");
    let then = decimal_text(h.now());
    h.advance_ms(1_000);
    h.q("UPDATE t SET v = 'new'");

    h.q(&format!("BEGIN AS OF SYSTEM TIME '{then}'"));
    assert_eq!(h.q("SHOW transaction_read_only"), ["on"]);
    assert_eq!(h.q("SELECT v FROM t"), ["old"]);
    assert_eq!(
        h.q(&format!("SELECT v FROM t AS OF SYSTEM TIME '{then}'")),
        ["old"]
    );
    let e = h.err("INSERT INTO t VALUES (2, 'x')");
    assert_eq!(e.code, "25006");
    assert_eq!(
        e.message,
        "cannot execute INSERT in a read-only transaction"
    );
    h.q("ROLLBACK");

    h.q("BEGIN");
    h.q(&format!("SET TRANSACTION AS OF SYSTEM TIME '{then}'"));
    assert_eq!(h.q("SELECT v FROM t"), ["old"]);
    assert_eq!(h.err("DELETE FROM t").code, "25006");
    h.q("ROLLBACK");

    h.q("BEGIN");
    h.q("SELECT 1");
    assert_eq!(
        h.err(&format!("SET TRANSACTION AS OF SYSTEM TIME '{then}'"))
            .code,
        "25001"
    );
    h.q("ROLLBACK");
    assert_eq!(
        h.err(&format!("BEGIN AS OF SYSTEM TIME '{then}', READ WRITE"))
            .code,
        "25006"
    );
    assert_eq!(h.q("SELECT v FROM t"), ["new"]);
}

#[test]
fn isolation_levels_map_to_serializable() {
    let mut h = harness(0);
    h.q("CREATE TABLE t (k INT PRIMARY KEY)");
    for begin in [
        "BEGIN ISOLATION LEVEL READ COMMITTED",
        "BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ WRITE",
        "START TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
    ] {
        h.q(begin);
        assert_eq!(
            h.q("SHOW transaction_isolation"),
            ["serializable"],
            "{begin}"
        );
        h.q("SET TRANSACTION ISOLATION LEVEL SNAPSHOT");
        h.q("SELECT * FROM t");
        let e = h.err("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE");
        assert_eq!(e.code, "25001");
        assert_eq!(
            e.message,
            "SET TRANSACTION ISOLATION LEVEL must be called before any query"
        );
        h.q("ROLLBACK");
    }
    h.q("BEGIN");
    h.q("SELECT 1");
    assert_eq!(
        h.err("SET transaction_isolation = 'read committed'").code,
        "25001"
    );
    h.q("ROLLBACK");
    h.q("SET default_transaction_isolation = 'read committed'");
    assert_eq!(h.q("SHOW default_transaction_isolation"), ["serializable"]);
    assert_eq!(h.q("SHOW transaction_isolation"), ["serializable"]);
    assert_eq!(
        h.err("SET default_transaction_isolation = 'chaos'").code,
        "22023"
    );
    // No NOTICE for the upgrade.
    assert!(h.session.take_notices().is_empty());
}

#[test]
fn read_only_modes() {
    let mut h = harness(0);
    h.q("CREATE TABLE t (k INT PRIMARY KEY)");
    h.q("BEGIN READ ONLY");
    let e = h.err("INSERT INTO t VALUES (1)");
    assert_eq!(
        (e.code, e.message.as_str()),
        ("25006", "cannot execute INSERT in a read-only transaction")
    );
    h.q("ROLLBACK");
    h.q("BEGIN");
    h.q("SET TRANSACTION READ ONLY");
    assert_eq!(h.q("SHOW transaction_read_only"), ["on"]);
    let e = h.err("SELECT * FROM t FOR SHARE");
    assert_eq!(
        e.message,
        "cannot execute SELECT FOR SHARE in a read-only transaction"
    );
    h.q("ROLLBACK");
    h.q("SET default_transaction_read_only = on");
    assert_eq!(h.err("UPDATE t SET k = 2").code, "25006");
    h.q("BEGIN READ WRITE");
    h.q("INSERT INTO t VALUES (1)");
    h.q("COMMIT");
    h.q("SET default_transaction_read_only = off");
    h.q("DELETE FROM t");
}

/// The primary-index key prefix of table `name`.
fn table_prefix(h: &mut Harness, name: &str) -> Vec<u8> {
    let name = name.to_string();
    h.session
        .with_read_txn(|ctx| {
            let t = crate::catalog::Catalog::table(&ctx.txn, "defaultdb", &name)?
                .expect("table exists");
            Ok(crate::storage::full_index_span(&t, &t.primary).start)
        })
        .expect("prefix")
}

fn locks_on(h: &Harness, prefix: &[u8]) -> Vec<(LockStrength, bool)> {
    h.log
        .lock()
        .iter()
        .filter(|(k, _, _)| k.starts_with(prefix))
        .map(|(_, l, scan)| (*l, *scan))
        .collect()
}

#[test]
fn locking_reads_reach_the_transaction() {
    let mut h = harness(0);
    h.q("CREATE TABLE a (k INT PRIMARY KEY, v INT)");
    h.q("CREATE INDEX a_v ON a (v)");
    h.q("CREATE TABLE b (k INT PRIMARY KEY)");
    h.q("INSERT INTO a VALUES (1, 10), (2, 20); INSERT INTO b VALUES (1)");
    let (pa, pb) = (table_prefix(&mut h, "a"), table_prefix(&mut h, "b"));
    use LockStrength::{Exclusive, Shared};

    h.log.lock().clear();
    assert_eq!(h.q("SELECT k FROM a ORDER BY k FOR UPDATE"), ["1", "2"]);
    assert_eq!(locks_on(&h, &pa), [(Exclusive, true)]);

    for clause in ["FOR SHARE", "FOR KEY SHARE"] {
        h.log.lock().clear();
        h.q(&format!("SELECT * FROM a WHERE k = 1 {clause}"));
        assert_eq!(locks_on(&h, &pa), [(Shared, true)], "{clause}");
    }
    h.log.lock().clear();
    h.q("SELECT * FROM a WHERE k = 1 FOR NO KEY UPDATE");
    assert_eq!(locks_on(&h, &pa), [(Exclusive, true)]);

    // OF: only the named table.
    h.log.lock().clear();
    h.q("SELECT * FROM a, b WHERE a.k = b.k FOR UPDATE OF b");
    assert!(locks_on(&h, &pa).is_empty());
    assert!(!locks_on(&h, &pb).is_empty());
    assert!(locks_on(&h, &pb).iter().all(|(l, _)| *l == Exclusive));

    // A secondary-index scan locks the primary rows it looks up.
    h.log.lock().clear();
    h.q("SELECT k FROM a WHERE v = 20 FOR UPDATE");
    assert_eq!(locks_on(&h, &pa), [(Exclusive, false)]);

    // Plain reads lock nothing; UPDATE and DELETE lock their target rows...
    h.log.lock().clear();
    h.q("SELECT * FROM a, b");
    assert!(h.log.lock().is_empty());
    h.q("UPDATE a SET v = v + 1 WHERE k = 1");
    assert_eq!(locks_on(&h, &pa), [(Exclusive, true)]);
    h.log.lock().clear();
    h.q("DELETE FROM b WHERE k = 1");
    assert_eq!(locks_on(&h, &pb), [(Exclusive, true)]);
    h.log.lock().clear();
    h.q("UPSERT INTO b VALUES (1)");
    h.q("INSERT INTO a VALUES (1, 5) ON CONFLICT (k) DO UPDATE SET v = 7");
    assert_eq!(locks_on(&h, &pb), [(Exclusive, false)]);
    assert_eq!(locks_on(&h, &pa), [(Exclusive, false)]);
    h.log.lock().clear();
    h.q("INSERT INTO a VALUES (1, 5) ON CONFLICT DO NOTHING");
    assert!(h.log.lock().is_empty());

    // ...unless enable_implicit_select_for_update is off.
    h.q("SET enable_implicit_select_for_update = off");
    assert_eq!(h.q("SHOW enable_implicit_select_for_update"), ["off"]);
    h.log.lock().clear();
    h.q("UPDATE a SET v = v + 1; DELETE FROM b; UPSERT INTO b VALUES (1)");
    assert!(h.log.lock().is_empty());
    let plan = h.q("EXPLAIN UPDATE a SET v = 1").join("\n");
    assert!(!plan.contains("locking"), "{plan}");
    h.q("SET enable_implicit_select_for_update = on");
    let plan = h.q("EXPLAIN UPDATE a SET v = 1").join("\n");
    assert!(plan.contains("locking strength: for update"), "{plan}");
    let plan = h.q("EXPLAIN SELECT * FROM a FOR SHARE").join("\n");
    assert!(plan.contains("locking strength: for share"), "{plan}");
}

#[test]
fn locking_clause_errors_match_postgres() {
    let mut h = harness(0);
    h.q("CREATE TABLE a (k INT PRIMARY KEY, v INT)");
    for (sql, msg) in [
        (
            "SELECT count(*) FROM a FOR UPDATE",
            "FOR UPDATE is not allowed with aggregate functions",
        ),
        (
            "SELECT v FROM a GROUP BY v FOR UPDATE",
            "FOR UPDATE is not allowed with GROUP BY clause",
        ),
        (
            "SELECT DISTINCT v FROM a FOR SHARE",
            "FOR SHARE is not allowed with DISTINCT clause",
        ),
        (
            "SELECT k FROM a UNION SELECT v FROM a FOR UPDATE",
            "FOR UPDATE is not allowed with UNION/INTERSECT/EXCEPT",
        ),
        (
            "SELECT * FROM a FOR UPDATE NOWAIT",
            "FOR UPDATE NOWAIT is not supported",
        ),
        (
            "SELECT * FROM a FOR UPDATE SKIP LOCKED",
            "FOR UPDATE SKIP LOCKED is not supported",
        ),
    ] {
        let e = h.err(sql);
        assert_eq!((e.code, e.message.as_str()), ("0A000", msg), "{sql}");
    }
    let e = h.err("SELECT * FROM a FOR UPDATE OF zz");
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            "42P01",
            "relation \"zz\" in FOR UPDATE clause not found in FROM clause"
        )
    );
    // A subquery's aggregate is not the locked query's.
    h.q("SELECT * FROM a WHERE k > (SELECT count(*) FROM a) FOR UPDATE");
}
