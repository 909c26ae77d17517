//! Tests of the defensive checks on KV results ([`super::check`]): a transaction that hands
//! back keys outside the span asked for, a bad resume key, or a value that is not a row.

use super::*;
use crate::catalog::testutil::{context, ok, store};
use crate::catalog::Catalog;
use crate::error::code;
use crate::testutil::{HookedTxn, TxnHooks};
use crate::types::Datum;
use parking_lot::Mutex;
use std::sync::Arc;
use txn::{LockStrength, ScanPage};

/// What the wrapped transaction does wrong (a [`TxnHooks`] on [`HookedTxn`]).
#[derive(Clone)]
enum Fault {
    /// Every scan page also carries this (key, value).
    ExtraRow(Vec<u8>, Vec<u8>),
    /// Every scan page's resume key is this.
    Resume(Vec<u8>),
    /// Every get returns this value.
    GetValue(Vec<u8>),
}

/// The fault is injected into a real transaction's reads through the shared test wrapper.
impl TxnHooks for Fault {
    fn scan_page(&self, mut page: ScanPage) -> ScanPage {
        match self {
            Fault::ExtraRow(k, v) => {
                page.rows.push((k.clone(), v.clone()));
                page.rows.sort();
            }
            Fault::Resume(r) => page.resume = Some(r.clone()),
            Fault::GetValue(_) => {}
        }
        page
    }
    fn got(&self, _key: &[u8], value: Option<Vec<u8>>) -> Option<Vec<u8>> {
        match self {
            Fault::GetValue(v) => Some(v.clone()),
            _ => value,
        }
    }
}

/// Table `p (code TEXT PRIMARY KEY, d TEXT)` with rows a, b, c, and a transaction over its
/// store that injects `fault`.
fn setup(fault: impl FnOnce(&TableDesc) -> Fault) -> (Arc<TableDesc>, TxnRef) {
    let m = store();
    let ctx = context(&m);
    ok(&ctx, "CREATE TABLE p (code TEXT PRIMARY KEY, d TEXT)");
    let t = Catalog::must_table(&ctx.txn, "defaultdb", "p").unwrap();
    for (c, d) in [("a", "x"), ("b", "y"), ("c", "z")] {
        let row = vec![Datum::Text(c.into()), Datum::Text(d.into())];
        insert_row(&ctx.txn, &t, &row).unwrap();
    }
    let shared = ctx.txn.clone();
    drop(ctx);
    let Ok(inner) = Arc::try_unwrap(shared) else {
        panic!("the context's transaction is still shared");
    };
    let inner = inner.into_inner();
    let faulty = HookedTxn::wrap(inner, Arc::new(fault(&t)));
    (t, Arc::new(Mutex::new(faulty)))
}

fn key(t: &TableDesc, code: &str) -> Vec<u8> {
    index_key_prefix(t, &t.primary, &[Datum::Text(code.into())]).unwrap()
}

fn point_span(t: &TableDesc, code: &str) -> IndexSpan {
    IndexSpan::prefix(key(t, code))
}

#[test]
fn a_scanned_key_outside_the_span_is_an_internal_error_naming_it() {
    // The key of 'b' with a value that is not a row (a pk suffix, as in an index entry):
    // returned for a point scan of the missing 'night_07'.
    let (t, txn) = setup(|t| Fault::ExtraRow(key(t, "b"), vec![0x12, 0x62, 0x00]));
    for lock in [None, Some(LockStrength::Exclusive)] {
        let span = point_span(&t, "night_07");
        let mut rows = scan_index_locking(&txn, t.clone(), t.primary.id, vec![span], lock);
        let e = rows.next().unwrap().unwrap_err();
        assert_eq!(e.code, code::INTERNAL_ERROR, "{e:?}");
        let id = t.id;
        assert!(
            e.message.contains(&format!(
                "returned key /Table/{id}/1/\"b\" outside the requested span [/Table/{id}/1/\"night_07\""
            )),
            "{}",
            e.message
        );
        assert!(rows.next().is_none());
    }
    // A full scan includes the key legitimately: the rows decode (the extra one does not).
    let all = full_index_span(&t, &t.primary);
    let e = scan_primary(&txn, t.clone(), vec![all])
        .find_map(|r| r.err())
        .unwrap();
    assert_eq!(e.code, code::DATA_CORRUPTED);
}

#[test]
fn a_resume_key_outside_the_span_is_an_internal_error() {
    for bad in ["", "zzz"] {
        let (t, txn) = setup(|t| {
            Fault::Resume(if bad.is_empty() {
                kv::keys::table_prefix(t.id)
            } else {
                key(t, bad)
            })
        });
        let span = IndexSpan {
            start: key(&t, "a"),
            end: Some(key(&t, "c")),
        };
        let e = scan_primary(&txn, t.clone(), vec![span])
            .find_map(|r| r.err())
            .unwrap();
        assert_eq!(e.code, code::INTERNAL_ERROR, "{e:?}");
        assert!(e.message.contains("returned resume key"), "{}", e.message);
    }
}

#[test]
fn a_value_that_is_not_a_row_names_its_key() {
    let (t, txn) = setup(|_| Fault::GetValue(vec![0x12, 0x62, 0x00, 0x01]));
    let e = get_by_primary_key(&txn, &t, &[Datum::Text("night_07".into())]).unwrap_err();
    assert_eq!(e.code, code::DATA_CORRUPTED);
    assert_eq!(
        e.message,
        format!(
            "malformed row value: unknown format (table \"p\", key /Table/{}/1/\"night_07\")",
            t.id
        )
    );
    assert_eq!(
        e.detail.as_deref(),
        Some(
            format!(
                "value of 4 bytes at /Table/{}/1/\"night_07\": 0x12620001",
                t.id
            )
            .as_str()
        )
    );
}

#[test]
fn a_deletion_scan_never_deletes_a_key_outside_its_span() {
    let (t, txn) = setup(|t| Fault::ExtraRow(key(t, "b"), vec![0x01]));
    let (from, to) = (key(&t, "x"), key(&t, "y"));
    let e = delete_span(&txn, &from, Some(&to)).unwrap_err();
    assert_eq!(e.code, code::INTERNAL_ERROR, "{e:?}");
    assert!(
        e.message.contains("for deletion returned key 0x"),
        "{}",
        e.message
    );
    // The row of 'b' is still there.
    let b = get_by_primary_key(&txn, &t, &[Datum::Text("b".into())]).unwrap();
    assert!(b.is_some());
    // A resume key that does not move forward is refused too.
    let (t, txn) = setup(|_| Fault::Resume(Vec::new()));
    let all = full_index_span(&t, &t.primary);
    let e = delete_span(&txn, &all.start, all.end.as_deref()).unwrap_err();
    assert_eq!(e.code, code::INTERNAL_ERROR, "{e:?}");
    assert!(e.message.contains("returned resume key"), "{}", e.message);
}
