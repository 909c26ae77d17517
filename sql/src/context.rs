//! Types shared by every statement executor: the execution context handed down by the
//! session, and the results handed back up to it.
//!
//! The session owns the transaction; executors borrow it through [`TxnRef`] (a shared handle,
//! because a plan's operators — e.g. the two sides of a join — read through it concurrently
//! within one statement, and result streams outlive the call that created them).

use crate::types::{DataType, Row};
use crate::Result;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A shared handle on the statement's transaction.
pub type TxnRef = Arc<Mutex<Box<dyn txn::Transaction>>>;

/// Default per-query memory budget for sorts, aggregations, hash joins and buffered results.
pub const DEFAULT_QUERY_MEMORY_BYTES: usize = 256 << 20;

/// Everything a statement needs from its session.
#[derive(Clone)]
pub struct ExecContext {
    /// The transaction the statement runs in.
    pub txn: TxnRef,
    /// The current database (`SET database`/`USE`).
    pub database: String,
    /// The statement's timestamp: what now() and current_timestamp return (fixed for the
    /// transaction, as in PostgreSQL).
    pub txn_time: chrono::DateTime<chrono::Utc>,
    /// Byte budget for memory-hungry operators; exceeding it fails with SQLSTATE 53200.
    pub memory_budget_bytes: usize,
    /// Set by a cancel request; long-running operators check it and fail with 57014.
    pub cancel: Arc<AtomicBool>,
    /// The session user.
    pub user: String,
    /// Source of transactions (for DDL that must read the catalog at a fresh timestamp, and
    /// for the node's clock).
    pub txns: Arc<dyn txn::TxnSource>,
    /// System tables computed on demand (pg_catalog, information_schema, crdb_internal).
    pub vtables: Arc<dyn VirtualTables>,
}

/// Tables whose rows are computed rather than stored: `pg_catalog`, `information_schema` and
/// `crdb_internal`. The planner asks here before the catalog when a name is schema-qualified
/// with one of these schemas (or unqualified and not a user table, for pg_catalog).
pub trait VirtualTables: Send + Sync {
    /// The columns of `schema.name`, or None when there is no such virtual table.
    fn lookup(&self, schema: &str, name: &str) -> Option<Vec<Column>>;
    /// The rows of `schema.name` as seen by the statement's transaction.
    fn rows(&self, ctx: &ExecContext, schema: &str, name: &str) -> Result<Vec<Row>>;
}

/// A [`VirtualTables`] with no tables (tests of layers below the server).
pub struct NoVirtualTables;

impl VirtualTables for NoVirtualTables {
    fn lookup(&self, _schema: &str, _name: &str) -> Option<Vec<Column>> {
        None
    }
    fn rows(&self, _ctx: &ExecContext, schema: &str, name: &str) -> Result<Vec<Row>> {
        Err(crate::Error::new(
            crate::error::code::UNDEFINED_TABLE,
            format!("relation \"{schema}.{name}\" does not exist"),
        ))
    }
}

impl ExecContext {
    /// Fails with 57014 if the statement was cancelled.
    pub fn check_cancel(&self) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(crate::Error::new(
                crate::error::code::QUERY_CANCELED,
                "canceling statement due to user request",
            ));
        }
        Ok(())
    }
}

/// A result column: its name and type (the type gives the RowDescription OID).
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Output name.
    pub name: String,
    /// Output type.
    pub ty: DataType,
}

impl Column {
    /// A column with a name and type.
    pub fn new(name: impl Into<String>, ty: DataType) -> Self {
        Column {
            name: name.into(),
            ty,
        }
    }
}

/// A stream of result rows, produced lazily so large results are never buffered whole.
pub type RowStream = Box<dyn Iterator<Item = Result<Row>> + Send>;

/// What executing one statement produced.
pub enum ExecResult {
    /// A query's rows (SELECT, SHOW, RETURNING, EXPLAIN...). `tag` is the CommandComplete
    /// verb ("SELECT", "INSERT 0", "UPDATE", "DELETE", "SHOW"...); the row count is appended
    /// by the server when the stream ends.
    Rows {
        /// The result columns.
        columns: Vec<Column>,
        /// The rows.
        rows: RowStream,
        /// The command tag prefix.
        tag: String,
    },
    /// A command without rows, with its complete CommandComplete tag ("CREATE TABLE",
    /// "INSERT 0 3", "UPDATE 2").
    Command {
        /// The tag.
        tag: String,
    },
}

impl ExecResult {
    /// A command result with the given tag.
    pub fn command(tag: impl Into<String>) -> Self {
        ExecResult::Command { tag: tag.into() }
    }

    /// A result from rows already in memory (small results such as SHOW output).
    pub fn rows(columns: Vec<Column>, rows: Vec<Row>, tag: impl Into<String>) -> Self {
        ExecResult::Rows {
            columns,
            rows: Box::new(rows.into_iter().map(Ok)),
            tag: tag.into(),
        }
    }
}
