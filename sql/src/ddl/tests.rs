//! DDL tests through a LocalTxnManager on a MemoryEngine.

use crate::catalog::testutil::{begin, commit, context, err, ok, run, store};
use crate::catalog::{Catalog, TableDesc};
use crate::context::ExecContext;
use crate::error::code;
use crate::storage;
use crate::types::{DataType, Datum};
use kv::encoding::Direction;
use std::sync::Arc;

fn table(ctx: &ExecContext, name: &str) -> Arc<TableDesc> {
    Catalog::must_table(&ctx.txn, &ctx.database, name).unwrap()
}

fn texts(rows: &[Vec<Datum>], col: usize) -> Vec<String> {
    rows.iter()
        .map(|r| match &r[col] {
            Datum::Text(s) => s.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn bootstrap_is_idempotent() {
    let m = store();
    crate::catalog::bootstrap(m.as_ref()).unwrap();
    let ctx = context(&m);
    let (_, rows) = ok(&ctx, "SHOW DATABASES");
    assert_eq!(texts(&rows, 0), ["defaultdb", "postgres", "system"]);
}

#[test]
fn create_table_builds_the_descriptor() {
    let m = store();
    let ctx = context(&m);
    let (tag, _) = ok(
        &ctx,
        "CREATE TABLE Orders (id INT8, \"Code\" VARCHAR(10) NOT NULL UNIQUE, qty INT DEFAULT 1 + 1 \
         CHECK (qty > 0), price DECIMAL(10,2), note TEXT NULL, PRIMARY KEY (id, \"Code\" DESC), \
         CHECK (price > 0 AND qty < 100), UNIQUE (qty, price))",
    );
    assert_eq!(tag, "CREATE TABLE");
    assert!(Catalog::table(&ctx.txn, "defaultdb", "Orders")
        .unwrap()
        .is_none());
    let t = table(&ctx, "orders");
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "Code", "qty", "price", "note"]);
    assert_eq!(t.columns[1].ty, DataType::Varchar(Some(10)));
    assert!(!t.columns[0].nullable, "primary key columns are NOT NULL");
    assert!(t.columns[4].nullable);
    assert_eq!(t.columns[2].default_expr.as_deref(), Some("1 + 1"));
    assert_eq!(t.primary.name, "orders_pkey");
    assert_eq!(
        t.primary.columns,
        vec![(0, Direction::Asc), (1, Direction::Desc)]
    );
    let idx: Vec<(&str, bool)> = t
        .indexes
        .iter()
        .map(|i| (i.name.as_str(), i.unique))
        .collect();
    assert_eq!(
        idx,
        [("orders_Code_key", true), ("orders_qty_price_key", true)]
    );
    let checks: Vec<(&str, &str)> = t
        .checks
        .iter()
        .map(|c| (c.name.as_str(), c.expr.as_str()))
        .collect();
    assert_eq!(
        checks,
        [
            ("orders_qty_check", "qty > 0"),
            ("orders_check", "price > 0 AND qty < 100")
        ]
    );
    assert!(!t.has_hidden_rowid());
}

#[test]
fn create_table_errors_match_postgres() {
    let m = store();
    let ctx = context(&m);
    ok(&ctx, "CREATE TABLE t (a INT PRIMARY KEY)");
    let e = err(&ctx, "CREATE TABLE t (b INT)");
    assert_eq!(
        (e.code, e.message.as_str()),
        (code::DUPLICATE_TABLE, "relation \"t\" already exists")
    );
    ok(&ctx, "CREATE TABLE IF NOT EXISTS t (b INT)");
    assert_eq!(table(&ctx, "t").columns[0].name, "a");
    let e = err(&ctx, "CREATE TABLE d (a INT, A TEXT)");
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            code::DUPLICATE_COLUMN,
            "column \"a\" specified more than once"
        )
    );
    let e = err(
        &ctx,
        "CREATE TABLE m (a INT PRIMARY KEY, b INT, PRIMARY KEY (b))",
    );
    assert_eq!(e.code, code::INVALID_TABLE_DEFINITION);
    assert_eq!(
        e.message,
        "multiple primary keys for table \"m\" are not allowed"
    );
    let e = err(&ctx, "CREATE TABLE k (a INT, PRIMARY KEY (nope))");
    assert_eq!(e.code, code::UNDEFINED_COLUMN);
    let e = err(&ctx, "CREATE TABLE c (a INT CHECK (b > 0))");
    assert_eq!(e.code, code::UNDEFINED_COLUMN);
    let e = err(&ctx, "CREATE TABLE other.t (a INT)");
    assert_eq!(e.code, code::INVALID_SCHEMA_NAME);
    let e = err(&ctx, "CREATE TABLE nodb.public.t (a INT)");
    assert_eq!(e.code, code::UNDEFINED_DATABASE);
    let e = err(&ctx, "CREATE TABLE f (a INT REFERENCES t (a))");
    assert_eq!(e.code, code::FEATURE_NOT_SUPPORTED);
    // An index name is a relation name too.
    let e = err(&ctx, "CREATE TABLE t_pkey (a INT)");
    assert_eq!(e.code, code::DUPLICATE_TABLE);
    // DEFAULT and CHECK are bound at CREATE TABLE.
    let e = err(&ctx, "CREATE TABLE x (a INT DEFAULT true)");
    assert_eq!(e.code, code::DATATYPE_MISMATCH);
    let e = err(&ctx, "CREATE TABLE x (a INT CHECK (a + 1))");
    assert_eq!(
        e.message,
        "argument of CHECK must be type boolean, not type integer"
    );
    let e = err(&ctx, "CREATE TABLE x (a INT, b INT DEFAULT a)");
    assert_eq!(e.code, code::UNDEFINED_COLUMN);
    ok(&ctx, "CREATE TABLE x (a TIMESTAMPTZ DEFAULT now(), b TEXT DEFAULT 'x', c INT8 DEFAULT unique_rowid())");
    // CockroachDB's inline INDEX.
    ok(&ctx, "CREATE TABLE w (a INT, b INT, INDEX w_ab (a, b))");
    let w = table(&ctx, "w");
    assert_eq!(w.columns.len(), 3);
    assert_eq!(w.indexes[0].name, "w_ab");
    assert_eq!(
        w.indexes[0].columns,
        vec![(0, Direction::Asc), (1, Direction::Asc)]
    );
}

