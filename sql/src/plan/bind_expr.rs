//! Binding scalar expressions: names to column ids, literals to typed datums, operators and
//! functions to their result types, with PostgreSQL's resolution of untyped literals and
//! parameters from context (`a = '5'` reads '5' as a's type; `a = $1` gives $1 a's type).

use crate::error::code;
use crate::plan::binder::{ident_name, Binder, Scope};
use crate::plan::expr::{Expr, Subquery, SubqueryKind};
use crate::types::{self, BinaryOp, DataType, Datum, UnaryOp};
use crate::{Error, Result};
use sqlparser::ast;
use std::sync::Arc;

impl Binder<'_> {
    /// Binds `e` in `scope`.
    pub fn bind_expr(&mut self, e: &ast::Expr, scope: &Scope) -> Result<Expr> {
        self.bind_expr_hint(e, scope, None)
    }

    /// Binds `e` in `scope`; `hint` is the type context expects (types `$n` and NULL).
    pub fn bind_expr_hint(
        &mut self,
        e: &ast::Expr,
        scope: &Scope,
        hint: Option<&DataType>,
    ) -> Result<Expr> {
        use ast::Expr as E;
        if let Some(r) = self.bind_pg_expr(e, scope, hint) {
            return r; // arrays, ANY/ALL, regex operators, COLLATE, reg* casts: bind_pg.rs
        }
        match e {
            E::Identifier(id) => self.resolve_column(scope, None, &ident_name(id)),
            E::CompoundIdentifier(ids) => {
                let n = ids.len();
                if n < 2 {
                    return Err(Error::syntax(format!("invalid column reference {e}")));
                }
                let table = ident_name(&ids[n - 2]);
                self.resolve_column(scope, Some(&table), &ident_name(&ids[n - 1]))
            }
            E::Value(v) => self.bind_value(&v.value, hint),
            E::TypedString(ts) => {
                let ty = DataType::from_sql(&ts.data_type)?;
                let s = ts.value.clone().into_string().unwrap_or_default();
                Ok(Expr::Literal(Datum::from_pg_text(&s, &ty)?, ty))
            }
            E::Nested(inner) => self.bind_expr_hint(inner, scope, hint),
            E::BinaryOp { left, op, right } => self.bind_binary(left, op, right, scope),
            E::UnaryOp { op, expr } => self.bind_unary(op, expr, scope, hint),
            E::IsNull(x) | E::IsNotNull(x) => {
                let expr = Box::new(self.bind_expr(x, scope)?);
                Ok(Expr::IsNull {
                    expr,
                    negated: matches!(e, E::IsNotNull(_)),
                })
            }
            E::IsTrue(x) | E::IsNotTrue(x) | E::IsFalse(x) | E::IsNotFalse(x) => {
                let expr = Box::new(coerce(
                    self.bind_expr_hint(x, scope, Some(&DataType::Bool))?,
                    &DataType::Bool,
                )?);
                let value = matches!(e, E::IsTrue(_) | E::IsNotTrue(_));
                let negated = matches!(e, E::IsNotTrue(_) | E::IsNotFalse(_));
                Ok(Expr::IsBool {
                    expr,
                    value,
                    negated,
                })
            }
            E::IsUnknown(x) | E::IsNotUnknown(x) => {
                let expr = Box::new(coerce(self.bind_expr(x, scope)?, &DataType::Bool)?);
                Ok(Expr::IsNull {
                    expr,
                    negated: matches!(e, E::IsNotUnknown(_)),
                })
            }
            E::IsDistinctFrom(a, b) | E::IsNotDistinctFrom(a, b) => {
                let (l, r) = self.bind_pair(a, b, scope)?;
                let (l, r) = unify(l, r)?;
                Ok(Expr::IsDistinct {
                    left: Box::new(l),
                    right: Box::new(r),
                    negated: matches!(e, E::IsNotDistinctFrom(..)),
                })
            }
            E::In {
                expr,
                target,
                negated,
                ..
            } => match target {
                ast::InTarget::List(list) => self.bind_in_list(expr, list, *negated, scope),
                ast::InTarget::Subquery(q) => self.bind_in_subquery(expr, q, *negated, scope),
                _ => Err(Error::unsupported(format!("unsupported IN form: {e}"))),
            },
            E::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let x = self.bind_expr(expr, scope)?;
                let lo = self.bind_expr_hint(low, scope, Some(&x.ty()))?;
                let hi = self.bind_expr_hint(high, scope, Some(&x.ty()))?;
                let ge = self.make_binary(BinaryOp::GtEq, x.clone(), lo)?;
                let le = self.make_binary(BinaryOp::LtEq, x, hi)?;
                let both = Expr::and(ge, le);
                if *negated {
                    Ok(Expr::Unary {
                        op: UnaryOp::Not,
                        expr: Box::new(both),
                        ty: DataType::Bool,
                    })
                } else {
                    Ok(both)
                }
            }
            E::Like {
                negated,
                expr,
                pattern,
                escape_char,
                any: false,
            }
            | E::ILike {
                negated,
                expr,
                pattern,
                escape_char,
                any: false,
            } => {
                if escape_char.is_some() {
                    return Err(Error::unsupported("LIKE ... ESCAPE is not supported"));
                }
                let ilike = matches!(e, E::ILike { .. });
                let op = match (ilike, negated) {
                    (false, false) => BinaryOp::Like,
                    (false, true) => BinaryOp::NotLike,
                    (true, false) => BinaryOp::ILike,
                    (true, true) => BinaryOp::NotILike,
                };
                let l = self.bind_expr_hint(expr, scope, Some(&DataType::Text))?;
                let r = self.bind_expr_hint(pattern, scope, Some(&DataType::Text))?;
                self.make_binary(op, l, r)
            }
            E::Cast {
                expr, data_type, ..
            } => {
                let ty = DataType::from_sql(data_type)?;
                let inner = self.bind_expr_hint(expr, scope, Some(&ty))?;
                cast_expr(inner, &ty, true)
            }
            E::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.bind_case(operand, conditions, else_result, scope, hint),
            E::Function(f) => self.bind_function(f, scope, hint),
            E::Exists { subquery, negated } => {
                let sq = self.bind_subquery_expr(subquery, SubqueryKind::Exists, scope)?;
                let ex = Expr::Subquery(Box::new(sq), DataType::Bool);
                if *negated {
                    Ok(Expr::Unary {
                        op: UnaryOp::Not,
                        expr: Box::new(ex),
                        ty: DataType::Bool,
                    })
                } else {
                    Ok(ex)
                }
            }
            E::Subquery(q) => {
                let sq = self.bind_subquery_expr(q, SubqueryKind::Scalar, scope)?;
                let ty = sq.plan.types().first().cloned().unwrap_or(DataType::Text);
                Ok(Expr::Subquery(Box::new(sq), ty))
            }
            E::Ceil { expr, .. } => self.call_function("ceil", &[expr], scope),
            E::Floor { expr, .. } => self.call_function("floor", &[expr], scope),
            E::Position { expr, r#in } => self.call_function("strpos", &[r#in, expr], scope),
            E::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args: Vec<&ast::Expr> = vec![expr];
                match (substring_from, substring_for) {
                    (Some(f), Some(n)) => {
                        args.push(f);
                        args.push(n);
                    }
                    (Some(f), None) => args.push(f),
                    (None, Some(n)) => {
                        let one = Expr::Literal(Datum::Int(1), DataType::Int4);
                        let s = self.bind_expr_hint(expr, scope, Some(&DataType::Text))?;
                        let n = self.bind_expr_hint(n, scope, Some(&DataType::Int4))?;
                        return self.make_function("substr", vec![s, one, n]);
                    }
                    (None, None) => {}
                }
                self.call_function("substr", &args, scope)
            }
            E::Trim {
                expr,
                trim_where,
                trim_what,
                ..
            } => {
                let name = match trim_where {
                    Some(ast::TrimWhereField::Leading) => "ltrim",
                    Some(ast::TrimWhereField::Trailing) => "rtrim",
                    _ => "btrim",
                };
                match trim_what {
                    Some(w) => self.call_function(name, &[expr, w], scope),
                    None => self.call_function(name, &[expr], scope),
                }
            }
            E::Extract { field, expr, .. } => {
                let f = Expr::Literal(
                    Datum::Text(field.to_string().to_lowercase()),
                    DataType::Text,
                );
                let x = self.bind_expr(expr, scope)?;
                self.make_function("date_part", vec![f, x])
            }
            E::Interval(iv) => {
                let text = match &*iv.value {
                    ast::Expr::Value(v) => v
                        .value
                        .clone()
                        .into_string()
                        .unwrap_or_else(|| v.value.to_string()),
                    other => {
                        return Err(Error::unsupported(format!(
                            "unsupported INTERVAL expression {other}"
                        )))
                    }
                };
                let text = match &iv.leading_field {
                    Some(f) if iv.last_field.is_none() => format!("{text} {f}"),
                    _ => text,
                };
                Ok(Expr::Literal(
                    Datum::from_pg_text(&text, &DataType::Interval)?,
                    DataType::Interval,
                ))
            }
            E::AtTimeZone {
                timestamp,
                time_zone,
            } => self.call_function("timezone", &[time_zone, timestamp], scope),
            E::Tuple(_) => Err(Error::unsupported("row values are not supported")),
            E::AnyOp { .. } | E::AllOp { .. } => {
                Err(Error::unsupported("ANY/ALL comparisons are not supported"))
            }
            other => Err(Error::unsupported(format!(
                "unsupported expression: {other}"
            ))),
        }
    }

    fn bind_value(&mut self, v: &ast::Value, hint: Option<&DataType>) -> Result<Expr> {
        use ast::Value as V;
        Ok(match v {
            V::Number(s, _) => number_literal(s)?,
            V::SingleQuotedString(s)
            | V::EscapedStringLiteral(s)
            | V::UnicodeStringLiteral(s)
            | V::NationalStringLiteral(s) => {
                Expr::Literal(Datum::Text(s.clone()), DataType::Unknown)
            }
            V::DollarQuotedString(d) => {
                Expr::Literal(Datum::Text(d.value.clone()), DataType::Unknown)
            }
            V::HexStringLiteral(h) => Expr::Literal(Datum::Text(h.clone()), DataType::Unknown),
            V::Boolean(b) => Expr::bool(*b),
            V::Null => Expr::Literal(Datum::Null, DataType::Unknown),
            V::Placeholder(p) => {
                let n: usize = p
                    .trim_start_matches('$')
                    .parse()
                    .map_err(|_| Error::syntax(format!("invalid parameter placeholder {p}")))?;
                let ty = self.param_type(n, hint)?;
                Expr::Param(n - 1, ty)
            }
            other => return Err(Error::unsupported(format!("unsupported literal {other}"))),
        })
    }

    fn bind_pair(&mut self, a: &ast::Expr, b: &ast::Expr, scope: &Scope) -> Result<(Expr, Expr)> {
        // Bind the side that carries a type first, so a bare `$n` or NULL takes its type.
        if is_untyped(a) && !is_untyped(b) {
            let r = self.bind_expr(b, scope)?;
            let l = self.bind_expr_hint(a, scope, Some(&r.ty()))?;
            Ok((l, r))
        } else {
            let l = self.bind_expr(a, scope)?;
            let r = self.bind_expr_hint(b, scope, Some(&l.ty()))?;
            Ok((l, r))
        }
    }

    fn bind_binary(
        &mut self,
        a: &ast::Expr,
        op: &ast::BinaryOperator,
        b: &ast::Expr,
        scope: &Scope,
    ) -> Result<Expr> {
        use ast::BinaryOperator as B;
        let op = match op {
            B::Plus => BinaryOp::Plus,
            B::Minus => BinaryOp::Minus,
            B::Multiply => BinaryOp::Multiply,
            B::Divide => BinaryOp::Divide,
            B::Modulo => BinaryOp::Modulo,
            B::StringConcat => BinaryOp::Concat,
            B::Gt => BinaryOp::Gt,
            B::Lt => BinaryOp::Lt,
            B::GtEq => BinaryOp::GtEq,
            B::LtEq => BinaryOp::LtEq,
            B::Eq => BinaryOp::Eq,
            B::NotEq => BinaryOp::NotEq,
            B::And => BinaryOp::And,
            B::Or => BinaryOp::Or,
            B::BitwiseOr => BinaryOp::BitOr,
            B::BitwiseAnd => BinaryOp::BitAnd,
            B::PGBitwiseXor | B::BitwiseXor => BinaryOp::BitXor,
            B::PGBitwiseShiftLeft => BinaryOp::ShiftLeft,
            B::PGBitwiseShiftRight => BinaryOp::ShiftRight,
            B::PGExp => BinaryOp::Pow,
            B::PGLikeMatch => BinaryOp::Like,
            B::PGNotLikeMatch => BinaryOp::NotLike,
            B::PGILikeMatch => BinaryOp::ILike,
            B::PGNotILikeMatch => BinaryOp::NotILike,
            B::Arrow => BinaryOp::JsonGet,
            B::LongArrow => BinaryOp::JsonGetText,
            other => {
                return Err(Error::new(
                    code::UNDEFINED_FUNCTION,
                    format!("operator does not exist: {other}"),
                ))
            }
        };
        if matches!(op, BinaryOp::And | BinaryOp::Or) {
            let l = self.bind_expr_hint(a, scope, Some(&DataType::Bool))?;
            let r = self.bind_expr_hint(b, scope, Some(&DataType::Bool))?;
            return self.make_binary(op, l, r);
        }
        let (l, r) = self.bind_pair(a, b, scope)?;
        self.make_binary(op, l, r)
    }

    /// Types a binary operation, resolving untyped literals against the other side.
    pub fn make_binary(&mut self, op: BinaryOp, l: Expr, r: Expr) -> Result<Expr> {
        let (l, r) = match op {
            BinaryOp::And | BinaryOp::Or => {
                (coerce(l, &DataType::Bool)?, coerce(r, &DataType::Bool)?)
            }
            BinaryOp::Concat
            | BinaryOp::Like
            | BinaryOp::NotLike
            | BinaryOp::ILike
            | BinaryOp::NotILike => (
                coerce_unknown(l, &DataType::Text)?,
                coerce_unknown(r, &DataType::Text)?,
            ),
            BinaryOp::JsonGet | BinaryOp::JsonGetText => {
                let r = if r.ty() == DataType::Unknown {
                    coerce_unknown(r, &DataType::Text)?
                } else {
                    r
                };
                (coerce_unknown(l, &DataType::Jsonb)?, r)
            }
            _ => unify_unknown(l, r)?,
        };
        let ty = types::binary_op_type(op, &l.ty(), &r.ty())?;
        Ok(Expr::Binary {
            op,
            left: Box::new(l),
            right: Box::new(r),
            ty,
        })
    }

    fn bind_unary(
        &mut self,
        op: &ast::UnaryOperator,
        x: &ast::Expr,
        scope: &Scope,
        hint: Option<&DataType>,
    ) -> Result<Expr> {
        use ast::UnaryOperator as U;
        let op = match op {
            U::Not => UnaryOp::Not,
            U::Minus => UnaryOp::Minus,
            U::Plus => UnaryOp::Plus,
            U::BitwiseNot => UnaryOp::BitNot,
            other => {
                return Err(Error::new(
                    code::UNDEFINED_FUNCTION,
                    format!("operator does not exist: {other}"),
                ))
            }
        };
        // Fold `-<number>` so i64::MIN and negative constants are literals (index spans).
        if op == UnaryOp::Minus {
            if let ast::Expr::Value(v) = x {
                if let ast::Value::Number(s, _) = &v.value {
                    return number_literal(&format!("-{s}"));
                }
            }
        }
        let inner_hint = if op == UnaryOp::Not {
            Some(&DataType::Bool)
        } else {
            hint
        };
        let e = self.bind_expr_hint(x, scope, inner_hint)?;
        let e = if op == UnaryOp::Not {
            coerce(e, &DataType::Bool)?
        } else {
            coerce_unknown(e, &DataType::Float8)?
        };
        let ty = types::unary_op_type(op, &e.ty())?;
        Ok(Expr::Unary {
            op,
            expr: Box::new(e),
            ty,
        })
    }

    fn bind_in_list(
        &mut self,
        x: &ast::Expr,
        list: &[ast::Expr],
        negated: bool,
        scope: &Scope,
    ) -> Result<Expr> {
        let x = self.bind_expr(x, scope)?;
        let mut items = Vec::with_capacity(list.len());
        let mut ty = x.ty();
        for item in list {
            let e = self.bind_expr_hint(item, scope, Some(&x.ty()))?;
            if e.ty() != DataType::Unknown {
                ty = if ty == DataType::Unknown {
                    e.ty()
                } else {
                    types::common_type(&ty, &e.ty())?
                };
            }
            items.push(e);
        }
        if ty == DataType::Unknown {
            ty = DataType::Text;
        }
        let x = coerce_unknown(x, &ty)?;
        let items = items
            .into_iter()
            .map(|e| coerce_unknown(e, &ty))
            .collect::<Result<Vec<_>>>()?;
        Ok(Expr::InList {
            expr: Box::new(x),
            list: items,
            negated,
        })
    }

    fn bind_in_subquery(
        &mut self,
        x: &ast::Expr,
        q: &ast::Query,
        negated: bool,
        scope: &Scope,
    ) -> Result<Expr> {
        let lhs = self.bind_expr(x, scope)?;
        let sq = self.bind_subquery_expr(q, SubqueryKind::Scalar, scope)?;
        let sub_ty = sq.plan.types().first().cloned().unwrap_or(DataType::Text);
        let lhs = coerce_unknown(lhs, &sub_ty)?;
        if lhs.ty() != DataType::Unknown && sub_ty != DataType::Unknown {
            types::common_type(&lhs.ty(), &sub_ty)?;
        }
        let sq = Subquery {
            kind: SubqueryKind::In {
                lhs: Box::new(lhs),
                negated,
            },
            ..sq
        };
        Ok(Expr::Subquery(Box::new(sq), DataType::Bool))
    }

    /// Binds a subquery used in an expression.
    pub fn bind_subquery_expr(
        &mut self,
        q: &ast::Query,
        kind: SubqueryKind,
        scope: &Scope,
    ) -> Result<Subquery> {
        let ((plan, _names), correlated) = self.with_subquery(scope, |b| b.bind_query(q))?;
        if kind != SubqueryKind::Exists && plan.layout().len() != 1 {
            return Err(Error::syntax("subquery must return only one column"));
        }
        Ok(Subquery {
            plan: Arc::new(plan),
            kind,
            correlated,
            outer_layout: None,
        })
    }

    fn bind_case(
        &mut self,
        operand: &Option<Box<ast::Expr>>,
        conditions: &[ast::CaseWhen],
        else_result: &Option<Box<ast::Expr>>,
        scope: &Scope,
        hint: Option<&DataType>,
    ) -> Result<Expr> {
        let operand = match operand {
            Some(o) => Some(self.bind_expr(o, scope)?),
            None => None,
        };
        let mut whens = Vec::with_capacity(conditions.len());
        for cw in conditions {
            let c = match &operand {
                Some(o) => coerce_unknown(
                    self.bind_expr_hint(&cw.condition, scope, Some(&o.ty()))?,
                    &o.ty(),
                )?,
                None => coerce(
                    self.bind_expr_hint(&cw.condition, scope, Some(&DataType::Bool))?,
                    &DataType::Bool,
                )?,
            };
            let r = self.bind_expr_hint(&cw.result, scope, hint)?;
            whens.push((c, r));
        }
        let else_ = match else_result {
            Some(e) => Some(self.bind_expr_hint(e, scope, hint)?),
            None => None,
        };
        let mut results: Vec<&Expr> = whens.iter().map(|(_, r)| r).collect();
        results.extend(else_.iter());
        let ty = common_of(results.iter().map(|e| e.ty()))?;
        let whens = whens
            .into_iter()
            .map(|(c, r)| Ok((c, coerce(r, &ty)?)))
            .collect::<Result<Vec<_>>>()?;
        let else_ = match else_ {
            Some(e) => Some(Box::new(coerce(e, &ty)?)),
            None => None,
        };
        let operand = match operand {
            Some(o) => {
                let t = if o.ty() == DataType::Unknown {
                    DataType::Text
                } else {
                    o.ty()
                };
                Some(Box::new(coerce_unknown(o, &t)?))
            }
            None => None,
        };
        Ok(Expr::Case {
            operand,
            whens,
            else_,
            ty,
        })
    }
}

