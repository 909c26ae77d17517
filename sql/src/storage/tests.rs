//! Storage tests: row encoding round trips, key order, unique enforcement, paged scans.

use super::*;
use crate::catalog::testutil::{begin, context, ok, store};
use crate::catalog::Catalog;
use crate::error::code;
use crate::types::{Datum, Interval, Row};
use chrono::{DateTime, NaiveDate};
use rust_decimal::Decimal;
use std::sync::Arc;

fn table(ctx: &crate::context::ExecContext, name: &str) -> Arc<TableDesc> {
    Catalog::must_table(&ctx.txn, "defaultdb", name).unwrap()
}

fn all_types_row() -> Row {
    vec![
        Datum::Int(-42),
        Datum::Bool(true),
        Datum::Float(-1.5e300),
        Datum::Decimal(Decimal::new(-12345, 3)),
        Datum::Text("héllo\0world".into()),
        Datum::Bytes(vec![0, 1, 255]),
        Datum::Date(NaiveDate::from_ymd_opt(-44, 3, 15).unwrap()),
        Datum::Timestamp(
            NaiveDate::from_ymd_opt(2024, 2, 29)
                .unwrap()
                .and_hms_micro_opt(23, 59, 59, 999_999)
                .unwrap(),
        ),
        Datum::TimestampTz(DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap()),
        Datum::Interval(Interval {
            months: -14,
            days: 3,
            micros: -5,
        }),
        Datum::Uuid(uuid::Uuid::from_u128(
            0x1234_5678_9abc_def0_1122_3344_5566_7788,
        )),
        Datum::Json(Box::new(
            serde_json::json!({"b": [1, 2.5, null], "a": {"x": "y"}}),
        )),
        Datum::Null,
    ]
}

const ALL_TYPES: &str = "CREATE TABLE all_types (i INT8 PRIMARY KEY, b BOOL, f FLOAT8, d DECIMAL, \
    s TEXT, by BYTEA, dt DATE, ts TIMESTAMP, tz TIMESTAMPTZ, iv INTERVAL, u UUID, j JSONB, n INT4)";

#[test]
fn row_encoding_round_trips_every_type() {
    let m = store();
    let ctx = context(&m);
    ok(&ctx, ALL_TYPES);
    let t = table(&ctx, "all_types");
    let row = all_types_row();
    let bytes = rowcodec::encode_row(&t, &row).unwrap();
    let back = rowcodec::decode_row(&t, &bytes).unwrap();
    assert_eq!(format!("{back:?}"), format!("{row:?}"));
    // Truncated or garbage values are errors, not panics.
    for cut in 0..bytes.len() {
        let _ = rowcodec::decode_row(&t, &bytes[..cut]);
    }
    assert!(rowcodec::decode_row(&t, &[9, 9, 9]).is_err());
    // Unknown column ids (a dropped column) are skipped; missing ones read as NULL.
    let mut narrower = (*t).clone();
    narrower.columns.remove(4);
    let partial = rowcodec::decode_row(&narrower, &bytes).unwrap();
    assert_eq!(partial.len(), row.len() - 1);
    assert_eq!(format!("{:?}", partial[4]), format!("{:?}", row[5]));
}

#[test]
fn index_keys_order_like_sql_in_both_directions() {
    let m = store();
    let ctx = context(&m);
    ok(
        &ctx,
        "CREATE TABLE k (a INT8, b TEXT, c FLOAT8, PRIMARY KEY (a ASC, b DESC))",
    );
    let t = table(&ctx, "k");
    let key = |a: Datum, b: Datum| index_key_prefix(&t, &t.primary, &[a, b]).unwrap();
    let ints = [i64::MIN, -5, 0, 7, i64::MAX];
    for w in ints.windows(2) {
        assert!(key(Datum::Int(w[0]), Datum::Null) < key(Datum::Int(w[1]), Datum::Null));
    }
    // b is DESC: "b" before "a", NULL first.
    let x = |s: &str| key(Datum::Int(1), Datum::Text(s.into()));
    assert!(x("b") < x("a"));
    assert!(x("a\0") < x("a"));
    assert!(key(Datum::Int(1), Datum::Null) < x("zzz"));
    // Values are encoded by column type: Float(1.0) on an INT8 column equals Int(1).
    assert_eq!(
        key(Datum::Float(1.0), Datum::Null),
        key(Datum::Int(1), Datum::Null)
    );
    assert!(index_key_prefix(&t, &t.primary, &[Datum::Float(1.5)]).is_err());
    // A prefix covers the full keys that extend it.
    let full = key(Datum::Int(3), Datum::Text("q".into()));
    let span = IndexSpan::prefix(index_key_prefix(&t, &t.primary, &[Datum::Int(3)]).unwrap());
    assert!(full >= span.start && full < span.end.unwrap());
}

