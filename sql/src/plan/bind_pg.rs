//! Binding PostgreSQL expression forms beyond the SQL core: arrays (`ARRAY[...]`,
//! `ARRAY(SELECT ...)`, `a[i]`, `x op ANY/ALL (array)`), `x = ANY (SELECT ...)`, regular
//! expression operators (`~`, `!~`, `~*`, `!~*`), `OPERATOR(schema.op)`, `COLLATE`, and
//! casts to the OID-valued types (`'t'::regclass`, `oid::regtype`).
//!
//! These are what PostgreSQL tools send to the catalog (psql's `\d` family, drivers' type
//! introspection), and what users write against arrays. The forms are bound to ordinary
//! [`Expr`] nodes so the optimizer and executor need no new cases: operations that have no
//! node of their own are `Expr::Func` calls with internal names starting with `#`, which a
//! user cannot spell, and which the executor evaluates in `exec::pgcompat`:
//!
//! - `#array(e1, e2, ...)`: the array constructor;
//! - `#subscript(a, i)`: `a[i]` (NULL when out of range, as in PostgreSQL);
//! - `#any:<op>(x, a)` / `#all:<op>(x, a)`: `x <op> ANY/ALL (a)` with SQL's NULL rules;
//! - `#regclass(text)`, `#regnamespace(text)`, `#regproc(text)`, `#regname:<type>(oid)`:
//!   name-to-OID and OID-to-name lookups that need the catalog.
//!
//! IMPLEMENTATION CAVEATS
//! - `x op ANY/ALL (SELECT ...)` is supported for `=` (as IN) and `<>` with ALL (as NOT IN);
//!   other operators with a subquery give 0A000.
//! - COLLATE accepts only the default collations (`default`, `C`, `POSIX`,
//!   `pg_catalog.default`, `ucs_basic`) and ignores them: Meridian compares strings by bytes.
//! - Array slices (`a[1:2]`) are not supported.

use crate::error::code;
use crate::plan::bind_expr::{coerce, coerce_unknown};
use crate::plan::binder::{Binder, Scope};
use crate::plan::expr::{Expr, SubqueryKind};
use crate::types::{self, BinaryOp, DataType, Datum};
use crate::{Error, Result};
use sqlparser::ast;

/// Maps an operator name (as in `OPERATOR(pg_catalog.~)`) to a binary operator.
pub fn op_from_name(name: &str) -> Option<BinaryOp> {
    use BinaryOp::*;
    Some(match name {
        "~" => RegexMatch,
        "~*" => RegexIMatch,
        "!~" => NotRegexMatch,
        "!~*" => NotRegexIMatch,
        "~~" => Like,
        "!~~" => NotLike,
        "~~*" => ILike,
        "!~~*" => NotILike,
        "=" => Eq,
        "<>" | "!=" => NotEq,
        "<" => Lt,
        "<=" => LtEq,
        ">" => Gt,
        ">=" => GtEq,
        "+" => Plus,
        "-" => Minus,
        "*" => Multiply,
        "/" => Divide,
        "%" => Modulo,
        "||" => Concat,
        "^" => Pow,
        _ => return None,
    })
}

/// The binary operator for a comparison token of ANY/ALL and the operators sqlparser has
/// dedicated variants for that the core binder does not map.
fn ast_op(op: &ast::BinaryOperator) -> Option<BinaryOp> {
    use ast::BinaryOperator as B;
    Some(match op {
        B::PGRegexMatch => BinaryOp::RegexMatch,
        B::PGRegexIMatch => BinaryOp::RegexIMatch,
        B::PGRegexNotMatch => BinaryOp::NotRegexMatch,
        B::PGRegexNotIMatch => BinaryOp::NotRegexIMatch,
        B::Eq => BinaryOp::Eq,
        B::NotEq => BinaryOp::NotEq,
        B::Lt => BinaryOp::Lt,
        B::LtEq => BinaryOp::LtEq,
        B::Gt => BinaryOp::Gt,
        B::GtEq => BinaryOp::GtEq,
        B::PGLikeMatch => BinaryOp::Like,
        B::PGNotLikeMatch => BinaryOp::NotLike,
        B::PGILikeMatch => BinaryOp::ILike,
        B::PGNotILikeMatch => BinaryOp::NotILike,
        B::PGCustomBinaryOperator(parts) => {
            let name = parts.last()?;
            if parts.len() > 1 && !parts[0].eq_ignore_ascii_case("pg_catalog") {
                return None;
            }
            op_from_name(name)?
        }
        _ => return None,
    })
}

