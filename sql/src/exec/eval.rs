//! Evaluating compiled expressions on a row, with SQL's three-valued logic.
//!
//! Operators, casts and functions are [types]/[func]'s (`eval_binary`, `cast`,
//! `eval_function`); this module adds the forms that control evaluation order or NULL
//! semantics itself: AND/OR short-circuit, CASE, COALESCE, NULLIF, IN lists, IS [NOT]
//! DISTINCT FROM, and subqueries (scalar: 21000 when more than one row; IN/NOT IN with
//! NULLs; EXISTS).

use crate::error::code;
use crate::exec::{build, Env};
use crate::func;
use crate::plan::expr::{Subquery, SubqueryCache, SubqueryKind};
use crate::plan::Expr;
use crate::types::{self, BinaryOp, DataType, Datum};
use crate::{Error, Result};
use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;

/// Evaluates `e` on `row`.
pub fn eval(e: &Expr, row: &[Datum], env: &Env) -> Result<Datum> {
    match e {
        Expr::Slot(i, _) => row
            .get(*i)
            .cloned()
            .ok_or_else(|| Error::internal(format!("row has no column {i}"))),
        Expr::Outer { level, slot, .. } => env
            .outer
            .get(*level)
            .and_then(|r| r.get(*slot))
            .cloned()
            .ok_or_else(|| Error::internal("outer row column missing")),
        Expr::Col(id, _) => Err(Error::internal(format!(
            "uncompiled column reference #{id}"
        ))),
        Expr::Literal(d, _) => Ok(d.clone()),
        Expr::Param(i, ty) => param(env, *i, ty),
        Expr::Binary {
            op,
            left,
            right,
            ty,
        } => eval_binary(*op, left, right, ty, row, env),
        Expr::Unary { op, expr, .. } => {
            let v = eval(expr, row, env)?;
            types::eval_unary(*op, &v, &expr.ty())
        }
        Expr::Func { name, args, .. } => {
            if name == "unique_rowid" && args.is_empty() {
                return Ok(Datum::Int(crate::storage::unique_rowid()));
            }
            let mut vals = Vec::with_capacity(args.len());
            let mut tys = Vec::with_capacity(args.len());
            for a in args {
                vals.push(eval(a, row, env)?);
                tys.push(a.ty());
            }
            // Internal array/ANY/reg* forms and catalog functions: exec/pgcompat.rs.
            if let Some(r) = crate::exec::pgcompat::eval_func(name, &vals, &tys, e, env) {
                return r;
            }
            func::eval_function(name, &vals, &tys, &env.shared.func_ctx)
        }
        Expr::Cast { expr, ty, explicit } => {
            let v = eval(expr, row, env)?;
            if v.is_null() {
                return Ok(Datum::Null);
            }
            types::cast(v, &expr.ty(), ty, *explicit)
        }
        Expr::Case {
            operand,
            whens,
            else_,
            ..
        } => eval_case(operand.as_deref(), whens, else_.as_deref(), row, env),
        Expr::IsNull { expr, negated } => {
            Ok(Datum::Bool(eval(expr, row, env)?.is_null() != *negated))
        }
        Expr::IsBool {
            expr,
            value,
            negated,
        } => {
            let v = eval(expr, row, env)?.truthy()?;
            Ok(Datum::Bool((v == Some(*value)) != *negated))
        }
        Expr::IsDistinct {
            left,
            right,
            negated,
        } => {
            let l = eval(left, row, env)?;
            let r = eval(right, row, env)?;
            let distinct = match (l.is_null(), r.is_null()) {
                (true, true) => false,
                (true, false) | (false, true) => true,
                (false, false) => l.sql_cmp(&r) != Some(Ordering::Equal),
            };
            Ok(Datum::Bool(distinct != *negated))
        }
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let v = eval(expr, row, env)?;
            let mut vals = Vec::with_capacity(list.len());
            for item in list {
                vals.push(eval(item, row, env)?);
            }
            Ok(in_result(&v, vals.iter(), *negated))
        }
        Expr::Coalesce(args, _) => {
            for a in args {
                let v = eval(a, row, env)?;
                if !v.is_null() {
                    return Ok(v);
                }
            }
            Ok(Datum::Null)
        }
        Expr::NullIf(a, b, _) => {
            let x = eval(a, row, env)?;
            let y = eval(b, row, env)?;
            if !x.is_null() && x.sql_cmp(&y) == Some(Ordering::Equal) {
                Ok(Datum::Null)
            } else {
                Ok(x)
            }
        }
        Expr::Subquery(sq, _) => eval_subquery(sq, row, env),
    }
}

