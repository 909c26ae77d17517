//! CREATE TABLE: turning the column and constraint syntax into a [`TableDesc`].
//!
//! PostgreSQL's naming rules are followed for everything the user did not name: the primary
//! key index `<table>_pkey`, UNIQUE constraints `<table>_<cols>_key`, CHECK constraints
//! `<table>_<col>_check` when the expression mentions exactly one column, else `<table>_check`,
//! each made unique by a numeric suffix. CockroachDB's rules are followed where PostgreSQL has
//! nothing to say: a table without a primary key gets a hidden `rowid INT8 DEFAULT
//! unique_rowid()` key, and SERIAL columns are `INT8 NOT NULL DEFAULT unique_rowid()`
//! (CockroachDB's default `serial_normalization = rowid`).

use super::{choose_name, duplicate_relation, relation_names};
use crate::catalog::{
    names::resolve_table_name, normalize_ident, Catalog, CheckDesc, ColumnDesc, IndexDesc,
    TableDesc, PRIMARY_INDEX_ID, ROWID_COLUMN, UNIQUE_ROWID_DEFAULT,
};
use crate::context::{ExecContext, ExecResult};
use crate::error::code;
use crate::types::DataType;
use crate::{Error, Result};
use kv::encoding::Direction;
use sqlparser::ast::{
    self, ColumnDef, ColumnOption, CreateTable, Expr, IndexColumn, OrderBySort, TableConstraint,
};
use std::collections::HashSet;
use std::ops::ControlFlow;

/// A key column list as written: names and directions.
type KeyColumns = Vec<(String, Direction)>;

/// The table being assembled from the statement.
struct Builder {
    table: String,
    columns: Vec<ColumnDesc>,
    /// The primary key: constraint name if given, and columns.
    primary: Option<(Option<String>, KeyColumns)>,
    /// UNIQUE constraints: name if given, and columns.
    uniques: Vec<(Option<String>, KeyColumns)>,
    /// Plain (CockroachDB `INDEX name (cols)`) indexes declared in the table.
    plain_indexes: Vec<(Option<String>, KeyColumns)>,
    /// CHECK constraints: name if given, and expression.
    checks: Vec<(Option<String>, Expr)>,
}

/// Executes CREATE TABLE.
pub(super) fn create_table(ctx: &ExecContext, ct: &CreateTable) -> Result<ExecResult> {
    reject_unsupported(ct)?;
    let name = resolve_table_name(&ct.name, &ctx.database)?;
    let db = Catalog::must_database(&ctx.txn, &name.database)?;
    let mut taken = relation_names(&ctx.txn, db.id)?;
    if taken.contains(&name.name) {
        if ct.if_not_exists && Catalog::table(&ctx.txn, &name.database, &name.name)?.is_some() {
            return Ok(ExecResult::command("CREATE TABLE"));
        }
        return Err(duplicate_relation(&name.name));
    }
    taken.insert(name.name.clone());
    let mut desc = build_table(&name.name, ct, &mut taken)?;
    let locality = crate::multiregion::parse::create_table_locality(ct);
    crate::multiregion::locality::apply_on_create(&db, &mut desc, locality.as_ref())?;
    validate_exprs(&desc)?;
    desc.id = Catalog::allocate_id(&ctx.txn)?;
    desc.db_id = db.id;
    desc.owner = ctx.user.clone();
    Catalog::create_table(&ctx.txn, &desc)?;
    crate::multiregion::zones::write_table(&ctx.txn, &db, &desc)?;
    Ok(ExecResult::command("CREATE TABLE"))
}

fn reject_unsupported(ct: &CreateTable) -> Result<()> {
    if ct.query.is_some() {
        return Err(Error::unsupported("CREATE TABLE ... AS is not supported"));
    }
    if ct.like.is_some() || ct.clone.is_some() {
        return Err(Error::unsupported("CREATE TABLE ... LIKE is not supported"));
    }
    if ct.temporary {
        return Err(Error::unsupported("temporary tables are not supported"));
    }
    if ct.or_replace {
        return Err(Error::syntax("syntax error at or near \"REPLACE\""));
    }
    Ok(())
}