#[test]
fn hidden_rowid_and_serial_follow_cockroachdb() {
    let m = store();
    let ctx = context(&m);
    ok(&ctx, "CREATE TABLE h (a SERIAL, rowid TEXT)");
    let t = table(&ctx, "h");
    assert!(t.has_hidden_rowid());
    let r = &t.columns[2];
    assert_eq!(
        (r.name.as_str(), &r.ty, r.hidden),
        ("rowid_1", &DataType::Int8, true)
    );
    assert_eq!(r.default_expr.as_deref(), Some("unique_rowid()"));
    let a = &t.columns[0];
    assert_eq!(
        (&a.ty, a.nullable, a.default_expr.as_deref()),
        (&DataType::Int8, false, Some("unique_rowid()"))
    );
    let (_, rows) = ok(&ctx, "SHOW CREATE TABLE h");
    assert_eq!(
        texts(&rows, 1)[0],
        "CREATE TABLE public.h (\n\ta INT8 NOT NULL DEFAULT unique_rowid(),\n\trowid STRING NULL,\n\t\
         rowid_1 INT8 NOT VISIBLE NOT NULL DEFAULT unique_rowid(),\n\tCONSTRAINT h_pkey PRIMARY KEY (rowid_1 ASC)\n)"
    );
}

#[test]
fn show_statements_describe_the_schema() {
    let m = store();
    let ctx = context(&m);
    ok(&ctx, "CREATE TABLE s (a INT PRIMARY KEY, b TEXT NOT NULL DEFAULT 'x', c BOOL, CONSTRAINT pos CHECK (a > 0))");
    ok(&ctx, "CREATE UNIQUE INDEX s_bc ON s (b DESC, c)");
    ok(&ctx, "CREATE TABLE r (x INT)");
    let (_, rows) = ok(&ctx, "SHOW TABLES");
    assert_eq!(texts(&rows, 1), ["r", "s"]);
    assert_eq!(texts(&rows, 0), ["public", "public"]);
    let (_, rows) = ok(&ctx, "SHOW TABLES FROM defaultdb");
    assert_eq!(rows.len(), 2);
    let (_, rows) = ok(&ctx, "SHOW COLUMNS FROM s");
    assert_eq!(
        texts(&rows, 0),
        ["a", "s", "c"].map(|n| if n == "s" { "b" } else { n })
    );
    assert_eq!(texts(&rows, 1), ["INT4", "STRING", "BOOL"]);
    assert_eq!(texts(&rows, 3), ["Null", "'x'", "Null"]);
    assert_eq!(
        texts(&rows, 5),
        ["{s_pkey,s_bc}", "{s_pkey,s_bc}", "{s_pkey,s_bc}"]
    );
    let (_, rows) = ok(&ctx, "SHOW CREATE TABLE s");
    assert_eq!(
        texts(&rows, 1)[0],
        "CREATE TABLE public.s (\n\ta INT4 NOT NULL,\n\tb STRING NOT NULL DEFAULT 'x',\n\tc BOOL NULL,\n\t\
         CONSTRAINT s_pkey PRIMARY KEY (a ASC),\n\tUNIQUE INDEX s_bc (b DESC, c ASC),\n\t\
         CONSTRAINT pos CHECK (a > 0)\n)"
    );
    let (_, rows) = ok(&ctx, "SHOW INDEXES FROM s");
    let (names, cols, dirs) = (texts(&rows, 1), texts(&rows, 4), texts(&rows, 5));
    let summary: Vec<String> = (0..rows.len())
        .map(|i| format!("{}.{}.{}", names[i], cols[i], dirs[i]))
        .collect();
    assert_eq!(
        summary,
        [
            "s_pkey.a.ASC",
            "s_pkey.b.N/A",
            "s_pkey.c.N/A",
            "s_bc.b.DESC",
            "s_bc.c.ASC",
            "s_bc.a.ASC"
        ]
    );
    let (_, rows) = ok(&ctx, "SHOW SCHEMAS");
    assert_eq!(texts(&rows, 0)[3], "public");
    assert!(super::handles_show_variable(&[
        sqlparser::ast::Ident::new("INDEXES"),
        sqlparser::ast::Ident::new("FROM")
    ]));
    // Other SHOW variables are not ours.
    assert!(run(&ctx, "SHOW search_path").unwrap().is_none());
    assert!(run(&ctx, "SELECT 1").unwrap().is_none());
}

