//! Sort elision and limit pushdown: EXPLAIN shapes, results identical to sorting (ties, DESC,
//! NULLs, LIMIT/OFFSET, parameters) and locking scans that lock only the rows returned.

use crate::catalog::testutil;
use crate::context::{ExecContext, ExecResult, TxnRef};
use crate::testutil::{row_text, HookedTxn, TxnHooks};
use crate::types::Datum;
use crate::{ddl, exec, parser};
use parking_lot::Mutex;
use std::sync::Arc;
use txn::local::LocalTxnManager;
use txn::{LockStrength, ScanPage, TxnOptions, TxnSource};

/// Keys locked by the transaction, in order.
type Locked = Arc<Mutex<Vec<Vec<u8>>>>;

/// Hooks that record the keys locking reads lock: a point read's key, a scan's rows.
struct RecordLocked {
    locked: Locked,
}

impl TxnHooks for RecordLocked {
    fn read(&self, key: &[u8], lock: Option<LockStrength>, scan: bool) {
        if lock.is_some() && !scan {
            self.locked.lock().push(key.to_vec());
        }
    }
    fn locked_rows(&self, page: &ScanPage) {
        self.locked
            .lock()
            .extend(page.rows.iter().map(|(k, _)| k.clone()));
    }
}

struct Db {
    m: Arc<LocalTxnManager>,
    ctx: ExecContext,
    locked: Locked,
}

impl Db {
    fn new() -> Db {
        let m = testutil::store();
        let mut ctx = testutil::context(&m);
        let locked: Locked = Arc::default();
        ctx.txn = Self::recording(&m, &locked);
        Db { m, ctx, locked }
    }

    fn recording(m: &Arc<LocalTxnManager>, locked: &Locked) -> TxnRef {
        let inner = m.begin(TxnOptions::default()).expect("begin");
        let hooks = Arc::new(RecordLocked {
            locked: locked.clone(),
        });
        Arc::new(Mutex::new(HookedTxn::wrap(inner, hooks)))
    }

    /// Commits the current transaction (rows written in it are read from the buffer, not
    /// locked) and starts a new recording one.
    fn commit(&mut self) {
        let next = Self::recording(&self.m, &self.locked);
        let old = std::mem::replace(&mut self.ctx.txn, next);
        let Ok(old) = Arc::try_unwrap(old) else {
            panic!("transaction still shared")
        };
        old.into_inner().commit().expect("commit");
    }

    /// Runs `sql` with `params`; the last statement's rows as `a|b` text.
    fn qp(&self, sql: &str, params: &[Datum]) -> Vec<String> {
        let mut out = Vec::new();
        for stmt in parser::parse(sql).unwrap_or_else(|e| panic!("{sql}: {}", e.message)) {
            out.clear();
            let res = match ddl::execute(&self.ctx, &stmt) {
                Ok(Some(r)) => r,
                Ok(None) => exec::execute(&self.ctx, &stmt, params)
                    .unwrap_or_else(|e| panic!("{sql}: {} {}", e.code, e.message)),
                Err(e) => panic!("{sql}: {} {}", e.code, e.message),
            };
            if let ExecResult::Rows { columns, rows, .. } = res {
                for r in rows {
                    let r = r.unwrap_or_else(|e| panic!("{sql}: {} {}", e.code, e.message));
                    out.push(row_text(&r, &columns));
                }
            }
        }
        out
    }

    fn q(&self, sql: &str) -> Vec<String> {
        self.qp(sql, &[])
    }

    fn plan(&self, sql: &str) -> String {
        self.q(&format!("EXPLAIN {sql}")).join("\n")
    }

    /// Keys locked while running `sql`.
    fn locks(&self, sql: &str) -> (Vec<String>, usize) {
        self.locked.lock().clear();
        let rows = self.q(sql);
        let n = self.locked.lock().len();
        (rows, n)
    }
}

/// A deterministic pseudo-random sequence (xorshift).
fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// `no` is TPC-C's new_order shape; `t` has nullable, duplicated and DESC-indexed columns.
fn sample() -> Db {
    let mut db = Db::new();
    db.q("CREATE TABLE no (w INT, d INT, o INT, PRIMARY KEY (w, d, o))");
    db.q("CREATE TABLE t (k INT PRIMARY KEY, a INT, b TEXT, c INT)");
    db.q("CREATE INDEX t_a_b ON t (a, b)");
    db.q("CREATE INDEX t_c_desc ON t (c DESC)");
    let mut rows = Vec::new();
    for w in 1..=2 {
        for d in 1..=3 {
            for o in (1..=20).rev() {
                rows.push(format!("({w}, {d}, {o})"));
            }
        }
    }
    db.q(&format!("INSERT INTO no VALUES {}", rows.join(", ")));
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rows = Vec::new();
    for k in 1..=120 {
        let a = rng(&mut seed) % 4;
        let b = match rng(&mut seed) % 6 {
            0 => "NULL".to_string(),
            n => format!("'b{n}'"),
        };
        let c = match rng(&mut seed) % 7 {
            0 => "NULL".to_string(),
            n => n.to_string(),
        };
        let a = if a == 3 { "NULL".into() } else { a.to_string() };
        rows.push(format!("({k}, {a}, {b}, {c})"));
    }
    db.q(&format!("INSERT INTO t VALUES {}", rows.join(", ")));
    db.commit();
    db
}

