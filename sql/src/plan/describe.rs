//! Planning a whole statement, and describing it for the extended protocol.

use crate::context::{Column, ExecContext};
use crate::plan::bind_dml::{DeletePlan, InsertPlan, UpdatePlan};
use crate::plan::binder::Binder;
use crate::plan::explain::{explain, Names};
use crate::plan::optimize::optimize;
use crate::plan::Plan;
use crate::types::DataType;
use crate::{Error, Result};
use sqlparser::ast::Statement;

/// A planned statement.
#[derive(Debug)]
pub enum Planned {
    /// A query and its result columns.
    Query { plan: Plan, columns: Vec<Column> },
    /// INSERT / UPSERT.
    Insert(InsertPlan),
    /// UPDATE.
    Update(UpdatePlan),
    /// DELETE.
    Delete(DeletePlan),
    /// EXPLAIN: the rendered lines.
    Explain(Vec<String>),
}

/// A statement's parameter types and result columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    /// Types of `$1..$n`.
    pub params: Vec<DataType>,
    /// Result columns (empty for commands without RETURNING).
    pub columns: Vec<Column>,
}

/// Binds and optimizes a statement. Returns the plan, the inferred parameter types and
/// column display names.
pub fn plan_statement(
    ctx: &ExecContext,
    stmt: &Statement,
    hints: &[DataType],
) -> Result<(Planned, Vec<DataType>, Names)> {
    plan_statement_with(ctx, stmt, hints, true)
}

/// [`plan_statement`], saying whether UPDATE/DELETE/UPSERT lock the rows they read
/// (`enable_implicit_select_for_update`).
pub fn plan_statement_with(
    ctx: &ExecContext,
    stmt: &Statement,
    hints: &[DataType],
    implicit_for_update: bool,
) -> Result<(Planned, Vec<DataType>, Names)> {
    let mut b = Binder::new(ctx, hints);
    b.implicit_for_update = implicit_for_update;
    let planned = plan_with(&mut b, stmt)?;
    Ok((planned, b.param_types(), std::mem::take(&mut b.col_names)))
}

fn plan_with(b: &mut Binder, stmt: &Statement) -> Result<Planned> {
    Ok(match stmt {
        Statement::Query(q) => {
            let (plan, names) = b.bind_query(q)?;
            let columns = names
                .into_iter()
                .zip(plan.types())
                .map(|(n, t)| Column::new(n, out_type(t)))
                .collect();
            Planned::Query {
                plan: optimize(plan)?,
                columns,
            }
        }
        Statement::Insert(ins) => {
            let mut p = b.bind_insert(ins)?;
            p.source = optimize(p.source)?;
            Planned::Insert(p)
        }
        Statement::Update(u) => {
            let mut p = b.bind_update(u)?;
            p.input = optimize(p.input)?;
            Planned::Update(p)
        }
        Statement::Delete(d) => {
            let mut p = b.bind_delete(d)?;
            p.input = optimize(p.input)?;
            Planned::Delete(p)
        }
        Statement::Explain {
            statement, analyze, ..
        } => {
            if *analyze {
                return Err(Error::unsupported("EXPLAIN ANALYZE is not supported"));
            }
            let inner = plan_with(b, statement)?;
            let names = b.col_names.clone();
            let lines = match &inner {
                Planned::Query { plan, .. } => explain(plan, &names),
                Planned::Insert(p) => prefixed(
                    &format!("insert {}", p.table.name),
                    explain(&p.source, &names),
                ),
                Planned::Update(p) => prefixed(
                    &format!("update {}", p.table.name),
                    explain(&p.input, &names),
                ),
                Planned::Delete(p) => prefixed(
                    &format!("delete {}", p.table.name),
                    explain(&p.input, &names),
                ),
                Planned::Explain(l) => l.clone(),
            };
            Planned::Explain(lines)
        }
        other => {
            return Err(Error::unsupported(format!(
                "statement not supported by the query engine: {}",
                first_words(other)
            )))
        }
    })
}

fn prefixed(head: &str, lines: Vec<String>) -> Vec<String> {
    let mut out = vec![head.to_string()];
    out.extend(lines.into_iter().map(|l| format!("└── {l}")));
    out
}

fn first_words(s: &Statement) -> String {
    s.to_string()
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Result columns never have the unknown type.
pub fn out_type(t: DataType) -> DataType {
    if t == DataType::Unknown {
        DataType::Text
    } else {
        t
    }
}

/// Parameter types and result columns of a statement, without running it.
pub fn describe(
    ctx: &ExecContext,
    stmt: &Statement,
    param_hints: &[DataType],
) -> Result<Described> {
    let (planned, params, _) = plan_statement(ctx, stmt, param_hints)?;
    let columns = result_columns(&planned);
    Ok(Described { params, columns })
}

/// The result columns of a planned statement (empty for commands without RETURNING).
pub fn result_columns(planned: &Planned) -> Vec<Column> {
    let returning = |r: &Option<(Vec<crate::plan::Expr>, Vec<Column>)>| {
        r.as_ref().map(|r| r.1.clone()).unwrap_or_default()
    };
    match planned {
        Planned::Query { columns, .. } => columns.clone(),
        Planned::Insert(p) => returning(&p.row.returning),
        Planned::Update(p) => returning(&p.row.returning),
        Planned::Delete(p) => returning(&p.row.returning),
        Planned::Explain(_) => vec![Column::new("info", DataType::Text)],
    }
}
