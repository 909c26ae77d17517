//! Binding INSERT / UPSERT / UPDATE / DELETE.
//!
//! Each becomes a plan producing the rows to write (a VALUES list or query for INSERT; a
//! scan, possibly joined with FROM/USING tables and filtered, for UPDATE and DELETE) plus
//! what the executor needs per row: default expressions (bound from the stored SQL text of
//! `ColumnDesc::default_expr`), CHECK constraints, SET assignments, the ON CONFLICT action and
//! RETURNING expressions. All per-row expressions are bound over the table's columns
//! (`table_ids`), so the executor evaluates them on the full new row.

use crate::catalog::{Catalog, TableDesc};
use crate::context::Column;
use crate::error::code;
use crate::parser::{is_upsert, MeridianDialect};
use crate::plan::bind_expr::coerce_unknown;
use crate::plan::bind_select::output_name;
use crate::plan::binder::{ident_name, object_name_parts, Binder, Scope, ScopeCol};
use crate::plan::expr::{ColId, Expr};
use crate::plan::{JoinKind, JoinStrategy, Plan};
use crate::types::{self, DataType};
use crate::{Error, Result};
use sqlparser::ast;
use std::sync::Arc;

/// What to do on a unique-key conflict.
#[derive(Debug, Clone)]
pub enum ConflictAction {
    /// Skip the row.
    Nothing,
    /// Update the existing row: assignments over (existing row ++ excluded row).
    Update {
        assignments: Vec<(usize, Expr)>,
        filter: Option<Expr>,
    },
}

/// ON CONFLICT (or UPSERT).
#[derive(Debug, Clone)]
pub struct OnConflict {
    /// Column positions of the arbiter key; None: any unique index.
    pub arbiter: Option<Vec<usize>>,
    /// The action.
    pub action: ConflictAction,
    /// Ids of the EXCLUDED row's columns.
    pub excluded_ids: Vec<ColId>,
    /// How the existing conflicting row is read: locked exclusively when it will be updated
    /// (DO UPDATE / UPSERT) and `enable_implicit_select_for_update` is on.
    pub lock: Option<txn::LockStrength>,
}

/// Expressions evaluated on each written row.
#[derive(Debug, Clone)]
pub struct RowExprs {
    /// Ids of the table's columns as seen by per-row expressions.
    pub table_ids: Vec<ColId>,
    /// CHECK constraints: (name, predicate).
    pub checks: Vec<(String, Expr)>,
    /// RETURNING expressions and output columns.
    pub returning: Option<(Vec<Expr>, Vec<Column>)>,
}

/// A bound INSERT.
#[derive(Debug, Clone)]
pub struct InsertPlan {
    /// Target table.
    pub table: Arc<TableDesc>,
    /// Source rows, one column per target column, already cast to the column types.
    pub source: Plan,
    /// Table column positions the source columns fill.
    pub target_cols: Vec<usize>,
    /// Per table column: its default (None: NULL).
    pub defaults: Vec<Option<Expr>>,
    /// Checks and RETURNING.
    pub row: RowExprs,
    /// ON CONFLICT / UPSERT.
    pub on_conflict: Option<OnConflict>,
}

/// A bound UPDATE.
#[derive(Debug, Clone)]
pub struct UpdatePlan {
    /// Target table.
    pub table: Arc<TableDesc>,
    /// Rows to update; the target table's columns are `row.table_ids` in this layout.
    pub input: Plan,
    /// (column position, new value over the input layout), cast to the column type.
    pub assignments: Vec<(usize, Expr)>,
    /// Checks and RETURNING (over the new row).
    pub row: RowExprs,
}

/// A bound DELETE.
#[derive(Debug, Clone)]
pub struct DeletePlan {
    /// Target table.
    pub table: Arc<TableDesc>,
    /// Rows to delete (target columns are `row.table_ids` in this layout).
    pub input: Plan,
    /// RETURNING.
    pub row: RowExprs,
}

/// Target table, input plan, full scope, target column ids, target-only scope.
type DmlInput = (Arc<TableDesc>, Plan, Scope, Vec<ColId>, Scope);

/// Parses a stored scalar expression (DEFAULT / CHECK text).
pub fn parse_scalar(text: &str) -> Result<ast::Expr> {
    let dialect = MeridianDialect::default();
    sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| Error::syntax(format!("invalid stored expression {text:?}: {e}")))
}

fn is_default_kw(e: &ast::Expr) -> bool {
    matches!(e, ast::Expr::Identifier(id) if id.quote_style.is_none() && id.value.eq_ignore_ascii_case("default"))
}

