//! A SQL session: one per client connection.
//!
//! The session owns what PostgreSQL keeps per backend: the current database and user, the
//! settings ([`vars`]), and the transaction state machine ([`transaction`]). The pgwire server hands it
//! parsed statements; it routes them:
//!
//! - transaction control (BEGIN/COMMIT/ROLLBACK/SAVEPOINT/RELEASE, SET TRANSACTION) and session
//!   statements (SET/SHOW/RESET variables, USE, DISCARD) run here;
//! - multi-region statements (SHOW REGIONS, ALTER DATABASE ... ADD REGION, ...) go to
//!   [`crate::multiregion::execute`];
//! - DDL and SHOW-table statements go to [`crate::ddl::execute`];
//! - everything else to [`crate::exec::execute`].
//!
//! Outside an explicit transaction each statement runs in its own implicit transaction that
//! commits when the statement's result has been fully consumed: [`Session::execute`] starts the
//! statement and returns its (lazy) result, and the server calls [`Session::finish_statement`]
//! once it has streamed the rows. An implicit statement that fails with 40001 before any row
//! reached the client may be retried by the caller ([`Session::can_retry`]), at most
//! [`MAX_IMPLICIT_RETRIES`] times; the caller waits [`retry_backoff`] before each retry
//! (exponential, from [`RETRY_BACKOFF_BASE_MS`] up to [`RETRY_BACKOFF_MAX_MS`]) so contending
//! statements spread out. A 40003 (ambiguous commit) is never retried.
//!
//! `SELECT ... AS OF SYSTEM TIME` outside a transaction block runs in its own read-only
//! transaction at that time ([`as_of`]); inside one its time must be the block's.
//! Bounded-staleness clauses and `default_transaction_use_follower_reads` choose such a time
//! for the user ([`staleness`]).
//!
//! IMPLEMENTATION CAVEATS
//! - A simple-protocol query string with several statements runs each in its own implicit
//!   transaction (PostgreSQL runs them as one); an error still skips the remaining statements.
//! - `SET` is not transactional (see [`vars`]).

pub mod as_of;
pub mod staleness;
pub mod transaction;
pub mod vars;

use crate::context::{Column, ExecContext, ExecResult, TxnRef, VirtualTables};
use crate::error::code;
use crate::plan::cache::PlanSlot;
use crate::types::{DataType, Datum};
use crate::{Error, Result};
use sqlparser::ast::{Expr, Statement, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use transaction::TxnState;
pub use transaction::TxnStatus;
pub use vars::Vars;

/// How many times an implicit single statement is retried after a 40001 before the error is
/// returned to the client.
pub const MAX_IMPLICIT_RETRIES: usize = 5;

/// The wait before the first automatic retry of an implicit statement.
pub const RETRY_BACKOFF_BASE_MS: u64 = 2;

/// The longest wait between automatic retries.
pub const RETRY_BACKOFF_MAX_MS: u64 = 50;

/// The wait before automatic retry number `attempt` (1-based): doubling from
/// [`RETRY_BACKOFF_BASE_MS`], capped at [`RETRY_BACKOFF_MAX_MS`].
pub fn retry_backoff(attempt: u32) -> std::time::Duration {
    let ms = RETRY_BACKOFF_BASE_MS
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(16))
        .min(RETRY_BACKOFF_MAX_MS);
    std::time::Duration::from_millis(ms)
}

/// A notice or warning to send to the client (NoticeResponse) before the statement's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// "NOTICE" or "WARNING".
    pub severity: &'static str,
    /// SQLSTATE ("00000" for notices, "25001"/"25P01" for PostgreSQL's transaction warnings).
    pub code: &'static str,
    /// Message text.
    pub message: String,
}

/// Result columns and parameter types of a prepared statement (extended protocol Describe).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Description {
    /// Parameter types ($1, $2...).
    pub params: Vec<DataType>,
    /// Result columns; empty for statements without rows (NoData).
    pub columns: Vec<Column>,
    /// The schema generation the statement was planned under (None: not planned, or no
    /// generation key yet); see [`crate::plan::cache`].
    pub generation: Option<crate::catalog::Generation>,
}

