//! Tests of SHOW RANGES, SPLIT AT and the crdb_internal tables: on a plain single-node store
//! (txn's defaults), and on a fake cluster source that reports fixed ranges and nodes and
//! records the keys it is asked to split at.

use super::parse::{classify, RangesStatement, ShowTarget, SplitTarget};
use crate::catalog::{Catalog, TableDesc};
use crate::context::ExecResult;
use crate::session::Session;
use crate::testutil::{self, local_store, Hooked, TxnHooks};
use crate::types::Datum;
use crate::Error;
use kv::keys;
use parking_lot::Mutex;
use std::sync::Arc;
use txn::{NodeInfo, RangeInfo, TxnOptions, TxnSource};

/// A cluster as SQL sees it: fixed ranges and nodes over a local store; splits recorded.
struct FakeCluster {
    ranges: Mutex<Vec<RangeInfo>>,
    nodes: Vec<NodeInfo>,
    splits: Mutex<Vec<Vec<u8>>>,
}

impl TxnHooks for FakeCluster {
    fn ranges(
        &self,
        _inner: &dyn TxnSource,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> txn::Result<Vec<RangeInfo>> {
        Ok(self
            .ranges
            .lock()
            .iter()
            .filter(|r| {
                end.is_none_or(|e| r.start.as_slice() < e)
                    && r.end.as_deref().is_none_or(|e| e > start)
            })
            .cloned()
            .collect())
    }
    fn split_at(&self, _inner: &dyn TxnSource, key: &[u8]) -> txn::Result<()> {
        self.splits.lock().push(key.to_vec());
        Ok(())
    }
    fn nodes(&self, _inner: &dyn TxnSource) -> txn::Result<Vec<NodeInfo>> {
        Ok(self.nodes.clone())
    }
}

fn node(id: u64, zone: &str, live: bool) -> NodeInfo {
    NodeInfo {
        node_id: id,
        address: format!("127.0.0.{id}:26257"),
        sql_address: format!("127.0.0.{id}:26258"),
        locality: format!("region=us-east1,zone={zone}"),
        is_live: live,
        decommissioning: false,
        ranges: Some(5),
        leases: if live { Some(2) } else { None },
    }
}

fn range(id: u64, start: Vec<u8>, end: Option<Vec<u8>>, replicas: &[u64], lh: u64) -> RangeInfo {
    RangeInfo {
        range_id: id,
        start,
        end,
        replicas: replicas.to_vec(),
        non_voters: Vec::new(),
        leaseholder: Some(lh),
    }
}

struct Harness {
    session: Session,
    txns: Arc<dyn TxnSource>,
}

fn harness(txns: Arc<dyn TxnSource>) -> Harness {
    let session = Session::new(
        txns.clone(),
        Arc::new(crate::vtable::SystemTables),
        "root",
        "defaultdb",
    );
    Harness { session, txns }
}

impl Harness {
    fn ok(&mut self, sql: &str) -> Vec<String> {
        testutil::ok(&mut self.session, sql)
    }

    fn err(&mut self, sql: &str) -> Error {
        testutil::err(&mut self.session, sql)
    }

    /// The raw result rows of one statement.
    fn raw(&mut self, sql: &str) -> Vec<Vec<Datum>> {
        let stmt = crate::parser::parse(sql).expect("parse").remove(0);
        let r = self.session.execute(&stmt, &[]).expect(sql);
        let ExecResult::Rows { rows, .. } = r else {
            panic!("{sql}: no rows")
        };
        let rows = rows.collect::<Result<Vec<_>, _>>().expect("rows");
        self.session.finish_statement(Ok(())).expect("finish");
        rows
    }

    fn table(&self, name: &str) -> Arc<TableDesc> {
        let txn = Arc::new(Mutex::new(
            self.txns.begin(TxnOptions::default()).expect("begin"),
        ));
        Catalog::must_table(&txn, "defaultdb", name).expect("table")
    }