fn has_sort(plan: &str) -> bool {
    plan.lines().any(|l| l.contains("sort:"))
}

#[test]
fn explain_shows_sort_removed_and_limit_pushed() {
    let db = sample();
    let p = db.plan("SELECT o FROM no WHERE w = 1 AND d = 2 ORDER BY o LIMIT 1 FOR UPDATE");
    assert!(!has_sort(&p), "{p}");
    assert!(p.contains("scan no@no_pkey spans: [/1/2 - /1/2]"), "{p}");
    assert!(p.contains("│ limit: 1"), "{p}");
    assert!(p.contains("locking strength: for update"), "{p}");
    // Pinned columns may also appear in the ORDER BY, and a full scan is in pk order.
    let p = db.plan("SELECT * FROM no WHERE w = 1 ORDER BY w, d, o LIMIT 3 OFFSET 2");
    assert!(!has_sort(&p), "{p}");
    assert!(p.contains("limit: 3 offset: 2"), "{p}");
    let p = db.plan("SELECT * FROM no ORDER BY w, d");
    assert!(!has_sort(&p), "{p}");
    // A secondary index: the pinned prefix is skipped, then its pk suffix orders ties.
    let p = db.plan("SELECT k FROM t WHERE a = 1 ORDER BY b, k LIMIT 2");
    assert!(!has_sort(&p), "{p}");
    assert!(p.contains("scan t@t_a_b") && p.contains("limit: 2"), "{p}");
    let p = db.plan("SELECT k FROM t WHERE c > 2 ORDER BY c DESC");
    assert!(!has_sort(&p) && p.contains("t@t_c_desc"), "{p}");
    // LIMIT $1 is pushed down as a parameter.
    let p = db.plan("SELECT o FROM no WHERE w = $1 AND d = $2 ORDER BY o LIMIT $3");
    assert!(!has_sort(&p) && p.contains("limit: $3"), "{p}");
}

#[test]
fn sorts_that_the_index_does_not_satisfy_stay() {
    let db = sample();
    for sql in [
        // Against the index direction: no reverse scans.
        "SELECT o FROM no WHERE w = 1 AND d = 2 ORDER BY o DESC LIMIT 1",
        // A column that is not next in the index.
        "SELECT * FROM no WHERE w = 1 ORDER BY o",
        "SELECT k FROM t WHERE a = 1 ORDER BY c",
        // NULL placement differs from the index's (nullable column).
        "SELECT k FROM t WHERE a = 1 ORDER BY b NULLS FIRST",
        "SELECT k FROM t WHERE c > 2 ORDER BY c DESC NULLS LAST",
        // An expression, and a column pinned only by an IN list.
        "SELECT o FROM no WHERE w = 1 AND d = 2 ORDER BY o + 0",
        "SELECT o FROM no WHERE w = 1 AND d IN (1, 2) ORDER BY o",
        // Sorted above an aggregate or a join.
        "SELECT w, count(*) FROM no GROUP BY w ORDER BY w",
        "SELECT t.k FROM t JOIN no ON t.k = no.o WHERE no.w = 1 AND no.d = 1 ORDER BY t.k",
    ] {
        let p = db.plan(sql);
        assert!(has_sort(&p), "{sql}\n{p}");
        assert!(!p.contains("│ limit:"), "{sql}\n{p}");
    }
    // A LIMIT over a sort that stays, or over an aggregate, is not pushed into the scan.
    let p = db.plan("SELECT count(*) FROM no LIMIT 1");
    assert!(!p.contains("│ limit:"), "{p}");
}

