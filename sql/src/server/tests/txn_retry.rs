//! pgwire tests of transaction errors and retries (40001 with its reason, 40003 never
//! retried, the server's automatic retry of implicit statements, 25P02, the
//! `cockroach_restart` protocol), of a real write-skew conflict, and of AS OF SYSTEM TIME.
//!
//! Faults are injected through a commit hook on the test TxnSource wrapper
//! ([`crate::testutil::Hooked`]): commits fail with queued errors.

use super::{code, connect, connect_url, simple_rows};
use crate::server::{ServerConfig, TestServer};
use crate::session::MAX_IMPLICIT_RETRIES;
use crate::testutil::{self, Hooked, TxnHooks};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::Client;
use txn::RetryReason;

/// Upper bound on any single step of these tests (they take milliseconds).
const STEP_DEADLINE: Duration = Duration::from_secs(20);

#[derive(Default)]
struct Faults {
    /// Errors the next commits return (and then roll back).
    commit_errors: Mutex<VecDeque<txn::Error>>,
    /// Commits attempted.
    commits: AtomicUsize,
}

impl Faults {
    fn fail_next_commits(&self, errs: impl IntoIterator<Item = txn::Error>) {
        self.commits.store(0, Ordering::SeqCst);
        self.commit_errors.lock().extend(errs);
    }
    fn commits(&self) -> usize {
        self.commits.load(Ordering::SeqCst)
    }
}

fn retry_error() -> txn::Error {
    txn::Error::Retry {
        reason: RetryReason::Serializable,
        detail: "injected conflict".into(),
    }
}

impl TxnHooks for Faults {
    fn commit(&self) -> Option<txn::Error> {
        self.commits.fetch_add(1, Ordering::SeqCst);
        self.commit_errors.lock().pop_front()
    }
}

/// A server over a fault-injecting store, on its own thread and runtime.
struct FaultyServer {
    url: String,
    faults: Arc<Faults>,
    _server: TestServer,
}

fn start_faulty() -> FaultyServer {
    let txns = Hooked::new(testutil::local_store(), Faults::default());
    let faults = txns.hooks.clone();
    let server = TestServer::start_on(txns, ServerConfig::default()).expect("server");
    FaultyServer {
        url: server.url(),
        faults,
        _server: server,
    }
}

/// Runs `sql` with a deadline; the error's SQLSTATE and message on failure.
async fn exec(c: &Client, sql: &str) -> Result<(), (String, String)> {
    match tokio::time::timeout(STEP_DEADLINE, c.batch_execute(sql)).await {
        Err(_) => panic!("{sql}: no answer within {STEP_DEADLINE:?}"),
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err((
            code(&e),
            e.as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_default(),
        )),
    }
}

async fn must(c: &Client, sql: &str) {
    if let Err((code, msg)) = exec(c, sql).await {
        panic!("{sql}: {code} {msg}");
    }
}

async fn must_fail(c: &Client, sql: &str) -> (String, String) {
    exec(c, sql).await.expect_err(sql)
}

#[tokio::test]
async fn implicit_statements_are_retried_on_40001_only() {
    let server = start_faulty();
    let c = connect_url(&server.url).await;
    must(&c, "CREATE TABLE t (k INT PRIMARY KEY)").await;

    // Two 40001s at commit: the server retries invisibly.
    server
        .faults
        .fail_next_commits([retry_error(), retry_error()]);
    must(&c, "INSERT INTO t VALUES (1)").await;
    assert_eq!(server.faults.commits(), 3);
    assert_eq!(
        simple_rows(&c, "SELECT k FROM t").await,
        vec![vec![Some("1".into())]]
    );

    // A small result is held back until the commit, so it is retried too.
    server.faults.fail_next_commits([retry_error()]);
    assert_eq!(simple_rows(&c, "SELECT k FROM t").await.len(), 1);
    assert_eq!(server.faults.commits(), 2);

    // The retries are bounded; the client then sees 40001 with the reason.
    server
        .faults
        .fail_next_commits((0..=MAX_IMPLICIT_RETRIES).map(|_| retry_error()));
    let (code, msg) = must_fail(&c, "INSERT INTO t VALUES (2)").await;
    assert_eq!(code, "40001");
    assert!(msg.starts_with("restart transaction: "), "{msg}");
    assert!(msg.contains("RETRY_SERIALIZABLE"), "{msg}");
    assert_eq!(server.faults.commits(), MAX_IMPLICIT_RETRIES + 1);
    assert!(server.faults.commit_errors.lock().is_empty());

    // An ambiguous commit is 40003 and never retried.
    server
        .faults
        .fail_next_commits([txn::Error::Ambiguous("lost contact with the range".into())]);
    let (code, msg) = must_fail(&c, "INSERT INTO t VALUES (3)").await;
    assert_eq!(code, "40003");
    assert!(msg.contains("result is ambiguous"), "{msg}");
    assert_eq!(server.faults.commits(), 1);

    // Once rows have reached the client a 40001 is not retried.
    server.faults.fail_next_commits([retry_error()]);
    let (code, _) = must_fail(&c, "SELECT * FROM generate_series(1, 5000)").await;
    assert_eq!(code, "40001");
    assert_eq!(server.faults.commits(), 1);

    // The session is healthy afterwards.
    assert_eq!(
        simple_rows(&c, "SELECT count(*) FROM t").await,
        vec![vec![Some("1".into())]]
    );
}

