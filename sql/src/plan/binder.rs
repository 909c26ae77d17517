//! The binder's state: scopes, column ids, parameters, CTEs and aggregate collection.
//!
//! A [`Scope`] lists the columns visible to expressions at one query level (a FROM clause's
//! tables, with their aliases). Subqueries are bound with the enclosing scopes pushed on
//! [`Binder::outer`]; a name not found locally is looked up outward, and finding it there
//! marks every subquery frame between the two levels as correlated.

use crate::catalog::TableDesc;
use crate::context::ExecContext;
use crate::error::code;
use crate::plan::expr::{AggCall, ColId, Expr};
use crate::plan::Plan;
use crate::types::DataType;
use crate::{Error, Result};
use std::collections::HashMap;

/// One visible column.
#[derive(Debug, Clone)]
pub struct ScopeCol {
    /// Table alias qualifying the column (None for derived output without alias).
    pub table: Option<String>,
    /// Column name.
    pub name: String,
    /// Its id.
    pub id: ColId,
    /// Its type.
    pub ty: DataType,
    /// Excluded from `*` (rowid) and, for USING-merged duplicates, from unqualified lookup.
    pub hidden: bool,
    /// The right-hand copy of a JOIN USING column: reachable only qualified.
    pub using_dup: bool,
}

/// The columns visible at one query level.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Columns in FROM order.
    pub cols: Vec<ScopeCol>,
}

impl Scope {
    /// Finds `[table.]name`; Ok(None) when absent, 42702 when ambiguous.
    pub fn find(&self, table: Option<&str>, name: &str) -> Result<Option<&ScopeCol>> {
        let mut found: Option<&ScopeCol> = None;
        for c in &self.cols {
            let hit = match table {
                Some(t) => c.table.as_deref() == Some(t) && c.name == name,
                None => c.name == name && !c.using_dup,
            };
            if hit {
                if let Some(prev) = found {
                    if prev.id != c.id {
                        let full = match table {
                            Some(t) => format!("{t}.{name}"),
                            None => name.to_string(),
                        };
                        return Err(Error::new(
                            code::AMBIGUOUS_COLUMN,
                            format!("column reference \"{full}\" is ambiguous"),
                        ));
                    }
                }
                found = Some(c);
            }
        }
        Ok(found)
    }

    /// Whether some column is qualified by `table`.
    pub fn has_table(&self, table: &str) -> bool {
        self.cols.iter().any(|c| c.table.as_deref() == Some(table))
    }
}

/// A bound common table expression.
#[derive(Debug, Clone)]
pub struct Cte {
    /// Its plan.
    pub plan: Plan,
    /// Output column names.
    pub names: Vec<String>,
}

/// Aggregates collected while binding one SELECT's projection, HAVING and ORDER BY.
#[derive(Debug, Default)]
pub struct AggCollector {
    /// The calls with their output ids.
    pub calls: Vec<(AggCall, ColId)>,
}

/// A subquery being bound: how many outer scopes existed when it started, and whether it
/// referenced any of them.
#[derive(Debug, Clone, Copy)]
struct Frame {
    base: usize,
    correlated: bool,
}

/// Binder state for one statement.
pub struct Binder<'a> {
    /// The execution context (None when validating stored expressions).
    pub ctx: Option<&'a ExecContext>,
    next_col: ColId,
    /// Display names of columns (for errors and EXPLAIN): id -> (table, column).
    pub col_names: HashMap<ColId, (Option<String>, String)>,
    /// Enclosing scopes, innermost last.
    pub outer: Vec<Scope>,
    frames: Vec<Frame>,
    /// Inferred parameter types ($1 is index 0).
    pub params: Vec<Option<DataType>>,
    /// CTE frames, innermost last.
    pub ctes: Vec<HashMap<String, Cte>>,
    /// The aggregate collector of the SELECT being bound, when aggregates are allowed.
    pub aggs: Option<AggCollector>,
    /// Why aggregates are not allowed here (for the error), when `aggs` is None.
    pub agg_context: &'static str,
    /// Whether UPDATE, DELETE and UPSERT / ON CONFLICT DO UPDATE lock the rows they read
    /// (the session's `enable_implicit_select_for_update`).
    pub implicit_for_update: bool,
}

impl<'a> Binder<'a> {
    /// A binder for a statement run in `ctx`, with parameter type hints.
    pub fn new(ctx: &'a ExecContext, param_hints: &[DataType]) -> Self {
        let mut b = Self::new_detached();
        b.ctx = Some(ctx);
        b.params = param_hints
            .iter()
            .map(|t| {
                if *t == DataType::Unknown {
                    None
                } else {
                    Some(t.clone())
                }
            })
            .collect();
        b
    }

    /// A binder without a context (stored expressions of one table only).
    pub fn new_detached() -> Self {
        Binder {
            ctx: None,
            next_col: 0,
            col_names: HashMap::new(),
            outer: Vec::new(),
            frames: Vec::new(),
            params: Vec::new(),
            ctes: Vec::new(),
            aggs: None,
            agg_context: "WHERE",
            implicit_for_update: true,
        }
    }

    /// The lock DML takes on the rows it reads and then writes.
    pub fn implicit_lock(&self) -> Option<txn::LockStrength> {
        self.implicit_for_update
            .then_some(txn::LockStrength::Exclusive)
    }