/// One client's session.
pub struct Session {
    txns: Arc<dyn ::txn::TxnSource>,
    vtables: Arc<dyn VirtualTables>,
    cancel: Arc<AtomicBool>,
    user: String,
    /// Settings (SET/SHOW).
    pub vars: Vars,
    state: TxnState,
    notices: Vec<Notice>,
    memory_budget_bytes: usize,
}

impl Session {
    /// A session for `user` in `database` (not checked here: see [`Session::check_database`]).
    pub fn new(
        txns: Arc<dyn ::txn::TxnSource>,
        vtables: Arc<dyn VirtualTables>,
        user: &str,
        database: &str,
    ) -> Session {
        Session {
            txns,
            vtables,
            cancel: Arc::new(AtomicBool::new(false)),
            user: user.to_string(),
            vars: Vars::new(user, database),
            state: TxnState::Idle,
            notices: Vec::new(),
            memory_budget_bytes: crate::context::DEFAULT_QUERY_MEMORY_BYTES,
        }
    }

    /// The current database.
    pub fn database(&self) -> String {
        self.vars.get("database").unwrap_or_default()
    }

    /// The session user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The flag a cancel request sets; statements check it through their ExecContext.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    /// Sets the per-query memory budget.
    pub fn set_memory_budget(&mut self, bytes: usize) {
        self.memory_budget_bytes = bytes;
    }

    /// The transaction status reported in ReadyForQuery.
    pub fn status(&self) -> TxnStatus {
        self.state.status()
    }