#[test]
fn unique_violations_match_postgres() {
    let m = store();
    let ctx = context(&m);
    ok(
        &ctx,
        "CREATE TABLE u (a INT PRIMARY KEY, b TEXT UNIQUE, c INT NOT NULL DEFAULT 0)",
    );
    let t = table(&ctx, "u");
    let row = |a: i64, b: Option<&str>| -> Row {
        vec![
            Datum::Int(a),
            b.map_or(Datum::Null, |s| Datum::Text(s.into())),
            Datum::Int(0),
        ]
    };
    insert_row(&ctx.txn, &t, &row(1, Some("x"))).unwrap();
    let e = insert_row(&ctx.txn, &t, &row(1, Some("y"))).unwrap_err();
    assert_eq!(e.code, code::UNIQUE_VIOLATION);
    assert_eq!(
        e.message,
        "duplicate key value violates unique constraint \"u_pkey\""
    );
    assert_eq!(e.detail.as_deref(), Some("Key (a)=(1) already exists."));
    let e = insert_row(&ctx.txn, &t, &row(2, Some("x"))).unwrap_err();
    assert_eq!(
        e.message,
        "duplicate key value violates unique constraint \"u_b_key\""
    );
    assert_eq!(e.detail.as_deref(), Some("Key (b)=(x) already exists."));
    // The failed insert wrote nothing: 2 is free.
    assert!(get_by_primary_key(&ctx.txn, &t, &[Datum::Int(2)])
        .unwrap()
        .is_none());
    // NULLs are distinct in a unique index.
    insert_row(&ctx.txn, &t, &row(3, None)).unwrap();
    insert_row(&ctx.txn, &t, &row(4, None)).unwrap();
    // NOT NULL.
    let e = insert_row(&ctx.txn, &t, &vec![Datum::Int(5), Datum::Null, Datum::Null]).unwrap_err();
    assert_eq!(e.code, code::NOT_NULL_VIOLATION);
    assert_eq!(
        e.message,
        "null value in column \"c\" of relation \"u\" violates not-null constraint"
    );
    assert_eq!(
        e.detail.as_deref(),
        Some("Failing row contains (5, null, null).")
    );
    // Conflict lookup for ON CONFLICT / UPSERT.
    let (idx, existing) = find_conflict(&ctx.txn, &t, &row(9, Some("x")))
        .unwrap()
        .unwrap();
    assert_eq!(idx, t.indexes[0].id);
    assert_eq!(format!("{existing:?}"), format!("{:?}", row(1, Some("x"))));
    assert!(find_conflict(&ctx.txn, &t, &row(9, None))
        .unwrap()
        .is_none());
    // Updates: moving to a taken key fails, to a free one moves every entry.
    let e = update_row(&ctx.txn, &t, &row(3, None), &row(4, Some("x"))).unwrap_err();
    assert_eq!(e.detail.as_deref(), Some("Key (a)=(4) already exists."));
    update_row(&ctx.txn, &t, &row(1, Some("x")), &row(10, Some("z"))).unwrap();
    insert_row(&ctx.txn, &t, &row(11, Some("x"))).unwrap();
    assert!(get_by_primary_key(&ctx.txn, &t, &[Datum::Int(1)])
        .unwrap()
        .is_none());
    delete_row(&ctx.txn, &t, &row(10, Some("z"))).unwrap();
    insert_row(&ctx.txn, &t, &row(12, Some("z"))).unwrap();
}

