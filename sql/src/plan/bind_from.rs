//! Binding FROM clauses: tables (stored, virtual, CTEs), derived tables, joins.
//!
//! Comma-separated FROM items become inner joins without condition; the optimizer later
//! reorders them along the WHERE clause's equality predicates.

use crate::catalog::Catalog;
use crate::error::code;
use crate::plan::bind_expr::coerce;
use crate::plan::binder::{ident_name, object_name_parts, Binder, Scope, ScopeCol};
use crate::plan::expr::Expr;
use crate::plan::{IndexChoice, JoinKind, JoinStrategy, Plan, Scan, Spans};
use crate::types::{BinaryOp, DataType};
use crate::{Error, Result};
use sqlparser::ast;

/// Schemas whose tables are virtual.
const VIRTUAL_SCHEMAS: [&str; 3] = ["pg_catalog", "information_schema", "crdb_internal"];

impl Binder<'_> {
    /// Binds a FROM list (empty: one row without columns).
    pub fn bind_from(&mut self, from: &[ast::TableWithJoins]) -> Result<(Plan, Scope)> {
        let mut acc: Option<(Plan, Scope)> = None;
        for twj in from {
            let (p, s) = self.bind_table_with_joins(twj)?;
            acc = Some(match acc {
                None => (p, s),
                Some((lp, ls)) => join_plans(lp, ls, p, s, JoinKind::Inner, None),
            });
        }
        Ok(acc.unwrap_or_else(|| {
            (
                Plan::Values {
                    rows: vec![vec![]],
                    cols: vec![],
                    types: vec![],
                },
                Scope::default(),
            )
        }))
    }

    fn bind_table_with_joins(&mut self, twj: &ast::TableWithJoins) -> Result<(Plan, Scope)> {
        let (mut plan, mut scope) = self.bind_table_factor(&twj.relation)?;
        for j in &twj.joins {
            let (rp, rs) = self.bind_table_factor(&j.relation)?;
            use ast::JoinOperator as J;
            let (kind, constraint) = match &j.join_operator {
                J::Join(c) | J::Inner(c) => (JoinKind::Inner, Some(c)),
                J::Left(c) | J::LeftOuter(c) => (JoinKind::Left, Some(c)),
                J::Right(c) | J::RightOuter(c) => (JoinKind::Right, Some(c)),
                J::FullOuter(c) => (JoinKind::Full, Some(c)),
                J::CrossJoin(_) => (JoinKind::Inner, None),
                other => {
                    return Err(Error::unsupported(format!(
                        "unsupported join type {other:?}"
                    )))
                }
            };
            let (p, s) = match constraint {
                None | Some(ast::JoinConstraint::None) => {
                    join_plans(plan, scope, rp, rs, kind, None)
                }
                Some(ast::JoinConstraint::On(e)) => {
                    let mut both = scope.clone();
                    both.cols.extend(rs.cols.iter().cloned());
                    let saved = std::mem::replace(&mut self.agg_context, "JOIN conditions");
                    let saved_aggs = self.aggs.take();
                    let on = self.bind_expr_hint(e, &both, Some(&DataType::Bool));
                    self.aggs = saved_aggs;
                    self.agg_context = saved;
                    let on = coerce(on?, &DataType::Bool)?;
                    join_plans(plan, scope, rp, rs, kind, Some(on))
                }
                Some(ast::JoinConstraint::Using(names)) => {
                    let cols = names
                        .iter()
                        .map(|n| {
                            object_name_parts(n).map(|p| p.last().cloned().unwrap_or_default())
                        })
                        .collect::<Result<Vec<_>>>()?;
                    self.join_using(plan, scope, rp, rs, kind, &cols)?
                }
                Some(ast::JoinConstraint::Natural) => {
                    let cols: Vec<String> = scope
                        .cols
                        .iter()
                        .filter(|c| {
                            !c.hidden && rs.cols.iter().any(|r| !r.hidden && r.name == c.name)
                        })
                        .map(|c| c.name.clone())
                        .collect();
                    self.join_using(plan, scope, rp, rs, kind, &cols)?
                }
                Some(other) => {
                    return Err(Error::unsupported(format!(
                        "unsupported join constraint {other:?}"
                    )))
                }
            };
            plan = p;
            scope = s;
        }
        Ok((plan, scope))
    }

    #[allow(clippy::too_many_arguments)]
    fn join_using(
        &mut self,
        lp: Plan,
        ls: Scope,
        rp: Plan,
        mut rs: Scope,
        kind: JoinKind,
        cols: &[String],
    ) -> Result<(Plan, Scope)> {
        let mut conds = Vec::new();
        for name in cols {
            let l = ls.find(None, name)?.ok_or_else(|| {
                Error::new(
                    code::UNDEFINED_COLUMN,
                    format!(
                        "column \"{name}\" specified in USING clause does not exist in left table"
                    ),
                )
            })?;
            let r = rs.find(None, name)?.ok_or_else(|| {
                Error::new(
                    code::UNDEFINED_COLUMN,
                    format!(
                        "column \"{name}\" specified in USING clause does not exist in right table"
                    ),
                )
            })?;
            let (lid, lty, rid, rty) = (l.id, l.ty.clone(), r.id, r.ty.clone());
            conds.push(self.make_binary(BinaryOp::Eq, Expr::Col(lid, lty), Expr::Col(rid, rty))?);
            for c in rs.cols.iter_mut().filter(|c| c.id == rid) {
                c.using_dup = true;
            }
        }
        Ok(join_plans(lp, ls, rp, rs, kind, Expr::conjunction(conds)))
    }

    fn bind_table_factor(&mut self, tf: &ast::TableFactor) -> Result<(Plan, Scope)> {
        match tf {
            ast::TableFactor::Table {
                name, alias, args, ..
            } => {
                if let Some(a) = args {
                    let (plan, scope) = self.bind_table_function(name, &a.args, alias.as_ref())?;
                    return apply_alias(plan, scope, alias.as_ref(), self);
                }
                let (plan, scope) =
                    self.bind_named_table(name, alias.as_ref().map(|a| ident_name(&a.name)))?;
                apply_alias(plan, scope, alias.as_ref(), self)
            }
            ast::TableFactor::Derived {
                lateral,
                subquery,
                alias,
                ..
            } => {
                if *lateral {
                    return Err(Error::unsupported("LATERAL is not supported"));
                }
                let (plan, names) = self.bind_query(subquery)?;
                let tname = alias.as_ref().map(|a| ident_name(&a.name));
                let types = plan.types();
                let mut scope = Scope::default();
                for ((id, name), ty) in plan.layout().into_iter().zip(names).zip(types) {
                    scope.cols.push(ScopeCol {
                        table: tname.clone(),
                        name,
                        id,
                        ty,
                        hidden: false,
                        using_dup: false,
                    });
                }
                apply_alias(plan, scope, alias.as_ref(), self)
            }
            ast::TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                let (plan, scope) = self.bind_table_with_joins(table_with_joins)?;
                apply_alias(plan, scope, alias.as_ref(), self)
            }
            ast::TableFactor::UNNEST {
                alias,
                array_exprs,
                with_offset: false,
                with_ordinality: false,
                ..
            } if array_exprs.len() == 1 => {
                // sqlparser gives unqualified `unnest(...)` its own FROM form.
                let args = [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(
                    array_exprs[0].clone(),
                ))];
                let (plan, scope) = self.bind_unnest(&args, alias.as_ref())?;
                apply_alias(plan, scope, alias.as_ref(), self)
            }
            other => Err(Error::unsupported(format!(
                "unsupported FROM item: {other}"
            ))),
        }
    }

    fn bind_table_function(
        &mut self,
        name: &ast::ObjectName,
        args: &[ast::FunctionArg],
        alias: Option<&ast::TableAlias>,
    ) -> Result<(Plan, Scope)> {
        let fname = object_name_parts(name)?.last().cloned().unwrap_or_default();
        if fname == "unnest" {
            return self.bind_unnest(args, alias); // plan/bind_pg.rs
        }
        if fname != "generate_series" || !(2..=3).contains(&args.len()) {
            return Err(Error::unsupported(format!(
                "table function {name} is not supported"
            )));
        }
        let mut bound = Vec::with_capacity(args.len());
        for a in args {
            let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) = a else {
                return Err(Error::syntax(format!("invalid argument to {fname}")));
            };
            let x = self.bind_expr_hint(e, &Scope::default(), Some(&DataType::Int8))?;
            bound.push(x);
        }
        let ty = if bound
            .iter()
            .all(|e| matches!(e.ty(), DataType::Int2 | DataType::Int4))
        {
            DataType::Int4
        } else {
            DataType::Int8
        };
        let bound = bound
            .into_iter()
            .map(|e| coerce(e, &ty))
            .collect::<Result<Vec<_>>>()?;
        let table = alias
            .map(|a| ident_name(&a.name))
            .unwrap_or_else(|| fname.clone());
        let col = self.new_col(Some(&table), &fname);
        let scope = Scope {
            cols: vec![ScopeCol {
                // PostgreSQL names a scalar function's column after the alias, if any.
                name: table.clone(),
                table: Some(table),
                id: col,
                ty: ty.clone(),
                hidden: false,
                using_dup: false,
            }],
        };
        Ok((
            Plan::Series {
                args: bound,
                col,
                ty,
            },
            scope,
        ))
    }

    fn bind_named_table(
        &mut self,
        name: &ast::ObjectName,
        alias: Option<String>,
    ) -> Result<(Plan, Scope)> {
        let parts = object_name_parts(name)?;
        let tname = parts.last().cloned().unwrap_or_default();
        let alias = alias.unwrap_or_else(|| tname.clone());
        if parts.len() == 1 {
            if let Some(cte) = self.find_cte(&tname) {
                return Ok(self.cte_reference(cte, &alias));
            }
        }
        let ctx = self.ctx()?;
        let schema = if parts.len() >= 2 {
            Some(parts[parts.len() - 2].as_str())
        } else {
            None
        };
        let database = match (parts.len(), schema) {
            (3, _) => parts[0].clone(),
            (2, Some(s)) if s != "public" && !VIRTUAL_SCHEMAS.contains(&s) => s.to_string(),
            _ => ctx.database.clone(),
        };
        if let Some(s) = schema.filter(|s| VIRTUAL_SCHEMAS.contains(s)) {
            return self.virtual_table(s, &tname, &alias, name);
        }
        match Catalog::table(&ctx.txn, &database, &tname)? {
            Some(t) => {
                let (cols, scope) = self.table_scope(&t, &alias);
                let scan = Scan {
                    table: t,
                    alias,
                    cols,
                    index: IndexChoice::Primary,
                    spans: Spans::Full,
                    filter: None,
                    lock: None,
                    limit: None,
                };
                Ok((Plan::Scan(scan), scope))
            }
            None if schema.is_none() && ctx.vtables.lookup("pg_catalog", &tname).is_some() => {
                self.virtual_table("pg_catalog", &tname, &alias, name)
            }
            None => Err(Error::new(
                code::UNDEFINED_TABLE,
                format!("relation \"{name}\" does not exist"),
            )),
        }
    }

    fn virtual_table(
        &mut self,
        schema: &str,
        tname: &str,
        alias: &str,
        name: &ast::ObjectName,
    ) -> Result<(Plan, Scope)> {
        let ctx = self.ctx()?;
        let cols = ctx.vtables.lookup(schema, tname).ok_or_else(|| {
            Error::new(
                code::UNDEFINED_TABLE,
                format!("relation \"{name}\" does not exist"),
            )
        })?;
        let mut scope = Scope::default();
        let mut ids = Vec::with_capacity(cols.len());
        for c in &cols {
            let id = self.new_col(Some(alias), &c.name);
            ids.push(id);
            scope.cols.push(ScopeCol {
                table: Some(alias.to_string()),
                name: c.name.clone(),
                id,
                ty: c.ty.clone(),
                hidden: false,
                using_dup: false,
            });
        }
        let types = cols.into_iter().map(|c| c.ty).collect();
        Ok((
            Plan::VirtualScan {
                schema: schema.to_string(),
                name: tname.to_string(),
                cols: ids,
                types,
            },
            scope,
        ))
    }

    /// A reference to a CTE: its plan under a projection with fresh column ids, so two
    /// references in one query (a self-join) have distinct columns.
    fn cte_reference(&mut self, cte: crate::plan::binder::Cte, alias: &str) -> (Plan, Scope) {
        let types = cte.plan.types();
        let inner = cte.plan.layout();
        let mut scope = Scope::default();
        let mut cols = Vec::with_capacity(inner.len());
        let mut exprs = Vec::with_capacity(inner.len());
        for ((old, name), ty) in inner.into_iter().zip(cte.names).zip(types) {
            let id = self.new_col(Some(alias), &name);
            cols.push(id);
            exprs.push(Expr::Col(old, ty.clone()));
            scope.cols.push(ScopeCol {
                table: Some(alias.to_string()),
                name,
                id,
                ty,
                hidden: false,
                using_dup: false,
            });
        }
        (
            Plan::Project {
                input: Box::new(cte.plan),
                exprs,
                cols,
            },
            scope,
        )
    }
}