    /// Every key stored under `prefix`, in order.
    fn keys_under(&self, prefix: &[u8]) -> Vec<Vec<u8>> {
        let mut txn = self.txns.begin(TxnOptions::default()).expect("begin");
        let end = keys::prefix_end(prefix);
        let page = txn.scan(prefix, end.as_deref(), 10_000).expect("scan");
        page.rows.into_iter().map(|(k, _)| k).collect()
    }
}

#[test]
fn parses_every_form() {
    let show = |sql: &str| match classify(&crate::parser::parse(sql).unwrap()[0]) {
        Some(RangesStatement::Show(t)) => t,
        other => panic!("{sql}: {other:?}"),
    };
    assert_eq!(show("SHOW RANGES"), ShowTarget::Current);
    assert_eq!(
        show("show ranges from current_catalog"),
        ShowTarget::Current
    );
    assert!(matches!(show("SHOW RANGES FROM TABLE db.public.t"),
        ShowTarget::Table(n) if n.to_string() == "db.public.t"));
    assert!(matches!(
        show("SHOW RANGES FROM DATABASE d"),
        ShowTarget::Database(_)
    ));
    match show("SHOW RANGES FROM INDEX t@\"Idx\"") {
        ShowTarget::Index(r) => {
            assert_eq!(r.name.to_string(), "t");
            assert_eq!(r.index.unwrap().to_string(), "\"Idx\"");
        }
        other => panic!("{other:?}"),
    }
    match show("SHOW RANGES FROM INDEX public.i") {
        ShowTarget::Index(r) => {
            assert_eq!(r.name.to_string(), "public.i");
            assert!(r.index.is_none());
        }
        other => panic!("{other:?}"),
    }
    let split = |sql: &str| match classify(&crate::parser::parse(sql).unwrap()[0]) {
        Some(RangesStatement::Split { target, rows }) => (target, rows.to_string()),
        other => panic!("{sql}: {other:?}"),
    };
    let (t, rows) = split("ALTER TABLE t SPLIT AT VALUES (1), (2)");
    assert!(matches!(t, SplitTarget::Table(n) if n.to_string() == "t"));
    assert_eq!(rows, "VALUES (1), (2)");
    let (t, rows) = split("alter index db.public.t@i split at select k from u");
    assert!(
        matches!(&t, SplitTarget::Index(r) if r.name.to_string() == "db.public.t"
        && r.index.as_ref().unwrap().value == "i")
    );
    assert_eq!(rows, "SELECT k FROM u");
    // A table called "split" still splits; other ALTERs and SHOWs are untouched.
    assert!(matches!(
        split("ALTER TABLE split SPLIT AT VALUES (1)").0,
        SplitTarget::Table(_)
    ));
    for sql in [
        "ALTER TABLE t ADD COLUMN c INT",
        "SHOW search_path",
        "SELECT 1",
    ] {
        let stmts = crate::parser::parse(sql).unwrap();
        assert!(classify(&stmts[0]).is_none(), "{sql}");
    }
}

#[test]
fn syntax_errors_are_42601() {
    for sql in [
        "SHOW RANGES FROM",
        "SHOW RANGES FROM SCHEMA s",
        "SHOW RANGES FROM TABLE",
        "SHOW RANGES FROM TABLE t extra",
        "ALTER TABLE t SPLIT AT",
        "ALTER TABLE t@i SPLIT AT VALUES (1)",
    ] {
        let e = crate::parser::parse(sql).unwrap_err();
        assert_eq!(e.code, "42601", "{sql}: {}", e.message);
    }
}

#[test]
fn single_node_defaults() {
    let mut h = harness(local_store());
    h.ok("CREATE TABLE t (k INT PRIMARY KEY, v TEXT)");
    assert_eq!(
        h.ok("SHOW RANGES FROM TABLE t"),
        ["<before:/Min>|<after:/Max>|1|{1}|{NULL}|1|NULL|{1}|{}"]
    );
    assert_eq!(
        h.ok("SHOW RANGES"),
        ["/Min|/Max|1|{1}|{NULL}|1|NULL|{1}|{}"]
    );
    assert_eq!(
        h.ok("SHOW RANGES FROM INDEX t@t_pkey"),
        ["<before:/Min>|<after:/Max>|1|{1}|{NULL}|1|NULL|{1}|{}"]
    );
    let e = h.err("ALTER TABLE t SPLIT AT VALUES (5)");
    assert_eq!(e.code, "0A000", "{}", e.message);
    assert_eq!(e.message, "ranges cannot be split on a single-node store");
    assert_eq!(
        h.ok("SELECT range_id, start_pretty, end_pretty, replicas, lease_holder FROM crdb_internal.ranges"),
        ["1|/Min|/Max|{1}|1"]
    );
    assert!(h.ok("SELECT * FROM crdb_internal.gossip_nodes").is_empty());
    // The session is usable afterwards, inside a transaction too.
    h.ok("BEGIN");
    assert_eq!(h.ok("SHOW RANGES FROM DATABASE defaultdb").len(), 1);
    h.ok("COMMIT");
}

/// A fake cluster whose ranges split table `t` (created here) at pk 5, at its second index,
/// and at `"m"` in that index.
fn cluster() -> (Harness, Arc<FakeCluster>, Arc<TableDesc>) {
    let txns = Hooked::new(
        local_store(),
        FakeCluster {
            ranges: Mutex::new(Vec::new()),
            nodes: vec![node(1, "a", true), node(2, "b", true), node(3, "c", false)],
            splits: Mutex::new(Vec::new()),
        },
    );
    let fake = txns.hooks.clone();
    let mut h = harness(txns);
    h.ok("CREATE TABLE t (k INT PRIMARY KEY, v TEXT)");
    h.ok("CREATE INDEX t_v_idx ON t (v)");
    let t = h.table("t");
    let idx = t.index_by_name("t_v_idx").expect("index").clone();
    let pk5 = crate::storage::index_key_prefix(&t, &t.primary, &[Datum::Int(5)]).unwrap();
    let idx_start = keys::index_prefix(t.id, idx.id);
    let idx_m = crate::storage::index_key_prefix(&t, &idx, &[Datum::Text("m".into())]).unwrap();
    *fake.ranges.lock() = vec![
        range(1, Vec::new(), Some(keys::table_prefix(t.id)), &[1, 2, 3], 1),
        range(
            2,
            keys::table_prefix(t.id),
            Some(pk5.clone()),
            &[1, 2, 3],
            2,
        ),
        range(3, pk5, Some(idx_start.clone()), &[1, 2], 2),
        range(4, idx_start, Some(idx_m.clone()), &[2, 3], 3),
        range(5, idx_m, None, &[1, 3], 1),
    ];
    (h, fake, t)
}

/// `(start_key, end_key, range_id)` of a SHOW RANGES result.
fn spans(rows: &[Vec<Datum>]) -> Vec<(String, String, i64)> {
    rows.iter()
        .map(|r| match (&r[0], &r[1], &r[2]) {
            (Datum::Text(s), Datum::Text(e), Datum::Int(id)) => (s.clone(), e.clone(), *id),
            other => panic!("{other:?}"),
        })
        .collect()
}

fn span(s: &str, e: &str, id: i64) -> (String, String, i64) {
    (s.to_string(), e.to_string(), id)
}

#[test]
fn show_ranges_from_table_on_a_cluster() {
    let (mut h, _fake, _t) = cluster();
    let raw = h.raw("SHOW RANGES FROM TABLE t");
    assert_eq!(
        spans(&raw),
        [
            span("…/<TableMin>", "…/1/5", 2),
            span("…/1/5", "…/2", 3),
            span("…/2", "…/2/\"m\"", 4),
            span("…/2/\"m\"", "<after:/Max>", 5),
        ]
    );
    let zone = |z: &str| Datum::Text(format!("region=us-east1,zone={z}"));
    // Range 1 ends where the table starts: it holds none of it.
    // Range 4: replicas, their localities, the lease holder and its locality.
    assert_eq!(
        raw[2][3..],
        [
            Datum::Array(vec![Datum::Int(2), Datum::Int(3)]),
            Datum::Array(vec![zone("b"), zone("c")]),
            Datum::Int(3),
            zone("c"),
            Datum::Array(vec![Datum::Int(2), Datum::Int(3)]),
            Datum::Array(vec![]),
        ]
    );
    // The text form PostgreSQL clients see.
    let text = h.ok("SHOW RANGES FROM TABLE t");
    assert_eq!(
        text[1],
        "…/1/5|…/2|3|{1,2}|{\"region=us-east1,zone=a\",\"region=us-east1,zone=b\"}|2|region=us-east1,zone=b|{1,2}|{}"
    );
}

#[test]
fn show_ranges_from_index_and_database_on_a_cluster() {
    let (mut h, _fake, t) = cluster();
    let id = t.id;
    // Only the two ranges inside the index: range 3 ends exactly where the index starts.
    assert_eq!(
        spans(&h.raw("SHOW RANGES FROM INDEX t@t_v_idx")),
        [
            span("…/<IndexMin>", "…/\"m\"", 4),
            span("…/\"m\"", "<after:/Max>", 5),
        ]
    );
    // A bare index name is searched in the current database.
    assert_eq!(h.raw("SHOW RANGES FROM INDEX t_v_idx").len(), 2);
    // The primary index: range 3 runs past its end.
    assert_eq!(
        spans(&h.raw("SHOW RANGES FROM INDEX t@primary")),
        [
            span(&format!("<before:/Table/{id}>"), "…/5", 2),
            span("…/5", "…/<IndexMax>", 3),
        ]
    );
    // The database form shows full keys.
    let raw = h.raw("SHOW RANGES FROM DATABASE defaultdb");
    assert_eq!(
        spans(&raw),
        [
            span(&format!("/Table/{id}"), &format!("/Table/{id}/1/5"), 2),
            span(&format!("/Table/{id}/1/5"), &format!("/Table/{id}/2"), 3),
            span(
                &format!("/Table/{id}/2"),
                &format!("/Table/{id}/2/\"m\""),
                4
            ),
            span(&format!("/Table/{id}/2/\"m\""), "/Max", 5),
        ]
    );
    assert_eq!(spans(&h.raw("SHOW RANGES")), spans(&raw));
}

#[test]
fn split_at_uses_the_executors_key_encoding() {
    let (mut h, fake, t) = cluster();
    let rows = h.raw("ALTER TABLE t SPLIT AT VALUES (10), (20)");
    h.ok("INSERT INTO t VALUES (10, 'm'), (20, 'zz'), (3, NULL)");
    let splits = fake.splits.lock().clone();
    // The split keys are exactly the primary keys the executor wrote for k = 10 and 20.
    let written = h.keys_under(&keys::index_prefix(t.id, t.primary.id));
    assert_eq!(written.len(), 3);
    assert_eq!(splits, [written[1].clone(), written[2].clone()]);
    assert_eq!(
        rows,
        [
            vec![
                Datum::Bytes(written[1].clone()),
                Datum::Text(format!("/Table/{}/1/10", t.id)),
                Datum::Null,
            ],
            vec![
                Datum::Bytes(written[2].clone()),
                Datum::Text(format!("/Table/{}/1/20", t.id)),
                Datum::Null,
            ],
        ]
    );
    // A secondary index: the split key is the prefix of the entry written for v = 'm'.
    fake.splits.lock().clear();
    h.ok("ALTER INDEX t@t_v_idx SPLIT AT VALUES ('m')");
    let idx = t.index_by_name("t_v_idx").unwrap();
    let entries = h.keys_under(&keys::index_prefix(t.id, idx.id));
    let split = fake.splits.lock()[0].clone();
    let with_m: Vec<_> = entries.iter().filter(|e| e.starts_with(&split)).collect();
    assert_eq!(
        with_m.len(),
        1,
        "exactly the 'm' entry starts with the split key"
    );
    assert_eq!(
        split,
        crate::storage::index_key_prefix(&t, idx, &[Datum::Text("m".into())]).unwrap()
    );
    // SPLIT AT SELECT, and text literals typed by the column.
    fake.splits.lock().clear();
    h.ok("ALTER TABLE t SPLIT AT SELECT k FROM t WHERE k < 15 ORDER BY k");
    h.ok("ALTER TABLE t SPLIT AT VALUES ('7')");
    assert_eq!(
        *fake.splits.lock(),
        [
            written[0].clone(),
            written[1].clone(),
            crate::storage::index_key_prefix(&t, &t.primary, &[Datum::Int(7)]).unwrap(),
        ]
    );
}

#[test]
fn split_at_a_prefix_of_a_composite_descending_key() {
    let (mut h, fake, _) = cluster();
    h.ok("CREATE TABLE c (a INT, b TEXT, x FLOAT8, PRIMARY KEY (a DESC, b))");
    let c = h.table("c");
    h.ok("ALTER TABLE c SPLIT AT VALUES (1)");
    h.ok("ALTER TABLE c SPLIT AT VALUES (2, 'x')");
    h.ok("INSERT INTO c VALUES (2, 'x', 1.5), (1, 'a', 0)");
    let written = h.keys_under(&keys::index_prefix(c.id, c.primary.id));
    let splits = fake.splits.lock().clone();
    assert_eq!(splits.len(), 2);
    // Descending a: (2,'x') sorts first. The one-column split is a proper prefix of a=1's key.
    assert_eq!(splits[1], written[0]);
    assert!(written[1].starts_with(&splits[0]) && written[1] != splits[0]);
    let pretty = h.ok("ALTER TABLE c SPLIT AT VALUES (2, 'x')");
    assert!(
        pretty[0].ends_with(&format!("|/Table/{}/1/2/\"x\"|NULL", c.id)),
        "{pretty:?}"
    );
}

#[test]
fn split_at_errors() {
    let (mut h, fake, _) = cluster();
    for (sql, code) in [
        ("ALTER TABLE nope SPLIT AT VALUES (1)", "42P01"),
        ("ALTER INDEX nope@i SPLIT AT VALUES (1)", "42P01"),
        ("ALTER INDEX t@nope SPLIT AT VALUES (1)", "42704"),
        ("ALTER INDEX nope SPLIT AT VALUES (1)", "42704"),
        ("ALTER TABLE t SPLIT AT VALUES (1, 2)", "42601"),
        ("ALTER TABLE t SPLIT AT VALUES ('abc')", "22P02"),
        ("ALTER TABLE t SPLIT AT VALUES (true)", "42804"),
        ("ALTER TABLE t SPLIT AT SELECT 1 FROM nope", "42P01"),
        ("SHOW RANGES FROM TABLE nope", "42P01"),
        ("SHOW RANGES FROM INDEX t@nope", "42704"),
        ("SHOW RANGES FROM DATABASE nope", "3D000"),
    ] {
        let e = h.err(sql);
        assert_eq!(e.code, code, "{sql}: {}", e.message);
    }
    assert!(fake.splits.lock().is_empty(), "no split happened");
    let e = h.err("ALTER TABLE t SPLIT AT VALUES (true)");
    assert_eq!(
        e.message,
        "SPLIT AT data column 1 (k) must be of type integer, not type boolean"
    );
}

#[test]
fn crdb_internal_tables_on_a_cluster() {
    let (mut h, _fake, t) = cluster();
    assert_eq!(
        h.ok("SELECT node_id, address, sql_address, locality, is_live, ranges, leases FROM crdb_internal.gossip_nodes ORDER BY node_id"),
        [
            "1|127.0.0.1:26257|127.0.0.1:26258|region=us-east1,zone=a|t|5|2",
            "2|127.0.0.2:26257|127.0.0.2:26258|region=us-east1,zone=b|t|5|2",
            "3|127.0.0.3:26257|127.0.0.3:26258|region=us-east1,zone=c|f|5|NULL",
        ]
    );
    assert_eq!(
        h.ok("SELECT range_id, start_pretty, end_pretty, lease_holder FROM crdb_internal.ranges WHERE lease_holder = 2 ORDER BY range_id"),
        [
            format!("2|/Table/{0}|/Table/{0}/1/5|2", t.id),
            format!("3|/Table/{0}/1/5|/Table/{0}/2|2", t.id),
        ]
    );
    let raw = h.raw("SELECT start_key, end_key FROM crdb_internal.ranges WHERE range_id = 5");
    assert_eq!(raw[0][1], Datum::Null, "the last range has no end key");
}

#[test]
fn pgwire_describe_and_single_node_errors() {
    let server = crate::server::TestServer::start().expect("server");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&server.url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
            .batch_execute("CREATE TABLE t (k INT PRIMARY KEY)")
            .await
            .unwrap();
        // Extended protocol: Describe reports the columns without running anything.
        let stmt = client.prepare("SHOW RANGES FROM TABLE t").await.unwrap();
        let names: Vec<&str> = stmt.columns().iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            [
                "start_key",
                "end_key",
                "range_id",
                "replicas",
                "replica_localities",
                "lease_holder",
                "lease_holder_locality",
                "voting_replicas",
                "non_voting_replicas"
            ]
        );
        let rows = client.query(&stmt, &[]).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get::<_, String>(0), "<before:/Min>");
        assert_eq!(rows[0].get::<_, i64>(2), 1);
        assert_eq!(rows[0].get::<_, Vec<i64>>(3), vec![1]);
        let e = client
            .query("ALTER TABLE t SPLIT AT VALUES ($1::INT8)", &[&5i64])
            .await
            .unwrap_err();
        let db = e.as_db_error().unwrap_or_else(|| panic!("{e}"));
        assert_eq!(db.code().code(), "0A000");
        assert_eq!(
            db.message(),
            "ranges cannot be split on a single-node store"
        );
        // The connection is still fine.
        let rows = client
            .query("SELECT count(*) FROM crdb_internal.ranges", &[])
            .await
            .unwrap();
        assert_eq!(rows[0].get::<_, i64>(0), 1);
    });
}

