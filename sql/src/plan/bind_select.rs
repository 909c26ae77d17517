//! Binding queries: WITH, SELECT (projection, WHERE, GROUP BY, HAVING, DISTINCT [ON],
//! ORDER BY with ordinals/aliases/expressions), set operations, VALUES and LIMIT/OFFSET.
//!
//! A SELECT becomes, bottom-up: FROM -> Filter(WHERE) -> [Aggregate -> Filter(HAVING)] ->
//! Project(select list + hidden ORDER BY columns) -> [Distinct] -> Sort -> Project(strip
//! hidden columns). Aggregate calls are collected while binding the select list, HAVING and
//! ORDER BY; then every expression is rewritten over the Aggregate's output, and a column
//! that is neither grouped nor aggregated is a 42803 grouping error.

use crate::error::code;
use crate::plan::bind_expr::{coerce, common_of};
use crate::plan::binder::{
    ident_name, object_name_parts, AggCollector, Binder, Cte, Scope, ScopeCol,
};
use crate::plan::expr::{ColId, Expr};
use crate::plan::grouping::GroupRewrite;
pub use crate::plan::output_name::output_name;
use crate::plan::{Plan, SetOpKind, SortKey};
use crate::types::DataType;
use crate::{Error, Result};
use sqlparser::ast;
use std::collections::HashSet;

/// An ORDER BY / DISTINCT ON item after resolution.
enum Target {
    /// The n-th output column.
    Output(usize),
    /// Another expression over the FROM scope.
    Expr(Expr),
}

