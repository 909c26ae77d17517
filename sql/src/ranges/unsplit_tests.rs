//! Tests of `ALTER TABLE|INDEX ... UNSPLIT AT / UNSPLIT ALL`: parsing, the keys handed to
//! the source, the errors, and a single-node store (txn's defaults).

use super::parse::{classify, IndexRef, RangesStatement, SplitTarget};
use crate::catalog::{Catalog, TableDesc};
use crate::session::Session;
use crate::testutil::{self, local_store};
use crate::types::Datum;
use kv::keys;
use parking_lot::Mutex;
use sqlparser::ast::{Ident, ObjectName};
use std::collections::HashSet;
use std::sync::Arc;
use txn::{NodeInfo, RangeInfo, Transaction, TxnOptions, TxnSource};

/// A cluster as SQL sees it for unsplits: fixed ranges over a local store, a set of enforced
/// split keys, and the keys it was asked to unsplit.
struct Fake {
    inner: Arc<dyn TxnSource>,
    ranges: Mutex<Vec<RangeInfo>>,
    enforced: Mutex<HashSet<Vec<u8>>>,
    unsplits: Mutex<Vec<Vec<u8>>>,
}

impl TxnSource for Fake {
    fn begin(&self, opts: TxnOptions) -> txn::Result<Box<dyn Transaction>> {
        self.inner.begin(opts)
    }
    fn now(&self) -> kv::Timestamp {
        self.inner.now()
    }
    fn ranges(&self, start: &[u8], end: Option<&[u8]>) -> txn::Result<Vec<RangeInfo>> {
        let all = self.ranges.lock().clone();
        Ok(all
            .into_iter()
            .filter(|r| {
                end.is_none_or(|e| r.start.as_slice() < e)
                    && r.end.as_deref().is_none_or(|e| e > start)
            })
            .collect())
    }
    fn unsplit_at(&self, key: &[u8]) -> txn::Result<bool> {
        self.unsplits.lock().push(key.to_vec());
        Ok(self.enforced.lock().remove(key))
    }
    fn nodes(&self) -> txn::Result<Vec<NodeInfo>> {
        Ok(vec![NodeInfo {
            node_id: 1,
            address: "127.0.0.1:26257".into(),
            sql_address: "127.0.0.1:26258".into(),
            locality: String::new(),
            is_live: true,
            decommissioning: false,
            ranges: None,
            leases: None,
        }])
    }
}

fn session(txns: Arc<dyn TxnSource>) -> Session {
    Session::new(
        txns,
        Arc::new(crate::vtable::SystemTables),
        "root",
        "defaultdb",
    )
}

fn table(txns: &Arc<dyn TxnSource>, name: &str) -> Arc<TableDesc> {
    let txn = Arc::new(Mutex::new(
        txns.begin(TxnOptions::default()).expect("begin"),
    ));
    Catalog::must_table(&txn, "defaultdb", name).expect("table")
}

fn range(id: u64, start: Vec<u8>, end: Option<Vec<u8>>) -> RangeInfo {
    RangeInfo {
        range_id: id,
        start,
        end,
        replicas: vec![1],
        non_voters: Vec::new(),
        leaseholder: Some(1),
    }
}

/// Table t (k INT PRIMARY KEY) split at k = 5 and 9 (both enforced) and at its secondary
/// index (whose split at 'm' is not enforced).
fn cluster() -> (Session, Arc<Fake>, Arc<TableDesc>) {
    let fake = Arc::new(Fake {
        inner: local_store(),
        ranges: Mutex::new(Vec::new()),
        enforced: Mutex::new(HashSet::new()),
        unsplits: Mutex::new(Vec::new()),
    });
    let txns: Arc<dyn TxnSource> = fake.clone();
    let mut s = session(txns.clone());
    testutil::ok(&mut s, "CREATE TABLE t (k INT PRIMARY KEY, v TEXT)");
    testutil::ok(&mut s, "CREATE INDEX t_v_idx ON t (v)");
    let t = table(&txns, "t");
    let pk = |k: i64| crate::storage::index_key_prefix(&t, &t.primary, &[Datum::Int(k)]).unwrap();
    let idx = t.index_by_name("t_v_idx").unwrap().clone();
    let idx_start = keys::index_prefix(t.id, idx.id);
    let idx_m = crate::storage::index_key_prefix(&t, &idx, &[Datum::Text("m".into())]).unwrap();
    *fake.ranges.lock() = vec![
        range(1, Vec::new(), Some(keys::table_prefix(t.id))),
        range(2, keys::table_prefix(t.id), Some(pk(5))),
        range(3, pk(5), Some(pk(9))),
        range(4, pk(9), Some(idx_start.clone())),
        range(5, idx_start, Some(idx_m.clone())),
        range(6, idx_m, None),
    ];
    fake.enforced.lock().extend([pk(5), pk(9)]);
    (s, fake, t)
}