/// Wraps a value for assignment to a column of type `ty` (INSERT/UPDATE casting rules).
pub fn assignment_cast(e: Expr, ty: &DataType, col: &str) -> Result<Expr> {
    let et = e.ty();
    if et == *ty {
        return Ok(e);
    }
    if et == DataType::Unknown {
        return coerce_unknown(e, ty);
    }
    if let Expr::Param(i, _) = e {
        return Ok(Expr::Param(i, ty.clone()));
    }
    if !types::can_cast(&et, ty, false) {
        return Err(Error::new(
            code::DATATYPE_MISMATCH,
            format!(
                "column \"{col}\" is of type {} but expression is of type {}",
                ty.pg_name(),
                et.pg_name()
            ),
        )
        .with_hint("You will need to rewrite or cast the expression."));
    }
    Ok(Expr::Cast {
        expr: Box::new(e),
        ty: ty.clone(),
        explicit: false,
    })
}

impl Binder<'_> {
    fn target_table(&mut self, name: &ast::ObjectName) -> Result<Arc<TableDesc>> {
        let ctx = self.ctx()?;
        let parts = object_name_parts(name)?;
        let tname = parts.last().cloned().unwrap_or_default();
        let db = if parts.len() == 3 || (parts.len() == 2 && parts[0] != "public") {
            parts[0].clone()
        } else {
            ctx.database.clone()
        };
        Catalog::table(&ctx.txn, &db, &tname)?.ok_or_else(|| {
            Error::new(
                code::UNDEFINED_TABLE,
                format!("relation \"{name}\" does not exist"),
            )
        })
    }

    /// The position of column `name` of `t`. Hidden (NOT VISIBLE) columns may be named, as in
    /// CockroachDB: `INSERT INTO t (crdb_region, ...)`, `UPDATE t SET crdb_region = ...`.
    fn column_pos(t: &TableDesc, name: &str) -> Result<usize> {
        t.columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| {
                Error::new(
                    code::UNDEFINED_COLUMN,
                    format!(
                        "column \"{name}\" of relation \"{}\" does not exist",
                        t.name
                    ),
                )
            })
    }

    /// Binds the defaults of every column of `t` (no columns in scope).
    fn bind_defaults(&mut self, t: &TableDesc) -> Result<Vec<Option<Expr>>> {
        let mut out = Vec::with_capacity(t.columns.len());
        for c in &t.columns {
            out.push(match &c.default_expr {
                Some(text) => {
                    let e =
                        self.bind_expr_hint(&parse_scalar(text)?, &Scope::default(), Some(&c.ty))?;
                    Some(assignment_cast(e, &c.ty, &c.name)?)
                }
                None => None,
            });
        }
        Ok(out)
    }

    /// Binds CHECK constraints and RETURNING over the table scope.
    fn bind_row_exprs(
        &mut self,
        t: &TableDesc,
        scope: &Scope,
        ids: Vec<ColId>,
        returning: Option<&Vec<ast::SelectItem>>,
    ) -> Result<RowExprs> {
        let mut checks = Vec::with_capacity(t.checks.len());
        for ch in &t.checks {
            let e = self.bind_expr(&parse_scalar(&ch.expr)?, scope)?;
            checks.push((ch.name.clone(), e));
        }
        let returning = match returning {
            Some(items) => {
                let mut exprs = Vec::new();
                let mut cols = Vec::new();
                for item in items {
                    match item {
                        ast::SelectItem::Wildcard(_) => {
                            for c in scope.cols.iter().filter(|c| !c.hidden) {
                                exprs.push(Expr::Col(c.id, c.ty.clone()));
                                cols.push(Column::new(c.name.clone(), c.ty.clone()));
                            }
                        }
                        ast::SelectItem::UnnamedExpr(e) => {
                            let x = coerce_unknown(self.bind_expr(e, scope)?, &DataType::Unknown)?;
                            cols.push(Column::new(output_name(e), x.ty()));
                            exprs.push(x);
                        }
                        ast::SelectItem::ExprWithAlias { expr, alias } => {
                            let x =
                                coerce_unknown(self.bind_expr(expr, scope)?, &DataType::Unknown)?;
                            cols.push(Column::new(ident_name(alias), x.ty()));
                            exprs.push(x);
                        }
                        other => {
                            return Err(Error::unsupported(format!(
                                "unsupported RETURNING item {other}"
                            )))
                        }
                    }
                }
                Some((exprs, cols))
            }
            None => None,
        };
        Ok(RowExprs {
            table_ids: ids,
            checks,
            returning,
        })
    }

    /// Binds INSERT / UPSERT.
    pub fn bind_insert(&mut self, ins: &ast::Insert) -> Result<InsertPlan> {
        let ast::TableObject::TableName(name) = &ins.table else {
            return Err(Error::unsupported(
                "INSERT into a table function is not supported",
            ));
        };
        let table = self.target_table(name)?;
        let alias = ins
            .table_alias
            .as_ref()
            .map(|a| ident_name(&a.alias))
            .unwrap_or_else(|| table.name.clone());
        let target_cols: Vec<usize> = if ins.columns.is_empty() {
            (0..table.columns.len())
                .filter(|i| !table.columns[*i].hidden)
                .collect()
        } else {
            let mut v = Vec::new();
            for c in &ins.columns {
                let n = object_name_parts(c)?.last().cloned().unwrap_or_default();
                let p = Self::column_pos(&table, &n)?;
                if v.contains(&p) {
                    return Err(Error::new(
                        code::DUPLICATE_COLUMN,
                        format!("column \"{n}\" specified more than once"),
                    ));
                }
                v.push(p);
            }
            v
        };
        let defaults = self.bind_defaults(&table)?;
        let (source, target_cols) = self.bind_insert_source(ins, &table, target_cols, &defaults)?;
        let (ids, scope) = self.table_scope(&table, &alias);
        let row = self.bind_row_exprs(&table, &scope, ids, ins.returning.as_ref())?;
        let on_conflict = self.bind_on_conflict(ins, &table, &scope, &target_cols)?;
        Ok(InsertPlan {
            table,
            source,
            target_cols,
            defaults,
            row,
            on_conflict,
        })
    }

    fn bind_insert_source(
        &mut self,
        ins: &ast::Insert,
        table: &TableDesc,
        target_cols: Vec<usize>,
        defaults: &[Option<Expr>],
    ) -> Result<(Plan, Vec<usize>)> {
        let tys: Vec<DataType> = target_cols
            .iter()
            .map(|i| table.columns[*i].ty.clone())
            .collect();
        let Some(src) = &ins.source else {
            // DEFAULT VALUES
            return Ok((
                Plan::Values {
                    rows: vec![vec![]],
                    cols: vec![],
                    types: vec![],
                },
                vec![],
            ));
        };
        if let ast::SetExpr::Values(v) = &*src.body {
            if src.order_by.is_none() && src.limit_clause.is_none() && src.with.is_none() {
                let mut rows = Vec::with_capacity(v.rows.len());
                for r in &v.rows {
                    if r.content.len() > target_cols.len() {
                        return Err(Error::syntax(
                            "INSERT has more expressions than target columns",
                        ));
                    }
                    let mut out = Vec::with_capacity(target_cols.len());
                    for (i, &pos) in target_cols.iter().enumerate() {
                        let col = &table.columns[pos];
                        let e = match r.content.get(i) {
                            Some(e) if !is_default_kw(e) => {
                                let saved = std::mem::replace(&mut self.agg_context, "VALUES");
                                let x = self.bind_expr_hint(e, &Scope::default(), Some(&col.ty));
                                self.agg_context = saved;
                                assignment_cast(x?, &col.ty, &col.name)?
                            }
                            _ => defaults[pos].clone().unwrap_or(Expr::Literal(
                                crate::types::Datum::Null,
                                col.ty.clone(),
                            )),
                        };
                        out.push(e);
                    }
                    rows.push(out);
                }
                let cols = target_cols
                    .iter()
                    .map(|p| self.new_col(None, &table.columns[*p].name))
                    .collect();
                return Ok((
                    Plan::Values {
                        rows,
                        cols,
                        types: tys,
                    },
                    target_cols,
                ));
            }
        }
        let (plan, _) = self.bind_query(src)?;
        let st = plan.types();
        if st.len() > target_cols.len() {
            return Err(Error::syntax(
                "INSERT has more expressions than target columns",
            ));
        }
        let target_cols: Vec<usize> = target_cols[..st.len()].to_vec();
        let layout = plan.layout();
        let mut exprs = Vec::with_capacity(st.len());
        for ((id, t), pos) in layout.iter().zip(st).zip(&target_cols) {
            let col = &table.columns[*pos];
            exprs.push(assignment_cast(Expr::Col(*id, t), &col.ty, &col.name)?);
        }
        let cols = target_cols
            .iter()
            .map(|p| self.new_col(None, &table.columns[*p].name))
            .collect();
        Ok((
            Plan::Project {
                input: Box::new(plan),
                exprs,
                cols,
            },
            target_cols,
        ))
    }

    fn bind_on_conflict(
        &mut self,
        ins: &ast::Insert,
        table: &TableDesc,
        scope: &Scope,
        target_cols: &[usize],
    ) -> Result<Option<OnConflict>> {
        let mut excluded = Scope::default();
        let mut excluded_ids = Vec::with_capacity(table.columns.len());
        for c in &table.columns {
            let id = self.new_col(Some("excluded"), &c.name);
            excluded_ids.push(id);
            excluded.cols.push(ScopeCol {
                table: Some("excluded".into()),
                name: c.name.clone(),
                id,
                ty: c.ty.clone(),
                hidden: c.hidden,
                using_dup: true,
            });
        }
        if is_upsert(ins) {
            let pk: Vec<usize> = table.primary.columns.iter().map(|(p, _)| *p).collect();
            let assignments = target_cols
                .iter()
                .filter(|p| !pk.contains(p))
                .map(|p| {
                    (
                        *p,
                        Expr::Col(excluded_ids[*p], table.columns[*p].ty.clone()),
                    )
                })
                .collect();
            return Ok(Some(OnConflict {
                arbiter: Some(pk),
                action: ConflictAction::Update {
                    assignments,
                    filter: None,
                },
                excluded_ids,
                lock: self.implicit_lock(),
            }));
        }
        let Some(ast::OnInsert::OnConflict(oc)) = &ins.on else {
            if ins.on.is_some() {
                return Err(Error::unsupported(
                    "ON DUPLICATE KEY UPDATE is not supported",
                ));
            }
            return Ok(None);
        };
        let arbiter = match &oc.conflict_target {
            None => None,
            Some(ast::ConflictTarget::Columns { columns, .. }) => Some(
                columns
                    .iter()
                    .map(|c| Self::column_pos(table, &ident_name(c)))
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(ast::ConflictTarget::OnConstraint(name)) => {
                let n = object_name_parts(name)?.last().cloned().unwrap_or_default();
                let idx = std::iter::once(&table.primary)
                    .chain(table.indexes.iter())
                    .find(|i| i.name == n)
                    .ok_or_else(|| {
                        Error::new(
                            code::UNDEFINED_OBJECT,
                            format!(
                                "constraint \"{n}\" for table \"{}\" does not exist",
                                table.name
                            ),
                        )
                    })?;
                Some(idx.columns.iter().map(|(p, _)| *p).collect())
            }
        };
        let action = match &oc.action {
            ast::OnConflictAction::DoNothing => ConflictAction::Nothing,
            ast::OnConflictAction::DoUpdate(du) => {
                let mut both = scope.clone();
                both.cols.extend(excluded.cols.iter().cloned());
                let mut assignments = Vec::new();
                for a in &du.assignments {
                    for (pos, value) in self.bind_assignment(a, table, &both)? {
                        assignments.push((pos, value));
                    }
                }
                let filter = match &du.selection {
                    Some(f) => Some(crate::plan::bind_expr::coerce(
                        self.bind_expr(f, &both)?,
                        &DataType::Bool,
                    )?),
                    None => None,
                };
                ConflictAction::Update {
                    assignments,
                    filter,
                }
            }
        };
        let lock = match action {
            ConflictAction::Update { .. } => self.implicit_lock(),
            ConflictAction::Nothing => None,
        };
        Ok(Some(OnConflict {
            arbiter,
            action,
            excluded_ids,
            lock,
        }))
    }

    /// Binds `col = value` (or `(a, b) = (x, y)`) of SET.
    fn bind_assignment(
        &mut self,
        a: &ast::Assignment,
        table: &TableDesc,
        scope: &Scope,
    ) -> Result<Vec<(usize, Expr)>> {
        let targets: Vec<&ast::ObjectName> = match &a.target {
            ast::AssignmentTarget::ColumnName(n) => vec![n],
            ast::AssignmentTarget::Tuple(ns) => ns.iter().collect(),
        };
        let values: Vec<&ast::Expr> = match (&a.value, targets.len()) {
            (ast::Expr::Tuple(vs), n) if n > 1 => vs.iter().collect(),
            (v, _) => vec![v],
        };
        if values.len() != targets.len() {
            return Err(Error::syntax(
                "number of columns does not match number of values",
            ));
        }
        let mut out = Vec::new();
        for (t, v) in targets.into_iter().zip(values) {
            let n = object_name_parts(t)?.last().cloned().unwrap_or_default();
            let pos = Self::column_pos(table, &n)?;
            let col = &table.columns[pos];
            let e = if is_default_kw(v) {
                match &col.default_expr {
                    Some(text) => {
                        self.bind_expr_hint(&parse_scalar(text)?, &Scope::default(), Some(&col.ty))?
                    }
                    None => Expr::Literal(crate::types::Datum::Null, col.ty.clone()),
                }
            } else {
                self.bind_expr_hint(v, scope, Some(&col.ty))?
            };
            out.push((pos, assignment_cast(e, &col.ty, &col.name)?));
        }
        Ok(out)
    }

    /// Binds the target of UPDATE/DELETE joined with FROM/USING tables and filtered.
    fn bind_dml_input(
        &mut self,
        name: &ast::ObjectName,
        alias: Option<String>,
        from: &[ast::TableWithJoins],
        selection: Option<&ast::Expr>,
    ) -> Result<DmlInput> {
        let table = self.target_table(name)?;
        let alias = alias.unwrap_or_else(|| table.name.clone());
        let (ids, tscope) = self.table_scope(&table, &alias);
        let scan = crate::plan::Scan {
            table: table.clone(),
            alias,
            cols: ids.clone(),
            index: crate::plan::IndexChoice::Primary,
            spans: crate::plan::Spans::Full,
            filter: None,
            lock: self.implicit_lock(),
            limit: None,
        };
        let mut plan = Plan::Scan(scan);
        let mut scope = tscope.clone();
        if !from.is_empty() {
            let (fp, fs) = self.bind_from(from)?;
            plan = Plan::Join {
                left: Box::new(plan),
                right: Box::new(fp),
                kind: JoinKind::Inner,
                on: None,
                strategy: JoinStrategy::NestedLoop,
            };
            scope.cols.extend(fs.cols);
        }
        if let Some(w) = selection {
            let saved = std::mem::replace(&mut self.agg_context, "WHERE");
            let p = self.bind_expr_hint(w, &scope, Some(&DataType::Bool));
            self.agg_context = saved;
            let p = crate::plan::bind_expr::coerce(p?, &DataType::Bool)?;
            plan = Plan::Filter {
                input: Box::new(plan),
                predicate: p,
            };
        }
        Ok((table, plan, scope, ids, tscope))
    }

    /// Binds UPDATE.
    pub fn bind_update(&mut self, u: &ast::Update) -> Result<UpdatePlan> {
        let (name, alias) = match &u.table.relation {
            ast::TableFactor::Table { name, alias, .. } if u.table.joins.is_empty() => {
                (name, alias.as_ref().map(|a| ident_name(&a.name)))
            }
            other => {
                return Err(Error::unsupported(format!(
                    "unsupported UPDATE target {other}"
                )))
            }
        };
        let from: Vec<ast::TableWithJoins> = match &u.from {
            Some(ast::UpdateTableFromKind::AfterSet(f))
            | Some(ast::UpdateTableFromKind::BeforeSet(f)) => f.clone(),
            None => vec![],
        };
        let (table, input, scope, ids, tscope) =
            self.bind_dml_input(name, alias, &from, u.selection.as_ref())?;
        let mut assignments: Vec<(usize, Expr)> = Vec::new();
        for a in &u.assignments {
            for (pos, e) in self.bind_assignment(a, &table, &scope)? {
                if assignments.iter().any(|(p, _)| *p == pos) {
                    return Err(Error::syntax(format!(
                        "multiple assignments to same column \"{}\"",
                        table.columns[pos].name
                    )));
                }
                assignments.push((pos, e));
            }
        }
        let row = self.bind_row_exprs(&table, &tscope, ids, u.returning.as_ref())?;
        Ok(UpdatePlan {
            table,
            input,
            assignments,
            row,
        })
    }

    /// Binds DELETE.
    pub fn bind_delete(&mut self, d: &ast::Delete) -> Result<DeletePlan> {
        let froms = match &d.from {
            ast::FromTable::WithFromKeyword(f) | ast::FromTable::WithoutKeyword(f) => f,
        };
        let first = froms
            .first()
            .ok_or_else(|| Error::syntax("DELETE without a table"))?;
        let (name, alias) = match &first.relation {
            ast::TableFactor::Table { name, alias, .. }
                if first.joins.is_empty() && froms.len() == 1 =>
            {
                (name, alias.as_ref().map(|a| ident_name(&a.name)))
            }
            other => {
                return Err(Error::unsupported(format!(
                    "unsupported DELETE target {other}"
                )))
            }
        };
        let using = d.using.clone().unwrap_or_default();
        let (table, input, _scope, ids, tscope) =
            self.bind_dml_input(name, alias, &using, d.selection.as_ref())?;
        let row = self.bind_row_exprs(&table, &tscope, ids, d.returning.as_ref())?;
        Ok(DeletePlan {
            table,
            input,
            row: RowExprs {
                checks: vec![],
                ..row
            },
        })
    }
}