#[test]
fn explain_is_refused_and_pretty_prints_other_keys() {
    let (mut h, _fake, t) = cluster();
    for sql in [
        "EXPLAIN ALTER TABLE t SPLIT AT VALUES (1)",
        "EXPLAIN SHOW RANGES FROM TABLE t",
    ] {
        let e = h.err(sql);
        assert_eq!(e.code, "0A000", "{sql}: {}", e.message);
    }
    let txn = Arc::new(Mutex::new(
        h.txns.begin(TxnOptions::default()).expect("begin"),
    ));
    let mut p = super::pretty::KeyPrinter::new(&txn);
    assert_eq!(p.start(&[]), "/Min");
    assert_eq!(p.end(None), "/Max");
    assert_eq!(p.full(&[keys::SYSTEM_PREFIX, 5, 1, 2]), "/System/5/0x0102");
    assert_eq!(p.full(&[keys::META_PREFIX, 0xab]), "/Meta/0xab");
    assert_eq!(p.full(&[0x7f]), "/0x7f");
    // A table the catalog does not know: ids decode, the columns stay raw.
    let mut k = keys::index_prefix(9999, 1);
    kv::encoding::encode_i64(&mut k, 1, kv::encoding::Direction::Asc);
    assert_eq!(p.full(&k), "/Table/9999/1/0x208000000000000001");
    // Truncated or trailing bytes are shown raw after what decoded.
    let mut k = crate::storage::index_key_prefix(&t, &t.primary, &[Datum::Int(4)]).unwrap();
    k.push(0x00);
    assert_eq!(p.full(&k), format!("/Table/{}/1/4/0x00", t.id));
    assert_eq!(p.full(&keys::table_prefix(t.id)[..5]), "/Table/0x00000000");
}