fn name(n: &str) -> ObjectName {
    ObjectName::from(vec![Ident::new(n)])
}

fn parsed(sql: &str) -> Option<RangesStatement> {
    classify(&crate::parser::parse(sql).expect(sql).remove(0))
}

#[test]
fn unsplit_statements_parse() {
    let Some(RangesStatement::Unsplit { target, rows }) =
        parsed("ALTER TABLE t UNSPLIT AT VALUES (1), (2)")
    else {
        panic!("not an unsplit");
    };
    assert_eq!(target, SplitTarget::Table(name("t")));
    assert_eq!(rows.expect("rows").to_string(), "VALUES (1), (2)");
    assert_eq!(
        parsed("ALTER INDEX t@i UNSPLIT ALL"),
        Some(RangesStatement::Unsplit {
            target: SplitTarget::Index(IndexRef {
                name: name("t"),
                index: Some(Ident::new("i")),
            }),
            rows: None,
        })
    );
    assert_eq!(
        parsed("alter table t unsplit all"),
        Some(RangesStatement::Unsplit {
            target: SplitTarget::Table(name("t")),
            rows: None,
        })
    );
    // SPLIT AT is still a split.
    assert!(matches!(
        parsed("ALTER TABLE t SPLIT AT VALUES (1)"),
        Some(RangesStatement::Split { .. })
    ));
    assert!(crate::parser::parse("ALTER TABLE t@i UNSPLIT ALL").is_err());
}

#[test]
fn unsplit_at_unsplits_each_row_key() {
    let (mut s, fake, t) = cluster();
    let pk = |k: i64| crate::storage::index_key_prefix(&t, &t.primary, &[Datum::Int(k)]).unwrap();
    let rows = testutil::ok(&mut s, "ALTER TABLE t UNSPLIT AT VALUES (5)");
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0].ends_with(&format!("|/Table/{}/1/5", t.id)),
        "{rows:?}"
    );
    assert_eq!(*fake.unsplits.lock(), [pk(5)]);
    // Again: not enforced any more, still a range start: a no-op that lists the key.
    let rows = testutil::ok(&mut s, "ALTER TABLE t UNSPLIT AT SELECT 5");
    assert_eq!(rows.len(), 1);
    // A key that no range starts at: nothing is unsplit.
    fake.unsplits.lock().clear();
    let e = testutil::err(&mut s, "ALTER TABLE t UNSPLIT AT VALUES (9), (7)");
    assert_eq!(e.code, "22023");
    assert_eq!(
        e.message,
        format!(
            "could not UNSPLIT AT /Table/{id}/1/7: key /Table/{id}/1/7 is not the start of a range",
            id = t.id
        )
    );
    assert!(fake.unsplits.lock().is_empty());
    for (sql, code) in [
        ("ALTER TABLE nope UNSPLIT AT VALUES (1)", "42P01"),
        ("ALTER INDEX t@nope UNSPLIT ALL", "42704"),
        ("ALTER TABLE t UNSPLIT AT VALUES (1, 2)", "42601"),
        ("ALTER TABLE t UNSPLIT AT VALUES (true)", "42804"),
    ] {
        let e = testutil::err(&mut s, sql);
        assert_eq!(e.code, code, "{sql}: {}", e.message);
    }
}

#[test]
fn unsplit_all_unsplits_the_enforced_splits_inside_the_index() {
    let (mut s, fake, t) = cluster();
    let pk = |k: i64| crate::storage::index_key_prefix(&t, &t.primary, &[Datum::Int(k)]).unwrap();
    fake.enforced.lock().remove(&pk(9));
    let rows = testutil::ok(&mut s, "ALTER TABLE t UNSPLIT ALL");
    // Both splits inside the primary index are asked; only the enforced one is listed; the
    // table's own boundary and the secondary index's ranges are left alone.
    assert_eq!(*fake.unsplits.lock(), [pk(5), pk(9)]);
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0].ends_with(&format!("|/Table/{}/1/5", t.id)),
        "{rows:?}"
    );
    fake.unsplits.lock().clear();
    testutil::ok(&mut s, "ALTER INDEX t@t_v_idx UNSPLIT ALL");
    assert_eq!(fake.unsplits.lock().len(), 1, "the split at 'm' only");
}

#[test]
fn unsplit_on_a_single_node_store() {
    let txns = local_store();
    let mut s = session(txns);
    testutil::ok(&mut s, "CREATE TABLE t (k INT PRIMARY KEY)");
    assert!(testutil::ok(&mut s, "ALTER TABLE t UNSPLIT ALL").is_empty());
    let e = testutil::err(&mut s, "ALTER TABLE t UNSPLIT AT VALUES (1)");
    assert_eq!(e.code, "22023", "{}", e.message);
}