#[test]
fn create_index_backfills_and_validates() {
    let m = store();
    let ctx = context(&m);
    ok(&ctx, "CREATE TABLE i (a INT PRIMARY KEY, b INT)");
    let t = table(&ctx, "i");
    for (a, b) in [(1, 10), (2, 20), (3, 10)] {
        storage::insert_row(&ctx.txn, &t, &vec![Datum::Int(a), Datum::Int(b)]).unwrap();
    }
    let e = err(&ctx, "CREATE UNIQUE INDEX ON i (b)");
    assert_eq!(e.code, code::UNIQUE_VIOLATION);
    assert_eq!(e.message, "could not create unique index \"i_b_idx\"");
    assert_eq!(e.detail.as_deref(), Some("Key (b)=(10) is duplicated."));
    ok(&ctx, "CREATE INDEX ON i (b)");
    ok(&ctx, "CREATE INDEX ON i (b)");
    let t = table(&ctx, "i");
    let names: Vec<&str> = t.indexes.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["i_b_idx", "i_b_idx1"]);
    let idx = t.index_by_name("i_b_idx").unwrap();
    let span =
        storage::IndexSpan::prefix(storage::index_key_prefix(&t, idx, &[Datum::Int(10)]).unwrap());
    assert_eq!(
        storage::scan_index(&ctx.txn, t.clone(), idx.id, vec![span]).count(),
        2
    );
    let e = err(&ctx, "CREATE INDEX i_b_idx ON i (b)");
    assert_eq!(e.code, code::DUPLICATE_TABLE);
    ok(&ctx, "CREATE INDEX IF NOT EXISTS i_b_idx ON i (a)");
    let e = err(&ctx, "CREATE INDEX ON i (nope)");
    assert_eq!(e.code, code::UNDEFINED_COLUMN);
    let e = err(&ctx, "CREATE INDEX ON i ((a + 1))");
    assert_eq!(e.code, code::FEATURE_NOT_SUPPORTED);

    // DROP INDEX removes the entries; the primary key's index cannot be dropped.
    ok(&ctx, "DROP INDEX i_b_idx");
    let e = err(&ctx, "DROP INDEX i_b_idx");
    assert_eq!(
        (e.code, e.message.as_str()),
        (code::UNDEFINED_OBJECT, "index \"i_b_idx\" does not exist")
    );
    ok(&ctx, "DROP INDEX IF EXISTS i_b_idx");
    let e = err(&ctx, "DROP INDEX i_pkey");
    assert_eq!(e.code, super::DEPENDENT_OBJECTS_STILL_EXIST);
    let t = table(&ctx, "i");
    assert_eq!(t.indexes.len(), 1);
    let start = kv::keys::index_prefix(t.id, idx.id);
    let page = ctx
        .txn
        .lock()
        .scan(&start, kv::keys::prefix_end(&start).as_deref(), 10)
        .unwrap();
    assert!(page.rows.is_empty(), "dropped index data is deleted");
}