/// Inserts rows a = 0..n, b = (n - a) as text padded, into `CREATE TABLE p (a INT PRIMARY
/// KEY, b TEXT)` with an index on b DESC.
fn paged_fixture(n: i64) -> (crate::context::ExecContext, Arc<TableDesc>) {
    let m = store();
    let ctx = context(&m);
    ok(&ctx, "CREATE TABLE p (a INT PRIMARY KEY, b TEXT, c INT)");
    ok(&ctx, "CREATE INDEX ON p (b DESC)");
    let t = table(&ctx, "p");
    for a in 0..n {
        let row = vec![
            Datum::Int(a),
            Datum::Text(format!("{:04}", a % 10)),
            Datum::Int(a * 2),
        ];
        insert_row(&ctx.txn, &t, &row).unwrap();
    }
    (ctx, t)
}

#[test]
fn scans_page_through_tables_larger_than_a_page() {
    let (ctx, t) = paged_fixture(53);
    let span = full_index_span(&t, &t.primary);
    let rows: Vec<Row> = scan_primary_paged(&ctx.txn, t.clone(), vec![span], 7)
        .collect::<crate::Result<_>>()
        .unwrap();
    let keys: Vec<i64> = rows
        .iter()
        .map(|r| match r[0] {
            Datum::Int(i) => i,
            _ => -1,
        })
        .collect();
    assert_eq!(keys, (0..53).collect::<Vec<_>>());

    // Secondary index scan: rows in b DESC order, then pk order within equal b.
    let idx = t.index_by_name("p_b_idx").unwrap().clone();
    let rows: Vec<Row> = scan_index_paged(
        &ctx.txn,
        t.clone(),
        idx.id,
        vec![full_index_span(&t, &idx)],
        4,
    )
    .collect::<crate::Result<_>>()
    .unwrap();
    assert_eq!(rows.len(), 53);
    let pairs: Vec<(String, i64)> = rows
        .iter()
        .map(|r| match (&r[1], &r[0]) {
            (Datum::Text(b), Datum::Int(a)) => (b.clone(), *a),
            _ => panic!("bad row"),
        })
        .collect();
    let mut expected = pairs.clone();
    expected.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
    assert_eq!(pairs, expected);
    assert_eq!(pairs[0].0, "0009");

    // An equality span on the index, and several spans on the primary index.
    let eq = IndexSpan::prefix(index_key_prefix(&t, &idx, &[Datum::Text("0003".into())]).unwrap());
    let n = scan_index_paged(&ctx.txn, t.clone(), idx.id, vec![eq], 2).count();
    assert_eq!(n, 5); // 3, 13, 23, 33, 43
    let spans = vec![
        IndexSpan::prefix(index_key_prefix(&t, &t.primary, &[Datum::Int(5)]).unwrap()),
        IndexSpan::prefix(index_key_prefix(&t, &t.primary, &[Datum::Int(50)]).unwrap()),
    ];
    assert_eq!(scan_primary_paged(&ctx.txn, t.clone(), spans, 1).count(), 2);
    // Spans are clamped to the index: an unbounded span does not run into other data.
    let open = IndexSpan {
        start: Vec::new(),
        end: None,
    };
    assert_eq!(scan_primary(&ctx.txn, t.clone(), vec![open]).count(), 53);
}

#[test]
fn index_entries_follow_updates_and_deletes() {
    let (ctx, t) = paged_fixture(20);
    let idx = t.index_by_name("p_b_idx").unwrap().clone();
    let old = get_by_primary_key(&ctx.txn, &t, &[Datum::Int(3)])
        .unwrap()
        .unwrap();
    let mut new = old.clone();
    new[1] = Datum::Text("zzzz".into());
    update_row(&ctx.txn, &t, &old, &new).unwrap();
    let first = scan_index(&ctx.txn, t.clone(), idx.id, vec![full_index_span(&t, &idx)])
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(format!("{first:?}"), format!("{new:?}"));
    let count = |ctx: &crate::context::ExecContext| {
        scan_index(&ctx.txn, t.clone(), idx.id, vec![full_index_span(&t, &idx)]).count()
    };
    assert_eq!(count(&ctx), 20);
    delete_row(&ctx.txn, &t, &new).unwrap();
    assert_eq!(count(&ctx), 19);
    assert_eq!(delete_table_data(&ctx.txn, t.id).unwrap(), 19 * 2);
    assert_eq!(count(&ctx), 0);
}

#[test]
fn unique_rowid_is_unique_and_increasing() {
    let mut last = 0;
    for _ in 0..10_000 {
        let id = unique_rowid();
        assert!(id > last);
        last = id;
    }
    let _ = begin;
}
