//! Test helpers: an in-memory store with a bootstrapped catalog, and statement execution
//! through `ddl::execute` (tests of layers that must not depend on the planner).

use crate::context::{
    ExecContext, ExecResult, NoVirtualTables, TxnRef, DEFAULT_QUERY_MEMORY_BYTES,
};
use crate::types::Row;
use crate::Result;
use kv::engine::MemoryEngine;
use kv::mvcc::Mvcc;
use kv::Clock;
use parking_lot::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use txn::local::LocalTxnManager;
use txn::{TxnOptions, TxnSource};

/// A store with the default databases.
pub fn store() -> Arc<LocalTxnManager> {
    let mvcc = Mvcc::new(Arc::new(MemoryEngine::new()));
    let m = Arc::new(LocalTxnManager::new(
        mvcc,
        Arc::new(Clock::manual(1000, 500)),
        false,
    ));
    super::bootstrap(m.as_ref()).expect("bootstrap");
    m
}

/// A fresh transaction on `m`.
pub fn begin(m: &Arc<LocalTxnManager>) -> TxnRef {
    Arc::new(Mutex::new(m.begin(TxnOptions::default()).expect("begin")))
}

/// An execution context in `defaultdb` with a fresh transaction.
pub fn context(m: &Arc<LocalTxnManager>) -> ExecContext {
    ExecContext {
        txn: begin(m),
        database: "defaultdb".into(),
        txn_time: chrono::Utc::now(),
        memory_budget_bytes: DEFAULT_QUERY_MEMORY_BYTES,
        cancel: Arc::new(AtomicBool::new(false)),
        user: "root".into(),
        txns: m.clone(),
        vtables: Arc::new(NoVirtualTables),
    }
}

/// Commits the context's transaction and starts a new one.
pub fn commit(ctx: &mut ExecContext, m: &Arc<LocalTxnManager>) {
    let placeholder = begin(m);
    let old = std::mem::replace(&mut ctx.txn, placeholder);
    let Ok(old) = Arc::try_unwrap(old) else {
        panic!("transaction still shared")
    };
    old.into_inner().commit().expect("commit");
    // A transaction begun after the commit, so that it sees it.
    ctx.txn = begin(m);
}

/// Parses (PostgreSQL dialect) and runs one statement through `ddl::execute`.
pub fn run(ctx: &ExecContext, sql: &str) -> Result<Option<ExecResult>> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let mut stmts = sqlparser::parser::Parser::parse_sql(&dialect, sql)
        .map_err(|e| crate::Error::syntax(e.to_string()))?;
    assert_eq!(stmts.len(), 1, "one statement expected: {sql}");
    crate::ddl::execute(ctx, &stmts.remove(0))
}

/// Runs a DDL statement that must succeed and be handled; returns its tag or rows.
pub fn ok(ctx: &ExecContext, sql: &str) -> (String, Vec<Row>) {
    match run(ctx, sql) {
        Ok(Some(ExecResult::Command { tag })) => (tag, Vec::new()),
        Ok(Some(ExecResult::Rows { rows, tag, .. })) => {
            (tag, rows.collect::<Result<Vec<_>>>().expect("rows"))
        }
        Ok(None) => panic!("not handled by ddl: {sql}"),
        Err(e) => panic!("{sql}: {} {}", e.code, e.message),
    }
}

/// Runs a statement that must fail; returns the error.
pub fn err(ctx: &ExecContext, sql: &str) -> crate::Error {
    match run(ctx, sql) {
        Ok(_) => panic!("expected an error: {sql}"),
        Err(e) => e,
    }
}