/// Whether an AST expression has no type of its own (a parameter or NULL).
fn is_untyped(e: &ast::Expr) -> bool {
    match e {
        ast::Expr::Value(v) => matches!(
            v.value,
            ast::Value::Placeholder(_) | ast::Value::Null | ast::Value::SingleQuotedString(_)
        ),
        ast::Expr::Nested(x) => is_untyped(x),
        _ => false,
    }
}

/// An integer literal is int4 when it fits, else int8, else numeric; others are numeric.
pub fn number_literal(s: &str) -> Result<Expr> {
    if !s.contains(['.', 'e', 'E']) {
        if let Ok(v) = s.parse::<i64>() {
            let ty = if i32::try_from(v).is_ok() {
                DataType::Int4
            } else {
                DataType::Int8
            };
            return Ok(Expr::Literal(Datum::Int(v), ty));
        }
    }
    let d = Datum::from_pg_text(s, &DataType::Numeric(None))?;
    Ok(Expr::Literal(d, DataType::Numeric(None)))
}

/// Converts an untyped literal (string or NULL) to `ty`; other expressions unchanged.
pub fn coerce_unknown(e: Expr, ty: &DataType) -> Result<Expr> {
    match e {
        Expr::Literal(d, DataType::Unknown) => {
            let ty = if *ty == DataType::Unknown {
                DataType::Text
            } else {
                ty.clone()
            };
            let d = match d {
                Datum::Text(s) => Datum::from_pg_text(&s, &ty)?,
                other => other,
            };
            Ok(Expr::Literal(d, ty))
        }
        other => Ok(other),
    }
}