fn strip_nested(e: &ast::Expr) -> &ast::Expr {
    match e {
        ast::Expr::Nested(x) => strip_nested(x),
        other => other,
    }
}

/// Whether `e` is syntactically a cast to regclass/regtype/regnamespace/regproc.
fn is_reg_cast(e: &ast::Expr) -> bool {
    match strip_nested(e) {
        ast::Expr::Cast { data_type, .. } => {
            DataType::from_sql(data_type).is_ok_and(|t| t.is_reg())
        }
        _ => false,
    }
}

/// The collations accepted (and ignored) by COLLATE.
const DEFAULT_COLLATIONS: &[&str] = &["default", "c", "posix", "ucs_basic"];

impl Binder<'_> {
    /// Binds the forms this module handles; None for every other expression.
    pub fn bind_pg_expr(
        &mut self,
        e: &ast::Expr,
        scope: &Scope,
        hint: Option<&DataType>,
    ) -> Option<Result<Expr>> {
        use ast::Expr as E;
        Some(match e {
            E::BinaryOp { left, op, right } => match op {
                ast::BinaryOperator::PGRegexMatch
                | ast::BinaryOperator::PGRegexIMatch
                | ast::BinaryOperator::PGRegexNotMatch
                | ast::BinaryOperator::PGRegexNotIMatch
                | ast::BinaryOperator::PGCustomBinaryOperator(_) => {
                    self.bind_pg_binary(left, op, right, scope)
                }
                _ => return None,
            },
            E::Array(arr) => self.bind_array_literal(&arr.elem, scope, hint),
            E::Function(f)
                if matches!(f.args, ast::FunctionArguments::Subquery(_))
                    && f.name.to_string().eq_ignore_ascii_case("array") =>
            {
                let ast::FunctionArguments::Subquery(q) = &f.args else {
                    return None;
                };
                self.bind_array_subquery(q, scope)
            }
            E::AnyOp {
                left,
                compare_op,
                right,
                ..
            } => self.bind_quantified(left, compare_op, right, true, scope),
            E::AllOp {
                left,
                compare_op,
                right,
            } => self.bind_quantified(left, compare_op, right, false, scope),
            E::Collate { expr, collation } => {
                let name = collation
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .map(|i| i.value.to_ascii_lowercase())
                    .unwrap_or_default();
                if !DEFAULT_COLLATIONS.contains(&name.as_str()) {
                    return Some(Err(Error::new(
                        code::UNDEFINED_OBJECT,
                        format!("collation \"{collation}\" for encoding \"UTF8\" does not exist"),
                    )));
                }
                self.bind_expr_hint(expr, scope, hint)
            }
            E::CompoundFieldAccess { root, access_chain } => {
                self.bind_subscripts(root, access_chain, scope)
            }
            E::Cast {
                expr, data_type, ..
            } => {
                let ty = match DataType::from_sql(data_type) {
                    Ok(t) => t,
                    Err(_) => return None,
                };
                if ty.is_string() && is_reg_cast(expr) {
                    return Some(self.bind_reg_to_text(expr, ty, scope));
                }
                if !ty.is_reg() {
                    return None;
                }
                self.bind_reg_cast(expr, ty, scope)
            }
            _ => return None,
        })
    }

    fn bind_pg_binary(
        &mut self,
        a: &ast::Expr,
        op: &ast::BinaryOperator,
        b: &ast::Expr,
        scope: &Scope,
    ) -> Result<Expr> {
        let Some(bop) = ast_op(op) else {
            return Err(Error::new(
                code::UNDEFINED_FUNCTION,
                format!("operator does not exist: {op}"),
            ));
        };
        let l = self.bind_expr(a, scope)?;
        let r = self.bind_expr_hint(b, scope, Some(&l.ty()))?;
        let l = if l.ty() == DataType::Unknown {
            let t = if r.ty() == DataType::Unknown {
                DataType::Text
            } else {
                r.ty()
            };
            coerce_unknown(l, &t)?
        } else {
            l
        };
        self.make_binary(bop, l, r)
    }

    fn bind_array_literal(
        &mut self,
        elems: &[ast::Expr],
        scope: &Scope,
        hint: Option<&DataType>,
    ) -> Result<Expr> {
        let elem_hint = hint.and_then(|h| h.array_elem()).cloned();
        let mut bound = Vec::with_capacity(elems.len());
        for e in elems {
            bound.push(self.bind_expr_hint(e, scope, elem_hint.as_ref())?);
        }
        let mut ty = crate::plan::bind_expr::common_of(bound.iter().map(|e| e.ty()))?;
        if bound.iter().all(|e| e.ty() == DataType::Unknown) {
            ty = elem_hint.unwrap_or(DataType::Text);
        }
        if matches!(ty, DataType::Array(_)) {
            return Err(Error::unsupported(
                "multidimensional arrays are not supported",
            ));
        }
        let args = bound
            .into_iter()
            .map(|e| coerce(e, &ty))
            .collect::<Result<Vec<_>>>()?;
        Ok(Expr::Func {
            name: "#array".into(),
            args,
            ty: DataType::Array(Box::new(ty)),
        })
    }

    fn bind_array_subquery(&mut self, q: &ast::Query, scope: &Scope) -> Result<Expr> {
        let sq = self.bind_subquery_expr(q, SubqueryKind::Array, scope)?;
        let elem = sq.plan.types().first().cloned().unwrap_or(DataType::Text);
        let elem = if elem == DataType::Unknown {
            DataType::Text
        } else {
            elem
        };
        Ok(Expr::Subquery(
            Box::new(sq),
            DataType::Array(Box::new(elem)),
        ))
    }

    fn bind_quantified(
        &mut self,
        left: &ast::Expr,
        op: &ast::BinaryOperator,
        right: &ast::Expr,
        any: bool,
        scope: &Scope,
    ) -> Result<Expr> {
        let Some(bop) = ast_op(op) else {
            return Err(Error::new(
                code::UNDEFINED_FUNCTION,
                format!("operator does not exist: {op}"),
            ));
        };
        let right = strip_nested(right);
        if let ast::Expr::Subquery(q) = right {
            return self.bind_quantified_subquery(left, bop, q, any, scope);
        }
        let l = self.bind_expr(left, scope)?;
        let hint = match l.ty() {
            DataType::Unknown => None,
            t => Some(DataType::Array(Box::new(t))),
        };
        let r = self.bind_expr_hint(right, scope, hint.as_ref())?;
        let r = match r.ty() {
            DataType::Unknown => {
                let t = hint.unwrap_or(DataType::Array(Box::new(DataType::Text)));
                coerce_unknown(r, &t)?
            }
            _ => r,
        };
        let Some(elem) = r.ty().array_elem().cloned() else {
            return Err(Error::new(
                code::DATATYPE_MISMATCH,
                format!(
                    "op ANY/ALL (array) requires array on right side, not {}",
                    r.ty().pg_name()
                ),
            ));
        };
        let l = coerce_unknown(l, &elem)?;
        // Type check the element comparison as a plain binary operation would.
        types::binary_op_type(bop, &l.ty(), &elem)?;
        let name = format!("#{}:{}", if any { "any" } else { "all" }, bop.symbol());
        Ok(Expr::Func {
            name,
            args: vec![l, r],
            ty: DataType::Bool,
        })
    }

    fn bind_quantified_subquery(
        &mut self,
        left: &ast::Expr,
        op: BinaryOp,
        q: &ast::Query,
        any: bool,
        scope: &Scope,
    ) -> Result<Expr> {
        let negated = match (op, any) {
            (BinaryOp::Eq, true) => false,
            (BinaryOp::NotEq, false) => true,
            _ => {
                return Err(Error::unsupported(format!(
                    "{} {} (subquery) is not supported",
                    op.symbol(),
                    if any { "ANY" } else { "ALL" }
                )))
            }
        };
        let in_expr = ast::Expr::In {
            expr: Box::new(left.clone()),
            target: ast::InTarget::Subquery(Box::new(q.clone())),
            negated,
            global: false,
        };
        self.bind_expr(&in_expr, scope)
    }

    fn bind_subscripts(
        &mut self,
        root: &ast::Expr,
        chain: &[ast::AccessExpr],
        scope: &Scope,
    ) -> Result<Expr> {
        let mut cur = self.bind_expr(root, scope)?;
        for access in chain {
            let ast::AccessExpr::Subscript(ast::Subscript::Index { index }) = access else {
                return Err(Error::unsupported(format!(
                    "unsupported field access or array slice: {access}"
                )));
            };
            let Some(elem) = cur.ty().array_elem().cloned() else {
                return Err(Error::new(
                    code::DATATYPE_MISMATCH,
                    format!(
                        "cannot subscript type {} because it is not an array",
                        cur.ty().pg_name()
                    ),
                ));
            };
            let i = self.bind_expr_hint(index, scope, Some(&DataType::Int4))?;
            let i = coerce(coerce_unknown(i, &DataType::Int4)?, &DataType::Int8)?;
            cur = Expr::Func {
                name: "#subscript".into(),
                args: vec![cur, i],
                ty: elem,
            };
        }
        Ok(cur)
    }

    /// `x::regclass::text`: the object's name, looked up when evaluated.
    fn bind_reg_to_text(&mut self, x: &ast::Expr, ty: DataType, scope: &Scope) -> Result<Expr> {
        let inner = self.bind_expr(x, scope)?;
        let named = Expr::Func {
            name: "#regname".into(),
            args: vec![inner],
            ty: DataType::Text,
        };
        crate::plan::bind_expr::cast_expr(named, &ty, true)
    }

    fn bind_reg_cast(&mut self, x: &ast::Expr, ty: DataType, scope: &Scope) -> Result<Expr> {
        let inner = self.bind_expr_hint(x, scope, Some(&DataType::Text))?;
        let it = inner.ty();
        if it.is_integer() || it.is_reg() {
            return crate::plan::bind_expr::cast_expr(inner, &ty, true);
        }
        if !(it.is_string() || it == DataType::Unknown) {
            return Err(Error::new(
                code::CANNOT_COERCE,
                format!("cannot cast type {} to {}", it.pg_name(), ty.pg_name()),
            ));
        }
        let inner = coerce_unknown(inner, &DataType::Text)?;
        if ty == DataType::RegType {
            // Type names resolve without the catalog.
            if let Expr::Literal(Datum::Text(s), _) = &inner {
                return Ok(Expr::Literal(Datum::from_pg_text(s, &ty)?, ty));
            }
        }
        let name = format!("#{}", ty.pg_base_name());
        Ok(Expr::Func {
            name,
            args: vec![inner],
            ty,
        })
    }

    /// `unnest(array) [AS alias]` in FROM: one column named after the alias (or `unnest`).
    pub fn bind_unnest(
        &mut self,
        args: &[ast::FunctionArg],
        alias: Option<&ast::TableAlias>,
    ) -> Result<(crate::plan::Plan, Scope)> {
        let [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e))] = args else {
            return Err(Error::unsupported(
                "unnest takes exactly one array argument here",
            ));
        };
        let arg = self.bind_expr(e, &Scope::default())?;
        let arg = match arg.ty() {
            DataType::Unknown => coerce_unknown(arg, &DataType::Array(Box::new(DataType::Text)))?,
            _ => arg,
        };
        let Some(ty) = arg.ty().array_elem().cloned() else {
            return Err(Error::new(
                code::UNDEFINED_FUNCTION,
                format!("function unnest({}) does not exist", arg.ty().pg_name()),
            ));
        };
        let table = alias
            .map(|a| crate::plan::binder::ident_name(&a.name))
            .unwrap_or_else(|| "unnest".to_string());
        let col = self.new_col(Some(&table), "unnest");
        let scope = Scope {
            cols: vec![crate::plan::binder::ScopeCol {
                name: table.clone(),
                table: Some(table),
                id: col,
                ty: ty.clone(),
                hidden: false,
                using_dup: false,
            }],
        };
        Ok((crate::plan::Plan::Unnest { arg, col, ty }, scope))
    }
}
