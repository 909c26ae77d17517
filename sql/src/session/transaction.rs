//! The session's transaction state machine and the transaction-control statements.
//!
//! States, as PostgreSQL reports them in ReadyForQuery:
//! - `Idle` ('I'): no transaction; the next statement gets an implicit one.
//! - `Implicit` ('I'): the implicit transaction of the statement being run; it commits when the
//!   statement's result has been consumed and rolls back on error.
//! - `Explicit` ('T'): inside BEGIN ... COMMIT.
//! - `Aborted` ('E'): an explicit transaction after an error: every statement fails with 25P02
//!   until ROLLBACK (or ROLLBACK TO SAVEPOINT, which recovers); COMMIT rolls back and answers
//!   with the ROLLBACK tag, as PostgreSQL does.
//! - `CommitWait` ('T'): CockroachDB's state after `RELEASE SAVEPOINT cockroach_restart`
//!   committed the transaction; only COMMIT/ROLLBACK are accepted.
//!
//! Savepoints use the transaction's savepoint tokens ([`::txn::Transaction::savepoint`]).
//! `cockroach_restart` is special, as in CockroachDB: `ROLLBACK TO SAVEPOINT cockroach_restart`
//! (typically after a 40001) restarts the whole transaction with a fresh snapshot, and
//! `RELEASE SAVEPOINT cockroach_restart` commits it, so a retryable commit error can still be
//! handled by rolling back to the savepoint.
//!
//! Every isolation level maps to SERIALIZABLE, silently (no NOTICE, as CockroachDB upgrades
//! levels it does not run); `SHOW transaction_isolation` says `serializable`. As in
//! PostgreSQL the level can be set only before the transaction's first query (25001).
//!
//! `BEGIN AS OF SYSTEM TIME x` and `SET TRANSACTION AS OF SYSTEM TIME x` (before the first
//! query) make the block a read-only transaction reading at `x` (see [`super::as_of`]).
//! With `default_transaction_use_follower_reads = on`, a block that starts read-only (BEGIN
//! READ ONLY, `default_transaction_read_only`) or is made read-only by SET TRANSACTION READ
//! ONLY before its first query reads at `follower_read_timestamp()` ([`super::staleness`]);
//! SET TRANSACTION READ WRITE before the first query drops that timestamp again.
//!
//! IMPLEMENTATION CAVEATS
//! - `SET TRANSACTION READ ONLY|READ WRITE` is accepted only before the transaction's first
//!   statement (it restarts the not-yet-used transaction with the new mode); PostgreSQL also
//!   allows switching to READ ONLY later.
//! - Rolling back to an ordinary savepoint undoes writes but not the reads already recorded
//!   for the serializability check, so a conflict on those reads still fails the commit.

use super::{Session, TxnRef};
use crate::context::ExecResult;
use crate::error::code;
use crate::{Error, Result};
use ::txn::TxnOptions;
use chrono::{DateTime, Utc};
use sqlparser::ast::{Statement, TransactionAccessMode, TransactionMode};
use std::sync::Arc;

/// The savepoint name with CockroachDB's restart semantics.
pub const RESTART_SAVEPOINT: &str = "cockroach_restart";

/// Transaction status for ReadyForQuery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnStatus {
    /// Not in a transaction block ('I').
    Idle,
    /// In a transaction block ('T').
    InBlock,
    /// In a failed transaction block ('E').
    Failed,
}

/// A named savepoint and the transaction's token for it.
#[derive(Debug, Clone)]
struct Savepoint {
    name: String,
    token: usize,
}

/// A running transaction.
pub(crate) struct OpenTxn {
    txn: TxnRef,
    start: DateTime<Utc>,
    opts: TxnOptions,
    savepoints: Vec<Savepoint>,
    statements: usize,
    /// Whether `opts.as_of` came from `default_transaction_use_follower_reads` (so switching
    /// to READ WRITE drops it instead of failing).
    follower_reads: bool,
}

/// A failed explicit transaction; `txn` is None when the failure consumed it (a failed commit).
pub(crate) struct AbortedTxn {
    txn: Option<TxnRef>,
    opts: TxnOptions,
    savepoints: Vec<Savepoint>,
}