/// Converts `e` to `ty`: untyped literals are read as `ty`, other types get an implicit cast.
pub fn coerce(e: Expr, ty: &DataType) -> Result<Expr> {
    let et = e.ty();
    if et == *ty || *ty == DataType::Unknown {
        return Ok(e);
    }
    if et == DataType::Unknown {
        return coerce_unknown(e, ty);
    }
    if !types::can_cast_implicit(&et, ty) {
        return Err(Error::new(
            code::DATATYPE_MISMATCH,
            format!(
                "argument of type {} cannot be used as type {}",
                et.pg_name(),
                ty.pg_name()
            ),
        ));
    }
    cast_expr(e, ty, false)
}

/// A cast node (folding casts of constants at bind time).
pub fn cast_expr(e: Expr, ty: &DataType, explicit: bool) -> Result<Expr> {
    match e {
        // An explicit cast of a literal to VARCHAR(n)/CHAR(n) truncates ('abcd'::varchar(2)).
        Expr::Literal(Datum::Text(s), DataType::Unknown)
            if explicit && matches!(ty, DataType::Varchar(Some(_)) | DataType::Char(_)) =>
        {
            Ok(Expr::Literal(
                types::cast(Datum::Text(s), &DataType::Text, ty, true)?,
                ty.clone(),
            ))
        }
        Expr::Literal(Datum::Text(s), DataType::Unknown) => {
            Ok(Expr::Literal(Datum::from_pg_text(&s, ty)?, ty.clone()))
        }
        Expr::Literal(Datum::Null, _) => Ok(Expr::Literal(Datum::Null, ty.clone())),
        Expr::Literal(d, from) => Ok(Expr::Literal(
            types::cast(d, &from, ty, explicit)?,
            ty.clone(),
        )),
        Expr::Param(i, _) if !explicit => Ok(Expr::Param(i, ty.clone())),
        other if other.ty() == *ty => Ok(other),
        other => Ok(Expr::Cast {
            expr: Box::new(other),
            ty: ty.clone(),
            explicit,
        }),
    }
}