/// Evaluates a predicate: true only when it is TRUE (NULL and FALSE reject the row).
pub fn eval_pred(e: &Expr, row: &[Datum], env: &Env) -> Result<bool> {
    Ok(eval(e, row, env)?.truthy()? == Some(true))
}

/// A parameter value, converted to the inferred type when the client sent text.
fn param(env: &Env, i: usize, ty: &DataType) -> Result<Datum> {
    let d = env.shared.params.get(i).cloned().ok_or_else(|| {
        Error::new(
            code::UNDEFINED_PARAMETER,
            format!("there is no parameter ${}", i + 1),
        )
    })?;
    match d {
        Datum::Text(s)
            if !matches!(
                ty,
                DataType::Text | DataType::Varchar(_) | DataType::Char(_) | DataType::Unknown
            ) =>
        {
            Datum::from_pg_text(&s, ty)
        }
        other => Ok(other),
    }
}

fn eval_binary(
    op: BinaryOp,
    left: &Expr,
    right: &Expr,
    ty: &DataType,
    row: &[Datum],
    env: &Env,
) -> Result<Datum> {
    let l = eval(left, row, env)?;
    // Short-circuit AND/OR (and avoid evaluating, e.g., a subquery needlessly).
    match op {
        BinaryOp::And if l.truthy()? == Some(false) => return Ok(Datum::Bool(false)),
        BinaryOp::Or if l.truthy()? == Some(true) => return Ok(Datum::Bool(true)),
        _ => {}
    }
    let r = eval(right, row, env)?;
    types::eval_binary(op, &l, &left.ty(), &r, &right.ty(), ty)
}

fn eval_case(
    operand: Option<&Expr>,
    whens: &[(Expr, Expr)],
    else_: Option<&Expr>,
    row: &[Datum],
    env: &Env,
) -> Result<Datum> {
    let op = match operand {
        Some(o) => Some(eval(o, row, env)?),
        None => None,
    };
    for (w, t) in whens {
        let c = eval(w, row, env)?;
        let hit = match &op {
            Some(o) => !o.is_null() && o.sql_cmp(&c) == Some(Ordering::Equal),
            None => c.truthy()? == Some(true),
        };
        if hit {
            return eval(t, row, env);
        }
    }
    match else_ {
        Some(e) => eval(e, row, env),
        None => Ok(Datum::Null),
    }
}

/// `v [NOT] IN (vals)` with SQL's NULL semantics.
fn in_result<'a>(v: &Datum, vals: impl Iterator<Item = &'a Datum>, negated: bool) -> Datum {
    let mut saw_null = false;
    let mut any = false;
    for x in vals {
        any = true;
        if x.is_null() || v.is_null() {
            saw_null = true;
            continue;
        }
        if v.sql_cmp(x) == Some(Ordering::Equal) {
            return Datum::Bool(!negated);
        }
    }
    if !any {
        return Datum::Bool(negated);
    }
    if saw_null {
        Datum::Null
    } else {
        Datum::Bool(negated)
    }
}