/// Renames a FROM item: `AS alias (c1, c2...)`.
fn apply_alias(
    plan: Plan,
    mut scope: Scope,
    alias: Option<&ast::TableAlias>,
    b: &mut Binder,
) -> Result<(Plan, Scope)> {
    let Some(a) = alias else {
        return Ok((plan, scope));
    };
    let name = ident_name(&a.name);
    let visible: Vec<usize> = (0..scope.cols.len())
        .filter(|i| !scope.cols[*i].hidden)
        .collect();
    if a.columns.len() > visible.len() {
        return Err(Error::syntax(format!(
            "table \"{name}\" has {} columns available but {} columns specified",
            visible.len(),
            a.columns.len()
        )));
    }
    for c in scope.cols.iter_mut() {
        c.table = Some(name.clone());
    }
    for (i, col) in visible.iter().zip(a.columns.iter()) {
        scope.cols[*i].name = ident_name(&col.name);
    }
    for c in &scope.cols {
        b.col_names
            .insert(c.id, (Some(name.clone()), c.name.clone()));
    }
    Ok((plan, scope))
}

/// Joins two bound FROM items.
pub fn join_plans(
    lp: Plan,
    ls: Scope,
    rp: Plan,
    rs: Scope,
    kind: JoinKind,
    on: Option<Expr>,
) -> (Plan, Scope) {
    let mut scope = ls;
    scope.cols.extend(rs.cols);
    let plan = Plan::Join {
        left: Box::new(lp),
        right: Box::new(rp),
        kind,
        on,
        strategy: JoinStrategy::NestedLoop,
    };
    (plan, scope)
}