/// The elided/pushed-down form returns exactly what sorting the same scan then slicing does.
#[test]
fn results_match_sorting() {
    let db = sample();
    // (query with an elidable ORDER BY, the same query with an unelidable ORDER BY).
    let pairs = [
        (
            "SELECT * FROM no WHERE w = 2 AND d = 3 ORDER BY o",
            "SELECT * FROM no WHERE w = 2 AND d = 3 ORDER BY o + 0",
        ),
        (
            "SELECT * FROM no WHERE w = 1 AND d IN (3, 1) ORDER BY d, o",
            "SELECT * FROM no WHERE w = 1 AND d IN (3, 1) ORDER BY d + 0, o + 0",
        ),
        (
            "SELECT * FROM no WHERE w = 1 AND o >= 5 AND o < 9 ORDER BY d, o",
            "SELECT * FROM no WHERE w = 1 AND o >= 5 AND o < 9 ORDER BY d + 0, o + 0",
        ),
        // Ties on b: the index orders them by k, exactly as the stable sort keeps them.
        (
            "SELECT k, a, b FROM t WHERE a = 1 ORDER BY b",
            "SELECT k, a, b FROM t WHERE a = 1 ORDER BY b || ''",
        ),
        (
            "SELECT k, a, b FROM t WHERE a = 2 AND b >= 'b2' ORDER BY a, b",
            "SELECT k, a, b FROM t WHERE a = 2 AND b >= 'b2' ORDER BY a + 0, b || ''",
        ),
        // A DESC index (its range spans exclude NULLs through the filter).
        (
            "SELECT k, c FROM t WHERE c <= 4 ORDER BY c DESC",
            "SELECT k, c FROM t WHERE c <= 4 ORDER BY c * 1 DESC",
        ),
        // A residual filter (k % 3) the spans do not express.
        (
            "SELECT k, b FROM t WHERE a = 0 AND k % 3 = 1 ORDER BY b",
            "SELECT k, b FROM t WHERE a = 0 AND k % 3 = 1 ORDER BY b || ''",
        ),
        (
            "SELECT k, a FROM t WHERE a IS NULL ORDER BY a, k",
            "SELECT k, a FROM t WHERE a IS NULL ORDER BY k + 0",
        ),
    ];
    for (fast, slow) in pairs {
        assert!(!has_sort(&db.plan(fast)), "{fast}");
        assert!(has_sort(&db.plan(slow)), "{slow}");
        let all = db.q(slow);
        assert!(!all.is_empty(), "{slow}");
        assert_eq!(db.q(fast), all, "{fast}");
        for limit in [0usize, 1, 2, 5, 100] {
            for offset in [0usize, 1, 3, 50] {
                let want: Vec<String> = all.iter().skip(offset).take(limit).cloned().collect();
                let sql = format!("{fast} LIMIT {limit} OFFSET {offset}");
                assert!(db.plan(&sql).contains("│ limit:"), "{sql}");
                assert_eq!(db.q(&sql), want, "{sql}");
                let params = [Datum::Int(limit as i64), Datum::Int(offset as i64)];
                let sql = format!("{fast} LIMIT $1 OFFSET $2");
                assert_eq!(db.qp(&sql, &params), want, "{sql}");
            }
        }
    }
    // LIMIT NULL / ALL read everything; a negative LIMIT is still the LIMIT's error.
    let all = db.q("SELECT o FROM no WHERE w = 1 AND d = 1 ORDER BY o");
    assert_eq!(all.len(), 20);
    assert_eq!(
        db.q("SELECT o FROM no WHERE w = 1 AND d = 1 ORDER BY o LIMIT ALL"),
        all
    );
    assert_eq!(
        db.q("SELECT o FROM no WHERE w = 1 AND d = 1 ORDER BY o LIMIT NULL"),
        all
    );
    let stmt = parser::parse("SELECT o FROM no LIMIT -1")
        .expect("parse")
        .remove(0);
    let e = exec::execute(&db.ctx, &stmt, &[])
        .and_then(|r| match r {
            ExecResult::Rows { mut rows, .. } => rows.next().transpose().map(|_| ()),
            ExecResult::Command { .. } => Ok(()),
        })
        .expect_err("negative LIMIT");
    assert_eq!(e.code, "2201W");
}

#[test]
fn limited_locking_scans_lock_only_returned_rows() {
    let db = sample();
    let q = "SELECT o FROM no WHERE w = 1 AND d = 2 ORDER BY o";
    let (rows, n) = db.locks(&format!("{q} LIMIT 1 FOR UPDATE"));
    assert_eq!((rows, n), (vec!["1".to_string()], 1));
    let (rows, n) = db.locks(&format!("{q} LIMIT 2 OFFSET 3 FOR UPDATE"));
    assert_eq!((rows, n), (vec!["4".to_string(), "5".to_string()], 5));
    let (rows, n) = db.locks(&format!("{q} FOR UPDATE"));
    assert_eq!((rows.len(), n), (20, 20));
    // Delivery's loop: lock the oldest, delete it, the next call locks the next one.
    for next in 1..=3 {
        let (rows, n) = db.locks(&format!("{q} LIMIT 1 FOR UPDATE"));
        assert_eq!((rows, n), (vec![next.to_string()], 1));
        db.q(&format!(
            "DELETE FROM no WHERE w = 1 AND d = 2 AND o = {next}"
        ));
    }
    // A secondary-index scan locks the primary rows it looks up: only the one returned.
    let (rows, n) = db.locks("SELECT k FROM t WHERE a = 1 ORDER BY b LIMIT 1 FOR UPDATE");
    assert_eq!((rows.len(), n), (1, 1));
}