/// See the module docs.
pub(crate) enum TxnState {
    Idle,
    Implicit(OpenTxn),
    Explicit(OpenTxn),
    Aborted(AbortedTxn),
    CommitWait,
}

/// 25P02.
pub fn aborted_error() -> Error {
    Error::new(
        code::IN_FAILED_SQL_TRANSACTION,
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}

fn committed_error() -> Error {
    Error::new(
        code::INVALID_TRANSACTION_STATE,
        "current transaction is committed, commands ignored until end of transaction block",
    )
}

fn begin(txns: &dyn ::txn::TxnSource, opts: TxnOptions) -> Result<OpenTxn> {
    // The catalog reads the schema generation once per transaction (catalog::memo).
    let txn = crate::catalog::memo::wrap(txns.begin(opts)?);
    // now() in an AS OF SYSTEM TIME transaction is the time it reads at, as in CockroachDB.
    let start = opts.as_of.map_or_else(Utc::now, super::as_of::wall_time);
    Ok(OpenTxn {
        txn: Arc::new(parking_lot::Mutex::new(txn)),
        start,
        opts,
        savepoints: Vec::new(),
        statements: 0,
        follower_reads: false,
    })
}

/// Commits a transaction nothing else references any more.
fn commit(txn: TxnRef) -> Result<()> {
    match Arc::try_unwrap(txn) {
        Ok(m) => {
            m.into_inner().commit()?;
            Ok(())
        }
        Err(_) => Err(Error::internal(
            "cannot commit: the transaction is still in use by a result",
        )),
    }
}

/// Rolls back (or, if a result stream still holds it, abandons: it rolls back when dropped).
fn rollback(txn: TxnRef) {
    if let Ok(m) = Arc::try_unwrap(txn) {
        m.into_inner().rollback();
    }
}

impl TxnState {
    pub(crate) fn status(&self) -> TxnStatus {
        match self {
            TxnState::Idle | TxnState::Implicit(_) => TxnStatus::Idle,
            TxnState::Explicit(_) | TxnState::CommitWait => TxnStatus::InBlock,
            TxnState::Aborted(_) => TxnStatus::Failed,
        }
    }

    pub(crate) fn is_idle(&self) -> bool {
        matches!(self, TxnState::Idle)
    }

    pub(crate) fn is_failed(&self) -> bool {
        matches!(self, TxnState::Aborted(_))
    }

    pub(crate) fn in_block(&self) -> bool {
        matches!(
            self,
            TxnState::Explicit(_) | TxnState::Aborted(_) | TxnState::CommitWait
        )
    }

    /// Fails unless an ordinary statement may run now.
    pub(crate) fn check_can_run(&self) -> Result<()> {
        match self {
            TxnState::Aborted(_) => Err(aborted_error()),
            TxnState::CommitWait => Err(committed_error()),
            _ => Ok(()),
        }
    }

    pub(crate) fn begin_implicit(
        &mut self,
        txns: &dyn ::txn::TxnSource,
        opts: TxnOptions,
    ) -> Result<()> {
        *self = TxnState::Implicit(begin(txns, opts)?);
        Ok(())
    }

    /// The transaction statements run in now, with its start time.
    pub(crate) fn current(&self) -> Option<(TxnRef, DateTime<Utc>)> {
        match self {
            TxnState::Implicit(t) | TxnState::Explicit(t) => Some((t.txn.clone(), t.start)),
            _ => None,
        }
    }

    pub(crate) fn count_statement(&mut self) {
        if let TxnState::Implicit(t) | TxnState::Explicit(t) = self {
            t.statements += 1;
        }
    }

    /// The current transaction's access mode, if one is open.
    pub(crate) fn read_only(&self) -> Option<bool> {
        match self {
            TxnState::Implicit(t) | TxnState::Explicit(t) => Some(t.opts.read_only),
            TxnState::Aborted(a) => Some(a.opts.read_only),
            _ => None,
        }
    }

    /// Fails unless a SELECT ... AS OF SYSTEM TIME `ts` may run in the open transaction: its
    /// time must be the transaction's own (CockroachDB).
    pub(crate) fn check_as_of(&self, ts: ::txn::Timestamp) -> Result<()> {
        let current = match self {
            TxnState::Implicit(t) | TxnState::Explicit(t) => t.opts.as_of,
            _ => None,
        };
        if current == Some(ts) {
            return Ok(());
        }
        let expected = current.map_or_else(
            || "a transaction without AS OF SYSTEM TIME".to_string(),
            super::as_of::decimal_text,
        );
        Err(Error::new(
            code::FEATURE_NOT_SUPPORTED,
            format!(
                "inconsistent AS OF SYSTEM TIME timestamp; expected: {expected}, got: {}",
                super::as_of::decimal_text(ts)
            ),
        )
        .with_hint("use BEGIN AS OF SYSTEM TIME, or run the SELECT outside the transaction"))
    }

    /// 25001 once the explicit transaction has run a query (isolation is chosen before).
    pub(crate) fn check_isolation_settable(&self) -> Result<()> {
        match self {
            TxnState::Explicit(t) if t.statements > 0 => Err(Error::new(
                code::ACTIVE_SQL_TRANSACTION,
                "SET TRANSACTION ISOLATION LEVEL must be called before any query",
            )),
            _ => Ok(()),
        }
    }

    /// Records a failed statement: an implicit transaction rolls back, an explicit one enters
    /// the failed state.
    pub(crate) fn fail(&mut self, _err: &Error) {
        match std::mem::replace(self, TxnState::Idle) {
            TxnState::Implicit(t) => rollback(t.txn),
            TxnState::Explicit(t) => {
                *self = TxnState::Aborted(AbortedTxn {
                    txn: Some(t.txn),
                    opts: t.opts,
                    savepoints: t.savepoints,
                })
            }
            other => *self = other,
        }
    }

    /// A statement succeeded: commit its implicit transaction, unless a suspended portal
    /// still reads from it (extended protocol): then it commits at Sync ([`TxnState::end_implicit`]).
    pub(crate) fn finish_ok(&mut self) -> Result<()> {
        match std::mem::replace(self, TxnState::Idle) {
            TxnState::Implicit(t) if Arc::strong_count(&t.txn) > 1 => {
                *self = TxnState::Implicit(t);
                Ok(())
            }
            TxnState::Implicit(t) => commit(t.txn),
            other => {
                *self = other;
                Ok(())
            }
        }
    }

    /// Commits a still-open implicit transaction (Sync, end of a simple query).
    pub(crate) fn end_implicit(&mut self) -> Result<()> {
        match std::mem::replace(self, TxnState::Idle) {
            TxnState::Implicit(t) => commit(t.txn),
            other => {
                *self = other;
                Ok(())
            }
        }
    }

    /// Abandons whatever is open (connection closed).
    pub(crate) fn abandon(&mut self) {
        match std::mem::replace(self, TxnState::Idle) {
            TxnState::Implicit(t) | TxnState::Explicit(t) => rollback(t.txn),
            TxnState::Aborted(AbortedTxn { txn: Some(t), .. }) => rollback(t),
            _ => {}
        }
    }
}

fn savepoint_name(ident: &sqlparser::ast::Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// READ ONLY / READ WRITE from transaction modes (isolation levels are all SERIALIZABLE).
fn access_mode(modes: &[TransactionMode]) -> Option<bool> {
    modes.iter().rev().find_map(|m| match m {
        TransactionMode::AccessMode(TransactionAccessMode::ReadOnly) => Some(true),
        TransactionMode::AccessMode(TransactionAccessMode::ReadWrite) => Some(false),
        TransactionMode::IsolationLevel(_) => None,
    })
}

impl Session {
    pub(super) fn execute_txn_control(&mut self, stmt: &Statement) -> Result<ExecResult> {
        match stmt {
            Statement::StartTransaction { modes, begin, .. } => {
                let as_of = match crate::parser::begin_as_of(stmt) {
                    Some(e) if matches!(self.state, TxnState::Idle) => {
                        Some(self.as_of_timestamp(e)?)
                    }
                    _ => None,
                };
                self.begin_block(modes, *begin, as_of)
            }
            Statement::Commit { .. } => self.commit_block(),
            Statement::Rollback {
                savepoint: None, ..
            } => self.rollback_block(),
            Statement::Rollback {
                savepoint: Some(name),
                ..
            } => self.rollback_to_savepoint(&savepoint_name(name)),
            Statement::Savepoint { name } => self.savepoint(&savepoint_name(name)),
            Statement::ReleaseSavepoint { name } => self.release_savepoint(&savepoint_name(name)),
            other => Err(Error::internal(format!(
                "not a transaction statement: {other}"
            ))),
        }
    }

    fn begin_block(
        &mut self,
        modes: &[TransactionMode],
        is_begin: bool,
        as_of: Option<::txn::Timestamp>,
    ) -> Result<ExecResult> {
        let tag = if is_begin {
            "BEGIN"
        } else {
            "START TRANSACTION"
        };
        match &self.state {
            TxnState::Idle => {
                let read_only = access_mode(modes).unwrap_or(self.vars.default_read_only());
                if as_of.is_some() && access_mode(modes) == Some(false) {
                    return Err(Error::new(
                        code::READ_ONLY_SQL_TRANSACTION,
                        "AS OF SYSTEM TIME specified with READ WRITE mode",
                    ));
                }
                let read_only = read_only || as_of.is_some();
                let follower = as_of
                    .is_none()
                    .then(|| self.follower_reads_as_of(read_only));
                let follower = follower.flatten();
                let opts = TxnOptions {
                    read_only,
                    as_of: as_of.or(follower),
                };
                let mut t = begin(self.txns.as_ref(), opts)?;
                t.follower_reads = follower.is_some();
                self.state = TxnState::Explicit(t);
                Ok(ExecResult::command(tag))
            }
            TxnState::Aborted(_) => Err(aborted_error()),
            _ => {
                self.notice(
                    "WARNING",
                    code::ACTIVE_SQL_TRANSACTION,
                    "there is already a transaction in progress".into(),
                );
                Ok(ExecResult::command(tag))
            }
        }
    }

    fn commit_block(&mut self) -> Result<ExecResult> {
        match std::mem::replace(&mut self.state, TxnState::Idle) {
            TxnState::Idle | TxnState::Implicit(_) => {
                self.notice(
                    "WARNING",
                    code::NO_ACTIVE_SQL_TRANSACTION,
                    "there is no transaction in progress".into(),
                );
                Ok(ExecResult::command("COMMIT"))
            }
            TxnState::Explicit(t) => {
                commit(t.txn)?;
                Ok(ExecResult::command("COMMIT"))
            }
            TxnState::Aborted(a) => {
                if let Some(t) = a.txn {
                    rollback(t);
                }
                Ok(ExecResult::command("ROLLBACK"))
            }
            TxnState::CommitWait => Ok(ExecResult::command("COMMIT")),
        }
    }

    fn rollback_block(&mut self) -> Result<ExecResult> {
        match std::mem::replace(&mut self.state, TxnState::Idle) {
            TxnState::Idle => {
                self.notice(
                    "WARNING",
                    code::NO_ACTIVE_SQL_TRANSACTION,
                    "there is no transaction in progress".into(),
                );
            }
            other => {
                let mut s = other;
                s.abandon();
            }
        }
        Ok(ExecResult::command("ROLLBACK"))
    }

    fn savepoint(&mut self, name: &str) -> Result<ExecResult> {
        match &mut self.state {
            TxnState::Explicit(t) => {
                let token = t.txn.lock().savepoint();
                t.savepoints.push(Savepoint {
                    name: name.to_string(),
                    token,
                });
                Ok(ExecResult::command("SAVEPOINT"))
            }
            TxnState::Aborted(_) => Err(aborted_error()),
            TxnState::CommitWait => Err(committed_error()),
            TxnState::Idle | TxnState::Implicit(_) => Err(Error::new(
                code::NO_ACTIVE_SQL_TRANSACTION,
                "SAVEPOINT can only be used in transaction blocks",
            )),
        }
    }

    fn release_savepoint(&mut self, name: &str) -> Result<ExecResult> {
        let t = match &mut self.state {
            TxnState::Explicit(t) => t,
            TxnState::Aborted(_) => return Err(aborted_error()),
            TxnState::CommitWait => return Err(committed_error()),
            TxnState::Idle | TxnState::Implicit(_) => {
                return Err(Error::new(
                    code::NO_ACTIVE_SQL_TRANSACTION,
                    "RELEASE SAVEPOINT can only be used in transaction blocks",
                ))
            }
        };
        let pos = find_savepoint(&t.savepoints, name)?;
        if name != RESTART_SAVEPOINT {
            t.savepoints.truncate(pos);
            return Ok(ExecResult::command("RELEASE"));
        }
        // RELEASE SAVEPOINT cockroach_restart commits.
        let TxnState::Explicit(t) = std::mem::replace(&mut self.state, TxnState::CommitWait) else {
            return Err(Error::internal("transaction state changed during RELEASE"));
        };
        let savepoints = t.savepoints.clone();
        let opts = t.opts;
        if let Err(e) = commit(t.txn) {
            self.state = TxnState::Aborted(AbortedTxn {
                txn: None,
                opts,
                savepoints,
            });
            return Err(e);
        }
        Ok(ExecResult::command("RELEASE"))
    }

    fn rollback_to_savepoint(&mut self, name: &str) -> Result<ExecResult> {
        let (txn, opts, mut savepoints) = match std::mem::replace(&mut self.state, TxnState::Idle) {
            TxnState::Explicit(t) => (Some(t.txn), t.opts, t.savepoints),
            TxnState::Aborted(a) => (a.txn, a.opts, a.savepoints),
            TxnState::CommitWait => {
                self.state = TxnState::CommitWait;
                return Err(committed_error());
            }
            other => {
                self.state = other;
                return Err(Error::new(
                    code::NO_ACTIVE_SQL_TRANSACTION,
                    "ROLLBACK TO SAVEPOINT can only be used in transaction blocks",
                ));
            }
        };
        let pos = match find_savepoint(&savepoints, name) {
            Ok(p) => p,
            Err(e) => {
                // Stay in (or enter) the failed state.
                self.state = TxnState::Aborted(AbortedTxn {
                    txn,
                    opts,
                    savepoints,
                });
                return Err(e);
            }
        };
        savepoints.truncate(pos + 1);
        if name == RESTART_SAVEPOINT {
            // Restart the whole transaction with a fresh snapshot.
            if let Some(t) = txn {
                rollback(t);
            }
            let mut fresh = match begin(self.txns.as_ref(), opts) {
                Ok(t) => t,
                Err(e) => {
                    self.state = TxnState::Aborted(AbortedTxn {
                        txn: None,
                        opts,
                        savepoints,
                    });
                    return Err(e);
                }
            };
            let token = fresh.txn.lock().savepoint();
            savepoints[pos].token = token;
            fresh.savepoints = savepoints;
            self.state = TxnState::Explicit(fresh);
            return Ok(ExecResult::command("ROLLBACK"));
        }
        let Some(txn) = txn else {
            self.state = TxnState::Aborted(AbortedTxn {
                txn: None,
                opts,
                savepoints,
            });
            return Err(aborted_error());
        };
        txn.lock().rollback_to(savepoints[pos].token);
        self.state = TxnState::Explicit(OpenTxn {
            txn,
            start: Utc::now(),
            opts,
            savepoints,
            statements: 1,
            follower_reads: false,
        });
        Ok(ExecResult::command("ROLLBACK"))
    }

    /// SET TRANSACTION / SET SESSION CHARACTERISTICS AS TRANSACTION.
    pub(super) fn execute_set_transaction(
        &mut self,
        modes: &[TransactionMode],
        session: bool,
    ) -> Result<ExecResult> {
        let read_only = access_mode(modes);
        if session {
            if let Some(ro) = read_only {
                self.vars.set(
                    "default_transaction_read_only",
                    if ro { "on" } else { "off" },
                )?;
            }
            return Ok(ExecResult::command("SET"));
        }
        let has_isolation = modes
            .iter()
            .any(|m| matches!(m, TransactionMode::IsolationLevel(_)));
        match &self.state {
            TxnState::Explicit(t) if has_isolation && t.statements > 0 => {
                return Err(Error::new(
                    code::ACTIVE_SQL_TRANSACTION,
                    "SET TRANSACTION ISOLATION LEVEL must be called before any query",
                ))
            }
            TxnState::Idle => {
                self.notice(
                    "WARNING",
                    code::NO_ACTIVE_SQL_TRANSACTION,
                    "SET TRANSACTION can only be used in transaction blocks".into(),
                );
                return Ok(ExecResult::command("SET"));
            }
            _ => {}
        }
        if let Some(ro) = read_only {
            self.set_txn_read_only(ro)?;
        }
        Ok(ExecResult::command("SET"))
    }

    /// Changes the open explicit transaction's access mode (before its first statement).
    pub(super) fn set_txn_read_only(&mut self, read_only: bool) -> Result<()> {
        let follower = self.follower_reads_as_of(read_only);
        let t = match &mut self.state {
            TxnState::Explicit(t) => t,
            // Outside a block PostgreSQL applies it to the (implicit) statement only: a no-op.
            _ => return Ok(()),
        };
        if t.opts.read_only == read_only {
            return Ok(());
        }
        if t.statements > 0 {
            return Err(Error::new(
                code::ACTIVE_SQL_TRANSACTION,
                "transaction access mode must be set before any query",
            ));
        }
        if t.opts.as_of.is_some() && !t.follower_reads {
            return Err(Error::new(
                code::READ_ONLY_SQL_TRANSACTION,
                "AS OF SYSTEM TIME specified with READ WRITE mode",
            ));
        }
        // READ ONLY with default_transaction_use_follower_reads reads at
        // follower_read_timestamp(); READ WRITE drops that timestamp.
        let opts = TxnOptions {
            read_only,
            as_of: follower,
        };
        self.restart_unused(opts, follower.is_some())
    }

    /// `SET TRANSACTION AS OF SYSTEM TIME`: makes the open, not yet used, explicit transaction
    /// read at `ts`. Returns false (after PostgreSQL's warning) outside a transaction block.
    pub(super) fn set_txn_as_of(&mut self, ts: ::txn::Timestamp) -> Result<bool> {
        let t = match &self.state {
            TxnState::Explicit(t) => t,
            _ => {
                self.notice(
                    "WARNING",
                    code::NO_ACTIVE_SQL_TRANSACTION,
                    "SET TRANSACTION can only be used in transaction blocks".into(),
                );
                return Ok(false);
            }
        };
        if t.opts.as_of == Some(ts) {
            return Ok(true);
        }
        if t.statements > 0 {
            return Err(Error::new(
                code::ACTIVE_SQL_TRANSACTION,
                "SET TRANSACTION AS OF SYSTEM TIME must be called before any query",
            ));
        }
        self.restart_unused(
            TxnOptions {
                read_only: true,
                as_of: Some(ts),
            },
            false,
        )?;
        Ok(true)
    }

    /// Replaces the open explicit transaction, which has run no query yet, by a fresh one
    /// with `opts` (keeping its savepoints).
    fn restart_unused(&mut self, opts: TxnOptions, follower_reads: bool) -> Result<()> {
        let TxnState::Explicit(t) = &mut self.state else {
            return Ok(());
        };
        let mut fresh = begin(self.txns.as_ref(), opts)?;
        fresh.follower_reads = follower_reads;
        fresh.savepoints = std::mem::take(&mut t.savepoints);
        for sp in &mut fresh.savepoints {
            sp.token = fresh.txn.lock().savepoint();
        }
        if let TxnState::Explicit(old) =
            std::mem::replace(&mut self.state, TxnState::Explicit(fresh))
        {
            rollback(old.txn);
        }
        Ok(())
    }
}

/// The position of the innermost savepoint called `name`, or 3B001.
fn find_savepoint(savepoints: &[Savepoint], name: &str) -> Result<usize> {
    savepoints
        .iter()
        .rposition(|s| s.name == name)
        .ok_or_else(|| {
            Error::new(
                code::INVALID_SAVEPOINT,
                format!("savepoint \"{name}\" does not exist"),
            )
        })
}