    /// Notices queued by the last statements.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    pub(crate) fn notice(&mut self, severity: &'static str, code: &'static str, msg: String) {
        self.notices.push(Notice {
            severity,
            code,
            message: msg,
        });
    }

    /// Fails with 3D000 unless `database` exists (startup packet, SET database, USE).
    pub fn check_database(&mut self, database: &str) -> Result<()> {
        let exists = self.with_read_txn(|ctx| {
            Ok(crate::catalog::Catalog::database(&ctx.txn, database)?.is_some())
        })?;
        if exists {
            Ok(())
        } else {
            Err(Error::new(
                code::INVALID_CATALOG_NAME,
                format!("database \"{database}\" does not exist"),
            ))
        }
    }

    /// Whether a failed statement may be re-run by the caller: it ran in an implicit
    /// transaction (so nothing else the client did is lost) and the error is 40001.
    pub fn can_retry(&self, was_implicit: bool, err: &Error) -> bool {
        was_implicit && err.is_retryable() && matches!(self.state, TxnState::Idle)
    }

    /// Whether the next statement would run in an implicit transaction.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, TxnState::Idle)
    }

    /// Starts executing `stmt`. For row results the rows are produced lazily: the caller
    /// consumes them and then calls [`Session::finish_statement`] (also for commands). On
    /// error the session has already recorded the failure (implicit transaction rolled back,
    /// explicit one marked failed) and `finish_statement` must not be called.
    pub fn execute(&mut self, stmt: &Statement, params: &[Datum]) -> Result<ExecResult> {
        self.execute_typed(stmt, params, &[])
    }

    /// Like [`Session::execute`], with the parameter types of the prepared statement (the
    /// extended protocol), so execution plans exactly as Describe did.
    pub fn execute_typed(
        &mut self,
        stmt: &Statement,
        params: &[Datum],
        param_types: &[DataType],
    ) -> Result<ExecResult> {
        self.execute_prepared(stmt, params, param_types, None)
    }

    /// Like [`Session::execute_typed`], for a prepared statement whose plan is cached in
    /// `slot` (reused while the schema and settings it depends on are unchanged; see
    /// [`crate::plan::cache`]).
    pub fn execute_prepared(
        &mut self,
        stmt: &Statement,
        params: &[Datum],
        param_types: &[DataType],
        slot: Option<&PlanSlot>,
    ) -> Result<ExecResult> {
        self.cancel.store(false, Ordering::Relaxed);
        let result = if is_session_statement(stmt) {
            self.execute_session_statement(stmt)
        } else {
            self.execute_in_txn(stmt, params, param_types, slot)
        };
        match result {
            Ok(r) => Ok(r),
            Err(e) => {
                self.state.fail(&e);
                Err(e)
            }
        }
    }

    /// Ends the statement started by [`Session::execute`]: commits its implicit transaction
    /// (returning the commit's error, e.g. 40001) or, if `outcome` is an error, rolls it back
    /// / marks the explicit transaction failed.
    pub fn finish_statement(&mut self, outcome: std::result::Result<(), &Error>) -> Result<()> {
        match outcome {
            Ok(()) => self.state.finish_ok(),
            Err(e) => {
                self.state.fail(e);
                Ok(())
            }
        }
    }

    /// Commits an implicit transaction kept open for a suspended portal (at Sync and at the
    /// end of a simple query); a no-op otherwise.
    pub fn end_implicit(&mut self) -> Result<()> {
        self.state.end_implicit()
    }

    /// Ends the connection: abandons any open transaction.
    pub fn close(&mut self) {
        self.state.abandon();
    }

    fn execute_in_txn(
        &mut self,
        stmt: &Statement,
        params: &[Datum],
        param_types: &[DataType],
        slot: Option<&PlanSlot>,
    ) -> Result<ExecResult> {
        self.state.check_can_run()?;
        let as_of = match crate::parser::select_as_of(stmt) {
            Some(e) => Some(self.statement_as_of(e)?),
            None => None,
        };
        if self.state.is_idle() {
            let read_only = as_of.is_some() || self.vars.default_read_only();
            let opts = ::txn::TxnOptions {
                read_only,
                as_of: as_of.or_else(|| self.follower_reads_as_of(read_only)),
            };
            self.state.begin_implicit(self.txns.as_ref(), opts)?;
        } else if let Some(ts) = as_of {
            self.state.check_as_of(ts)?;
        }
        let ctx = self.exec_context()?;
        self.state.count_statement();
        if let Some(r) = crate::ranges::execute(&ctx, stmt, params, param_types)? {
            return Ok(r);
        }
        if let Some(r) = crate::multiregion::execute(&ctx, stmt)? {
            return Ok(r);
        }
        if let Some(r) = crate::ddl::execute(&ctx, stmt)? {
            return Ok(r);
        }
        let opts = crate::exec::ExecOptions {
            implicit_select_for_update: self.vars.implicit_select_for_update(),
        };
        match slot {
            Some(slot) => {
                crate::exec::execute_prepared(&ctx, stmt, params, param_types, opts, slot)
            }
            None => crate::exec::execute_with(&ctx, stmt, params, param_types, opts),
        }
    }

    /// The execution context for the current transaction.
    fn exec_context(&self) -> Result<ExecContext> {
        let (txn, txn_time) = self
            .state
            .current()
            .ok_or_else(|| Error::internal("statement executed without a transaction"))?;
        Ok(self.context_for(txn, txn_time))
    }

    fn context_for(&self, txn: TxnRef, txn_time: chrono::DateTime<chrono::Utc>) -> ExecContext {
        ExecContext {
            txn,
            database: self.database(),
            txn_time,
            memory_budget_bytes: self.memory_budget_bytes,
            cancel: self.cancel.clone(),
            user: self.user.clone(),
            txns: self.txns.clone(),
            vtables: self.vtables.clone(),
        }
    }

    /// Runs `f` with a context on the current explicit transaction, or on a fresh read-only
    /// transaction that is discarded afterwards (Describe, database checks).
    pub fn with_read_txn<T>(&mut self, f: impl FnOnce(&ExecContext) -> Result<T>) -> Result<T> {
        if let Some((txn, time)) = self.state.current() {
            let ctx = self.context_for(txn, time);
            return f(&ctx);
        }
        let opts = ::txn::TxnOptions {
            read_only: true,
            as_of: None,
        };
        let txn = crate::catalog::memo::wrap(self.txns.begin(opts)?);
        let txn: TxnRef = Arc::new(parking_lot::Mutex::new(txn));
        let ctx = self.context_for(txn, chrono::Utc::now());
        let out = f(&ctx);
        let txn = ctx.txn.clone();
        drop(ctx);
        if let Ok(m) = Arc::try_unwrap(txn) {
            m.into_inner().rollback();
        }
        out
    }

    /// Parameter types and result columns of `stmt` without executing it (extended protocol).
    /// `hints` are the client's parameter types from Parse (Unknown where unspecified).
    pub fn describe(&mut self, stmt: &Statement, hints: &[DataType]) -> Result<Description> {
        if is_session_statement(stmt) {
            return Ok(Description {
                params: hints.to_vec(),
                columns: session_columns(stmt),
                generation: None,
            });
        }
        if self.state.is_failed() {
            return Err(transaction::aborted_error());
        }
        if crate::ranges::is_ranges_statement(stmt) {
            let (params, columns) =
                self.with_read_txn(|ctx| crate::ranges::describe(ctx, stmt, hints))?;
            return Ok(Description {
                params,
                columns,
                generation: None,
            });
        }
        if crate::multiregion::is_show(stmt) {
            let columns =
                self.with_read_txn(|ctx| match crate::multiregion::execute(ctx, stmt)? {
                    Some(ExecResult::Rows { columns, .. }) => Ok(columns),
                    _ => Ok(Vec::new()),
                })?;
            return Ok(Description {
                params: hints.to_vec(),
                columns,
                generation: None,
            });
        }
        if crate::multiregion::is_statement(stmt) {
            return Ok(Description {
                params: hints.to_vec(),
                columns: Vec::new(),
                generation: None,
            });
        }
        if is_show_statement(stmt) {
            // SHOW statements are read-only: run one to learn its columns.
            let columns = self.with_read_txn(|ctx| match crate::ddl::execute(ctx, stmt)? {
                Some(ExecResult::Rows { columns, .. }) => Ok(columns),
                _ => Ok(Vec::new()),
            })?;
            return Ok(Description {
                params: hints.to_vec(),
                columns,
                generation: None,
            });
        }
        if is_ddl_statement(stmt) {
            return Ok(Description {
                params: hints.to_vec(),
                columns: Vec::new(),
                generation: None,
            });
        }
        let (d, generation) = self.with_read_txn(|ctx| {
            let generation = crate::catalog::Catalog::generation(&ctx.txn)?;
            Ok((crate::plan::describe(ctx, stmt, hints)?, generation))
        })?;
        Ok(Description {
            params: d.params,
            columns: d.columns,
            generation,
        })
    }

    fn execute_session_statement(&mut self, stmt: &Statement) -> Result<ExecResult> {
        match stmt {
            Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. } => self.execute_txn_control(stmt),
            _ => {
                self.state.check_can_run()?;
                self.execute_set_show(stmt)
            }
        }
    }

    fn execute_set_show(&mut self, stmt: &Statement) -> Result<ExecResult> {
        use sqlparser::ast::{Reset, Set, Use};
        match stmt {
            Statement::Set(Set::SetTransaction { modes, session, .. }) => {
                self.execute_set_transaction(modes, *session)
            }
            Statement::Set(set) => self.execute_set(set),
            Statement::ShowVariable { variable } => {
                let name = variable
                    .iter()
                    .map(|i| i.value.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                self.show(&name)
            }
            Statement::Reset(r) => {
                match &r.reset {
                    Reset::ALL => self.vars.reset_all(),
                    Reset::SessionAuthorization => {}
                    Reset::ConfigurationParameter(name) => {
                        let name = name.to_string();
                        if Vars::canonical_name(&name)? == "database" {
                            return Err(Error::unsupported("RESET database is not supported"));
                        }
                        self.vars.reset(&name)?;
                    }
                }
                Ok(ExecResult::command("RESET"))
            }
            Statement::Use(u) => {
                let name = match u {
                    Use::Database(n) | Use::Object(n) | Use::Catalog(n) => ident_text(n),
                    _ => return Err(Error::unsupported(format!("unsupported statement: {u}"))),
                };
                self.set_database(&name)?;
                Ok(ExecResult::command("SET"))
            }
            Statement::Discard { object_type } => {
                if self.state.in_block() {
                    return Err(Error::new(
                        code::ACTIVE_SQL_TRANSACTION,
                        "DISCARD ALL cannot run inside a transaction block",
                    ));
                }
                if object_type.to_string().eq_ignore_ascii_case("ALL") {
                    self.vars.reset_all();
                }
                Ok(ExecResult::command("DISCARD ALL"))
            }
            other => Err(Error::unsupported(format!(
                "unsupported statement: {other}"
            ))),
        }
    }

    fn execute_set(&mut self, set: &sqlparser::ast::Set) -> Result<ExecResult> {
        use sqlparser::ast::Set;
        match set {
            Set::SingleAssignment {
                variable, values, ..
            } => {
                let name = variable.to_string();
                let value = set_value_text(values)?;
                self.set_var(&name, value)?;
            }
            Set::MultipleAssignments { assignments } => {
                if let Some(e) = crate::parser::set_as_of(set) {
                    let ts = self.as_of_timestamp(e)?;
                    if !self.set_txn_as_of(ts)? {
                        return Ok(ExecResult::command("SET"));
                    }
                }
                for a in assignments
                    .iter()
                    .filter(|a| !crate::parser::is_marker_name(&a.name))
                {
                    let value = set_value_text(std::slice::from_ref(&a.value))?;
                    self.set_var(&a.name.to_string(), value)?;
                }
            }
            Set::SetTimeZone { value, .. } => {
                let v = set_value_text(std::slice::from_ref(value))?;
                self.set_var("TimeZone", v)?;
            }
            Set::SetNames { charset_name, .. } => {
                self.vars.set("client_encoding", &charset_name.value)?;
            }
            Set::SetNamesDefault {} => {
                self.vars.reset("client_encoding")?;
            }
            Set::SetSessionAuthorization(p) => {
                let target = p.to_string();
                if !target
                    .to_ascii_lowercase()
                    .contains(&self.user.to_ascii_lowercase())
                    && !target.to_ascii_uppercase().ends_with("DEFAULT")
                {
                    return Err(Error::unsupported(
                        "SET SESSION AUTHORIZATION is not supported",
                    ));
                }
            }
            Set::SetRole { role_name, .. } => {
                if let Some(r) = role_name {
                    if !r.value.eq_ignore_ascii_case(&self.user) {
                        return Err(Error::new(
                            code::UNDEFINED_OBJECT,
                            format!("role \"{}\" does not exist", r.value),
                        ));
                    }
                }
            }
            other => {
                return Err(Error::unsupported(format!(
                    "unsupported statement: {other}"
                )))
            }
        }
        Ok(ExecResult::command("SET"))
    }

    /// Sets a variable; `None` means DEFAULT (reset).
    fn set_var(&mut self, name: &str, value: Option<String>) -> Result<()> {
        let canonical = Vars::canonical_name(name)?;
        match (canonical, value) {
            ("database", Some(db)) => self.set_database(&db),
            ("database", None) => Err(Error::unsupported(
                "SET database TO DEFAULT is not supported",
            )),
            ("transaction_isolation", Some(v)) => {
                // Every level is SERIALIZABLE (vars validates the name); like PostgreSQL, it
                // can only be chosen before the transaction's first query.
                self.vars.set(canonical, &v)?;
                self.state.check_isolation_settable()
            }
            ("transaction_read_only", Some(v)) => {
                let ro = vars::parse_bool(&v).ok_or_else(|| {
                    Error::new(
                        code::INVALID_PARAMETER_VALUE,
                        "parameter \"transaction_read_only\" requires a Boolean value",
                    )
                })?;
                self.set_txn_read_only(ro)
            }
            (_, Some(v)) => self.vars.set(canonical, &v).map(|_| ()),
            (_, None) => self.vars.reset(canonical).map(|_| ()),
        }
    }

    fn set_database(&mut self, db: &str) -> Result<()> {
        self.check_database(db)?;
        self.vars.set_internal("database", db.to_string());
        Ok(())
    }

    fn show(&mut self, name: &str) -> Result<ExecResult> {
        if name.eq_ignore_ascii_case("all") {
            let rows = self
                .vars
                .all()
                .into_iter()
                .map(|r| {
                    vec![
                        Datum::Text(r.name),
                        Datum::Text(r.value),
                        Datum::Text(r.description),
                    ]
                })
                .collect();
            let cols = vec![
                Column::new("name", DataType::Text),
                Column::new("setting", DataType::Text),
                Column::new("description", DataType::Text),
            ];
            return Ok(ExecResult::rows(cols, rows, "SHOW"));
        }
        let canonical = Vars::canonical_name(name)?;
        let value = match canonical {
            "transaction_read_only" => {
                if self
                    .state
                    .read_only()
                    .unwrap_or(self.vars.default_read_only())
                {
                    "on".to_string()
                } else {
                    "off".to_string()
                }
            }
            _ => self.vars.get(canonical)?,
        };
        let col = Column::new(canonical, DataType::Text);
        Ok(ExecResult::rows(
            vec![col],
            vec![vec![Datum::Text(value)]],
            "SHOW",
        ))
    }
}

