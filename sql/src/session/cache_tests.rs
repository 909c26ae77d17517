//! Tests of the descriptor cache and the prepared-statement plan cache through sessions: two
//! sessions on one store (as two connections of a node, or two nodes sharing the catalog),
//! with a transaction wrapper counting the catalog keys read through KV.

use super::Session;
use crate::context::NoVirtualTables;
use crate::plan::cache::PlanSlot;
use crate::testutil::{self, err, ok as q, Hooked, TxnHooks};
use crate::types::{DataType, Datum};
use crate::Error;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use txn::LockStrength;

/// Counts point reads of namespace entries and descriptors (system key kinds 1 and 2).
#[derive(Default)]
struct Reads {
    catalog: AtomicUsize,
    generation: AtomicUsize,
}

impl TxnHooks for Reads {
    fn read(&self, key: &[u8], _lock: Option<LockStrength>, scan: bool) {
        if scan {
            return;
        }
        if key == crate::catalog::generation::generation_key() {
            self.generation.fetch_add(1, Ordering::Relaxed);
        } else if key.starts_with(&kv::keys::system_key(1, &[]))
            || key.starts_with(&kv::keys::system_key(2, &[]))
        {
            self.catalog.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Two sessions on one fresh store.
fn two_sessions() -> (Session, Session, Arc<Reads>) {
    let txns = Hooked::new(testutil::local_store(), Reads::default());
    let reads = txns.hooks.clone();
    let a = Session::new(txns.clone(), Arc::new(NoVirtualTables), "root", "defaultdb");
    let b = Session::new(txns, Arc::new(NoVirtualTables), "root", "defaultdb");
    (a, b, reads)
}

/// Runs one statement (prepared through `slot` when given); its rows as `a|b` text.
fn exec(
    s: &mut Session,
    sql: &str,
    params: &[Datum],
    slot: Option<&PlanSlot>,
) -> Result<Vec<String>, Error> {
    let mut stmts = crate::parser::parse(sql)?;
    let stmt = stmts.pop().ok_or_else(|| Error::syntax("empty"))?;
    let types: Vec<DataType> = params.iter().map(|_| DataType::Int8).collect();
    let result = s.execute_prepared(&stmt, params, &types, slot)?;
    testutil::finish(s, result)
}

/// A plan slot as Parse makes it: described under the current generation.
fn prepare(s: &mut Session, sql: &str) -> PlanSlot {
    let stmt = crate::parser::parse(sql).unwrap().pop().unwrap();
    let d = s.describe(&stmt, &[DataType::Int8]).unwrap();
    PlanSlot::new(d.generation, d.columns)
}

#[test]
fn warm_statements_read_no_descriptors_and_the_generation_once_per_transaction() {
    let (mut a, _, reads) = two_sessions();
    q(&mut a, "CREATE TABLE t (k INT PRIMARY KEY, v INT)");
    q(&mut a, "INSERT INTO t VALUES (1, 10), (2, 20)");
    q(&mut a, "SELECT v FROM t WHERE k = 1");
    let catalog_before = reads.catalog.load(Ordering::Relaxed);
    let gen_before = reads.generation.load(Ordering::Relaxed);
    q(&mut a, "BEGIN");
    for _ in 0..5 {
        assert_eq!(q(&mut a, "SELECT v FROM t WHERE k = 2"), ["20"]);
        q(&mut a, "UPDATE t SET v = v + 1 WHERE k = 1");
    }
    q(&mut a, "COMMIT");
    assert_eq!(
        reads.catalog.load(Ordering::Relaxed),
        catalog_before,
        "descriptors and names come from the cache"
    );
    assert_eq!(
        reads.generation.load(Ordering::Relaxed) - gen_before,
        1,
        "one generation read for the whole transaction"
    );
}

#[test]
fn ddl_in_one_session_is_seen_by_the_next_statement_in_another() {
    let (mut a, mut b, _) = two_sessions();
    q(&mut a, "CREATE TABLE t (k INT PRIMARY KEY)");
    q(&mut a, "INSERT INTO t VALUES (1)");
    assert_eq!(q(&mut b, "SELECT k FROM t"), ["1"]);
    q(&mut a, "DROP TABLE t");
    assert_eq!(err(&mut b, "SELECT k FROM t").code, "42P01");
    q(&mut a, "CREATE TABLE t (k INT PRIMARY KEY, v TEXT)");
    q(&mut a, "INSERT INTO t VALUES (2, 'x')");
    assert_eq!(q(&mut b, "SELECT k, v FROM t"), ["2|x"]);
    // Indexes: the other session's planner sees the new index at once.
    q(&mut a, "CREATE INDEX t_v_idx ON t (v)");
    let plan = q(&mut b, "EXPLAIN SELECT k FROM t WHERE v = 'x'").join("\n");
    assert!(plan.contains("t_v_idx"), "{plan}");
    q(&mut a, "DROP INDEX t_v_idx");
    let plan = q(&mut b, "EXPLAIN SELECT k FROM t WHERE v = 'x'").join("\n");
    assert!(!plan.contains("t_v_idx"), "{plan}");
    // Databases.
    q(&mut a, "CREATE DATABASE d2");
    q(&mut b, "USE d2");
    q(&mut b, "USE defaultdb");
    q(&mut a, "DROP DATABASE d2");
    assert_eq!(err(&mut b, "USE d2").code, "3D000");
    // A DDL rolled back leaves nothing behind in the other session's view, even though the
    // DDL's own transaction filled cache entries under its uncommitted generation.
    q(&mut a, "BEGIN");
    q(&mut a, "CREATE TABLE ghost (k INT PRIMARY KEY)");
    assert!(q(&mut a, "SELECT k FROM ghost").is_empty());
    q(&mut a, "ROLLBACK");
    assert_eq!(err(&mut b, "SELECT k FROM ghost").code, "42P01");
    assert_eq!(err(&mut a, "SELECT k FROM ghost").code, "42P01");
}

#[test]
fn prepared_plans_are_reused_until_the_schema_or_settings_change() {
    let (mut a, mut b, _) = two_sessions();
    q(&mut a, "CREATE TABLE t (k INT PRIMARY KEY, v INT)");
    q(&mut a, "INSERT INTO t VALUES (1, 10), (2, 20)");
    let sql = "SELECT v FROM t WHERE k = $1";
    let slot = prepare(&mut b, sql);
    for (k, v) in [(1, "10"), (2, "20"), (1, "10")] {
        assert_eq!(
            exec(&mut b, sql, &[Datum::Int(k)], Some(&slot)).unwrap(),
            [v]
        );
    }
    assert_eq!(slot.stats(), (2, 1), "planned once, reused twice");
    // Another session's DDL (on any table) re-plans.
    q(&mut a, "CREATE TABLE other (k INT PRIMARY KEY)");
    assert_eq!(
        exec(&mut b, sql, &[Datum::Int(2)], Some(&slot)).unwrap(),
        ["20"]
    );
    assert_eq!(slot.stats(), (2, 2));
    // A setting the planner reads re-plans too.
    q(&mut b, "SET enable_implicit_select_for_update = off");
    exec(&mut b, sql, &[Datum::Int(2)], Some(&slot)).unwrap();
    assert_eq!(slot.stats(), (2, 3));
    // So does the current database: the same text now names another table.
    q(&mut a, "CREATE DATABASE d2");
    q(
        &mut a,
        "CREATE TABLE d2.public.t (k INT PRIMARY KEY, v INT)",
    );
    q(&mut a, "INSERT INTO d2.public.t VALUES (2, 99)");
    q(&mut b, "USE d2");
    assert_eq!(
        exec(&mut b, sql, &[Datum::Int(2)], Some(&slot)).unwrap(),
        ["99"]
    );
}

#[test]
fn prepared_statements_after_drop_and_recreate_behave_like_postgres() {
    let (mut a, mut b, _) = two_sessions();
    q(&mut a, "CREATE TABLE t (k INT PRIMARY KEY, v INT)");
    q(&mut a, "INSERT INTO t VALUES (1, 10)");
    let sql = "SELECT * FROM t WHERE k = $1";
    let slot = prepare(&mut b, sql);
    assert_eq!(
        exec(&mut b, sql, &[Datum::Int(1)], Some(&slot)).unwrap(),
        ["1|10"]
    );
    q(&mut a, "DROP TABLE t");
    let e = exec(&mut b, sql, &[Datum::Int(1)], Some(&slot)).unwrap_err();
    assert_eq!(e.code, "42P01");
    // Same shape again: re-planned against the new table.
    q(&mut a, "CREATE TABLE t (k INT PRIMARY KEY, v INT)");
    q(&mut a, "INSERT INTO t VALUES (1, 11)");
    assert_eq!(
        exec(&mut b, sql, &[Datum::Int(1)], Some(&slot)).unwrap(),
        ["1|11"]
    );
    // Another shape: the described result columns no longer hold (PostgreSQL's 0A000).
    q(&mut a, "DROP TABLE t");
    q(&mut a, "CREATE TABLE t (k INT PRIMARY KEY, v INT, w TEXT)");
    let e = exec(&mut b, sql, &[Datum::Int(1)], Some(&slot)).unwrap_err();
    assert_eq!(e.code, "0A000");
    assert_eq!(e.message, "cached plan must not change result type");
    // Preparing again works.
    q(&mut a, "INSERT INTO t VALUES (1, 12, 'w')");
    let slot = prepare(&mut b, sql);
    assert_eq!(
        exec(&mut b, sql, &[Datum::Int(1)], Some(&slot)).unwrap(),
        ["1|12|w"]
    );
}

#[test]
fn cached_plans_capture_no_execution_state() {
    let (mut a, _, _) = two_sessions();
    q(&mut a, "CREATE TABLE t (k INT PRIMARY KEY, v INT)");
    q(&mut a, "INSERT INTO t VALUES (1, 10)");
    // An uncorrelated subquery, a parameter and now(): all evaluated per execution.
    let sql = "SELECT (SELECT max(v) FROM t) + $1, now()::STRING FROM t WHERE k = 1";
    let slot = prepare(&mut a, sql);
    let first = exec(&mut a, sql, &[Datum::Int(1)], Some(&slot)).unwrap();
    q(&mut a, "INSERT INTO t VALUES (2, 50)");
    let second = exec(&mut a, sql, &[Datum::Int(2)], Some(&slot)).unwrap();
    assert_eq!(slot.stats(), (1, 1));
    let split = |r: &[String]| {
        let (x, t) = r[0].split_once('|').unwrap();
        (x.to_string(), t.to_string())
    };
    let (x1, t1) = split(&first);
    let (x2, t2) = split(&second);
    assert_eq!((x1.as_str(), x2.as_str()), ("11", "52"));
    assert!(
        t2 > t1,
        "now() is the executing transaction's time: {t1} then {t2}"
    );
}

#[test]
fn a_transaction_reading_a_table_dropped_concurrently_stays_serializable() {
    let (mut a, mut b, _) = two_sessions();
    q(&mut a, "CREATE TABLE t (k INT PRIMARY KEY)");
    q(&mut a, "INSERT INTO t VALUES (1)");
    q(&mut a, "BEGIN");
    assert_eq!(q(&mut a, "SELECT k FROM t"), ["1"]);
    q(&mut b, "DROP TABLE t");
    // A still reads its snapshot, where t exists.
    assert_eq!(q(&mut a, "SELECT k FROM t"), ["1"]);
    // Writing into t would need A to serialize after the DROP, which it cannot: it must fail
    // with 40001 (at the write or at COMMIT), and leave nothing behind.
    let write = exec(&mut a, "INSERT INTO t VALUES (2)", &[], None);
    let outcome = match write {
        Err(e) => Err(e),
        Ok(_) => exec(&mut a, "COMMIT", &[], None),
    };
    match outcome {
        Err(e) => assert_eq!(e.code, "40001", "{}", e.message),
        Ok(r) => panic!("A committed a write into a dropped table: {r:?}"),
    }
    let _ = exec(&mut a, "ROLLBACK", &[], None);
    assert_eq!(err(&mut a, "SELECT k FROM t").code, "42P01");
}
