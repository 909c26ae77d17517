//! Row-locking clauses: `SELECT ... FOR UPDATE | FOR NO KEY UPDATE | FOR SHARE | FOR KEY SHARE
//! [OF table, ...]`.
//!
//! A locking clause marks the table scans of its query level with a lock strength
//! ([`crate::plan::Scan::lock`]); the executor then reads those tables through the
//! transaction's locking reads (`Transaction::scan_locking` / `get_locking`), so the rows
//! it returns stay locked until the transaction ends and a concurrent writer or locker waits
//! instead of failing later with a serialization error. `FOR UPDATE` and `FOR NO KEY UPDATE`
//! take exclusive locks, `FOR SHARE` and `FOR KEY SHARE` shared ones. Without `OF` every table
//! of the FROM clause is locked (including tables inside FROM subqueries, as in PostgreSQL);
//! with `OF t` only the tables whose name or alias is `t`. Subqueries in expressions
//! (`WHERE x IN (SELECT ...)`) are not affected.
//!
//! The same marking, exclusive, is applied by the binder to the target table of UPDATE and
//! DELETE and to the conflict check of UPSERT / ON CONFLICT DO UPDATE when the session's
//! `enable_implicit_select_for_update` is on (CockroachDB's default).
//!
//! As in PostgreSQL, a locking clause is 0A000 with DISTINCT, GROUP BY, aggregates and
//! UNION/INTERSECT/EXCEPT (the output rows are not table rows), and `SELECT ... FOR UPDATE`
//! in a read-only transaction is 25006 (checked by the executor, [`strongest`]).
//!
//! IMPLEMENTATION CAVEATS
//! - `NOWAIT` and `SKIP LOCKED` are rejected with 0A000: the transaction layer has no
//!   non-blocking lock acquisition to build them on.
//! - A locked scan locks every row it reads from the index span, including rows a residual
//!   filter then discards (PostgreSQL locks only returned rows); a secondary-index scan locks
//!   the primary rows it looks up, not the index entries.
//! - Locking reads of `pg_catalog` / `information_schema` tables are accepted and lock
//!   nothing.

use crate::error::code;
use crate::plan::Plan;
use crate::{Error, Result};
use sqlparser::ast::{LockClause, LockType, NonBlock};
use txn::LockStrength;

/// The clause as PostgreSQL names it in errors.
fn clause_name(l: &LockClause) -> &'static str {
    match l.lock_type {
        LockType::Update => "FOR UPDATE",
        LockType::Share => "FOR SHARE",
    }
}

/// Applies a query level's locking clauses to the scans of its plan.
pub fn apply_locks(locks: &[LockClause], plan: &mut Plan) -> Result<()> {
    for l in locks {
        let name = clause_name(l);
        match l.nonblock {
            Some(NonBlock::Nowait) => {
                return Err(Error::unsupported(format!(
                    "{name} NOWAIT is not supported"
                )))
            }
            Some(NonBlock::SkipLocked) => {
                return Err(Error::unsupported(format!(
                    "{name} SKIP LOCKED is not supported"
                )))
            }
            None => {}
        }
        check_lockable(plan, name)?;
        let strength = match l.lock_type {
            LockType::Update => LockStrength::Exclusive,
            LockType::Share => LockStrength::Shared,
        };
        let target = l.of.as_ref().map(|n| {
            n.0.last()
                .and_then(|p| p.as_ident())
                .map(|i| {
                    if i.quote_style.is_some() {
                        i.value.clone()
                    } else {
                        i.value.to_lowercase()
                    }
                })
                .unwrap_or_default()
        });
        let found = mark(plan, target.as_deref(), strength);
        if let (Some(t), 0) = (&target, found) {
            return Err(Error::new(
                code::UNDEFINED_TABLE,
                format!("relation \"{t}\" in {name} clause not found in FROM clause"),
            ));
        }
    }
    Ok(())
}

/// 0A000 when the query's rows are not rows of its tables.
fn check_lockable(plan: &Plan, name: &str) -> Result<()> {
    let what = match plan {
        Plan::Aggregate { group, .. } if !group.is_empty() => Some("GROUP BY clause"),
        Plan::Aggregate { .. } => Some("aggregate functions"),
        Plan::Distinct { .. } => Some("DISTINCT clause"),
        Plan::SetOp { .. } => Some("UNION/INTERSECT/EXCEPT"),
        _ => None,
    };
    if let Some(what) = what {
        return Err(Error::unsupported(format!(
            "{name} is not allowed with {what}"
        )));
    }
    children(plan)
        .into_iter()
        .try_for_each(|c| check_lockable(c, name))
}

fn children(plan: &Plan) -> Vec<&Plan> {
    match plan {
        Plan::Scan(_)
        | Plan::VirtualScan { .. }
        | Plan::Series { .. }
        | Plan::Unnest { .. }
        | Plan::Values { .. } => vec![],
        Plan::Filter { input, .. }
        | Plan::Project { input, .. }
        | Plan::Aggregate { input, .. }
        | Plan::Sort { input, .. }
        | Plan::Limit { input, .. }
        | Plan::Distinct { input, .. } => vec![input],
        Plan::Join { left, right, .. } | Plan::SetOp { left, right, .. } => vec![left, right],
    }
}

/// Marks the scans named `target` (all when None) with at least `strength`; returns how many
/// were marked.
fn mark(plan: &mut Plan, target: Option<&str>, strength: LockStrength) -> usize {
    match plan {
        Plan::Scan(s) => {
            if target.is_some_and(|t| t != s.alias && t != s.table.name) {
                return 0;
            }
            s.lock = Some(s.lock.map_or(strength, |l| l.max(strength)));
            1
        }
        Plan::VirtualScan { name, .. } => usize::from(target.is_some_and(|t| t == name)),
        Plan::Series { .. } | Plan::Unnest { .. } | Plan::Values { .. } => 0,
        Plan::Filter { input, .. }
        | Plan::Project { input, .. }
        | Plan::Aggregate { input, .. }
        | Plan::Sort { input, .. }
        | Plan::Limit { input, .. }
        | Plan::Distinct { input, .. } => mark(input, target, strength),
        Plan::Join { left, right, .. } | Plan::SetOp { left, right, .. } => {
            mark(left, target, strength) + mark(right, target, strength)
        }
    }
}

/// The strongest lock any scan of `plan` takes (expression subqueries excluded).
pub fn strongest(plan: &Plan) -> Option<LockStrength> {
    match plan {
        Plan::Scan(s) => s.lock,
        other => children(other).into_iter().filter_map(strongest).max(),
    }
}

/// PostgreSQL's command name for a locking SELECT, for the 25006 message.
pub fn select_command_name(l: LockStrength) -> &'static str {
    match l {
        LockStrength::Exclusive => "SELECT FOR UPDATE",
        LockStrength::Shared => "SELECT FOR SHARE",
    }
}