fn eval_subquery(sq: &Subquery, row: &[Datum], env: &Env) -> Result<Datum> {
    if !sq.correlated {
        let id = Arc::as_ptr(&sq.plan) as usize;
        let cached = env.shared.subqueries.lock().get(&id).cloned();
        let cache = match cached {
            Some(c) => c,
            None => {
                let c = run_uncorrelated(sq, row, env)?;
                env.shared.subqueries.lock().insert(id, c.clone());
                c
            }
        };
        return Ok(match (cache, &sq.kind) {
            (SubqueryCache::Scalar(d), _) => d,
            (SubqueryCache::Exists(b), _) => Datum::Bool(b),
            (SubqueryCache::Set(set, has_null), SubqueryKind::In { lhs, negated }) => {
                let v = eval(lhs, row, env)?;
                set_membership(&v, &set, has_null, *negated)
            }
            (SubqueryCache::Set(..), _) => {
                return Err(Error::internal("subquery cache kind mismatch"))
            }
        });
    }
    let layout = sq
        .outer_layout
        .clone()
        .ok_or_else(|| Error::internal("subquery not compiled"))?;
    let sub_env = env.nested(layout, row.to_vec());
    let mut stream = build(&sq.plan, &sub_env)?;
    match &sq.kind {
        SubqueryKind::Scalar => scalar_result(&mut stream),
        SubqueryKind::Exists => Ok(Datum::Bool(stream.next().transpose()?.is_some())),
        SubqueryKind::Array => crate::exec::pgcompat::array_result(stream, env),
        SubqueryKind::In { lhs, negated } => {
            let v = eval(lhs, row, env)?;
            let mut vals = Vec::new();
            for r in stream {
                let r = r?;
                let x = r.into_iter().next().unwrap_or(Datum::Null);
                if !x.is_null() && !v.is_null() && v.sql_cmp(&x) == Some(Ordering::Equal) {
                    return Ok(Datum::Bool(!negated));
                }
                vals.push(x);
            }
            Ok(in_result(&v, vals.iter(), *negated))
        }
    }
}

fn scalar_result(stream: &mut crate::context::RowStream) -> Result<Datum> {
    let first = match stream.next().transpose()? {
        Some(r) => r.into_iter().next().unwrap_or(Datum::Null),
        None => return Ok(Datum::Null),
    };
    if stream.next().transpose()?.is_some() {
        return Err(Error::new(
            code::CARDINALITY_VIOLATION,
            "more than one row returned by a subquery used as an expression",
        ));
    }
    Ok(first)
}

fn run_uncorrelated(sq: &Subquery, row: &[Datum], env: &Env) -> Result<SubqueryCache> {
    let layout = sq.outer_layout.clone().unwrap_or_default();
    let sub_env = env.nested(layout, row.to_vec());
    let mut stream = build(&sq.plan, &sub_env)?;
    Ok(match &sq.kind {
        SubqueryKind::Scalar => SubqueryCache::Scalar(scalar_result(&mut stream)?),
        SubqueryKind::Exists => SubqueryCache::Exists(stream.next().transpose()?.is_some()),
        SubqueryKind::Array => {
            SubqueryCache::Scalar(crate::exec::pgcompat::array_result(stream, env)?)
        }
        SubqueryKind::In { .. } => {
            let mut set = HashSet::new();
            let mut has_null = false;
            for r in stream {
                let x = r?.into_iter().next().unwrap_or(Datum::Null);
                if x.is_null() {
                    has_null = true;
                } else {
                    env.shared
                        .mem
                        .grow(crate::exec::row_bytes(std::slice::from_ref(&x)))?;
                    set.insert(x);
                }
            }
            SubqueryCache::Set(Arc::new(set), has_null)
        }
    })
}

fn set_membership(v: &Datum, set: &HashSet<Datum>, has_null: bool, negated: bool) -> Datum {
    if set.is_empty() && !has_null {
        return Datum::Bool(negated);
    }
    if v.is_null() {
        return Datum::Null;
    }
    if set.contains(v) {
        return Datum::Bool(!negated);
    }
    if has_null {
        Datum::Null
    } else {
        Datum::Bool(negated)
    }
}