/// Builds the descriptor (id, db_id and owner are filled in by the caller). `taken` holds the
/// relation names of the database, to which the new index names are added.
fn build_table(table: &str, ct: &CreateTable, taken: &mut HashSet<String>) -> Result<TableDesc> {
    let mut b = Builder {
        table: table.to_string(),
        columns: Vec::new(),
        primary: None,
        uniques: Vec::new(),
        plain_indexes: Vec::new(),
        checks: Vec::new(),
    };
    for col in &ct.columns {
        b.add_column(col)?;
    }
    for c in &ct.constraints {
        b.add_constraint(c)?;
    }
    b.finish(taken)
}

impl Builder {
    fn add_column(&mut self, col: &ColumnDef) -> Result<()> {
        if self.inline_index(col)? {
            return Ok(());
        }
        let name = normalize_ident(&col.name);
        if self.columns.iter().any(|c| c.name == name) {
            return Err(Error::new(
                code::DUPLICATE_COLUMN,
                format!("column \"{name}\" specified more than once"),
            ));
        }
        let serial = is_serial(&col.data_type);
        let ty = if serial {
            DataType::Int8
        } else {
            DataType::from_sql(&col.data_type)?
        };
        ty.check_storable()?;
        let mut c = ColumnDesc {
            id: self.columns.len() as u32 + 1,
            name: name.clone(),
            ty,
            nullable: !serial,
            default_expr: serial.then(|| UNIQUE_ROWID_DEFAULT.to_string()),
            hidden: false,
        };
        let mut saw_null = false;
        for opt in &col.options {
            let cname = opt.name.as_ref().map(normalize_ident);
            match &opt.option {
                ColumnOption::Null => {
                    saw_null = true;
                    c.nullable = true;
                }
                ColumnOption::NotNull => c.nullable = false,
                ColumnOption::Default(e) => {
                    if serial {
                        return Err(Error::syntax(format!(
                            "multiple default values specified for column \"{name}\" of table \"{}\"",
                            self.table
                        )));
                    }
                    c.default_expr = Some(expr_text(e)?);
                }
                ColumnOption::PrimaryKey(pk) => {
                    let pk_name = cname.or_else(|| pk.name.as_ref().map(normalize_ident));
                    self.set_primary(pk_name, vec![(name.clone(), Direction::Asc)])?;
                }
                ColumnOption::Unique(u) => {
                    let u_name = cname.or_else(|| u.name.as_ref().map(normalize_ident));
                    self.uniques
                        .push((u_name, vec![(name.clone(), Direction::Asc)]));
                }
                ColumnOption::Check(chk) => {
                    let chk_name = cname.or_else(|| chk.name.as_ref().map(normalize_ident));
                    self.checks.push((chk_name, (*chk.expr).clone()));
                }
                ColumnOption::Comment(_) => {}
                ColumnOption::ForeignKey(_) => {
                    return Err(Error::unsupported("foreign keys are not supported yet"));
                }
                ColumnOption::Generated { .. } => {
                    return Err(Error::unsupported(
                        "identity and generated columns are not supported yet",
                    )
                    .with_hint("use SERIAL or DEFAULT unique_rowid()"));
                }
                other => {
                    return Err(Error::unsupported(format!(
                        "column option {other} is not supported"
                    )));
                }
            }
        }
        if saw_null && !c.nullable {
            return Err(Error::syntax(format!(
                "conflicting NULL/NOT NULL declarations for column \"{name}\" of table \"{}\"",
                self.table
            )));
        }
        self.columns.push(c);
        Ok(())
    }

