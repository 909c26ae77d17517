//! PostgreSQL's names for unaliased select-list columns (`?column?`, function names, `case`,
//! the cast type's internal name for `SELECT 1::int`).

use crate::plan::binder::ident_name;
use crate::types::DataType;
use sqlparser::ast;

/// PostgreSQL's output column name for an unaliased select item.
pub fn output_name(e: &ast::Expr) -> String {
    figure_colname(e).0
}

/// PostgreSQL's `FigureColnameInternal`: the name and its strength (0 = `?column?`, 1 = a cast's
/// type name, 2 = a column or function name). A cast only names its column when its operand has
/// no stronger name, so `'x'::date::text` is `text` but `a::text` is `a`.
fn figure_colname(e: &ast::Expr) -> (String, u8) {
    let strong = |n: String| (n, 2);
    match e {
        ast::Expr::Identifier(id) => strong(ident_name(id)),
        ast::Expr::CompoundIdentifier(ids) => {
            strong(ids.last().map(ident_name).unwrap_or_default())
        }
        ast::Expr::Function(f) => strong(
            f.name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(ident_name)
                .unwrap_or_default(),
        ),
        ast::Expr::Nested(x) => figure_colname(x),
        ast::Expr::Cast {
            expr, data_type, ..
        } => match figure_colname(expr) {
            (_, 0 | 1) => type_colname(data_type),
            named => named,
        },
        ast::Expr::TypedString(ts) => type_colname(&ts.data_type),
        ast::Expr::Interval(_) => ("interval".into(), 1),
        ast::Expr::Case { .. } => strong("case".into()),
        ast::Expr::Array(_) => strong("array".into()),
        ast::Expr::CompoundFieldAccess { root, .. } => figure_colname(root),
        ast::Expr::Exists { .. } => strong("exists".into()),
        ast::Expr::Subquery(q) => match &*q.body {
            ast::SetExpr::Select(s) => match s.projection.first() {
                Some(ast::SelectItem::UnnamedExpr(e)) => figure_colname(e),
                Some(ast::SelectItem::ExprWithAlias { alias, .. }) => strong(ident_name(alias)),
                _ => ("?column?".into(), 0),
            },
            _ => ("?column?".into(), 0),
        },
        ast::Expr::Ceil { .. } => strong("ceil".into()),
        ast::Expr::Floor { .. } => strong("floor".into()),
        ast::Expr::Substring { shorthand, .. } => {
            strong(if *shorthand { "substr" } else { "substring" }.into())
        }
        ast::Expr::Trim { .. } => strong("btrim".into()),
        ast::Expr::Position { .. } => strong("position".into()),
        ast::Expr::Extract { .. } => strong("extract".into()),
        _ => ("?column?".into(), 0),
    }
}

/// A cast's column name: the target type's internal name, strength 1.
fn type_colname(data_type: &ast::DataType) -> (String, u8) {
    match DataType::from_sql(data_type).map(|t| pg_short_name(&t)) {
        Ok(n) if n != "?column?" => (n, 1),
        _ => ("?column?".into(), 0),
    }
}

/// The internal type name PostgreSQL uses for `SELECT 1::int` columns (int4, text, ...).
fn pg_short_name(t: &DataType) -> String {
    match t {
        DataType::Unknown => "?column?".to_string(),
        other => other.pg_typname().to_string(),
    }
}