/// Resolves untyped literals on either side of a comparison/arithmetic against the other.
fn unify_unknown(l: Expr, r: Expr) -> Result<(Expr, Expr)> {
    match (l.ty() == DataType::Unknown, r.ty() == DataType::Unknown) {
        (true, true) => Ok((
            coerce_unknown(l, &DataType::Text)?,
            coerce_unknown(r, &DataType::Text)?,
        )),
        (true, false) => {
            let t = r.ty();
            Ok((coerce_unknown(l, &t)?, r))
        }
        (false, true) => {
            let t = l.ty();
            Ok((l, coerce_unknown(r, &t)?))
        }
        (false, false) => Ok((l, r)),
    }
}

/// Brings two expressions to a common type (IS DISTINCT FROM, set operations).
pub fn unify(l: Expr, r: Expr) -> Result<(Expr, Expr)> {
    let (l, r) = unify_unknown(l, r)?;
    let t = types::common_type(&l.ty(), &r.ty())?;
    Ok((coerce(l, &t)?, coerce(r, &t)?))
}

/// The common type of several expression types, ignoring untyped NULLs (text if all are).
pub fn common_of(tys: impl Iterator<Item = DataType>) -> Result<DataType> {
    let mut acc: Option<DataType> = None;
    for t in tys {
        if t == DataType::Unknown {
            continue;
        }
        acc = Some(match acc {
            None => t,
            Some(a) if a == t => a,
            Some(a) => types::common_type(&a, &t)?,
        });
    }
    Ok(acc.unwrap_or(DataType::Text))
}