impl Binder<'_> {
    /// Binds a query; returns its plan and output column names.
    pub fn bind_query(&mut self, q: &ast::Query) -> Result<(Plan, Vec<String>)> {
        let pushed = match &q.with {
            Some(with) => {
                if with.recursive {
                    return Err(Error::unsupported("WITH RECURSIVE is not supported"));
                }
                self.ctes.push(Default::default());
                for cte in &with.cte_tables {
                    let (plan, mut names) = self.bind_query(&cte.query)?;
                    for (i, c) in cte.alias.columns.iter().enumerate() {
                        if let Some(n) = names.get_mut(i) {
                            *n = ident_name(&c.name);
                        }
                    }
                    let name = ident_name(&cte.alias.name);
                    if let Some(frame) = self.ctes.last_mut() {
                        frame.insert(name, Cte { plan, names });
                    }
                }
                true
            }
            None => false,
        };
        let r = self.bind_query_body(q);
        if pushed {
            self.ctes.pop();
        }
        r
    }

    fn bind_query_body(&mut self, q: &ast::Query) -> Result<(Plan, Vec<String>)> {
        let order_by: &[ast::OrderByExpr] = match &q.order_by {
            Some(ob) => match &ob.kind {
                ast::OrderByKind::Expressions(v) => v,
                ast::OrderByKind::All(_) => {
                    return Err(Error::unsupported("ORDER BY ALL is not supported"))
                }
            },
            None => &[],
        };
        let (mut plan, names) = match &*q.body {
            ast::SetExpr::Select(s) => self.bind_select(s, order_by)?,
            other => {
                let (plan, names) = self.bind_set_expr(other)?;
                self.order_over_output(plan, names, order_by)?
            }
        };
        super::locking::apply_locks(&q.locks, &mut plan)?;
        let (limit, offset) = match &q.limit_clause {
            Some(ast::LimitClause::LimitOffset { limit, offset, .. }) => {
                (limit.as_ref(), offset.as_ref().map(|o| &o.value))
            }
            Some(ast::LimitClause::OffsetCommaLimit { offset, limit }) => {
                (Some(limit), Some(offset))
            }
            None => (None, None),
        };
        // `FETCH FIRST ROW ONLY` without a count means one row.
        let one = ast::Expr::value(ast::Value::Number("1".into(), false));
        let fetch = match &q.fetch {
            Some(f) if f.with_ties || f.percent => {
                return Err(Error::unsupported(
                    "FETCH ... WITH TIES / PERCENT is not supported",
                ));
            }
            Some(_) if limit.is_some() => {
                return Err(Error::syntax("multiple LIMIT clauses not allowed"));
            }
            Some(f) => Some(f.quantity.as_ref().unwrap_or(&one)),
            None => None,
        };
        let limit = limit.or(fetch);
        if limit.is_some() || offset.is_some() {
            let limit = limit
                .map(|e| self.bind_count(e, "LIMIT"))
                .transpose()?
                .flatten();
            let offset = offset
                .map(|e| self.bind_count(e, "OFFSET"))
                .transpose()?
                .flatten();
            plan = Plan::Limit {
                input: Box::new(plan),
                limit,
                offset,
            };
        }
        Ok((plan, names))
    }

    /// Binds a LIMIT/OFFSET count (None for `LIMIT NULL`/`ALL`).
    fn bind_count(&mut self, e: &ast::Expr, what: &'static str) -> Result<Option<Expr>> {
        let saved = std::mem::replace(&mut self.agg_context, what);
        let saved_aggs = self.aggs.take();
        let r = self.bind_expr_hint(e, &Scope::default(), Some(&DataType::Int8));
        self.aggs = saved_aggs;
        self.agg_context = saved;
        let r = r?;
        if matches!(r, Expr::Literal(crate::types::Datum::Null, _)) {
            return Ok(None);
        }
        Ok(Some(coerce(r, &DataType::Int8)?))
    }

    /// Binds a set expression (the body of a query).
    pub fn bind_set_expr(&mut self, body: &ast::SetExpr) -> Result<(Plan, Vec<String>)> {
        match body {
            ast::SetExpr::Select(s) => self.bind_select(s, &[]),
            ast::SetExpr::Query(q) => self.bind_query(q),
            ast::SetExpr::Values(v) => self.bind_values(
                &v.rows.iter().map(|r| r.content.clone()).collect::<Vec<_>>(),
                None,
            ),
            ast::SetExpr::SetOperation {
                left,
                op,
                set_quantifier,
                right,
            } => {
                let op = match op {
                    ast::SetOperator::Union => SetOpKind::Union,
                    ast::SetOperator::Intersect => SetOpKind::Intersect,
                    ast::SetOperator::Except | ast::SetOperator::Minus => SetOpKind::Except,
                };
                let all = matches!(set_quantifier, ast::SetQuantifier::All);
                let (lp, names) = self.bind_set_expr(left)?;
                let (rp, _) = self.bind_set_expr(right)?;
                self.set_op(lp, rp, op, all, names)
            }
            other => Err(Error::unsupported(format!(
                "unsupported query form: {other}"
            ))),
        }
    }

    fn set_op(
        &mut self,
        lp: Plan,
        rp: Plan,
        op: SetOpKind,
        all: bool,
        names: Vec<String>,
    ) -> Result<(Plan, Vec<String>)> {
        let (lt, rt) = (lp.types(), rp.types());
        if lt.len() != rt.len() {
            let w = match op {
                SetOpKind::Union => "UNION",
                SetOpKind::Intersect => "INTERSECT",
                SetOpKind::Except => "EXCEPT",
            };
            return Err(Error::syntax(format!(
                "each {w} query must have the same number of columns"
            )));
        }
        let common = lt
            .iter()
            .zip(&rt)
            .map(|(a, b)| common_of([a.clone(), b.clone()].into_iter()))
            .collect::<Result<Vec<_>>>()?;
        let lp = self.cast_columns(lp, &common)?;
        let rp = self.cast_columns(rp, &common)?;
        let cols = names.iter().map(|n| self.new_col(None, n)).collect();
        Ok((
            Plan::SetOp {
                left: Box::new(lp),
                right: Box::new(rp),
                op,
                all,
                cols,
            },
            names,
        ))
    }

    /// Wraps `plan` in a projection casting its columns to `types` when they differ.
    pub fn cast_columns(&mut self, plan: Plan, types: &[DataType]) -> Result<Plan> {
        let cur = plan.types();
        if cur == types {
            return Ok(plan);
        }
        let layout = plan.layout();
        let mut exprs = Vec::with_capacity(types.len());
        let mut cols = Vec::with_capacity(types.len());
        for ((id, from), to) in layout.iter().zip(cur).zip(types) {
            exprs.push(coerce(Expr::Col(*id, from), to)?);
            let name = self.col_display(*id);
            cols.push(self.new_col(None, &name));
        }
        Ok(Plan::Project {
            input: Box::new(plan),
            exprs,
            cols,
        })
    }

    /// Binds VALUES rows; `hints` gives expected column types (INSERT targets).
    pub fn bind_values(
        &mut self,
        rows: &[Vec<ast::Expr>],
        hints: Option<&[DataType]>,
    ) -> Result<(Plan, Vec<String>)> {
        let width = rows.first().map(|r| r.len()).unwrap_or(0);
        let scope = Scope::default();
        let mut bound = Vec::with_capacity(rows.len());
        for r in rows {
            if r.len() != width {
                return Err(Error::syntax("VALUES lists must all be the same length"));
            }
            let mut out = Vec::with_capacity(width);
            for (i, e) in r.iter().enumerate() {
                let hint = hints.and_then(|h| h.get(i));
                let saved = std::mem::replace(&mut self.agg_context, "VALUES");
                let saved_aggs = self.aggs.take();
                let x = self.bind_expr_hint(e, &scope, hint);
                self.aggs = saved_aggs;
                self.agg_context = saved;
                out.push(x?);
            }
            bound.push(out);
        }
        let mut types = Vec::with_capacity(width);
        for i in 0..width {
            let t = match hints.and_then(|h| h.get(i)) {
                Some(h) if bound.iter().all(|r| r[i].ty() == DataType::Unknown) => h.clone(),
                _ => common_of(bound.iter().map(|r| r[i].ty()))?,
            };
            types.push(t);
        }
        for r in bound.iter_mut() {
            for (i, e) in r.iter_mut().enumerate() {
                let x = std::mem::replace(e, Expr::bool(false));
                *e = coerce(x, &types[i])?;
            }
        }
        let names: Vec<String> = (1..=width).map(|i| format!("column{i}")).collect();
        let cols = names.iter().map(|n| self.new_col(None, n)).collect();
        Ok((
            Plan::Values {
                rows: bound,
                cols,
                types,
            },
            names,
        ))
    }

    /// ORDER BY over a set operation's output: ordinals, output names, or expressions over
    /// the output columns.
    fn order_over_output(
        &mut self,
        plan: Plan,
        names: Vec<String>,
        order_by: &[ast::OrderByExpr],
    ) -> Result<(Plan, Vec<String>)> {
        if order_by.is_empty() {
            return Ok((plan, names));
        }
        let layout = plan.layout();
        let types = plan.types();
        let mut scope = Scope::default();
        for ((id, n), t) in layout.iter().zip(&names).zip(&types) {
            scope.cols.push(ScopeCol {
                table: None,
                name: n.clone(),
                id: *id,
                ty: t.clone(),
                hidden: false,
                using_dup: false,
            });
        }
        let mut keys = Vec::new();
        for ob in order_by {
            let expr = match ordinal(&ob.expr, layout.len())? {
                Some(i) => Expr::Col(layout[i], types[i].clone()),
                None => self.bind_expr(&ob.expr, &scope)?,
            };
            keys.push(sort_key(expr, &ob.options));
        }
        Ok((
            Plan::Sort {
                input: Box::new(plan),
                keys,
            },
            names,
        ))
    }

    /// Binds one SELECT with the enclosing query's ORDER BY.
    pub fn bind_select(
        &mut self,
        sel: &ast::Select,
        order_by: &[ast::OrderByExpr],
    ) -> Result<(Plan, Vec<String>)> {
        if sel.top.is_some()
            || sel.into.is_some()
            || !sel.lateral_views.is_empty()
            || sel.qualify.is_some()
        {
            return Err(Error::unsupported("unsupported SELECT clause"));
        }
        let (mut plan, scope) = self.bind_from(&sel.from)?;
        if let Some(w) = &sel.selection {
            let saved = std::mem::replace(&mut self.agg_context, "WHERE");
            let saved_aggs = self.aggs.take();
            let p = self.bind_expr_hint(w, &scope, Some(&DataType::Bool));
            self.aggs = saved_aggs;
            self.agg_context = saved;
            let p = coerce(p?, &DataType::Bool)?;
            plan = Plan::Filter {
                input: Box::new(plan),
                predicate: p,
            };
        }
        let outer_aggs = self.aggs.replace(AggCollector::default());
        let r = self.bind_select_rest(sel, order_by, plan, &scope);
        self.aggs = outer_aggs;
        r
    }

    fn bind_select_rest(
        &mut self,
        sel: &ast::Select,
        order_by: &[ast::OrderByExpr],
        mut plan: Plan,
        scope: &Scope,
    ) -> Result<(Plan, Vec<String>)> {
        let (mut proj, names) = self.bind_projection(&sel.projection, scope)?;
        let group = self.bind_group_by(&sel.group_by, scope, &proj, &names)?;
        let having = match &sel.having {
            Some(h) => Some(coerce(
                self.bind_expr_hint(h, scope, Some(&DataType::Bool))?,
                &DataType::Bool,
            )?),
            None => None,
        };
        let mut order_targets = Vec::with_capacity(order_by.len());
        for ob in order_by {
            order_targets.push(self.resolve_target(&ob.expr, scope, &proj, &names)?);
        }
        let mut distinct_on = match &sel.distinct {
            Some(ast::Distinct::On(exprs)) => {
                let mut v = Vec::new();
                for e in exprs {
                    v.push(self.resolve_target(e, scope, &proj, &names)?);
                }
                Some(v)
            }
            _ => None,
        };
        let calls = self.aggs.take().map(|c| c.calls).unwrap_or_default();
        let mut having = having;
        if !calls.is_empty() || group.is_some() || having.is_some() {
            let group = group.unwrap_or_default();
            let mut group_ids = Vec::with_capacity(group.len());
            for g in &group {
                group_ids.push(match g {
                    Expr::Col(id, _) => *id,
                    _ => self.new_col(None, "?column?"),
                });
            }
            let local: HashSet<ColId> = scope.cols.iter().map(|c| c.id).collect();
            let rw = GroupRewrite {
                group: &group,
                group_ids: &group_ids,
                local: &local,
            };
            for e in proj.iter_mut() {
                *e = rw.apply(std::mem::replace(e, Expr::bool(false)), self)?;
            }
            if let Some(h) = having.take() {
                having = Some(rw.apply(h, self)?);
            }
            for t in order_targets
                .iter_mut()
                .chain(distinct_on.iter_mut().flatten())
            {
                if let Target::Expr(e) = t {
                    *e = rw.apply(std::mem::replace(e, Expr::bool(false)), self)?;
                }
            }
            let mut cols = group_ids.clone();
            cols.extend(calls.iter().map(|(_, id)| *id));
            let aggs = calls.into_iter().map(|(c, _)| c).collect();
            plan = Plan::Aggregate {
                input: Box::new(plan),
                group,
                aggs,
                cols,
            };
            if let Some(h) = having {
                plan = Plan::Filter {
                    input: Box::new(plan),
                    predicate: h,
                };
            }
        }
        self.finish_select(
            plan,
            proj,
            names,
            sel.distinct.as_ref(),
            order_by,
            order_targets,
            distinct_on,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_select(
        &mut self,
        plan: Plan,
        proj: Vec<Expr>,
        names: Vec<String>,
        distinct: Option<&ast::Distinct>,
        order_by: &[ast::OrderByExpr],
        order_targets: Vec<Target>,
        distinct_on: Option<Vec<Target>>,
    ) -> Result<(Plan, Vec<String>)> {
        let n = proj.len();
        let mut exprs = proj;
        let to_col = |t: Target, exprs: &mut Vec<Expr>| -> usize {
            match t {
                Target::Output(i) => i,
                Target::Expr(e) => match exprs.iter().position(|x| *x == e) {
                    Some(i) => i,
                    None => {
                        exprs.push(e);
                        exprs.len() - 1
                    }
                },
            }
        };
        let order_pos: Vec<usize> = order_targets
            .into_iter()
            .map(|t| to_col(t, &mut exprs))
            .collect();
        let on_pos: Option<Vec<usize>> =
            distinct_on.map(|v| v.into_iter().map(|t| to_col(t, &mut exprs)).collect());
        let plain_distinct = matches!(distinct, Some(ast::Distinct::Distinct));
        if plain_distinct && exprs.len() > n {
            return Err(Error::new(
                code::INVALID_COLUMN_REFERENCE,
                "for SELECT DISTINCT, ORDER BY expressions must appear in select list",
            ));
        }
        let cols: Vec<ColId> = (0..exprs.len())
            .map(|i| self.new_col(None, names.get(i).map(String::as_str).unwrap_or("?column?")))
            .collect();
        let types: Vec<DataType> = exprs.iter().map(|e| e.ty()).collect();
        let mut plan = Plan::Project {
            input: Box::new(plan),
            exprs,
            cols: cols.clone(),
        };
        let keys: Vec<SortKey> = order_pos
            .iter()
            .zip(order_by)
            .map(|(i, ob)| sort_key(Expr::Col(cols[*i], types[*i].clone()), &ob.options))
            .collect();
        if plain_distinct {
            plan = Plan::Distinct {
                input: Box::new(plan),
                on: None,
            };
        }
        if let Some(on) = on_pos {
            // DISTINCT ON keeps the first row of each group in ORDER BY order.
            let mut keys = keys.clone();
            for i in &on {
                if !keys
                    .iter()
                    .any(|k| k.expr == Expr::Col(cols[*i], types[*i].clone()))
                {
                    keys.push(SortKey {
                        expr: Expr::Col(cols[*i], types[*i].clone()),
                        desc: false,
                        nulls_first: false,
                    });
                }
            }
            plan = Plan::Sort {
                input: Box::new(plan),
                keys,
            };
            let on_exprs = on
                .iter()
                .map(|i| Expr::Col(cols[*i], types[*i].clone()))
                .collect();
            plan = Plan::Distinct {
                input: Box::new(plan),
                on: Some(on_exprs),
            };
        } else if !keys.is_empty() {
            plan = Plan::Sort {
                input: Box::new(plan),
                keys,
            };
        }
        if cols.len() > n {
            let exprs = (0..n)
                .map(|i| Expr::Col(cols[i], types[i].clone()))
                .collect();
            plan = Plan::Project {
                input: Box::new(plan),
                exprs,
                cols: cols[..n].to_vec(),
            };
        }
        Ok((plan, names))
    }

    fn bind_projection(
        &mut self,
        items: &[ast::SelectItem],
        scope: &Scope,
    ) -> Result<(Vec<Expr>, Vec<String>)> {
        let mut exprs = Vec::new();
        let mut names = Vec::new();
        for item in items {
            match item {
                ast::SelectItem::UnnamedExpr(e) => {
                    let x = self.bind_expr(e, scope)?;
                    exprs.push(finalize_unknown(x)?);
                    names.push(output_name(e));
                }
                ast::SelectItem::ExprWithAlias { expr, alias } => {
                    let x = self.bind_expr(expr, scope)?;
                    exprs.push(finalize_unknown(x)?);
                    names.push(ident_name(alias));
                }
                ast::SelectItem::Wildcard(_) => {
                    if scope.cols.is_empty() {
                        return Err(Error::syntax(
                            "SELECT * with no tables specified is not valid",
                        ));
                    }
                    for c in scope.cols.iter().filter(|c| !c.hidden && !c.using_dup) {
                        exprs.push(Expr::Col(c.id, c.ty.clone()));
                        names.push(c.name.clone());
                    }
                }
                ast::SelectItem::QualifiedWildcard(kind, _) => {
                    let t = match kind {
                        ast::SelectItemQualifiedWildcardKind::ObjectName(n) => {
                            object_name_parts(n)?.last().cloned().unwrap_or_default()
                        }
                        ast::SelectItemQualifiedWildcardKind::Expr(e) => {
                            return Err(Error::unsupported(format!("unsupported {e}.*")))
                        }
                    };
                    if !scope.has_table(&t) {
                        return Err(Error::new(
                            code::UNDEFINED_TABLE,
                            format!("missing FROM-clause entry for table \"{t}\""),
                        ));
                    }
                    for c in scope
                        .cols
                        .iter()
                        .filter(|c| !c.hidden && c.table.as_deref() == Some(t.as_str()))
                    {
                        exprs.push(Expr::Col(c.id, c.ty.clone()));
                        names.push(c.name.clone());
                    }
                }
                other => {
                    return Err(Error::unsupported(format!(
                        "unsupported select item {other}"
                    )))
                }
            }
        }
        Ok((exprs, names))
    }

    fn bind_group_by(
        &mut self,
        gb: &ast::GroupByExpr,
        scope: &Scope,
        proj: &[Expr],
        names: &[String],
    ) -> Result<Option<Vec<Expr>>> {
        let exprs = match gb {
            ast::GroupByExpr::Expressions(e, mods) => {
                if !mods.is_empty() {
                    return Err(Error::unsupported("GROUP BY modifiers are not supported"));
                }
                e
            }
            ast::GroupByExpr::All(_) => {
                return Err(Error::unsupported("GROUP BY ALL is not supported"))
            }
        };
        if exprs.is_empty() {
            return Ok(None);
        }
        let saved_aggs = self.aggs.take();
        let saved = std::mem::replace(&mut self.agg_context, "GROUP BY");
        let r = (|| {
            let mut out = Vec::with_capacity(exprs.len());
            for e in exprs {
                if let Some(i) = ordinal(e, proj.len())? {
                    out.push(proj[i].clone());
                    continue;
                }
                match self.bind_expr(e, scope) {
                    Ok(x) => out.push(x),
                    Err(err) if err.code == code::UNDEFINED_COLUMN => {
                        let alias = match e {
                            ast::Expr::Identifier(id) => {
                                names.iter().position(|n| *n == ident_name(id))
                            }
                            _ => None,
                        };
                        match alias {
                            Some(i) => out.push(proj[i].clone()),
                            None => return Err(err),
                        }
                    }
                    Err(err) => return Err(err),
                }
            }
            Ok(out)
        })();
        self.agg_context = saved;
        self.aggs = saved_aggs;
        Ok(Some(r?))
    }

    /// Resolves an ORDER BY / DISTINCT ON item: ordinal, output alias, or expression.
    fn resolve_target(
        &mut self,
        e: &ast::Expr,
        scope: &Scope,
        proj: &[Expr],
        names: &[String],
    ) -> Result<Target> {
        if let Some(i) = ordinal(e, proj.len())? {
            return Ok(Target::Output(i));
        }
        if let ast::Expr::Identifier(id) = e {
            let n = ident_name(id);
            let hits: Vec<usize> = (0..names.len()).filter(|i| names[*i] == n).collect();
            if hits.len() == 1 {
                return Ok(Target::Output(hits[0]));
            }
        }
        Ok(Target::Expr(self.bind_expr(e, scope)?))
    }
}

/// `ORDER BY 2` / `GROUP BY 1`: a positive integer literal is an output ordinal.
fn ordinal(e: &ast::Expr, n: usize) -> Result<Option<usize>> {
    if let ast::Expr::Value(v) = e {
        if let ast::Value::Number(s, _) = &v.value {
            return match s.parse::<usize>() {
                Ok(i) if i >= 1 && i <= n => Ok(Some(i - 1)),
                _ => Err(Error::new(
                    code::INVALID_COLUMN_REFERENCE,
                    format!("ORDER BY position {s} is not in select list"),
                )),
            };
        }
    }
    Ok(None)
}

fn sort_key(expr: Expr, opts: &ast::OrderByOptions) -> SortKey {
    let desc = matches!(opts.sort, Some(ast::OrderBySort::Desc));
    let nulls_first = opts.nulls_first.unwrap_or(desc);
    SortKey {
        expr,
        desc,
        nulls_first,
    }
}

/// Select-list literals of unknown type are text in the output.
fn finalize_unknown(e: Expr) -> Result<Expr> {
    if e.ty() == DataType::Unknown {
        crate::plan::bind_expr::coerce_unknown(e, &DataType::Text)
    } else {
        Ok(e)
    }
}