/// Whether the session itself runs `stmt` (no executor involved).
pub fn is_session_statement(stmt: &Statement) -> bool {
    if crate::ranges::is_ranges_statement(stmt) || crate::multiregion::is_statement(stmt) {
        return false;
    }
    if let Statement::ShowVariable { variable } = stmt {
        // `SHOW INDEXES FROM t` and friends parse as SHOW <variable>; the DDL layer serves them.
        return !crate::ddl::handles_show_variable(variable);
    }
    matches!(
        stmt,
        Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Set(_)
            | Statement::ShowVariable { .. }
            | Statement::Reset(_)
            | Statement::Use(_)
            | Statement::Discard { .. }
    )
}

/// Read-only SHOW statements served by `ddl::execute`.
fn is_show_statement(stmt: &Statement) -> bool {
    if let Statement::ShowVariable { variable } = stmt {
        return crate::ddl::handles_show_variable(variable);
    }
    matches!(
        stmt,
        Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowCreate { .. }
            | Statement::ShowDatabases { .. }
            | Statement::ShowSchemas { .. }
            | Statement::ShowViews { .. }
            | Statement::ShowFunctions { .. }
    )
}

/// Statements without result rows that Describe reports as NoData without planning.
fn is_ddl_statement(stmt: &Statement) -> bool {
    matches!(
        stmt,
        Statement::CreateTable(_)
            | Statement::CreateIndex(_)
            | Statement::CreateDatabase { .. }
            | Statement::CreateSchema { .. }
            | Statement::CreateView { .. }
            | Statement::Drop { .. }
            | Statement::AlterTable { .. }
            | Statement::Truncate { .. }
            | Statement::Comment { .. }
            | Statement::Deallocate { .. }
    )
}

