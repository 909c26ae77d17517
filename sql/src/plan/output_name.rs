//! PostgreSQL's names for unaliased select-list columns (`?column?`, function names, `case`,
//! the cast type's internal name for `SELECT 1::int`).

use crate::plan::binder::ident_name;
use crate::types::DataType;
use sqlparser::ast;

/// PostgreSQL's output column name for an unaliased select item.
pub fn output_name(e: &ast::Expr) -> String {
    match e {
        ast::Expr::Identifier(id) => ident_name(id),
        ast::Expr::CompoundIdentifier(ids) => ids.last().map(ident_name).unwrap_or_default(),
        ast::Expr::Function(f) => f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(ident_name)
            .unwrap_or_default(),
        ast::Expr::Nested(x) => output_name(x),
        ast::Expr::Cast {
            expr, data_type, ..
        } => match output_name(expr).as_str() {
            "?column?" => DataType::from_sql(data_type)
                .map(|t| pg_short_name(&t))
                .unwrap_or_else(|_| "?column?".into()),
            n => n.to_string(),
        },
        ast::Expr::Case { .. } => "case".into(),
        ast::Expr::Exists { .. } => "exists".into(),
        ast::Expr::Subquery(q) => match &*q.body {
            ast::SetExpr::Select(s) => match s.projection.first() {
                Some(ast::SelectItem::UnnamedExpr(e)) => output_name(e),
                Some(ast::SelectItem::ExprWithAlias { alias, .. }) => ident_name(alias),
                _ => "?column?".into(),
            },
            _ => "?column?".into(),
        },
        ast::Expr::Ceil { .. } => "ceil".into(),
        ast::Expr::Floor { .. } => "floor".into(),
        ast::Expr::Substring { .. } => "substring".into(),
        ast::Expr::Trim { .. } => "btrim".into(),
        ast::Expr::Position { .. } => "position".into(),
        ast::Expr::Extract { .. } => "extract".into(),
        _ => "?column?".into(),
    }
}

/// The internal type name PostgreSQL uses for `SELECT 1::int` columns (int4, text, ...).
fn pg_short_name(t: &DataType) -> String {
    match t {
        DataType::Unknown => "?column?".to_string(),
        other => other.pg_typname().to_string(),
    }
}