#[test]
fn drop_and_truncate_remove_data() {
    let m = store();
    let ctx = context(&m);
    ok(&ctx, "CREATE TABLE d (a INT PRIMARY KEY, b TEXT UNIQUE)");
    let t = table(&ctx, "d");
    storage::insert_row(&ctx.txn, &t, &vec![Datum::Int(1), Datum::Text("x".into())]).unwrap();
    ok(&ctx, "TRUNCATE d");
    let all = storage::full_index_span(&t, &t.primary);
    assert_eq!(
        storage::scan_primary(&ctx.txn, t.clone(), vec![all]).count(),
        0
    );
    storage::insert_row(&ctx.txn, &t, &vec![Datum::Int(1), Datum::Text("x".into())]).unwrap();
    let e = err(&ctx, "DROP TABLE d, nope");
    assert_eq!(
        (e.code, e.message.as_str()),
        (code::UNDEFINED_TABLE, "table \"nope\" does not exist")
    );
    assert!(Catalog::table(&ctx.txn, "defaultdb", "d")
        .unwrap()
        .is_some());
    ok(&ctx, "DROP TABLE IF EXISTS d, nope CASCADE");
    assert!(Catalog::table(&ctx.txn, "defaultdb", "d")
        .unwrap()
        .is_none());
    let prefix = kv::keys::table_prefix(t.id);
    let page = ctx
        .txn
        .lock()
        .scan(&prefix, kv::keys::prefix_end(&prefix).as_deref(), 10)
        .unwrap();
    assert!(page.rows.is_empty());
    // The name is free again, and the new table gets a new id.
    ok(&ctx, "CREATE TABLE d (a INT)");
    assert_ne!(table(&ctx, "d").id, t.id);
}

#[test]
fn databases_are_created_and_dropped() {
    let m = store();
    let mut ctx = context(&m);
    ok(&ctx, "CREATE DATABASE shop");
    let e = err(&ctx, "CREATE DATABASE shop");
    assert_eq!(
        (e.code, e.message.as_str()),
        (code::DUPLICATE_DATABASE, "database \"shop\" already exists")
    );
    ok(&ctx, "CREATE DATABASE IF NOT EXISTS shop");
    ok(&ctx, "CREATE TABLE shop.public.items (a INT)");
    ctx.database = "shop".into();
    ok(&ctx, "CREATE TABLE public.more (a INT)");
    let (_, rows) = ok(&ctx, "SHOW TABLES");
    assert_eq!(texts(&rows, 1), ["items", "more"]);
    ctx.database = "defaultdb".into();
    let e = err(&ctx, "DROP DATABASE shop");
    assert_eq!(e.code, super::DEPENDENT_OBJECTS_STILL_EXIST);
    ok(&ctx, "DROP DATABASE shop CASCADE");
    assert!(Catalog::database(&ctx.txn, "shop").unwrap().is_none());
    let e = err(&ctx, "DROP DATABASE shop");
    assert_eq!(e.code, code::UNDEFINED_DATABASE);
    ok(&ctx, "DROP DATABASE IF EXISTS shop");
    ok(&ctx, "CREATE SCHEMA IF NOT EXISTS public");
    commit(&mut ctx, &m);
}

#[test]
fn ddl_is_transactional() {
    let m = store();
    let mut ctx = context(&m);
    ok(&ctx, "CREATE TABLE kept (a INT)");
    commit(&mut ctx, &m);
    ok(&ctx, "CREATE TABLE lost (a INT)");
    ok(&ctx, "DROP TABLE kept");
    // Another transaction sees neither change until commit; rolling back discards them.
    let other = begin(&m);
    assert!(Catalog::table(&other, "defaultdb", "kept")
        .unwrap()
        .is_some());
    assert!(Catalog::table(&other, "defaultdb", "lost")
        .unwrap()
        .is_none());
    let fresh = begin(&m);
    let old = std::mem::replace(&mut ctx.txn, fresh);
    let Ok(old) = Arc::try_unwrap(old) else {
        panic!("shared")
    };
    old.into_inner().rollback();
    assert!(Catalog::table(&ctx.txn, "defaultdb", "kept")
        .unwrap()
        .is_some());
    assert!(Catalog::table(&ctx.txn, "defaultdb", "lost")
        .unwrap()
        .is_none());
}

/// Prints how sqlparser's PostgreSQL dialect parses the statements handled here
/// (`cargo test -p sql ddl::tests::print_asts -- --nocapture`).
#[test]
fn print_asts() {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    for sql in [
        "SHOW INDEXES FROM public.t",
        "SHOW COLUMNS FROM t",
        "SHOW TABLES FROM db",
        "DROP INDEX t@i",
        "CREATE TABLE t (a INT, INDEX i (a))",
        "SHOW CREATE t",
    ] {
        match sqlparser::parser::Parser::parse_sql(&dialect, sql) {
            Ok(s) => println!("{sql}\n  => {s:?}"),
            Err(e) => println!("{sql}\n  => parse error: {e}"),
        }
    }
}