/// The result columns of a session statement (SHOW returns one text column).
fn session_columns(stmt: &Statement) -> Vec<Column> {
    match stmt {
        Statement::ShowVariable { variable } => {
            let name = variable
                .iter()
                .map(|i| i.value.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            if name.eq_ignore_ascii_case("all") {
                vec![
                    Column::new("name", DataType::Text),
                    Column::new("setting", DataType::Text),
                    Column::new("description", DataType::Text),
                ]
            } else {
                let canonical = Vars::canonical_name(&name).unwrap_or("setting");
                vec![Column::new(canonical, DataType::Text)]
            }
        }
        _ => Vec::new(),
    }
}

fn ident_text(name: &sqlparser::ast::ObjectName) -> String {
    name.0
        .iter()
        .map(|p| match p.as_ident() {
            Some(i) if i.quote_style.is_some() => i.value.clone(),
            Some(i) => i.value.to_lowercase(),
            None => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The text of a SET's value list; `None` for DEFAULT. Lists (search_path) join with ", ".
fn set_value_text(values: &[Expr]) -> Result<Option<String>> {
    let mut parts = Vec::with_capacity(values.len());
    for v in values {
        let text = match v {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s)
                | Value::EscapedStringLiteral(s)
                | Value::DoubleQuotedString(s) => s.clone(),
                Value::Number(n, _) => n.to_string(),
                Value::Boolean(b) => if *b { "on" } else { "off" }.to_string(),
                other => other.to_string(),
            },
            Expr::Identifier(i)
                if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default") =>
            {
                if values.len() == 1 {
                    return Ok(None);
                }
                i.value.clone()
            }
            Expr::Identifier(i) => {
                if i.quote_style.is_some() {
                    i.value.clone()
                } else {
                    i.value.to_lowercase()
                }
            }
            Expr::UnaryOp {
                op: sqlparser::ast::UnaryOperator::Minus,
                expr,
            } => {
                format!(
                    "-{}",
                    set_value_text(std::slice::from_ref(expr))?.unwrap_or_default()
                )
            }
            Expr::CompoundIdentifier(parts) => parts
                .iter()
                .map(|p| p.value.clone())
                .collect::<Vec<_>>()
                .join("."),
            other => {
                return Err(Error::syntax(format!("invalid value in SET: {other}")));
            }
        };
        parts.push(text);
    }
    Ok(Some(parts.join(", ")))
}

#[cfg(test)]
mod cache_tests;
#[cfg(test)]
mod staleness_tests;
#[cfg(test)]
mod tests;