    /// CockroachDB's `INDEX name (a, b)` inside CREATE TABLE, which sqlparser's PostgreSQL
    /// dialect reads as a column named INDEX of type `name(a, b)`. Only plain column lists
    /// parse that way (no ASC/DESC).
    fn inline_index(&mut self, col: &ColumnDef) -> Result<bool> {
        let is_index = col.name.quote_style.is_none()
            && col.name.value.eq_ignore_ascii_case("index")
            && col.options.is_empty();
        let ast::DataType::Custom(name, mods) = &col.data_type else {
            return Ok(false);
        };
        if !is_index || mods.is_empty() {
            return Ok(false);
        }
        let mut cols = Vec::with_capacity(mods.len());
        for m in mods {
            match m {
                ast::TypeModifier::Identifier(id) => {
                    cols.push((normalize_ident(id), Direction::Asc))
                }
                _ => return Err(Error::syntax(format!("syntax error in INDEX {name}"))),
            }
        }
        let index_name = crate::catalog::names::name_parts(name)?.pop();
        self.plain_indexes.push((index_name, cols));
        Ok(true)
    }

    fn add_constraint(&mut self, c: &TableConstraint) -> Result<()> {
        match c {
            TableConstraint::PrimaryKey(pk) => {
                let cols = key_columns(&pk.columns)?;
                self.set_primary(pk.name.as_ref().map(normalize_ident), cols)
            }
            TableConstraint::Unique(u) => {
                let cols = key_columns(&u.columns)?;
                self.uniques
                    .push((u.name.as_ref().map(normalize_ident), cols));
                Ok(())
            }
            TableConstraint::Check(chk) => {
                self.checks
                    .push((chk.name.as_ref().map(normalize_ident), (*chk.expr).clone()));
                Ok(())
            }
            TableConstraint::Index(idx) => {
                let cols = key_columns(&idx.columns)?;
                self.plain_indexes
                    .push((idx.name.as_ref().map(normalize_ident), cols));
                Ok(())
            }
            TableConstraint::ForeignKey(_) => {
                Err(Error::unsupported("foreign keys are not supported yet"))
            }
            other => Err(Error::unsupported(format!(
                "constraint {other} is not supported"
            ))),
        }
    }

    fn set_primary(&mut self, name: Option<String>, cols: KeyColumns) -> Result<()> {
        if self.primary.is_some() {
            return Err(Error::new(
                code::INVALID_TABLE_DEFINITION,
                format!(
                    "multiple primary keys for table \"{}\" are not allowed",
                    self.table
                ),
            ));
        }
        self.primary = Some((name, cols));
        Ok(())
    }

    /// Resolves key column names to positions (42703 for unknown ones, 42701 for repeats).
    fn positions(&self, cols: &KeyColumns) -> Result<Vec<(usize, Direction)>> {
        let mut out: Vec<(usize, Direction)> = Vec::with_capacity(cols.len());
        for (name, dir) in cols {
            let pos = self
                .columns
                .iter()
                .position(|c| &c.name == name)
                .ok_or_else(|| {
                    Error::new(
                        code::UNDEFINED_COLUMN,
                        format!("column \"{name}\" named in key does not exist"),
                    )
                })?;
            if out.iter().any(|(p, _)| *p == pos) {
                return Err(Error::new(
                    code::DUPLICATE_COLUMN,
                    format!("column \"{name}\" appears twice in primary key constraint"),
                ));
            }
            out.push((pos, *dir));
        }
        Ok(out)
    }

    fn finish(mut self, taken: &mut HashSet<String>) -> Result<TableDesc> {
        let primary = self.build_primary(taken)?;
        let mut next_index_id = PRIMARY_INDEX_ID + 1;
        let mut indexes = Vec::new();
        for (unique, list) in [
            (true, std::mem::take(&mut self.uniques)),
            (false, std::mem::take(&mut self.plain_indexes)),
        ] {
            for (name, cols) in list {
                let columns = self.positions(&cols)?;
                let suffix = if unique { "key" } else { "idx" };
                let name = self.index_name(name, &cols, suffix, taken)?;
                indexes.push(IndexDesc {
                    id: next_index_id,
                    name,
                    columns,
                    unique,
                    constraint: unique,
                });
                next_index_id += 1;
            }
        }
        let checks = self.build_checks()?;
        Ok(TableDesc {
            id: 0,
            db_id: 0,
            name: self.table.clone(),
            owner: String::new(),
            next_column_id: self.columns.len() as u32 + 1,
            columns: self.columns,
            primary,
            indexes,
            checks,
            next_index_id,
            version: 1,
            locality: None,
        })
    }