    /// The context, or an internal error when detached.
    pub fn ctx(&self) -> Result<&'a ExecContext> {
        self.ctx
            .ok_or_else(|| Error::internal("no execution context to read the catalog"))
    }

    /// Allocates a column id with a display name.
    pub fn new_col(&mut self, table: Option<&str>, name: &str) -> ColId {
        let id = self.next_col;
        self.next_col += 1;
        self.col_names
            .insert(id, (table.map(str::to_string), name.to_string()));
        id
    }

    /// A display name for a column id (`t.a` or `a`).
    pub fn col_display(&self, id: ColId) -> String {
        match self.col_names.get(&id) {
            Some((Some(t), n)) => format!("{t}.{n}"),
            Some((None, n)) => n.clone(),
            None => format!("#{id}"),
        }
    }

    /// The scope of a table's columns under `alias`, with fresh ids.
    pub fn table_scope(&mut self, t: &TableDesc, alias: &str) -> (Vec<ColId>, Scope) {
        let mut ids = Vec::with_capacity(t.columns.len());
        let mut scope = Scope::default();
        for c in &t.columns {
            let id = self.new_col(Some(alias), &c.name);
            ids.push(id);
            scope.cols.push(ScopeCol {
                table: Some(alias.to_string()),
                name: c.name.clone(),
                id,
                ty: c.ty.clone(),
                hidden: c.hidden,
                using_dup: false,
            });
        }
        (ids, scope)
    }

    /// Resolves a column reference in `scope`, then in the enclosing scopes.
    pub fn resolve_column(
        &mut self,
        scope: &Scope,
        table: Option<&str>,
        name: &str,
    ) -> Result<Expr> {
        if let Some(c) = scope.find(table, name)? {
            return Ok(Expr::Col(c.id, c.ty.clone()));
        }
        for level in (0..self.outer.len()).rev() {
            let hit = self.outer[level]
                .find(table, name)?
                .map(|c| (c.id, c.ty.clone()));
            if let Some((id, ty)) = hit {
                for f in self.frames.iter_mut() {
                    if f.base > level {
                        f.correlated = true;
                    }
                }
                return Ok(Expr::Col(id, ty));
            }
        }
        let full = match table {
            Some(t) => {
                let known = scope.has_table(t) || self.outer.iter().any(|s| s.has_table(t));
                if !known {
                    return Err(Error::new(
                        code::UNDEFINED_TABLE,
                        format!("missing FROM-clause entry for table \"{t}\""),
                    ));
                }
                format!("{t}.{name}")
            }
            None => name.to_string(),
        };
        Err(Error::new(
            code::UNDEFINED_COLUMN,
            format!("column \"{full}\" does not exist"),
        ))
    }

    /// Binds a subquery with `scope` as its innermost outer scope; returns its result and
    /// whether it was correlated.
    pub fn with_subquery<T>(
        &mut self,
        scope: &Scope,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<(T, bool)> {
        self.outer.push(scope.clone());
        self.frames.push(Frame {
            base: self.outer.len(),
            correlated: false,
        });
        let saved_aggs = self.aggs.take();
        let r = f(self);
        self.aggs = saved_aggs;
        let frame = self.frames.pop();
        self.outer.pop();
        Ok((r?, frame.is_some_and(|f| f.correlated)))
    }

    /// The type of `$n` (1-based in SQL), recording `hint` when it is the first information.
    pub fn param_type(&mut self, n: usize, hint: Option<&DataType>) -> Result<DataType> {
        if n == 0 || n > 65535 {
            return Err(Error::new(
                code::UNDEFINED_PARAMETER,
                format!("there is no parameter ${n}"),
            ));
        }
        if self.params.len() < n {
            self.params.resize(n, None);
        }
        let slot = &mut self.params[n - 1];
        if slot.is_none() {
            if let Some(h) = hint.filter(|h| **h != DataType::Unknown) {
                *slot = Some(h.clone());
            }
        }
        Ok(slot.clone().unwrap_or(DataType::Text))
    }

    /// Final parameter types (unknown ones default to text).
    pub fn param_types(&self) -> Vec<DataType> {
        self.params
            .iter()
            .map(|p| p.clone().unwrap_or(DataType::Text))
            .collect()
    }

    /// Looks up a CTE by name, innermost first.
    pub fn find_cte(&self, name: &str) -> Option<Cte> {
        self.ctes.iter().rev().find_map(|f| f.get(name).cloned())
    }
}

/// Normalizes an identifier: unquoted names fold to lower case (PostgreSQL).
pub fn ident_name(id: &sqlparser::ast::Ident) -> String {
    if id.quote_style.is_some() {
        id.value.clone()
    } else {
        id.value.to_lowercase()
    }
}

/// The identifiers of an object name (`db.schema.t`), normalized.
pub fn object_name_parts(name: &sqlparser::ast::ObjectName) -> Result<Vec<String>> {
    name.0
        .iter()
        .map(|p| match p.as_ident() {
            Some(i) => Ok(ident_name(i)),
            None => Err(Error::unsupported(format!(
                "unsupported object name {name}"
            ))),
        })
        .collect()
}