#[tokio::test]
async fn explicit_transactions_fail_then_25p02_and_cockroach_restart_retries() {
    let server = start_faulty();
    let c = connect_url(&server.url).await;
    must(&c, "CREATE TABLE t (k INT PRIMARY KEY)").await;

    // A 40001 at COMMIT of an explicit transaction is the client's to retry.
    must(&c, "BEGIN; INSERT INTO t VALUES (1)").await;
    server.faults.fail_next_commits([retry_error()]);
    assert_eq!(must_fail(&c, "COMMIT").await.0, "40001");
    assert_eq!(server.faults.commits(), 1);
    assert!(simple_rows(&c, "SELECT k FROM t").await.is_empty());

    // A failed statement leaves the block failed (25P02) until ROLLBACK.
    must(&c, "BEGIN").await;
    assert_eq!(must_fail(&c, "SELECT 1 / 0").await.0, "22012");
    assert_eq!(must_fail(&c, "SELECT 1").await.0, "25P02");
    assert_eq!(must_fail(&c, "INSERT INTO t VALUES (9)").await.0, "25P02");
    must(&c, "ROLLBACK").await;
    must(&c, "SELECT 1").await;

    // CockroachDB's client-directed retry protocol.
    must(
        &c,
        "BEGIN; SAVEPOINT cockroach_restart; INSERT INTO t VALUES (2)",
    )
    .await;
    server.faults.fail_next_commits([retry_error()]);
    let (code, msg) = must_fail(&c, "RELEASE SAVEPOINT cockroach_restart").await;
    assert_eq!(code, "40001", "{msg}");
    assert_eq!(must_fail(&c, "SELECT 1").await.0, "25P02");
    must(&c, "ROLLBACK TO SAVEPOINT cockroach_restart").await;
    must(&c, "INSERT INTO t VALUES (2)").await;
    must(&c, "RELEASE SAVEPOINT cockroach_restart").await;
    must(&c, "COMMIT").await;
    assert_eq!(
        simple_rows(&c, "SELECT k FROM t").await,
        vec![vec![Some("2".into())]]
    );
}

/// Two doctors on call, each transaction takes one off after checking that two are on call:
/// serializable execution must refuse one of them with 40001 and its reason.
#[tokio::test]
async fn write_skew_is_refused_with_40001_and_a_reason() {
    let server = TestServer::start().unwrap();
    let c1 = connect(&server).await;
    let c2 = connect(&server).await;
    must(
        &c1,
        "CREATE TABLE doctors (id INT PRIMARY KEY, on_call BOOL); INSERT INTO doctors VALUES (1, true), (2, true)",
    )
    .await;
    let steps: [(usize, &str); 8] = [
        (0, "BEGIN"),
        (1, "BEGIN"),
        (0, "SELECT count(*) FROM doctors WHERE on_call"),
        (1, "SELECT count(*) FROM doctors WHERE on_call"),
        (0, "UPDATE doctors SET on_call = false WHERE id = 1"),
        (1, "UPDATE doctors SET on_call = false WHERE id = 2"),
        (0, "COMMIT"),
        (1, "COMMIT"),
    ];
    let clients = [&c1, &c2];
    let mut failed: [Option<(String, String)>; 2] = [None, None];
    for (i, sql) in steps {
        if failed[i].is_some() {
            continue;
        }
        if let Err(e) = exec(clients[i], sql).await {
            failed[i] = Some(e);
        }
    }
    for (i, f) in failed.iter().enumerate() {
        if f.is_some() {
            let _ = exec(clients[i], "ROLLBACK").await;
        }
    }
    let errors: Vec<&(String, String)> = failed.iter().flatten().collect();
    assert!(!errors.is_empty(), "write skew was allowed");
    for (code, msg) in &errors {
        assert_eq!(code, "40001", "{msg}");
        assert!(msg.starts_with("restart transaction: "), "{msg}");
        assert!(msg.contains("RETRY_") || msg.contains("Error"), "{msg}");
    }
    let on_call = simple_rows(&c1, "SELECT count(*) FROM doctors WHERE on_call").await;
    assert_eq!(on_call, vec![vec![Some("1".into())]]);
}

#[tokio::test]
async fn as_of_system_time_over_pgwire() {
    let server = TestServer::start().unwrap();
    let c = connect(&server).await;
    must(
        &c,
        "CREATE TABLE t (k INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'old')",
    )
    .await;
    let then = crate::session::as_of::decimal_text(server.node.txns().now());
    must(&c, "UPDATE t SET v = 'new' WHERE k = 1").await;
    let old = format!("SELECT v FROM t AS OF SYSTEM TIME '{then}' WHERE k = 1");
    assert_eq!(simple_rows(&c, &old).await, vec![vec![Some("old".into())]]);
    // Extended protocol too.
    let row = c
        .query_one(
            &format!("SELECT v FROM t AS OF SYSTEM TIME {then} WHERE k = $1"),
            &[&1i32],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "old");
    assert_eq!(
        simple_rows(&c, "SELECT v FROM t").await,
        vec![vec![Some("new".into())]]
    );
    must(&c, &format!("BEGIN AS OF SYSTEM TIME '{then}'")).await;
    assert_eq!(
        simple_rows(&c, "SELECT v FROM t").await,
        vec![vec![Some("old".into())]]
    );
    assert_eq!(must_fail(&c, "UPDATE t SET v = 'x'").await.0, "25006");
    must(&c, "ROLLBACK").await;
    let (code, msg) = must_fail(&c, "SELECT * FROM t AS OF SYSTEM TIME '2999-01-01'").await;
    assert_eq!(code, "22023");
    assert!(
        msg.contains("cannot specify timestamp in the future"),
        "{msg}"
    );
}