    fn build_primary(&mut self, taken: &mut HashSet<String>) -> Result<IndexDesc> {
        let (name, cols) = match self.primary.take() {
            Some(p) => p,
            None => {
                let mut col_names: HashSet<String> =
                    self.columns.iter().map(|c| c.name.clone()).collect();
                let rowid = choose_rowid_name(&mut col_names);
                self.columns.push(ColumnDesc {
                    id: self.columns.len() as u32 + 1,
                    name: rowid.clone(),
                    ty: DataType::Int8,
                    nullable: false,
                    default_expr: Some(UNIQUE_ROWID_DEFAULT.to_string()),
                    hidden: true,
                });
                (None, vec![(rowid, Direction::Asc)])
            }
        };
        let columns = self.positions(&cols)?;
        for (pos, _) in &columns {
            self.columns[*pos].nullable = false;
        }
        let name = match name {
            Some(n) if taken.contains(&n) => return Err(duplicate_relation(&n)),
            Some(n) => {
                taken.insert(n.clone());
                n
            }
            None => choose_name(&format!("{}_pkey", self.table), taken),
        };
        Ok(IndexDesc {
            id: PRIMARY_INDEX_ID,
            name,
            columns,
            unique: true,
            constraint: true,
        })
    }

    fn index_name(
        &self,
        given: Option<String>,
        cols: &KeyColumns,
        suffix: &str,
        taken: &mut HashSet<String>,
    ) -> Result<String> {
        match given {
            Some(n) if taken.contains(&n) => Err(duplicate_relation(&n)),
            Some(n) => {
                taken.insert(n.clone());
                Ok(n)
            }
            None => {
                let joined: Vec<&str> = cols.iter().map(|(c, _)| c.as_str()).collect();
                Ok(choose_name(
                    &format!("{}_{}_{suffix}", self.table, joined.join("_")),
                    taken,
                ))
            }
        }
    }

    fn build_checks(&mut self) -> Result<Vec<CheckDesc>> {
        let mut names: HashSet<String> = HashSet::new();
        let mut out = Vec::new();
        for (name, expr) in std::mem::take(&mut self.checks) {
            let referenced = referenced_columns(&expr);
            for col in &referenced {
                if !self.columns.iter().any(|c| &c.name == col) {
                    return Err(Error::new(
                        code::UNDEFINED_COLUMN,
                        format!("column \"{col}\" does not exist"),
                    ));
                }
            }
            let name = match name {
                Some(n) if names.contains(&n) => {
                    return Err(Error::new(
                        code::DUPLICATE_OBJECT,
                        format!(
                            "constraint \"{n}\" for relation \"{}\" already exists",
                            self.table
                        ),
                    ));
                }
                Some(n) => {
                    names.insert(n.clone());
                    n
                }
                None => {
                    let base = match referenced.as_slice() {
                        [one] => format!("{}_{one}_check", self.table),
                        _ => format!("{}_check", self.table),
                    };
                    choose_name(&base, &mut names)
                }
            };
            out.push(CheckDesc {
                name,
                expr: expr_text(&expr)?,
            });
        }
        Ok(out)
    }
}

/// Binds every DEFAULT and CHECK with the planner, as PostgreSQL does at CREATE TABLE:
/// a DEFAULT may not reference columns and must be assignable to its column; a CHECK must be
/// boolean.
fn validate_exprs(t: &TableDesc) -> Result<()> {
    let no_columns = TableDesc {
        columns: Vec::new(),
        ..t.clone()
    };
    for c in &t.columns {
        let Some(text) = &c.default_expr else {
            continue;
        };
        let ty = crate::plan::validate_scalar_expr(text, &no_columns)?;
        if !crate::types::can_cast(&ty, &c.ty, false) {
            return Err(Error::new(
                code::DATATYPE_MISMATCH,
                format!(
                    "column \"{}\" is of type {} but default expression is of type {}",
                    c.name,
                    c.ty.pg_name(),
                    ty.pg_name()
                ),
            )
            .with_hint("You will need to rewrite or cast the expression."));
        }
    }
    for chk in &t.checks {
        let ty = crate::plan::validate_scalar_expr(&chk.expr, t)?;
        if !matches!(ty, DataType::Bool | DataType::Unknown) {
            return Err(Error::new(
                code::DATATYPE_MISMATCH,
                format!(
                    "argument of CHECK must be type boolean, not type {}",
                    ty.pg_name()
                ),
            ));
        }
    }
    Ok(())
}

/// `rowid`, or `rowid_1`, `rowid_2`... when a user column has that name (CockroachDB).
fn choose_rowid_name(columns: &mut HashSet<String>) -> String {
    let mut name = ROWID_COLUMN.to_string();
    let mut n = 0;
    while columns.contains(&name) {
        n += 1;
        name = format!("{ROWID_COLUMN}_{n}");
    }
    name
}

/// Whether a column type is one of the SERIAL pseudo-types.
fn is_serial(ty: &ast::DataType) -> bool {
    let ast::DataType::Custom(name, mods) = ty else {
        return false;
    };
    let last = name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.to_lowercase());
    mods.is_empty()
        && matches!(
            last.as_deref(),
            Some("serial" | "serial2" | "serial4" | "serial8" | "smallserial" | "bigserial")
        )
}

/// Index key columns from `(col [ASC|DESC], ...)`: plain column names only.
pub(super) fn key_columns(cols: &[IndexColumn]) -> Result<KeyColumns> {
    cols.iter()
        .map(|c| {
            let name = match &c.column.expr {
                Expr::Identifier(id) => normalize_ident(id),
                other => {
                    return Err(Error::unsupported(format!(
                        "index on expression {other} is not supported"
                    )))
                }
            };
            if c.operator_class.is_some() {
                return Err(Error::unsupported(
                    "index operator classes are not supported",
                ));
            }
            let dir = match &c.column.options.sort {
                None | Some(OrderBySort::Asc) => Direction::Asc,
                Some(OrderBySort::Desc) => Direction::Desc,
                Some(OrderBySort::Using(_)) => {
                    return Err(Error::unsupported(
                        "USING in an index column is not supported",
                    ))
                }
            };
            // Keys sort NULLs last ascending and first descending (PostgreSQL's defaults);
            // the other placement is not encodable yet.
            match (dir, c.column.options.nulls_first) {
                (Direction::Asc, Some(true)) | (Direction::Desc, Some(false)) => Err(
                    Error::unsupported("non-default NULLS FIRST/LAST in an index is not supported"),
                ),
                _ => Ok((name, dir)),
            }
        })
        .collect()
}

/// The distinct column names an expression references, in first-use order.
fn referenced_columns(expr: &Expr) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let _ = ast::visit_expressions(expr, |e| {
        let name = match e {
            Expr::Identifier(id) => Some(normalize_ident(id)),
            Expr::CompoundIdentifier(parts) => parts.last().map(normalize_ident),
            _ => None,
        };
        if let Some(n) = name {
            if !out.contains(&n) {
                out.push(n);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

/// The SQL text of a DEFAULT or CHECK expression, checked to parse back (it is stored as
/// text and re-parsed by the planner at every INSERT).
fn expr_text(e: &Expr) -> Result<String> {
    let text = e.to_string();
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|err| Error::syntax(format!("invalid expression {text}: {err}")))?;
    Ok(text)
}
